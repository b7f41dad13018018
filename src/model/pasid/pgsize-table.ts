/**
 * An io-pgtable (pgtable.ts) reached through iommu_map's page-size selection — drivers/iommu/iommu.c
 * __iommu_map / __iommu_unmap calling iommu_pgsize (kernel-model.md §5.1, model/core/pgsize.ts) — so
 * that an aligned 2 MiB buffer is one block PTE, as in the kernel, although the DMA layer model
 * (model/dma/dma-iommu.ts) asks for 4 KiB pages only. Used for the system PASID's DMA domain and for the
 * kernel's own table (its direct map in blocks where aligned; vmalloc stays in 4 KiB pages).
 *
 * Simplification: page sizes 4 KiB and 2 MiB (the modelled memory is far below 1 GiB).
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { iommuPgsize } from '../core/pgsize.js';
import { blockSize, IoPgtable, LEVELS, levelIndex, SZ_2M, SZ_4K } from '../pgtable.js';

const PGSIZES = [SZ_4K, SZ_2M];

export class PgsizeTable extends IoPgtable {
  /** map_pages as iommu_map drives it: the largest page size iova, paddr and the length allow. */
  override *mapPages(
    cpu: Cpu,
    iova: number,
    paddr: number,
    pgsize: number,
    pgcount: number,
  ): Op<{ ret: number; mapped: number }> {
    if (pgsize !== SZ_4K) return yield* super.mapPages(cpu, iova, paddr, pgsize, pgcount);
    const pick = iommuPgsize(PGSIZES, iova, paddr, pgcount * SZ_4K);
    return yield* super.mapPages(cpu, iova, paddr, pick.pgsize, pick.count);
  }

  /** unmap_pages as iommu_unmap drives it: iommu_pgsize(iova, iova, size). */
  override *unmapPages(cpu: Cpu, iova: number, pgsize: number, pgcount: number): Op<number> {
    if (pgsize !== SZ_4K) return yield* super.unmapPages(cpu, iova, pgsize, pgcount);
    const pick = iommuPgsize(PGSIZES, iova, iova, pgcount * SZ_4K);
    return yield* super.unmapPages(cpu, iova, pick.pgsize, pick.count);
  }

  /** How many leaf PTEs mapping `pages` pages at iova -> paddr takes (the cost model's PTE count). */
  static leaves(iova: number, paddr: number, pages: number): number {
    let n = 0;
    for (let left = pages * SZ_4K; left > 0; n++) {
      const pick = iommuPgsize(PGSIZES, iova, paddr, left);
      const bytes = pick.pgsize * pick.count;
      iova += bytes;
      paddr += bytes;
      left -= bytes;
      n += pick.count - 1;
    }
    return n;
  }

  /**
   * The size of the leaf that maps `iova` (4 KiB page or 2 MiB block), or 0 when nothing does: the
   * hardware walk's result, which is what one IOTLB entry covers. Descriptor decoding as pgtable.ts
   * (type bits 1 = block, 3 = table or page; frame above bit 2). No scheduling point.
   */
  leafSize(i32: Int32Array, iova: number): number {
    let table = IoPgtable.ROOT_PAGE;
    for (let lvl = 0; lvl < LEVELS; lvl++) {
      const pte = Atomics.load(i32, this.pool.entry(table, levelIndex(iova, lvl)));
      if (pte === 0) return 0;
      const type = pte & 3;
      if (lvl === LEVELS - 1) return type === 3 ? SZ_4K : 0;
      if (type === 1) return blockSize(lvl);
      table = pte >>> 2;
    }
    return 0;
  }
}
