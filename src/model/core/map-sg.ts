/**
 * iommu_map_sg — kernel-model.md §5.3 (IOMMU-C, NOSYNC) with the deferred-cookie path of §5.4
 * (MAPSG-RFC), and the RFC's error-path defects of §9 #12 as switches.
 *
 * The loop runs nents + 1 times: the extra "sentinel" pass sees the last element again, which breaks
 * the run (p != start + len) and maps it — unless the last element has length 0 and continues the run,
 * in which case the run is never mapped and the caller sees a short count (§9 #18, reproduced as is).
 * Physically contiguous elements coalesce into one run; each run is one iommu_map_nosync (or, with a
 * cookie, the same alignment check and iommu_pgsize loop feeding add_deferred_map_sg), and the whole
 * list gets exactly one iommu_sync_map on success.
 *
 * Simplification: no P2P bus-address elements (the kernel skips them in the loop).
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { EINVAL } from '../pgtable.js';
import type { Cookie, CookieDriver } from './deferred.js';
import type { IommuCore } from './iommu-map.js';
import { iommuPgsize } from './pgsize.js';

export interface SgEntry {
  readonly phys: number;
  readonly length: number;
}

/** How the cookie path handles an error (the RFC v2 defects of §9 #12, one at a time). */
export type CookieErrorPath =
  /** release the cookie, unmap exactly what the hypervisor committed */
  | 'correct'
  /** `goto out_err` never consumes or frees the cookie */
  | 'leak-cookie'
  /** iommu_unmap(iova, mapped): also "unmaps" runs that were only added to the cookie */
  | 'unmap-added';

export interface MapSgCookie {
  readonly driver: CookieDriver;
  readonly errorPath: CookieErrorPath;
  /** Checker: the cookie this call allocated (to see whether it was released). */
  onCookie?(cpu: Cpu, c: Cookie): void;
}

/** Add one run through the cookie: the same checks and page-size loop as iommu_map_nosync. */
function* addRun(core: IommuCore, d: CookieDriver, cpu: Cpu, c: Cookie, iova: number, paddr: number, size: number): Op<number> {
  if (!core.aligned(iova, paddr, size)) return EINVAL;
  let left = size;
  while (left > 0) {
    const { pgsize, count } = iommuPgsize(core.pgsizes, iova, paddr, left);
    const ret = yield* d.addDeferredMapSg(cpu, c, paddr, pgsize, count);
    if (ret !== 0) return ret;
    iova += pgsize * count;
    paddr += pgsize * count;
    left -= pgsize * count;
  }
  return 0;
}

/** iommu_map_sg: the bytes mapped, or a negative errno (nothing of this call left mapped). */
export function* iommuMapSg(core: IommuCore, cpu: Cpu, iova: number, sg: readonly SgEntry[], cookieOps?: MapSgCookie): Op<number> {
  const nents = sg.length;
  let cookie: Cookie | null = null;
  if (cookieOps) {
    cookie = yield* cookieOps.driver.allocCookieSg(cpu, iova);
    if (!cookie) return -12; // -ENOMEM
    cookieOps.onCookie?.(cpu, cookie);
  }
  let len = 0;
  let start = 0;
  let mapped = 0;
  let ret = 0;
  let i = 0;
  let s = sg[0]!;
  error: {
    while (i <= nents) {
      const p = s.phys;
      if (len && p !== start + len) {
        ret = cookie
          ? yield* addRun(core, cookieOps!.driver, cpu, cookie, iova + mapped, start, len)
          : yield* core.mapNosync(cpu, iova + mapped, start, len);
        if (ret !== 0) break error;
        mapped += len;
        len = 0;
      }
      if (len) len += s.length;
      else { start = p; len = s.length; }
      if (++i < nents) s = sg[i]!;
    }
    if (cookie) {
      ret = yield* cookieOps!.driver.consumeDeferredMapSg(cpu, cookie);
      if (ret !== 0) { const done = cookie.committed; cookie = null; return yield* unwind(core, cpu, iova, cookieOps!.errorPath === 'unmap-added' ? mapped : done, ret); }
      cookie = null;
    }
    ret = yield* core.syncMap(cpu, iova, mapped);
    if (ret !== 0) break error;
    return mapped;
  }
  // out_err
  if (cookie) {
    const path = cookieOps!.errorPath;
    if (path === 'leak-cookie') return yield* unwind(core, cpu, iova, cookie.committed, ret);
    const committed = yield* cookieOps!.driver.discardCookie(cpu, cookie);
    return yield* unwind(core, cpu, iova, path === 'unmap-added' ? mapped : committed, ret);
  }
  // The failing run already undid its own prefix.
  return yield* unwind(core, cpu, iova, mapped, ret);
}

function* unwind(core: IommuCore, cpu: Cpu, iova: number, bytes: number, ret: number): Op<number> {
  // Unconditional, as in the kernel (iommu_unmap of 0 bytes still syncs: a deferred-list driver ends its window there).
  yield* core.unmap(cpu, iova, bytes);
  return ret;
}
