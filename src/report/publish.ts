/**
 * Putting a report on disk so that a crash or SIGKILL at any moment leaves either a complete report or
 * none, and never the files of two runs side by side:
 *  - the files are written into a hidden temporary directory beside the target, fsynced, and the
 *    directory is renamed into place (rename(2) is atomic, and replaces an empty directory);
 *  - a previous report at the target (a re-used --report-dir) is first renamed aside, then removed: a kill
 *    between the two renames leaves no report there, never a mix;
 *  - reports/latest is a symlink to the newest run directory, switched by renaming a new symlink over it.
 * Left-over temporaries of processes that died are hidden (dot names) and swept by the next write.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { pausePoint } from '../pause.js';

/** Hidden temporaries: `.<target>.tmp-<pid>-<hex>` (being built) and `.<target>.old-<pid>-<hex>` (being removed). */
const TEMP = /^\.(.+)\.(tmp|old)-(\d+)-[0-9a-f]+$/;

function tempName(dir: string, kind: 'tmp' | 'old'): string {
  return path.join(
    path.dirname(dir),
    `.${path.basename(dir)}.${kind}-${process.pid}-${randomBytes(3).toString('hex')}`,
  );
}

function writeDurably(file: string, text: string): void {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove temporaries in `parent` left by processes that are gone. */
export function sweepTemporaries(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    const m = TEMP.exec(n);
    if (m && !alive(Number(m[3]))) rmSync(path.join(parent, n), { recursive: true, force: true });
  }
}

/** Write `files` as the whole content of `dir`, atomically: the old content (if any) or the new, never a mix. */
export function publishDir(dir: string, files: Readonly<Record<string, string>>): void {
  const parent = path.dirname(path.resolve(dir));
  mkdirSync(parent, { recursive: true });
  sweepTemporaries(parent);
  const tmp = tempName(dir, 'tmp');
  mkdirSync(tmp);
  const entries = Object.entries(files);
  entries.forEach(([name, text], k) => {
    writeDurably(path.join(tmp, name), text);
    if (k === Math.floor(entries.length / 2)) pausePoint('report-files');
  });
  pausePoint('report-publish');
  try {
    renameSync(tmp, dir); // succeeds when dir is absent or an empty directory
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'EISDIR') throw e;
  }
  const old = tempName(dir, 'old');
  renameSync(dir, old);
  pausePoint('report-swap');
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}

/** Point `link` (reports/latest) at `target` (a sibling run directory) in one rename. */
export function switchLink(link: string, target: string): void {
  const parent = path.dirname(link);
  const rel = path.relative(parent, target);
  try {
    if (readlinkSync(link) === rel) return;
  } catch {
    /* absent, or not a symlink */
  }
  const tmp = tempName(link, 'tmp');
  symlinkSync(rel, tmp);
  pausePoint('report-latest');
  let st;
  try {
    st = lstatSync(link);
  } catch {
    st = undefined;
  }
  if (st && !st.isSymbolicLink()) {
    // A real directory from before latest was a symlink: move it aside once (rename cannot replace it).
    const old = tempName(link, 'old');
    renameSync(link, old);
    renameSync(tmp, link);
    rmSync(old, { recursive: true, force: true });
    return;
  }
  renameSync(tmp, link);
}
