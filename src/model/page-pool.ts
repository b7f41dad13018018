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

export const PTES_PER_TABLE = 512;

export function pagePoolRegions(pages: number): Record<string, RegionSpec> {
  return {
    'pool.pages': { kind: 'i32', count: pages * PTES_PER_TABLE },
    /** Bit p of word p>>5 set = page p is free. */
    'pool.free': { kind: 'i32', count: Math.ceil(pages / 32) },
  };
}

export class PagePool {
  readonly pagesBase: number;
  private readonly freeBase: number;
  private readonly words: number;

  constructor(layout: Layout, readonly pages: number) {
    this.pagesBase = at(region(layout, 'pool.pages'));
    this.freeBase = at(region(layout, 'pool.free'));
    this.words = Math.ceil(pages / 32);
  }

  /** i32 index of entry i of a page. */
  entry(page: number, i = 0): number {
    return this.pagesBase + page * PTES_PER_TABLE + i;
  }

  /** All pages free except those in `reserved` (which the caller now owns). */
  init(mem: Memory, reserved: readonly number[] = []): void {
    for (let p = 0; p < this.pages; p++) {
      if (!reserved.includes(p)) mem.i32[this.freeBase + (p >> 5)]! |= 1 << (p & 31);
    }
  }

  /** alloc_page: a zeroed page, or -1 when the pool is empty (-ENOMEM). */
  *alloc(cpu: Cpu): Op<number> {
    const i32 = cpu.i32;
    for (;;) {
      yield 'alloc_page';
      let w = 0;
      let bits = 0;
      for (; w < this.words; w++) if ((bits = Atomics.load(i32, this.freeBase + w)) !== 0) break;
      if (w === this.words) return -1;
      const bit = 31 - Math.clz32(bits & -bits);
      // Another CPU may take a page from this word between our load and CAS (stress mode): retry.
      if (Atomics.compareExchange(i32, this.freeBase + w, bits, bits & ~(1 << bit)) !== bits) continue;
      const page = w * 32 + bit;
      // The page is private until it is installed, so zeroing it needs no scheduling point.
      i32.fill(0, this.entry(page), this.entry(page + 1));
      return page;
    }
  }

  /** free_page. A page freed twice is an allocator corruption in the kernel: reported as PT-LEAK. */
  *free(cpu: Cpu, page: number): Op {
    yield 'free_page';
    const old = Atomics.or(cpu.i32, this.freeBase + (page >> 5), 1 << (page & 31));
    if (old & (1 << (page & 31))) cpu.fail('PT-LEAK', `cpu${cpu.id} frees table page ${page}, which is already free`);
  }

  /** The free pages, read on a quiescent model. */
  freePages(i32: Int32Array): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.pages; p++) if (i32[this.freeBase + (p >> 5)]! & (1 << (p & 31))) out.push(p);
    return out;
  }
}
