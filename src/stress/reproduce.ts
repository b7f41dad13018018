/**
 * A stress failure made deterministic, on the machine where it failed: the op programs the failing
 * threads ran are handed to the explore executor, which searches schedules of ever longer prefixes of
 * those programs (a ladder of op windows: 4, 16, 64, ... ops per vCPU, then the whole of them) under one
 * time budget, then shrinks what it finds into a replay token.
 *
 * What "the programs" are depends on the scenario (see StressOutcome.failing):
 *  - freshEachSlice scenarios (pgtable, iova, viommu) start every slice from a fresh model and fresh
 *    programs drawn from the slice's seed, so the failing slice alone is an exact starting point: its
 *    op seed and the ops each vCPU completed in it;
 *  - the others keep their state (and each vCPU its program, whose own state lives on the worker's heap:
 *    dma-iova's lifecycle, mapsg's window mirror) across slices, so a slice cannot be replayed alone
 *    without that heap state. Their programs run from the start of the run, and a bug the threads hit
 *    after 400,000 ops is almost always within reach of a short prefix of the same programs: the ladder
 *    finds that prefix. The token then replays the first N ops of the very programs that failed.
 * Why a ladder: an execution costs its length, and PCT's chance per schedule falls with length (depth
 * d: ~1/(n·k^(d-1))), so short windows are searched first and cheaply. But some bugs need length: a
 * 256-entry flush-queue ring fills only after ~1,000 ops, a teardown is 2 ops in 1,000. So a quick pass
 * gives every window a few schedules before the deep pass spends the rest window by window.
 *
 * Not done (the next step for the non-fresh scenarios): a snapshot of the buffer at the failing slice's
 * barrier, replayed from there, needs each program's own state in the buffer too (or a way to save and
 * restore it) and a repro format that carries the snapshot.
 */
import type { Violation } from '../check/invariant.js';
import { mix32 } from '../engine/rng.js';
import type { ScenarioDef, VariantDef } from '../engine/scenario.js';
import { explore, type FoundRepro } from '../explore/explore.js';
import type { StrategyName } from '../explore/strategies.js';

export interface FailingPrograms {
  /** Op seed of the programs (the slice's seed for freshEachSlice scenarios, else the run's). */
  readonly opSeed: number;
  /** Ops each vCPU completed in those programs when the run stopped. */
  readonly opsPerCpu: readonly number[];
  /** True when the programs are the failing slice's alone (fresh model at the slice start). */
  readonly sliceOnly: boolean;
}

export interface ReproduceOptions {
  readonly scenario: ScenarioDef;
  readonly variant: VariantDef;
  /** The stress run's parameters (the programs depend on them). */
  readonly params: Readonly<Record<string, number>>;
  readonly failing: FailingPrograms;
  /** Seed of the schedule search. */
  readonly seed: number;
  /** Wall-clock budget of the schedule search (all windows together). */
  readonly searchMs: number;
  readonly shrinkMs: number;
  readonly maxSteps: (opsPerCpu: readonly number[]) => number;
  /**
   * At most this many schedules in all (default: no bound but the time). With searchMs Infinity, a
   * search bounded by work alone: the same programs and seed always search the same schedules (tests).
   */
  readonly maxSchedules?: number;
  /**
   * The invariant the threads broke: a violation of another invariant found on the way is kept as a
   * fallback and the search goes on for this one (default: the first violation found is the answer).
   */
  readonly want?: string;
  readonly onProgress?: (text: string) => void;
}

export interface ReproduceOutcome {
  /** The shrunk deterministic repro, when the search found a failing schedule. */
  readonly found: FoundRepro | undefined;
  /** The window the search was on when it found it or ran out of time (ops per vCPU). */
  readonly window: readonly number[];
  readonly schedules: number;
  readonly searchMs: number;
}

/** Window sizes (ops per vCPU) tried in turn; the failing programs' own lengths cap each one. */
const LADDER = [4, 16, 64, 256, 1024, 4096, 16384];
/**
 * Each window is searched by these strategies in turn. No one strategy wins everywhere: measured on the
 * failing programs of stress runs, random scheduling finds flushq/finish-counter's F1 in a fifth of
 * the schedules PCT needs, while PCT (depth 3, then 2) finds iova/depot-pop-empty where random does not.
 */
const STRATEGIES: readonly { readonly strategy: StrategyName; readonly depth: number }[] = [
  { strategy: 'pct', depth: 3 },
  { strategy: 'random', depth: 1 },
  { strategy: 'pct', depth: 2 },
];
/**
 * A strategy gets at most this many schedules of a window (and half the time left) before the next
 * strategy or the next, longer window: few for the tiny windows (a bug there shows within a few
 * dozen), more for the middle ones.
 */
const schedulesFor = (w: number): number => (w <= 16 ? 60 : 400);
/** Schedules per window and strategy in the first, quick pass. */
const QUICK_SCHEDULES = 20;

