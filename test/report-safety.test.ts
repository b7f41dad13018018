/**
 * The harness never loses a result and never leaves half of one (issue 11 item 6): output paths are
 * checked before any work; SIGINT keeps what was measured, marked partial, exit 130; SIGKILL at any moment
 * leaves every report directory either complete or absent — never half-written, never two runs' files.
 * Kill points are named pause points (src/pause.ts: the child notes `pause-point <name>` on stderr and
 * holds there until killed), plus kills at a few delays, which land wherever they land: the check holds
 * for any landing. The killed and interrupted runs are child processes of the compiled CLI; the runs
 * around them and the bad paths run in-process (main(argv, io)): the same checks, fewer Node starts.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliJs, root } from './helpers/cli.js';
import { iommuIn } from './helpers/in-process.js';
import { lockReports, releaseReports } from './helpers/reports-lock.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-safety-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const RUN = [
  'run',
  'counter',
  '--variant',
  'percpu',
  '--mode',
  'stress',
  '--workers',
  '1',
  '--ops',
  '50',
  '--time',
  '10m',
  '--seed',
  '1',
];
const REPORT_FILES = ['index.html', 'junit.xml', 'report.json', 'summary.md'];

/** A report directory is complete: all its files, report.json parses, and every file is of the same run. */
function expectComplete(dir: string, ours = true): string {
  expect(readdirSync(dir).sort(), dir).toEqual(REPORT_FILES);
  const rep = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as { runId: string; results: unknown[] };
  // This file's runs have one variant; reports/latest may name anyone's run (shared with other tests and users).
  if (ours) expect(rep.results.length).toBeLessThanOrEqual(1);
  expect(readFileSync(path.join(dir, 'summary.md'), 'utf8')).toContain(`# iommu-stress run ${rep.runId}`);
  expect(readFileSync(path.join(dir, 'index.html'), 'utf8')).toContain(rep.runId);
  expect(readFileSync(path.join(dir, 'junit.xml'), 'utf8')).toMatch(/<\/testsuites>\s*$/);
  return rep.runId;
}

/** Every visible entry in `parent` is a complete report (hidden temporaries are not reports). */
function expectOnlyCompleteReports(parent: string): string[] {
  return readdirSync(parent)
    .filter((n) => !n.startsWith('.'))
    .map((n) => expectComplete(path.join(parent, n)));
}

interface Child {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start the CLI; `onStderr` sees stderr as it comes and may signal the child. */
function start(
  args: string[],
  env: Record<string, string>,
  onStderr?: (text: string, kill: (s: NodeJS.Signals) => void) => void,
): { done: Promise<Child>; kill: (s: NodeJS.Signals) => void } {
  const e: NodeJS.ProcessEnv = { ...process.env, CI: 'true', ...env };
  delete e.NODE_OPTIONS;
  const p = spawn(process.execPath, [cliJs, ...args], { cwd: root, env: e });
  const kill = (s: NodeJS.Signals) => {
    p.kill(s);
  };
  const done = new Promise<Child>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, kill);
    });
    p.on('error', reject);
    p.on('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { done, kill };
}

describe('bad output paths are bad input: exit 2 naming the path, before any work, nothing created', () => {
  it('--report-dir under /proc or /sys, below a file, an existing file, a directory holding other files', async () => {
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'x');
    const foreign = path.join(tmp, 'foreign');
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
    for (const [dir, why] of [
      ['/proc/nope/x', /under \/proc/],
      ['/sys/kernel/nope', /under \/sys/],
      ['/dev/null/x', /'\/dev\/null' is not a directory/],
      [file, /exists and is not a directory/],
      [path.join(file, 'sub'), /is not a directory/],
      [foreign, /holds other files \(notes\.txt\)/],
    ] as const) {
      const r = await iommuIn(...RUN, '--report-dir', dir);
      expect(r.code, dir).toBe(2);
      expect(r.stderr).toContain(`'${dir}'`);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack
    }
    expect(readdirSync(foreign)).toEqual(['notes.txt']);
    expect(existsSync('/proc/nope')).toBe(false);
  });

  it('merge and bench check --report-dir the same way; explore checks --repro-file', async () => {
    expect((await iommuIn('merge', tmp, '--report-dir', '/proc/nope/x')).stderr).toMatch(
      /'\/proc\/nope\/x' is under \/proc/,
    );
    expect((await iommuIn('bench', '--fq', 'percpu', '--ops', '5', '--report-dir', '/dev/null/x')).code).toBe(2);
    for (const [file, why] of [
      ['/proc/nope/r.json', /under \/proc/],
      ['/dev/null', /not a regular file/],
      [tmp, /is a directory/],
      ['/dev/null/r.json', /'\/dev\/null' is not a directory/],
    ] as const) {
      const r = await iommuIn(
        'explore',
        'counter',
        '--variant',
        'plain-shared',
        '--schedules',
        '10',
        '--seed',
        '1',
        '--repro-file',
        file,
      );
      expect(r.code, file).toBe(2);
      expect(r.stderr).toContain(`'${file}'`);
      expect(r.stderr).toMatch(why);
    }
  });
});

