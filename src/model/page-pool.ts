/**
 * Page-table pages for the io-pgtable model: a fixed pool of 4 KiB table pages in shared memory.
 *
 * Simplification (kernel-model.md §6 allocates with the page allocator, which is itself concurrent):
 * the pool is a stack of free page numbers under one spinlock. It is not the object of study; what
 * matters is that a page is handed out once, comes back zeroed, and that every page is either free or
 * in use, so a lost page shows up as a leak.
 */
import type { Cpu, Op } from '../engine/cpu.js';
import { at, type Layout, type Memory, type RegionSpec, region } from '../engine/layout.js';
import { LOCK_WORDS, lockRef, spinLock, spinUnlock } from '../engine/sync.js';
import type { LockRef } from '../engine/cpu.js';

export const PTES_PER_TABLE = 512;

export function pagePoolRegions(pages: number): Record<string, RegionSpec> {
  return {
    'pool.pages': { kind: 'i32', count: pages * PTES_PER_TABLE },
    'pool.free': { kind: 'i32', count: pages },
    'pool.top': { kind: 'i32', count: 1 },
    'pool.lock': { kind: 'i32', count: LOCK_WORDS },
  };
}

export class PagePool {
  readonly pagesBase: number;
  private readonly freeBase: number;
  private readonly top: number;
  readonly lock: LockRef;

  constructor(layout: Layout, readonly pages: number) {
    this.pagesBase = at(region(layout, 'pool.pages'));
    this.freeBase = at(region(layout, 'pool.free'));
    this.top = at(region(layout, 'pool.top'));
    // Rank 0: the page allocator is a leaf lock, never held across another lock in this model.
    this.lock = lockRef('pool', at(region(layout, 'pool.lock')));
  }

  /** i32 index of entry 0 of a page. */
  entry(page: number, i = 0): number {
    return this.pagesBase + page * PTES_PER_TABLE + i;
  }

  /** All pages free except those in `reserved` (which the caller now owns). */
  init(mem: Memory, reserved: readonly number[] = []): void {
    let top = 0;
    for (let p = this.pages - 1; p >= 0; p--) if (!reserved.includes(p)) mem.i32[this.freeBase + top++] = p;
    mem.i32[this.top] = top;
  }

  /** A zeroed page, or -1 when the pool is empty (-ENOMEM). */
  *alloc(cpu: Cpu): Op<number> {
    yield* spinLock(cpu, this.lock);
    yield 'pool pop';
    const top = Atomics.load(cpu.i32, this.top);
    let page = -1;
    if (top > 0) {
      page = Atomics.load(cpu.i32, this.freeBase + top - 1);
      Atomics.store(cpu.i32, this.top, top - 1);
    }
    yield* spinUnlock(cpu, this.lock);
    // The page is private until it is installed, so zeroing it needs no scheduling point.
    if (page >= 0) cpu.i32.fill(0, this.entry(page), this.entry(page + 1));
    return page;
  }

  *free(cpu: Cpu, page: number): Op {
    yield* spinLock(cpu, this.lock);
    yield 'pool push';
    const top = Atomics.load(cpu.i32, this.top);
    Atomics.store(cpu.i32, this.freeBase + top, page);
    Atomics.store(cpu.i32, this.top, top + 1);
    yield* spinUnlock(cpu, this.lock);
  }

  /** The free pages, read on a quiescent model. */
  freePages(i32: Int32Array): number[] {
    const top = i32[this.top]!;
    return Array.from(i32.subarray(this.freeBase, this.freeBase + top));
  }
}
