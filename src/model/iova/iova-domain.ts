/**
 * An iova_domain: the rbtree allocator (iova-tree.ts), its range caches (rcache.ts) and the entry points
 * alloc_iova_fast / free_iova_fast — kernel-model.md §2.1-§2.3 (IOVA-NEW), drivers/iommu/iova.c.
 *
 * The faithful mechanism and nothing else: no checker calls. The harness hands ranges out and takes
 * them back through CheckedIovaDomain (checked-domain.ts), which watches what these methods return and
 * are given. A patch subclasses IovaDomain (IovaPatch.domain) to change alloc_iova_fast or
 * free_iova_fast; the tree and the caches are reached through `tree` and `rcache`, built from the
 * patch's classes by newIovaDomain.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import type { RegionSpec } from '../../engine/layout.js';
import { timerRegions } from '../../engine/timer.js';
import { iovaTreeRegions, SITE_ALLOC_RETRY, type IovaGeometry, type IovaTree } from './iova-tree.js';
import { IOVA_TIMERS } from './locks.js';
import { IOVA_MAG_SIZE, IOVA_RANGE_CACHE_MAX_SIZE, magazinePoolSize } from './magazine.js';
import { orderBase2, rcacheRegions, type IovaRcaches, type RcacheOptions } from './rcache.js';
import { shadowRegions } from './shadow.js';

export interface IovaDomainOptions extends IovaGeometry, RcacheOptions {
  readonly cpus: number;
  /** Online shadow checks (off only for benchmarks: they cost a compare-and-swap per granule). */
  readonly checks: boolean;
  /** reserve_iova a window of this many pfns just below dma32Pfn (a PCI hole below 4 GiB), 0 = none. */
  readonly resvPfns: number;
  /** Start warm: cpu0's bucket-0 `loaded` and `prev` full, and this many full bucket-0 depot magazines. */
  readonly warm: boolean;
  readonly warmDepot: number;
}

/** Pfns the warm start takes: two full magazines on cpu0 plus the depot's, one granule each. */
export function warmPfns(o: Pick<IovaDomainOptions, 'warm' | 'warmDepot'>): number {
  return o.warm ? (2 + o.warmDepot) * IOVA_MAG_SIZE : 0;
}

/** The domain's shared memory, its checker's shadow map, its timers, and whatever the patch (IovaPatch) adds. */
export function iovaDomainRegions(
  o: IovaDomainOptions,
  patch: { readonly regions?: (o: IovaDomainOptions) => Record<string, RegionSpec> } = {},
): Record<string, RegionSpec> {
  return {
    ...iovaTreeRegions(o),
    ...rcacheRegions(o.cpus, magazinePoolSize(o.cpus, o.spacePfns)),
    ...shadowRegions(o.spacePfns),
    ...timerRegions(IOVA_TIMERS),
    ...patch.regions?.(o),
  };
}

/** roundup_pow_of_two. */
export const roundupPowOfTwo = (x: number): number => 1 << orderBase2(x);

export class IovaDomain {
  constructor(
    readonly o: IovaDomainOptions,
    readonly tree: IovaTree,
    readonly rcache: IovaRcaches,
  ) {}

  /** init_iova_domain + iova_domain_init_rcaches. */
  init(i32: Int32Array): void {
    this.tree.init(i32);
    this.rcache.init(i32);
  }

  /**
   * alloc_iova_fast(size, limit_pfn, flush_rcache): the first pfn of the range, or 0 (ENOMEM).
   * Cacheable sizes are rounded up to a power of two: "freeing non-power-of-two-sized allocations back
   * into the IOVA caches will come back to bite us badly" (the order of the unadjusted size still
   * matches on the free).
   */
  *allocIovaFast(cpu: Cpu, size: number, limitPfn: number, flushRcache: boolean): Op<number> {
    if (size < 1 << (IOVA_RANGE_CACHE_MAX_SIZE - 1)) size = roundupPowOfTwo(size);
    // iova_rcache_get(iovad, size, limit_pfn + 1)
    const k = orderBase2(size);
    if (k < IOVA_RANGE_CACHE_MAX_SIZE) {
      const pfn = yield* this.rcache.iovaRcacheGet(cpu, k, limitPfn + 1 - size);
      if (pfn !== 0) return pfn;
    }
    for (let retry = false; ; retry = true) {
      const pfn = yield* this.tree.allocIova(cpu, size, limitPfn, true, retry ? SITE_ALLOC_RETRY : undefined);
      if (pfn >= 0) return pfn;
      if (!flushRcache) return 0;
      // Try replenishing IOVAs by flushing the rcaches: every CPU's, then every depot. Only once.
      flushRcache = false;
      cpu.checker.count('IOVA-FLUSH'); // a statistic (ACCEPTABLE), not a check
      for (let c = 0; c < this.o.cpus; c++) yield* this.rcache.freeCpuCachedIovas(cpu, c);
      yield* this.rcache.freeGlobalCachedIovas(cpu);
    }
  }

  /** free_iova_fast(pfn, size): into this CPU's cache (iova_rcache_insert), else free_iova. */
  *freeIovaFast(cpu: Cpu, pfn: number, size: number): Op {
    const k = orderBase2(size);
    if (k < IOVA_RANGE_CACHE_MAX_SIZE && (yield* this.rcache.iovaRcacheInsert(cpu, k, pfn))) return;
    yield* this.tree.freeIova(cpu, pfn);
  }

  /** The size alloc_iova_fast allocates for a request (what a consumer's checks may assume it got). */
  allocSize(size: number): number {
    return size < 1 << (IOVA_RANGE_CACHE_MAX_SIZE - 1) ? roundupPowOfTwo(size) : size;
  }
}
