/**
 * A DMA domain's cookie over its life — kernel-model.md §3.1-§3.4, §9 #7; drivers/iommu/dma-iommu.c
 * (6.17 tree): iommu_dma_init_domain, iova_reserve_iommu_regions, iommu_dma_init_fq (with
 * iommu_dma_init_fq_percpu, iommu_dma_init_one_fq), __iommu_dma_unmap, iommu_dma_free_iova, queue_iova,
 * fq_ring_free_locked, fq_flush_iotlb, fq_flush_timeout, iommu_dma_free_fq, iommu_put_dma_cookie; and
 * the iommu core around them (drivers/iommu/iommu.c): a device probe that sets up the DMA ops under
 * group->mutex (v6.10+, iommu_setup_dma_ops from __iommu_probe_device), the sysfs switch of a live
 * domain from DMA to DMA-FQ (iommu_group_store_type, v5.15+), and a release that frees the domain when
 * the last device of the group is unbound.
 *
 * The faithful mechanism, no bug flags (the bugs are subclasses in cookie-variants.ts). The
 * publication of the flush queue uses the kernel's ordering, through the primitives of
 * engine/order.ts: every flush-queue word is written with WRITE_ONCE and read with READ_ONCE (the
 * kernel's ring stores are plain C; marked here so that `--memory weak` may reorder them, which plain
 * and marked stores do alike without a barrier), iommu_dma_init_fq has smp_wmb() before
 * WRITE_ONCE(cookie->fq_domain), __iommu_dma_unmap reads it with READ_ONCE and queue_iova starts with
 * smp_mb(), which pairs with that smp_wmb().
 *
 * Simplifications, marked at their spot: no page table and no IOTLB in this model (the unmap path's
 * iommu_unmap_fast and the flush's flush_iotlb_all are scheduling points with nothing behind them; F1
 * is the flushq scenario's); per-CPU queues only (no single queue); the domain is strict (DMA) when it
 * is made and becomes lazy only through the sysfs switch; no MSI cookie pages; a fresh cookie is the
 * zeroed storage (dma/cookie-state.ts) rather than a kfree and a kzalloc.
 */
import type { Cpu, Op, Site } from '../../engine/cpu.js';
import { assertSpinLocked } from '../../engine/assert-locked.js';
import { spinLock, spinUnlock } from '../../engine/sync.js';
import type { TimerRef } from '../../engine/timer.js';
import type { CheckedIovaDomain } from '../iova/checked-domain.js';
import type { IovaLifecycle } from '../iova/lifecycle.js';
import type { CookieState } from './cookie-state.js';
import {
  atomic64_inc,
  atomic64_read,
  atomic64_set,
  atomic_read,
  atomic_set,
  atomic_xchg,
  READ_ONCE,
  smp_mb,
  smp_wmb,
  WRITE_ONCE,
} from '../../engine/order.js';

export interface CookieOptions {
  /** base_pfn = max(1, aperture_start >> order). */
  readonly startPfn: number;
  /** 1 << order (the model counts in granules). */
  readonly granule: number;
  /** A reserved region the device reports (iommu_get_resv_regions), [lo, hi] pfns, or none. */
  readonly resv: readonly [number, number] | null;
  /** cookie->options.fq_size (a power of two; IOVA_DEFAULT_FQ_SIZE = 256). */
  readonly fqSize: number;
  /** cookie->options.fq_timeout in ns (IOVA_DEFAULT_FQ_TIMEOUT = 10 ms). */
  readonly fqTimeoutNs: number;
}

