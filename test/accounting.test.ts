/**
 * The accounting invariants bite: each test breaks the accounting on purpose through the seams (a
 * subclass of a mechanism that drops, duplicates or leaks, added as a variant with extendScenario) and
 * expects explore to report exactly that invariant — FQ-ACCT, IOVA-ACCT, IOVA-DRAIN — and the faithful
 * subclasses (of the fixed flush queue) to stay clean. PT-LEAK's scan in flushq is driven directly.
 */
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd, type Op } from '../src/engine/cpu.js';
import { allocateMemory } from '../src/engine/layout.js';
import { extendScenario, variantOf, withDefaults, type ScenarioDef, type VariantDef } from '../src/engine/scenario.js';
import { explore } from '../src/explore/explore.js';
import { DmaIommu } from '../src/model/dma/dma-iommu.js';
import { FQ_SITES as S } from '../src/model/fq/flush-queue.js';
import { FlushUntilRoomFq } from '../src/model/fq/variants.js';
import { IovaRcaches } from '../src/model/iova/rcache.js';
import type { IovaPatch } from '../src/model/iova/patch.js';
import { buildFlushq, flushqParts, flushqScenario, type FlushqPatch } from '../src/scenarios/flushq.js';
import { iovaScenario } from '../src/scenarios/iova.js';

/** A full ring drops its oldest entry: head moves on, the IOVA is never freed. */
class DropWhenFullFq extends FlushUntilRoomFq {
  protected override *fqRingFull(cpu: Cpu, r: number): Op {
    yield S.head;
    const head = Atomics.load(cpu.i32, this.headIdx(r));
    Atomics.store(cpu.i32, this.headIdx(r), (head + 1) & this.mask);
  }
}

/** Every entry the ring frees is handed to free_iova_fast twice. */
class FreeTwiceFq extends FlushUntilRoomFq {
  protected override *fqEntryFree(cpu: Cpu, r: number): Op {
    yield S.head;
    const head = Atomics.load(cpu.i32, this.headIdx(r));
    const k = this.slot(r, head);
    const pfn = Atomics.load(cpu.i32, this.pfn + k);
    const pages = Atomics.load(cpu.i32, this.pagesIdx + k);
    Atomics.store(cpu.i32, this.headIdx(r), (head + 1) & this.mask);
    yield* this.freeIova(cpu, pfn, pages);
    yield* this.freeIova(cpu, pfn, pages);
  }
}

/** iommu_dma_free_iova that forgets the IOVA (neither queued nor freed): a leak. */
class ForgetIovaDma extends DmaIommu {
  protected override *iommuDmaFreeIova(): Op {}
}

/** iommu_dma_free_iova that queues the IOVA twice. */
class QueueTwiceDma extends DmaIommu {
  protected override *iommuDmaFreeIova(cpu: Cpu, pfn: number, pages: number, queued: boolean): Op {
    yield* super.iommuDmaFreeIova(cpu, pfn, pages, queued);
    yield* super.iommuDmaFreeIova(cpu, pfn, pages, queued);
  }
}

/** free_global_cached_iovas that leaves the depots alone: the drain cannot empty them. */
class KeepDepotRcaches extends IovaRcaches {
  override *freeGlobalCachedIovas(): Op {}
}

const FQ: VariantDef<FlushqPatch>[] = [
  { name: 'drop-when-full', summary: 't', expect: ['FQ-ACCT'], patch: { flushQueue: DropWhenFullFq } },
  { name: 'free-twice', summary: 't', expect: ['FQ-ACCT'], patch: { flushQueue: FreeTwiceFq } },
  { name: 'forget-iova', summary: 't', expect: ['IOVA-ACCT'], patch: { strict: true, dmaIommu: ForgetIovaDma } },
  {
    name: 'forget-iova-lazy',
    summary: 't',
    expect: ['IOVA-ACCT'],
    patch: { flushQueue: FlushUntilRoomFq, dmaIommu: ForgetIovaDma },
  },
  {
    name: 'queue-twice',
    summary: 't',
    expect: ['FQ-ACCT'],
    patch: { flushQueue: FlushUntilRoomFq, dmaIommu: QueueTwiceDma },
  },
];
const IOVA: VariantDef<IovaPatch>[] = [
  { name: 'keep-depot', summary: 't', expect: ['IOVA-DRAIN'], patch: { rcaches: KeepDepotRcaches } },
];

function search<P>(base: ScenarioDef<P>, extra: VariantDef<P>[], variant: string, seed: number, schedules: number) {
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
    seed,
    maxSteps: 200_000,
    shrink: false,
  });
}

describe('accounting invariants bite when a seam breaks the accounting', () => {
  const cases: [string, string, string][] = [
    ['drop-when-full', 'FQ-ACCT', 'was queued and never freed, but no ring holds it'],
    ['free-twice', 'FQ-ACCT', 'which is not queued: an entry freed twice'],
    ['queue-twice', 'FQ-ACCT', 'which is already queued'],
    ['forget-iova', 'IOVA-ACCT', 'no buffer or queue entry holds it: lost'],
    ['forget-iova-lazy', 'IOVA-ACCT', 'no buffer or queue entry holds it: lost'],
  ];
  for (const [variant, id, text] of cases) {
    it(`flushq/${variant}: ${id} within 50 schedules (seed 1)`, () => {
      const r = search(flushqScenario, FQ, variant, 1, 50);
      expect(r.violation?.invariant, r.violation?.message).toBe(id);
      expect(r.violation!.message).toContain(text);
    });
  }

  it('iova/keep-depot: IOVA-DRAIN at the end of an execution within 5 schedules (the depot never drains)', () => {
    const r = search(iovaScenario, IOVA, 'keep-depot', 1, 5);
    expect(r.violation?.invariant, r.violation?.message).toBe('IOVA-DRAIN');
    expect(r.violation!.site).toBe('final drain');
    expect(r.violation!.message).toMatch(/rbtree still holds .*it never came back to the allocator/);
  });
});

describe('PT-LEAK is judged at every quiescent point of flushq', () => {
  it('a table page taken from the pool and never installed is reported; nothing before', () => {
    const config = {
      cpus: 2,
      variant: variantOf(flushqScenario, 'percpu-fixed'),
      params: withDefaults(flushqScenario),
    };
    const model = buildFlushq(config);
    // The same config gives the same layout: the parts' page pool is the model's.
    const { pool } = flushqParts(config);
    const mem = allocateMemory(model.layout);
    model.init(mem);
    const found = (): string[] => {
      const ids: string[] = [];
      model.quiescent(mem, (id) => ids.push(id));
      return ids;
    };
    expect(found()).toEqual([]);
    const page = runToEnd(pool.alloc(new Cpu(0, 'explore', mem, new Checker(flushqScenario.invariants))));
    expect(page).toBeGreaterThan(0);
    expect(found()).toEqual(['PT-LEAK']);
  });
});
