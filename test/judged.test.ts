/**
 * Judged counts (src/check/judged.ts) trip when a seam changes how often an allowed outcome happens:
 * ENOMEM without the one-shot flush (ENOMEM-COUNT), a DMA map failure the allocator never saw
 * (DMA-ENOMEM-COUNT) — both per explored execution, with a replay token — and the flush rate of the
 * iova scenario's default regime, which must neither stop nor explode (IOVA-FLUSH-RATE, over an
 * op-bounded stress phase).
 */
import { describe, expect, it } from 'vitest';
import { judgeRates, judgeRelations } from '../src/check/judged.js';
import type { Cpu, Op } from '../src/engine/cpu.js';
import { extendScenario, variantOf, withDefaults, type ScenarioDef, type VariantDef } from '../src/engine/scenario.js';
import { explore } from '../src/explore/explore.js';
import { DmaIommu } from '../src/model/dma/dma-iommu.js';
import { FlushUntilRoomFq } from '../src/model/fq/variants.js';
import { flushqScenario, type FlushqPatch } from '../src/scenarios/flushq.js';
import { stress } from '../src/stress/stress.js';
import { root } from './helpers/cli.js';
import judgedIova from './helpers/judged-iova.js';
import path from 'node:path';

/** A DMA layer that reports "no IOVA space" for every multi-page map without asking the allocator. */
class SpuriousEnomemDma extends DmaIommu {
  override *iommuDmaMap(cpu: Cpu, phys: number, pages: number): Op<number> {
    if (pages > 1) return 0;
    return yield* super.iommuDmaMap(cpu, phys, pages);
  }
}

const FQ: VariantDef<FlushqPatch>[] = [
  {
    name: 'spurious-enomem',
    summary: 't',
    expect: ['DMA-ENOMEM-COUNT'],
    patch: { flushQueue: FlushUntilRoomFq, dmaIommu: SpuriousEnomemDma },
  },
];

function search<P>(base: ScenarioDef<P>, extra: VariantDef<P>[], variant: string, schedules: number) {
  const scenario = extendScenario(base, extra);
  return explore({
    scenario,
    variant: variantOf(scenario, variant),
    params: withDefaults(scenario, scenario.exploreParams),
    opsPerCpu: Array<number>(scenario.exploreCpus).fill(scenario.exploreOps),
    strategy: 'pct',
    depth: 3,
    schedules,
    timeMs: Number.POSITIVE_INFINITY,
    seed: 1,
    maxSteps: 200_000,
    shrink: false,
  });
}

describe('judged relations, per explored execution', () => {
  it('iova/no-flush: an ENOMEM without its flush is ENOMEM-COUNT', () => {
    const r = search(judgedIova, [], 'no-flush', 100);
    expect(r.violation?.invariant, r.violation?.message).toBe('ENOMEM-COUNT');
    expect(r.violation!.site).toBe('judged counts');
    expect(r.violation!.message).toMatch(/^ENOMEM \+ ENOMEM-SPURIOUS = \d+ exceeds IOVA-FLUSH = 0$/);
  });

  it('flushq/spurious-enomem: a DMA map failure the allocator never saw is DMA-ENOMEM-COUNT', () => {
    const r = search(flushqScenario, FQ, 'spurious-enomem', 50);
    expect(r.violation?.invariant, r.violation?.message).toBe('DMA-ENOMEM-COUNT');
    expect(r.violation!.message).toMatch(/^DMA-ENOMEM = \d+ exceeds ENOMEM \+ ENOMEM-SPURIOUS = 0$/);
  });

  it('the faithful iova model stays within its relations over 100 schedules', () => {
    const r = search(judgedIova, [], 'correct', 100);
    expect(r.violation, r.violation?.message).toBeUndefined();
    expect(r.outcomes['ENOMEM'] ?? 0).toBeGreaterThan(0);
  });
});

describe('the flush rate of the default iova regime, over an op-bounded stress phase (2 workers)', () => {
  const scenario = judgedIova;
  const params = withDefaults(scenario);
  const phase = async (variant: string) => {
    const r = await stress({
      scenario,
      variant: variantOf(scenario, variant),
      params,
      workers: 2,
      timeMs: Number.POSITIVE_INFINITY,
      opBudget: 3_000,
      seed: 3,
      sliceMs: 20,
      watchdogMs: 30_000,
      scenarioFile: path.join(root, 'dist', 'test', 'helpers', 'judged-iova.js'),
    });
    expect(r.ops).toBe(6_000);
    return [
      ...judgeRelations(scenario.judged!, r.outcomes, params),
      ...judgeRates(scenario.judged!, r.outcomes, r.ops, params, 2),
    ];
  };

  it('correct: no judged count fails', async () => {
    expect(await phase('correct')).toEqual([]);
  }, 60_000);

  it('always-flush: the flush becomes the rule (IOVA-FLUSH-RATE, too many per op)', async () => {
    const j = await phase('always-flush');
    expect(j.map((x) => x.id)).toEqual(['IOVA-FLUSH-RATE']);
    expect(j[0]!.message).toMatch(/more than 0\.15 per op$/);
  }, 60_000);

  it('no-flush: the flush stops happening (IOVA-FLUSH-RATE, too few per op) and ENOMEM outnumbers it', async () => {
    const j = await phase('no-flush');
    expect(j.map((x) => x.id).sort()).toEqual(['ENOMEM-COUNT', 'IOVA-FLUSH-RATE']);
    expect(j.find((x) => x.id === 'IOVA-FLUSH-RATE')!.message).toMatch(/the outcome stopped happening$/);
  }, 60_000);
});
