/**
 * The lazy-unmap path (scenario flushq): the flush queue's own semantics driven step by step on one
 * thread, every bug variant found by the explore executor for fixed seeds within a bounded number of
 * schedules, the correct variants clean over 2,000 schedules, and the F1 oracle itself.
 */
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd } from '../src/engine/cpu.js';
import { allocateMemory } from '../src/engine/layout.js';
import { findVariant, meetsExpectation, withDefaults, variantOf } from '../src/engine/scenario.js';
import { explore } from '../src/explore/explore.js';
import { IoPgtable } from '../src/model/pgtable.js';
import { FLUSHQ_LOCK_ORDER, RANK_IOTLB_FLUSH } from '../src/model/fq/locks.js';
import { FlushQueue } from '../src/model/fq/flush-queue.js';
import { flushqParts, flushqScenario as scenario } from '../src/scenarios/flushq.js';

const EXPLORE_PARAMS = withDefaults(scenario, scenario.exploreParams);
const OPS = Array<number>(scenario.exploreCpus).fill(scenario.exploreOps);

function search(variant: string, seed: number, schedules: number) {
  return explore({
    scenario,
    variant: findVariant(scenario, variant)!,
    params: EXPLORE_PARAMS,
    opsPerCpu: OPS,
    strategy: 'pct',
    depth: 3,
    schedules,
    timeMs: Number.POSITIVE_INFINITY,
    seed,
    maxSteps: 200_000,
    shrink: false,
  });
}

/** The flush queue alone, on one vCPU, with explicit steps (no scheduler): its bookkeeping, exactly. */
function fixture(variant: string, params: Record<string, number> = {}) {
  const config = {
    cpus: 2,
    variant: variantOf(scenario, variant),
    params: withDefaults(scenario, { fqSize: 4, checks: 1, ...params }),
  };
  const parts = flushqParts(config);
  const mem = allocateMemory(parts.layout);
  parts.domain.init(mem.i32);
  parts.pool.init(mem, [IoPgtable.ROOT_PAGE]);
  const checker = new Checker(scenario.invariants);
  const cpu = new Cpu(0, 'explore', mem, checker);
  const alloc = () => runToEnd(parts.domain.allocIovaFast(cpu, 1, 1000, true));
  // What __iommu_dma_unmap does around queue_iova, as the harness sees it: the PTE clear, then the queueing
  // (through the accounting's wrapper, as the DMA layer queues).
  const queue = (pfn: number) => {
    parts.oracle.pteCleared(cpu, pfn, 1);
    runToEnd(parts.checkedFq!.queueIova(cpu, pfn, 1));
  };
  const flushes = () => parts.iotlb.flushCount(mem.i32);
  return { parts, mem, checker, cpu, alloc, queue, flushes };
}

