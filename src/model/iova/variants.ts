/**
 * The IOVA model's variants — kernel-model.md §2.3, §9 #1 #2 #3: the known bugs and the pre-6.7 fixed
 * depot, each as a subclass overriding the kernel function it changes, and the one list of variants of
 * scenario `iova`. The mechanisms (iova-domain.ts, rcache.ts, depot.ts, magazine.ts) carry no flags.
 *
 * Each override keeps the scheduling points of the code it replaces in the same order, so a token
 * recorded before the split still replays.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { at, region, type Layout } from '../../engine/layout.js';
import type { VariantDef } from '../../engine/scenario.js';
import { spinLock, spinUnlock } from '../../engine/sync.js';
import type { TimerSpec } from '../../engine/timer.js';
import { Depot } from './depot.js';
import { IovaDomain } from './iova-domain.js';
import { IOVA_RANGE_CACHE_MAX_SIZE, type MagazinePool } from './magazine.js';
import type { IovaPatch } from './patch.js';
import { C_LOADED, C_PREV, IovaRcaches, orderBase2, SITES } from './rcache.js';
import { AllocOverflowTree } from './tree-variants.js';
import { SITE_ALLOC_RETRY } from './iova-tree.js';

// ---------------------------------------------------------------------------------------------------
// no-roundup (§9 #1): alloc_iova_fast without the round-up of cacheable sizes.

export class NoRoundupDomain extends IovaDomain {
  override *allocIovaFast(cpu: Cpu, size: number, limitPfn: number, flushRcache: boolean): Op<number> {
    const k = orderBase2(size); // BUG: a 3-granule range comes from, and is freed into, the 4-granule bucket
    if (k < IOVA_RANGE_CACHE_MAX_SIZE) {
      const pfn = yield* this.rcache.iovaRcacheGet(cpu, k, limitPfn + 1 - size);
      if (pfn !== 0) return pfn;
    }
    for (let retry = false; ; retry = true) {
      const pfn = yield* this.tree.allocIova(cpu, size, limitPfn, true, retry ? SITE_ALLOC_RETRY : undefined);
      if (pfn >= 0) return pfn;
      if (!flushRcache) return 0;
      flushRcache = false;
      cpu.checker.count('IOVA-FLUSH');
      for (let c = 0; c < this.o.cpus; c++) yield* this.rcache.freeCpuCachedIovas(cpu, c);
      yield* this.rcache.freeGlobalCachedIovas(cpu);
    }
  }

  override allocSize(size: number): number {
    return size;
  }
}

// ---------------------------------------------------------------------------------------------------
// unlocked-remote-drain: the flush-all path empties other CPUs' magazines without their lock.

export class UnlockedRemoteDrainRcaches extends IovaRcaches {
  override *freeCpuCachedIovas(cpu: Cpu, target: number): Op {
    const i32 = cpu.i32;
    const whose = `cpu${target}'s magazine`;
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      // BUG: another CPU's magazines drained without that CPU's lock, racing with its own pops and
      // pushes (the per-CPU lock is what makes remote drains safe, §2.3).
      const locked = target === cpu.thisCpu;
      const lock = this.cpuLocks[target]![k]!;
      if (locked) yield* spinLock(cpu, lock);
      yield SITES[k]!.drainRead;
      const s = this.slot(target, k);
      const loaded = Atomics.load(i32, s + C_LOADED);
      const prev = Atomics.load(i32, s + C_PREV);
      yield* this.iovaMagazineFreePfns(cpu, loaded, k, whose);
      yield* this.iovaMagazineFreePfns(cpu, prev, k, whose);
      if (locked) yield* spinUnlock(cpu, lock);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// depot-pop-empty: a DERIVED race (no kernel had it), kept under its old name so that recorded tokens
// replay: the "is there a depot magazine?" test made before the depot lock. The real empty-depot pop of
// §9 #2 (DEPOT-BUG, v1 of the list depot) is not a race: scenario lifecycle, variant depot-v1-pop.

const PEEK: readonly string[] = Array.from(
  { length: IOVA_RANGE_CACHE_MAX_SIZE },
  (_, k) => `rcache[${k}] peek depot (unlocked)`,
);

export class DepotPopEmptyRcaches extends IovaRcaches {
  override *iovaRcacheGet(cpu: Cpu, k: number, limitPfn: number): Op<number> {
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
      // BUG: the depot is tested before its lock is taken, and the pop under the lock trusts the stale
      // answer. Another CPU's pop, the flush-all path or the depot work can empty it in between.
      yield PEEK[k]!;
      if (this.depot.nonEmpty(i32, k)) {
        const depotLock = this.depotLocks[k]!;
        yield* spinLock(cpu, depotLock);
        yield S.depotPop;
        const m = this.iovaDepotPop(cpu, k); // -1 (and DEPOT-POP reported) on an empty depot
        if (m >= 0) {
          Atomics.store(i32, s + C_LOADED, m);
          yield* this.iovaMagazineFree(cpu, loaded);
          loaded = m;
          hasPfn = true;
        }
        yield* spinUnlock(cpu, depotLock);
      }
    }
    let pfn = 0;
    if (hasPfn) pfn = yield* this.iovaMagazinePop(cpu, k, loaded, limitPfn);
    yield* spinUnlock(cpu, lock);
    return pfn;
  }
}

// ---------------------------------------------------------------------------------------------------
// fixed-depot (IOVA-OLD, v6.0..v6.6): an array of MAX_GLOBAL_MAGS magazines per bucket, no reclaim.

export const MAX_GLOBAL_MAGS = 32;

/** `rcache->depot[MAX_GLOBAL_MAGS]` and `depot_size` (the list head word is unused). */
export class FixedDepot extends Depot {
  private readonly fixedBase: number;

