/**
 * Known flush-queue bugs as patches on the faithful mechanism (flush-queue.ts): each a subclass that
 * overrides the one kernel function the bug changes — kernel-model.md §3.4 "Tests to mutate", §9 #6, #8.
 * The scenario's variant list (src/scenarios/flushq.ts) names them; a user's patch is written the same
 * way (examples/fq-free-to-queuing-cpu.ts). Each known bug sits on the fixed queue (FlushUntilRoomFq,
 * first below), so that upstream's ring-overwrite finding does not mask it.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { FlushQueue, FQ_SITES as S } from './flush-queue.js';

/**
 * The fix of the ring-overwrite finding (notes/acct-readme.md "Findings"), as `percpu-fixed` and
 * `single-fixed`. Upstream queue_iova flushes a full ring once and then frees only what
 * fq_flush_finish_cnt says is covered; while a flush that started before the oldest entry was queued
 * (another CPU's, or the timer's) is still in flight, that may be nothing, and fq_ring_add then moves
 * the tail onto the head: the ring reads as empty and every queued entry is lost. The fix flushes
 * again until the ring has room: each flush of ours that finishes moves fq_flush_finish_cnt on by one,
 * so after at most (flushes in flight + 1) rounds the oldest entry is covered. (Freeing the whole ring
 * after our own flush would be sound too — every entry was queued under the lock before that flush
 * started — but keeps no counter check on the full path.)
 */
export class FlushUntilRoomFq extends FlushQueue {
  protected override *fqRingFull(cpu: Cpu, r: number): Op {
    do {
      yield* this.fqFlushIotlb(cpu, S.fullIncStart);
      yield* this.fqRingFreeLocked(cpu, r);
    } while (yield* this.fqFull(cpu, r));
  }
}

/** finish-counter (§9 #8): entries record the finish counter, so a flush in flight seems to cover them. */
export class FinishCounterFq extends FlushUntilRoomFq {
  protected override *fqEntryCounter(cpu: Cpu): Op<bigint> {
    yield S.readFinish;
    return Atomics.load(cpu.i64, this.finish);
  }
}

/**
 * le-compare (§9 #8): fq_ring_free_locked frees while counter <= finish — once exactly S flushes
 * finished, all of which may have started before the unmap.
 */
export class LeCompareFq extends FlushUntilRoomFq {
  override *fqRingFreeLocked(cpu: Cpu, r: number): Op {
    yield S.readFinish;
    const fin = Atomics.load(cpu.i64, this.finish);
    for (;;) {
      yield S.read;
      const head = Atomics.load(cpu.i32, this.headIdx(r));
      if (head === Atomics.load(cpu.i32, this.tailIdx(r))) return;
      if (Atomics.load(cpu.i64, this.counter + this.slot(r, head)) > fin) return;
      yield* this.fqEntryFree(cpu, r);
    }
  }
}

/**
 * no-queue-mb (§3.4 "Tests to mutate": drop the smp_mb): queue_iova without its smp_mb(), so the
 * caller's PTE clear may still sit in the CPU's store buffer when the entry reads fq_flush_start_cnt. A
 * flush on another CPU that starts after that read invalidates the IOTLB, but the device's next walk
 * still finds the old PTE and caches it again; the flush's finish then frees the IOVA with a live IOTLB
 * entry (F1). Only a weak memory can do this (explore --memory weak); under sc the variant is clean.
 */
export class NoQueueMbFq extends FlushUntilRoomFq {
  override *queueIova(cpu: Cpu, iovaPfn: number, pages: number): Op {
    yield* this.queueIovaLocked(cpu, iovaPfn, pages);
  }
}

/** no-flush-when-full [derived mutation]: a full ring makes room by freeing its oldest entry, unflushed. */
export class NoFlushWhenFullFq extends FlushUntilRoomFq {
  protected override *fqRingFull(cpu: Cpu, r: number): Op {
    yield* this.fqEntryFree(cpu, r);
  }
}

/**
 * timer-teardown (§9 #6, FQ-TEARDOWN, d7061627d701): teardown stops the timer with timer_delete (the
 * old del_timer), which does not wait for a running fq_flush_timeout; that then walks freed rings.
 */
export class TimerTeardownFq extends FlushUntilRoomFq {
  override *iommuDmaFreeFq(cpu: Cpu): Op {
    yield* this.timer.del(cpu);
    yield* this.iommuDmaFreeFqRings(cpu);
  }
}
