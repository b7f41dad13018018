/**
 * The rcache depot of one size bucket — kernel-model.md §2.1 "Rcache", §2.3, §1 MAX_GLOBAL_MAGS.
 *
 * Two versions, both under the bucket's `Rcache.lock` (the caller holds it; these are plain functions):
 *  - the list depot (v6.7+, DEPOT): an unbounded stack of full magazines linked through the magazine's
 *    own count word (the union in struct iova_magazine), with `depotSize`; a delayed work trims it;
 *  - the fixed depot (<= v6.6, IOVA-OLD): an array of MAX_GLOBAL_MAGS = 32 magazines and a count;
 *    a full loaded magazine that finds the array full is freed back to the rbtree instead; never trimmed.
 *
 * pop does not check for an empty depot, as iova_depot_pop does not: every caller checks first. A pop
 * of an empty depot is the NULL dereference of §9 #2; it returns -1 here so the caller can report it.
 */
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';
import { LOCK_WORDS } from '../../engine/sync.js';
import { IOVA_MAG_SIZE, IOVA_RANGE_CACHE_MAX_SIZE, type MagazinePool } from './magazine.js';

export const MAX_GLOBAL_MAGS = 32;

// Per-bucket words: lock (LOCK_WORDS), depot head (magazine + 1, 0 = NULL) or unused, depot size.
const D_HEAD = LOCK_WORDS;
const D_SIZE = LOCK_WORDS + 1;
const D_WORDS = LOCK_WORDS + 2;

export function depotRegions(): Record<string, RegionSpec> {
  return {
    'rc.depot': { kind: 'i32', count: IOVA_RANGE_CACHE_MAX_SIZE * D_WORDS },
    'rc.fixed': { kind: 'i32', count: IOVA_RANGE_CACHE_MAX_SIZE * MAX_GLOBAL_MAGS },
  };
}

export class Depot {
  private readonly base: number;
  private readonly fixedBase: number;

  constructor(layout: Layout, private readonly pool: MagazinePool, readonly fixed: boolean) {
    this.base = at(region(layout, 'rc.depot'));
    this.fixedBase = at(region(layout, 'rc.fixed'));
  }

  /** i32 index of bucket k's Rcache.lock word. */
  lockIndex(k: number): number { return this.base + k * D_WORDS; }
  size(i32: Int32Array, k: number): number { return i32[this.base + k * D_WORDS + D_SIZE]!; }

  /** `if (rcache->depot)` (list) / `if (rcache->depot_size > 0)` (fixed). */
  nonEmpty(i32: Int32Array, k: number): boolean {
    return this.fixed ? this.size(i32, k) > 0 : i32[this.base + k * D_WORDS + D_HEAD]! !== 0;
  }

  /**
   * iova_depot_push (list) / `depot[depot_size++] = mag` (fixed). The fixed depot refuses when it holds
   * MAX_GLOBAL_MAGS already (the caller then frees the magazine's pfns to the rbtree): returns false.
   */
  push(i32: Int32Array, k: number, m: number): boolean {
    const b = this.base + k * D_WORDS;
    const n = i32[b + D_SIZE]!;
    if (this.fixed) {
      if (n >= MAX_GLOBAL_MAGS) return false;
      i32[this.fixedBase + k * MAX_GLOBAL_MAGS + n] = m;
    } else {
      i32[this.pool.head(m)] = i32[b + D_HEAD]!; // mag->next = depot: the count is overwritten
      i32[b + D_HEAD] = m + 1;
    }
    i32[b + D_SIZE] = n + 1;
    return true;
  }

  /** iova_depot_pop / `depot[--depot_size]`: a full magazine, or -1 on an empty depot (NULL). */
  pop(i32: Int32Array, k: number): number {
    const b = this.base + k * D_WORDS;
    const n = i32[b + D_SIZE]!;
    if (this.fixed) {
      if (n <= 0) return -1;
      i32[b + D_SIZE] = n - 1;
      return i32[this.fixedBase + k * MAX_GLOBAL_MAGS + n - 1]!;
    }
    const head = i32[b + D_HEAD]!;
    if (head === 0) return -1;
    const m = head - 1;
    i32[b + D_HEAD] = i32[this.pool.head(m)]!; // depot = mag->next
    i32[this.pool.head(m)] = IOVA_MAG_SIZE; // mag->size = IOVA_MAG_SIZE: the link overwrote the count
    i32[b + D_SIZE] = n - 1;
    return m;
  }

  /** The depot's magazines, top first (quiescent scans). `bad` is set if the list is cyclic or corrupt. */
  contents(i32: Int32Array, k: number): { mags: number[]; bad: string | undefined } {
    const b = this.base + k * D_WORDS;
    const n = i32[b + D_SIZE]!;
    const mags: number[] = [];
    if (this.fixed) {
      if (n < 0 || n > MAX_GLOBAL_MAGS) return { mags, bad: `depot_size ${n} outside 0..${MAX_GLOBAL_MAGS}` };
      for (let j = n - 1; j >= 0; j--) mags.push(i32[this.fixedBase + k * MAX_GLOBAL_MAGS + j]!);
      return { mags, bad: undefined };
    }
    for (let h = i32[b + D_HEAD]!; h !== 0; h = i32[this.pool.head(h - 1)]!) {
      if (!this.pool.valid(h - 1) || mags.length > this.pool.count) return { mags, bad: `depot list is corrupt at link ${h}` };
      mags.push(h - 1);
    }
    return { mags, bad: mags.length !== n ? `depot_size ${n} but the list holds ${mags.length} magazines` : undefined };
  }
}
