/**
 * The virtio-iommu model's lock classes and their order (lockdep ranks: a lock is taken only while
 * holding locks of lower rank) — kernel-model.md §4.1:
 *
 *   group->mutex (IOMMU core) < vdomain->mutex < domN.lock (the `locked` fix, variants.ts)
 *     < vdomain->mappings_lock < viommu->request_lock
 *
 * replay sends synchronous MAPs with mappings_lock held, so request_lock ranks above it.
 */
export const RANK_GROUP_MUTEX = 10;
export const RANK_DOMAIN_MUTEX = 20;
/** Plus the domain's index: the fix takes two domains' locks in index order. */
export const RANK_DOMAIN_LOCK = 30;
export const RANK_MAPPINGS_LOCK = 60;
export const RANK_REQUEST_LOCK = 70;
