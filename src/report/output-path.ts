/**
 * Output paths are input: --report-dir and --repro-file are checked before any work, with stat and
 * access calls only (nothing is created), so a path that could never be written is exit 2 naming it in
 * milliseconds, not a stack trace after the whole suite ran. A path is accepted when it, or the nearest
 * ancestor that exists, is a directory this process may write into, outside the kernel's pseudo file
 * systems (/proc, /sys: mkdir there fails oddly or, on some kernels, spins).
 */
import { accessSync, constants, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { BadInput } from '../errors.js';

const PSEUDO_FS = ['/proc', '/sys'];

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

function underPseudoFs(p: string): string | undefined {
  return PSEUDO_FS.find((root) => p === root || p.startsWith(`${root}/`));
}

/** The directory `dir` (to be created if missing) can hold files this process writes. */
export function checkOutputDir(flag: string, dir: string, shown = dir): void {
  if (dir.trim() === '') throw new BadInput(`${flag}: '${dir}' is an empty path`);
  const abs = path.resolve(dir);
  const named = (why: string) => new BadInput(`${flag}: '${shown}' ${why}`);
  if (underPseudoFs(abs))
    throw named(`is under ${underPseudoFs(abs)} (a kernel pseudo file system, not a place for reports)`);
  // Walk up to the nearest existing ancestor: it must be a directory we can create entries in.
  let existing = abs;
  let st = statOrUndefined(existing);
  while (!st) {
    const up = path.dirname(existing);
    if (up === existing) break;
    existing = up;
    st = statOrUndefined(existing);
  }
  if (!st) throw named('has no existing ancestor directory');
  const real = realpathSync(existing);
  const pseudo = underPseudoFs(real);
  if (pseudo) throw named(`is under ${pseudo} (a kernel pseudo file system, not a place for reports)`);
  if (!st.isDirectory()) {
    throw named(
      existing === abs && shown === dir
        ? 'exists and is not a directory'
        : `cannot be created: '${existing}' is not a directory`,
    );
  }
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'not writable';
    throw named(
      existing === abs && shown === dir
        ? `is not writable (${code})`
        : `cannot be created: '${existing}' is not writable (${code})`,
    );
  }
}

/** A file to (over)write atomically: a file name in a directory checkOutputDir accepts, not a directory or device. */
export function checkOutputFile(flag: string, file: string): void {
  if (file.trim() === '' || file.endsWith('/') || path.basename(file) === '')
    throw new BadInput(`${flag}: '${file}' is not a file name`);
  const st = statOrUndefined(file);
  if (st && !st.isFile()) {
    throw new BadInput(
      `${flag}: '${file}' ${st.isDirectory() ? 'is a directory' : 'exists and is not a regular file'}`,
    );
  }
  checkOutputDir(flag, path.dirname(path.resolve(file)), file);
}

/** What a report directory may hold: the files a report is made of. */
const REPORT_FILES = /^(report\.json|summary\.md|index\.html|junit\.xml|bench\.html)$/;

/**
 * A --report-dir: writable as checkOutputDir says, and either absent, empty, or a previous report (which is
 * then replaced whole). A directory holding anything else is refused rather than wiped.
 */
export function checkReportDir(flag: string, dir: string): void {
  checkOutputDir(flag, dir);
  const abs = path.resolve(dir);
  const cwd = process.cwd();
  if (abs === cwd || cwd.startsWith(`${abs}${path.sep}`) || abs === path.parse(abs).root) {
    throw new BadInput(
      `${flag}: '${dir}' is the working directory or above it; give a directory of its own for the report`,
    );
  }
  const st = statOrUndefined(abs);
  if (!st) return;
  const foreign = readdirSync(abs).filter((n) => !REPORT_FILES.test(n));
  if (foreign.length > 0) {
    throw new BadInput(
      `${flag}: '${dir}' holds other files (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}); ` +
        "a report directory is replaced whole, so give an empty or new directory, or a previous report's",
    );
  }
}
