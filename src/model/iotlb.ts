/**
 * An IOTLB for one domain, and the cost of invalidating it — kernel-model.md §3.4 (flush_iotlb_all,
 * iotlb_sync) and §3.5 (why flush cost decides between per-CPU and single flush queues).
 *
 * The device side fills it: a DMA looks the IOVA up, and on a miss the IOMMU walks the page table and
 * caches the translation. The CPU side empties it: flush_iotlb_all drops everything, the strict-mode
 * range sync drops a range. A cached translation outlives the PTE it came from until then, which is
 * exactly what lazy unmapping relies on and what a wrong flush-queue counter breaks.
 *
 * Simplifications: one entry per 4 KiB IOVA page over the modelled IOVA window (an infinitely large,
 * fully associative IOTLB: no capacity evictions, which only ever shorten the exposure); a walk plus
 * fill, and an invalidation, are each atomic with respect to the other (rawLock), as the hardware
 * guarantees that an invalidation covers walks in flight.
 *
 * A flush costs `flushCostNs`: busy work in stress mode, virtual time in explore mode. It is either
 * serialised by a global flush lock (as on s390, where a flush also updates the hypervisor's shadow
 * tables) or parallel (virtio-like).
 */
import { smp_mb } from '../engine/order.js';
import type { Cpu, LockRef, Op } from '../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../engine/layout.js';
import { lockRef, LOCK_WORDS, rawLock, rawUnlock, spinLock, spinUnlock } from '../engine/sync.js';
import { VirtualClock } from '../engine/clock.js';
import type { IoPgtable } from './pgtable.js';
import { SZ_4K } from './pgtable.js';

export function iotlbRegions(pages: number): Record<string, RegionSpec> {
  return {
    /** Per IOVA page: cached phys pfn + 1, or 0. */
    'iotlb.entry': { kind: 'i32', count: pages },
    /** [raw lock, entries filled since the last flush_iotlb_all] */
    'iotlb.raw': { kind: 'i32', count: 2 },
    'iotlb.flushLock': { kind: 'i32', count: LOCK_WORDS },
    /** Flushes done (statistics for the benchmark). */
    'iotlb.flushes': { kind: 'i32', count: 1 },
  };
}

/**
 * Who watches the IOTLB's invalidations (the F1 oracle, src/model/fq/oracle.ts): the hardware model
 * reports every flush itself, so no flush-queue code under test can skip or reorder the report.
 */
export interface IotlbObserver {
  /** A flush (flush_iotlb_all or a range sync) was issued; returns its start stamp. */
  flushStarted(cpu: Cpu): number;
  /** That flush completed: every translation it covers (all, or pfn..pfn+pages-1) is gone. */
  flushFinished(cpu: Cpu, started: number, range?: { readonly pfn: number; readonly pages: number }): void;
}

export interface IotlbOptions {
  readonly flushCostNs: number;
  /** Serialise flushes under one global lock (s390 shadow tables) instead of letting them overlap. */
  readonly serialFlush: boolean;
  /** lockdep rank of the flush lock (taken inside the flush-queue lock). */
  readonly flushLockRank: number;
  /** The checker watching flushes (harness-owned); none in scenarios that do not check F1. */
  readonly observer?: IotlbObserver;
}

const LOOKUP = 'iotlb lookup';
const FLUSH_ALL = 'flush_iotlb_all';
const SYNC = 'iotlb_sync range';

export class Iotlb {
  private readonly base: number;
  private readonly raw: number;
  private readonly flushes: number;
  readonly flushLock: LockRef;

  constructor(
    layout: Layout,
    private readonly pages: number,
    private readonly pt: IoPgtable,
    private readonly opts: IotlbOptions,
  ) {
    this.base = at(region(layout, 'iotlb.entry'));
    this.raw = at(region(layout, 'iotlb.raw'));
    this.flushes = at(region(layout, 'iotlb.flushes'));
    this.flushLock = lockRef('iotlb_flush', at(region(layout, 'iotlb.flushLock')), opts.flushLockRank);
  }

