/**
 * The memory of one DMA domain's iommu_dma_cookie over its life — kernel-model.md §3.1 (Cookie), §3.2
 * (mode switch), §9 #7; drivers/iommu/dma-iommu.c (struct iommu_dma_cookie, struct iova_fq) and the few
 * iommu-core and CPU-hotplug words the lifecycle paths need.
 *
 * Storage and its accessors only, no kernel functions (those are in cookie.ts and iova/lifecycle.ts).
 * A pointer the kernel dereferences is a word here (0 = NULL); an accessor that dereferences one checks
 * it and reports the fault the kernel would oops on, as the depot's storage reports an empty pop
 * (iova/depot.ts): a memory fault is something the harness sees whatever code a variant runs, so these
 * checks are the storage's, never inside a method a variant overrides.
 *
 * Words (i32 unless noted; the per-CPU rings are one per possible CPU, cache-line padded):
 *   group.mutex, cpuhp.lock      iommu_group->mutex; cpus_write_lock (the hotplug lock)
 *   users                        devices of the group bound to a driver (the model's domain refcount)
 *   start_pfn, granule           iovad->start_pfn (0 = not initialised), iovad->granule
 *   cpu_rcaches[6]               rcache->cpu_rcaches of each size bucket (0 = not allocated)
 *   cpuhp.node                   iovad->cpuhp_dead is on the CPUHP_IOMMU_IOVA_DEAD instance list
 *   fq_domain, percpu_fq         cookie->fq_domain (0 = strict), cookie->percpu_fq (0 = NULL)
 *   fq_timer_on                  cookie->fq_timer_on
 *   cpu.online, cpu.tasks        the hotpluggable CPU: online?, tasks running on it
 *   domain->type                 DMA or DMA_FQ (of the group's default domain)
 *   fq_flush_start_cnt/_finish   (i64)
 *   fq ring per CPU: lock, head, tail, mod_mask; entries: iova_pfn, pages (i32) and counter (i64)
 */
import type { Cpu, LockRef } from '../../engine/cpu.js';
import { at, atCpu, region, type Layout, type Region, type RegionSpec } from '../../engine/layout.js';
import { LOCK_WORDS, lockRef } from '../../engine/sync.js';
import { IOVA_RANGE_CACHE_MAX_SIZE } from '../iova/magazine.js';

/** lockdep ranks: group->mutex and the hotplug lock are taken before any IOVA lock (iova/locks.ts: 1..3). */
export const RANK_GROUP_MUTEX = -2;
export const RANK_CPUHP = -1;

const W_GROUP = 0;
const W_CPUHP = W_GROUP + LOCK_WORDS;
const W_USERS = W_CPUHP + LOCK_WORDS;
const W_START_PFN = W_USERS + 1;
const W_GRANULE = W_START_PFN + 1;
const W_CPU_RCACHES = W_GRANULE + 1;
const W_CPUHP_NODE = W_CPU_RCACHES + IOVA_RANGE_CACHE_MAX_SIZE;
const W_FQ_DOMAIN = W_CPUHP_NODE + 1;
const W_PERCPU_FQ = W_FQ_DOMAIN + 1;
const W_TIMER_ON = W_PERCPU_FQ + 1;
const W_ONLINE = W_TIMER_ON + 1;
const W_TASKS = W_ONLINE + 1;
const W_TYPE = W_TASKS + 1;
const COOKIE_WORDS = W_TYPE + 1;

/** Ring header: lock, head, tail, mod_mask. */
const R_HEAD = LOCK_WORDS;
const R_TAIL = LOCK_WORDS + 1;
const R_MASK = LOCK_WORDS + 2;
const R_HDR = LOCK_WORDS + 3;
/** Entry words: iova_pfn, pages. */
const E_WORDS = 2;

/** The layout must be defined for the possible CPUs (vCPUs + 1): the rings are per possible CPU. */
export function cookieRegions(fqSize: number): Record<string, RegionSpec> {
  return {
    'cookie.words': { kind: 'i32', count: COOKIE_WORDS },
    'cookie.cnt': { kind: 'i64', count: 2 },
    'fq.ring': { kind: 'i32', count: R_HDR + fqSize * E_WORDS, perCpu: true },
    'fq.counter': { kind: 'i64', count: fqSize, perCpu: true },
  };
}

export class CookieState {
  readonly groupMutex: LockRef;
  readonly cpuhpLock: LockRef;
  readonly fqLocks: readonly LockRef[];
  private readonly w: number;
  private readonly cnt: number;
  private readonly ring: Region;
  private readonly counter: Region;

  constructor(
    layout: Layout,
    /** vCPUs; CPU `cpus` is the hotpluggable one (possible CPUs: cpus + 1). */
    readonly cpus: number,
    readonly fqSize: number,
    fqLockRank: number,
  ) {
    this.w = at(region(layout, 'cookie.words'));
    this.cnt = at(region(layout, 'cookie.cnt'));
    this.ring = region(layout, 'fq.ring');
    this.counter = region(layout, 'fq.counter');
    this.groupMutex = lockRef('group->mutex', this.w + W_GROUP, RANK_GROUP_MUTEX);
    this.cpuhpLock = lockRef('cpu_hotplug_lock', this.w + W_CPUHP, RANK_CPUHP);
    this.fqLocks = Array.from({ length: cpus + 1 }, (_, c) => lockRef(`fq@cpu${c}.lock`, this.ringBase(c), fqLockRank));
  }

  /** The hotpluggable CPU's id. */
  get hotCpu(): number {
    return this.cpus;
  }
  get possibleCpus(): number {
    return this.cpus + 1;
  }

