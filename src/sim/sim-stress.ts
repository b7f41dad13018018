/**
 * The simulated-time executor behind the stress executor's interface: a benchmark written against
 * stress() (bench/mapsg-bench.ts) runs unchanged on simulated time when handed this runner — `workers`
 * become vCPUs, the op budget is per vCPU (required: a simulated run is bounded by work, not time), and
 * durationMs is simulated milliseconds.
 */
import type { StressOptions, StressOutcome } from '../stress/stress.js';
import { runSim } from './executor.js';
import type { SimSpeed } from './fq-sim.js';
import type { CostProfile } from './profile.js';

export type StressRunner = (o: StressOptions) => Promise<StressOutcome>;

export function simStressRunner(profile: CostProfile, speed: SimSpeed[]): StressRunner {
  return async (o) => {
    if (!Number.isFinite(o.opBudget)) throw new Error('sim: a simulated run needs an op budget per vCPU');
    const model = o.scenario.build({ cpus: o.workers, variant: o.variant, params: o.params });
    const t0 = performance.now();
    const r = runSim({
      scenario: o.scenario,
      model,
      opSeed: o.seed,
      opsPerCpu: Array(o.workers).fill(o.opBudget),
      profile,
      // The harness's bookkeeping costs nothing (latency statistics, shadow maps).
      untimed: ['lat.*', 'shadow.*'],
    });
    speed.push({ steps: r.steps, wallMs: performance.now() - t0 });
    return {
      ops: r.ops,
      steps: r.steps,
      // The whole run: the suites divide the loops their statistics counted (all of them) by it.
      durationMs: r.makespanNs / 1e6,
      slices: 1,
      violation: undefined,
      outcomes: Object.fromEntries(r.outcomes),
      perCpu: Array.from({ length: o.workers }, () => ({ ops: o.opBudget, steps: 0 })),
      stats: r.stats,
      failing: undefined,
      sites: undefined, // simulated benches count no coverage (bench runs without it)
    };
  };
}
