/**
 * An iova_domain: the rbtree allocator, its range caches, and the entry points alloc_iova_fast /
 * free_iova_fast — kernel-model.md §2.1-§2.3 (IOVA-NEW), §9 #1 #2 #4 #5.
 *
 * The checker's shadow ownership map (shadow.ts) is wired in at the steps where ranges move. A failed
 * rbtree allocation is checked at its own step, under the tree lock: it must have had no size-aligned
 * gap to use (§9 #4), and the last one alloc_iova_fast makes is classified as a genuine ENOMEM or a
 * spurious one (§9 #5): after the one-shot flush, ranges other CPUs cached meanwhile would have made room.
 * The warm start (cpu0's magazines and the depot already full) is a scenario convenience, not kernel
 * behaviour: it puts depot hand-overs and the flush of full magazines within a few ops of the start.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import type { Layout, RegionSpec } from '../../engine/layout.js';
import { timerRegions } from '../../engine/timer.js';
import { spinLock, spinUnlock } from '../../engine/sync.js';
import { ANCHOR_NODE, IovaTree, iovaTreeRegions, NIL, type IovaGeometry, type TreeHooks } from './iova-tree.js';
import { IOVA_MAG_SIZE, IOVA_RANGE_CACHE_MAX_SIZE, magazinePoolSize } from './magazine.js';
import { IovaRcaches, orderBase2, rcacheRegions, type RcacheOptions } from './rcache.js';
import { CACHED, RESERVED, Shadow, shadowRegions } from './shadow.js';

export interface IovaDomainOptions extends IovaGeometry, RcacheOptions {
  readonly cpus: number;
  /** Bug §9 #1: alloc_iova_fast does not round cacheable sizes up to a power of two. */
  readonly noRoundup: boolean;
  /** Online shadow checks (off only for benchmarks: they cost a compare-and-swap per granule). */
  readonly checks: boolean;
  /** reserve_iova a window of this many pfns just below dma32Pfn (a PCI hole below 4 GiB), 0 = none. */
  readonly resvPfns: number;
  /** Start warm: cpu0's bucket-0 `loaded` and `prev` full, and this many full bucket-0 depot magazines. */
  readonly warm: boolean;
  readonly warmDepot: number;
}

/** Pfns the warm start takes: two full magazines on cpu0 plus the depot's, one granule each. */
export function warmPfns(o: Pick<IovaDomainOptions, 'warm' | 'warmDepot'>): number {
  return o.warm ? (2 + o.warmDepot) * IOVA_MAG_SIZE : 0;
}

export function iovaDomainRegions(o: IovaDomainOptions): Record<string, RegionSpec> {
  return {
    ...iovaTreeRegions(o),
    ...rcacheRegions(o.cpus, magazinePoolSize(o.cpus, o.spacePfns)),
    ...shadowRegions(o.spacePfns),
    ...timerRegions(IOVA_RANGE_CACHE_MAX_SIZE),
  };
}

const hex = (x: number): string => `0x${x.toString(16)}`;
const SITE_ALLOC = 'rbtree alloc_iova';
const NO_PFNS: ReadonlySet<number> = new Set();

export class IovaDomain {
  readonly tree: IovaTree;
  readonly rcache: IovaRcaches;
  readonly shadow: Shadow;
  private readonly hooks: TreeHooks;

  constructor(layout: Layout, readonly o: IovaDomainOptions) {
    const needed = warmPfns(o) + o.resvPfns + o.startPfn;
    if (needed > o.spacePfns - 32) {
      throw new RangeError(`iova: spacePfns ${o.spacePfns} is too small for the warm caches and the reserved window (${needed} pfns + 32 to work in)`);
    }
    if (o.resvPfns > 0 && o.dma32Pfn - o.resvPfns <= o.startPfn) throw new RangeError(`iova: resvPfns ${o.resvPfns} does not fit below dma32Pfn ${o.dma32Pfn}`);
    this.tree = new IovaTree(layout, o);
    this.shadow = new Shadow(layout, o.spacePfns, o.checks);
    this.rcache = new IovaRcaches(layout, o.cpus, this.tree, this.shadow, magazinePoolSize(o.cpus, o.spacePfns), o);
    const shadow = this.shadow;
    this.hooks = {
      allocated: (cpu, lo, size) => shadow.fromTree(cpu, lo, size),
      freed: (cpu, lo, hi) => shadow.inUseToTree(cpu, lo, hi),
      missing: (cpu, pfn) => { if (shadow.enabled) cpu.fail('I5', `cpu${cpu.id} frees ${hex(pfn)} to the rbtree, which has no node for it: freed twice`); },
    };
  }