  // Plain word indices (the kernel functions read and write them through order.ts or Atomics).
  get users(): number {
    return this.w + W_USERS;
  }
  get startPfn(): number {
    return this.w + W_START_PFN;
  }
  get granule(): number {
    return this.w + W_GRANULE;
  }
  cpuRcaches(k: number): number {
    return this.w + W_CPU_RCACHES + k;
  }
  get cpuhpNode(): number {
    return this.w + W_CPUHP_NODE;
  }
  get fqDomain(): number {
    return this.w + W_FQ_DOMAIN;
  }
  get percpuFq(): number {
    return this.w + W_PERCPU_FQ;
  }
  get fqTimerOn(): number {
    return this.w + W_TIMER_ON;
  }
  get online(): number {
    return this.w + W_ONLINE;
  }
  get tasksOnHotCpu(): number {
    return this.w + W_TASKS;
  }
  /** The group's default domain->type: 0 = IOMMU_DOMAIN_DMA, 1 = IOMMU_DOMAIN_DMA_FQ. */
  get domainType(): number {
    return this.w + W_TYPE;
  }
  /** i64 index of fq_flush_start_cnt (finish: + 1). */
  get flushStart(): number {
    return this.cnt;
  }
  get flushFinish(): number {
    return this.cnt + 1;
  }

  /** i32 index of CPU c's ring (its lock word; head, tail, mod_mask follow). */
  ringBase(c: number): number {
    return atCpu(this.ring, c);
  }
  head(c: number): number {
    return this.ringBase(c) + R_HEAD;
  }
  tail(c: number): number {
    return this.ringBase(c) + R_TAIL;
  }
  modMask(c: number): number {
    return this.ringBase(c) + R_MASK;
  }
  entryPfn(c: number, idx: number): number {
    return this.ringBase(c) + R_HDR + idx * E_WORDS;
  }
  entryPages(c: number, idx: number): number {
    return this.entryPfn(c, idx) + 1;
  }
  /** i64 index of entries[idx].counter of CPU c's ring. */
  entryCounter(c: number, idx: number): number {
    return atCpu(this.counter, c) + idx;
  }

  // -------------------------------------------------------------------------------------------------
  // Dereferences the kernel makes, with the fault it would take on a NULL (harness checks)

  /**
   * `raw_cpu_ptr(cookie->percpu_fq)` followed by a use of the ring: `percpuFq` is the value the caller
   * read. NULL is the oops of an unmapper that saw fq_domain before the queues existed (FQ-NULL).
   * Returns whether the ring may be used.
   */
  derefPercpuFq(cpu: Cpu, percpuFq: number, fn: string): boolean {
    if (percpuFq !== 0) return true;
    cpu.fail('FQ-NULL', `${cpu.name} in ${fn} uses cookie->percpu_fq, which is NULL: the queues are not allocated yet`);
    return false;
  }

  /**
   * `per_cpu_ptr(rcache->cpu_rcaches, cpu)` of bucket k followed by a use: NULL (not allocated yet, or
   * freed) is the oops of a hotplug callback or an allocation that reached the range caches before
   * iova_domain_init_rcaches made them (RCACHE-NULL). Returns whether the bucket may be used.
   */
  derefCpuRcaches(cpu: Cpu, k: number, fn: string): boolean {
    if (Atomics.load(cpu.i32, this.cpuRcaches(k)) !== 0) return true;
    cpu.fail(
      'RCACHE-NULL',
      `${cpu.name} in ${fn} uses rcaches[${k}].cpu_rcaches, which is NULL: the range caches are not initialised`,
    );
    return false;
  }

  /**
   * cpuhp_state_add_instance_nocalls(CPUHP_IOMMU_IOVA_DEAD, &iovad->cpuhp_dead): an hlist_add_head of a
   * node already on the list corrupts it (CPUHP-LIST). The caller holds the hotplug lock.
   */
  cpuhpAdd(cpu: Cpu): void {
    if (Atomics.exchange(cpu.i32, this.cpuhpNode, 1) !== 0) {
      cpu.fail(
        'CPUHP-LIST',
        `${cpu.name} adds iovad->cpuhp_dead to the CPU-hotplug instance list a second time: the hlist is corrupt`,
      );
    }
  }
  /**
   * kfree(cookie), and the group's next domain gets a zeroed one (kzalloc): the cookie's words and the
   * queues' headers are cleared. A domain freed while still on the hotplug instance list is a
   * use-after-free on the next CPU-down (CPUHP-LIST). Then the harness's listener runs (the scenario
   * resets its ownership map: the IOVA space went with the domain).
   */
  freeCookie(cpu: Cpu): void {
    const i32 = cpu.i32;
    if (Atomics.load(i32, this.cpuhpNode) !== 0) {
      cpu.fail('CPUHP-LIST', `${cpu.name} frees an iova_domain that is still on the CPU-hotplug instance list`);
    }
    for (const w of [this.startPfn, this.granule, this.fqDomain, this.percpuFq, this.fqTimerOn])
      Atomics.store(i32, w, 0);
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) Atomics.store(i32, this.cpuRcaches(k), 0);
    Atomics.store(cpu.i64, this.flushStart, 0n);
    Atomics.store(cpu.i64, this.flushFinish, 0n);
    for (let c = 0; c < this.possibleCpus; c++) {
      Atomics.store(i32, this.head(c), 0);
      Atomics.store(i32, this.tail(c), 0);
      Atomics.store(i32, this.modMask(c), 0);
    }
    this.onCookieFreed?.(cpu);
  }

  /** Harness hook run by freeCookie (set by the scenario). */
  onCookieFreed: ((cpu: Cpu) => void) | undefined;

  /** cpuhp_state_remove_instance_nocalls. */
  cpuhpRemove(cpu: Cpu): void {
    Atomics.store(cpu.i32, this.cpuhpNode, 0);
  }
}
