/**
 * The iommu_map family — kernel-model.md §5.2 (IOMMU-C, NOSYNC): iommu_map_nosync with its alignment
 * check, page-size loop and unwind; iommu_sync_map; iommu_map = nosync + sync (+ unwind when the sync
 * fails); iommu_unmap / iommu_unmap_fast.
 *
 * Simplifications: one paging domain, always accepted (no domain-type / GFP checks, no iommupt
 * dispatch of 7.0); prot is not modelled; the gather is just the unmapped range.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { EINVAL } from '../pgtable.js';
import type { DomainOps } from './driver.js';
import { iommuPgsize, LPAE_PGSIZES } from './pgsize.js';

export class IommuCore {
  /** The smallest page size: the alignment every map and unmap is checked against. */
  readonly minPg: number;

  constructor(readonly ops: DomainOps, readonly pgsizes: readonly number[] = LPAE_PGSIZES) {
    this.minPg = pgsizes[0]!;
  }

  /** (iova | paddr | size) % minPg == 0, on numbers beyond 32 bits. */
  aligned(iova: number, paddr: number, size: number): boolean {
    return iova % this.minPg === 0 && paddr % this.minPg === 0 && size % this.minPg === 0;
  }

  /**
   * iommu_map_nosync: 0 or an errno. A misaligned request returns -EINVAL before touching anything; a
   * failing map_pages stops the loop and the prefix this call mapped (including what the failing call
   * itself mapped) is unmapped again.
   */
  *mapNosync(cpu: Cpu, iova: number, paddr: number, size: number): Op<number> {
    if (!this.aligned(iova, paddr, size)) return EINVAL;
    const origIova = iova;
    let left = size;
    let ret = 0;
    while (left > 0) {
      const { pgsize, count } = iommuPgsize(this.pgsizes, iova, paddr, left);
      const r = yield* this.ops.mapPages(cpu, iova, paddr, pgsize, count);
      left -= r.mapped;
      ret = r.ret;
      if (ret !== 0) break;
      iova += r.mapped;
      paddr += r.mapped;
    }
    // Undo the partially mapped prefix: a full unmap with its sync.
    if (ret !== 0) yield* this.unmap(cpu, origIova, size - left);
    return ret;
  }

  /** iommu_sync_map. */
  *syncMap(cpu: Cpu, iova: number, size: number): Op<number> {
    return yield* this.ops.iotlbSyncMap(cpu, iova, size);
  }

  /** iommu_map: nosync, then sync; a failing sync unmaps the whole range again. */
  *map(cpu: Cpu, iova: number, paddr: number, size: number): Op<number> {
    const ret = yield* this.mapNosync(cpu, iova, paddr, size);
    if (ret !== 0) return ret;
    const r = yield* this.syncMap(cpu, iova, size);
    if (r !== 0) yield* this.unmap(cpu, iova, size);
    return r;
  }

  /**
   * iommu_unmap_fast: unmap_pages in page-size chunks (iommu_pgsize with paddr = iova) until done or a
   * chunk unmaps nothing; returns the bytes unmapped (0 for a misaligned request).
   */
  *unmapFast(cpu: Cpu, iova: number, size: number): Op<number> {
    if (!this.aligned(iova, 0, size)) return 0;
    let unmapped = 0;
    while (unmapped < size) {
      const { pgsize, count } = iommuPgsize(this.pgsizes, iova + unmapped, iova + unmapped, size - unmapped);
      const n = yield* this.ops.unmapPages(cpu, iova + unmapped, pgsize, count);
      if (n === 0) break;
      unmapped += n;
    }
    return unmapped;
  }

  /** iommu_unmap: unmap_fast, then iotlb_sync of the gathered range. */
  *unmap(cpu: Cpu, iova: number, size: number): Op<number> {
    const n = yield* this.unmapFast(cpu, iova, size);
    yield* this.ops.iotlbSync(cpu, iova, n);
    return n;
  }
}
