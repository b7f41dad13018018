/**
 * The F1 oracle and the harness wrappers that drive it — kernel-model.md §3.4 (the correctness argument)
 * and §10 (F1: "an IOVA reaches the allocator only after a flush that started after its unmap finished").
 *
 * The oracle is kept apart from the code under test (flush-queue.ts, dma-iommu.ts and any patch on
 * them): nothing it needs is recorded by a method a variant may override. Its inputs come from places
 * the harness owns:
 *  - the IOTLB model's own flushes (Iotlb's observer): a flush's start stamp when flush_iotlb_all or
 *    iotlb_sync is called, its completion when the hardware's invalidation is done;
 *  - the page table's leaf clears (ObservedPgtable, around the domain's unmap_pages): each IOVA page's
 *    clear stamp and unmap time;
 *  - the allocator's hand-in (CheckedIovad.freeIovaFast, which the scenario wires as the flush queue's
 *    free_iova_fast too): an IOVA page whose clear no completed flush started after is F1;
 *  - the allocator's hand-out (CheckedIovad.allocIovaFast): a page the IOTLB still caches is F1.
 *
 * The event clock is one shared counter; "covered" is the latest start stamp among completed flushes
 * (an atomic max), so "some flush that started after the clear has finished" is `covered > clearAt`,
 * even when flushes finish out of order. A range sync covers only its pages (syncAt, per page).
 * On real threads the IOTLB reports completion before flush_iotlb_all returns, so before the flush
 * queue's finish counter moves: a ring free that acts on the new count on another thread at once
 * already sees the flush covered — no false positive on the faithful code (kernel-model.md §3.4).
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';
import type { IommuPageTable, IovaAllocator } from '../dma/dma-iommu.js';
import type { Iotlb, IotlbObserver } from '../iotlb.js';
import { SZ_4K } from '../pgtable.js';

export function flushOracleRegions(spacePfns: number): Record<string, RegionSpec> {
  return {
    // [event clock, latest start stamp among completed flushes]
    'fq.oracle': { kind: 'i32', count: 2 },
    /** Per IOVA page: the event stamp of its last PTE clear (0: none pending). */
    'fq.clearAt': { kind: 'i32', count: spacePfns },
    /** Per IOVA page: the latest start stamp among completed range syncs that covered it. */
    'fq.syncAt': { kind: 'i32', count: spacePfns },
    /** Per IOVA page: when its PTE was cleared (µs + 1; 0: none), for the lazy exposure window. */
    'fq.unmapUs': { kind: 'i32', count: spacePfns },
  };
}

export class FlushOracle implements IotlbObserver {
  private readonly events: number;
  private readonly covered: number;
  private readonly clearAt: number;
  private readonly syncAt: number;
  private readonly unmapUs: number;

  /** `enabled` false: no event clock (benchmarks, where it would be the one shared line); exposure still timed. */
  constructor(
    layout: Layout,
    private readonly enabled: boolean,
  ) {
    this.events = at(region(layout, 'fq.oracle'));
    this.covered = this.events + 1;
    this.clearAt = at(region(layout, 'fq.clearAt'));
    this.syncAt = at(region(layout, 'fq.syncAt'));
    this.unmapUs = at(region(layout, 'fq.unmapUs'));
  }

  flushStarted(cpu: Cpu): number {
    return this.enabled ? Atomics.add(cpu.i32, this.events, 1) + 1 : 0;
  }

  flushFinished(cpu: Cpu, started: number, range?: { readonly pfn: number; readonly pages: number }): void {
    if (!this.enabled) return;
    const i32 = cpu.i32;
    if (range) {
      // Only the syncing CPU owns these pages (they are unmapped, not yet freed): a plain max is enough.
      for (let p = range.pfn; p < range.pfn + range.pages; p++) {
        if (Atomics.load(i32, this.syncAt + p) < started) Atomics.store(i32, this.syncAt + p, started);
      }
      return;
    }
    for (let c = Atomics.load(i32, this.covered); c < started; c = Atomics.load(i32, this.covered)) {
      if (Atomics.compareExchange(i32, this.covered, c, started) === c) break;
    }
  }