export const COOKIE_SITES = {
  readStartPfn: 'read iovad->start_pfn',
  users: 'group users',
  readFqDomain: 'READ_ONCE(cookie->fq_domain)',
  unmapFast: 'iommu_unmap_fast',
  iotlbSync: 'iommu_iotlb_sync',
  percpuFq: 'raw_cpu_ptr(cookie->percpu_fq)',
  finish: 'atomic64_read fq_flush_finish_cnt',
  entry: 'fq entry read',
  headAdvance: 'fq head advance',
  full: 'fq_full',
  add: 'fq_ring_add',
  timerOn: 'read fq_timer_on',
  incStart: 'atomic64_inc fq_flush_start_cnt',
  fullIncStart: 'fq full: atomic64_inc fq_flush_start_cnt',
  flushAll: 'flush_iotlb_all',
  incFinish: 'atomic64_inc fq_flush_finish_cnt',
  timerOff: 'fq_timer_on = 0',
  initCounters: 'atomic64_set fq flush counters',
  initOne: 'iommu_dma_init_one_fq',
  publishQueue: 'cookie->percpu_fq = queue',
  timerSetup: 'timer_setup fq_timer; fq_timer_on = 0',
  publishDomain: 'WRITE_ONCE(cookie->fq_domain)',
  freeQueue: 'free_percpu(cookie->percpu_fq)',
  readGranule: 'read iovad->granule',
  freeCookie: 'kfree(cookie)',
  setType: 'domain->type = IOMMU_DOMAIN_DMA_FQ',
} as const;

/** domain->type values the model uses. */
export const DOMAIN_DMA = 0;
export const DOMAIN_DMA_FQ = 1;

/** A class a lifecycle patch may name (IommuDmaCookie or a subclass). */
export type IommuDmaCookieClass = new (
  state: CookieState,
  iova: IovaLifecycle,
  iovad: CheckedIovaDomain,
  fqTimer: TimerRef,
  o: CookieOptions,
) => IommuDmaCookie;

export class IommuDmaCookie {
  constructor(
    readonly state: CookieState,
    readonly iova: IovaLifecycle,
    readonly iovad: CheckedIovaDomain,
    readonly fqTimer: TimerRef,
    readonly o: CookieOptions,
  ) {}

  // -------------------------------------------------------------------------------------------------
  // iommu core: probe, release, the sysfs switch

  /**
   * __iommu_probe_device's part for a device joining the group's default DMA domain: under
   * group->mutex, count the device and set up its DMA ops (iommu_setup_dma_ops -> iommu_dma_init_domain).
   * Returns iommu_dma_init_domain's result.
   */
  *iommuProbeDevice(cpu: Cpu): Op<number> {
    const s = this.state;
    yield* spinLock(cpu, s.groupMutex);
    yield COOKIE_SITES.users;
    Atomics.add(cpu.i32, s.users, 1);
    const ret = yield* this.iommuDmaInitDomain(cpu);
    yield* spinUnlock(cpu, s.groupMutex);
    return ret;
  }

  /**
   * A device leaves the group's domain (driver unbound); the last one out frees the domain, as a default
   * domain change does once no driver is bound (iommu_group_store_type -> iommu_domain_free ->
   * iommu_put_dma_cookie). Simplification: the model frees it at the last unbind.
   */
  *iommuReleaseDevice(cpu: Cpu): Op {
    const s = this.state;
    yield* spinLock(cpu, s.groupMutex);
    yield COOKIE_SITES.users;
    if (Atomics.sub(cpu.i32, s.users, 1) === 1) yield* this.iommuPutDmaCookie(cpu);
    yield* spinUnlock(cpu, s.groupMutex);
  }

  /**
   * iommu_group_store_type(group, "DMA-FQ") on a group whose domain is DMA: a flush queue brought up
   * without tearing the domain down (v5.15, "iommu: Allow enabling non-strict mode dynamically"), under
   * group->mutex, while the group's devices keep unmapping. Simplification: only a domain some device has
   * initialised is switched.
   */
  *iommuGroupStoreTypeDmaFq(cpu: Cpu): Op<number> {
    const s = this.state;
    yield* spinLock(cpu, s.groupMutex);
    yield COOKIE_SITES.readStartPfn;
    let ret = 0;
    if (Atomics.load(cpu.i32, s.startPfn) !== 0 && READ_ONCE(cpu, s.domainType) === DOMAIN_DMA) {
      ret = yield* this.iommuDmaInitFq(cpu);
      if (ret === 0) {
        yield COOKIE_SITES.setType;
        WRITE_ONCE(cpu, s.domainType, DOMAIN_DMA_FQ); // a plain C store in the kernel
      }
    }
    yield* spinUnlock(cpu, s.groupMutex);
    return ret;
  }

