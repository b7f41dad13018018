/**
 * No window explore cannot see: a violation found by real threads (stress, 2 workers, bounded by ops)
 * comes back in explore, the same invariant, when its op programs are re-run there (stress/reproduce.ts,
 * bounded by schedules, not time). A model that folds a racing access into one scheduling point shows up
 * as a stress failure explore cannot repeat. Here the models whose racing bug stress hits within a few
 * hundred ops (the time budget of npm test); `node scripts/stress-repro-check.mjs` runs every model.
 *
 * Stress is not deterministic: a run that stays clean is retried with the next seed; what is asserted is
 * the explore side, which is deterministic for given programs.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { variantOf } from '../src/engine/scenario.js';
import { stress } from '../src/stress/stress.js';
import firstFailureScenario from './helpers/first-failure-scenario.js';
import { root } from './helpers/cli.js';
import { STRESS_REPRO_CASES, stressRepro } from './helpers/stress-repro.js';

// mapsg/domain-list-unlocked is left to the script: its race shows to real threads as MAPSG-ONCE or, now and
// then, as MAPSG-ERROR, and on a MAPSG-ERROR run's programs explore, asked for MAPSG-ERROR (`want`), finds
// only MAPSG-ONCE (the foreign commit the checker sees first) within 2,000 schedules: not deterministic.
// pasid and the others need longer stress runs than this file's budget (the script's table has them).
const QUICK = ['dma-iova', 'counter'];

describe('a stress-found violation comes back in explore on its op programs', () => {
  it.each(STRESS_REPRO_CASES.filter(([name]) => QUICK.includes(name)))('%s/%s', async (name, variant, ops) => {
    const r = await stressRepro(name, variant, ops, [1, 2, 3, 4], 600);
    expect(r.stressInvariant, `${name}/${variant}: stress found nothing`).toBeDefined();
    expect(r.exploreInvariant, `${name}/${variant} on ${r.failing}`).toBe(r.stressInvariant);
  });
});

describe("stress reports the run's first violation, not the lowest worker's", () => {
  // cpu1 reports ROOT, then cpu0, having seen it, reports CONSEQUENCE (helpers/first-failure-scenario.ts):
  // the order is causal, not a matter of timing, so the run's violation is ROOT on every run. Before the
  // claim (stress/control.ts claimFirstFailure) it was worker 0's CONSEQUENCE whenever cpu0 got to report.
  it('the one reported first, by whichever worker', async () => {
    const r = await stress({
      scenario: firstFailureScenario,
      variant: variantOf(firstFailureScenario, 'only'),
      params: {},
      workers: 2,
      timeMs: 10_000,
      opBudget: 1,
      seed: 1,
      sliceMs: 1_000,
      watchdogMs: 5_000,
      scenarioFile: path.join(root, 'dist', 'test', 'helpers', 'first-failure-scenario.js'),
    });
    expect(r.violation).toMatchObject({ invariant: 'ROOT', vcpu: 1 });
    expect(r.failing?.opsPerCpu[1]).toBe(1);
  });
});