export function windowsOf(opsPerCpu: readonly number[]): number[][] {
  const out: number[][] = [];
  const full = Math.max(...opsPerCpu);
  for (const w of [...LADDER.filter((w) => w < full), full]) out.push(opsPerCpu.map((k) => Math.min(k, w)));
  return out;
}

export function reproduceStressFailure(o: ReproduceOptions): ReproduceOutcome {
  const t0 = performance.now();
  const windows = windowsOf(o.failing.opsPerCpu).filter((w) => w.some((k) => k > 0));
  let schedules = 0;
  let window: readonly number[] = windows[0] ?? o.failing.opsPerCpu;
  // Cost of one op in explore, learnt from the windows already searched (ms per op of an execution).
  let msPerOp = 0;
  let other: FoundRepro | undefined;
  // A first pass over every window with a few schedules each (a bug that needs a full ring or a rare op
  // shows only in the longer ones), then the deep pass, window by window, strategy by strategy.
  const tries = [
    ...windows.flatMap((w) => STRATEGIES.slice(0, 2).map((st) => ({ w, ...st, cap: QUICK_SCHEDULES }))),
    ...windows.flatMap((w) => STRATEGIES.map((st) => ({ w, ...st, cap: schedulesFor(Math.max(...w)) }))),
  ];
  for (let i = 0; i < tries.length; i++) {
    const left = o.searchMs - (performance.now() - t0);
    const schedulesLeft = (o.maxSchedules ?? Infinity) - schedules;
    if (left <= 0 || schedulesLeft <= 0) break;
    const { w, strategy, depth } = tries[i]!;
    const ops = w.reduce((a, b) => a + b, 0);
    // A window whose single execution would take more than a quarter of what is left cannot be searched.
    if (msPerOp * ops > left / 4) continue;
    window = w;
    // The last try may use all that is left; the others at most half of it, so longer windows get a turn.
    const last = i === tries.length - 1;
    const timeMs = last ? left : left / 2;
    const cap = Math.min(last ? Number.MAX_SAFE_INTEGER : tries[i]!.cap, schedulesLeft);
    o.onProgress?.(
      `window ${window.join(',')} ops, ${strategy}${strategy === 'pct' ? ` depth ${depth}` : ''}: ` +
        `${cap} schedules, ${(timeMs / 1000).toFixed(1)} s at most`,
    );
    // An explore run ends at its first violation; one of another invariant than the wanted one is kept as
    // the fallback and the try goes on, on fresh schedules (a new scheduler seed), for the rest of its cap:
    // a race that shows as two invariants by timing is searched for the one the threads broke.
    // Only a violation that will be returned is shrunk: the wanted one, and the first other one (the
    // fallback). A round that finds the wanted one unshrunk is run again, the same schedules, shrinking.
    const tryT0 = performance.now();
    for (let round = 0, done = 0; done < cap; round++) {
      const search = (schedules: number, timeMs: number, shrink: boolean) =>
        explore({
          scenario: o.scenario,
          variant: o.variant,
          params: o.params,
          opsPerCpu: window,
          strategy,
          depth,
          schedules,
          timeMs,
          seed: round === 0 ? mix32(o.seed, 0x2e9 + i) : mix32(mix32(o.seed, 0x2e9 + i), round),
          opSeed: o.failing.opSeed,
          maxSteps: o.maxSteps(window),
          shrink,
          shrinkMs: o.shrinkMs,
        });
      const r = search(cap - done, timeMs - (performance.now() - tryT0), other === undefined);
      schedules += r.schedules;
      done += r.schedules;
      if (r.ops > 0) msPerOp = Math.max(msPerOp, r.searchMs / r.ops);
      const wanted = r.minimal && (o.want === undefined || r.minimal.violation.invariant === o.want);
      if (wanted && other !== undefined) {
        // The same schedules again (deterministic: same seeds, and they ended at this violation), shrunk.
        const again = search(r.schedules, Infinity, true);
        if (again.minimal?.violation.invariant === r.minimal!.violation.invariant)
          return { found: again.minimal, window, schedules, searchMs: performance.now() - t0 };
        return { found: r.minimal, window, schedules, searchMs: performance.now() - t0 };
      }
      if (wanted) return { found: r.minimal, window, schedules, searchMs: performance.now() - t0 };
      other ??= r.minimal;
      // No violation: the cap or the time is spent. An unwanted one: search on unless the time is.
      if (!r.minimal || performance.now() - tryT0 >= timeMs || r.schedules === 0) break;
    }
  }
  return { found: other, window, schedules, searchMs: performance.now() - t0 };
}

/** "stress saw: …; replay shows: …" when the deterministic repro ends elsewhere than the threads did. */
export function sameViolation(a: Violation, b: Violation): boolean {
  return a.invariant === b.invariant && a.vcpu === b.vcpu;
}
