/**
 * What a variant of scenario `lifecycle` may change (VariantDef<LifecyclePatch>.patch), and the
 * scenario's variants — kernel-model.md §3.1-§3.2, §9 #2 and §9 #7 (each variant's `source` names its
 * own): the faithful lifecycle first, then the upstream bugs of its four paths.
 *   cookie     IommuDmaCookie (dma/cookie.ts): iommuProbeDevice, iommuReleaseDevice,
 *              iommuGroupStoreTypeDmaFq, iommuDmaInitDomain, iommuDmaInitFq, iommuDmaUnmap, queueIova, ...
 *   lifecycle  IovaLifecycle (iova/lifecycle.ts): initIovaDomain, iovaDomainInitRcaches, freeIovaRcaches,
 *              putIovaDomain, iovaCpuhpDead, cpuHotplugDead
 *   iova       the IovaPatch of the iova_domain inside (iova/patch.ts: rcaches, depot, tree, domain)
 */
import type { VariantDef } from '../../engine/scenario.js';
import { CpuhpFirstLifecycle, DepotV1Lifecycle, DepotV1Rcaches } from '../iova/lifecycle-variants.js';
import type { IovaLifecycleClass } from '../iova/lifecycle.js';
import type { IovaPatch } from '../iova/patch.js';
import type { IommuDmaCookieClass } from './cookie.js';
import { FqNoWmbCookie, FqPublishEarlyCookie, InitRaceCookie } from './cookie-variants.js';

export interface LifecyclePatch {
  readonly cookie?: IommuDmaCookieClass;
  readonly lifecycle?: IovaLifecycleClass;
  readonly iova?: IovaPatch;
}

export const LIFECYCLE_VARIANTS: readonly VariantDef<LifecyclePatch>[] = [
  {
    name: 'correct',
    summary:
      'upstream: init under group->mutex (v6.10+; cookie->mutex since ac9a5d522bb8), rcaches before the hotplug ' +
      'instance (32e92d9f6f87), fq_domain published after smp_wmb(), depot drained while non-empty (v6.7)',
    expect: 'clean',
  },
  {
    name: 'init-race',
    summary:
      'before ac9a5d522bb8: two devices probing at once both see start_pfn == 0 and both initialise the ' +
      'iova_domain (rbtree reset under live ranges, range caches leaked, hotplug instance added twice)',
    expect: ['CPUHP-LIST', 'IOVA-LEAK', 'I5', 'I2', 'I3', 'I1'],
    source:
      'ac9a5d522bb8 "iommu/dma: Fix race condition during iova_domain initialization" (kernel-model.md §9 #7, INIT-RACE)',
    patch: { cookie: InitRaceCookie },
  },
  {
    name: 'fq-publish-early',
    summary:
      'the live switch to lazy mode publishes cookie->fq_domain before the flush queues exist: an unmapper ' +
      'queues on a NULL percpu_fq (a derived mutation; upstream publishes last, after smp_wmb())',
    expect: ['FQ-NULL'],
    source:
      '[derived] iommu_dma_init_fq of v5.15 "iommu: Allow enabling non-strict mode dynamically", publication moved first',
    patch: { cookie: FqPublishEarlyCookie },
  },
  {
    name: 'fq-no-wmb',
    summary:
      'the live switch to lazy mode in the kernel order but without smp_wmb() before WRITE_ONCE(fq_domain): ' +
      'clean under --memory sc; under --memory weak an unmapper sees fq_domain before percpu_fq',
    // FQ-NULL: the unmapper sees fq_domain before percpu_fq. I5: it sees both, but the ring's own
    // initialisation (head = tail = 0) lands after its first ring updates in coherence order, and the
    // timer walks the ring again from 0, freeing IOVAs twice (nothing orders those stores before fq_domain).
    expect: ['FQ-NULL', 'I5'],
    source: '[derived] issue 14 item 5: iommu_dma_init_fq (v5.15+) without its smp_wmb()',
    patch: { cookie: FqNoWmbCookie },
    memory: 'weak',
  },
  {
    name: 'cpuhp-before-rcaches',
    summary:
      'before 32e92d9f6f87: the domain joins the CPU-hotplug instance list before its range caches exist; a ' +
      'CPU going down in between drains caches that are not there',
    expect: ['RCACHE-NULL'],
    source:
      '32e92d9f6f87 "iommu/iova: Separate out rcache init" (the old init_iova_domain order); hit on 5.15.144: ' +
      'iova_cpuhp_dead -> free_cpu_cached_iovas panics in do_raw_spin_lock (stable backport request, 2025-05-27)',
    patch: { lifecycle: CpuhpFirstLifecycle },
  },
  {
    name: 'depot-v1-pop',
    summary:
      'v1 of the list depot: `while ((mag = iova_depot_pop(rcache)))` pops the empty depot that ends the loop ' +
      '(NULL dereference) in free_iova_rcaches at teardown and in free_global_cached_iovas',
    expect: ['DEPOT-POP'],
    source:
      'kernel-model.md §0 DEPOT-BUG (D. K. Srivastava, reply to "[PATCH 1/2] iommu/iova: Make the rcache depot ' +
      'scale better", 2023-08-21), §9 #2',
    patch: { lifecycle: DepotV1Lifecycle, iova: { rcaches: DepotV1Rcaches } },
    sites: ['rcaches[#] teardown: iova_depot_pop'],
  },
];
