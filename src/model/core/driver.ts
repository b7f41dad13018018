/**
 * The IOMMU driver below the core map path, as pKVM's SMMUv3 driver is — kernel-model.md §5.2 (the
 * domain ops the core calls: map_pages, unmap_pages, iotlb_sync_map, iotlb_sync) and §5.4 (MAPSG-RFC's
 * three cookie ops, which a driver may or may not provide). Every driver call into the page table goes
 * through the hypervisor (hyp.ts).
 *
 * A driver class is what a mapsg variant swaps (MapsgPatch.driver); every driver class is built from
 * one DriverEnv, so a user's subclass needs no constructor of its own.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import type { Layout } from '../../engine/layout.js';
import type { CookiePool } from './cookie-pool.js';
import type { CallCtx, Hyp, MapEntry } from './hyp.js';

/** A map_sg cookie (RFC v2): its pool slot and the runs not yet handed to the hypervisor. */
export interface Cookie {
  readonly id: number;
  /** Next IOVA the cookie will place a run at (runs arrive in IOVA order). */
  iova: number;
  readonly entries: MapEntry[];
  /** Bytes the hypervisor has committed so far (early flushes, and consume). */
  committed: number;
  /** Bytes added (committed or not). */
  added: number;
}

/** Domain ops the core calls (struct iommu_domain_ops). */
export interface DomainOps {
  /** map_pages: returns 0 or an errno, and the bytes mapped (also on error). */
  mapPages(cpu: Cpu, iova: number, paddr: number, pgsize: number, pgcount: number): Op<{ ret: number; mapped: number }>;
  /** unmap_pages: bytes unmapped (0 when nothing was mapped at iova). */
  unmapPages(cpu: Cpu, iova: number, pgsize: number, pgcount: number): Op<number>;
  /** iotlb_sync_map (since ~v6.7 it may fail). */
  iotlbSyncMap(cpu: Cpu, iova: number, size: number): Op<number>;
  /** iotlb_sync after an unmap (the gather's range). */
  iotlbSync(cpu: Cpu, iova: number, size: number): Op;
  /** RFC: alloc_cookie_sg(iova, prot, nents, gfp); null = -ENOMEM. A driver without it maps per run. */
  allocCookieSg?(cpu: Cpu, iova: number): Op<Cookie | null>;
  /** RFC: add_deferred_map_sg(cookie, paddr, pgsize, pgcount). */
  addDeferredMapSg?(cpu: Cpu, c: Cookie, paddr: number, pgsize: number, pgcount: number): Op<number>;
  /** RFC: consume_deferred_map_sg(cookie): hand over what is left, release the cookie. */
  consumeDeferredMapSg?(cpu: Cpu, c: Cookie): Op<number>;
  /** The fixed error path's release of a cookie (not in the RFC): drop what was never handed over; bytes committed. */
  discardCookie?(cpu: Cpu, c: Cookie): Op<number>;
}

/** Everything a driver class is built from. */
export interface DriverEnv {
  readonly layout: Layout;
  readonly hyp: Hyp;
  readonly cpus: number;
  /** Cookie drivers: runs a cookie's buffer holds before an early flush to the hypervisor. */
  readonly cookieEntries: number;
  /** Cookie drivers: where cookies come from (the harness's accounting is in it). */
  readonly cookies?: CookiePool;
  /** Deferred-list drivers: entries one list holds. */
  readonly listCapacity: number;
}

export type DriverClass = new (env: DriverEnv) => DomainOps;

/**
 * Today's pKVM driver: every map_pages and unmap_pages is its own hypercall; iotlb_sync_map has nothing
 * to do (the hypercall already made the mapping live).
 */
export class PerCallDriver implements DomainOps {
  protected readonly hyp: Hyp;

  constructor(protected readonly env: DriverEnv) {
    this.hyp = env.hyp;
  }

  *mapPages(
    cpu: Cpu,
    iova: number,
    paddr: number,
    pgsize: number,
    pgcount: number,
  ): Op<{ ret: number; mapped: number }> {
    const r = yield* this.hyp.map(cpu, [{ iova, paddr, pgsize, pgcount }]);
    return { ret: r.ret, mapped: r.bytes };
  }

  *unmapPages(cpu: Cpu, iova: number, pgsize: number, pgcount: number): Op<number> {
    return yield* this.hyp.unmap(cpu, iova, pgsize, pgsize * pgcount);
  }

  // eslint-disable-next-line require-yield
  *iotlbSyncMap(): Op<number> {
    return 0;
  }

  *iotlbSync(): Op {
    /* invalidation is part of the unmap hypercall */
  }
}

/**
 * The harness's ops dispatch (domain->ops as the core sees them): forwards every op to the driver and
 * counts iotlb_sync_map calls per vCPU in its CallCtx, outside any driver or core method a variant may
 * override. Cookie ops are forwarded only when the driver has them (the core checks for them).
 */
export function countSyncMaps(d: DomainOps, ctx: readonly CallCtx[]): DomainOps {
  const ops: DomainOps = {
    mapPages: (cpu, iova, paddr, pgsize, pgcount) => d.mapPages(cpu, iova, paddr, pgsize, pgcount),
    unmapPages: (cpu, iova, pgsize, pgcount) => d.unmapPages(cpu, iova, pgsize, pgcount),
    iotlbSyncMap: (cpu, iova, size) => {
      ctx[cpu.id]!.syncMaps++;
      return d.iotlbSyncMap(cpu, iova, size);
    },
    iotlbSync: (cpu, iova, size) => d.iotlbSync(cpu, iova, size),
  };
  if (d.allocCookieSg) ops.allocCookieSg = (cpu, iova) => d.allocCookieSg!(cpu, iova);
  if (d.addDeferredMapSg) ops.addDeferredMapSg = (cpu, c, paddr, pg, n) => d.addDeferredMapSg!(cpu, c, paddr, pg, n);
  if (d.consumeDeferredMapSg) ops.consumeDeferredMapSg = (cpu, c) => d.consumeDeferredMapSg!(cpu, c);
  if (d.discardCookie) ops.discardCookie = (cpu, c) => d.discardCookie!(cpu, c);
  return ops;
}
