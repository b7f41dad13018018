/**
 * Shrinking a failing execution, as Lincheck minimises a failed scenario and fast-check shrinks inputs:
 * fewer vCPUs, then fewer ops (cut from the end of a program, then skipped from its middle), then fewer
 * preemptions, for as long as the *same* invariant still fails. Every candidate is run for real: first
 * under a lenient replay of the old schedule (see replay.ts), and if that no longer fails, under a few
 * fresh schedules of the default strategy (deterministically seeded) — removing an op shifts where a preemption must land.
 * The schedule kept is the one the executor actually recorded, so the result replays exactly.
 */
import { mix32 } from '../engine/rng.js';
import { HarnessError } from '../errors.js';
import { runExecution, type ExecutionResult, type ExecutionSpec } from './execution.js';
import { encodeSchedule } from './repro.js';
import { ReplayScheduler } from './replay.js';
import type { Scheduler } from './scheduler.js';
import { DEFAULT_DEPTH, DEFAULT_STRATEGY, makeScheduler } from './strategies.js';

/**
 * When fewer ops no longer fail under the old schedule (the preemption now lands elsewhere), search
 * this many fresh schedules (DEFAULT_STRATEGY) for the smaller program before giving the candidate up.
 */
const RESEARCH_SCHEDULES = 24;

export interface Candidate {
  readonly opsPerCpu: readonly number[];
  /** Per vCPU, drawn ops that are not run (ExecutionSpec.skip). */
  readonly skip: readonly (readonly number[])[];
  readonly decisions: Uint8Array;
  readonly result: ExecutionResult;
}

export interface ShrinkStats {
  readonly attempts: number;
  readonly accepted: number;
}

export function shrink(
  base: Omit<ExecutionSpec, 'opsPerCpu' | 'skip' | 'trace'>,
  start: Candidate,
  invariant: string,
  maxAttempts = 2_000,
  /** Wall-clock budget: shrinking stops with the best found so far (a long execution costs per attempt). */
  budgetMs = 10_000,
): Candidate & ShrinkStats {
  const deadline = performance.now() + budgetMs;
  base = { ...base, deadline };
  let best = start;
  let attempts = 0;
  let accepted = 0;

  const tryOnce = (
    opsPerCpu: readonly number[],
    skip: readonly (readonly number[])[],
    scheduler: Scheduler,
  ): boolean => {
    attempts++;
    let result: ExecutionResult;
    // A candidate whose model throws outside an op (building a program, init) is just not smaller:
    // the best repro found so far stays. (An op that throws is an EXCEPTION violation, see execution.ts.)
    try {
      result = runExecution({ ...base, opsPerCpu, skip }, scheduler, best.result.steps);
    } catch (e) {
      if (e instanceof HarnessError) throw e;
      return false;
    }
    const v = result.violation;
    if (!v || v.invariant !== invariant) return false;
    if (!smaller(size(opsPerCpu, skip, result), size(best.opsPerCpu, best.skip, best.result))) return false;
    best = { opsPerCpu, skip, decisions: result.decisions.slice(), result };
    accepted++;
    return true;
  };
  const attempt = (
    opsPerCpu: readonly number[],
    skip: readonly (readonly number[])[],
    decisions: ArrayLike<number>,
    research = false,
  ): boolean => {
    if (attempts >= maxAttempts || performance.now() > deadline) return false;
    if (tryOnce(opsPerCpu, skip, new ReplayScheduler(decisions))) return true;
    if (!research) return false;
    const fresh = makeScheduler(DEFAULT_STRATEGY, mix32(0x5b1, attempts), DEFAULT_DEPTH, best.result.steps);
    for (let k = 0; k < RESEARCH_SCHEDULES && attempts < maxAttempts && performance.now() <= deadline; k++) {
      if (tryOnce(opsPerCpu, skip, fresh)) return true;
    }
    return false;
  };
  const runs = (c: number) => best.opsPerCpu[c]! - best.skip[c]!.length;

  for (let progress = true; progress && attempts < maxAttempts && performance.now() <= deadline;) {
    progress = false;
    // 1. Fewer vCPUs: let one sit out entirely.
    for (let c = 0; c < best.opsPerCpu.length; c++) {
      if (runs(c) === 0 || best.opsPerCpu.filter((_, k) => runs(k) > 0).length <= 1) continue;
      if (attempt(withOps(best.opsPerCpu, c, 0), withSkip(best.skip, c, []), best.decisions, true)) progress = true;
    }
    // 2. Fewer ops per vCPU: cut the end of its program (halving, then one at a time)...
    for (let c = 0; c < best.opsPerCpu.length; c++) {
      const cut = (k: number) =>
        attempt(
          withOps(best.opsPerCpu, c, k),
          withSkip(
            best.skip,
            c,
            best.skip[c]!.filter((j) => j < k),
          ),
          best.decisions,
          true,
        );
      while (runs(c) > 1 && cut(best.opsPerCpu[c]! >> 1)) progress = true;
      while (runs(c) > 1 && cut(best.opsPerCpu[c]! - 1)) progress = true;
    }
    // ...then skip single ops in its middle (its later ops still draw the same random choices).
    for (let c = 0; c < best.opsPerCpu.length; c++) {
      for (let j = best.opsPerCpu[c]! - 1; j >= 0; j--) {
        if (runs(c) <= 1 || best.skip[c]!.includes(j)) continue;
        if (
          attempt(
            best.opsPerCpu,
            withSkip(
              best.skip,
              c,
              [...best.skip[c]!, j].sort((a, b) => a - b),
            ),
            best.decisions,
            true,
          )
        )
          progress = true;
      }
    }
    // 3. Fewer preemptions: drop one run of the schedule at a time (latest first, where the noise is).
    for (let i = runsOf(best.decisions).length - 1; i >= 0; i--) {
      const rs = runsOf(best.decisions);
      if (i >= rs.length) continue;
      const edited = rs.filter((_, k) => k !== i).flatMap(([c, len]) => Array<number>(len).fill(c));
      if (attempt(best.opsPerCpu, best.skip, edited)) progress = true;
    }
  }
  return { ...best, attempts, accepted };
}

/** What "smaller" means, most important first: vCPUs taking part, ops run, preemptions, steps. */
function size(ops: readonly number[], skip: readonly (readonly number[])[], r: ExecutionResult): number[] {
  const run = ops.map((k, c) => k - (skip[c]?.length ?? 0));
  return [run.filter((k) => k > 0).length, run.reduce((a, b) => a + b, 0), r.preemptions, r.steps];
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

function withSkip(skip: readonly (readonly number[])[], c: number, list: readonly number[]): (readonly number[])[] {
  const out = skip.slice();
  out[c] = list;
  return out;
}

/** The schedule as [cpu, length] runs. */
function runsOf(decisions: ArrayLike<number>): [number, number][] {
  const rle = encodeSchedule(decisions);
  const out: [number, number][] = [];
  for (let i = 0; i < rle.length; i += 2) out.push([rle[i]!, rle[i + 1]!]);
  return out;
}
