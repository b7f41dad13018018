/**
 * Known bugs of an iova_domain's life (kernel-model.md §9 #2, DEPOT-BUG; 32e92d9f6f87), each a
 * subclass of the mechanism (lifecycle.ts, rcache.ts) overriding the function the old code changes.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { spinLock, spinUnlock } from '../../engine/sync.js';
import { IovaLifecycle } from './lifecycle.js';
import { IOVA_RANGE_CACHE_MAX_SIZE } from './magazine.js';
import { IovaRcaches, SITES } from './rcache.js';

/**
 * Before 32e92d9f6f87 "iommu/iova: Separate out rcache init" (v5.18): init_iova_domain added the domain
 * to the CPUHP_IOMMU_IOVA_DEAD instance list and only then called init_iova_rcaches. A CPU that goes
 * down in between runs iova_cpuhp_dead -> free_cpu_cached_iovas on buckets whose per-CPU caches do not
 * exist yet (per_cpu_ptr of a NULL cpu_rcaches, then a NULL magazine). The commit was written to stop
 * allocating caches for domains that never use them and to handle allocation failure; it also moved
 * the hotplug registration after the allocations, which closes this window. The window is real: a
 * request to backport the commit to 5.15.y (2025-05-27) shows the panic on 5.15.144 when a CPU is removed
 * between the two calls (iova_cpuhp_dead -> free_cpu_cached_iovas -> spin_lock on an unallocated
 * per-CPU cache).
 */
export class CpuhpFirstLifecycle extends IovaLifecycle {
  override *iovaDomainInitRcaches(cpu: Cpu): Op<number> {
    // BUG (old order): on the hotplug list before the caches exist.
    yield* this.cpuhpStateAddInstance(cpu);
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      if (!(yield* this.initBucket(cpu, k))) return -12;
    }
    return 0;
  }
}

const V1_POP: readonly string[] = Array.from(
  { length: IOVA_RANGE_CACHE_MAX_SIZE },
  (_, k) => `rcaches[${k}] teardown: iova_depot_pop`,
);

/**
 * v1 of "iommu/iova: Make the rcache depot scale better" (Robin Murphy, 2023-08-14): the depot-draining
 * loops were `while ((mag = iova_depot_pop(rcache)))` with an iova_depot_pop that dereferences the head
 * unconditionally, so the pop that should end the loop dereferences NULL. Reported by Dheeraj Kumar
 * Srivastava (2023-08-21) from free_iova_rcaches on an unbind -> change domain type -> rebind cycle;
 * v2 rewrote the loops as `while (rcache->depot)`. Not a race: every teardown that reaches the loop
 * oopses, which is why it needs a domain to be freed, a path few tests take.
 */
export class DepotV1Lifecycle extends IovaLifecycle {
  override *freeIovaRcaches(cpu: Cpu): Op {
    const i32 = cpu.i32;
    const rc = this.rcache;
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      yield `read rcaches[${k}].cpu_rcaches`;
      if (Atomics.load(i32, this.state.cpuRcaches(k)) === 0) break;
      for (let c = 0; c < this.state.possibleCpus; c++) {
        yield* rc.pool.free(cpu, rc.loaded(i32, c, k));
        yield* rc.pool.free(cpu, rc.prev(i32, c, k));
      }
      yield `free_percpu rcaches[${k}].cpu_rcaches`;
      Atomics.store(i32, this.state.cpuRcaches(k), 0);
      yield* rc.works[k]!.delSync(cpu);
      for (;;) {
        yield V1_POP[k]!;
        const m = rc.depot.unlink(cpu, k); // BUG: pops an empty depot (DEPOT-POP, -1) to end the loop
        if (m < 0) break;
        yield* rc.pool.free(cpu, m);
      }
    }
  }
}

/** The same v1 loop in free_global_cached_iovas (the flush-all path of a failed allocation). */
export class DepotV1Rcaches extends IovaRcaches {
  override *freeGlobalCachedIovas(cpu: Cpu): Op {
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      const depotLock = this.depotLocks[k]!;
      yield* spinLock(cpu, depotLock);
      for (;;) {
        yield SITES[k]!.depotPop;
        const m = this.iovaDepotPop(cpu, k); // BUG: no emptiness test
        if (m < 0) break;
        yield* this.iovaMagazineFreePfns(cpu, m, k, 'a depot magazine');
        yield* this.iovaMagazineFree(cpu, m);
      }
      yield* spinUnlock(cpu, depotLock);
    }
  }
}
