/**
 * An rcache patch, as a kernel developer might propose it: "the depot work trims one magazine per
 * 100 ms; under a burst the surplus lingers for seconds — trim every surplus magazine in one run".
 * Two versions of iova_depot_work_func (drivers/iommu/iova.c, v6.7+), added to scenario `iova`:
 *
 *   depot-trim-all          re-checks depot_size > num_online_cpus under rcache->lock before every pop
 *   depot-trim-all-counted  counts the surplus once, drops the lock, pops that many: a CPU's
 *                           __iova_rcache_get or the flush-all path can empty the depot meanwhile,
 *                           and iova_depot_pop runs on an empty depot (DEPOT-POP, the NULL of §9 #2)
 *
 *   npx iommu-stress explore --scenario-file examples/iova-depot-trim-all.ts iova --variant depot-trim-all-counted \
 *     --cpus 2 --param warmDepot=4 --seed 1
 *   npx iommu-stress run --scenario-file examples/iova-depot-trim-all.ts iova --variant depot-trim-all --workers 2
 */
import { extendScenario, IovaRcaches, iovaScenario, spinLock, spinUnlock, type Cpu, type Op } from '../src/api.js';

/** Trim while the bucket holds more than one magazine per CPU, re-checking under the lock each time. */
class TrimAll extends IovaRcaches {
  override *iovaDepotWorkFunc(cpu: Cpu, k: number): Op<void> {
    const lock = this.depotLocks[k]!;
    for (;;) {
      yield* spinLock(cpu, lock);
      yield `rcache[${k}] trim-all: pop if > num_online_cpus`;
      const mag = this.depot.size(cpu.i32, k) > this.cpus ? this.iovaDepotPop(cpu, k) : -1;
      yield* spinUnlock(cpu, lock);
      if (mag < 0) return;
      cpu.checker.count('DEPOT-TRIM');
      yield* this.iovaMagazineFreePfns(cpu, mag, k, 'a trimmed depot magazine');
      yield* this.iovaMagazineFree(cpu, mag);
    }
  }
}

/** The surplus counted once under the lock, then popped magazine by magazine without a re-check. */
class TrimAllCounted extends IovaRcaches {
  override *iovaDepotWorkFunc(cpu: Cpu, k: number): Op<void> {
    const lock = this.depotLocks[k]!;
    yield* spinLock(cpu, lock);
    yield `rcache[${k}] trim-all: count the surplus`;
    const surplus = this.depot.size(cpu.i32, k) - this.cpus;
    yield* spinUnlock(cpu, lock);
    for (let j = 0; j < surplus; j++) {
      yield* spinLock(cpu, lock);
      yield `rcache[${k}] trim-all: pop`;
      const mag = this.iovaDepotPop(cpu, k); // BUG: the count is stale once the lock was dropped
      yield* spinUnlock(cpu, lock);
      if (mag < 0) return;
      cpu.checker.count('DEPOT-TRIM');
      yield* this.iovaMagazineFreePfns(cpu, mag, k, 'a trimmed depot magazine');
      yield* this.iovaMagazineFree(cpu, mag);
    }
  }
}

export default extendScenario(iovaScenario, [
  {
    name: 'depot-trim-all',
    summary: 'iova_depot_work_func trims every surplus depot magazine per run, re-checking under the lock',
    expect: 'clean',
    source: 'a proposal, run instead of argued',
    patch: { rcaches: TrimAll },
  },
  {
    name: 'depot-trim-all-counted',
    summary: 'the same, with the surplus counted once and popped after the lock was dropped',
    expect: ['DEPOT-POP'],
    source: 'a plausible first draft of the proposal',
    patch: { rcaches: TrimAllCounted },
  },
]);
