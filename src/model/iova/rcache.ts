/**
 * The IOVA range caches — kernel-model.md §2.3 (IOVA-NEW; the fixed depot of IOVA-OLD is a variant, variants.ts).
 *
 * Six size buckets (1..32 granules). Each CPU has, per bucket, a `loaded` and a `prev` magazine under
 * its own CpuRcache.lock; each bucket has a depot of full magazines under Rcache.lock. A get pops from
 * `loaded`, swaps in `prev`, or exchanges its empty `loaded` for a depot magazine; an insert pushes to
 * `loaded`, swaps in `prev`, or sends the full `loaded` to the depot and starts a new one. The list
 * depot's delayed work trims one magazine per IOVA_DEPOT_DELAY while the bucket holds more than one per
 * online CPU. On an allocation failure, alloc_iova_fast drains every CPU's magazines — taking each CPU's
 * lock, which is what makes the remote drain safe — and then every depot.
 *
 * Lock order (lockdep ranks, locks.ts): CpuRcache.lock (1) < Rcache.lock (2) < iova_rbtree_lock (3).
 *
 * The mechanism only: each kernel function a patch would change is an overridable method named after
 * it (iovaRcacheGet = __iova_rcache_get, iovaRcacheInsert = __iova_rcache_insert, iovaDepotPop/Push,
 * iovaDepotWorkFunc, freeCpuCachedIovas, freeGlobalCachedIovas, iovaMagazinePop/Push/FreePfns/Full/
 * Empty/Alloc/Free). Bugs, the pre-6.7 fixed depot and user patches are subclasses (variants.ts); the
 * checkers watch the domain's hand-out and hand-in (checked-domain.ts), never these methods.
 *
 * Scheduling points: one per access to a per-CPU cache slot, a magazine, or a depot, so that a variant
 * that drops a lock exposes exactly the kernel's interleavings. Simplifications, marked where they are:
 * the magazine scan of iova_magazine_pop is one point (it only reads), and iova_magazine_free_pfns reads
 * the magazine and erases its ranges from the tree in one point under the tree lock.
 * The magazine pop is IOVA-NEW's: scan down for any pfn under the limit and swap-remove it.
 * Source: drivers/iommu/iova.c (v6.7+): __iova_rcache_get, __iova_rcache_insert, iova_depot_pop,
 * iova_depot_push, iova_depot_work_func, free_cpu_cached_iovas, free_global_cached_iovas, iova_magazine_*.
 *
 * Not modelled (Simplification): interrupts — the locks are irqsave in the kernel because IOVAs are
 * freed from softirq context; here timers are separate tasks, so nothing can interrupt a lock holder on
 * its own CPU; the CPU-hotplug dead callback (free_cpu_cached_iovas of a dead CPU: the same code as
 * the flush-all path's remote drain) and free_iova_rcaches at domain teardown.
 *
 * Time: the depot work is a kernel timer (engine/timer.ts). Its delay is IOVA_DEPOT_DELAY = 100 ms of
 * virtual time in explore mode — the scenario scales virtual ns per step (`nsPerStep`) so that 100 ms is
 * a couple of hundred steps and the work really runs inside a short explored execution — and of real
 * time in stress mode.
 */
import type { Cpu, LockRef, Op, Site } from '../../engine/cpu.js';
import { atCpu, region, type Layout, type RegionSpec } from '../../engine/layout.js';
import { LOCK_WORDS, lockRef, spinLock, spinUnlock } from '../../engine/sync.js';
import { TimerRef, type TimerSpec } from '../../engine/timer.js';
import { depotRegions, type Depot } from './depot.js';
import { NIL, type IovaTree } from './iova-tree.js';
import {
  cpuRcacheLockName,
  iovaDepotWorkName,
  iovaDepotWorkTimer,
  RANK_CPU_RCACHE,
  RANK_DEPOT,
  rcacheLockName,
} from './locks.js';
import { IOVA_MAG_SIZE, IOVA_RANGE_CACHE_MAX_SIZE, magazineRegions, type MagazinePool } from './magazine.js';

export const IOVA_DEPOT_DELAY_MS = 100;

// Per-CPU, per-bucket words: lock (LOCK_WORDS), loaded, prev.
export const C_LOADED = LOCK_WORDS;
export const C_PREV = LOCK_WORDS + 1;
const C_WORDS = LOCK_WORDS + 2;