  /** init_iova_domain + iova_domain_init_rcaches, the reserved window, and the warm start. */
  init(i32: Int32Array): void {
    const o = this.o;
    this.tree.init(i32);
    this.rcache.init(i32);
    if (o.resvPfns > 0) {
      const lo = o.dma32Pfn - o.resvPfns;
      this.tree.reserveRange(i32, lo, o.dma32Pfn - 1);
      this.shadow.mark(i32, lo, o.resvPfns, RESERVED);
    }
    if (!o.warm) return;
    // As if the domain had been busy: granule ranges allocated top-down (as 64-bit devices get them)
    // and freed into cpu0's magazines, and full magazines left in the depot by earlier pushes.
    const { pool, depot } = this.rcache;
    const fill = (m: number): void => {
      for (let j = 0; j < IOVA_MAG_SIZE; j++) {
        const pfn = this.tree.allocRange(i32, 1, o.spacePfns, true);
        if (pfn < 0) throw new RangeError('iova: no room for the warm caches');
        this.shadow.mark(i32, pfn, 1, CACHED);
        i32[pool.slot(m, j)] = pfn;
      }
      i32[pool.head(m)] = IOVA_MAG_SIZE;
    };
    for (let d = 0; d < o.warmDepot; d++) {
      const m = pool.take(i32);
      if (m < 0) throw new RangeError('iova: magazine pool too small for the warm depot');
      fill(m);
      depot.push(i32, 0, m);
    }
    fill(this.rcache.loaded(i32, 0, 0));
    fill(this.rcache.prev(i32, 0, 0));
  }

  /**
   * alloc_iova_fast(size, limit_pfn, flush_rcache): the first pfn of the range, or 0 (ENOMEM). The range
   * is allocSize(size) granules long.
   */
  *allocIovaFast(cpu: Cpu, size: number, limitPfn: number, flushRcache: boolean): Op<number> {
    const sz = this.allocSize(size);
    const k = orderBase2(sz);
    if (k < IOVA_RANGE_CACHE_MAX_SIZE) {
      const pfn = yield* this.rcache.get(cpu, k, limitPfn + 1 - sz);
      if (pfn !== 0) return this.checkLimit(cpu, pfn, sz, limitPfn);
    }
    let flush = flushRcache;
    for (;;) {
      // The last attempt (after the flush) classifies a failure at the step where it happens.
      const pfn = yield* this.treeAlloc(cpu, sz, limitPfn, flushRcache && !flush);
      if (pfn >= 0) return this.checkLimit(cpu, pfn, sz, limitPfn);
      if (!flush) return 0;
      // Try replenishing IOVAs by flushing the rcaches: every CPU's, then every depot. Only once.
      flush = false;
      cpu.checker.count('IOVA-FLUSH');
      for (let c = 0; c < this.o.cpus; c++) yield* this.rcache.freeCpuCachedIovas(cpu, c);
      yield* this.rcache.freeGlobalCachedIovas(cpu);
    }
  }

  /** alloc_iova(size, limit_pfn, true) under the tree lock, with the shadow hand-out at the same step. */
  private *treeAlloc(cpu: Cpu, size: number, limitPfn: number, classify: boolean): Op<number> {
    const tree = this.tree;
    yield* spinLock(cpu, tree.lock);
    yield SITE_ALLOC;
    const pfn = tree.allocRange(cpu.i32, size, limitPfn + 1, true);
    if (pfn >= 0) this.shadow.fromTree(cpu, pfn, size);
    else {
      // §9 #4: with the retry pass, alloc_iova fails only when no aligned gap exists below the limit.
      if (this.shadow.enabled && this.holeFor(cpu.i32, size, limitPfn, NO_PFNS)) {
        cpu.fail('ALLOC-GAP', `cpu${cpu.id}: alloc_iova of ${size} granule(s) under ${hex(limitPfn)} fails although the rbtree has a size-aligned gap for it`);
      }
      if (classify) this.classifyEnomem(cpu, size, limitPfn);
    }
    yield* spinUnlock(cpu, tree.lock);
    return pfn;
  }