  // -------------------------------------------------------------------------------------------------
  // dma-iommu: domain init

  /** iommu_dma_init_domain: 0, or the error of the range-cache init. */
  *iommuDmaInitDomain(cpu: Cpu): Op<number> {
    const s = this.state;
    yield COOKIE_SITES.readStartPfn;
    // start_pfn is always nonzero for an already-initialised domain
    if (Atomics.load(cpu.i32, s.startPfn) !== 0) {
      // (granule and base_pfn are the same for every device of the model: never -EFAULT)
      return 0;
    }
    yield* this.iova.initIovaDomain(cpu, this.o.granule, this.o.startPfn);
    const ret = yield* this.iova.iovaDomainInitRcaches(cpu);
    if (ret !== 0) return ret;
    // iommu_dma_init_options: per-CPU queues. The domain is DMA here: no iommu_dma_init_fq at init.
    return yield* this.iovaReserveIommuRegions(cpu);
  }

  /** iova_reserve_iommu_regions: reserve_iova of the device's reserved region. */
  *iovaReserveIommuRegions(cpu: Cpu): Op<number> {
    const r = this.o.resv;
    if (r !== null) yield* this.iovad.tree.reserveIova(cpu, r[0], r[1]);
    return 0;
  }

  // -------------------------------------------------------------------------------------------------
  // dma-iommu: the flush queue's birth

  /** iommu_dma_init_fq: the queues, the counters and the timer, then fq_domain (smp_wmb before). */
  *iommuDmaInitFq(cpu: Cpu): Op<number> {
    const s = this.state;
    yield COOKIE_SITES.readFqDomain;
    if (READ_ONCE(cpu, s.fqDomain) !== 0) return 0;
    yield COOKIE_SITES.initCounters;
    atomic64_set(cpu, s.flushStart, 0n);
    atomic64_set(cpu, s.flushFinish, 0n);
    yield* this.iommuDmaInitFqPercpu(cpu);
    yield COOKIE_SITES.timerSetup;
    atomic_set(cpu, s.fqTimerOn, 0);
    // Prevent incomplete fq state being observable. Pairs with the smp_mb() in queue_iova.
    yield COOKIE_SITES.publishDomain;
    smp_wmb(cpu);
    WRITE_ONCE(cpu, s.fqDomain, 1);
    cpu.note('write', 'cookie->fq_domain', s.fqDomain, 1);
    return 0;
  }

  /** iommu_dma_init_fq_percpu: every possible CPU's ring (iommu_dma_init_one_fq), then cookie->percpu_fq. */
  *iommuDmaInitFqPercpu(cpu: Cpu): Op {
    const s = this.state;
    // __alloc_percpu(struct_size(queue, entries, fq_size)): zeroed memory for every possible CPU. Private
    // until published, so no scheduling point of its own (it runs in the caller's step).
    for (let c = 0; c < s.possibleCpus; c++) {
      for (let i = 0; i < this.o.fqSize; i++) {
        Atomics.store(cpu.i32, s.entryPfn(c, i), 0);
        Atomics.store(cpu.i32, s.entryPages(c, i), 0);
        Atomics.store(cpu.i64, s.entryCounter(c, i), 0n);
      }
    }
    for (let c = 0; c < s.possibleCpus; c++) {
      yield COOKIE_SITES.initOne;
      WRITE_ONCE(cpu, s.head(c), 0);
      WRITE_ONCE(cpu, s.tail(c), 0);
      WRITE_ONCE(cpu, s.modMask(c), this.o.fqSize - 1);
      // Each entry's freelist = IOMMU_PAGES_LIST_INIT: fq_size stores per CPU, as the kernel makes (the
      // queue is private until published; the entries are read only after queue_iova wrote them).
      for (let i = 0; i < this.o.fqSize; i++) {
        Atomics.store(cpu.i32, s.entryPfn(c, i), 0);
        Atomics.store(cpu.i32, s.entryPages(c, i), 0);
      }
    }
    yield COOKIE_SITES.publishQueue;
    WRITE_ONCE(cpu, s.percpuFq, 1);
    cpu.note('write', 'cookie->percpu_fq', s.percpuFq, 1);
  }

