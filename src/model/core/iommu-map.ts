/**
 * The IOMMU core's map path — kernel-model.md §5.1-§5.4; drivers/iommu/iommu.c: iommu_pgsize,
 * iommu_map_nosync (was __iommu_map), iommu_sync_map, iommu_map, iommu_unmap_fast / iommu_unmap
 * (__iommu_unmap), iommu_map_sg — with the deferred-cookie path of the map_sg RFC (MAPSG-RFC, §5.4)
 * taken when the driver provides the cookie ops, its error path fixed (release the cookie, unmap
 * exactly what the hypervisor committed). The RFC's own error path (§9 #12) is in variants.ts.
 *
 * map_sg's loop runs nents + 1 times: the extra "sentinel" pass sees the last element again, which
 * breaks the run (p != start + len) and maps it — unless the last element has length 0 and continues
 * the run, in which case the run is never mapped and the caller sees a short count (§9 #18, reproduced
 * as is). Physically contiguous elements coalesce into one run; each run is one iommu_map_nosync (or,
 * with a cookie, the same alignment check and iommu_pgsize loop feeding add_deferred_map_sg), and the
 * whole list gets exactly one iommu_sync_map on success.
 *
 * Every method named after a kernel function is there to be overridden by a patch (a subclass given
 * as MapsgPatch.core). Nothing here checks anything: the checkers sit in the harness's ops dispatch
 * (driver.ts countSyncMaps), the hypervisor (hyp.ts), the cookie pool and the op programs.
 *
 * Simplifications: one paging domain, always accepted (no domain-type / GFP checks, no iommupt
 * dispatch of 7.0); prot is not modelled; the gather is just the unmapped range; no P2P bus-address
 * elements in a scatterlist (the kernel skips them in the loop).
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { EINVAL, ENOMEM } from '../pgtable.js';
import type { Cookie, DomainOps } from './driver.js';
import { iommuPgsize, LPAE_PGSIZES, type Pgsize } from './pgsize.js';

/** One scatterlist element. */
export interface SgEntry {
  readonly phys: number;
  readonly length: number;
}

export type IommuCoreClass = new (ops: DomainOps, pgsizes?: readonly number[]) => IommuCore;

export class IommuCore {
  /** The smallest page size: the alignment every map and unmap is checked against. */
  readonly minPg: number;

  constructor(
    readonly ops: DomainOps,
    readonly pgsizes: readonly number[] = LPAE_PGSIZES,
  ) {
    this.minPg = pgsizes[0]!;
  }

  /** (iova | paddr | size) % minPg == 0, on numbers beyond 32 bits. */
  aligned(iova: number, paddr: number, size: number): boolean {
    return iova % this.minPg === 0 && paddr % this.minPg === 0 && size % this.minPg === 0;
  }

  /** iommu_pgsize (pgsize.ts): the page size and count for the next map_pages / unmap_pages. */
  iommuPgsize(iova: number, paddr: number, size: number): Pgsize {
    return iommuPgsize(this.pgsizes, iova, paddr, size);
  }

  /**
   * iommu_map_nosync: 0 or an errno. A misaligned request returns -EINVAL before touching anything; a
   * failing map_pages stops the loop and the prefix this call mapped (including what the failing call
   * itself mapped) is unmapped again.
   */
  *iommuMapNosync(cpu: Cpu, iova: number, paddr: number, size: number): Op<number> {
    if (!this.aligned(iova, paddr, size)) return EINVAL;
    const origIova = iova;
    let left = size;
    let ret = 0;
    while (left > 0) {
      const { pgsize, count } = this.iommuPgsize(iova, paddr, left);
      const r = yield* this.ops.mapPages(cpu, iova, paddr, pgsize, count);
      left -= r.mapped;
      ret = r.ret;
      if (ret !== 0) break;
      iova += r.mapped;
      paddr += r.mapped;
    }
    // Undo the partially mapped prefix: a full unmap with its sync.
    if (ret !== 0) yield* this.iommuUnmap(cpu, origIova, size - left);
    return ret;
  }

  /** iommu_sync_map. */
  *iommuSyncMap(cpu: Cpu, iova: number, size: number): Op<number> {
    return yield* this.ops.iotlbSyncMap(cpu, iova, size);
  }

  /** iommu_map: nosync, then sync; a failing sync unmaps the whole range again. */
  *iommuMap(cpu: Cpu, iova: number, paddr: number, size: number): Op<number> {
    const ret = yield* this.iommuMapNosync(cpu, iova, paddr, size);
    if (ret !== 0) return ret;
    const r = yield* this.iommuSyncMap(cpu, iova, size);
    if (r !== 0) yield* this.iommuUnmap(cpu, iova, size);
    return r;
  }

