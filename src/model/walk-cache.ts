/**
 * The IOMMU's walk cache for one io-pgtable-arm table — kernel-model.md §6 ("Unmap: … if an entry was a
 * table, also flush the walk cache and free that subtable"); drivers/iommu/io-pgtable-arm.c
 * __arm_lpae_unmap: clear the table entry, io_pgtable_tlb_flush_walk(iova, size), then
 * __arm_lpae_free_pgtable. An SMMU caches the intermediate descriptors of its walks (table pointers), so
 * a walk can start from a cached table instead of the root; the walk flush invalidates those entries for
 * a range. Freeing a table before that flush leaves a walker able to read a page the allocator may hand
 * out again: a use-after-free by the device, which PT-WALK-UAF catches at the free.
 *
 * The cache: WALK_CACHE_ENTRIES entries (level, region, table page), fully associative, round-robin
 * replacement. An entry says "the level-`lvl` table for the region of iovas that one level-(lvl-1) entry
 * covers is page P". A walk starts from the deepest cached table for its iova and fills an entry for each
 * table it passes. tlb_flush_walk(iova, size) drops every entry whose region meets [iova, iova + size).
 *
 * Simplifications: a walk with its fills, and a flush, are each atomic with respect to the other
 * (rawLock), as the hardware guarantees that an invalidation covers walks in flight; no leaf TLB here
 * (iotlb.ts models leaves for the flush queues); capacity evictions only shorten exposure. Lives in its own
 * file rather than in iotlb.ts so that the flush-queue IOTLB is untouched.
 */
import type { Cpu, Op } from '../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../engine/layout.js';
import { rawLock, rawUnlock } from '../engine/sync.js';
import type { PagePool } from './page-pool.js';
import {
  blockIndex,
  blockOffset,
  blockSize,
  frameOf,
  IoPgtable,
  isLeaf,
  isTable,
  LEVELS,
  levelIndex,
  SZ_4K,
  type IoPgtableFlushOps,
} from './pgtable.js';

/** SMMUs keep a few dozen walk-cache entries; enough that the scenario's walks rarely evict each other. */
export const WALK_CACHE_ENTRIES = 32;
const WORDS = 3; // level, region index, table page + 1 (0 = empty)
const LOCK = 0;
const CURSOR = 1;
const HEAD = 2;

export function walkCacheRegions(): Record<string, RegionSpec> {
  return { 'walk.cache': { kind: 'i32', count: HEAD + WALK_CACHE_ENTRIES * WORDS } };
}

/** Region index of the iovas a level-`lvl` table covers (one level-(lvl-1) entry's span). */
const regionOf = (iova: number, lvl: number): number => blockIndex(iova, lvl - 1);

const WALK = 'smmu table walk';
const FLUSH_WALK = 'tlb_flush_walk';

export class WalkCache implements IoPgtableFlushOps {
  private readonly base: number;

  constructor(
    layout: Layout,
    private readonly pool: PagePool,
  ) {
    this.base = at(region(layout, 'walk.cache'));
  }

  /** Device side: translate `iova` through the walk cache and the table; phys address or -1 (a fault). */
  *translate(cpu: Cpu, iova: number): Op<number> {
    yield WALK;
    const i32 = cpu.i32;
    rawLock(i32, this.base + LOCK);
    // Start from the deepest cached table for this iova (L3, then L2, then L1), else the root.
    let lvl = 0;
    let table = IoPgtable.ROOT_PAGE;
    for (let l = LEVELS - 1; l >= 1 && lvl === 0; l--) {
      const page = this.lookup(i32, l, regionOf(iova, l));
      if (page >= 0) {
        lvl = l;
        table = page;
      }
    }
    let phys = -1;
    for (; lvl < LEVELS; lvl++) {
      const pte = Atomics.load(i32, this.pool.entry(table, levelIndex(iova, lvl)));
      if (pte === 0) break;
      if (isLeaf(pte, lvl)) {
        phys = frameOf(pte) * SZ_4K + blockOffset(iova, lvl);
        break;
      }
      if (!isTable(pte, lvl)) break;
      table = frameOf(pte);
      this.fill(i32, lvl + 1, regionOf(iova, lvl + 1), table);
    }
    rawUnlock(i32, this.base + LOCK);
    return phys;
  }

  /** tlb_flush_walk: drop the cached tables of every region that meets [iova, iova + size). */
  *tlbFlushWalk(cpu: Cpu, iova: number, size: number): Op {
    yield FLUSH_WALK;
    const i32 = cpu.i32;
    rawLock(i32, this.base + LOCK);
    // Plain loads under the lock, as in find; the stores stay Atomics for holding(), which reads unlocked.
    for (let e = 0; e < WALK_CACHE_ENTRIES; e++) {
      const at_ = this.base + HEAD + e * WORDS;
      if (i32[at_ + 2] === 0) continue;
      const span = blockSize(i32[at_]! - 1);
      const start = i32[at_ + 1]! * span;
      if (start < iova + size && iova < start + span) Atomics.store(i32, at_ + 2, 0);
    }
    rawUnlock(i32, this.base + LOCK);
  }

  /** Checker: the level and region of an entry that still points at table page `page`, or null. */
  holding(i32: Int32Array, page: number): { lvl: number; iova: number } | null {
    for (let e = 0; e < WALK_CACHE_ENTRIES; e++) {
      const at_ = this.base + HEAD + e * WORDS;
      if (Atomics.load(i32, at_ + 2) !== page + 1) continue;
      const lvl = Atomics.load(i32, at_);
      return { lvl, iova: Atomics.load(i32, at_ + 1) * blockSize(lvl - 1) };
    }
    return null;
  }

  /**
   * The entry index holding (lvl, reg), or -1. Called with the cache lock held, under which every write
   * to the entries happens (fill, tlbFlushWalk): plain loads see them all (the lock's Atomics acquire
   * and release order them), at a sixth of an Atomics.load's cost — a walk scans the cache several times.
   */
  private find(i32: Int32Array, lvl: number, reg: number): number {
    // The region word first: it is the one that rarely matches, so most entries cost one load (a walk
    // looks up and fills several levels, each a scan of every entry).
    for (let e = 0; e < WALK_CACHE_ENTRIES; e++) {
      const at_ = this.base + HEAD + e * WORDS;
      if (i32[at_ + 1] === reg && i32[at_] === lvl && i32[at_ + 2] !== 0) return e;
    }
    return -1;
  }

  /** The table page cached for (lvl, reg), or -1; with the cache lock held (see find). */
  private lookup(i32: Int32Array, lvl: number, reg: number): number {
    const e = this.find(i32, lvl, reg);
    return e < 0 ? -1 : i32[this.base + HEAD + e * WORDS + 2]! - 1;
  }

  private fill(i32: Int32Array, lvl: number, reg: number, page: number): void {
    let e = this.find(i32, lvl, reg);
    if (e < 0) {
      // The cursor is read and written only under the lock.
      e = i32[this.base + CURSOR]!;
      i32[this.base + CURSOR] = (e + 1) % WALK_CACHE_ENTRIES;
    }
    const at_ = this.base + HEAD + e * WORDS;
    Atomics.store(i32, at_, lvl);
    Atomics.store(i32, at_ + 1, reg);
    Atomics.store(i32, at_ + 2, page + 1);
  }
}
