/**
 * The IOVA rbtree allocator (src/model/iova/iova-tree.ts) driven single-threaded against a sequential
 * reference transcribed from kernel-model.md §2.2 (__alloc_and_insert_iova_range, remove_iova with
 * __cached_rbnode_delete_update, reserve_iova): the named edge cases with hand-computed pfns, then
 * fast-check op sequences on a small space where the cached nodes, the retry pass and the
 * max32AllocSize hint are exercised all the time. The reference keeps its nodes in a plain sorted array
 * of objects and its cached nodes as object references, and emulates the kernel's unsigned arithmetic
 * (high - size wrapping) literally, so it shares no code or representation with the model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd } from '../src/engine/cpu.js';
import { allocateMemory, defineLayout, type Memory } from '../src/engine/layout.js';
import { IOVA_ANCHOR, IovaTree, iovaTreeRegions, type IovaGeometry } from '../src/model/iova/iova-tree.js';
import { iovaScenario } from '../src/scenarios/iova.js';

// ---------------------------------------------------------------------------------------------------
// The sequential reference.

interface RNode {
  lo: number;
  hi: number;
}

/** Stands for an unsigned value that wrapped below zero (~0UL - x): larger than any pfn. */
const WRAPPED = Number.MAX_SAFE_INTEGER;

class RefIova {
  /** Ascending by lo; the anchor is always last. */
  readonly nodes: RNode[];
  readonly anchor: RNode = { lo: IOVA_ANCHOR, hi: IOVA_ANCHOR };
  cached: RNode;
  cached32: RNode;
  max32: number;

  constructor(
    readonly start: number,
    readonly dma32: number,
  ) {
    this.nodes = [this.anchor];
    this.cached = this.anchor;
    this.cached32 = this.anchor;
    this.max32 = dma32;
  }

  private rbPrev(n: RNode): RNode | null {
    return this.nodes[this.nodes.indexOf(n) - 1] ?? null;
  }
  private rbNext(n: RNode): RNode | null {
    return this.nodes[this.nodes.indexOf(n) + 1] ?? null;
  }

  /** alloc_iova(size, limit_pfn, size_aligned) -> pfn_lo or -1. */
  alloc(size: number, limitPfn: number, aligned: boolean): number {
    const limit = limitPfn + 1;
    const shift = aligned ? Math.ceil(Math.log2(size)) : 0; // fls_long(size - 1) = order of roundup_pow_of_two
    const alignDown = (x: number): number => (x === WRAPPED ? WRAPPED : Math.floor(x / 2 ** shift) * 2 ** shift);
    const sub = (a: number, b: number): number => (a >= b ? a - b : WRAPPED);
    let high = limit;
    let low = this.start;
    if (limit <= this.dma32 && size >= this.max32) return -1;
    let curr: RNode | null = limit <= this.dma32 ? this.cached32 : this.cached;
    const retryPfn = curr.hi;
    let prev: RNode;
    let newPfn: number;
    for (;;) {
      do {
        high = Math.min(high, curr!.lo);
        newPfn = alignDown(sub(high, size));
        prev = curr!;
        curr = this.rbPrev(curr!);
      } while (curr && newPfn <= curr.hi && newPfn >= low);
      if (high < size || newPfn < low) {
        if (low === this.start && retryPfn < limit) {
          high = limit;
          low = retryPfn + 1;
          curr = this.findLimit(limit);
          continue;
        }
        this.max32 = size;
        return -1;
      }
      break;
    }
    const node = { lo: newPfn, hi: newPfn + size - 1 };
    this.nodes.splice(this.nodes.indexOf(prev), 0, node);
    if (node.hi < this.dma32) this.cached32 = node;
    else this.cached = node;
    return newPfn;
  }

  /** iova_find_limit as kernel-model.md §2.2 states it. */
  private findLimit(limit: number): RNode {
    if (limit > this.dma32) return this.anchor;
    return this.nodes.find((n) => n.lo >= limit)!;
  }

  /** free_iova(pfn): false when no node holds pfn. */
  free(pfn: number): boolean {
    const node = this.nodes.find((n) => n !== this.anchor && n.lo <= pfn && pfn <= n.hi);
    if (!node) return false;
    if (node === this.cached32 || (node.hi < this.dma32 && node.lo >= this.cached32.lo))
      this.cached32 = this.rbNext(node)!;
    if (node.lo < this.dma32) this.max32 = this.dma32;
    if (node.lo >= this.cached.lo) this.cached = this.rbNext(node)!;
    this.nodes.splice(this.nodes.indexOf(node), 1);
    return true;
  }

