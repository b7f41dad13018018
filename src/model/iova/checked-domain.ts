/**
 * The harness's side of an iova_domain: what op programs and consumers (the DMA layer, a flush queue)
 * call to get and give back IOVA ranges, wrapped around the kernel's alloc_iova_fast / free_iova_fast
 * (and alloc_iova / free_iova) of whatever classes the variant's patch supplies — kernel-model.md §2.4.
 *
 * Every online check of the IOVA model lives here, outside the code under test:
 *  - hand-out (I5, I1): the range returned must be wholly the allocator's — not in use by anyone — and
 *    lie in [startPfn, limit]; its extent is what the rbtree holds for it (a range with no rbtree node
 *    is free at the same time as it is in use: I5). A pfn handed out twice is caught at the second
 *    hand-out, however the variant lost track of it.
 *  - hand-in (I5, I3): the range given back must be in use (not freed twice); a cacheable free lands in
 *    bucket order_base_2(size), so the range must be exactly 2^k granules (I3).
 *  - a failed allocation (ALLOC-GAP, ENOMEM-SPURIOUS / ENOMEM): checked against the rbtree and the
 *    magazines as they are when the allocator gives up. In explore mode nothing runs between the
 *    allocator's last step and this check, and the rbtree cannot have changed since its failing step
 *    (the lock was held until then); in stress mode the check takes iova_rbtree_lock itself.
 * The warm start and the reserved window are scenario conveniences set up here, not kernel behaviour.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import type { Layout } from '../../engine/layout.js';
import { spinLock, spinUnlock } from '../../engine/sync.js';
import type { TimerSpec } from '../../engine/timer.js';
import { Depot } from './depot.js';
import { IovaDomain, warmPfns, type IovaDomainOptions } from './iova-domain.js';
import { ANCHOR_NODE, IovaTree, NIL } from './iova-tree.js';
import { IOVA_MAG_SIZE, IOVA_RANGE_CACHE_MAX_SIZE, MagazinePool, magazinePoolSize } from './magazine.js';
import type { IovaPatch } from './patch.js';
import { IovaRcaches, orderBase2 } from './rcache.js';
import { RESERVED, Shadow } from './shadow.js';

const hex = (x: number): string => `0x${x.toString(16)}`;
const NO_PFNS: ReadonlySet<number> = new Set();

/** Build an iova_domain from a patch's classes (the faithful ones by default), wrapped in its checker. */
export function newIovaDomain(layout: Layout, o: IovaDomainOptions, patch: IovaPatch = {}): CheckedIovaDomain {
  const needed = warmPfns(o) + o.resvPfns + o.startPfn;
  if (needed > o.spacePfns - 32) {
    throw new RangeError(
      `iova: spacePfns ${o.spacePfns} is too small for the warm caches and the reserved window ` +
        `(${needed} pfns + 32 to work in)`,
    );
  }
  if (o.resvPfns > 0 && o.dma32Pfn - o.resvPfns <= o.startPfn) {
    throw new RangeError(`iova: resvPfns ${o.resvPfns} does not fit below dma32Pfn ${o.dma32Pfn}`);
  }
  const tree = new (patch.tree ?? IovaTree)(layout, o);
  const pool = new MagazinePool(layout, magazinePoolSize(o.cpus, o.spacePfns));
  const depot = new (patch.depot ?? Depot)(layout, pool);
  const rcache = new (patch.rcaches ?? IovaRcaches)(layout, o.cpus, tree, pool, depot, o);
  return new CheckedIovaDomain(layout, new (patch.domain ?? IovaDomain)(o, tree, rcache));
}

/** Implements IovaAllocator (model/dma/dma-iommu.ts) structurally: the DMA layer takes it as is. */
export class CheckedIovaDomain {
  readonly shadow: Shadow;

  constructor(
    layout: Layout,
    readonly kernel: IovaDomain,
  ) {
    this.shadow = new Shadow(layout, kernel.o.spacePfns, kernel.o.checks);
  }

