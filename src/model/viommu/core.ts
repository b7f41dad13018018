/**
 * The IOMMU core around the virtio-iommu driver — kernel-model.md §4.3 ("The core serialises attach only
 * per group (group->mutex). map, unmap and sync are not serialised against attach at all.") and §5.2
 * (iommu_map = map_pages, then iotlb_sync_map; iommu_unmap = unmap_pages, then iotlb_sync).
 *
 * Simplifications: one endpoint per group, so the group's domain (group->domain) is the endpoint's
 * vdomain; release_device is the only detach (an endpoint that was released can be attached again, as a
 * re-probed device would be); the DMA-FQ path is reduced to what virtio-iommu sees of it — an unmap
 * without iotlb_sync, and later flush_iotlb_all from the flush-queue timer, run here by the vCPU whose
 * per-CPU queue holds the IOVA (the flush-queue model itself is §3's, elsewhere).
 */
import type { Cpu, LockRef, Op } from '../../engine/cpu.js';
import { lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../../engine/sync.js';
import type { ViommuDriver } from './driver.js';
import { RANK_GROUP_MUTEX } from './locks.js';

export interface AttachResult {
  /** What attach_dev returned for the new domain. */
  readonly ret: number;
  /** After a failure, what re-attaching the old domain returned (-1 when there was none to restore). */
  readonly restored: number;
}

export class IommuCore {
  readonly groupMutex: readonly LockRef[];

  constructor(readonly drv: ViommuDriver) {
    const L = drv.L;
    this.groupMutex = Array.from({ length: L.endpoints }, (_, e) =>
      lockRef(`ep${e}.group_mutex`, L.groupMutex + e * LOCK_WORDS, RANK_GROUP_MUTEX),
    );
  }

  /**
   * __iommu_group_set_domain: nothing to do when the group is already in d; on failure the error unwind
   * re-attaches the device to the group's previous domain ("a well behaved driver should always allow us
   * to attach to a domain that was already attached"), WARNing if that fails too.
   */
  *attachGroup(cpu: Cpu, e: number, d: number): Op<AttachResult> {
    yield* spinLock(cpu, this.groupMutex[e]!);
    const cur = this.drv.vdomain(cpu.i32, e);
    let result: AttachResult = { ret: 0, restored: -1 };
    if (cur !== d) {
      const ret = yield* this.drv.attachDev(cpu, d, e);
      result = { ret, restored: ret !== 0 && cur >= 0 ? yield* this.drv.attachDev(cpu, cur, e) : -1 };
    }
    yield* spinUnlock(cpu, this.groupMutex[e]!);
    return result;
  }

  /** iommu_release_device -> viommu_release_device -> viommu_detach_dev, under the group's mutex. */
  *releaseDevice(cpu: Cpu, e: number): Op<number> {
    yield* spinLock(cpu, this.groupMutex[e]!);
    const ret = yield* this.drv.detachDev(cpu, e);
    yield* spinUnlock(cpu, this.groupMutex[e]!);
    return ret;
  }

  /** iommu_map: map_pages, then iotlb_sync_map. Returns the FIFO place of the MAP queued, or -1. */
  *iommuMap(cpu: Cpu, d: number, s: number, pfn: number, onDrained?: (cpu: Cpu) => void): Op<number> {
    const seq = yield* this.drv.mapPages(cpu, d, s, pfn);
    yield* this.drv.iotlbSyncMap(cpu, d, onDrained);
    return seq;
  }

  /** iommu_unmap (strict): unmap_pages, then iotlb_sync. Returns the bytes unmapped. */
  *iommuUnmap(cpu: Cpu, d: number, s: number): Op<number> {
    const n = yield* this.drv.unmapPages(cpu, d, s);
    yield* this.drv.iotlbSync(cpu, d);
    return n;
  }

  /** iommu_unmap_fast in a DMA-FQ domain: no iotlb_sync; the IOVA goes to the flush queue. */
  *iommuUnmapFast(cpu: Cpu, d: number, s: number): Op<number> {
    return yield* this.drv.unmapPages(cpu, d, s);
  }

  /** fq_flush_timeout -> flush_iotlb_all; afterwards the queued IOVAs (and their pages) are freed. */
  *fqFlush(cpu: Cpu, d: number): Op<boolean> {
    return yield* this.drv.flushIotlbAll(cpu, d);
  }
}
