/**
 * The request virtqueue and its helpers — kernel-model.md §4.1 "Request helpers (all under requestLock)":
 *  - addReq: copy the request into the ring *without kicking*; if the ring is full, sync (kick, then poll
 *    until every outstanding request completed) and retry. Nobody reads its status.
 *  - sendReqSync: add, sync, then return the request's own status as an errno.
 *  - syncReq: kick, then poll until the requests list is empty. Always succeeds.
 * One queue per vIOMMU, so every domain's requests share it and are FIFO.
 *
 * Where the device runs: it answers the kick, in the kicking vCPU's context, while that vCPU holds
 * request_lock and polls. That is how QEMU handles a virtqueue notify that traps on the vCPU thread, and
 * it is exactly the device §4.3 assumes: requests are consumed only when somebody kicks (V8's MAP "sits
 * in the virtqueue until some other sync"), in ring order, and a sync returns only once everything queued
 * before it is done. Each request the device handles is its own scheduling point ('host: MAP' ...), so
 * device DMA and the other vCPUs' driver code interleave with the device's state changes. The same code
 * runs under both executors; in stress mode only the lock holder ever writes device state.
 *
 * Simplifications: one ring entry per request (a real request takes two descriptors, or one indirect);
 * a request cannot fail to be added (no GFP_ATOMIC allocation failure), so addReq never returns an error;
 * the device never writes a zero-length reply (the IOERR path of __viommu_sync_req).
 */
import type { Cpu, LockRef, Op, Site } from '../../engine/cpu.js';
import { assertSpinLocked } from '../../engine/assert-locked.js';
import { lockRef, spinLock, spinUnlock } from '../../engine/sync.js';
import { statusErrno, S_PENDING, TYPE_NAME, type HostReport, type Request, type ViommuHost } from './host.js';
import { F_DOMAIN, F_ENDPOINT, F_FROM, F_PFN, F_SEQ, F_SLOT, F_STATUS, F_TYPE, type ViommuLayout } from './layout.js';

const KICK = 'kick';
/** The kick of __viommu_add_req's ring-full sync: the same access, labelled apart for coverage. */
export const KICK_RING_FULL = 'kick (request ring full)';
const HOST_SITE: readonly Site[] = TYPE_NAME.map((t) => `host: ${t}`);

export class RequestQueue {
  readonly lock: LockRef;

  constructor(
    protected readonly L: ViommuLayout,
    private readonly host: ViommuHost,
    rank: number,
  ) {
    this.lock = lockRef('request_lock', L.rqLock, rank);
  }

  /** viommu_add_req. Returns the request's sequence number (its position in the FIFO). */
  *addReq(cpu: Cpu, r: Request, site: Site): Op<number> {
    yield* spinLock(cpu, this.lock);
    const seq = yield* this.addLocked(cpu, r, site);
    yield* spinUnlock(cpu, this.lock);
    return seq;
  }

  /** viommu_send_req_sync: the request's status as an errno (0 on success). */
  *sendReqSync(cpu: Cpu, r: Request, site: Site): Op<number> {
    yield* spinLock(cpu, this.lock);
    const seq = yield* this.addLocked(cpu, r, site);
    yield* this.syncLocked(cpu);
    // Still ours: nothing can be added while we hold the lock, so the entry was not reused.
    const status = Atomics.load(cpu.i32, this.L.entry(seq, F_STATUS));
    yield* spinUnlock(cpu, this.lock);
    return statusErrno(status);
  }

  /**
   * viommu_sync_req. `onDrained` runs right after the queue drained, with request_lock still held: the
   * device's state cannot change under it (checks that must see a settled device use this).
   */
  *syncReq(cpu: Cpu, onDrained?: (cpu: Cpu) => void): Op {
    yield* spinLock(cpu, this.lock);
    yield* this.syncLocked(cpu);
    onDrained?.(cpu);
    yield* spinUnlock(cpu, this.lock);
  }

  /** Requests the device has completed so far (the FIFO position of the next one it will take). */
  completed(i32: Int32Array): number {
    return Atomics.load(i32, this.L.rqHead);
  }

  /** Requests queued and not yet completed, oldest first (quiescent checks). */
  pending(i32: Int32Array): Request[] {
    const out: Request[] = [];
    const tail = Atomics.load(i32, this.L.rqTail);
    for (let seq = Atomics.load(i32, this.L.rqHead); seq < tail; seq++) out.push(this.read(i32, seq));
    return out;
  }