  // -------------------------------------------------------------------------------------------------
  // dma-iommu: unmap

  /** __iommu_dma_unmap of a range this device mapped: strict (sync, free) or queued, as fq_domain says. */
  *iommuDmaUnmap(cpu: Cpu, pfn: number, pages: number): Op {
    const s = this.state;
    yield COOKIE_SITES.readFqDomain;
    const queued = READ_ONCE(cpu, s.fqDomain) !== 0;
    cpu.note('read', 'cookie->fq_domain', s.fqDomain, queued ? 1 : 0);
    yield COOKIE_SITES.unmapFast; // Simplification: no page table here.
    if (!queued) yield COOKIE_SITES.iotlbSync;
    yield* this.iommuDmaFreeIova(cpu, pfn, pages, queued);
  }

  /** iommu_dma_free_iova. */
  *iommuDmaFreeIova(cpu: Cpu, pfn: number, pages: number, queued: boolean): Op {
    if (queued) yield* this.queueIova(cpu, pfn, pages);
    else yield* this.iovad.freeIovaFast(cpu, pfn, pages);
  }

  /** queue_iova on this CPU's ring. */
  *queueIova(cpu: Cpu, pfn: number, pages: number): Op {
    const s = this.state;
    // Order against the page-table update, and pair with iommu_dma_init_fq()'s smp_wmb().
    smp_mb(cpu);
    yield COOKIE_SITES.percpuFq;
    if (!s.derefPercpuFq(cpu, READ_ONCE(cpu, s.percpuFq), 'queue_iova')) return;
    const c = cpu.thisCpu;
    const lock = s.fqLocks[c]!;
    yield* spinLock(cpu, lock);
    yield* this.fqRingFreeLocked(cpu, c);
    yield COOKIE_SITES.full;
    if (this.fqFull(cpu, c)) {
      yield* this.fqFlushIotlb(cpu, COOKIE_SITES.fullIncStart);
      yield* this.fqRingFreeLocked(cpu, c);
    }
    yield COOKIE_SITES.add;
    // fq_ring_add and the entry's three words in one point (issue 13 item 3): fq->tail and the entries
    // are touched only under fq->lock (fq_ring_add's assert_spin_locked, fq_ring_free_locked's
    // lockdep_assert_held, drivers/iommu/dma-iommu.c), so no other vCPU sees the tail moved before the
    // entry is filled.
    assertSpinLocked(cpu, lock, 'fq_ring_add');
    const mask = READ_ONCE(cpu, s.modMask(c));
    const idx = READ_ONCE(cpu, s.tail(c));
    WRITE_ONCE(cpu, s.tail(c), (idx + 1) & mask);
    WRITE_ONCE(cpu, s.entryPfn(c, idx), pfn);
    WRITE_ONCE(cpu, s.entryPages(c, idx), pages);
    Atomics.store(cpu.i64, s.entryCounter(c, idx), atomic64_read(cpu, s.flushStart));
    yield* spinUnlock(cpu, lock);
    // Avoid false sharing as much as possible.
    yield COOKIE_SITES.timerOn;
    if (atomic_read(cpu, s.fqTimerOn) === 0 && atomic_xchg(cpu, s.fqTimerOn, 1) === 0) {
      yield* this.fqTimer.mod(cpu, this.o.fqTimeoutNs);
    }
  }

