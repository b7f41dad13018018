/**
 * An iova_domain's life: init, CPU-hotplug drain, teardown — kernel-model.md §2.1, §2.3, §9 #2;
 * drivers/iommu/iova.c (v6.7+): init_iova_domain, iova_domain_init_rcaches, iova_cpuhp_dead,
 * free_cpu_cached_iovas (via IovaRcaches), iova_domain_free_rcaches, free_iova_rcaches, put_iova_domain.
 *
 * The faithful mechanism, no bug flags; the known bugs are subclasses in lifecycle-variants.ts. The words
 * these functions publish (iovad->start_pfn, rcache->cpu_rcaches, the hotplug instance node) live in the
 * cookie's storage (dma/cookie-state.ts), whose accessors report a NULL dereference.
 *
 * Order that matters (and that 32e92d9f6f87 "iommu/iova: Separate out rcache init" established):
 * iova_domain_init_rcaches allocates every bucket's per-CPU caches first and adds the domain to the
 * CPUHP_IOMMU_IOVA_DEAD instance list last; teardown removes it from the list first. So a CPU's dead
 * callback only ever sees complete range caches.
 *
 * Simplifications, marked at their spot: init_iova_domain is one scheduling point (the rbtree reset,
 * the anchor, granule and start_pfn); a bucket's cpu_rcaches pointer is published after its magazines
 * are installed (the kernel stores the pointer to zeroed per-CPU memory first and fills it in; nothing
 * reaches the bucket in between in the faithful order); lock re-initialisation (spin_lock_init) is not
 * modelled; put_iova_domain's freeing of every rbtree node is left to the next init_iova_domain (the
 * tree's storage is reset there), and the cookie's storage is zeroed, as a fresh kzalloc'd cookie.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { spinLock, spinUnlock } from '../../engine/sync.js';
import type { CookieState } from '../dma/cookie-state.js';
import type { IovaTree } from './iova-tree.js';
import { IOVA_RANGE_CACHE_MAX_SIZE } from './magazine.js';
import { C_LOADED, C_PREV, type IovaRcaches } from './rcache.js';

const SITE_INIT = 'init_iova_domain';
const SITE_ADD = 'cpuhp_state_add_instance_nocalls';
const SITE_REMOVE = 'cpuhp_state_remove_instance_nocalls';
const SITE_PUT = 'put_iova_domain: free every iova';
const SITE_INSTANCE = 'read cpuhp instance list';
const BUCKET_SITES = Array.from({ length: IOVA_RANGE_CACHE_MAX_SIZE }, (_, k) => ({
  publish: `rcaches[${k}].cpu_rcaches = alloc_percpu`,
  read: `read rcaches[${k}].cpu_rcaches`,
  free: `free_percpu rcaches[${k}].cpu_rcaches`,
  depot: `rcaches[${k}] teardown: read depot`,
}));

/** A class a lifecycle patch may name (IovaLifecycle or a subclass). */
export type IovaLifecycleClass = new (tree: IovaTree, rcache: IovaRcaches, state: CookieState) => IovaLifecycle;

export class IovaLifecycle {
  constructor(
    readonly tree: IovaTree,
    readonly rcache: IovaRcaches,
    readonly state: CookieState,
  ) {}

  /**
   * init_iova_domain(iovad, granule, start_pfn): an empty rbtree with the anchor, both cached nodes at
   * the anchor. Simplification: one scheduling point for all of it.
   */
  *initIovaDomain(cpu: Cpu, granule: number, startPfn: number): Op {
    // Simplification: the reset is made under the rbtree lock (the kernel re-initialises the lock and
    // resets the tree without it). In explore it is one step anyway; on real threads this keeps a racing
    // allocation from walking a half-reset tree forever: it sees the tree before or after the reset.
    yield* spinLock(cpu, this.tree.lock);
    yield SITE_INIT;
    this.tree.init(cpu.i32);
    Atomics.store(cpu.i32, this.state.granule, granule);
    Atomics.store(cpu.i32, this.state.startPfn, startPfn);
    cpu.note('write', 'iovad->start_pfn', this.state.startPfn, startPfn);
    yield* spinUnlock(cpu, this.tree.lock);
  }