  /** reserve_iova(lo, hi). */
  reserve(pfnLo: number, pfnHi: number): void {
    let lo = pfnLo;
    let overlap = false;
    for (const n of [...this.nodes]) {
      if (lo <= n.hi && pfnHi >= n.lo) {
        if (lo < n.lo) n.lo = lo;
        if (pfnHi > n.hi) lo = n.hi + 1;
        if (lo >= n.lo && pfnHi <= n.hi) return;
        overlap = true;
      } else if (overlap) break;
    }
    if (this.nodes.some((n) => n.lo === lo)) return; // iova_insert_rbtree's WARN_ON(1)
    const at = this.nodes.findIndex((n) => n.lo > lo);
    this.nodes.splice(at, 0, { lo, hi: pfnHi });
  }

  ranges(): [number, number][] {
    return this.nodes.filter((n) => n !== this.anchor).map((n) => [n.lo, n.hi]);
  }

  /** Is there a gap for a (size-aligned) range of `size` in [start, limitPfn]? (§9 #4: a failure must mean no.) */
  hasGap(size: number, limitPfn: number): boolean {
    const align = 2 ** Math.ceil(Math.log2(size));
    for (let lo = this.start; lo + size - 1 <= limitPfn; lo++) {
      if (lo % align !== 0) continue;
      if (!this.nodes.some((n) => n.lo <= lo + size - 1 && n.hi >= lo)) return true;
    }
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------
// The model, single-threaded.

interface Harness {
  readonly mem: Memory;
  readonly tree: IovaTree;
  readonly cpu: Cpu;
  alloc(size: number, limitPfn: number, aligned?: boolean): number;
  free(pfn: number): boolean;
  reserve(lo: number, hi: number): void;
  state(): { ranges: [number, number][]; cached: [number, number]; cached32: [number, number]; max32: number };
}

function harness(g: IovaGeometry): Harness {
  const layout = defineLayout(1, iovaTreeRegions(g));
  const mem = allocateMemory(layout);
  const tree = new IovaTree(layout, g);
  tree.init(mem.i32);
  const cpu = new Cpu(0, 'explore', mem, new Checker(iovaScenario.invariants));
  const i32 = mem.i32;
  const range = (n: number): [number, number] => [tree.lo(i32, n), tree.hi(i32, n)];
  return {
    mem,
    tree,
    cpu,
    // Through the locked model operation (lock, one step, unlock), exactly as the scenario calls it.
    alloc: (size, limitPfn, aligned = true) => runToEnd(tree.allocIova(cpu, size, limitPfn, aligned)),
    free: (pfn) => runToEnd(tree.freeIova(cpu, pfn)),
    reserve: (lo, hi) => {
      runToEnd(tree.reserveIova(cpu, lo, hi));
    },
    state: () => ({
      ranges: tree.ranges(i32),
      cached: range(tree.cachedNode(i32)),
      cached32: range(tree.cached32Node(i32)),
      max32: tree.max32AllocSize(i32),
    }),
  };
}

function refState(r: RefIova): ReturnType<Harness['state']> {
  return {
    ranges: r.ranges(),
    cached: [r.cached.lo, r.cached.hi],
    cached32: [r.cached32.lo, r.cached32.hi],
    max32: r.max32,
  };
}

const SMALL: IovaGeometry = { startPfn: 1, dma32Pfn: 64, spacePfns: 128 };
const A: [number, number] = [IOVA_ANCHOR, IOVA_ANCHOR];

describe('iova tree: edge cases against hand-computed pfns and the reference', () => {
  it('starts with only the anchor; both cached nodes at the anchor; max32AllocSize = dma32Pfn', () => {
    const h = harness(SMALL);
    expect(h.state()).toEqual({ ranges: [], cached: A, cached32: A, max32: 64 });
    expect(h.tree.liveNodes(h.mem.i32)).toBe(1);
  });

  it('allocates top-down, ending exactly at the limit, for 64-bit and 32-bit limits', () => {
    const h = harness(SMALL);
    const r = new RefIova(1, 64);
    const reqs: [number, number][] = [
      [1, 127],
      [1, 127],
      [4, 63],
      [4, 63],
      [2, 59],
      [8, 127],
    ];
    const want = [127, 126, 60, 56, 54, 112];
    reqs.forEach(([size, limit], i) => {
      expect(h.alloc(size, limit), `request ${i}`).toBe(want[i]);
      expect(r.alloc(size, limit, true)).toBe(want[i]);
    });
    // the range at the limit ends on it: [60, 63] for limit_pfn 63; below-4G ranges move cached32, others cached
    expect(h.state()).toEqual(refState(r));
    expect(h.state().cached32).toEqual([54, 55]);
    expect(h.state().cached).toEqual([112, 119]);
  });

  it('aligns to roundup_pow_of_two(size) when asked, and not otherwise', () => {
    const h = harness(SMALL);
    expect(h.alloc(3, 127, true)).toBe(124); // (128 - 3) & ~3
    expect(h.alloc(3, 127, false)).toBe(121); // 124 - 3, no alignment
    expect(h.alloc(5, 127, true)).toBe(112); // (121 - 5) & ~7
    expect(h.alloc(1, 127, true)).toBe(111); // from the cached node down: the gap [117, 120] above it is not looked at
    const r = new RefIova(1, 64);
    for (const [s, a] of [
      [3, true],
      [3, false],
      [5, true],
      [1, true],
    ] as const)
      r.alloc(s, 127, a);
    expect(h.state()).toEqual(refState(r));
  });

  it('takes the retry pass above the cached node when nothing fits below it (alignment slack above)', () => {
    const h = harness(SMALL);
    const r = new RefIova(1, 64);
    const both = (size: number, limit: number): number => {
      const m = h.alloc(size, limit);
      expect(r.alloc(size, limit, true)).toBe(m);
      return m;
    };
    // 3-granule ranges aligned to 4 fill [4, 63] leaving one free pfn above each: 7, 11, ..., 63.
    for (let lo = 60; lo >= 4; lo -= 4) expect(both(3, 63)).toBe(lo);
    expect(both(1, 63)).toBe(3);
    expect(both(1, 63)).toBe(2);
    expect(both(1, 63)).toBe(1); // cached32 is now [1, 1]: nothing below it
    expect(h.state().cached32).toEqual([1, 1]);
    // Pass 1 from [1, 1] fails at once; the retry pass from the limit finds the slack at 63.
    expect(both(1, 63)).toBe(63);
    expect(both(1, 63)).toBe(59); // and again: from cached32 [63, 63] down
    expect(h.state()).toEqual(refState(r));
  });

  it('records max32AllocSize on a failure, fails larger 32-bit requests at once, and resets on a free below 4G', () => {
    const h = harness(SMALL);
    const r = new RefIova(1, 64);
    const both = (size: number, limit: number): number => {
      const m = h.alloc(size, limit);
      expect(r.alloc(size, limit, true), `alloc ${size} under ${limit}`).toBe(m);
      return m;
    };
    for (let k = 0; k < 3; k++) both(16, 63); // [48,63] [32,47] [16,31]
    expect(both(16, 63)).toBe(-1); // [1, 15] is too small for an aligned 16
    expect(h.state().max32).toBe(16);
    // The 32-bit window is "full" for 16 and up: even a request that would fit is refused by the hint...
    expect(both(8, 63)).toBe(8);
    expect(both(16, 63)).toBe(-1);
    expect(h.tree.max32AllocSize(h.mem.i32)).toBe(16);
    // ...a 64-bit request is not subject to it and gets the high window.
    expect(both(16, 127)).toBe(112);
    // A 64-bit failure records its size too (the kernel sets it unconditionally).
    expect(both(128, 127)).toBe(-1);
    expect(h.state().max32).toBe(128);
    expect(both(4, 63)).toBe(4);
    // Freeing a range below 4G resets the hint; the next 16 fits where [32, 47] was.
    expect(h.free(32)).toBe(true);
    expect(r.free(32)).toBe(true);
    expect(h.state().max32).toBe(64);
    expect(both(16, 63)).toBe(32);
    expect(h.state()).toEqual(refState(r));
  });

  it('moves the cached nodes to the successor when the cached node is freed', () => {
    const h = harness(SMALL);
    const r = new RefIova(1, 64);
    for (const [s, l] of [
      [8, 127],
      [8, 127],
      [8, 63],
      [8, 63],
    ] as const)
      expect(h.alloc(s, l)).toBe(r.alloc(s, l, true));
    expect(h.state().cached).toEqual([112, 119]);
    expect(h.state().cached32).toEqual([48, 55]);
    // free cached32: it moves up to its successor [56, 63]
    expect(h.free(48)).toBe(r.free(48));
    expect(h.state().cached32).toEqual([56, 63]);
    // free cached: it moves up to [120, 127]
    expect(h.free(112)).toBe(r.free(112));
    expect(h.state().cached).toEqual([120, 127]);
    // free the top node: cached moves to the anchor
    expect(h.free(120)).toBe(r.free(120));
    expect(h.state().cached).toEqual(A);
    // the next allocations start from there: top-down again
    expect(h.alloc(8, 127)).toBe(r.alloc(8, 127, true));
    expect(h.alloc(8, 63)).toBe(r.alloc(8, 63, true));
    expect(h.state()).toEqual(refState(r));
    expect(h.state().ranges).toEqual([
      [48, 55],
      [56, 63],
      [120, 127],
    ]);
  });

  it('free of a pfn no node holds does nothing; a pfn inside a range frees that range', () => {
    const h = harness(SMALL);
    expect(h.alloc(4, 127)).toBe(124);
    expect(h.free(100)).toBe(false);
    expect(h.free(126)).toBe(true); // private_find_iova matches any pfn of the range
    expect(h.state().ranges).toEqual([]);
    expect(h.tree.liveNodes(h.mem.i32)).toBe(1);
  });

  it('reserve_iova: allocations skip it; overlapping reservations merge; a contained one adds nothing', () => {
    const h = harness(SMALL);
    const r = new RefIova(1, 64);
    const both = {
      reserve: (lo: number, hi: number) => {
        h.reserve(lo, hi);
        r.reserve(lo, hi);
      },
      alloc: (s: number, l: number) => {
        const m = h.alloc(s, l);
        expect(r.alloc(s, l, true)).toBe(m);
        return m;
      },
    };
    both.reserve(40, 63);
    expect(both.alloc(8, 63)).toBe(32); // below the reserved window
    both.reserve(20, 45); // overlaps [32, 39] and [40, 63]: the first is extended down, the rest clipped
    expect(h.state()).toEqual(refState(r));
    expect(h.state().ranges).toEqual([
      [20, 39],
      [40, 63],
    ]);
    both.reserve(50, 60); // contained: nothing new
    expect(h.state().ranges).toEqual([
      [20, 39],
      [40, 63],
    ]);
    expect(both.alloc(8, 63)).toBe(8);
    expect(h.state()).toEqual(refState(r));
  });
});

// ---------------------------------------------------------------------------------------------------
// fast-check: random op sequences, model vs reference, after every op.

type Cmd =
  | { op: 'alloc'; size: number; limit: 'dma32' | 'top' | number; aligned: boolean }
  | { op: 'free'; pick: number }
  | { op: 'reserve'; lo: number; len: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('alloc' as const),
      size: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 40 })),
      limit: fc.oneof(fc.constant('dma32' as const), fc.constant('top' as const), fc.integer({ min: 1, max: 127 })),
      aligned: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('free' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('reserve' as const),
      lo: fc.integer({ min: 1, max: 120 }),
      len: fc.integer({ min: 1, max: 6 }),
    }),
  },
);