  /** The size alloc_iova_fast really allocates for a request: rounded up below 32 granules (§9 #1). */
  allocSize(size: number): number {
    return !this.o.noRoundup && size < 1 << (IOVA_RANGE_CACHE_MAX_SIZE - 1) ? 1 << orderBase2(size) : size;
  }

  /** free_iova_fast(pfn, size): into this CPU's cache, else back to the rbtree. */
  *freeIovaFast(cpu: Cpu, pfn: number, size: number): Op {
    const k = orderBase2(size);
    if (k < IOVA_RANGE_CACHE_MAX_SIZE && (yield* this.rcache.insert(cpu, k, pfn))) return;
    yield* this.tree.freeIova(cpu, pfn, this.hooks);
  }

  /** alloc_iova(size, limit_pfn, true) straight on the rbtree (no cache): pfn or 0. */
  *allocIova(cpu: Cpu, size: number, limitPfn: number): Op<number> {
    const pfn = yield* this.tree.allocIova(cpu, size, limitPfn, true, this.hooks);
    return pfn < 0 ? 0 : pfn;
  }

  /** free_iova(pfn) straight on the rbtree. */
  *freeIova(cpu: Cpu, pfn: number): Op {
    yield* this.tree.freeIova(cpu, pfn, this.hooks);
  }

  /** I1 online: a range handed out lies in [startPfn, limit_pfn]. */
  private checkLimit(cpu: Cpu, pfn: number, size: number, limitPfn: number): number {
    if (pfn < this.o.startPfn || pfn + size - 1 > limitPfn) {
      cpu.fail('I1', `cpu${cpu.id} gets [${hex(pfn)}, +${size}] for limit ${hex(limitPfn)}: outside [${hex(this.o.startPfn)}, ${hex(limitPfn)}]`);
    }
    return pfn;
  }

  /**
   * After the one-shot flush the allocation failed. Called at that very step, under the tree lock, so
   * the tree is exact. Spurious (§9 #5, INTERESTING) if the ranges sitting in magazines right now —
   * other CPUs refilled their caches while this one flushed — would leave an aligned hole below the
   * limit had they been in the tree. The magazines are read without their locks: a checker read (in
   * stress mode the answer is approximate; every index is bounds-checked).
   */
  private classifyEnomem(cpu: Cpu, size: number, limitPfn: number): void {
    const i32 = cpu.i32;
    const { pool, depot } = this.rcache;
    const cached = new Set<number>();
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      for (let c = 0; c < this.o.cpus; c++) {
        for (const m of [this.rcache.loaded(i32, c, k), this.rcache.prev(i32, c, k)]) {
          if (pool.valid(m)) this.collect(i32, m, Atomics.load(i32, pool.head(m)), cached);
        }
      }
      // A list-depot magazine's count word holds the link; it is full (I4).
      for (const m of depot.contents(i32, k).mags) this.collect(i32, m, depot.fixed ? Atomics.load(i32, pool.head(m)) : IOVA_MAG_SIZE, cached);
    }
    if (cached.size > 0 && this.holeFor(i32, size, limitPfn, cached)) {
      cpu.fail('ENOMEM-SPURIOUS', `cpu${cpu.id}: ${size}-granule allocation under ${hex(limitPfn)} failed after the flush while magazines held ranges that would make room`);
    } else {
      cpu.checker.count('ENOMEM');
    }
  }

  private collect(i32: Int32Array, m: number, count: number, into: Set<number>): void {
    const n = Math.min(Math.max(count, 0), IOVA_MAG_SIZE);
    for (let j = 0; j < n; j++) into.add(Atomics.load(i32, this.rcache.pool.slot(m, j)));
  }

  /** Is there a size-aligned hole of `size` under limitPfn once the nodes starting at `without` are gone? */
  private holeFor(i32: Int32Array, size: number, limitPfn: number, without: ReadonlySet<number>): boolean {
    const t = this.tree;
    const mask = -1 << (32 - Math.clz32(size - 1));
    let high = limitPfn + 1;
    let guard = t.maxNodes;
    for (let n = t.prev(i32, ANCHOR_NODE); n !== NIL && guard-- > 0; n = t.prev(i32, n)) {
      const lo = t.lo(i32, n);
      if (without.has(lo)) continue;
      const hi = t.hi(i32, n);
      if (hi + 1 < high && ((high - size) & mask) > hi && high - size >= 0) return true;
      high = Math.min(high, lo);
    }
    return high - size >= this.o.startPfn && ((high - size) & mask) >= this.o.startPfn;
  }
}
