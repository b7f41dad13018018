/**
 * The scheduling points (site labels) each model component yields, declared statically for coverage
 * (engine/coverage.ts): each scenario's `sites` is the union of the components it builds. `#` stands for
 * an instance number (a vCPU, a size class, a domain, an endpoint), so a list does not depend on the
 * parameters. A component that gains a scheduling point adds its label here; test/coverage.test.ts runs
 * every variant and fails on a label no list declares.
 */
import type { SiteExemption } from '../engine/coverage.js';
import type { Site } from '../engine/site.js';

/** A spinlock's two sites (engine/sync.ts lockRef). */
export const lockSites = (name: string): Site[] => [`lock ${name}`, `unlock ${name}`];

/** io-pgtable-arm (model/pgtable.ts): L1 leaves are 1 GiB blocks, L2 leaves 2 MiB blocks, L3 4 KiB pages. */
export const PGTABLE_SITES: readonly Site[] = [
  'L0 pte read',
  'L1 pte read',
  'L2 pte read',
  'L3 pte read',
  'L0 install_table cmpxchg',
  'L1 install_table cmpxchg',
  'L2 install_table cmpxchg',
  'L1 leaf write',
  'L2 leaf write',
  'L3 leaf write',
  'L1 pte clear',
  'L2 pte clear',
  'L3 pte clear',
  'alloc_page',
  'free_page',
];
export const PGTABLE_1G_SITES: readonly Site[] = ['L1 leaf write', 'L1 pte clear'];
export const PGTABLE_2M_SITES: readonly Site[] = ['L2 leaf write', 'L2 pte clear'];

/** The racy-install variant's plain store (model/pgtable-variants.ts). */
export const PGTABLE_RACY_SITES: readonly Site[] = [0, 1, 2].map((l) => `L${l} install_table store`);

/**
 * The IOVA rbtree under iova_rbtree_lock (model/iova/iova-tree.ts). Its 'rbtree reserve_iova' site is not
 * declared: no op calls reserveIova (the reserved window is set up by init, outside any scheduler).
 */
export const IOVA_TREE_SITES: readonly Site[] = [
  'rbtree alloc_iova',
  // alloc_iova_fast's retry after the one-shot rcache flush: the IOVA space was full (a @small-space regime).
  'rbtree alloc_iova (retry after the rcache flush)',
  'rbtree free_iova',
  ...lockSites('iova_rbtree_lock'),
];

/** The per-CPU range caches and the depot (model/iova/rcache.ts, magazine.ts). */
export const RCACHE_SITES: readonly Site[] = [
  'rcache[#] read loaded/prev',
  'rcache[#] swap loaded/prev',
  'rcache[#] iova_depot_pop',
  'rcache[#] magazine_pop scan',
  'rcache[#] magazine_pop write',
  'rcache[#] iova_depot_push',
  'rcache[#] install new loaded',
  'rcache[#] magazine_push',
  'rcache[#] read remote loaded/prev',
  'rcache[#] magazine_free_pfns (rbtree erase)',
  'rcache[#] magazine size = 0',
  'iova_magazine_alloc',
  'iova_magazine_free',
  ...lockSites('cpu_rcache[#]@cpu#.lock'),
  ...lockSites('rcache[#].lock'),
];
/** The v6.7+ depot reclaim work (absent from the fixed 32-magazine depot). */
export const DEPOT_WORK_SITES: readonly Site[] = [
  'rcache[#] schedule_delayed_work',
  'rcache[#] depot work: pop if > num_online_cpus',
  'timer iova_depot_work[#] fires',
];
/** A magazine that fills (127 ranges freed on one CPU without allocations between): swap, depot push. */
export const RCACHE_FILL_SITES: readonly Site[] = [
  'rcache[#] swap loaded/prev',
  'rcache[#] install new loaded',
  'rcache[#] iova_depot_push',
  'iova_magazine_alloc',
  'iova_magazine_free',
];

/** Lazy-unmap flush queue (model/fq/flush-queue.ts FQ_SITES) and its timer. */
export const FQ_SITES: readonly Site[] = [
  'read fq_flush_start_cnt',
  'read fq_flush_finish_cnt',
  'atomic64_inc fq_flush_start_cnt',
  'atomic64_inc fq_flush_finish_cnt',
  'fq full?',
  // queue_iova found the ring full and flushes synchronously (fq_full).
  'fq full: atomic64_inc fq_flush_start_cnt',
  'fq entry write',
  'fq entry read',
  'fq head advance',
  'read fq_timer_on',
  'xchg fq_timer_on',
  'write fq_timer_on = 0',
  'read fq (teardown check)',
  'free fq rings',
  'mod_timer fq_timer',
  'del_timer fq_timer',
  'del_timer_sync fq_timer',
  'timer fq_timer fires',
];
export const FQ_PERCPU_LOCK: readonly Site[] = lockSites('fq[cpu#]');
export const FQ_SINGLE_LOCK: readonly Site[] = lockSites('fq');