  /** The PTEs of pfn..pfn+pages-1 were just cleared (called when unmap_pages returns). */
  pteCleared(cpu: Cpu, pfn: number, pages: number): void {
    const i32 = cpu.i32;
    const stamp = this.enabled ? Atomics.add(i32, this.events, 1) + 1 : 0;
    const us = nowUs(cpu) + 1;
    for (let p = pfn; p < pfn + pages; p++) {
      if (this.enabled) Atomics.store(i32, this.clearAt + p, stamp);
      Atomics.store(i32, this.unmapUs + p, us);
    }
  }

  /**
   * The range goes back to the allocator: F1 if some page's PTE clear has no completed flush that
   * started after it. Returns the exposure window (µs since the first page's unmap), or -1 when the
   * range was not unmapped (a map that failed).
   */
  handIn(cpu: Cpu, pfn: number, pages: number): number {
    const i32 = cpu.i32;
    if (this.enabled) {
      const covered = Atomics.load(i32, this.covered);
      for (let p = pfn; p < pfn + pages; p++) {
        const cleared = Atomics.load(i32, this.clearAt + p);
        if (cleared !== 0 && covered <= cleared && Atomics.load(i32, this.syncAt + p) <= cleared) {
          cpu.fail(
            'F1',
            `${cpu.name} frees IOVA 0x${pfn.toString(16)} (+${pages}) although no flush that started after its unmap has finished`,
          );
          break;
        }
      }
      for (let p = pfn; p < pfn + pages; p++) Atomics.store(i32, this.clearAt + p, 0);
    }
    const unmapped = Atomics.load(i32, this.unmapUs + pfn);
    Atomics.store(i32, this.unmapUs + pfn, 0);
    return unmapped === 0 ? -1 : nowUs(cpu) - (unmapped - 1);
  }
}

/** The hand-in/hand-out wrapper around the IOVA allocator (harness): DmaIommu and the flush queue use this. */
export class CheckedIovad implements IovaAllocator {
  constructor(
    private readonly iovad: IovaAllocator & { allocSize(pages: number): number },
    private readonly iotlb: Iotlb,
    private readonly oracle: FlushOracle,
    /** An unmapped range's exposure ended after `us` µs (lazy domains only: strict syncs first). */
    private readonly exposure: ((cpu: Cpu, us: number) => void) | null,
  ) {}

  *allocIovaFast(cpu: Cpu, pages: number, limitPfn: number, flushRcache: boolean): Op<number> {
    const pfn = yield* this.iovad.allocIovaFast(cpu, pages, limitPfn, flushRcache);
    if (pfn !== 0) {
      const stale = this.iotlb.cachedPage(cpu.i32, pfn, this.iovad.allocSize(pages));
      if (stale >= 0)
        cpu.fail(
          'F1',
          `${cpu.name} is handed IOVA page 0x${stale.toString(16)} while the IOTLB still caches its old translation: freed before a covering flush finished`,
        );
    }
    return pfn;
  }

  *freeIovaFast(cpu: Cpu, pfn: number, pages: number): Op {
    const us = this.oracle.handIn(cpu, pfn, pages);
    if (us >= 0 && this.exposure) this.exposure(cpu, us);
    yield* this.iovad.freeIovaFast(cpu, pfn, pages);
  }
}

/** The domain's page table as DmaIommu sees it, watched by the harness: PTE clears, and maps that fail. */
export class ObservedPgtable implements IommuPageTable {
  constructor(
    private readonly pt: IommuPageTable,
    private readonly oracle: FlushOracle,
  ) {}

  *mapPages(
    cpu: Cpu,
    iova: number,
    paddr: number,
    pgsize: number,
    pgcount: number,
  ): Op<{ ret: number; mapped: number }> {
    const r = yield* this.pt.mapPages(cpu, iova, paddr, pgsize, pgcount);
    if (r.ret !== 0) {
      cpu.fail(
        'DMA-MAP',
        `${cpu.name}: iommu_map of freshly allocated IOVA 0x${(iova / SZ_4K).toString(16)} (+${pgcount}) returns ${r.ret}`,
      );
    }
    return r;
  }

  *unmapPages(cpu: Cpu, iova: number, pgsize: number, pgcount: number): Op<number> {
    const n = yield* this.pt.unmapPages(cpu, iova, pgsize, pgcount);
    if (n > 0) this.oracle.pteCleared(cpu, iova / SZ_4K, Math.ceil(n / SZ_4K));
    return n;
  }
}

/** The task's clock in µs (virtual in explore mode), for the exposure statistic only (Clock.stamp). */
function nowUs(cpu: Cpu): number {
  return Math.floor(cpu.clock.stamp() / 1000) | 0;
}
