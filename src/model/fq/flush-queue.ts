/**
 * The DMA-IOMMU flush queue — kernel-model.md §3.1 (state), §3.4, §1 constants; drivers/iommu/dma-iommu.c:
 * queue_iova, fq_full, fq_ring_add, fq_ring_free_locked, fq_ring_free, fq_flush_iotlb, fq_flush_timeout,
 * iommu_dma_free_fq (with iommu_dma_free_fq_single / _percpu).
 *
 * Lazy unmapping: an unmapped IOVA is not freed at once but queued with the number of IOTLB flushes
 * that had *started* when it was queued (S); it may go back to the allocator once more than S flushes
 * have *finished*, because then at least one flush that started after its PTE was cleared has completed
 * (the pigeonhole argument of §3.4). Rings are per CPU (256 entries, 10 ms timer) or one global ring
 * (32768 entries, 1000 ms); a ring holds size-1 entries; a full ring is flushed synchronously while its
 * lock is held; one timer per domain flushes and drains every ring.
 *
 * This file is the faithful mechanism, with no bug flags: each kernel function a patch would change is
 * an overridable method named after it (variants.ts holds the known bugs as subclasses; examples/fq-*.ts
 * a user's patch). It holds no checker state either: F1 is judged by the harness (oracle.ts) from the
 * IOTLB's own flushes, the page table's PTE clears and the allocator's hand-in and hand-out.
 *
 * Simplifications: entries carry no freelist — the page-table model never frees table pages on a leaf
 * unmap (§6: empty tables are not reclaimed), so the kernel's freelist would always be empty here.
 *
 * Ordering (engine/order.ts; meaningful under --memory weak): queue_iova's smp_mb() orders the caller's
 * PTE clear before the read of fq_flush_start_cnt (it pairs with the flush on another CPU, whose
 * invalidation is fully ordered: iotlb.ts); the counters are atomic64_t, read with atomic64_read and
 * bumped with the unordered atomic64_inc, as the kernel has them. The ring's head, tail and entries are
 * plain C accesses under the ring lock; the model marks them READ_ONCE/WRITE_ONCE, which orders nothing
 * more than the plain accesses do (the lock's acquire and release order them).
 */