/** The IOTLB (model/iotlb.ts); the flush lock exists only with serialised flushes. */
export const IOTLB_SITES: readonly Site[] = ['iotlb lookup', 'flush_iotlb_all', 'iotlb_sync range'];
export const IOTLB_FLUSH_LOCK: readonly Site[] = lockSites('iotlb_flush');

/** DMA buffers handed to devices (model/dma/buffers.ts). */
export const DMA_BUFFER_SITES: readonly Site[] = [
  'buffer claim',
  'dma handle publish',
  'device reads dma handle',
  'device rechecks dma handle',
];

/** Hypervisor calls, the cookie pool and the per-domain deferred list (model/core/). */
export const HYP_SITES: readonly Site[] = ['hypercall map', 'hypercall unmap'];
export const COOKIE_SITES: readonly Site[] = ['alloc_cookie_sg', 'free cookie'];
export const DEFERRED_LIST_SITES: readonly Site[] = [
  'deferred list: read count',
  'deferred list: write entry',
  'deferred list: write count',
  'deferred list: scan',
];
export const DEFERRED_LIST_LOCK: readonly Site[] = lockSites('domain_deferred_lock');

/** virtio-iommu driver, request queue and host (model/viommu/). */
export const VIOMMU_SITES: readonly Site[] = [
  'ATTACH send',
  'DETACH send',
  'replay snapshot',
  'replay: MAP send',
  'MAP queue',
  'UNMAP queue',
  'tree insert',
  'tree delete',
  'nr_endpoints == 0: no MAP',
  'nr_endpoints == 0: no UNMAP',
  'nr_endpoints == 0: no sync',
  'finalise dom# (viommu NULL?)',
  'read dom#.viommu',
  'read dom#.nr_endpoints',
  'write dom#.nr_endpoints',
  'kick',
  // __viommu_add_req found the request ring full and syncs before adding (the @full-ring regime).
  'kick (request ring full)',
  'host: ATTACH',
  'host: DETACH',
  'host: MAP',
  'host: UNMAP',
  'device DMA (host translates)',
  ...lockSites('dom#.mutex'),
  ...lockSites('dom#.mappings_lock'),
  ...lockSites('ep#.group_mutex'),
  ...lockSites('request_lock'),
];
/** The locked variant's per-domain lock (model/viommu/variants.ts). */
export const VIOMMU_DOMAIN_LOCK: readonly Site[] = lockSites('dom#.lock');

/** The system-PASID models (model/pasid/). */
export const PASID_MM_SITES: readonly Site[] = [
  '__alloc_vmap_area',
  'atomic_long_add_return vmap_lazy_nr',
  'insert_vmap_area lazy',
  'list_replace_init lazy -> purge_list',
  'atomic_long_sub vmap_lazy_nr',
  'reclaim_list_global',
  'flush_tlb_kernel_range',
  'schedule_work drain_vmap_work',
  'timer drain_vmap_work fires',
  'alloc_pages: scan free list',
  'free_pages',
  ...lockSites('vmap_purge_lock'),
  ...lockSites('vn->lazy.lock'),
  ...lockSites('free_vmap_area_lock'),
  ...lockSites('zone->lock'),
];
export const PASID_KVA_SITES: readonly Site[] = [
  'read kva refcount',
  'write kva refcount',
  ...lockSites('kva_map_lock'),
];

/** The range cache and depot work as a whole (model/iova/iova-domain.ts). */
export const IOVA_DOMAIN_SITES: readonly Site[] = [...IOVA_TREE_SITES, ...RCACHE_SITES, ...DEPOT_WORK_SITES];

/** Exemptions shared by the scenarios that use the io-pgtable or the IOVA domain as a component. */
export const NO_1G_BLOCKS: SiteExemption = {
  sites: PGTABLE_1G_SITES,
  reason: 'no mapping here is a 1 GiB block (the pgtable scenario maps them)',
};
export const NO_2M_BLOCKS: SiteExemption = {
  sites: PGTABLE_2M_SITES,
  reason: 'mappings here are a few 4 KiB pages (the pgtable and mapsg scenarios map 2 MiB blocks)',
};
export const NO_MAGAZINE_FILL: SiteExemption = {
  sites: [...RCACHE_FILL_SITES, ...DEPOT_WORK_SITES],
  reason:
    'a 127-range magazine fills only after that many frees on one CPU without allocations between, which a ' +
    'few live buffers per CPU rarely make; the iova scenario (warm start, cross-CPU frees) reaches these paths',
};
export const ALL_CACHEABLE: SiteExemption = {
  sites: ['rbtree free_iova'],
  reason:
    'every range here is cacheable (under 2^6 granules): frees go to the range cache, never straight to the rbtree',
};
export const TABLE_INSTALL_RACE: SiteExemption = {
  sites: ['free_page'],
  reason:
    'only the loser of a table-install race frees its page, and tables are installed only by the first maps ' +
    'into a region (io-pgtable never frees them); the pgtable scenario, fresh each slice, reaches it',
};

