/**
 * The DMA layer of dma-iommu — kernel-model.md §3.3 (the unmap path) and the map path it pairs with:
 * dma map allocates IOVA space through the range cache and maps it in the I/O page table; dma unmap
 * clears the PTEs and then either syncs the IOTLB and frees the IOVA at once (strict, IOMMU_DOMAIN_DMA)
 * or queues the IOVA on the flush queue (lazy, IOMMU_DOMAIN_DMA_FQ).
 *
 * Simplifications: one domain, 4 KiB pages only (dma_map_page of whole pages: no sub-granule offset);
 * the mode is fixed for the domain's life (no sysfs switch to DMA-FQ at run time).
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import type { FlushQueue } from '../fq/flush-queue.js';
import type { Iotlb } from '../iotlb.js';
import { type IoPgtable, SZ_4K } from '../pgtable.js';

/** The IOVA allocator as the DMA layer sees it: alloc_iova_fast / free_iova_fast (kernel-model.md §2.3). */
export interface IovaAllocator {
  /** A range of `pages` pfns at or below `limitPfn`, or 0 when there is none (-ENOMEM); flushRcache as in the kernel. */
  allocIovaFast(cpu: Cpu, pages: number, limitPfn: number, flushRcache: boolean): Op<number>;
  freeIovaFast(cpu: Cpu, pfn: number, pages: number): Op;
}

export interface DmaHooks {
  /** A range was handed out by the allocator (before it is mapped): the F1 check. */
  allocated(cpu: Cpu, pfn: number, pages: number): void;
  /** An unmapped range's lazy exposure ended after `us` µs (its IOVA went back to the allocator). */
  exposure(cpu: Cpu, us: number): void;
  /** iommu_map of a freshly allocated IOVA failed (-EEXIST: someone's PTEs are still there). */
  mapFailed(cpu: Cpu, pfn: number, pages: number, err: number): void;
}

export class DmaIommu {
  constructor(
    private readonly pt: IoPgtable,
    private readonly iotlb: Iotlb,
    private readonly alloc: IovaAllocator,
    /** null = strict domain. */
    private readonly fq: FlushQueue | null,
    private readonly limitPfn: number,
    readonly hooks: DmaHooks,
  ) {}

  get lazy(): boolean { return this.fq !== null; }

  /** iommu_dma_map_page for whole pages: the IOVA pfn, or 0 when it failed (no IOVA space, or the map failed). */
  *map(cpu: Cpu, phys: number, pages: number): Op<number> {
    // iommu_dma_alloc_iova: alloc_iova_fast(iovad, iova_len, dma_limit >> shift, true).
    const pfn = yield* this.alloc.allocIovaFast(cpu, pages, this.limitPfn, true);
    if (pfn === 0) return 0;
    this.hooks.allocated(cpu, pfn, pages);
    // iommu_map's loop for 4 KiB pages: map_pages stops at the end of a table, so go on from there.
    for (let done = 0; done < pages;) {
      const { ret, mapped } = yield* this.pt.mapPages(cpu, (pfn + done) * SZ_4K, phys + done * SZ_4K, SZ_4K, pages - done);
      if (ret !== 0) {
        this.hooks.mapFailed(cpu, pfn, pages, ret);
        // Unwind what this call mapped; the IOVA was never visible to the device, so it is freed at once,
        // never queued (§3.3).
        if (done > 0) yield* this.unmapPages(cpu, pfn, done);
        yield* this.alloc.freeIovaFast(cpu, pfn, pages);
        return 0;
      }
      done += mapped / SZ_4K;
    }
    return pfn;
  }

  /** __iommu_dma_unmap: returns the bytes the page table unmapped (the kernel WARNs when it is short). */
  *unmap(cpu: Cpu, pfn: number, pages: number): Op<number> {
    const n = yield* this.unmapPages(cpu, pfn, pages);
    if (this.fq) {
      yield* this.fq.queueIova(cpu, pfn, pages, this.hooks.exposure, this.fq.clearStamp(cpu));
    } else {
      yield* this.iotlb.syncRange(cpu, pfn, pages);
      yield* this.alloc.freeIovaFast(cpu, pfn, pages);
    }
    return n;
  }

  /** iommu_unmap_fast's loop for 4 KiB pages (unmap_pages also stops at the end of a table). */
  private *unmapPages(cpu: Cpu, pfn: number, pages: number): Op<number> {
    let bytes = 0;
    while (bytes < pages * SZ_4K) {
      const n = yield* this.pt.unmapPages(cpu, pfn * SZ_4K + bytes, SZ_4K, pages - bytes / SZ_4K);
      if (n === 0) break;
      bytes += n;
    }
    return bytes;
  }
}
