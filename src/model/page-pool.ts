/**
 * Page-table pages for the io-pgtable model: a fixed pool of 4 KiB table pages in shared memory.
 *
 * Simplification (kernel-model.md §6 allocates with the page allocator): the pool is a bitmap of free
 * pages, taken with compare-and-swap and returned with an atomic OR — one scheduling point per call,
 * like an allocator that is concurrency-safe and not the object of study. What matters is that a page is
 * handed out once, comes back zeroed, and that every page is either free or in use, so a lost page shows
 * up as a leak and a page freed twice is caught at the second free.
 */
import { WRITE_ONCE } from '../engine/order.js';
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
/** What a freed page holds until it is allocated and zeroed again: a block descriptor of frame 0x7ffff. */
export const FREED_PTE = (0x7ffff << 2) | 1;
/**
 * Simplification: only a freed page's first entries hold FREED_PTE (the ones the scenarios' IOVAs use
 * first); stale data in all 512 would cost 512 weak-memory stores per allocation under --memory weak.
 */
const STALE_ENTRIES = 16;

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
    // A free page holds what its last user left (see free()); the reserved ones start zeroed.
    for (let p = 0; p < this.pages; p++) {
      if (!reserved.includes(p)) mem.i32.fill(FREED_PTE, this.entry(p), this.entry(p, STALE_ENTRIES));
    }
  }

  /** alloc_page: a zeroed page, or -1 when the pool is empty (-ENOMEM). */
  *alloc(cpu: Cpu): Op<number> {
    for (;;) {
      yield 'alloc_page';
      const page = this.free_.tryTake(cpu.i32);
      if (page === RETRY) continue;
      // The page is private until it is installed, so zeroing it needs no scheduling point. __GFP_ZERO's
      // memset is plain stores, ordered by nothing (arm_lpae_install_table's dma_wmb() orders them before
      // the table's descriptor); only the entries that are not zero yet need a store.
      // Without weak memory (stress, explore --memory sc) one fill zeroes the page, where checking 512
      // entries one by one cost most of an allocation: a memset of plain stores, as the kernel's is, which
      // install_table's cmpxchg (sequentially consistent here) publishes with the table. Under weak memory
      // each store must go through WRITE_ONCE, so that only the entries that need one get one.
      if (page >= 0) {
        if (cpu.weak === undefined) cpu.i32.fill(0, this.entry(page), this.entry(page + 1));
        else for (let e = this.entry(page); e < this.entry(page + 1); e++) if (cpu.i32[e] !== 0) WRITE_ONCE(cpu, e, 0);
      }
      return page;
    }
  }

  /**
   * free_page. A page freed twice is an allocator corruption in the kernel: reported as PT-LEAK.
   * A freed page goes back to the page allocator, whose other users write to it before it is handed out
   * again: the model stands for that by leaving a stale, valid-looking block descriptor (FREED_PTE) in
   * its first STALE_ENTRIES entries (simplification, see there), which only a walker that reaches the page
   * before its zeroing is visible can see.
   */
  *free(cpu: Cpu, page: number): Op {
    yield 'free_page';
    this.observer?.pageFree(cpu, page);
    // The stale contents go in while the page is still this CPU's: once give() returns it, another CPU may
    // take and zero it at once (on real threads a fill after the give raced that zeroing: PT-OVERWRITE).
    cpu.i32.fill(FREED_PTE, this.entry(page), this.entry(page, STALE_ENTRIES));
    if (this.free_.give(cpu.i32, page))
      cpu.fail('PT-LEAK', `${cpu.name} frees table page ${page}, which is already free`);
  }

  /** The free pages, read on a quiescent model. */
  freePages(i32: Int32Array): number[] {
    return this.free_.freeSlots(i32);
  }
}
