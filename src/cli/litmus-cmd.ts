/**
 * `litmus FILE.litmus|DIR`: run C litmus tests of the kernel's tools/memory-model format exhaustively
 * under `--memory weak` (src/litmus/) and print herd7-style results.
 *
 * One file: its final states and Observation; exit 0 when it agrees with the file's `Result:` line (or
 * the file has none), 1 when it does not, 2 when the test uses a construct we do not model (named with
 * its line) or asks about an outcome that needs load buffering (litmus/load-buffering.ts: the cycle of
 * program order and reads-from is named). A directory: one line per *.litmus file (Result, ours,
 * agreement, or why unsupported); exit 1 when any supported test disagrees, else 0 — unsupported ones
 * are listed and counted, not failures, since a kernel directory always holds some (RCU, spin_is_locked,
 * LB).
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { BadInput, EXIT } from '../errors.js';
import { herdText } from '../litmus/format.js';
import { loadBufferingOf } from '../litmus/load-buffering.js';
import { LitmusError, parseLitmus, type Litmus } from '../litmus/parse.js';
import { MAX_EXECUTIONS, runLitmus, type LitmusOutcome } from '../litmus/run.js';
import { readBoundedFile, type Io } from './io.js';
import { parseInteger } from './parse.js';

export interface LitmusFlags {
  json?: boolean;
  maxExecutions?: string;
}

const LITMUS_MAX_BYTES = 1 << 20;

interface FileResult {
  readonly file: string;
  readonly name: string;
  readonly result: string | null;
  readonly unsupported: string | null;
  /** Unsupported because the outcome needs load buffering (counted apart in a directory's summary). */
  readonly loadBuffering?: boolean;
  readonly lit?: Litmus;
  readonly outcome?: LitmusOutcome;
}

export function litmusCommand(target: string, f: LitmusFlags, io: Io): number {
  const max =
    f.maxExecutions !== undefined ? parseInteger('--max-executions', f.maxExecutions, 1, 1e9) : MAX_EXECUTIONS;
  let st;
  try {
    st = statSync(target);
  } catch (e) {
    throw new BadInput(`litmus: cannot read '${target}' (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (st.isDirectory()) return runDir(target, max, f, io);
  const r = runFile(target, max);
  if (r.unsupported !== null) throw new BadInput(`${target}: ${r.unsupported}`);
  const agrees = r.result === null ? null : r.result === r.outcome!.observation;
  if (f.json) io.out(JSON.stringify(jsonOf(r, agrees), null, 2));
  else {
    io.out(herdText(r.lit!, r.outcome!));
    if (r.result !== null) {
      io.out(
        agrees
          ? `Result: ${r.result} (as the file says)`
          : `Result: the file says ${r.result}, the model says ${r.outcome!.observation}` +
              (r.outcome!.observation === 'Never'
                ? ' (if that outcome needs a load to read a store from its own future, it is load buffering,' +
                  ' which --memory weak does not model)'
                : ''),
      );
    }
  }
  return agrees === false ? EXIT.verdict : EXIT.ok;
}

function runFile(file: string, max: number): FileResult {
  const src = readBoundedFile(file, LITMUS_MAX_BYTES, 'the litmus file');
  let lit: Litmus;
  try {
    lit = parseLitmus(src);
  } catch (e) {
    if (e instanceof LitmusError) {
      const name = /^\s*C\s+(\S+)/.exec(src)?.[1] ?? path.basename(file);
      const result = /Result:\s*(Never|Sometimes|Always)/.exec(src)?.[1] ?? null;
      return { file, name, result, unsupported: e.message };
    }
    throw e;
  }
  // Before the search: an outcome that needs load buffering is one the model cannot produce, so its
  // answer (Never, or Always for the negation) would say nothing about the test. Reported unsupported
  // whatever the Result line — also when it is Never (LB+fencembonceonce+ctrlonceonce): the model says
  // Never there with or without the test's barriers and dependencies, so an "agrees" would be vacuous.
  const lb = loadBufferingOf(lit);
  if (lb !== null) return { file, name: lit.name, result: lit.result ?? null, unsupported: lb, loadBuffering: true };
  try {
    return { file, name: lit.name, result: lit.result ?? null, unsupported: null, lit, outcome: runLitmus(lit, max) };
  } catch (e) {
    if (e instanceof LitmusError) return { file, name: lit.name, result: lit.result ?? null, unsupported: e.message };
    throw e;
  }
}

function jsonOf(r: FileResult, agrees: boolean | null) {
  const o = r.outcome;
  return {
    file: r.file,
    name: r.name,
    result: r.result,
    unsupported: r.unsupported,
    agrees,
    ...(o
      ? {
          observation: o.observation,
          ok: o.ok,
          condition: r.lit!.quantifier,
          states: [...o.states.keys()].sort(),
          positive: o.positive,
          negative: o.negative,
          executions: o.executions,
          ms: Math.round(o.ms),
        }
      : {}),
  };
}

function runDir(dir: string, max: number, f: LitmusFlags, io: Io): number {
  const files = readdirSync(dir)
    .filter((n) => n.endsWith('.litmus'))
    .sort();
  if (files.length === 0) throw new BadInput(`litmus: no *.litmus file in directory '${dir}'`);
  const results: ReturnType<typeof jsonOf>[] = [];
  let disagree = 0;
  let unsupported = 0;
  let loadBuffering = 0;
  const width = Math.max(...files.map((n) => n.length - '.litmus'.length));
  if (!f.json) io.out(`${'test'.padEnd(width)}  ${'Result'.padEnd(9)}  ${'ours'.padEnd(9)}  verdict`);
  for (const n of files) {
    io.status(`litmus ${n}`);
    const r = runFile(path.join(dir, n), max);
    const agrees = r.outcome && r.result !== null ? r.result === r.outcome.observation : null;
    if (r.unsupported !== null) unsupported++;
    if (r.loadBuffering) loadBuffering++;
    else if (agrees === false) disagree++;
    results.push(jsonOf(r, agrees));
    if (!f.json) {
      const ours = r.outcome?.observation ?? '-';
      const verdict =
        r.unsupported !== null
          ? `unsupported: ${r.unsupported}`
          : agrees === null
            ? 'no Result line'
            : agrees
              ? 'agrees'
              : 'DISAGREES';
      io.out(`${r.name.padEnd(width)}  ${(r.result ?? '-').padEnd(9)}  ${ours.padEnd(9)}  ${verdict}`);
    }
  }
  const supported = files.length - unsupported;
  const lbNote = loadBuffering === 0 ? '' : ` (${loadBuffering} need${loadBuffering === 1 ? 's' : ''} load buffering)`;
  const summary =
    `${files.length} tests: ${supported - disagree} agree or have no Result line, ${disagree} disagree, ` +
    `${unsupported} unsupported${lbNote}`;
  if (f.json) io.out(JSON.stringify({ dir, tests: results, disagree, unsupported, loadBuffering, summary }, null, 2));
  else io.out(summary);
  return disagree > 0 ? EXIT.verdict : EXIT.ok;
}
