/**
 * Variants of the virtio-iommu driver (driver.ts is upstream's; kernel-model.md §4.3, §9 #10): each is a subclass that overrides the
 * kernel functions it changes, and scenario `viommu` lists them (its `variants`, patch `{ driver }`).
 * A user's patch is one more subclass in a scenario file (examples/viommu-atomic-count.ts).
 *
 * The step and site order of each variant is the one the scenario has always had, so replay tokens
 * recorded before these were subclasses still replay.
 */
import type { Cpu, LockRef, Op } from '../../engine/cpu.js';
import { lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../../engine/sync.js';
import { ATTACH_SEND, ViommuDriver } from './driver.js';
import { RANK_DOMAIN_LOCK } from './locks.js';
import { T_ATTACH, type ViommuHost } from './host.js';
import type { ViommuLayout } from './layout.js';

/**
 * The fix the issue asks for (JGG-LOCK, kernel-model.md §4.3): one per-domain lock (`domN.lock`) makes
 * the count and every check-then-send atomic with attach/detach and the replay. map/unmap/sync_map/flush
 * hold it around their tree update, `nr_endpoints` check and request; attach holds the old and the new
 * domain's locks (in index order) around ATTACH, the replay and both count changes, and moves the old
 * domain's decrement after a successful ATTACH (which also removes §4.3 V7's error-path drift); detach
 * holds it around DETACH and the decrement.
 */
export class LockedViommuDriver extends ViommuDriver {
  private readonly domLock: readonly LockRef[];

  constructor(L: ViommuLayout, host: ViommuHost) {
    super(L, host);
    this.domLock = Array.from({ length: L.domains }, (_, d) =>
      lockRef(`dom${d}.lock`, L.domLock + d * LOCK_WORDS, RANK_DOMAIN_LOCK + d),
    );
  }

  /** Both domains' locks around ATTACH, replay and both count changes. */
  override *attachDev(cpu: Cpu, d: number, e: number): Op<number> {
    yield* this.finalise(cpu, d);
    const old = this.vdomain(cpu.i32, e);
    const attach = { type: T_ATTACH, domain: d, endpoint: e, slot: 0, pfn: 0, from: cpu.id };
    if (old === d) {
      // Only the core's error-path restore gets here: the device has e in d, the count already has it.
      yield* spinLock(cpu, this.domLock[d]!);
      const ret = yield* this.rq.sendReqSync(cpu, attach, ATTACH_SEND);
      yield* spinUnlock(cpu, this.domLock[d]!);
      return ret;
    }
    const first = old >= 0 && old < d ? old : d;
    const second = old < 0 ? -1 : old < d ? d : old;
    yield* spinLock(cpu, this.domLock[first]!);
    if (second >= 0) yield* spinLock(cpu, this.domLock[second]!);
    let ret = yield* this.rq.sendReqSync(cpu, attach, ATTACH_SEND);
    if (ret === 0) {
      // The device has moved e: only now does the old domain lose it.
      if (old >= 0) yield* this.nr[old]!.plainAdd(cpu, -1);
      if ((yield* this.nr[d]!.load(cpu)) === 0) ret = yield* this.replay(cpu, d);
      // The device has e in d whatever the replay returned: count what the device has.
      yield* this.nr[d]!.plainAdd(cpu, 1);
      Atomics.store(cpu.i32, this.L.vdomain + e, d + 1);
    }
    if (second >= 0) yield* spinUnlock(cpu, this.domLock[second]!);
    yield* spinUnlock(cpu, this.domLock[first]!);
    return ret;
  }

  override *detachDev(cpu: Cpu, e: number): Op<number> {
    const d = this.vdomain(cpu.i32, e);
    if (d < 0) return 0;
    return yield* this.underDomLock(cpu, d, super.detachDev(cpu, e));
  }

  override *mapPages(cpu: Cpu, d: number, s: number, pfn: number): Op<number> {
    return yield* this.underDomLock(cpu, d, super.mapPages(cpu, d, s, pfn));
  }

  override *unmapPages(cpu: Cpu, d: number, s: number): Op<number> {
    return yield* this.underDomLock(cpu, d, super.unmapPages(cpu, d, s));
  }

  override *iotlbSyncMap(cpu: Cpu, d: number, onDrained?: (cpu: Cpu) => void): Op<boolean> {
    return yield* this.underDomLock(cpu, d, super.iotlbSyncMap(cpu, d, onDrained));
  }

  override *flushIotlbAll(cpu: Cpu, d: number): Op<boolean> {
    return yield* this.underDomLock(cpu, d, super.flushIotlbAll(cpu, d));
  }

  private *underDomLock<R>(cpu: Cpu, d: number, body: Op<R>): Op<R> {
    yield* spinLock(cpu, this.domLock[d]!);
    const r = yield* body;
    yield* spinUnlock(cpu, this.domLock[d]!);
    return r;
  }
}

/**
 * iotlb_sync_map and flush_iotlb_all sync without their `nr_endpoints` check (the series before VIO-V3
 * v3), so a mapping made before the first attach syncs a domain whose viommu is still NULL (§4.3 V5).
 */
export class NoSyncCheckDriver extends ViommuDriver {
  override *iotlbSyncMap(cpu: Cpu, d: number, onDrained?: (cpu: Cpu) => void): Op<boolean> {
    return yield* this.syncDomain(cpu, d, onDrained);
  }

  override *flushIotlbAll(cpu: Cpu, d: number): Op<boolean> {
    return yield* this.syncDomain(cpu, d);
  }
}