describe('SIGINT', () => {
  it('stops a stress run, writes what was measured marked partial, says so, exit 130', async () => {
    const out = path.join(tmp, 'sigint');
    // Interrupt once a slice has run (the barrier's pause point, held 0 ms): counts are then non-zero.
    let sent = false;
    const r = await start(
      [
        'run',
        'counter',
        '--variant',
        'percpu',
        '--mode',
        'stress',
        '--workers',
        '2',
        '--time',
        '10m',
        '--seed',
        '1',
        '--json',
        '--report-dir',
        out,
      ],
      { IOMMU_STRESS_PAUSE: 'stress-barrier:0' },
      (err, kill) => {
        if (!sent && err.includes('pause-point stress-barrier')) {
          sent = true;
          kill('SIGINT');
        }
      },
    ).done;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/SIGINT during counter\/percpu: stopping and writing what was measured/);
    expect(r.stderr).toContain(`partial report written to ${out}`);
    const doc = JSON.parse(r.stdout) as {
      exitCode: number;
      partial: string[];
      results: { stress: { ops: number; slices: number } }[];
    };
    expect(doc.exitCode).toBe(130);
    expect(doc.partial[0]).toMatch(/^interrupted by SIGINT after .* during counter\/percpu/);
    expect(doc.results[0]!.stress.slices).toBeGreaterThanOrEqual(1);
    expect(doc.results[0]!.stress.ops).toBeGreaterThan(0);
    expectComplete(out);
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toMatch(/\*\*Partial report\*\*: interrupted by SIGINT/);
  });
});

describe('SIGINT in an explore phase', () => {
  it('ends the process at once; the report on disk is the checkpoint written before the phase, marked partial', async () => {
    const out = path.join(tmp, 'sigint-explore');
    let sent = false;
    const r = await start(
      [
        'run',
        'counter',
        '--variant',
        'percpu',
        '--mode',
        'explore',
        '--schedules',
        '100',
        '--time',
        '10m',
        '--seed',
        '1',
        '--report-dir',
        out,
      ],
      { IOMMU_STRESS_PAUSE: 'explore-phase:0' },
      (err, kill) => {
        if (!sent && err.includes('pause-point explore-phase')) {
          sent = true;
          kill('SIGINT');
        }
      },
    ).done;
    expect(r.signal).toBe('SIGINT');
    expectComplete(out);
    const rep = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as {
      exitCode: number;
      partial: string[];
    };
    expect(rep.exitCode).toBe(130);
    expect(rep.partial[0]).toMatch(
      /^interrupted \(SIGINT or killed\) during the explore phase of counter\/percpu after .*: 0 of 1 variant\(s\) reported/,
    );
  });
});

describe('SIGKILL never leaves a half-written report', () => {
  it('killed while writing files, before publishing, between the two renames of a re-used dir: complete or absent', async () => {
    for (const point of ['report-files', 'report-publish', 'report-swap']) {
      const parent = path.join(tmp, `kill-${point}`);
      mkdirSync(parent);
      const dir = path.join(parent, 'rep');
      // A previous complete report in the same --report-dir (report-swap is reached only when replacing one).
      const first = await iommuIn(...RUN, '--report-dir', dir);
      expect(first.code).toBe(0);
      const before = expectComplete(dir);
      const r = await start([...RUN, '--report-dir', dir], { IOMMU_STRESS_PAUSE: `${point}:60000` }, (err, kill) => {
        if (err.includes(`pause-point ${point}`)) kill('SIGKILL');
      }).done;
      expect(r.signal, point).toBe('SIGKILL');
      expect(r.stderr).toContain(`pause-point ${point}`);
      const ids = expectOnlyCompleteReports(parent);
      // Before the swap the old report stands; between the renames there is none; never a mix.
      expect(ids, point).toEqual(point === 'report-swap' ? [] : [before]);
      // The next run sweeps the dead run's temporaries and publishes whole.
      expect((await iommuIn(...RUN, '--report-dir', dir)).code).toBe(0);
      expectComplete(dir);
      expect(readdirSync(parent)).toEqual(['rep']);
    }
  }, 240_000);

  it('killed before reports/latest switches: latest still names a complete report, and the run dir is whole', async () => {
    // reports/ is shared with other test files running at the same time (bench reports too): check what
    // latest points at, whoever wrote it, and this run's own directory.
    const reports = path.join(root, 'reports');
    await lockReports(); // fuzz-cli.test.ts checks that nothing is written under reports/ while it runs
    try {
      const latestComplete = () => {
        const target = path.join(reports, readlinkSync(path.join(reports, 'latest')));
        if (existsSync(path.join(target, 'bench.html')))
          expect(readdirSync(target).sort()).toEqual(['bench.html', 'report.json', 'summary.md']);
        else expectComplete(target, false);
      };
      const r = await start(RUN, { IOMMU_STRESS_PAUSE: 'report-latest:60000' }, (err, kill) => {
        if (err.includes('pause-point report-latest')) kill('SIGKILL');
      }).done;
      expect(r.signal).toBe('SIGKILL');
      if (existsSync(path.join(reports, 'latest'))) latestComplete();
      const next = await iommuIn(...RUN);
      expect(next.code).toBe(0);
      const own = /report: (\S+)/.exec(next.stdout)![1]!;
      expect(path.dirname(own)).toBe(reports);
      expectComplete(own);
      latestComplete();
    } finally {
      releaseReports();
    }
  });

  it('killed after a few delays, wherever that lands: every report directory present is complete', async () => {
    const parent = path.join(tmp, 'kill-delays');
    mkdirSync(parent);
    for (const ms of [300, 700, 1200, 2000, 3000]) {
      const dir = path.join(parent, `rep-${ms}`);
      const child = start([...RUN, '--report-dir', dir], {});
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
      }, ms);
      await child.done;
      clearTimeout(timer);
      expectOnlyCompleteReports(parent);
    }
  });
});
