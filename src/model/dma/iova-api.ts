/**
 * The two-step IOVA DMA API — kernel-model.md §7 (DMA-IOMMU-25, IOVA-API-DOC, NOSYNC);
 * drivers/iommu/dma-iommu.c: dma_iova_try_alloc, dma_iova_link (iommu_map_nosync, no sync),
 * dma_iova_sync (iommu_sync_map), dma_iova_unlink (unmap_fast + iotlb_sync, never queued),
 * dma_iova_destroy, dma_iova_free (the IOVA straight back to the allocator, never queued).
 *
 * One method per kernel function, each overridable: a patch to the API is a subclass given as
 * DmaIovaPatch.api (scenarios/dma-iova.ts); known bugs are in iova-api-variants.ts. Nothing here keeps
 * checker state: the lifecycle the doc demands — link* -> sync -> device use -> (unlink* -> free |
 * destroy), no free while a link is live — is checked by the harness, from the domain ops dispatch
 * (what was handed to map_pages and synced) and the IOVA allocator's hand-in (what is freed).
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

/** struct dma_iova_state: `size` 0 means unused (dma_use_iova false). */
export interface DmaIovaState {
  addr: number;
  size: number;
}

export const newIovaState = (): DmaIovaState => ({ addr: 0, size: 0 });

/** dma_use_iova(state). */
export const dmaUseIova = (st: DmaIovaState): boolean => st.size !== 0;

const GRANULE = SZ_4K;
export const iovaAlignUp = (x: number): number => Math.ceil(x / GRANULE) * GRANULE;

export type DmaIovaApiClass = new (core: IommuCore, iovad: IovaAllocator, limitPfn: number) => DmaIovaApi;

export class DmaIovaApi {
  constructor(
    protected readonly core: IommuCore,
    protected readonly iovad: IovaAllocator,
    protected readonly limitPfn: number,
  ) {}

  /** dma_iova_try_alloc: phys only sets the sub-granule offset. */
  *dmaIovaTryAlloc(cpu: Cpu, st: DmaIovaState, phys: number, size: number): Op<boolean> {
    st.addr = 0;
    st.size = 0;
    if (size === 0) return false;
    const off = phys % GRANULE;
    const pages = iovaAlignUp(size + off) / GRANULE;
    const pfn = yield* this.iovad.allocIovaFast(cpu, pages, this.limitPfn, true);
    if (pfn === 0) return false;
    st.addr = pfn * GRANULE + off;
    st.size = size;
    return true;
  }

  /** dma_iova_link: iommu_map_nosync of the range, no IOTLB sync. */
  *dmaIovaLink(cpu: Cpu, st: DmaIovaState, phys: number, offset: number, size: number): Op<number> {
    if (offset > 0 && phys % GRANULE !== 0) return EIO;
    return yield* this.core.iommuMapNosync(cpu, st.addr + offset, phys, iovaAlignUp(size));
  }

  /** dma_iova_sync: iommu_sync_map of the linked range. */
  *dmaIovaSync(cpu: Cpu, st: DmaIovaState, offset: number, size: number): Op<number> {
    return yield* this.core.iommuSyncMap(cpu, st.addr + offset, size);
  }

  /** dma_iova_unlink: unmap_fast + iotlb_sync, synchronously (never queued); the bytes unmapped. */
  *dmaIovaUnlink(cpu: Cpu, st: DmaIovaState, offset: number, size: number): Op<number> {
    return yield* this.core.iommuUnmap(cpu, st.addr + offset, iovaAlignUp(size));
  }

  /** dma_iova_destroy: unlink the mapped length and free, or just free; the bytes unmapped. */
  *dmaIovaDestroy(cpu: Cpu, st: DmaIovaState, mappedLen: number): Op<number> {
    const n = mappedLen > 0 ? yield* this.dmaIovaUnlink(cpu, st, 0, mappedLen) : 0;
    yield* this.dmaIovaFree(cpu, st);
    return n;
  }

  /** dma_iova_free: the IOVA straight back to the allocator. "All regions must have been unmapped." */
  *dmaIovaFree(cpu: Cpu, st: DmaIovaState): Op {
    const pages = iovaAlignUp(st.size + (st.addr % GRANULE)) / GRANULE;
    yield* this.iovad.freeIovaFast(cpu, Math.floor(st.addr / GRANULE), pages);
    st.addr = 0;
    st.size = 0;
  }
}
