/**
 * The two-step IOVA DMA API — kernel-model.md §7 (DMA-IOMMU-25, IOVA-API-DOC, NOSYNC):
 * dma_iova_try_alloc / dma_iova_link (iommu_map_nosync, no sync) / dma_iova_sync (iommu_sync_map) /
 * dma_iova_unlink (unmap_fast + iotlb_sync, never queued) / dma_iova_destroy / dma_iova_free (the
 * IOVA straight back to the allocator, never queued).
 *
 * The lifecycle the doc demands per state — link* -> sync -> device use -> (unlink* -> free | destroy),
 * no free while a link is live — is kept as a checker shadow in the state (linked and unsynced bytes)
 * and checked where the rule applies (`lifecycleChecks`), so a misuse is named at the call that makes
 * it, not only by what it breaks later (a -EEXIST for the next user, a DMA fault).
 *
 * Simplifications: a strict domain (destroy unlinks with an immediate IOTLB sync and frees; no flush
 * queue); coherent device, no swiotlb bouncing (DMA_IOVA_USE_SWIOTLB never set), whole pages linked at
 * granule-aligned offsets; one sync covers everything linked so far.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import type { IommuCore } from '../core/iommu-map.js';
import { SZ_4K } from '../pgtable.js';
import type { IovaAllocator } from './dma-iommu.js';

export const EIO = -5;

/** struct dma_iova_state, plus the checker's shadow of its links. */
export interface DmaIovaState {
  addr: number;
  size: number;
  /** Checker: bytes linked and not yet unlinked. */
  linked: number;
  /** Checker: bytes linked since the last sync. */
  unsynced: number;
}

export const newIovaState = (): DmaIovaState => ({ addr: 0, size: 0, linked: 0, unsynced: 0 });

/** dma_use_iova(state). */
export const dmaUseIova = (st: DmaIovaState): boolean => st.size !== 0;

const GRANULE = SZ_4K;
const alignUp = (x: number): number => Math.ceil(x / GRANULE) * GRANULE;

export class DmaIovaApi {
  constructor(
    private readonly core: IommuCore,
    private readonly iovad: IovaAllocator,
    private readonly limitPfn: number,
    /** Report lifecycle misuse (IOVA-FREE-LINKED, IOVA-USE-UNSYNCED) where it happens. */
    readonly lifecycleChecks: boolean,
  ) {}

  /** dma_iova_try_alloc: phys only sets the sub-granule offset. */
  *tryAlloc(cpu: Cpu, st: DmaIovaState, phys: number, size: number): Op<boolean> {
    st.addr = 0; st.size = 0; st.linked = 0; st.unsynced = 0;
    if (size === 0) return false;
    const off = phys % GRANULE;
    const pages = alignUp(size + off) / GRANULE;
    const pfn = yield* this.iovad.allocIovaFast(cpu, pages, this.limitPfn, true);
    if (pfn === 0) return false;
    st.addr = pfn * GRANULE + off;
    st.size = size;
    return true;
  }

  /** dma_iova_link: iommu_map_nosync of the range, no IOTLB sync. */
  *link(cpu: Cpu, st: DmaIovaState, phys: number, offset: number, size: number): Op<number> {
    if (offset > 0 && phys % GRANULE !== 0) return EIO;
    const ret = yield* this.core.mapNosync(cpu, st.addr + offset, phys, alignUp(size));
    if (ret === 0) { st.linked += size; st.unsynced += size; }
    return ret;
  }

  /** dma_iova_sync: iommu_sync_map of the linked range. */
  *sync(cpu: Cpu, st: DmaIovaState, offset: number, size: number): Op<number> {
    const ret = yield* this.core.syncMap(cpu, st.addr + offset, size);
    if (ret === 0) st.unsynced = 0;
    return ret;
  }

  /** The device is about to use [offset, offset+size): the doc's "sync before the device uses it". */
  checkDeviceUse(cpu: Cpu, st: DmaIovaState): void {
    if (this.lifecycleChecks && st.unsynced > 0) {
      cpu.fail('IOVA-USE-UNSYNCED', `${cpu.name} starts the device on iova 0x${st.addr.toString(16)} with ${st.unsynced} linked bytes never synced (dma_iova_sync missing)`);
    }
  }

  /** dma_iova_unlink: unmap_fast + iotlb_sync, synchronously (never queued). */
  *unlink(cpu: Cpu, st: DmaIovaState, offset: number, size: number): Op<number> {
    const n = yield* this.core.unmap(cpu, st.addr + offset, alignUp(size));
    st.linked -= size;
    return n;
  }

  /** dma_iova_destroy: unlink the mapped length and free, or just free. */
  *destroy(cpu: Cpu, st: DmaIovaState, mappedLen: number): Op<number> {
    const n = mappedLen > 0 ? yield* this.unlink(cpu, st, 0, mappedLen) : 0;
    yield* this.free(cpu, st);
    return n;
  }

  /** dma_iova_free: the IOVA straight back to the allocator. "All regions must have been unmapped." */
  *free(cpu: Cpu, st: DmaIovaState): Op {
    if (this.lifecycleChecks && st.linked > 0) {
      cpu.fail('IOVA-FREE-LINKED', `${cpu.name} frees iova 0x${st.addr.toString(16)} (+${st.size}) with ${st.linked} bytes still linked`);
    }
    const pages = alignUp(st.size + (st.addr % GRANULE)) / GRANULE;
    yield* this.iovad.freeIovaFast(cpu, Math.floor(st.addr / GRANULE), pages);
    st.addr = 0; st.size = 0;
  }
}
