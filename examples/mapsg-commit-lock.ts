/**
 * A map_sg design variant: "take the domain lock only around the commit" — what a developer might
 * propose for the per-domain deferred list (kernel-model.md §5.4) after hearing that a lock held from
 * the first map_pages to iotlb_sync_map "hurts concurrency": keep the hypercall that commits the list
 * serialised, and let map_pages append without the lock.
 *
 *   npx iommu-stress explore mapsg --scenario-file examples/mapsg-commit-lock.ts --variant commit-lock --seed 1
 *   npx iommu-stress run mapsg --scenario-file examples/mapsg-commit-lock.ts --variant commit-lock --time 5s
 *   npx iommu-stress bench --scenario-file examples/mapsg-commit-lock.ts --variant commit-lock
 *
 * Caught, and it should be: the append is a load of the count, a store of the entry, a store of the
 * count. Two CPUs appending at once both write slot n and one run is lost; a commit under the lock
 * still reads the count and later stores 0 over appends made meanwhile. The lost run's map_sg then
 * reports success with pages that never reach the page table (MAPSG-ONCE), or an unwind meets a page
 * it never had (MAPSG-ERROR). The lock that holds is the window one (`domain-list-locked`); a lock
 * around each append and the commit would keep the runs but still let one CPU's sync commit another's
 * half-built map_sg, which the scenario forbids as well (MAPSG-ONCE, "committed by a foreign map call").
 */
import {
  DeferredListDriver,
  extendScenario,
  mapsgScenario,
  spinLock,
  spinUnlock,
  type Cpu,
  type Op,
} from '../src/api.js';

/** The per-domain deferred list with its lock taken only by the commit (iotlb_sync_map). */
class CommitLockDriver extends DeferredListDriver {
  /** No map -> sync window: map_pages and unmap_pages run without the domain lock. */
  // eslint-disable-next-line require-yield
  protected override *openWindow(): Op {
    /* unlocked */
  }

  // eslint-disable-next-line require-yield
  protected override *closeWindow(): Op {
    /* unlocked */
  }

  /** The commit: read the list, one hypercall, empty the list — under the domain lock. */
  override *iotlbSyncMap(cpu: Cpu, iova?: number, size?: number): Op<number> {
    yield* spinLock(cpu, this.lock);
    const ret = yield* super.iotlbSyncMap(cpu, iova, size);
    yield* spinUnlock(cpu, this.lock);
    return ret;
  }
}

export default extendScenario(mapsgScenario, [
  {
    name: 'commit-lock',
    summary: 'per-domain deferred list, domain lock only around the commit in iotlb_sync_map; appends unlocked',
    expect: ['MAPSG-ONCE', 'MAPSG-ERROR'],
    source: 'a design proposed in review (kernel-model.md §5.4), run instead of argued',
    patch: { driver: CommitLockDriver },
  },
]);