  /** iova_domain_init_rcaches: every bucket's per-CPU loaded/prev magazines, then the hotplug instance. 0 or -ENOMEM. */
  *iovaDomainInitRcaches(cpu: Cpu): Op<number> {
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      if (!(yield* this.initBucket(cpu, k))) {
        yield* this.freeIovaRcaches(cpu);
        return -12;
      }
    }
    yield* this.cpuhpStateAddInstance(cpu);
    return 0;
  }

  /** One bucket: alloc_percpu, then loaded and prev for each possible CPU (GFP_KERNEL; false if the pool is dry). */
  protected *initBucket(cpu: Cpu, k: number): Op<boolean> {
    const i32 = cpu.i32;
    const rc = this.rcache;
    for (let c = 0; c < this.state.possibleCpus; c++) {
      const loaded = yield* rc.pool.alloc(cpu);
      const prev = loaded >= 0 ? yield* rc.pool.alloc(cpu) : -1;
      if (prev < 0) {
        if (loaded >= 0) yield* rc.pool.free(cpu, loaded);
        return false;
      }
      // Private until the bucket is published: no scheduling point needed for the slot writes.
      Atomics.store(i32, rc.slot(c, k) + C_LOADED, loaded);
      Atomics.store(i32, rc.slot(c, k) + C_PREV, prev);
    }
    // Simplification: the pointer is published once the magazines are in (see the file header).
    yield BUCKET_SITES[k]!.publish;
    Atomics.store(i32, this.state.cpuRcaches(k), 1);
    return true;
  }

  /** cpuhp_state_add_instance_nocalls(CPUHP_IOMMU_IOVA_DEAD, &iovad->cpuhp_dead), under the hotplug lock. */
  protected *cpuhpStateAddInstance(cpu: Cpu): Op {
    yield* spinLock(cpu, this.state.cpuhpLock);
    yield SITE_ADD;
    this.state.cpuhpAdd(cpu);
    yield* spinUnlock(cpu, this.state.cpuhpLock);
  }

  /** cpuhp_state_remove_instance_nocalls. */
  protected *cpuhpStateRemoveInstance(cpu: Cpu): Op {
    yield* spinLock(cpu, this.state.cpuhpLock);
    yield SITE_REMOVE;
    this.state.cpuhpRemove(cpu);
    yield* spinUnlock(cpu, this.state.cpuhpLock);
  }

  /**
   * free_iova_rcaches: for each bucket until the first never allocated: free every CPU's loaded and
   * prev, free the per-CPU area, cancel the depot work (synchronously), then free the depot's magazines
   * (`while (rcache->depot) iova_magazine_free(iova_depot_pop(rcache))`). No rcache->lock: nobody else
   * can reach the caches any more; the depot's storage is unlinked directly for that reason.
   */
  *freeIovaRcaches(cpu: Cpu): Op {
    const i32 = cpu.i32;
    const rc = this.rcache;
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      const S = BUCKET_SITES[k]!;
      yield S.read;
      if (Atomics.load(i32, this.state.cpuRcaches(k)) === 0) break;
      for (let c = 0; c < this.state.possibleCpus; c++) {
        yield* rc.pool.free(cpu, rc.loaded(i32, c, k));
        yield* rc.pool.free(cpu, rc.prev(i32, c, k));
      }
      yield S.free;
      Atomics.store(i32, this.state.cpuRcaches(k), 0);
      yield* rc.works[k]!.delSync(cpu); // cancel_delayed_work_sync(&rcache->work)
      for (;;) {
        yield S.depot;
        if (!rc.depot.nonEmpty(i32, k)) break;
        yield* rc.pool.free(cpu, rc.depot.unlink(cpu, k));
      }
    }
  }

  /** iova_domain_free_rcaches: off the hotplug instance list first, then free the caches. */
  *iovaDomainFreeRcaches(cpu: Cpu): Op {
    yield* this.cpuhpStateRemoveInstance(cpu);
    yield* this.freeIovaRcaches(cpu);
  }

  /** put_iova_domain: the range caches (if any were made), then every iova (see the file header). */
  *putIovaDomain(cpu: Cpu): Op {
    yield BUCKET_SITES[0]!.read;
    if (Atomics.load(cpu.i32, this.state.cpuRcaches(0)) !== 0) yield* this.iovaDomainFreeRcaches(cpu);
    yield SITE_PUT;
  }

  /**
   * iova_cpuhp_dead(cpu, node) -> free_cpu_cached_iovas(cpu, iovad): the dead CPU's magazines back to the
   * rbtree, each bucket under that CPU's lock. Runs from the hotplug thread (cpuHotplugDead below).
   * Simplification: every bucket's cpu_rcaches is dereferenced before the drain starts (the kernel
   * dereferences bucket k just before draining it, so it drains the buckets below a NULL one and then
   * oopses; the verdict is the same oops).
   */
  *iovaCpuhpDead(cpu: Cpu, dead: number): Op {
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      yield BUCKET_SITES[k]!.read;
      if (!this.state.derefCpuRcaches(cpu, k, 'free_cpu_cached_iovas')) return;
    }
    yield* this.rcache.freeCpuCachedIovas(cpu, dead);
  }

  /**
   * The hotplug core's side of a CPU going down (cpuhp_invoke_callback for CPUHP_IOMMU_IOVA_DEAD): under
   * the hotplug lock, each instance on the list gets the dead callback — here the one domain, if added.
   */
  *cpuHotplugDead(cpu: Cpu, dead: number): Op {
    yield* spinLock(cpu, this.state.cpuhpLock);
    yield SITE_INSTANCE;
    if (Atomics.load(cpu.i32, this.state.cpuhpNode) !== 0) yield* this.iovaCpuhpDead(cpu, dead);
    yield* spinUnlock(cpu, this.state.cpuhpLock);
  }
}
