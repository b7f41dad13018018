/**
 * IOVA magazines and the fixed pool they come from — kernel-model.md §2.1 "Magazine", §1 IOVA_MAG_SIZE.
 *
 * A magazine is a stack of up to IOVA_MAG_SIZE = 127 pfns of one size bucket, with a count. As in the
 * kernel (struct iova_magazine), the count shares its word with the depot's list link: while a
 * magazine sits in the list depot, word 0 holds the next magazine instead of the count, and
 * iova_depot_pop writes the count back as 127 (which is why a depot magazine must be full, I4).
 *
 * Simplification (there is no kmalloc): magazines live in one fixed pool in shared memory, allocated
 * from a free bitmap (free-bitmap.ts) — one scheduling point per alloc/free, like PagePool; the pool
 * is not the object of study, only whether magazines are handed out once and come back. 128 words each
 * (1 + 127 pfns of 32 bits; the kernel's are 8 + 127 x 8 = 1024 bytes). How many: see magazinePoolSize.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';
import { FreeBitmap, freeBitmapRegion, RETRY } from '../free-bitmap.js';

export const IOVA_MAG_SIZE = 127;
/** Word 0: size, or the depot link (magazine index + 1, 0 = NULL) while in the list depot. */
export const MAG_WORDS = 1 + IOVA_MAG_SIZE;
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;

/**
 * Magazines the pool must hold so that iova_magazine_alloc never fails (GFP_ATOMIC can fail in the
 * kernel; the model implements that path, but a pool this size never takes it):
 *  - per CPU and bucket, `loaded` and `prev`: 2 x 6 x cpus;
 *  - one more per CPU in flight: __iova_rcache_insert allocates the new magazine before the full one
 *    goes to the depot (and the fixed depot frees an overflowing one only after the CPU lock);
 *  - the depot: only full magazines go there, each holding 127 distinct live ranges of 2^k granules,
 *    so bucket k can never have more than floor(spacePfns / (127 << k)) of them at once.
 */
export function magazinePoolSize(cpus: number, spacePfns: number): number {
  let depot = 0;
  for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) depot += Math.floor(spacePfns / (IOVA_MAG_SIZE << k));
  return 2 * IOVA_RANGE_CACHE_MAX_SIZE * cpus + cpus + depot;
}

export function magazineRegions(count: number): Record<string, RegionSpec> {
  return {
    'mag.words': { kind: 'i32', count: count * MAG_WORDS },
    'mag.free': freeBitmapRegion(count),
  };
}

const SITE_ALLOC = 'iova_magazine_alloc';
const SITE_FREE = 'iova_magazine_free';

export class MagazinePool {
  protected readonly base: number;
  protected readonly free_: FreeBitmap;

  constructor(
    layout: Layout,
    readonly count: number,
  ) {
    this.base = at(region(layout, 'mag.words'));
    this.free_ = new FreeBitmap(at(region(layout, 'mag.free')), count);
  }

  valid(m: number): boolean {
    return Number.isInteger(m) && m >= 0 && m < this.count;
  }
  /** i32 index of word 0 (size / depot link). */
  head(m: number): number {
    return this.base + m * MAG_WORDS;
  }
  /** i32 index of pfns[j]. */
  slot(m: number, j: number): number {
    return this.base + m * MAG_WORDS + 1 + j;
  }
  size(i32: Int32Array, m: number): number {
    return i32[this.head(m)]!;
  }

  /** Every magazine free. */
  init(i32: Int32Array): void {
    this.free_.init(i32);
  }

  /** Setup code (init): take a magazine without a scheduling point. */
  take(i32: Int32Array): number {
    const m = this.free_.tryTake(i32); // single-threaded setup: never RETRY
    if (m >= 0) i32[this.head(m)] = 0;
    return m;
  }

  /** iova_magazine_alloc: an empty magazine (size 0), or -1 when the pool is dry. */
  *alloc(cpu: Cpu): Op<number> {
    for (;;) {
      yield SITE_ALLOC;
      const m = this.free_.tryTake(cpu.i32);
      if (m === RETRY) continue;
      // Private until installed: setting the count needs no scheduling point.
      if (m >= 0) Atomics.store(cpu.i32, this.head(m), 0);
      return m;
    }
  }

  /** iova_magazine_free. Freeing a free magazine is a model bug (the kernel's slab would corrupt). */
  *free(cpu: Cpu, m: number): Op {
    yield SITE_FREE;
    if (!this.valid(m)) throw new Error(`iova model: ${cpu.name} frees magazine ${m}, which does not exist`);
    if (this.free_.give(cpu.i32, m)) throw new Error(`iova model: ${cpu.name} frees magazine ${m} twice`);
  }

  isFree(i32: Int32Array, m: number): boolean {
    return this.free_.isFree(i32, m);
  }
}
