/**
 * Scenario dma-iova (kernel-model.md §7, §9 #16 #17) under the explore executor: each lifecycle bug
 * found by PCT for fixed seeds within a bounded number of schedules — named at the misuse by the
 * lifecycle checks, and by what it breaks without them — and the correct lifecycle clean over 2,000
 * schedules; and which programs stress starts anew each slice.
 */
import { describe, expect, it } from 'vitest';
import { findVariant, meetsExpectation, variantOf, withDefaults } from '../src/engine/scenario.js';
import { explore } from '../src/explore/explore.js';
import { dmaIovaScenario as scenario } from '../src/scenarios/dma-iova.js';

const OPS = Array<number>(scenario.exploreCpus).fill(scenario.exploreOps);

function search(variant: string, seed: number, schedules: number, params: Record<string, number> = {}) {
  return explore({
    scenario,
    variant: findVariant(scenario, variant)!,
    params: withDefaults(scenario, { ...scenario.exploreParams, ...params }),
    opsPerCpu: OPS,
    strategy: 'pct',
    depth: 3,
    schedules,
    timeMs: Number.POSITIVE_INFINITY,
    seed,
    maxSteps: 100_000,
    shrink: false,
  });
}

describe('dma-iova under the explore executor', () => {
  const bugs: [string, string, string][] = [
    ['free-while-linked', 'IOVA-FREE-LINKED', 'DMA-MAP'],
    ['no-sync', 'IOVA-USE-UNSYNCED', 'DMA-FAULT'],
  ];
  for (const [variant, oracle, consequence] of bugs) {
    for (const seed of [1, 2, 3]) {
      it(`PCT finds ${variant} for seed ${seed} within 100 schedules: ${oracle}, and ${consequence} without the lifecycle checks`, () => {
        const r = search(variant, seed, 100);
        expect(r.violation?.invariant).toBe(oracle);
        const c = search(variant, seed, 100, { lifecycleChecks: 0 });
        expect(c.violation?.invariant).toBe(consequence);
        expect(meetsExpectation(findVariant(scenario, variant)!, consequence)).toBe(true);
      });
    }
  }

  it('the correct lifecycle stays clean over 2,000 schedules (seed 7)', () => {
    const r = search('correct', 7, 2_000);
    expect(r.violation).toBeUndefined();
    expect(r.schedules).toBe(2_000);
  });
});

describe('dma-iova under stress', () => {
  // The small space fills, and alloc_iova_fast's one-shot flush_rcache retry runs, only while each vCPU's
  // rcache is still gaining its first range of each size class: a run that kept its model would meet it
  // in its first dozen allocations or never. The benchmark loops keep theirs: their counts add up.
  const fresh = (params: Record<string, number>) =>
    scenario.build({ cpus: 2, variant: variantOf(scenario, 'correct'), params: withDefaults(scenario, params) })
      .freshEachSlice;
  it('starts every slice from a fresh model for the lifecycle programs, not for the bench loops', () => {
    expect(fresh({ spacePfns: 64 })).toBe(true);
    expect(fresh({})).toBe(true);
    expect(fresh({ bench: 1 })).toBe(false);
    expect(fresh({ bench: 2 })).toBe(false);
  });
});
