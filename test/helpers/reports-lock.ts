/**
 * The project's own reports/ directory, held by one test file at a time. fuzz-cli.test.ts checks that no
 * refused invocation wrote anything under reports/ (a snapshot before and after all its cases), and
 * report-safety.test.ts runs the CLI without --report-dir on purpose (reports/latest): run at the same
 * time in the two vitest workers, the second's report is the first's "something written". Each holds this
 * lock (a directory in the OS temp dir naming its process) around what it does under reports/.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { root } from './cli.js';

const LOCK = path.join(tmpdir(), `iommu-stress-reports-${createHash('sha1').update(root).digest('hex').slice(0, 12)}`);

/** Whether a process of this id is alive (a holder that died, e.g. a killed test run, leaves a stale lock). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Wait until this process holds the lock; hold it until releaseReports(). */
export async function lockReports(): Promise<void> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(path.join(LOCK, 'pid'), 'utf8'));
    } catch {
      // created but its pid not yet written: the holder is alive
    }
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) rmSync(LOCK, { recursive: true, force: true });
    else await sleep(100);
  }
}

export function releaseReports(): void {
  rmSync(LOCK, { recursive: true, force: true });
}
