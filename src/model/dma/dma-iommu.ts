/**
 * The DMA layer of dma-iommu — kernel-model.md §3.3; drivers/iommu/dma-iommu.c: __iommu_dma_map,
 * __iommu_dma_unmap, iommu_dma_free_iova. dma map allocates IOVA space through the range cache and maps
 * it in the I/O page table; dma unmap clears the PTEs and then either syncs the IOTLB and frees the IOVA
 * at once (strict, IOMMU_DOMAIN_DMA) or queues the IOVA on the flush queue (lazy, IOMMU_DOMAIN_DMA_FQ).
 *
 * It depends on interfaces (IovaAllocator, IovaFlushQueue, IommuPageTable), not on the concrete
 * allocator, flush queue and page table: the scenario wires in harness wrappers around them (the F1
 * oracle watches the allocator's hand-in and hand-out and the page table's PTE clears, oracle.ts), and
 * a patch may subclass this class to change __iommu_dma_unmap or iommu_dma_free_iova.
 *
 * Simplifications: one domain, 4 KiB pages only (dma_map_page of whole pages: no sub-granule offset);
 * the mode is fixed for the domain's life (no sysfs switch to DMA-FQ at run time).
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import type { IovaFlushQueue } from '../fq/flush-queue.js';
import type { Iotlb } from '../iotlb.js';
import { SZ_4K } from '../pgtable.js';

/** The IOVA allocator as the DMA layer sees it: alloc_iova_fast / free_iova_fast (kernel-model.md §2.3). */
export interface IovaAllocator {
  /** A range of `pages` pfns at or below `limitPfn`, or 0 when there is none (-ENOMEM); flushRcache as in the kernel. */
  allocIovaFast(cpu: Cpu, pages: number, limitPfn: number, flushRcache: boolean): Op<number>;
  freeIovaFast(cpu: Cpu, pfn: number, pages: number): Op;
}

/** The domain's map_pages / unmap_pages (io-pgtable, kernel-model.md §6). */
export interface IommuPageTable {
  mapPages(cpu: Cpu, iova: number, paddr: number, pgsize: number, pgcount: number): Op<{ ret: number; mapped: number }>;
  unmapPages(cpu: Cpu, iova: number, pgsize: number, pgcount: number): Op<number>;
}

/** A DMA layer class a patch may name (DmaIommu or a subclass). */
export type DmaIommuClass = new (
  pt: IommuPageTable,
  iotlb: Iotlb,
  iovad: IovaAllocator,
  fq: IovaFlushQueue | null,
  limitPfn: number,
) => DmaIommu;

export class DmaIommu {
  constructor(
    protected readonly pt: IommuPageTable,
    protected readonly iotlb: Iotlb,
    protected readonly iovad: IovaAllocator,
    /** cookie->fq_domain's flush queue; null = strict domain. */
    protected readonly fq: IovaFlushQueue | null,
    protected readonly limitPfn: number,
  ) {}

  get lazy(): boolean {
    return this.fq !== null;
  }

  /** __iommu_dma_map for whole pages: the IOVA pfn, or 0 when it failed (no IOVA space, or the map failed). */
  *iommuDmaMap(cpu: Cpu, phys: number, pages: number): Op<number> {
    // iommu_dma_alloc_iova: alloc_iova_fast(iovad, iova_len, dma_limit >> shift, true).
    const pfn = yield* this.iovad.allocIovaFast(cpu, pages, this.limitPfn, true);
    if (pfn === 0) return 0;
    // iommu_map's loop for 4 KiB pages: map_pages stops at the end of a table, so go on from there.
    for (let done = 0; done < pages;) {
      const { ret, mapped } = yield* this.pt.mapPages(
        cpu,
        (pfn + done) * SZ_4K,
        phys + done * SZ_4K,
        SZ_4K,
        pages - done,
      );
      if (ret !== 0) {
        // Unwind what this call mapped; the IOVA was never visible to the device, so it is freed at once,
        // never queued (§3.3).
        if (done > 0) yield* this.iommuUnmapFast(cpu, pfn, done);
        yield* this.iovad.freeIovaFast(cpu, pfn, pages);
        return 0;
      }
      done += mapped / SZ_4K;
    }
    return pfn;
  }

  /** __iommu_dma_unmap: returns the bytes the page table unmapped (the kernel WARNs when it is short). */
  *iommuDmaUnmap(cpu: Cpu, pfn: number, pages: number): Op<number> {
    // iotlb_gather.queued = READ_ONCE(cookie->fq_domain)
    const queued = this.fq !== null;
    const n = yield* this.iommuUnmapFast(cpu, pfn, pages);
    if (!queued) yield* this.iotlb.syncRange(cpu, pfn, pages); // iommu_iotlb_sync: strict invalidates now
    yield* this.iommuDmaFreeIova(cpu, pfn, pages, queued);
    return n;
  }

  /** iommu_dma_free_iova: queue_iova when the gather is queued, else free_iova_fast. */
  protected *iommuDmaFreeIova(cpu: Cpu, pfn: number, pages: number, queued: boolean): Op {
    if (queued) yield* this.fq!.queueIova(cpu, pfn, pages);
    else yield* this.iovad.freeIovaFast(cpu, pfn, pages);
  }

  /** iommu_unmap_fast's loop for 4 KiB pages (unmap_pages also stops at the end of a table). */
  protected *iommuUnmapFast(cpu: Cpu, pfn: number, pages: number): Op<number> {
    let bytes = 0;
    while (bytes < pages * SZ_4K) {
      const n = yield* this.pt.unmapPages(cpu, pfn * SZ_4K + bytes, SZ_4K, pages - bytes / SZ_4K);
      if (n === 0) break;
      bytes += n;
    }
    return bytes;
  }
}
