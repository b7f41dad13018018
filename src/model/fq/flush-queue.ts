/**
 * The DMA-IOMMU flush queue — kernel-model.md §3.1 (state), §3.4 (queue_iova, fq_ring_free,
 * fq_flush_iotlb, fq_flush_timeout), §1 constants, §9 #6 and #8 (its bugs).
 *
 * Lazy unmapping: an unmapped IOVA is not freed at once but queued with the number of IOTLB flushes
 * that had *started* when it was queued (S); it may go back to the allocator once more than S flushes
 * have *finished*, because then at least one flush that started after its PTE was cleared has completed
 * (the pigeonhole argument of §3.4). Rings are per CPU (256 entries, 10 ms timer) or one global ring
 * (32768 entries, 1000 ms); a ring holds size-1 entries; a full ring is flushed synchronously while its
 * lock is held; one timer per domain flushes and drains every ring.
 *
 * Simplifications: entries carry no freelist — the page-table model never frees table pages on a leaf
 * unmap (§6: empty tables are not reclaimed), so the kernel's freelist would always be empty here.
 * smp_mb() before reading the start counter is implicit: every access is sequentially consistent.
 * Each entry also records when it was queued (µs, checker state) so the lazy exposure window can be
 * measured when it is freed.
 *
 * F1 is checked directly, by an oracle independent of the counters under test: a checker-side event
 * clock stamps every PTE clear (dma unmap) and every flush start; when a flush finishes, the latest
 * start stamp among finished flushes is raised to its own. An entry may be freed only if that stamp is
 * later than its clear stamp — "a flush that started after its unmap has finished", word for word.
 */