// ---------------------------------------------------------------------------------------------------
// Reachable in explore only (SiteExemption.exploreOnly): a stress-only run does not judge these; any run
// with an explore leg does. Each reason says why a short stress run cannot be relied on to get there.

/** queue_iova's full-ring flush, in every scenario that runs the flush queue with the kernel's sizes. */
export const FQ_FULL_EXPLORE_ONLY: SiteExemption = {
  sites: ['fq full: atomic64_inc fq_flush_start_cnt'],
  exploreOnly: true,
  reason:
    "stress runs the kernel's rings (256 entries per CPU, 32768 single) and fq timer (10 ms, 1000 ms), which " +
    "empties a ring long before it fills; the explore parameters' 2- and 4-entry rings fill",
};
/** The flushq scenario's queue teardown: 2 per mille of vCPU 0's ops in stress. */
export const FQ_TEARDOWN_EXPLORE_ONLY: SiteExemption = {
  sites: [
    'free fq rings',
    'del_timer fq_timer',
    'del_timer_sync fq_timer',
    'teardown: stop new dma calls',
    'teardown: resume dma calls',
    'teardown: wait for dma calls in flight',
  ],
  exploreOnly: true,
  reason:
    "stress tears the queue down on 2 per mille of vCPU 0's ops (teardownPermille): a 2 s run makes a few, " +
    'sometimes none; the explore parameters make it 100 per mille',
};
/** The single queue's timer-driven path: the kernel's 1000 ms timer and 32768-entry ring. */
export const FQ_SINGLE_TIMER_EXPLORE_ONLY: SiteExemption = {
  sites: [
    'atomic64_inc fq_flush_start_cnt',
    'atomic64_inc fq_flush_finish_cnt',
    'flush_iotlb_all',
    'fq head advance',
    'write fq_timer_on = 0',
    'read fq (teardown check)',
    'timer fq_timer fires',
    'rcache[#] magazine_pop scan',
    'rcache[#] magazine_pop write',
    'rcache[#] magazine_push',
  ],
  exploreOnly: true,
  reason:
    "the single queue frees only when its timer fires (the kernel's IOVA_SINGLE_FQ_TIMEOUT, 1000 ms) or its " +
    '32768-entry ring fills: a 2 s stress run over two parameter sets may see neither, so nothing reaches ' +
    "the flush or returns to the range caches; explore's 1 ms timer does",
};
/** The IOVA depot work: 100 ms after it is scheduled, on a model stress starts afresh every slice. */
export const DEPOT_WORK_EXPLORE_ONLY: SiteExemption = {
  sites: ['rcache[#] depot work: pop if > num_online_cpus', 'timer iova_depot_work[#] fires'],
  exploreOnly: true,
  reason:
    'the depot work comes due IOVA_DEPOT_DELAY (100 ms) after it is scheduled, and stress starts the iova ' +
    "model afresh every 10 ms slice (freshEachSlice): it never comes due there; explore's virtual time gets there",
};
/** pasid's lazy vmap purge work: the kernel's lazy_max_pages over a small vmalloc space. */
export const VMAP_DRAIN_EXPLORE_ONLY: SiteExemption = {
  sites: ['schedule_work drain_vmap_work', 'timer drain_vmap_work fires'],
  exploreOnly: true,
  reason:
    "stress runs the kernel's lazy_max_pages (fls(cpus) x 32 MiB: thousands of pages) over a 64-page vmalloc " +
    "space, so the lazy total never crosses it (a failed allocation purges instead); explore's lazyMaxPages 4 does",
};
/** pasid option 1 strict: the one-shot rcache flush of a full IOVA space. */
export const STRICT_FLUSH_EXPLORE_ONLY: SiteExemption = {
  sites: [
    'rbtree alloc_iova (retry after the rcache flush)',
    'rcache[#] read remote loaded/prev',
    'rcache[#] magazine_free_pfns (rbtree erase)',
    'rcache[#] magazine size = 0',
  ],
  exploreOnly: true,
  reason:
    'strict unmap gives each range back to the cache at once: in stress (2 vCPUs; 10 s, 7,167 ops, 28 rbtree ' +
    "allocations) the 64-page space of @small-space never filled; explore's 3 vCPUs over 16 pages of memory fill it",
};
/** The unlocked deferred list's point before each word of a list read (model/core/deferred.ts othersLook). */
export const DEFERRED_LIST_UNLOCKED_SITES: readonly Site[] = ['deferred list: read entry'];
