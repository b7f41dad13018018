/**
 * Known bugs of the DMA cookie's life (kernel-model.md §9 #7, §3.2), each a subclass of IommuDmaCookie
 * (cookie.ts) overriding the one function the old or broken code changes.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { spinLock, spinUnlock } from '../../engine/sync.js';
import { COOKIE_SITES, IommuDmaCookie } from './cookie.js';
import { atomic64_set, atomic_set, READ_ONCE, WRITE_ONCE } from '../../engine/order.js';

/**
 * Before ac9a5d522bb8 "iommu/dma: Fix race condition during iova_domain initialization" (v5.19): the
 * DMA ops were set up from the driver-probe path (arch_setup_dma_ops -> iommu_setup_dma_ops) with no lock
 * around iommu_dma_init_domain, so two devices of one group probing at once can both read start_pfn == 0
 * and both run init_iova_domain and iova_domain_init_rcaches: the second resets the rbtree under the
 * first's allocations, leaks the first's range caches and adds the domain to the CPU-hotplug list twice.
 * (The fix put cookie->mutex around it; since v6.10 the core holds group->mutex, as cookie.ts does.)
 */
export class InitRaceCookie extends IommuDmaCookie {
  override *iommuProbeDevice(cpu: Cpu): Op<number> {
    const s = this.state;
    yield* spinLock(cpu, s.groupMutex);
    yield COOKIE_SITES.users;
    Atomics.add(cpu.i32, s.users, 1);
    yield* spinUnlock(cpu, s.groupMutex);
    // BUG: iommu_setup_dma_ops runs later in the probe, outside any lock.
    return yield* this.iommuDmaInitDomain(cpu);
  }
}

/**
 * iommu_dma_init_fq publishing cookie->fq_domain before the queues exist (the order the v5.15 dynamic
 * switch must not have): an unmapper that reads fq_domain in between calls queue_iova on a NULL
 * cookie->percpu_fq. A derived mutation of "iommu: Allow enabling non-strict mode dynamically".
 */
export class FqPublishEarlyCookie extends IommuDmaCookie {
  override *iommuDmaInitFq(cpu: Cpu): Op<number> {
    const s = this.state;
    yield COOKIE_SITES.readFqDomain;
    if (READ_ONCE(cpu, s.fqDomain) !== 0) return 0;
    // BUG: published first.
    yield COOKIE_SITES.publishDomain;
    WRITE_ONCE(cpu, s.fqDomain, 1);
    cpu.note('write', 'cookie->fq_domain', s.fqDomain, 1);
    yield COOKIE_SITES.initCounters;
    atomic64_set(cpu, s.flushStart, 0n);
    atomic64_set(cpu, s.flushFinish, 0n);
    yield* this.iommuDmaInitFqPercpu(cpu);
    yield COOKIE_SITES.timerSetup;
    atomic_set(cpu, s.fqTimerOn, 0);
    return 0;
  }
}

/**
 * iommu_dma_init_fq in the kernel's order but without smp_wmb() before the fq_domain store (issue 14,
 * item 5): sequentially consistent it is correct; under `--memory weak` the fq_domain store may become
 * visible before cookie->percpu_fq's, and an unmapper then queues on a NULL queue.
 */
export class FqNoWmbCookie extends IommuDmaCookie {
  override *iommuDmaInitFq(cpu: Cpu): Op<number> {
    const s = this.state;
    yield COOKIE_SITES.readFqDomain;
    if (READ_ONCE(cpu, s.fqDomain) !== 0) return 0;
    yield COOKIE_SITES.initCounters;
    atomic64_set(cpu, s.flushStart, 0n);
    atomic64_set(cpu, s.flushFinish, 0n);
    yield* this.iommuDmaInitFqPercpu(cpu);
    yield COOKIE_SITES.timerSetup;
    atomic_set(cpu, s.fqTimerOn, 0);
    yield COOKIE_SITES.publishDomain;
    // BUG: no smp_wmb() (and a plain store, which orders nothing either).
    WRITE_ONCE(cpu, s.fqDomain, 1);
    cpu.note('write', 'cookie->fq_domain', s.fqDomain, 1);
    return 0;
  }
}
