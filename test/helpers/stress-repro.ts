/**
 * A stress-found violation re-run in explore (stress/reproduce.ts), bounded by ops and schedules rather
 * than time: test/stress-repro.test.ts runs a few models; `node scripts/stress-repro-check.mjs` runs every
 * model over many seeds (too long for npm test) and prints the table the issue-13 report quotes.
 */
import { variantOf, withDefaults, type ScenarioDef } from '../../src/engine/scenario.js';
import { defaultMaxSteps } from '../../src/cli/run.js';
import { SCENARIOS } from '../../src/scenarios/index.js';
import { reproduceStressFailure } from '../../src/stress/reproduce.js';
import { stress } from '../../src/stress/stress.js';

/**
 * [scenario, a racing bug variant, ops per vCPU for a stress run, parameters over the defaults]: one per
 * model. flushq runs a 16-entry ring: with the kernel's 256 the window (an entry queued while another
 * CPU's flush is in flight, freed once that flush finishes) needs the main thread's fq timer, and stress
 * met it in 4-5 of seeds 1-20 (8,000 ops); with 16 the workers' own flushes (the ring fills every few
 * ops) meet it too: 7 of seeds 1-10.
 */
export const STRESS_REPRO_CASES: readonly (readonly [string, string, number, Readonly<Record<string, number>>?])[] = [
  ['pgtable', 'racy-install', 4_000],
  ['iova', 'unlocked-remote-drain', 4_000],
  ['flushq', 'finish-counter', 8_000, { fqSize: 16 }],
  ['viommu', 'upstream', 2_000],
  ['mapsg', 'domain-list-unlocked', 2_000],
  ['dma-iova', 'free-while-linked', 2_000],
  ['pasid', 'iova-eq-kva-norefcount', 2_000],
  ['counter', 'plain-shared', 2_000],
];

export interface StressRepro {
  /** The stress seed whose run failed (undefined: none of the seeds tried did). */
  readonly seed: number | undefined;
  readonly stressInvariant: string | undefined;
  readonly failing: string;
  /** What explore found on the failing programs (undefined: nothing within the schedules). */
  readonly exploreInvariant: string | undefined;
  readonly schedules: number;
}

/**
 * Stress scenario/variant (2 workers, `ops` per vCPU) with each seed in turn until a run fails, then
 * search its failing programs in explore with `schedules` schedules at most (seed 1), looking for the
 * invariant the threads broke.
 */
export async function stressRepro(
  name: string,
  variant: string,
  ops: number,
  seeds: readonly number[],
  schedules: number,
  over: Readonly<Record<string, number>> = {},
): Promise<StressRepro> {
  const s = SCENARIOS.find((x) => x.name === name) as ScenarioDef;
  const v = variantOf(s, variant);
  const params = { ...withDefaults(s), ...over };
  for (const seed of seeds) {
    const st = await stress({
      scenario: s,
      variant: v,
      params,
      workers: 2,
      timeMs: 60_000,
      opBudget: ops,
      seed,
      sliceMs: 20,
      watchdogMs: 30_000,
    });
    if (!st.violation || !st.failing) continue;
    const r = reproduceStressFailure({
      scenario: s,
      variant: v,
      params,
      failing: st.failing,
      seed: 1,
      searchMs: Infinity,
      shrinkMs: 50,
      maxSteps: defaultMaxSteps,
      maxSchedules: schedules,
      want: st.violation.invariant,
    });
    return {
      seed,
      stressInvariant: st.violation.invariant,
      failing: `op seed ${st.failing.opSeed}, ops ${st.failing.opsPerCpu.join(',')}`,
      exploreInvariant: r.found?.violation.invariant,
      schedules: r.schedules,
    };
  }
  return { seed: undefined, stressInvariant: undefined, failing: '', exploreInvariant: undefined, schedules: 0 };
}

/**
 * Explore on fixed op programs (a stress run's: its op seed and the ops each vCPU completed), seed 1, at
 * most `schedules` schedules, looking for `want`: what stress/reproduce.ts does with a stress failure,
 * without the stress run (deterministic).
 */
export function exploreOnPrograms(
  name: string,
  variant: string,
  opSeed: number,
  opsPerCpu: readonly number[],
  want: string,
  schedules: number,
): { invariant: string | undefined; message: string; schedules: number } {
  const s = SCENARIOS.find((x) => x.name === name) as ScenarioDef;
  const r = reproduceStressFailure({
    scenario: s,
    variant: variantOf(s, variant),
    params: withDefaults(s),
    failing: { opSeed, opsPerCpu, sliceOnly: false },
    seed: 1,
    searchMs: Infinity,
    shrinkMs: 50,
    maxSteps: defaultMaxSteps,
    maxSchedules: schedules,
    want,
  });
  return {
    invariant: r.found?.violation.invariant,
    message: r.found?.violation.message ?? '',
    schedules: r.schedules,
  };
}