  /**
   * Device side: translate an IOVA page; phys address or -1 (an IOMMU fault).
   *
   * One scheduling point for the lookup, the walk (a load per level) and the fill (issue 13). Nothing a
   * CPU can observe lies in between: the only write is the fill, serialised with every invalidation by
   * the raw lock, as the hardware guarantees that an invalidation's sync covers walks in flight. And the
   * walk reads the table as of one instant, because of the entries on its path only the leaf can change
   * while it runs — a table pointer, once installed (a CAS into an empty entry: seen empty, the walk
   * faults), stays until its table is freed, and the kernel frees a table only after
   * io_pgtable_tlb_flush_walk, which waits for walks in flight (here: the walk is atomic). A walk that
   * reads a leaf just before or after a CPU's store is a walk wholly before or after that store's step.
   */
  *translate(cpu: Cpu, iovaPfn: number): Op<number> {
    yield LOOKUP;
    const i32 = cpu.i32;
    rawLock(i32, this.raw);
    let phys: number;
    const cached = Atomics.load(i32, this.base + iovaPfn);
    if (cached !== 0) phys = (cached - 1) * SZ_4K;
    else {
      phys = this.pt.walk(i32, iovaPfn * SZ_4K);
      if (phys >= 0) {
        Atomics.store(i32, this.base + iovaPfn, phys / SZ_4K + 1);
        Atomics.add(i32, this.raw + 1, 1);
      }
    }
    rawUnlock(i32, this.raw);
    return phys;
  }

  /**
   * flush_iotlb_all: drop every cached translation, then pay the flush's cost. The driver issues the
   * invalidation fully ordered after the CPU's earlier accesses (its command-queue insertion and doorbell
   * write; queue_iova's smp_mb() pairs with it): smp_mb() stands for that (meaningful under weak only).
   */
  *flushAll(cpu: Cpu): Op {
    smp_mb(cpu);
    const started = this.opts.observer?.flushStarted(cpu) ?? 0;
    if (this.opts.serialFlush) yield* spinLock(cpu, this.flushLock);
    yield FLUSH_ALL;
    const i32 = cpu.i32;
    rawLock(i32, this.raw);
    // Model cost only: clearing an empty array is skipped (the modelled cost is flushCostNs either way).
    if (Atomics.load(i32, this.raw + 1) !== 0) {
      i32.fill(0, this.base, this.base + this.pages);
      Atomics.store(i32, this.raw + 1, 0);
    }
    rawUnlock(i32, this.raw);
    Atomics.add(i32, this.flushes, 1);
    spend(cpu, this.opts.flushCostNs);
    // Completed (the invalidation's sync returned): before the caller's finish count can say so.
    this.opts.observer?.flushFinished(cpu, started);
    if (this.opts.serialFlush) yield* spinUnlock(cpu, this.flushLock);
  }

  /** iotlb_sync after a strict unmap: drop the range's translations, then pay the flush's cost. */
  *syncRange(cpu: Cpu, iovaPfn: number, pages: number): Op {
    smp_mb(cpu); // as flushAll: the invalidation is issued fully ordered
    const started = this.opts.observer?.flushStarted(cpu) ?? 0;
    if (this.opts.serialFlush) yield* spinLock(cpu, this.flushLock);
    yield SYNC;
    const i32 = cpu.i32;
    rawLock(i32, this.raw);
    i32.fill(0, this.base + iovaPfn, this.base + iovaPfn + pages);
    rawUnlock(i32, this.raw);
    Atomics.add(i32, this.flushes, 1);
    spend(cpu, this.opts.flushCostNs);
    this.opts.observer?.flushFinished(cpu, started, { pfn: iovaPfn, pages });
    if (this.opts.serialFlush) yield* spinUnlock(cpu, this.flushLock);
  }

  /** Checker: is any page of the range still cached? (not a scheduling point) */
  cachedPage(i32: Int32Array, iovaPfn: number, pages: number): number {
    for (let p = iovaPfn; p < iovaPfn + pages; p++) if (Atomics.load(i32, this.base + p) !== 0) return p;
    return -1;
  }

  flushCount(i32: Int32Array): number {
    return Atomics.load(i32, this.flushes);
  }
}

/** Time passes: busy work on a real thread, virtual time under the explore scheduler. */
export function spend(cpu: Cpu, ns: number): void {
  if (ns <= 0) return;
  if (cpu.clock instanceof VirtualClock) {
    cpu.clock.ns += ns;
    return;
  }
  const until = performance.now() + ns / 1e6;
  while (performance.now() < until) {
    /* the flush's cost: the CPU is busy */
  }
}