import type { Cpu, LockRef, Op } from '../../engine/cpu.js';
import { at, atCpu, region, type Layout, type Region, type RegionSpec } from '../../engine/layout.js';
import { lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../../engine/sync.js';
import { TimerRef } from '../../engine/timer.js';
import type { Memory } from '../../engine/layout.js';
import type { QuiescentReport } from '../../engine/scenario.js';
import type { Iotlb } from '../iotlb.js';

/** §1: IOVA_FQ_SIZE / IOVA_FQ_TIMEOUT and IOVA_SINGLE_FQ_SIZE / IOVA_SINGLE_FQ_TIMEOUT. */
export const PERCPU_FQ_SIZE = 256;
export const PERCPU_FQ_TIMEOUT_MS = 10;
export const SINGLE_FQ_SIZE = 32768;
export const SINGLE_FQ_TIMEOUT_MS = 1000;

export interface FlushQueueOptions {
  readonly single: boolean;
  /** Ring size (a power of two); the kernel's is 256 per CPU or 32768 single. */
  readonly size: number;
  readonly timeoutMs: number;
  /** BUG finish-counter: entries record the finish counter instead of the start counter (§9 #8). */
  readonly recordFinish: boolean;
  /** BUG le-compare: entries are freed when counter <= finish instead of < (§9 #8). */
  readonly freeOnEqual: boolean;
  /** BUG no-flush-when-full: a full ring frees its oldest entry without flushing. */
  readonly noFlushWhenFull: boolean;
  /** lockdep rank of the ring locks. */
  readonly lockRank: number;
  /** Which timer of the layout's timer region (engine/timer.ts) is the fq timer. */
  readonly timerId: number;
  /** Run the F1 oracle (a shared event clock: off for benchmarks, where it would be the one shared line). */
  readonly oracle: boolean;
}

/** Where freed IOVAs go (free_iova_fast into the per-CPU range cache). */
export type FreeIova = (cpu: Cpu, pfn: number, pages: number) => Op;

/** Ring header words: the lock (LOCK_WORDS), head, tail. */
const HDR_HEAD = LOCK_WORDS;
const HDR_TAIL = LOCK_WORDS + 1;
const HDR_WORDS = LOCK_WORDS + 2;

export function flushQueueRegions(cpus: number, o: Pick<FlushQueueOptions, 'single' | 'size'>): Record<string, RegionSpec> {
  const slots = (o.single ? 1 : cpus) * o.size;
  return {
    // One header per ring; the single queue uses vCPU 0's. Per-CPU padded so rings never share a line.
    'fq.hdr': { kind: 'i32', count: HDR_WORDS, perCpu: true },
    'fq.pfn': { kind: 'i32', count: slots },
    'fq.pages': { kind: 'i32', count: slots },
    'fq.counter': { kind: 'i64', count: slots },
    'fq.stamp': { kind: 'i32', count: slots },
    // F1 oracle (checker state): the event stamp of each entry's PTE clear; [event clock, latest start
    // stamp among finished flushes].
    'fq.clearAt': { kind: 'i32', count: slots },
    'fq.oracle': { kind: 'i32', count: 2 },
    // fq_flush_start_cnt, fq_flush_finish_cnt (atomic64 in the cookie).
    'fq.cnt': { kind: 'i64', count: 2 },
    'fq.timerOn': { kind: 'i32', count: 1 },
    // Bumped when the rings are freed at teardown: a timer that sees it move ran on freed memory.
    'fq.gen': { kind: 'i32', count: 1 },
    // Statistics (benchmark): the most entries each ring has held.
    'fq.peak': { kind: 'i32', count: 1, perCpu: true },
    // The fq timer lives in the scenario's timer region (timerRegions), shared with other timers.
  };
}

const S = {
  readStart: 'read fq_flush_start_cnt', readFinish: 'read fq_flush_finish_cnt',
  incStart: 'atomic64_inc fq_flush_start_cnt', incFinish: 'atomic64_inc fq_flush_finish_cnt',
  full: 'fq full?', write: 'fq entry write', read: 'fq entry read', head: 'fq head advance',
  readTimerOn: 'read fq_timer_on', xchgTimerOn: 'xchg fq_timer_on', clearTimerOn: 'write fq_timer_on = 0',
  gen: 'read fq (teardown check)',
} as const;

export class FlushQueue {
  readonly timer: TimerRef;
  private readonly hdr: Region;
  private readonly pfn: number;
  private readonly pagesIdx: number;
  private readonly counter: number;
  private readonly stamp: number;
  private readonly clearAt: number;
  private readonly events: number;
  private readonly covered: number;
  private readonly start: number;
  private readonly finish: number;
  private readonly timerOn: number;
  private readonly gen: number;
  private readonly peak: Region;
  private readonly rings: number;
  private readonly mask: number;
  private readonly locks: LockRef[];

  constructor(layout: Layout, private readonly cpus: number, private readonly iotlb: Iotlb, private readonly freeIova: FreeIova,
    private readonly o: FlushQueueOptions) {
    if (o.size < 2 || (o.size & (o.size - 1)) !== 0) throw new RangeError(`flush queue size must be a power of two >= 2, got ${o.size}`);
    this.hdr = region(layout, 'fq.hdr');
    this.pfn = at(region(layout, 'fq.pfn'));
    this.pagesIdx = at(region(layout, 'fq.pages'));
    this.counter = at(region(layout, 'fq.counter'));
    this.stamp = at(region(layout, 'fq.stamp'));
    this.clearAt = at(region(layout, 'fq.clearAt'));
    this.events = at(region(layout, 'fq.oracle'));
    this.covered = this.events + 1;
    const cnt = at(region(layout, 'fq.cnt'));
    this.start = cnt;
    this.finish = cnt + 1;
    this.timerOn = at(region(layout, 'fq.timerOn'));
    this.gen = at(region(layout, 'fq.gen'));
    this.peak = region(layout, 'fq.peak');
    this.rings = o.single ? 1 : cpus;
    this.mask = o.size - 1;
    this.locks = Array.from({ length: this.rings }, (_, r) => lockRef(o.single ? 'fq' : `fq[cpu${r}]`, atCpu(this.hdr, r), o.lockRank));
    this.timer = new TimerRef(layout, o.timerId, 'fq_timer');
  }

  private headIdx(r: number): number { return atCpu(this.hdr, r, HDR_HEAD); }
  private tailIdx(r: number): number { return atCpu(this.hdr, r, HDR_TAIL); }
  private slot(r: number, k: number): number { return r * this.o.size + k; }

  /** F1 oracle: stamp a PTE clear (call right after the unmap cleared the PTEs); pass the stamp to queueIova. */
  clearStamp(cpu: Cpu): number {
    return this.o.oracle ? Atomics.add(cpu.i32, this.events, 1) + 1 : 0;
  }

  /** queue_iova: defer freeing an unmapped IOVA until a flush that started after its unmap has finished. */
  *queueIova(cpu: Cpu, iovaPfn: number, pages: number, exposure: (cpu: Cpu, us: number) => void, clearedAt: number): Op {
    const i32 = cpu.i32;
    const r = this.o.single ? 0 : cpu.thisCpu;
    const lock = this.locks[r]!;
    yield* spinLock(cpu, lock);
    yield* this.ringFree(cpu, r, exposure);
    yield S.full;
    const tail = Atomics.load(i32, this.tailIdx(r));
    if (((tail + 1) & this.mask) === Atomics.load(i32, this.headIdx(r))) {
      if (this.o.noFlushWhenFull) {
        // BUG (variant no-flush-when-full): make room by freeing the oldest entry, flushed or not.
        yield* this.freeHead(cpu, r, exposure);
      } else {
        yield* this.flushIotlb(cpu);
        yield* this.ringFree(cpu, r, exposure);
      }
    }
    yield this.o.recordFinish ? S.readFinish : S.readStart;
    // BUG (variant finish-counter) records the finish count: a flush in flight then looks like it covers us.
    const count = Atomics.load(cpu.i64, this.o.recordFinish ? this.finish : this.start);
    cpu.note('read', this.o.recordFinish ? 'fq_flush_finish_cnt' : 'fq_flush_start_cnt',
      this.o.recordFinish ? this.finish : this.start, count);
    yield S.write;
    const t = Atomics.load(i32, this.tailIdx(r));
    const k = this.slot(r, t);
    Atomics.store(i32, this.pfn + k, iovaPfn);
    Atomics.store(i32, this.pagesIdx + k, pages);
    Atomics.store(cpu.i64, this.counter + k, count);
    Atomics.store(i32, this.stamp + k, nowUs(cpu));
    Atomics.store(i32, this.clearAt + k, clearedAt);
    const newTail = (t + 1) & this.mask;
    Atomics.store(i32, this.tailIdx(r), newTail);
    const held = (newTail - Atomics.load(i32, this.headIdx(r))) & this.mask;
    if (held > Atomics.load(i32, atCpu(this.peak, r))) Atomics.store(i32, atCpu(this.peak, r), held);
    yield* spinUnlock(cpu, lock);
    // Read before the xchg so that a busy queue does not bounce the cache line (§3.4).
    yield S.readTimerOn;
    if (Atomics.load(i32, this.timerOn) === 0) {
      yield S.xchgTimerOn;
      if (Atomics.exchange(i32, this.timerOn, 1) === 0) yield* this.timer.mod(cpu, this.o.timeoutMs * 1e6);
    }
  }

  /** fq_ring_free: free the entries some completed flush covers (ring lock held). */
  private *ringFree(cpu: Cpu, r: number, exposure: (cpu: Cpu, us: number) => void): Op {
    const i32 = cpu.i32;
    yield S.readFinish;
    const fin = Atomics.load(cpu.i64, this.finish);
    cpu.note('read', 'fq_flush_finish_cnt', this.finish, fin);
    for (;;) {
      yield S.read;
      const head = Atomics.load(i32, this.headIdx(r));
      if (head === Atomics.load(i32, this.tailIdx(r))) return;
      const c = Atomics.load(cpu.i64, this.counter + this.slot(r, head));
      // BUG (variant le-compare): `<=` frees an entry once exactly S flushes finished — all of which may
      // have started before its unmap.
      if (this.o.freeOnEqual ? c > fin : c >= fin) return;
      yield* this.freeHead(cpu, r, exposure);
    }
  }

  private *freeHead(cpu: Cpu, r: number, exposure: (cpu: Cpu, us: number) => void, check = true): Op {
    const i32 = cpu.i32;
    yield S.head;
    const head = Atomics.load(i32, this.headIdx(r));
    const k = this.slot(r, head);
    const pfn = Atomics.load(i32, this.pfn + k);
    const pages = Atomics.load(i32, this.pagesIdx + k);
    const covered = Atomics.load(i32, this.covered);
    if (this.o.oracle && check && covered <= Atomics.load(i32, this.clearAt + k)) {
      cpu.fail('F1', `${cpu.name} frees queued IOVA 0x${pfn.toString(16)} (+${pages}) although no flush that started after its unmap has finished`);
    }
    exposure(cpu, nowUs(cpu) - Atomics.load(i32, this.stamp + k));
    Atomics.store(i32, this.headIdx(r), (head + 1) & this.mask);
    yield* this.freeIova(cpu, pfn, pages);
  }

  /** fq_flush_iotlb: count the flush as started, flush, count it as finished. */
  *flushIotlb(cpu: Cpu): Op {
    const i32 = cpu.i32;
    yield S.incStart;
    Atomics.add(cpu.i64, this.start, 1n);
    if (cpu.tracing) cpu.note('write', 'fq_flush_start_cnt', this.start, Atomics.load(cpu.i64, this.start));
    const started = this.o.oracle ? Atomics.add(i32, this.events, 1) + 1 : 0; // oracle: this flush's start stamp
    yield* this.iotlb.flushAll(cpu);
    yield S.incFinish;
    // oracle: raise "latest start among finished flushes" to ours (an atomic max) — before the kernel's
    // counter says so, since on real threads a ring free may act on the new finish count at once.
    for (let c = Atomics.load(i32, this.covered); c < started; c = Atomics.load(i32, this.covered)) {
      if (Atomics.compareExchange(i32, this.covered, c, started) === c) break;
    }
    Atomics.add(cpu.i64, this.finish, 1n);
    if (cpu.tracing) cpu.note('write', 'fq_flush_finish_cnt', this.finish, Atomics.load(cpu.i64, this.finish));
  }

  /** fq_flush_timeout: flush once, then drain every ring (on the timer's CPU). */
  *timeout(cpu: Cpu, exposure: (cpu: Cpu, us: number) => void): Op {
    yield S.gen;
    const gen = Atomics.load(cpu.i32, this.gen);
    yield S.clearTimerOn;
    Atomics.store(cpu.i32, this.timerOn, 0);
    yield* this.flushIotlb(cpu);
    for (let r = 0; r < this.rings; r++) {
      yield* spinLock(cpu, this.locks[r]!);
      yield S.gen;
      if (Atomics.load(cpu.i32, this.gen) !== gen) {
        cpu.fail('FQ-UAF', `${cpu.name} drains ring ${r} after teardown freed the flush queues`);
        yield* spinUnlock(cpu, this.locks[r]!);
        return;
      }
      yield* this.ringFree(cpu, r, exposure);
      yield* spinUnlock(cpu, this.locks[r]!);
    }
  }

  /**
   * Teardown (iommu_dma_free_fq / the older free_iova_flush_queue): stop the timer, free every queued
   * IOVA, free the rings — here: bump the generation and start over with empty rings. `syncTimer` false
   * is the FQ-TEARDOWN bug (§9 #6): del_timer() does not wait for a callback already running, which
   * then walks freed rings.
   * Simplification: the kernel tears the queues down with the domain, so its queued IOVAs need no
   * flush; this model keeps the domain (and the devices) alive across a teardown, so it flushes first.
   */
  *teardown(cpu: Cpu, syncTimer: boolean): Op {
    if (syncTimer) yield* this.timer.delSync(cpu);
    else yield* this.timer.del(cpu);
    yield* this.flushIotlb(cpu);
    for (let r = 0; r < this.rings; r++) {
      for (;;) {
        yield S.read;
        const head = Atomics.load(cpu.i32, this.headIdx(r));
        if (head === Atomics.load(cpu.i32, this.tailIdx(r))) break;
        yield* this.freeHead(cpu, r, () => { /* not an exposure: the queue is going away */ }, false);
      }
    }
    yield 'free fq rings';
    Atomics.add(cpu.i32, this.gen, 1);
    Atomics.store(cpu.i32, this.timerOn, 0);
  }

  /** §10 FQ: ring occupancy <= size-1; fq_timer_on == 1 implies the timer is pending or running. */
  checkQuiescent(mem: Memory, report: QuiescentReport): void {
    const i32 = mem.i32;
    for (let r = 0; r < this.rings; r++) {
      const held = (Atomics.load(i32, this.tailIdx(r)) - Atomics.load(i32, this.headIdx(r))) & this.mask;
      if (held > this.o.size - 1) report('F-RING', `ring ${r} holds ${held} entries, more than size-1 = ${this.o.size - 1}`);
    }
    const pending = Atomics.load(mem.i64, this.timer.deadlineIndex) !== 0n || Atomics.load(i32, this.timer.runningIndex) !== 0;
    if (Atomics.load(i32, this.timerOn) === 1 && !pending) report('F-TIMER', 'fq_timer_on is set but the fq timer is neither pending nor running: queued IOVAs wait for a flush that never comes');
  }

  /** Entries queued now (quiescent checks, statistics). */
  held(i32: Int32Array): number {
    let n = 0;
    for (let r = 0; r < this.rings; r++) n += (Atomics.load(i32, this.tailIdx(r)) - Atomics.load(i32, this.headIdx(r))) & this.mask;
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
      for (let h = Atomics.load(i32, this.headIdx(r)); h !== Atomics.load(i32, this.tailIdx(r)); h = (h + 1) & this.mask) {
        out.push([Atomics.load(i32, this.pfn + this.slot(r, h)), Atomics.load(i32, this.pagesIdx + this.slot(r, h))]);
      }
    }
    return out;
  }

  flushesStarted(i64: BigInt64Array): number { return Number(Atomics.load(i64, this.start)); }
  ringCount(): number { return this.rings; }
  ringLimit(): number { return this.o.size - 1; }
  cpuCount(): number { return this.cpus; }
}

/** The task's clock in µs (virtual in explore mode), for exposure stamps. */
function nowUs(cpu: Cpu): number {
  return Math.floor(cpu.clock.now() / 1000) | 0;
}
