/**
 * The IOVA model's lock classes, their order, and its timers — kernel-model.md §2.3 "Lock order", §10.
 *
 * drivers/iommu/iova.c nests, from outside in:
 *   iova_cpu_rcache.lock  (per CPU and size bucket; __iova_rcache_get / __iova_rcache_insert, and the
 *                          remote drain of free_cpu_cached_iovas)
 *   iova_rcache.lock      (the bucket's depot; taken under the CPU lock to push or pop a magazine)
 *   iova_rbtree_lock      (the rbtree; iova_magazine_free_pfns takes it under either of the above)
 * The ranks below are what the engine's lockdep (engine/sync.ts) checks: a lock may only be taken while
 * every lock held has a lower rank. Two locks of one class never nest (no spin_lock_nested here).
 *
 * Timers: one delayed work per size bucket (iova_depot_work_func, v6.7+ list depot only), with the
 * timer ids 0..IOVA_RANGE_CACHE_MAX_SIZE - 1 in the scenario's timer region.
 */
import { IOVA_RANGE_CACHE_MAX_SIZE } from './magazine.js';

/** iova_cpu_rcache.lock. */
export const RANK_CPU_RCACHE = 1;
/** iova_rcache.lock (the depot). */
export const RANK_DEPOT = 2;
/** iovad->iova_rbtree_lock. */
export const RANK_RBTREE = 3;

export const cpuRcacheLockName = (cpu: number, k: number): string => `cpu_rcache[${k}]@cpu${cpu}.lock`;
export const rcacheLockName = (k: number): string => `rcache[${k}].lock`;
export const RBTREE_LOCK_NAME = 'iova_rbtree_lock';

/** Timer id of bucket k's iova_depot_work (rcache->work). */
export const iovaDepotWorkTimer = (k: number): number => k;
export const iovaDepotWorkName = (k: number): string => `iova_depot_work[${k}]`;
/** Timers an iova_domain uses (timerRegions(IOVA_TIMERS)); a scenario's own timers take ids from here up. */
export const IOVA_TIMERS = IOVA_RANGE_CACHE_MAX_SIZE;