  /**
   * iommu_unmap_fast (__iommu_unmap): unmap_pages in page-size chunks (iommu_pgsize with paddr = iova)
   * until done or a chunk unmaps nothing; returns the bytes unmapped (0 for a misaligned request).
   */
  *iommuUnmapFast(cpu: Cpu, iova: number, size: number): Op<number> {
    if (!this.aligned(iova, 0, size)) return 0;
    let unmapped = 0;
    while (unmapped < size) {
      const { pgsize, count } = this.iommuPgsize(iova + unmapped, iova + unmapped, size - unmapped);
      const n = yield* this.ops.unmapPages(cpu, iova + unmapped, pgsize, count);
      if (n === 0) break;
      unmapped += n;
    }
    return unmapped;
  }

  /** iommu_unmap: unmap_fast, then iotlb_sync of the gathered range. */
  *iommuUnmap(cpu: Cpu, iova: number, size: number): Op<number> {
    const n = yield* this.iommuUnmapFast(cpu, iova, size);
    yield* this.ops.iotlbSync(cpu, iova, n);
    return n;
  }

  /**
   * iommu_map_sg: the bytes mapped, or a negative errno (nothing of this call left mapped). With a
   * driver that has the cookie ops, every run goes into one cookie (alloc_cookie_sg before the loop,
   * add_deferred_map_sg per run, consume_deferred_map_sg after it), then the one iommu_sync_map.
   */
  *iommuMapSg(cpu: Cpu, iova: number, sg: readonly SgEntry[]): Op<number> {
    const nents = sg.length;
    let cookie: Cookie | null = null;
    if (this.ops.allocCookieSg) {
      cookie = yield* this.ops.allocCookieSg(cpu, iova);
      if (!cookie) return ENOMEM;
    }
    let len = 0;
    let start = 0;
    let mapped = 0;
    let ret = 0;
    let i = 0;
    let s = sg[0]!;
    while (i <= nents) {
      const p = s.phys;
      if (len && p !== start + len) {
        ret = cookie
          ? yield* this.addDeferredRun(cpu, cookie, iova + mapped, start, len)
          : yield* this.iommuMapNosync(cpu, iova + mapped, start, len);
        if (ret !== 0) return yield* this.mapSgOutErr(cpu, iova, mapped, cookie, false, ret);
        mapped += len;
        len = 0;
      }
      if (len) len += s.length;
      else {
        start = p;
        len = s.length;
      }
      if (++i < nents) s = sg[i]!;
    }
    if (cookie) {
      ret = yield* this.ops.consumeDeferredMapSg!(cpu, cookie);
      if (ret !== 0) return yield* this.mapSgOutErr(cpu, iova, mapped, cookie, true, ret);
    }
    ret = yield* this.iommuSyncMap(cpu, iova, mapped);
    if (ret !== 0) return yield* this.mapSgOutErr(cpu, iova, mapped, null, false, ret);
    return mapped;
  }

  /**
   * One run through the cookie: the same alignment check and iommu_pgsize loop as iommu_map_nosync,
   * each piece handed to add_deferred_map_sg.
   */
  protected *addDeferredRun(cpu: Cpu, c: Cookie, iova: number, paddr: number, size: number): Op<number> {
    if (!this.aligned(iova, paddr, size)) return EINVAL;
    let left = size;
    while (left > 0) {
      const { pgsize, count } = this.iommuPgsize(iova, paddr, left);
      const ret = yield* this.ops.addDeferredMapSg!(cpu, c, paddr, pgsize, count);
      if (ret !== 0) return ret;
      iova += pgsize * count;
      paddr += pgsize * count;
      left -= pgsize * count;
    }
    return 0;
  }

  /**
   * map_sg's `out_err`: release the cookie if it is still held (consumed = consume already freed it),
   * and unmap what this call got mapped — `mapped` without a cookie (the failing run already undid its
   * own prefix), what the hypervisor committed with one. The unmap is unconditional, as in the kernel
   * (iommu_unmap of 0 bytes still syncs: a deferred-list driver ends its window there).
   */
  protected *mapSgOutErr(
    cpu: Cpu,
    iova: number,
    mapped: number,
    cookie: Cookie | null,
    consumed: boolean,
    ret: number,
  ): Op<number> {
    let bytes = mapped;
    if (cookie) bytes = consumed ? cookie.committed : yield* this.ops.discardCookie!(cpu, cookie);
    yield* this.iommuUnmap(cpu, iova, bytes);
    return ret;
  }
}