  get o(): IovaDomainOptions {
    return this.kernel.o;
  }
  get tree(): IovaTree {
    return this.kernel.tree;
  }
  get rcache(): IovaRcaches {
    return this.kernel.rcache;
  }
  timerSpecs(): TimerSpec[] {
    return this.kernel.rcache.timerSpecs();
  }
  allocSize(size: number): number {
    return this.kernel.allocSize(size);
  }

  /** init_iova_domain and the rcaches, the reserved window, and the warm start. */
  init(i32: Int32Array): void {
    const o = this.o;
    this.kernel.init(i32);
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
        i32[pool.slot(m, j)] = pfn;
      }
      i32[pool.head(m)] = IOVA_MAG_SIZE;
    };
    for (let d = 0; d < o.warmDepot; d++) {
      const m = pool.take(i32);
      if (m < 0) throw new RangeError('iova: magazine pool too small for the warm depot');
      fill(m);
      depot.link(i32, 0, m);
    }
    fill(this.rcache.loaded(i32, 0, 0));
    fill(this.rcache.prev(i32, 0, 0));
  }

  /** alloc_iova_fast, as a consumer calls it: the pfn, or 0. */
  *allocIovaFast(cpu: Cpu, size: number, limitPfn: number, flushRcache: boolean): Op<number> {
    const pfn = yield* this.kernel.allocIovaFast(cpu, size, limitPfn, flushRcache);
    if (pfn > 0) this.handOut(cpu, pfn, size, limitPfn, 'alloc_iova_fast');
    else if (this.shadow.enabled) {
      // The size the kernel's contract says was tried (cacheable sizes round up): a gap for it fits the request.
      yield* this.failed(cpu, size < 32 ? this.powerOfTwo(size) : size, limitPfn, flushRcache);
    }
    return pfn;
  }

  /** free_iova_fast, as a consumer calls it. */
  *freeIovaFast(cpu: Cpu, pfn: number, size: number): Op {
    this.handIn(cpu, pfn, size, true);
    yield* this.kernel.freeIovaFast(cpu, pfn, size);
  }

  /** alloc_iova(size, limit_pfn, true) straight on the rbtree (no cache): pfn or 0. */
  *allocIova(cpu: Cpu, size: number, limitPfn: number): Op<number> {
    const pfn = yield* this.tree.allocIova(cpu, size, limitPfn, true);
    if (pfn > 0) this.handOut(cpu, pfn, size, limitPfn, 'alloc_iova');
    else if (this.shadow.enabled) yield* this.failed(cpu, size, limitPfn, false);
    return pfn < 0 ? 0 : pfn;
  }

  /** free_iova(pfn) straight on the rbtree. */
  *freeIova(cpu: Cpu, pfn: number): Op {
    this.handIn(cpu, pfn, 0, false);
    yield* this.tree.freeIova(cpu, pfn);
  }

  private powerOfTwo(size: number): number {
    return 1 << orderBase2(size);
  }

  // -------------------------------------------------------------------------------------------------
  // The checks

  private handOut(cpu: Cpu, pfn: number, size: number, limitPfn: number, fn: string): void {
    if (!this.shadow.enabled) return;
    const i32 = cpu.i32;
    const t = this.tree;
    // The extent the allocator gave: its rbtree node. A checker read without the lock: the range is
    // this vCPU's now, so its node cannot change under a correct allocator.
    const node = t.nodeAt(i32, pfn);
    let len = size;
    if (node === NIL || t.lo(i32, node) !== pfn) {
      cpu.fail(
        'I5',
        `${fn} gives ${cpu.name} ${hex(pfn)} (${size} granules), but no rbtree range starts there: ` +
          'it is free and in use at once',
      );
    } else {
      len = t.hi(i32, node) - pfn + 1;
      if (len < size) {
        cpu.fail('I1', `${fn} gives ${cpu.name} the ${len}-granule range at ${hex(pfn)} for a ${size}-granule request`);
      }
    }
    if (pfn < this.o.startPfn || pfn + len - 1 > limitPfn) {
      cpu.fail(
        'I1',
        `${cpu.name} gets [${hex(pfn)}, +${len}] for limit ${hex(limitPfn)}: ` +
          `outside [${hex(this.o.startPfn)}, ${hex(limitPfn)}]`,
      );
    }
    this.shadow.handOut(cpu, pfn, len, () => `${fn} gives ${cpu.name} [${hex(pfn)}, +${len}]`);
  }

  private handIn(cpu: Cpu, pfn: number, size: number, fast: boolean): void {
    if (!this.shadow.enabled) return;
    const i32 = cpu.i32;
    const fn = fast ? 'free_iova_fast' : 'free_iova';
    const st = pfn >= 0 && pfn < this.o.spacePfns ? this.shadow.stateOf(i32, pfn) : 0;
    if (st <= 0) {
      const whose = st === RESERVED ? 'reserved' : "the allocator's";
      cpu.fail('I5', `${cpu.name} calls ${fn} on ${hex(pfn)}, which nobody holds (${whose}): freed twice`);
      return;
    }
    const len = this.shadow.lenOf(i32, pfn);
    const k = orderBase2(size);
    if (fast && k < IOVA_RANGE_CACHE_MAX_SIZE && len !== 1 << k) {
      cpu.fail(
        'I3',
        `${cpu.name} frees the ${len}-granule range at ${hex(pfn)} into bucket ${k}, ` +
          `which holds only ${1 << k}-granule ranges`,
      );
    }
    this.shadow.handIn(cpu, pfn, len, () => `${cpu.name} calls ${fn} on [${hex(pfn)}, +${len}]`);
  }

  /**
   * The allocator returned nothing for `size` granules under limitPfn. ALLOC-GAP (§9 #4): the rbtree
   * must have had no size-aligned gap. After the one-shot flush (flushRcache), classify: spurious
   * (§9 #5, INTERESTING) if the ranges sitting in magazines right now — other CPUs refilled their
   * caches while this one flushed — would leave an aligned hole had they been in the tree. The
   * magazines are read without their locks: a checker read (every index is bounds-checked).
   */
  private *failed(cpu: Cpu, size: number, limitPfn: number, classify: boolean): Op {
    const lock = !cpu.explore;
    if (lock) yield* spinLock(cpu, this.tree.lock);
    const i32 = cpu.i32;
    // ALLOC-GAP is judged in explore only, where this runs in the same atomic step as the failed
    // allocation. On real threads the tree lock was dropped in between: another CPU's free may have made
    // the gap after the failure, which is no bug (it gave false ALLOC-GAPs under `npm start`). Explore,
    // part of every mixed `run`, keeps the check's teeth; stress still classifies the ENOMEMs below.
    if (cpu.explore && this.holeFor(i32, size, limitPfn, NO_PFNS)) {
      cpu.fail(
        'ALLOC-GAP',
        `${cpu.name}: an allocation of ${size} granule(s) under ${hex(limitPfn)} fails ` +
          'although the rbtree has a size-aligned gap for it',
      );
    } else if (classify) {
      const cached = this.cachedPfns(i32);
      if (cached.size > 0 && this.holeFor(i32, size, limitPfn, cached)) {
        cpu.fail(
          'ENOMEM-SPURIOUS',
          `${cpu.name}: ${size}-granule allocation under ${hex(limitPfn)} failed after ` +
            'the flush while magazines held ranges that would make room',
        );
      } else {
        cpu.checker.count('ENOMEM');
      }
    }
    if (lock) yield* spinUnlock(cpu, this.tree.lock);
  }

  /** Every range start held in a magazine (CPU caches and depots). */
  private cachedPfns(i32: Int32Array): Set<number> {
    const { pool, depot } = this.rcache;
    const cached = new Set<number>();
    const collect = (m: number, count: number): void => {
      const n = Math.min(Math.max(count, 0), IOVA_MAG_SIZE);
      for (let j = 0; j < n; j++) cached.add(Atomics.load(i32, pool.slot(m, j)));
    };
    for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
      for (let c = 0; c < this.o.cpus; c++) {
        for (const m of [this.rcache.loaded(i32, c, k), this.rcache.prev(i32, c, k)]) {
          if (pool.valid(m)) collect(m, Atomics.load(i32, pool.head(m)));
        }
      }
      for (const m of depot.contents(i32, k).mags) collect(m, depot.magCount(i32, m));
    }
    return cached;
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
