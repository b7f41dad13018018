/**
 * Page-table pages for the io-pgtable model: a fixed pool of 4 KiB table pages in shared memory.
 *
 * Simplification (kernel-model.md §6 allocates with the page allocator): the pool is a bitmap of free
 * pages, taken with compare-and-swap and returned with an atomic OR — one scheduling point per call,
 * like an allocator that is concurrency-safe and not the object of study. What matters is that a page is
 * handed out once, comes back zeroed, and that every page is either free or in use, so a lost page shows
 * up as a leak and a page freed twice is caught at the second free.
 */
import type { Cpu, Op } from '../engine/cpu.js';
import { at, type Layout, type Memory, type RegionSpec, region } from '../engine/layout.js';
import { FreeBitmap, freeBitmapRegion, RETRY } from './free-bitmap.js';

export const PTES_PER_TABLE = 512;

export function pagePoolRegions(pages: number): Record<string, RegionSpec> {
  return {
    'pool.pages': { kind: 'i32', count: pages * PTES_PER_TABLE },
    'pool.free': freeBitmapRegion(pages),
  };
}

/** A harness hook on the pool (a checker, never model code): told of every page about to be freed. */
export interface PagePoolObserver {
  pageFree(cpu: Cpu, page: number): void;
}

export class PagePool {
  readonly pagesBase: number;
  private readonly free_: FreeBitmap;

  constructor(
    layout: Layout,
    readonly pages: number,
    private readonly observer?: PagePoolObserver,
  ) {
    this.pagesBase = at(region(layout, 'pool.pages'));
    this.free_ = new FreeBitmap(at(region(layout, 'pool.free')), pages);
  }

  /** i32 index of entry i of a page. */
  entry(page: number, i = 0): number {
    return this.pagesBase + page * PTES_PER_TABLE + i;
  }

  /** All pages free except those in `reserved` (which the caller now owns). */
  init(mem: Memory, reserved: readonly number[] = []): void {
    this.free_.init(mem.i32, (p) => reserved.includes(p));
  }

  /** alloc_page: a zeroed page, or -1 when the pool is empty (-ENOMEM). */
  *alloc(cpu: Cpu): Op<number> {
    for (;;) {
      yield 'alloc_page';
      const page = this.free_.tryTake(cpu.i32);
      if (page === RETRY) continue;
      // The page is private until it is installed, so zeroing it needs no scheduling point: only a
      // vCPU holding a stale pointer to a freed table could see it, and no scenario frees a table
      // another vCPU can still reach (callers own disjoint ranges; a table goes with the range above it).
      if (page >= 0) cpu.i32.fill(0, this.entry(page), this.entry(page + 1));
      return page;
    }
  }

  /** free_page. A page freed twice is an allocator corruption in the kernel: reported as PT-LEAK. */
  *free(cpu: Cpu, page: number): Op {
    yield 'free_page';
    this.observer?.pageFree(cpu, page);
    if (this.free_.give(cpu.i32, page))
      cpu.fail('PT-LEAK', `${cpu.name} frees table page ${page}, which is already free`);
  }

  /** The free pages, read on a quiescent model. */
  freePages(i32: Int32Array): number[] {
    return this.free_.freeSlots(i32);
  }
}