  /** fq_full (the caller holds the ring's lock). */
  protected fqFull(cpu: Cpu, c: number): boolean {
    const s = this.state;
    return ((READ_ONCE(cpu, s.tail(c)) + 1) & READ_ONCE(cpu, s.modMask(c))) === READ_ONCE(cpu, s.head(c));
  }

  /** fq_ring_free_locked: free every entry a finished flush covers (the caller holds the ring's lock). */
  *fqRingFreeLocked(cpu: Cpu, c: number): Op {
    const s = this.state;
    yield COOKIE_SITES.finish;
    const counter = atomic64_read(cpu, s.flushFinish);
    for (;;) {
      yield COOKIE_SITES.entry;
      const idx = READ_ONCE(cpu, s.head(c));
      if (idx === READ_ONCE(cpu, s.tail(c))) return;
      if (Atomics.load(cpu.i64, s.entryCounter(c, idx)) >= counter) return;
      const pfn = READ_ONCE(cpu, s.entryPfn(c, idx));
      const pages = READ_ONCE(cpu, s.entryPages(c, idx));
      yield* this.iovad.freeIovaFast(cpu, pfn, pages);
      yield COOKIE_SITES.headAdvance;
      assertSpinLocked(cpu, s.fqLocks[c]!, 'advances fq->head');
      WRITE_ONCE(cpu, s.head(c), (idx + 1) & READ_ONCE(cpu, s.modMask(c)));
    }
  }

  /** fq_flush_iotlb. Simplification: flush_iotlb_all has no IOTLB behind it here. */
  *fqFlushIotlb(cpu: Cpu, startSite: Site = COOKIE_SITES.incStart): Op {
    const s = this.state;
    yield startSite;
    atomic64_inc(cpu, s.flushStart);
    yield COOKIE_SITES.flushAll;
    yield COOKIE_SITES.incFinish;
    atomic64_inc(cpu, s.flushFinish);
  }

  /** fq_flush_timeout (the timer): flush, then free what it covers on every possible CPU's ring. */
  *fqFlushTimeout(cpu: Cpu): Op {
    const s = this.state;
    yield COOKIE_SITES.timerOff;
    atomic_set(cpu, s.fqTimerOn, 0);
    yield* this.fqFlushIotlb(cpu);
    yield COOKIE_SITES.percpuFq;
    if (!s.derefPercpuFq(cpu, READ_ONCE(cpu, s.percpuFq), 'fq_flush_timeout')) return;
    for (let c = 0; c < s.possibleCpus; c++) {
      yield* spinLock(cpu, s.fqLocks[c]!);
      yield* this.fqRingFreeLocked(cpu, c);
      yield* spinUnlock(cpu, s.fqLocks[c]!);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // dma-iommu: teardown

  /** iommu_dma_free_fq: stop the timer (waiting for a running one), then free the queues. */
  *iommuDmaFreeFq(cpu: Cpu): Op {
    const s = this.state;
    yield COOKIE_SITES.readFqDomain;
    if (READ_ONCE(cpu, s.fqDomain) === 0) return;
    yield* this.fqTimer.delSync(cpu);
    // The IOVAs will be torn down separately (put_iova_domain); there are no freelists in this model.
    yield COOKIE_SITES.freeQueue;
    WRITE_ONCE(cpu, s.percpuFq, 0);
  }

  /** iommu_put_dma_cookie: the queues and the iova_domain if it was initialised, then the cookie. */
  *iommuPutDmaCookie(cpu: Cpu): Op {
    yield COOKIE_SITES.readGranule;
    if (Atomics.load(cpu.i32, this.state.granule) !== 0) {
      yield* this.iommuDmaFreeFq(cpu);
      yield* this.iova.putIovaDomain(cpu);
    }
    yield COOKIE_SITES.freeCookie;
    this.state.freeCookie(cpu);
  }
}
