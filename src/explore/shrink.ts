/**
 * Shrinking a failing execution, as Lincheck minimises a failed scenario and fast-check shrinks inputs:
 * fewer vCPUs, then fewer ops per vCPU, then fewer preemptions, for as long as the *same* invariant
 * still fails. Every candidate is run for real (lenient replay of an edited schedule, see replay.ts),
 * and the schedule kept is the one the executor actually recorded, so the result replays exactly.
 */
import { runExecution, type ExecutionResult, type ExecutionSpec } from './execution.js';
import { encodeSchedule } from './repro.js';
import { ReplayScheduler } from './replay.js';

export interface Candidate {
  readonly opsPerCpu: readonly number[];
  readonly decisions: Uint8Array;
  readonly result: ExecutionResult;
}

export interface ShrinkStats {
  readonly attempts: number;
  readonly accepted: number;
}

export function shrink(
  base: Omit<ExecutionSpec, 'opsPerCpu' | 'trace'>,
  start: Candidate,
  invariant: string,
  maxAttempts = 2_000,
): Candidate & ShrinkStats {
  let best = start;
  let attempts = 0;
  let accepted = 0;

  const attempt = (opsPerCpu: readonly number[], decisions: ArrayLike<number>): boolean => {
    if (attempts >= maxAttempts) return false;
    attempts++;
    const result = runExecution({ ...base, opsPerCpu }, new ReplayScheduler(decisions));
    const v = result.violation;
    if (!v || v.invariant !== invariant) return false;
    if (!smaller(size(opsPerCpu, result), size(best.opsPerCpu, best.result))) return false;
    best = { opsPerCpu, decisions: result.decisions.slice(), result };
    accepted++;
    return true;
  };

  for (let progress = true; progress && attempts < maxAttempts;) {
    progress = false;
    // 1. Fewer vCPUs: let one sit out entirely.
    for (let c = 0; c < best.opsPerCpu.length; c++) {
      if (best.opsPerCpu[c] === 0 || best.opsPerCpu.filter((k) => k > 0).length <= 1) continue;
      if (attempt(withOps(best.opsPerCpu, c, 0), best.decisions)) progress = true;
    }
    // 2. Fewer ops per vCPU: halve, then step down one at a time.
    for (let c = 0; c < best.opsPerCpu.length; c++) {
      while (best.opsPerCpu[c]! > 1 && attempt(withOps(best.opsPerCpu, c, best.opsPerCpu[c]! >> 1), best.decisions)) progress = true;
      while (best.opsPerCpu[c]! > 1 && attempt(withOps(best.opsPerCpu, c, best.opsPerCpu[c]! - 1), best.decisions)) progress = true;
    }
    // 3. Fewer preemptions: drop one run of the schedule at a time (latest first, where the noise is).
    for (let i = runsOf(best.decisions).length - 1; i >= 0; i--) {
      const runs = runsOf(best.decisions);
      if (i >= runs.length) continue;
      const edited = runs.filter((_, k) => k !== i).flatMap(([c, len]) => Array<number>(len).fill(c));
      if (attempt(best.opsPerCpu, edited)) progress = true;
    }
  }
  return { ...best, attempts, accepted };
}

/** What "smaller" means, most important first: vCPUs taking part, ops, preemptions, steps. */
function size(ops: readonly number[], r: ExecutionResult): number[] {
  return [ops.filter((k) => k > 0).length, ops.reduce((a, b) => a + b, 0), r.preemptions, r.steps];
}

function smaller(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

function withOps(ops: readonly number[], c: number, k: number): number[] {
  const out = ops.slice();
  out[c] = k;
  return out;
}

/** The schedule as [cpu, length] runs. */
function runsOf(decisions: ArrayLike<number>): [number, number][] {
  const rle = encodeSchedule(decisions);
  const runs: [number, number][] = [];
  for (let i = 0; i < rle.length; i += 2) runs.push([rle[i]!, rle[i + 1]!]);
  return runs;
}
