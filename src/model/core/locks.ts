/**
 * Lock classes of the core map path models (scenarios mapsg and dma-iova; kernel-model.md §5.4, §7), and their order. A rank
 * orders classes for the lockdep-style check (engine/sync.ts): a lock may be taken only while every
 * lock held ranks lower. The IOVA allocator's classes (cpu_rcache < rcache < iova_rbtree_lock, ranks
 * 1..3) are the iova model's (model/iova/); none of the locks here is held while one of those is
 * taken or the other way round, so their ranks sit above them.
 *
 *   domain_deferred_lock (10)  the per-domain deferred list (deferred.ts): held from a CPU's first
 *                              map_pages to the iotlb_sync_map that empties the list; the hypercalls
 *                              made under it take no model lock.
 *   iotlb_flush (20)           the IOTLB's flush serialisation (iotlb.ts), as dma-iova's strict unmap
 *                              uses it from iotlb_sync; may nest inside domain_deferred_lock
 *                              (an unmap's iotlb_sync while the unmapping CPU's window is open).
 */
export interface LockClass {
  readonly name: string;
  readonly rank: number;
}

export const DOMAIN_DEFERRED_LOCK: LockClass = { name: 'domain_deferred_lock', rank: 10 };
export const IOTLB_FLUSH_LOCK: LockClass = { name: 'iotlb_flush', rank: 20 };
