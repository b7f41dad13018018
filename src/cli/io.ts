/**
 * Where a command's output goes. stdout carries results (with --json: exactly one JSON document);
 * progress goes to stderr, and only when someone is watching a terminal and did not ask for JSON: a
 * status line rewritten in place (elapsed vs budget, rates, violations so far) and a note per phase.
 * Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { BadInput } from '../errors.js';

export type Colour = 'green' | 'red' | 'yellow' | 'dim';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** A note that stays (a phase starting). */
  progress(text: string): void;
  /** The live status line: replaces the previous one; throttled. */
  status(text: string): void;
  paint(text: string, colour: Colour): string;
  /** The command as typed, for reports. */
  readonly commandLine: string;
}

const SGR: Record<Colour, string> = { green: '32', red: '31', yellow: '33', dim: '2' };
const STATUS_EVERY_MS = 100;

export function processIo(argv: readonly string[], json: boolean): Io {
  const live = !json && process.stderr.isTTY === true;
  const colour = !json && process.stdout.isTTY === true && !process.env.NO_COLOR;
  let statusShown = false;
  let lastStatus = 0;
  const clearStatus = () => {
    if (statusShown) {
      process.stderr.write('\r\x1b[K');
      statusShown = false;
    }
  };
  return {
    out: (t) => {
      clearStatus();
      process.stdout.write(`${t}\n`);
    },
    err: (t) => {
      clearStatus();
      process.stderr.write(`${t}\n`);
    },
    progress: (t) => {
      if (live) {
        clearStatus();
        process.stderr.write(`${t}\n`);
      }
    },
    status: (t) => {
      if (!live) return;
      const now = performance.now();
      if (now - lastStatus < STATUS_EVERY_MS) return;
      lastStatus = now;
      const width = (process.stderr.columns ?? 100) - 1;
      process.stderr.write(`\r\x1b[K${t.length > width ? t.slice(0, width) : t}`);
      statusShown = true;
    },
    paint: (t, c) => (colour ? `\x1b[${SGR[c]}m${t}\x1b[0m` : t),
    commandLine: ['iommu-stress', ...argv].join(' '),
  };
}

/** `12.3 s / 30 s` */
export function elapsedOf(elapsedMs: number, budgetMs: number): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  return Number.isFinite(budgetMs) ? `${s(elapsedMs)} / ${s(budgetMs)}` : s(elapsedMs);
}

/** 1234567 -> 1.23 M */
export function rate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0);
}

/**
 * Read a small input file (config, repro): it must be a regular file of at most `maxBytes`, checked on
 * the open descriptor before reading, so `/dev/zero`, a FIFO or a directory is bad input, not a hang.
 */
export function readBoundedFile(file: string, maxBytes: number, what: string, flag = ''): string {
  const name = flag ? `${flag}: '${file}'` : `${file}`;
  let fd: number;
  // O_NONBLOCK: opening a FIFO must not wait for a writer (we refuse it right after).
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new BadInput(
      flag ? `${flag}: cannot read ${what} '${file}' (${code})` : `${file}: cannot read ${what} (${code})`,
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isDirectory() ? 'a directory' : 'a device, FIFO or socket';
      throw new BadInput(`${name}: ${what} must be a regular file, and this is ${kind}`);
    }
    if (st.size > maxBytes) throw new BadInput(`${name}: ${what} is ${st.size} bytes, over the limit of ${maxBytes}`);
    const buf = Buffer.alloc(st.size + 1);
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += got;
    if (n > st.size) throw new BadInput(`${name}: ${what} grew while being read`);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** An Io that keeps everything in memory: for running main() in-process (tests, embedding). */
export interface MemoryIo extends Io {
  readonly stdout: string[];
  readonly stderr: string[];
}

export function memoryIo(argv: readonly string[] = []): MemoryIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => {
      stdout.push(t);
    },
    err: (t) => {
      stderr.push(t);
    },
    progress: () => {},
    status: () => {},
    paint: (t) => t,
    commandLine: ['iommu-stress', ...argv].join(' '),
  };
}