  /** virtqueue_add_sgs's -ENOSPC: every descriptor of the request ring is in use (request_lock held). */
  protected ringFull(i32: Int32Array): boolean {
    return Atomics.load(i32, this.L.rqTail) - Atomics.load(i32, this.L.rqHead) >= this.L.ringSize;
  }

  /** __viommu_add_req: "Only synchronize the queue if it's already full." */
  private *addLocked(cpu: Cpu, r: Request, site: Site): Op<number> {
    const L = this.L;
    const i32 = cpu.i32;
    if (this.ringFull(i32)) yield* this.syncLocked(cpu, KICK_RING_FULL);
    yield site;
    // The request's words and the tail in one point (issue 13 item 3): __viommu_add_req runs under
    // request_lock (lockdep_assert_held in drivers/iommu/virtio-iommu.c), and the ring is read only by
    // the device, which runs in the context of a vCPU that kicks while holding the same lock (syncLocked).
    // So no other vCPU can see the tail moved before the request is filled.
    assertSpinLocked(cpu, this.lock, '__viommu_add_req');
    const seq = Atomics.load(i32, L.rqTail);
    Atomics.store(i32, L.entry(seq, F_TYPE), r.type);
    Atomics.store(i32, L.entry(seq, F_DOMAIN), r.domain);
    Atomics.store(i32, L.entry(seq, F_ENDPOINT), r.endpoint);
    Atomics.store(i32, L.entry(seq, F_SLOT), r.slot);
    Atomics.store(i32, L.entry(seq, F_PFN), r.pfn);
    Atomics.store(i32, L.entry(seq, F_FROM), r.from);
    Atomics.store(i32, L.entry(seq, F_SEQ), seq);
    Atomics.store(i32, L.entry(seq, F_STATUS), S_PENDING);
    Atomics.store(i32, L.rqTail, seq + 1);
    return seq;
  }

  /**
   * __viommu_sync_req: kick, and poll until the requests list is empty. The device answers the kick by
   * taking every available request in ring order; the ring and the list are under request_lock, which
   * we hold, so reading them needs no scheduling point of its own.
   */
  private *syncLocked(cpu: Cpu, kick: Site = KICK): Op {
    const L = this.L;
    const i32 = cpu.i32;
    yield kick;
    const from = Atomics.load(i32, L.rqHead);
    const until = Atomics.load(i32, L.rqTail);
    const report: HostReport = (id, msg) => {
      cpu.fail(id, msg);
    };
    for (let seq = from; seq < until; seq++) {
      const r = this.read(i32, seq);
      if (Atomics.load(i32, L.entry(seq, F_SEQ)) !== seq) {
        cpu.fail(
          'V-SYNC',
          `the device found request #${Atomics.load(i32, L.entry(seq, F_SEQ))} where #${seq} should be: the ring lost FIFO order`,
        );
      }
      // The device applies a request in one point (its words of host state together, issue 13): QEMU's
      // virtio-iommu handles a request (virtio_iommu_handle_command) and translates a DMA
      // (virtio_iommu_translate) under the same s->mutex, so a DMA never sees a request half applied.
      yield HOST_SITE[r.type] ?? 'host: ?';
      Atomics.store(i32, L.entry(seq, F_STATUS), this.host.apply(i32, r, report));
      Atomics.store(i32, L.rqHead, seq + 1);
    }
    // The polling loop ends when the list is empty: check that the device really used every request.
    const tail = Atomics.load(i32, L.rqTail);
    const head = Atomics.load(i32, L.rqHead);
    if (head !== tail || tail !== until) {
      cpu.fail(
        'V-SYNC',
        `sync returned with requests #${head}..#${tail - 1} still queued (queued before it: up to #${until - 1})`,
      );
    }
    for (let seq = from; seq < until; seq++) {
      if (Atomics.load(i32, L.entry(seq, F_STATUS)) === S_PENDING) {
        cpu.fail(
          'V-SYNC',
          `sync returned while request #${seq} (${TYPE_NAME[Atomics.load(i32, L.entry(seq, F_TYPE))]}) queued before it was never completed`,
        );
        break;
      }
    }
  }

  private read(i32: Int32Array, seq: number): Request {
    const L = this.L;
    return {
      type: Atomics.load(i32, L.entry(seq, F_TYPE)),
      domain: Atomics.load(i32, L.entry(seq, F_DOMAIN)),
      endpoint: Atomics.load(i32, L.entry(seq, F_ENDPOINT)),
      slot: Atomics.load(i32, L.entry(seq, F_SLOT)),
      pfn: Atomics.load(i32, L.entry(seq, F_PFN)),
      from: Atomics.load(i32, L.entry(seq, F_FROM)),
    };
  }
}