export interface RcacheOptions {
  /** IOVA_DEPOT_DELAY in ns (of virtual time in explore mode, of real time in stress mode). */
  readonly depotDelayNs: number;
}

export function rcacheRegions(cpus: number, magazines: number): Record<string, RegionSpec> {
  return {
    'rc.cpu': { kind: 'i32', count: IOVA_RANGE_CACHE_MAX_SIZE * C_WORDS, perCpu: true },
    ...depotRegions(),
    ...magazineRegions(magazines),
  };
}

/** order_base_2: the bucket of a size (ceil(log2(size))). */
export function orderBase2(size: number): number {
  return size <= 1 ? 0 : 32 - Math.clz32(size - 1);
}

/** Site labels per bucket, built once (yielding a constant costs nothing; building one per step would). */
export interface BucketSites {
  readonly read: Site;
  readonly swap: Site;
  readonly peek: Site;
  readonly depotPop: Site;
  readonly popScan: Site;
  readonly popWrite: Site;
  readonly depotPush: Site;
  readonly install: Site;
  readonly push: Site;
  readonly drainRead: Site;
  readonly freePfns: Site;
  readonly magClear: Site;
  readonly schedule: Site;
  readonly trim: Site;
}
export const SITES: readonly BucketSites[] = Array.from({ length: IOVA_RANGE_CACHE_MAX_SIZE }, (_, k) => ({
  read: `rcache[${k}] read loaded/prev`,
  swap: `rcache[${k}] swap loaded/prev`,
  peek: `rcache[${k}] peek depot (unlocked)`,
  depotPop: `rcache[${k}] iova_depot_pop`,
  popScan: `rcache[${k}] magazine_pop scan`,
  popWrite: `rcache[${k}] magazine_pop write`,
  depotPush: `rcache[${k}] iova_depot_push`,
  install: `rcache[${k}] install new loaded`,
  push: `rcache[${k}] magazine_push`,
  drainRead: `rcache[${k}] read remote loaded/prev`,
  freePfns: `rcache[${k}] magazine_free_pfns (rbtree erase)`,
  magClear: `rcache[${k}] magazine size = 0`,
  schedule: `rcache[${k}] schedule_delayed_work`,
  trim: `rcache[${k}] depot work: pop if > num_online_cpus`,
}));

export class IovaRcaches {
  /** cpuLocks[cpu][k]: CpuRcache.lock. */
  readonly cpuLocks: readonly (readonly LockRef[])[];
  /** depotLocks[k]: Rcache.lock. */
  readonly depotLocks: readonly LockRef[];
  /** One delayed work per bucket (rcache->work). */
  readonly works: readonly TimerRef[];
  protected readonly cpuRegion;

  constructor(
    layout: Layout,
    readonly cpus: number,
    readonly tree: IovaTree,
    readonly pool: MagazinePool,
    readonly depot: Depot,
    readonly opts: RcacheOptions,
  ) {
    this.cpuRegion = region(layout, 'rc.cpu');
    this.cpuLocks = Array.from({ length: cpus }, (_, c) =>
      Array.from({ length: IOVA_RANGE_CACHE_MAX_SIZE }, (_, k) =>
        lockRef(cpuRcacheLockName(c, k), this.slot(c, k), RANK_CPU_RCACHE),
      ),
    );
    this.depotLocks = Array.from({ length: IOVA_RANGE_CACHE_MAX_SIZE }, (_, k) =>
      lockRef(rcacheLockName(k), depot.lockIndex(k), RANK_DEPOT),
    );
    this.works = Array.from(
      { length: IOVA_RANGE_CACHE_MAX_SIZE },
      (_, k) => new TimerRef(layout, iovaDepotWorkTimer(k), iovaDepotWorkName(k)),
    );
  }

  /** i32 index of cpu's CpuRcache for bucket k (its lock word; loaded and prev follow). */
  slot(cpu: number, k: number): number {
    return atCpu(this.cpuRegion, cpu, k * C_WORDS);
  }
  loaded(i32: Int32Array, cpu: number, k: number): number {
    return i32[this.slot(cpu, k) + C_LOADED]!;
  }
  prev(i32: Int32Array, cpu: number, k: number): number {
    return i32[this.slot(cpu, k) + C_PREV]!;
  }

