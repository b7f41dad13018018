/**
 * Known-bug variants of the core map path models (scenario mapsg), as subclasses: the faithful code
 * in iommu-map.ts / deferred.ts carries no bug flags. Each class is one change, named after what it
 * does; the scenario lists them with their expectations (src/scenarios/mapsg.ts).
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { DeferredListDriver } from './deferred.js';
import type { Cookie } from './driver.js';
import { IommuCore } from './iommu-map.js';

/**
 * domain-list-unlocked (kernel-model.md §9 #13, §5.4): the per-domain deferred list without its lock.
 * Appends race (a lost entry), a sync by one CPU commits another's half-built runs, and an unwind
 * cancels runs a sync is committing.
 */
export class DomainListUnlockedDriver extends DeferredListDriver {
  // eslint-disable-next-line require-yield
  protected override *openWindow(): Op {
    /* no lock */
  }

  // eslint-disable-next-line require-yield
  protected override *closeWindow(): Op {
    /* no lock */
  }
}

/**
 * cookie-error-leak (RFC v2, §9 #12): `goto out_err` never consumes or frees the cookie; the unwind
 * unmaps what the hypervisor committed.
 */
export class CookieErrorLeakCore extends IommuCore {
  protected override *mapSgOutErr(
    cpu: Cpu,
    iova: number,
    mapped: number,
    cookie: Cookie | null,
    consumed: boolean,
    ret: number,
  ): Op<number> {
    if (!cookie) return yield* super.mapSgOutErr(cpu, iova, mapped, cookie, consumed, ret);
    yield* this.iommuUnmap(cpu, iova, cookie.committed);
    return ret;
  }
}

/**
 * unwind-unmapped (RFC v2, §9 #12): the error path unmaps `mapped`, which counts every run added to
 * the cookie — also those the hypervisor never committed.
 */
export class UnwindUnmappedCore extends IommuCore {
  protected override *mapSgOutErr(
    cpu: Cpu,
    iova: number,
    mapped: number,
    cookie: Cookie | null,
    consumed: boolean,
    ret: number,
  ): Op<number> {
    if (cookie && !consumed) yield* this.ops.discardCookie!(cpu, cookie);
    yield* this.iommuUnmap(cpu, iova, mapped);
    return ret;
  }
}