describe('flush queue semantics (kernel-model.md §3.4)', () => {
  it('an entry waits for a flush that starts after it; a full ring (size-1 entries) flushes while queueing', () => {
    const f = fixture('percpu');
    const pfns = [f.alloc(), f.alloc(), f.alloc()];
    for (const p of pfns) f.queue(p);
    expect(f.parts.fq!.held(f.mem.i32)).toBe(3); // ring of 4 holds 3
    expect(f.flushes()).toBe(0);
    f.queue(f.alloc()); // full: flush under the ring lock, free what it covers, then queue
    expect(f.flushes()).toBe(1);
    expect(f.parts.fq!.held(f.mem.i32)).toBe(1);
    expect(f.checker.violations).toEqual([]);
  });

  it('the timer flushes once and drains every ring; fq_timer_on is cleared and re-armed by the next queue', () => {
    const f = fixture('percpu');
    f.queue(f.alloc());
    const timerCpu = new Cpu(2, 'explore', f.mem, f.checker);
    timerCpu.thisCpu = 0; // the timer fires on CPU 0 and frees into its range cache
    expect(runToEnd(f.parts.fq!.timer.pending(f.cpu))).toBe(true);
    runToEnd(f.parts.fq!.timer.del(timerCpu)); // as the executor does when it fires the timer
    runToEnd(f.parts.fq!.fqFlushTimeout(timerCpu));
    expect(f.flushes()).toBe(1);
    expect(f.parts.fq!.held(f.mem.i32)).toBe(0);
    expect(runToEnd(f.parts.fq!.timer.pending(f.cpu))).toBe(false);
    f.queue(f.alloc());
    expect(runToEnd(f.parts.fq!.timer.pending(f.cpu))).toBe(true);
    expect(f.checker.violations).toEqual([]);
  });

  it('the F1 oracle: freeing an entry no covering flush has finished for is F1 (le-compare frees at once)', () => {
    const f = fixture('le-compare');
    f.queue(f.alloc());
    f.queue(f.alloc()); // its ring free runs first and frees the first entry: counter 0 <= finish 0
    expect(f.checker.violations[0]?.invariant).toBe('F1');
    expect(f.checker.violations[0]?.message).toMatch(/no flush that started after its unmap has finished/);
  });

  it('a full ring in no-flush-when-full frees its oldest entry unflushed: F1', () => {
    const f = fixture('no-flush-when-full');
    for (let k = 0; k < 4; k++) f.queue(f.alloc());
    expect(f.flushes()).toBe(0);
    expect(f.checker.violations[0]?.invariant).toBe('F1');
  });

  it('teardown with del_timer_sync drains the queues after a flush, and the timer is no longer pending', () => {
    const f = fixture('percpu');
    f.queue(f.alloc());
    f.queue(f.alloc());
    runToEnd(f.parts.fq!.iommuDmaFreeFq(f.cpu));
    expect(f.parts.fq!.held(f.mem.i32)).toBe(0);
    expect(runToEnd(f.parts.fq!.timer.pending(f.cpu))).toBe(false);
    expect(f.checker.violations).toEqual([]);
  });
});

describe('flushq lock classes (src/model/fq/locks.ts)', () => {
  it("the order is fq->lock < cpu_rcache < rcache < rbtree < iotlb_flush, and the model's locks carry those ranks", () => {
    const ranks = FLUSHQ_LOCK_ORDER.map(([, rank]) => rank);
    for (let k = 1; k < ranks.length; k++) expect(ranks[k]!).toBeGreaterThan(ranks[k - 1]!);
    const f = fixture('percpu');
    expect(f.parts.iotlb.flushLock.rank).toBe(RANK_IOTLB_FLUSH);
    expect(f.parts.fq).toBeInstanceOf(FlushQueue);
  });
});

describe('flushq under the explore executor', () => {
  const bugs: [string, number][] = [
    ['finish-counter', 1000],
    ['le-compare', 50],
    ['no-flush-when-full', 50],
    ['timer-teardown', 1000],
  ];
  for (const [variant, bound] of bugs) {
    for (const seed of [1, 2, 3]) {
      it(`PCT finds ${variant} for seed ${seed} within ${bound} schedules`, () => {
        const r = search(variant, seed, bound);
        expect(r.violation, `${variant} seed ${seed}`).toBeDefined();
        expect(meetsExpectation(findVariant(scenario, variant)!, r.violation!.invariant)).toBe(true);
      });
    }
  }

  // The finding (README "Findings"): upstream queue_iova overwrites a full ring whose flush freed nothing.
  for (const variant of ['percpu', 'single']) {
    it(`${variant} (upstream, a finding) loses queued entries: FQ-ACCT within 200 schedules for seeds 1-3`, () => {
      expect(findVariant(scenario, variant)!.finding?.fixedBy).toBe(`${variant}-fixed`);
      for (const seed of [1, 2, 3]) {
        const r = search(variant, seed, 200);
        expect(r.violation?.invariant, `${variant} seed ${seed}`).toBe('FQ-ACCT');
        expect(r.violation!.message).toMatch(/no ring holds it: the ring dropped or overwrote it/);
      }
    });
  }

  for (const variant of ['percpu-fixed', 'single-fixed', 'strict']) {
    it(`${variant} stays clean over 2,000 schedules (seed 7)`, () => {
      const r = search(variant, 7, 2_000);
      expect(r.violation).toBeUndefined();
      expect(r.schedules).toBe(2_000);
      if (variant !== 'strict') expect(r.outcomes['LAZY-EXPOSURE <10ms'] ?? 0).toBeGreaterThan(0);
    });
  }
});