  /** iova_domain_init_rcaches: an empty `loaded` and `prev` for every CPU and bucket. */
  init(i32: Int32Array): void {
    this.pool.init(i32);
    for (let c = 0; c < this.cpus; c++) {
      for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
        const s = this.slot(c, k);
        i32[s + C_LOADED] = this.pool.take(i32);
        i32[s + C_PREV] = this.pool.take(i32);
        if (i32[s + C_LOADED]! < 0 || i32[s + C_PREV]! < 0)
          throw new RangeError('iova: magazine pool too small for the per-CPU caches');
      }
    }
  }

  /** The depot work of each bucket, for ScenarioModel.timers. */
  timerSpecs(): TimerSpec[] {
    return this.works.map((ref, k) => ({ ref, callback: (cpu: Cpu) => this.iovaDepotWorkFunc(cpu, k) }));
  }

  // -------------------------------------------------------------------------------------------------
  // Magazines (plain reads under the CPU lock, or generators where they take a scheduling point)

  /** iova_magazine_full. */
  protected iovaMagazineFull(i32: Int32Array, m: number): boolean {
    return this.pool.size(i32, m) === IOVA_MAG_SIZE;
  }
  /** iova_magazine_empty. */
  protected iovaMagazineEmpty(i32: Int32Array, m: number): boolean {
    return this.pool.size(i32, m) === 0;
  }
  /** iova_magazine_alloc (GFP_ATOMIC): an empty magazine, or -1. */
  protected *iovaMagazineAlloc(cpu: Cpu): Op<number> {
    return yield* this.pool.alloc(cpu);
  }
  /** iova_magazine_free. */
  protected *iovaMagazineFree(cpu: Cpu, m: number): Op {
    yield* this.pool.free(cpu, m);
  }

  /** iova_magazine_pop (IOVA-NEW): scan down from the top for a pfn <= limitPfn and swap-remove it; 0 if none. */
  protected *iovaMagazinePop(cpu: Cpu, k: number, m: number, limitPfn: number): Op<number> {
    const i32 = cpu.i32;
    const pool = this.pool;
    yield SITES[k]!.popScan;
    // Simplification: the scan is one scheduling point (it only reads the magazine). The count is read
    // once, as a compiler keeps it in a register across the loop.
    const n = Atomics.load(i32, pool.head(m));
    // n is never 0 under the CPU lock; a remote drain without the lock can zero it after the check
    // (the kernel would then read pfns[-1]); the model treats that as "no suitable pfn".
    let i = Math.min(n, IOVA_MAG_SIZE) - 1;
    while (i >= 0 && Atomics.load(i32, pool.slot(m, i)) > limitPfn) i--;
    if (i < 0) return 0;
    const pfn = Atomics.load(i32, pool.slot(m, i));
    yield SITES[k]!.popWrite;
    Atomics.store(i32, pool.slot(m, i), Atomics.load(i32, pool.slot(m, n - 1)));
    Atomics.store(i32, pool.head(m), n - 1);
    return pfn;
  }

  /**
   * iova_magazine_push: `mag->pfns[mag->size++] = pfn`. Returns false instead of writing out of bounds,
   * which only a lock-free remote drain corrupting the count can bring about (the caller then frees the
   * pfn to the rbtree).
   */
  protected *iovaMagazinePush(cpu: Cpu, k: number, m: number, pfn: number): Op<boolean> {
    const i32 = cpu.i32;
    yield SITES[k]!.push;
    const n = Atomics.load(i32, this.pool.head(m));
    if (n < 0 || n >= IOVA_MAG_SIZE) return false;
    Atomics.store(i32, this.pool.slot(m, n), pfn);
    Atomics.store(i32, this.pool.head(m), n + 1);
    return true;
  }

  /** iova_magazine_free_pfns: every pfn of the magazine back to the rbtree, then size = 0. */
  *iovaMagazineFreePfns(cpu: Cpu, m: number, k: number, whose: string): Op {
    const i32 = cpu.i32;
    const tree = this.tree;
    const pool = this.pool;
    yield* spinLock(cpu, tree.lock);
    // Simplification: the kernel's loop reads mag->size and pfns[i] once per iteration; here the
    // magazine is read and its ranges erased in one point. A racing pop or push of the owner can only
    // do harm after the last iteration and before `size = 0`, and that window is kept (two points).
    yield SITES[k]!.freePfns;
    tree.assertLocked(cpu);
    const n = Math.min(Math.max(Atomics.load(i32, pool.head(m)), 0), IOVA_MAG_SIZE);
    for (let j = 0; j < n; j++) {
      const pfn = Atomics.load(i32, pool.slot(m, j));
      const node = tree.find(i32, pfn);
      if (node === NIL) {
        // The kernel's own WARN_ON(!iova): a cached pfn without a tree node.
        cpu.fail(
          'I2',
          `${cpu.name} frees pfn 0x${pfn.toString(16)} from ${whose} (bucket ${k}), but it has no rbtree node`,
        );
        continue;
      }
      tree.remove(i32, node);
    }
    yield* spinUnlock(cpu, tree.lock);
    yield SITES[k]!.magClear;
    Atomics.store(i32, pool.head(m), 0);
  }

  // -------------------------------------------------------------------------------------------------
  // The depot (plain: the caller holds iova_rcache.lock and has yielded the depot's scheduling point)

  /** iova_depot_pop. Every caller checks `rcache->depot` first; an empty pop is the NULL dereference. */
  protected iovaDepotPop(cpu: Cpu, k: number): number {
    return this.depot.pop(cpu, k);
  }
  /** iova_depot_push. */
  protected iovaDepotPush(cpu: Cpu, k: number, m: number): void {
    this.depot.push(cpu, k, m);
  }

  // -------------------------------------------------------------------------------------------------
  // __iova_rcache_get

  /** A cached pfn of bucket k at or below `limitPfn` (= limit_pfn + 1 - size), or 0. */
  *iovaRcacheGet(cpu: Cpu, k: number, limitPfn: number): Op<number> {
    const i32 = cpu.i32;
    const S = SITES[k]!;
    const s = this.slot(cpu.thisCpu, k);
    const lock = this.cpuLocks[cpu.thisCpu]![k]!;
    yield* spinLock(cpu, lock);
    yield S.read;
    let loaded = Atomics.load(i32, s + C_LOADED);
    const prev = Atomics.load(i32, s + C_PREV);
    let hasPfn = false;
    if (!this.iovaMagazineEmpty(i32, loaded)) {
      hasPfn = true;
    } else if (!this.iovaMagazineEmpty(i32, prev)) {
      yield S.swap;
      Atomics.store(i32, s + C_LOADED, prev);
      Atomics.store(i32, s + C_PREV, loaded);
      loaded = prev;
      hasPfn = true;
    } else {
      const depotLock = this.depotLocks[k]!;
      yield* spinLock(cpu, depotLock);
      yield S.depotPop;
      if (this.depot.nonEmpty(i32, k)) {
        const m = this.iovaDepotPop(cpu, k);
        // The kernel frees the empty `loaded` before the pop; freeing it after (both under both locks,
        // the pool is not shared with anything the locks protect) is the same. One point for the pop and
        // the store to `loaded` (issue 13): the depot words are under depotLock (asserted by the depot,
        // DEPOT-LOCK) and `loaded` under this CPU's lock, which every other reader of it — the remote
        // drain, free_cpu_cached_iovas — takes too. Not so in unlocked-remote-drain: there the kernel's
        // order leaves a window (a drain reads the freed `loaded`) that this order folds; that variant
        // trips I2/I5 without it.
        Atomics.store(i32, s + C_LOADED, m);
        yield* this.iovaMagazineFree(cpu, loaded);
        loaded = m;
        hasPfn = true;
      }
      yield* spinUnlock(cpu, depotLock);
    }
    let pfn = 0;
    if (hasPfn) pfn = yield* this.iovaMagazinePop(cpu, k, loaded, limitPfn);
    yield* spinUnlock(cpu, lock);
    return pfn;
  }

  // -------------------------------------------------------------------------------------------------
  // __iova_rcache_insert

  /** Cache pfn in bucket k on this CPU; false when it cannot (the caller frees it to the rbtree). */
  *iovaRcacheInsert(cpu: Cpu, k: number, pfn: number): Op<boolean> {
    const i32 = cpu.i32;
    const S = SITES[k]!;
    const s = this.slot(cpu.thisCpu, k);
    const lock = this.cpuLocks[cpu.thisCpu]![k]!;
    yield* spinLock(cpu, lock);
    yield S.read;
    let loaded = Atomics.load(i32, s + C_LOADED);
    const prev = Atomics.load(i32, s + C_PREV);
    let canInsert = false;
    if (!this.iovaMagazineFull(i32, loaded)) {
      canInsert = true;
    } else if (!this.iovaMagazineFull(i32, prev)) {
      yield S.swap;
      Atomics.store(i32, s + C_LOADED, prev);
      Atomics.store(i32, s + C_PREV, loaded);
      loaded = prev;
      canInsert = true;
    } else {
      const newMag = yield* this.iovaMagazineAlloc(cpu); // GFP_ATOMIC: may fail, then the pfn goes to the rbtree
      if (newMag >= 0) {
        const depotLock = this.depotLocks[k]!;
        yield* spinLock(cpu, depotLock);
        yield S.depotPush;
        this.iovaDepotPush(cpu, k, loaded);
        yield* spinUnlock(cpu, depotLock);
        yield* this.scheduleDelayedWork(cpu, k);
        yield S.install;
        Atomics.store(i32, s + C_LOADED, newMag);
        loaded = newMag;
        canInsert = true;
      }
    }
    if (canInsert) canInsert = yield* this.iovaMagazinePush(cpu, k, loaded, pfn);
    yield* spinUnlock(cpu, lock);
    return canInsert;
  }

  /** schedule_delayed_work(&rcache->work, IOVA_DEPOT_DELAY): arm unless already pending (one atomic step). */
  protected *scheduleDelayedWork(cpu: Cpu, k: number): Op {
    yield* this.works[k]!.schedule(cpu, this.opts.depotDelayNs, SITES[k]!.schedule);
  }

  // -------------------------------------------------------------------------------------------------
  // Drains

  /** free_cpu_cached_iovas(target): empty target's loaded and prev in every bucket, under target's lock. */
  *freeCpuCachedIovas(cpu: Cpu, target: number): Op {
    const i32 = cpu.i32;
    const whose = `cpu${target}'s magazine`;
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      const lock = this.cpuLocks[target]![k]!;
      yield* spinLock(cpu, lock);
      yield SITES[k]!.drainRead;
      const s = this.slot(target, k);
      yield* this.iovaMagazineFreePfns(cpu, Atomics.load(i32, s + C_LOADED), k, whose);
      yield* this.iovaMagazineFreePfns(cpu, Atomics.load(i32, s + C_PREV), k, whose);
      yield* spinUnlock(cpu, lock);
    }
  }

  /** free_global_cached_iovas: empty every depot into the rbtree. */
  *freeGlobalCachedIovas(cpu: Cpu): Op {
    const i32 = cpu.i32;
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      const depotLock = this.depotLocks[k]!;
      yield* spinLock(cpu, depotLock);
      for (;;) {
        yield SITES[k]!.depotPop;
        if (!this.depot.nonEmpty(i32, k)) break;
        const m = this.iovaDepotPop(cpu, k);
        yield* this.iovaMagazineFreePfns(cpu, m, k, 'a depot magazine');
        yield* this.iovaMagazineFree(cpu, m);
      }
      yield* spinUnlock(cpu, depotLock);
    }
  }

  /** iova_depot_work_func: trim one magazine while the bucket holds > num_online_cpus, and re-arm. */
  *iovaDepotWorkFunc(cpu: Cpu, k: number): Op<void> {
    const i32 = cpu.i32;
    const depotLock = this.depotLocks[k]!;
    yield* spinLock(cpu, depotLock);
    yield SITES[k]!.trim;
    const m = this.depot.size(i32, k) > this.cpus ? this.iovaDepotPop(cpu, k) : -1;
    yield* spinUnlock(cpu, depotLock);
    if (m >= 0) {
      cpu.checker.count('DEPOT-TRIM'); // a statistic (ACCEPTABLE), not a check
      yield* this.iovaMagazineFreePfns(cpu, m, k, 'a trimmed depot magazine');
      yield* this.iovaMagazineFree(cpu, m);
      yield* this.scheduleDelayedWork(cpu, k);
    }
  }
}