  constructor(layout: Layout, pool: MagazinePool) {
    super(layout, pool);
    this.fixedBase = at(region(layout, 'rc.fixed'));
  }

  override nonEmpty(i32: Int32Array, k: number): boolean {
    return this.size(i32, k) > 0;
  }

  /** `depot[depot_size++] = mag`, refused when full. */
  override link(i32: Int32Array, k: number, m: number): boolean {
    const n = this.size(i32, k);
    if (n >= MAX_GLOBAL_MAGS) return false;
    i32[this.fixedBase + k * MAX_GLOBAL_MAGS + n] = m;
    this.setSize(i32, k, n + 1);
    return true;
  }

  /** `depot[--depot_size]` (free_global_cached_iovas walks the array; popping from the top frees the same). */
  override unlink(cpu: Cpu, k: number): number {
    const n = this.size(cpu.i32, k);
    if (n <= 0) return this.nullPop(cpu, k);
    this.setSize(cpu.i32, k, n - 1);
    return cpu.i32[this.fixedBase + k * MAX_GLOBAL_MAGS + n - 1]!;
  }

  override magCount(i32: Int32Array, m: number): number {
    return this.pool.size(i32, m);
  }

  override contents(i32: Int32Array, k: number): { mags: number[]; bad: string | undefined } {
    const n = this.size(i32, k);
    const mags: number[] = [];
    if (n < 0 || n > MAX_GLOBAL_MAGS) return { mags, bad: `depot_size ${n} outside 0..${MAX_GLOBAL_MAGS}` };
    for (let j = n - 1; j >= 0; j--) mags.push(i32[this.fixedBase + k * MAX_GLOBAL_MAGS + j]!);
    return { mags, bad: undefined };
  }
}

/** v6.6's __iova_rcache_insert: a full loaded magazine that finds the depot full goes back to the tree. */
export class FixedDepotRcaches extends IovaRcaches {
  override timerSpecs(): TimerSpec[] {
    return [];
  }

