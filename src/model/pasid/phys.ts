/**
 * Physical memory for the system-PASID model: `memPages` 4 KiB pages (pfn 1..memPages), all of them in
 * the kernel's direct map (pasid/kernel-mm.ts), some reserved at boot (kernel text and data, the shared
 * read-only pages), the rest handed out and freed by kernel users.
 *
 * Not a kernel mechanism under study: it stands in for the buddy allocator (mm/page_alloc.c) the way
 * free-bitmap.ts stands in for it elsewhere. Simplification: alloc_pages(n) takes the lowest naturally
 * aligned run of n free pages under one zone lock (first fit: no free lists, no splitting or merging, no
 * per-CPU lists) — what matters here is that a freed page goes back to the pool and is soon handed to
 * someone else, and that a 2 MiB buffer is 2 MiB aligned, as the buddy allocator makes it.
 */
import type { Cpu, LockRef, Op } from '../../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';
import { lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../../engine/sync.js';

export function physRegions(memPages: number): Record<string, RegionSpec> {
  return {
    /** Per pfn (index 0 unused): 1 = allocated or reserved, 0 = free. */
    'phys.used': { kind: 'i32', count: memPages + 1 },
    'phys.lock': { kind: 'i32', count: LOCK_WORDS },
  };
}

/** Lock rank of zone->lock: taken alone, or inside nothing the model orders. */
const RANK_ZONE = 0;

export class PhysPages {
  private readonly used: number;
  readonly lock: LockRef;

  constructor(
    layout: Layout,
    readonly memPages: number,
  ) {
    this.used = at(region(layout, 'phys.used'));
    this.lock = lockRef('zone->lock', at(region(layout, 'phys.lock')), RANK_ZONE);
  }

  /** Boot: pfns for which `reserved` is true are never handed out. */
  init(i32: Int32Array, reserved: (pfn: number) => boolean): void {
    i32[this.used] = 1;
    for (let p = 1; p <= this.memPages; p++) i32[this.used + p] = reserved(p) ? 1 : 0;
  }

  /**
   * alloc_pages: the first pfn of `n` contiguous free pages, or 0 (-ENOMEM). Like the buddy allocator's
   * blocks, the run is naturally aligned to the power of two at or above n (pfn 0 does not exist, so the
   * first block of an order starts at 2^order).
   */
  *allocPages(cpu: Cpu, n: number): Op<number> {
    yield* spinLock(cpu, this.lock);
    yield 'alloc_pages: scan free list';
    const i32 = cpu.i32;
    const align = n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
    let found = 0;
    for (let p = align; p + n - 1 <= this.memPages && found === 0; p += align) {
      let k = 0;
      while (k < n && Atomics.load(i32, this.used + p + k) === 0) k++;
      if (k === n) found = p;
    }
    for (let k = 0; found !== 0 && k < n; k++) Atomics.store(i32, this.used + found + k, 1);
    yield* spinUnlock(cpu, this.lock);
    return found;
  }

  /** __free_pages. */
  *freePages(cpu: Cpu, pfn: number, n: number): Op {
    yield* spinLock(cpu, this.lock);
    yield 'free_pages';
    for (let k = 0; k < n; k++) Atomics.store(cpu.i32, this.used + pfn + k, 0);
    yield* spinUnlock(cpu, this.lock);
  }

  freeCount(i32: Int32Array): number {
    let n = 0;
    for (let p = 1; p <= this.memPages; p++) if (Atomics.load(i32, this.used + p) === 0) n++;
    return n;
  }
}
