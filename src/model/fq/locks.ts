/**
 * Lock classes of the flushq model and their order (lockdep ranks: a lock may only be taken while
 * holding locks of a lower rank), in one place — kernel-model.md §3.4 and §10.
 *
 *   fq->lock (0.5)  <  cpu_rcache->lock (1)  <  rcache->lock (2)  <  iova_rbtree_lock (3)  <  iotlb_flush (4)
 *
 * queue_iova takes fq->lock, then fq_ring_free_locked calls free_iova_fast (the range-cache and rbtree
 * locks, ranks owned by src/model/iova/locks.ts, repeated here for the reader); a full ring flushes
 * the IOTLB under fq->lock, so the flush lock (s390's serialised shadow-table flush) comes last.
 */
import { RANK_CPU_RCACHE, RANK_DEPOT, RANK_RBTREE } from '../iova/locks.js';

/** fq->lock: one per ring (per CPU, or the single queue's). */
export const RANK_FQ = 0.5;
/** The IOTLB's global flush lock (serialFlush=1), taken inside fq->lock by a full ring's flush. */
export const RANK_IOTLB_FLUSH = 4;

/** The whole order, lowest first (documentation and the lockdep test's view of this model). */
export const FLUSHQ_LOCK_ORDER: readonly (readonly [string, number])[] = [
  ['fq->lock', RANK_FQ],
  ['cpu_rcache->lock', RANK_CPU_RCACHE],
  ['rcache->lock (depot)', RANK_DEPOT],
  ['iova_rbtree_lock', RANK_RBTREE],
  ['iotlb_flush', RANK_IOTLB_FLUSH],
];