  override *iovaRcacheInsert(cpu: Cpu, k: number, pfn: number): Op<boolean> {
    const i32 = cpu.i32;
    const S = SITES[k]!;
    const s = this.slot(cpu.thisCpu, k);
    const lock = this.cpuLocks[cpu.thisCpu]![k]!;
    yield* spinLock(cpu, lock);
    yield S.read;
    let loaded = Atomics.load(i32, s + C_LOADED);
    const prev = Atomics.load(i32, s + C_PREV);
    let canInsert = false;
    let magToFree = -1;
    if (!this.iovaMagazineFull(i32, loaded)) {
      canInsert = true;
    } else if (!this.iovaMagazineFull(i32, prev)) {
      yield S.swap;
      Atomics.store(i32, s + C_LOADED, prev);
      Atomics.store(i32, s + C_PREV, loaded);
      loaded = prev;
      canInsert = true;
    } else {
      const newMag = yield* this.iovaMagazineAlloc(cpu);
      if (newMag >= 0) {
        const depotLock = this.depotLocks[k]!;
        yield* spinLock(cpu, depotLock);
        yield S.depotPush;
        if (!this.depot.push(cpu, k, loaded)) magToFree = loaded;
        yield* spinUnlock(cpu, depotLock);
        yield S.install;
        Atomics.store(i32, s + C_LOADED, newMag);
        loaded = newMag;
        canInsert = true;
      }
    }
    if (canInsert) canInsert = yield* this.iovaMagazinePush(cpu, k, loaded, pfn);
    yield* spinUnlock(cpu, lock);
    if (magToFree >= 0) {
      yield* this.iovaMagazineFreePfns(cpu, magToFree, k, 'an overflowing magazine');
      yield* this.iovaMagazineFree(cpu, magToFree);
    }
    return canInsert;
  }
}

export const fixedDepotPatch: IovaPatch = {
  rcaches: FixedDepotRcaches,
  depot: FixedDepot,
  regions: () => ({ 'rc.fixed': { kind: 'i32', count: IOVA_RANGE_CACHE_MAX_SIZE * MAX_GLOBAL_MAGS } }),
};

// ---------------------------------------------------------------------------------------------------

/** Scenario `iova`'s variants, in `list` order. */
export const IOVA_VARIANTS: readonly VariantDef<IovaPatch>[] = [
  {
    name: 'correct',
    summary: 'v6.7+ iova.c: round-up, per-CPU locks on remote drains, list depot with reclaim work',
    expect: 'clean',
  },
  {
    name: 'no-roundup',
    summary: 'alloc_iova_fast does not round cacheable sizes up: a 3-granule range is freed into the 4-granule bucket',
    expect: ['I3', 'I5', 'I1'],
    source: 'kernel-model.md §9 #1 (comment in alloc_iova_fast, IOVA-NEW)',
    patch: { domain: NoRoundupDomain },
  },
  {
    name: 'unlocked-remote-drain',
    summary: "the flush-all path empties other CPUs' magazines without their CpuRcache.lock",
    expect: ['I5', 'I2', 'I4', 'IOVA-LEAK', 'I1'],
    source: 'kernel-model.md §2.3 lock order ("the per-CPU spinlock is what makes the remote drains safe")',
    patch: { rcaches: UnlockedRemoteDrainRcaches },
  },
  {
    name: 'depot-pop-empty',
    summary:
      'DERIVED race, not the reported DEPOT-BUG (that is lifecycle/depot-v1-pop): rcache get peeks at the ' +
      'depot before taking its lock and pops unchecked, and a racing pop empties it first; no kernel had this code',
    expect: ['DEPOT-POP'],
    source: '[derived] an unlocked peek no kernel had; the real §9 #2 DEPOT-BUG is lifecycle/depot-v1-pop',
    patch: { rcaches: DepotPopEmptyRcaches },
    sites: ['rcache[#] peek depot (unlocked)'], // coverage: the site its patch adds (PEEK above)
  },
  {
    name: 'fixed-depot',
    summary: 'pre-6.7 fixed 32-magazine depot, no reclaim (correct; kept for benchmarks)',
    expect: 'clean',
    source: 'kernel-model.md §2.3 (IOVA-OLD), §9 #3',
    patch: fixedDepotPatch,
    unreached: [
      {
        sites: [
          'rcache[#] schedule_delayed_work',
          'rcache[#] depot work: pop if > num_online_cpus',
          'timer iova_depot_work[#] fires',
        ],
        reason: 'the pre-6.7 fixed depot has no reclaim work',
      },
    ],
  },
  {
    name: 'alloc-overflow',
    summary: 'retry_pfn = pfn_hi + 1 wraps to 0 on the anchor (~0UL): the retry pass allocates below start_pfn',
    expect: ['I1'],
    source: 'dcdb3ba7e2a8 "iommu/iova: Fix alloc iova overflows issue" (the code before it)',
    patch: { tree: AllocOverflowTree },
  },
];