describe('iova tree: fast-check op sequences against the reference', () => {
  it('same pfns, same tree, same cached nodes and hint after every op; a failure means no gap (§9 #4)', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 120 }), (cmds) => {
        const h = harness(SMALL);
        const r = new RefIova(SMALL.startPfn, SMALL.dma32Pfn);
        const live: number[] = [];
        for (const c of cmds) {
          if (c.op === 'alloc') {
            const limit = c.limit === 'dma32' ? SMALL.dma32Pfn - 1 : c.limit === 'top' ? SMALL.spacePfns - 1 : c.limit;
            const hintFull = limit + 1 <= r.dma32 && c.size >= r.max32;
            const want = r.alloc(c.size, limit, c.aligned);
            expect(h.alloc(c.size, limit, c.aligned)).toBe(want);
            if (want >= 0) live.push(want);
            else if (c.aligned && !hintFull)
              expect(r.hasGap(c.size, limit), `alloc ${c.size} under ${limit} failed with a gap`).toBe(false);
          } else if (c.op === 'free') {
            if (live.length === 0) continue;
            const pfn = live.splice(c.pick % live.length, 1)[0]!;
            expect(h.free(pfn)).toBe(r.free(pfn));
          } else {
            const hi = Math.min(c.lo + c.len - 1, SMALL.spacePfns - 1);
            h.reserve(c.lo, hi);
            r.reserve(c.lo, hi);
            // reserved space may swallow live ranges' neighbours but never frees them; drop nothing
          }
          expect(h.state()).toEqual(refState(r));
        }
        // node accounting: anchor + one node per range
        expect(h.tree.liveNodes(h.mem.i32)).toBe(r.ranges().length + 1);
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it('the same on a geometry with the 32-bit boundary at the top of the space', () => {
    const g: IovaGeometry = { startPfn: 1, dma32Pfn: 64, spacePfns: 64 };
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 12 }), fc.nat()), { minLength: 1, maxLength: 150 }),
        (ops) => {
          const h = harness(g);
          const r = new RefIova(1, 64);
          const live: number[] = [];
          for (const [isAlloc, size, pick] of ops) {
            if (isAlloc || live.length === 0) {
              const want = r.alloc(size, 63, true);
              expect(h.alloc(size, 63)).toBe(want);
              if (want >= 0) live.push(want);
            } else {
              const pfn = live.splice(pick % live.length, 1)[0]!;
              expect(h.free(pfn)).toBe(r.free(pfn));
            }
            expect(h.state()).toEqual(refState(r));
          }
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });
});