import type { Cpu, LockRef, Op, Site } from '../../engine/cpu.js';
import { at, atCpu, region, type Layout, type Region, type RegionSpec } from '../../engine/layout.js';
import { assertSpinLocked } from '../../engine/assert-locked.js';
import { lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../../engine/sync.js';
import { TimerRef } from '../../engine/timer.js';
import type { Memory } from '../../engine/layout.js';
import type { QuiescentReport } from '../../engine/scenario.js';
import type { Iotlb } from '../iotlb.js';
import {
  atomic64_inc,
  atomic64_read,
  READ_ONCE,
  READ_ONCE64,
  smp_mb,
  WRITE_ONCE,
  WRITE_ONCE64,
} from '../../engine/order.js';

/** §1: IOVA_FQ_SIZE / IOVA_FQ_TIMEOUT and IOVA_SINGLE_FQ_SIZE / IOVA_SINGLE_FQ_TIMEOUT. */
export const PERCPU_FQ_SIZE = 256;
export const PERCPU_FQ_TIMEOUT_MS = 10;
export const SINGLE_FQ_SIZE = 32768;
export const SINGLE_FQ_TIMEOUT_MS = 1000;

/** cookie->options: the queue type, its size and timeout; plus the model's wiring (lock rank, timer id). */
export interface FlushQueueOptions {
  /** IOMMU_DMA_OPTS_SINGLE_QUEUE (else IOMMU_DMA_OPTS_PER_CPU_QUEUE). */
  readonly single: boolean;
  /** Ring size (a power of two); the kernel's is 256 per CPU or 32768 single. */
  readonly size: number;
  readonly timeoutMs: number;
  /** lockdep rank of the ring locks (locks.ts). */
  readonly lockRank: number;
  /** Which timer of the layout's timer region (engine/timer.ts) is the fq timer (timers.ts). */
  readonly timerId: number;
}

/** Where freed IOVAs go: free_iova_fast into the range cache of `cpu.thisCpu` (wired by the harness). */
export type FreeIova = (cpu: Cpu, pfn: number, pages: number) => Op;

/** What the DMA layer needs of a flush queue (DmaIommu depends on this, not on FlushQueue). */
export interface IovaFlushQueue {
  /** queue_iova: defer freeing an unmapped IOVA until a flush that started after its unmap has finished. */
  queueIova(cpu: Cpu, iovaPfn: number, pages: number): Op;
}

/** A flush-queue class a patch may name (FlushQueue or a subclass; see FlushqPatch). */
export interface FlushQueueClass {
  new (layout: Layout, cpus: number, iotlb: Iotlb, freeIova: FreeIova, o: FlushQueueOptions): FlushQueue;
  /** The shared memory it needs; a subclass with state of its own adds regions here. */
  regions(cpus: number, o: Pick<FlushQueueOptions, 'single' | 'size'>): Record<string, RegionSpec>;
}

/** Ring header words: the lock (LOCK_WORDS), head, tail. */
const HDR_HEAD = LOCK_WORDS;
const HDR_TAIL = LOCK_WORDS + 1;
const HDR_WORDS = LOCK_WORDS + 2;

/** Site labels (scheduling points): kept stable, since explore tokens replay by them. */
export const FQ_SITES = {
  readStart: 'read fq_flush_start_cnt',
  readFinish: 'read fq_flush_finish_cnt',
  incStart: 'atomic64_inc fq_flush_start_cnt',
  // queue_iova's full-ring flush: the same access as incStart, labelled apart so coverage names the path.
  fullIncStart: 'fq full: atomic64_inc fq_flush_start_cnt',
  incFinish: 'atomic64_inc fq_flush_finish_cnt',
  full: 'fq full?',
  write: 'fq entry write',
  read: 'fq entry read',
  head: 'fq head advance',
  readTimerOn: 'read fq_timer_on',
  // The timer reads cookie->percpu_fq / single_fq (the rings' address) before it walks them. The label is
  // older than the harness's use-after-free watch (accounting.ts) that now judges it: tokens replay by it.
  gen: 'read fq (teardown check)',
  xchgTimerOn: 'xchg fq_timer_on',
  clearTimerOn: 'write fq_timer_on = 0',
  freeRings: 'free fq rings',
} as const;
const S = FQ_SITES;

export class FlushQueue implements IovaFlushQueue {
  /** The shared memory of the rings, the counters and fq_timer_on. */
  static regions(cpus: number, o: Pick<FlushQueueOptions, 'single' | 'size'>): Record<string, RegionSpec> {
    const slots = (o.single ? 1 : cpus) * o.size;
    return {
      // One header per ring; the single queue uses vCPU 0's. Per-CPU padded so rings never share a line.
      'fq.hdr': { kind: 'i32', count: HDR_WORDS, perCpu: true },
      'fq.pfn': { kind: 'i32', count: slots },
      'fq.pages': { kind: 'i32', count: slots },
      'fq.counter': { kind: 'i64', count: slots },
      // fq_flush_start_cnt, fq_flush_finish_cnt (atomic64 in the cookie).
      'fq.cnt': { kind: 'i64', count: 2 },
      'fq.timerOn': { kind: 'i32', count: 1 },
      // Bumped when the rings are freed at teardown (vfree / free_percpu): the rings' memory generation.
      'fq.gen': { kind: 'i32', count: 1 },
      // Statistics (benchmark): the most entries each ring has held.
      'fq.peak': { kind: 'i32', count: 1, perCpu: true },
      // The fq timer lives in the scenario's timer region (timers.ts), shared with other timers.
    };
  }

  readonly timer: TimerRef;
  protected readonly hdr: Region;
  protected readonly pfn: number;
  protected readonly pagesIdx: number;
  protected readonly counter: number;
  /** Indices of fq_flush_start_cnt and fq_flush_finish_cnt in the i64 view. */
  protected readonly start: number;
  protected readonly finish: number;
  protected readonly timerOn: number;
  protected readonly gen: number;
  protected readonly peak: Region;
  /** Rings: 1 (single) or one per CPU. */
  protected readonly rings: number;
  protected readonly mask: number;
  protected readonly locks: LockRef[];

  constructor(
    protected readonly layout: Layout,
    protected readonly cpus: number,
    protected readonly iotlb: Iotlb,
    protected readonly freeIova: FreeIova,
    protected readonly o: FlushQueueOptions,
  ) {
    if (o.size < 2 || (o.size & (o.size - 1)) !== 0)
      throw new RangeError(`flush queue size must be a power of two >= 2, got ${o.size}`);
    this.hdr = region(layout, 'fq.hdr');
    this.pfn = at(region(layout, 'fq.pfn'));
    this.pagesIdx = at(region(layout, 'fq.pages'));
    this.counter = at(region(layout, 'fq.counter'));
    const cnt = at(region(layout, 'fq.cnt'));
    this.start = cnt;
    this.finish = cnt + 1;
    this.timerOn = at(region(layout, 'fq.timerOn'));
    this.gen = at(region(layout, 'fq.gen'));
    this.peak = region(layout, 'fq.peak');
    this.rings = o.single ? 1 : cpus;
    this.mask = o.size - 1;
    this.locks = Array.from({ length: this.rings }, (_, r) =>
      lockRef(o.single ? 'fq' : `fq[cpu${r}]`, atCpu(this.hdr, r), o.lockRank),
    );
    this.timer = new TimerRef(layout, o.timerId, 'fq_timer');
  }

  protected headIdx(r: number): number {
    return atCpu(this.hdr, r, HDR_HEAD);
  }
  protected tailIdx(r: number): number {
    return atCpu(this.hdr, r, HDR_TAIL);
  }
  /** Index of entry `idx` of ring r in the entry arrays (pfn, pages, counter). */
  protected slot(r: number, idx: number): number {
    return r * this.o.size + idx;
  }

  /** cookie->single_fq, or raw_cpu_ptr(cookie->percpu_fq): the ring this CPU queues on. */
  protected fqOf(cpu: Cpu): number {
    return this.o.single ? 0 : cpu.thisCpu;
  }

  /**
   * queue_iova: defer freeing an unmapped IOVA until a flush that started after its unmap has finished.
   * The smp_mb() "orders against the IOMMU driver's pagetable update from unmapping @pte, to guarantee
   * that fq_flush_iotlb() observes that if called from a different CPU before we release the lock".
   */
  *queueIova(cpu: Cpu, iovaPfn: number, pages: number): Op {
    smp_mb(cpu);
    yield* this.queueIovaLocked(cpu, iovaPfn, pages);
  }

  /** queue_iova after its smp_mb(): the ring lock, the entry, the timer (split out so a patch can drop the mb). */
  protected *queueIovaLocked(cpu: Cpu, iovaPfn: number, pages: number): Op {
    const i32 = cpu.i32;
    const r = this.fqOf(cpu);
    const lock = this.locks[r]!;
    yield* spinLock(cpu, lock);
    // First drop what some flush on another CPU already covered: makes the full check less likely true.
    yield* this.fqRingFreeLocked(cpu, r);
    if (yield* this.fqFull(cpu, r)) yield* this.fqRingFull(cpu, r);
    const counter = yield* this.fqEntryCounter(cpu);
    yield S.write;
    const idx = this.fqRingAdd(cpu, r);
    this.fqEntrySet(cpu, r, idx, iovaPfn, pages, counter);
    this.notePeak(cpu, r);
    yield* spinUnlock(cpu, lock);
    // Read before the xchg so that a busy queue does not bounce the cache line (§3.4).
    yield S.readTimerOn;
    if (Atomics.load(i32, this.timerOn) === 0) {
      yield S.xchgTimerOn;
      if (Atomics.exchange(i32, this.timerOn, 1) === 0) yield* this.timer.mod(cpu, this.o.timeoutMs * 1e6);
    }
  }

  /** fq_full: one slot always stays empty, so a ring holds size-1 entries (ring lock held). */
  protected *fqFull(cpu: Cpu, r: number): Op<boolean> {
    yield S.full;
    return ((READ_ONCE(cpu, this.tailIdx(r)) + 1) & this.mask) === READ_ONCE(cpu, this.headIdx(r));
  }

  /** queue_iova's full-ring path: flush synchronously, under the ring lock, and free what it covered. */
  protected *fqRingFull(cpu: Cpu, r: number): Op {
    yield* this.fqFlushIotlb(cpu, S.fullIncStart);
    yield* this.fqRingFreeLocked(cpu, r);
  }

  /** The counter a new entry records: atomic64_read(&cookie->fq_flush_start_cnt). */
  protected *fqEntryCounter(cpu: Cpu): Op<bigint> {
    yield S.readStart;
    const count = atomic64_read(cpu, this.start);
    cpu.note('read', 'fq_flush_start_cnt', this.start, count);
    return count;
  }

  /**
   * fq_ring_add: take the tail slot (ring lock held); its index. With fqEntrySet it is one point, 'fq
   * entry write' (issue 13 item 3): the tail and the entry's three words are read and written only under
   * fq->lock — fq_ring_add's assert_spin_locked and fq_ring_free_locked's lockdep_assert_held in
   * drivers/iommu/dma-iommu.c; queue_iova, fq_ring_free (the timer) and this model's fqFull all take it —
   * so no other vCPU can see the tail moved before the entry is filled. The peak statistic is harness state.
   */
  protected fqRingAdd(cpu: Cpu, r: number): number {
    assertSpinLocked(cpu, this.locks[r]!, 'fq_ring_add');
    const idx = READ_ONCE(cpu, this.tailIdx(r));
    WRITE_ONCE(cpu, this.tailIdx(r), (idx + 1) & this.mask);
    return idx;
  }

  /** fq->entries[idx].{iova_pfn, pages, counter} = … (ring lock held). */
  protected fqEntrySet(cpu: Cpu, r: number, idx: number, iovaPfn: number, pages: number, counter: bigint): void {
    const k = this.slot(r, idx);
    WRITE_ONCE(cpu, this.pfn + k, iovaPfn);
    WRITE_ONCE(cpu, this.pagesIdx + k, pages);
    WRITE_ONCE64(cpu, this.counter + k, counter);
  }

  /** Statistics: the most entries ring r has held. */
  protected notePeak(cpu: Cpu, r: number): void {
    const held = (Atomics.load(cpu.i32, this.tailIdx(r)) - Atomics.load(cpu.i32, this.headIdx(r))) & this.mask;
    if (held > Atomics.load(cpu.i32, atCpu(this.peak, r))) Atomics.store(cpu.i32, atCpu(this.peak, r), held);
  }

  /** fq_ring_free_locked: free the entries some completed flush covers, oldest first (ring lock held). */
  *fqRingFreeLocked(cpu: Cpu, r: number): Op {
    assertSpinLocked(cpu, this.locks[r]!, 'fq_ring_free_locked'); // its lockdep_assert_held(&fq->lock)
    yield S.readFinish;
    const fin = atomic64_read(cpu, this.finish);
    cpu.note('read', 'fq_flush_finish_cnt', this.finish, fin);
    for (;;) {
      yield S.read;
      const head = READ_ONCE(cpu, this.headIdx(r));
      if (head === READ_ONCE(cpu, this.tailIdx(r))) return;
      if (READ_ONCE64(cpu, this.counter + this.slot(r, head)) >= fin) return;
      yield* this.fqEntryFree(cpu, r);
    }
  }

  /**
   * The body of fq_ring_for_each in fq_ring_free_locked: free_iova_fast of the head entry, head + 1
   * (ring lock held). The model advances the head before the free; both are under the ring lock.
   */
  protected *fqEntryFree(cpu: Cpu, r: number): Op {
    yield S.head;
    // One model word (fq->head) written in this point (issue 13 item 3): what freeIova records before its
    // first point is the harness's (oracle, accounting, IOVA shadow). Under the ring lock when called
    // from fq_ring_free_locked; the teardown drain (iommuDmaFreeFqRings) runs without it, as the kernel's.
    const head = READ_ONCE(cpu, this.headIdx(r));
    const k = this.slot(r, head);
    const pfn = READ_ONCE(cpu, this.pfn + k);
    const pages = READ_ONCE(cpu, this.pagesIdx + k);
    WRITE_ONCE(cpu, this.headIdx(r), (head + 1) & this.mask);
    yield* this.freeIova(cpu, pfn, pages);
  }

  /**
   * fq_ring_free: take the ring lock and free what is covered (from the timer). A walk of rings that
   * teardown freed meanwhile (FQ-TEARDOWN, §9 #6) is judged by the harness (accounting.ts,
   * watchFreedRings), from the rings' memory generation and the sites below, not here.
   */
  *fqRingFree(cpu: Cpu, r: number): Op {
    yield* spinLock(cpu, this.locks[r]!);
    yield S.gen;
    yield* this.fqRingFreeLocked(cpu, r);
    yield* spinUnlock(cpu, this.locks[r]!);
  }

  /** fq_flush_iotlb: count the flush as started, flush_iotlb_all, count it as finished. */
  *fqFlushIotlb(cpu: Cpu, startSite: Site = S.incStart): Op {
    yield startSite;
    atomic64_inc(cpu, this.start);
    if (cpu.tracing) cpu.note('write', 'fq_flush_start_cnt', this.start, Atomics.load(cpu.i64, this.start));
    yield* this.iotlb.flushAll(cpu);
    yield S.incFinish;
    atomic64_inc(cpu, this.finish);
    if (cpu.tracing) cpu.note('write', 'fq_flush_finish_cnt', this.finish, Atomics.load(cpu.i64, this.finish));
  }

  /** fq_flush_timeout: fq_timer_on = 0, flush once, then drain every ring (on the timer's CPU). */
  *fqFlushTimeout(cpu: Cpu): Op {
    yield S.gen;
    yield S.clearTimerOn;
    Atomics.store(cpu.i32, this.timerOn, 0);
    yield* this.fqFlushIotlb(cpu);
    for (let r = 0; r < this.rings; r++) yield* this.fqRingFree(cpu, r);
  }

  /**
   * iommu_dma_free_fq: timer_delete_sync (wait for a running fq_flush_timeout), then free the rings.
   * variants.ts has the FQ-TEARDOWN bug (§9 #6): a plain timer_delete, which does not wait.
   */
  *iommuDmaFreeFq(cpu: Cpu): Op {
    yield* this.timer.delSync(cpu);
    yield* this.iommuDmaFreeFqRings(cpu);
  }

  /**
   * iommu_dma_free_fq_single / iommu_dma_free_fq_percpu: free the rings — here: bump their memory
   * generation and start over with empty rings.
   * Simplification: the kernel tears the queues down with the domain, so its queued IOVAs need no flush
   * ("the IOVAs will be torn down separately"); this model keeps the domain (and the devices) alive
   * across a teardown, so it flushes first and hands the queued IOVAs back to the allocator.
   */
  protected *iommuDmaFreeFqRings(cpu: Cpu): Op {
    yield* this.fqFlushIotlb(cpu);
    for (let r = 0; r < this.rings; r++) {
      for (;;) {
        yield S.read;
        const head = Atomics.load(cpu.i32, this.headIdx(r));
        if (head === Atomics.load(cpu.i32, this.tailIdx(r))) break;
        yield* this.fqEntryFree(cpu, r);
      }
    }
    yield S.freeRings;
    Atomics.add(cpu.i32, this.gen, 1);
    Atomics.store(cpu.i32, this.timerOn, 0);
  }

  /** §10 FQ: ring occupancy <= size-1; fq_timer_on == 1 implies the timer is pending or running. */
  checkQuiescent(mem: Memory, report: QuiescentReport): void {
    const i32 = mem.i32;
    for (let r = 0; r < this.rings; r++) {
      const held = (Atomics.load(i32, this.tailIdx(r)) - Atomics.load(i32, this.headIdx(r))) & this.mask;
      if (held > this.o.size - 1)
        report('F-RING', `ring ${r} holds ${held} entries, more than size-1 = ${this.o.size - 1}`);
    }
    const pending =
      Atomics.load(mem.i64, this.timer.deadlineIndex) !== 0n || Atomics.load(i32, this.timer.runningIndex) !== 0;
    if (Atomics.load(i32, this.timerOn) === 1 && !pending)
      report(
        'F-TIMER',
        'fq_timer_on is set but the fq timer is neither pending nor running: queued IOVAs wait for a flush that never comes',
      );
  }

  /**
   * The rings' memory generation: bumped when teardown frees them (iommuDmaFreeFqRings). For the
   * harness's use-after-free check (accounting.ts), not for model code.
   */
  ringsGeneration(i32: Int32Array): number {
    return Atomics.load(i32, this.gen);
  }

  /** The sites at which a step touches ring memory (its entries, head, tail or lock): the harness's UAF check. */
  ringSites(): ReadonlySet<string> {
    return new Set<string>([
      S.gen,
      S.read,
      S.head,
      S.full,
      S.write,
      ...this.locks.flatMap((l) => [l.acquireSite, l.releaseSite]),
    ]);
  }

  /** Entries queued now (quiescent checks, statistics). */
  held(i32: Int32Array): number {
    let n = 0;
    for (let r = 0; r < this.rings; r++)
      n += (Atomics.load(i32, this.tailIdx(r)) - Atomics.load(i32, this.headIdx(r))) & this.mask;
    return n;
  }

  /** The most entries any one ring held, summed over rings (statistics). */
  peakHeld(i32: Int32Array): number {
    let n = 0;
    for (let r = 0; r < this.rings; r++) n += Atomics.load(i32, atCpu(this.peak, r));
    return n;
  }

  /** Every queued entry as [pfn, pages] (quiescent checks). */
  entries(i32: Int32Array): [number, number][] {
    const out: [number, number][] = [];
    for (let r = 0; r < this.rings; r++) {
      for (
        let h = Atomics.load(i32, this.headIdx(r));
        h !== Atomics.load(i32, this.tailIdx(r));
        h = (h + 1) & this.mask
      ) {
        out.push([Atomics.load(i32, this.pfn + this.slot(r, h)), Atomics.load(i32, this.pagesIdx + this.slot(r, h))]);
      }
    }
    return out;
  }

  flushesStarted(i64: BigInt64Array): number {
    return Number(Atomics.load(i64, this.start));
  }
  ringCount(): number {
    return this.rings;
  }
  ringLimit(): number {
    return this.o.size - 1;
  }
  cpuCount(): number {
    return this.cpus;
  }
}

/** The rings, counters and timer word of a flush queue (FlushQueue.regions; kept for existing callers). */
export function flushQueueRegions(
  cpus: number,
  o: Pick<FlushQueueOptions, 'single' | 'size'>,
): Record<string, RegionSpec> {
  return FlushQueue.regions(cpus, o);
}
