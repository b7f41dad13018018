/**
 * The io-pgtable model (src/model/pgtable.ts) driven single-threaded against a sequential reference
 * written from kernel-model.md §6, with fast-check op sequences over a small IOVA window so that
 * leaves, blocks and tables collide all the time.
 *
 * The reference is faithful rather than restricted: it models a block-sized map or unmap that meets a
 * table (the table and every leaf and table below it go away, its pages go back to the pool). To do
 * that — and to predict -ENOMEM and the pool's free count — it has to know which tables exist, and
 * empty tables are observable in the kernel (a block-sized unmap over an empty table returns the block
 * size; empty tables are never reclaimed by a leaf unmap). So besides the Map of leaves (leaf iova ->
 * size + phys) the reference keeps a Set of the tables that exist, keyed by (level, base iova).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd } from '../src/engine/cpu.js';
import { allocateMemory, defineLayout, type Memory } from '../src/engine/layout.js';
import { PagePool, pagePoolRegions, PTES_PER_TABLE } from '../src/model/page-pool.js';
import {
  blockSize,
  EEXIST,
  ENOMEM,
  IoPgtable,
  LEVELS,
  levelIndex,
  levelOf,
  SZ_1G,
  SZ_2M,
  SZ_4K,
} from '../src/model/pgtable.js';
import { pgtableScenario } from '../src/scenarios/pgtable.js';

// ---------------------------------------------------------------------------------------------------
// The model under test, single-threaded.

interface Harness {
  readonly mem: Memory;
  readonly pool: PagePool;
  readonly pt: IoPgtable;
  readonly cpu: Cpu;
  readonly checker: Checker;
  map(iova: number, paddr: number, pgsize: number, pgcount?: number): { ret: number; mapped: number };
  unmap(iova: number, pgsize: number, pgcount?: number): number;
  phys(iova: number): number;
  freeCount(): number;
}

function harness(pages: number): Harness {
  const layout = defineLayout(1, pagePoolRegions(pages));
  const mem = allocateMemory(layout);
  const pool = new PagePool(layout, pages);
  pool.init(mem, [IoPgtable.ROOT_PAGE]);
  const pt = new IoPgtable(pool, { racyInstall: false });
  const checker = new Checker(pgtableScenario.invariants);
  const cpu = new Cpu(0, 'explore', mem, checker);
  return {
    mem,
    pool,
    pt,
    cpu,
    checker,
    map: (iova, paddr, pgsize, pgcount = 1) => runToEnd(pt.mapPages(cpu, iova, paddr, pgsize, pgcount)),
    unmap: (iova, pgsize, pgcount = 1) => runToEnd(pt.unmapPages(cpu, iova, pgsize, pgcount)),
    phys: (iova) => runToEnd(pt.iovaToPhys(cpu, iova)),
    freeCount: () => pool.freePages(mem.i32).length,
  };
}

/** Pool accounting on a quiescent table: every page is free xor referenced from exactly one entry. */
function expectExactAccounting(h: Harness): void {
  const { tableRefs, badRefs } = h.pt.scan(h.mem.i32);
  const free = h.pool.freePages(h.mem.i32);
  expect(badRefs).toEqual([]);
  expect(new Set(free).size).toBe(free.length);
  for (const [page, refs] of tableRefs) {
    expect(refs, `table page ${page} references`).toBe(1);
    expect(free.includes(page), `table page ${page} is also free`).toBe(false);
  }
  expect(free.length + tableRefs.size).toBe(h.pool.pages);
  for (const p of free) expect(p >= 0 && p < h.pool.pages).toBe(true);
}

// ---------------------------------------------------------------------------------------------------
// The sequential reference (kernel-model.md §6, __arm_lpae_map / __arm_lpae_unmap / iova_to_phys).

interface Leaf {
  readonly size: number;
  readonly phys: number;
}
type Entry = 'empty' | 'leaf' | 'table';

const alignDown = (x: number, a: number): number => Math.floor(x / a) * a;
/** A table at level `lvl` (1..3) is referenced from the level lvl-1 entry covering `base`. */
const tableKey = (lvl: number, base: number): string => `${lvl}@${base}`;

class RefPgtable {
  /** Leaf base iova -> size and phys. */
  readonly leaves = new Map<number, Leaf>();
  /** Tables below the root that exist (the root L0 table always does). */
  readonly tables = new Set<string>();
  free: number;
  /** Which paths the op sequences reached (checked, so that a weak generator shows up as a failure). */
  readonly seen = new Map<string, number>();

  constructor(pages: number) {
    this.free = pages - 1;
  }

  private saw(what: string): void {
    this.seen.set(what, (this.seen.get(what) ?? 0) + 1);
  }

  /** What the level-`lvl` entry covering `iova` holds. */
  private entry(lvl: number, iova: number): Entry {
    const base = alignDown(iova, blockSize(lvl));
    if (this.leaves.get(base)?.size === blockSize(lvl)) return 'leaf';
    if (lvl < LEVELS - 1 && this.tables.has(tableKey(lvl + 1, base))) return 'table';
    return 'empty';
  }

  /** Free the table the level-`lvl` entry at `base` points to, with everything below it. */
  private dropTableUnder(lvl: number, base: number): void {
    const end = base + blockSize(lvl);
    for (const iova of [...this.leaves.keys()]) if (iova >= base && iova < end) this.leaves.delete(iova);
    for (const key of [...this.tables]) {
      const [l, b] = key.split('@').map(Number) as [number, number];
      if (l > lvl && b >= base && b < end) {
        this.tables.delete(key);
        this.free++;
      }
    }
  }

  map(iova: number, paddr: number, pgsize: number, pgcount: number): { ret: number; mapped: number } {
    const target = levelOf(pgsize);
    for (let lvl = 0; lvl < target; lvl++) {
      const e = this.entry(lvl, iova);
      if (e === 'leaf') {
        this.saw('map EEXIST under a larger leaf');
        return { ret: EEXIST, mapped: 0 };
      }
      if (e === 'empty') {
        // Tables installed on the way down stay even when a later level fails (as in the kernel).
        if (this.free === 0) {
          this.saw('map ENOMEM');
          return { ret: ENOMEM, mapped: 0 };
        }
        this.free--;
        this.tables.add(tableKey(lvl + 1, alignDown(iova, blockSize(lvl))));
      }
    }
    const n = Math.min(pgcount, PTES_PER_TABLE - levelIndex(iova, target));
    // arm_lpae_init_pte: entries are examined in order; a table is freed, a leaf stops with -EEXIST
    // (tables freed before it stay freed).
    for (let i = 0; i < n; i++) {
      const at = iova + i * pgsize;
      const e = this.entry(target, at);
      if (e === 'leaf') {
        this.saw('map EEXIST on a leaf');
        return { ret: EEXIST, mapped: 0 };
      }
      if (e === 'table') {
        this.saw('map block over a table');
        this.dropTableUnder(target, at);
      }
    }
    this.saw(n < pgcount ? 'map run cut at table end' : 'map ok');
    for (let i = 0; i < n; i++) {
      const at = iova + i * pgsize;
      if (this.leaves.has(at)) throw new Error(`reference bug: leaf at 0x${at.toString(16)} already present`);
      this.leaves.set(at, { size: pgsize, phys: paddr + i * pgsize });
    }
    return { ret: 0, mapped: n * pgsize };
  }

  unmap(iova: number, pgsize: number, pgcount: number): number {
    const target = levelOf(pgsize);
    for (let lvl = 0; lvl < target; lvl++) {
      // Nothing there, or a larger leaf (a partial unmap: WARN, unmap nothing, return 0).
      const e = this.entry(lvl, iova);
      if (e !== 'table') {
        this.saw(e === 'leaf' ? 'unmap partial' : 'unmap nothing');
        return 0;
      }
    }
    const n = Math.min(pgcount, PTES_PER_TABLE - levelIndex(iova, target));
    let i = 0;
    for (; i < n; i++) {
      const at = iova + i * pgsize;
      const e = this.entry(target, at);
      if (e === 'empty') break;
      // A table counts as unmapped bytes even when empty (__arm_lpae_unmap returns i * size).
      if (e === 'leaf') this.leaves.delete(at);
      else {
        this.saw('unmap block over a table');
        this.dropTableUnder(target, at);
      }
    }
    if (i > 1) this.saw('unmap run');
    return i * pgsize;
  }

  phys(iova: number): number {
    for (let lvl = 0; lvl < LEVELS; lvl++) {
      const e = this.entry(lvl, iova);
      if (e === 'empty') return -1;
      if (e === 'leaf') {
        const base = alignDown(iova, blockSize(lvl));
        return this.leaves.get(base)!.phys + (iova - base);
      }
    }
    return -1;
  }
}

// ---------------------------------------------------------------------------------------------------
// The IOVA window: a few 1 GiB regions (two of them in a second L0 slot), a few 2 MiB slots each, a
// few 4 KiB pages each; index 511 sits at the end of its table so that pgcount > 1 runs off it.

const GIGS = [0, 1, 2, 512, 513] as const;
const SLOTS = [0, 1, 2, 511] as const;
const PAGES = [0, 1, 2, 511] as const;
const SIZES = [SZ_4K, SZ_2M, SZ_1G] as const;
/** Physical addresses must stay below 2^41 (32-bit descriptors, see model/pgtable.ts). */
const PHYS_LIMIT = 2 ** 41;
const MAX_PGCOUNT = 600;

interface Where {
  readonly size: number;
  readonly g: number;
  readonly s: number;
  readonly p: number;
}

const iovaOf = (w: Where): number =>
  w.g * SZ_1G + (w.size <= SZ_2M ? w.s * SZ_2M : 0) + (w.size === SZ_4K ? w.p * SZ_4K : 0);

type TestOp =
  | (Where & { readonly kind: 'map'; readonly physFrac: number; readonly count: number })
  /**
   * `again`: unmap at the coordinates of an earlier map (this index modulo the maps so far), when there
   * was one, with that map's page size or (`ownSize`) this op's own, which makes partial unmaps and
   * block-sized unmaps over tables.
   */
  | (Where & {
      readonly kind: 'unmap';
      readonly count: number;
      readonly again: number | null;
      readonly ownSize: boolean;
    })
  | (Where & { readonly kind: 'phys'; readonly off: number });

const whereArb = fc.record({
  size: fc.constantFrom(...SIZES),
  g: fc.constantFrom(...GIGS),
  s: fc.constantFrom(...SLOTS),
  p: fc.constantFrom(...PAGES),
});
const countArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(1) },
  { weight: 3, arbitrary: fc.integer({ min: 2, max: 4 }) },
  { weight: 1, arbitrary: fc.constant(MAX_PGCOUNT) },
);
const opArb: fc.Arbitrary<TestOp> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record({
        kind: fc.constant('map' as const),
        physFrac: fc.double({ min: 0, max: 1, noNaN: true }),
        count: countArb,
      })
      .chain((o) => whereArb.map((w) => ({ ...w, ...o }))),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        kind: fc.constant('unmap' as const),
        count: countArb,
        again: fc.option(fc.nat(), { freq: 6 }),
        ownSize: fc.boolean(),
      })
      .chain((o) => whereArb.map((w) => ({ ...w, ...o }))),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ kind: fc.constant('phys' as const), off: fc.constantFrom(0, 0x7ff, 0x1234, 0x1f_ffff) })
      .chain((o) => whereArb.map((w) => ({ ...w, ...o }))),
  },
);

/** A pgsize-aligned phys for the op, such that pgcount more pages still fit below PHYS_LIMIT. */
function physOf(op: TestOp & { kind: 'map' }): number {
  const frames = PHYS_LIMIT / op.size - MAX_PGCOUNT;
  return Math.floor(op.physFrac * (frames - 1)) * op.size;
}

/** Every address the ops can name, plus offsets inside 4K pages, 2M blocks and 1G blocks. */
function probes(): number[] {
  const out: number[] = [];
  for (const g of GIGS) {
    for (const s of SLOTS) {
      for (const p of PAGES) {
        const iova = g * SZ_1G + s * SZ_2M + p * SZ_4K;
        out.push(iova, iova + 0xabc);
      }
      // the first page after a run that pgcount > 1 could have reached
      out.push(g * SZ_1G + s * SZ_2M + 3 * SZ_4K, g * SZ_1G + s * SZ_2M + 100 * SZ_4K + 8);
    }
    out.push(g * SZ_1G + 3 * SZ_2M + 0x1000, g * SZ_1G + 300 * SZ_2M + 0x4567);
  }
  out.push(3 * SZ_1G, 100 * SZ_1G + 5, 514 * SZ_1G, 1024 * SZ_1G);
  return out;
}

describe('IoPgtable against a sequential reference (fast-check)', () => {
  it('return values, translations, leaves and pool accounting agree after random op sequences', () => {
    const probeList = probes();
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 30 }), fc.array(opArb, { minLength: 1, maxLength: 40 }), (pages, ops) => {
        const h = harness(pages);
        const ref = new RefPgtable(pages);
        const maps: TestOp[] = [];
        ops.forEach((op, k) => {
          const prior =
            op.kind === 'unmap' && op.again !== null && maps.length > 0 ? maps[op.again % maps.length]! : undefined;
          const at: Where = prior && op.kind === 'unmap' ? { ...prior, size: op.ownSize ? op.size : prior.size } : op;
          if (op.kind === 'map') maps.push(op);
          const iova = iovaOf(at);
          const what = `op ${k} ${op.kind} ${at.size / SZ_4K}-page @0x${iova.toString(16)}`;
          if (op.kind === 'map') {
            const paddr = physOf(op);
            expect(h.map(iova, paddr, op.size, op.count), what).toEqual(ref.map(iova, paddr, op.size, op.count));
          } else if (op.kind === 'unmap') {
            expect(h.unmap(iova, at.size, op.count), what).toBe(ref.unmap(iova, at.size, op.count));
          } else {
            expect(h.phys(iova + op.off), what).toBe(ref.phys(iova + op.off));
          }
          expect(h.freeCount(), `${what}: free pages`).toBe(ref.free);
        });
        for (const a of probeList) expect(h.phys(a), `iova_to_phys 0x${a.toString(16)}`).toBe(ref.phys(a));
        const { tableRefs, leaves } = h.pt.scan(h.mem.i32);
        const want = [...ref.leaves].map(([iova, l]) => [iova, l.size, l.phys]).sort((a, b) => a[0]! - b[0]!);
        expect(leaves.slice().sort((a, b) => a[0] - b[0])).toEqual(want);
        expect(tableRefs.size).toBe(ref.tables.size + 1);
        expectExactAccounting(h);
        expect(h.checker.failed).toBe(false);
        for (const [k, v] of ref.seen) seen.set(k, (seen.get(k) ?? 0) + v);
      }),
      { seed: 0x10a11, numRuns: 300 },
    );
    // The generator reaches every path of §6 often (counts include shrinking runs only on failure).
    for (const path of [
      'map ok',
      'map run cut at table end',
      'map EEXIST on a leaf',
      'map EEXIST under a larger leaf',
      'map ENOMEM',
      'map block over a table',
      'unmap nothing',
      'unmap partial',
      'unmap block over a table',
      'unmap run',
    ]) {
      expect(seen.get(path) ?? 0, `${path} (seen: ${JSON.stringify([...seen])})`).toBeGreaterThanOrEqual(20);
    }
  });

  it('the reference itself: a pgcount run and a block over a table behave as §6 says', () => {
    // Guards against a reference that agrees with the model by being equally wrong in an obvious way.
    const ref = new RefPgtable(16);
    expect(ref.map(SZ_2M + 510 * SZ_4K, 0x5000, SZ_4K, 4)).toEqual({ ret: 0, mapped: 2 * SZ_4K });
    expect(ref.phys(SZ_2M + 511 * SZ_4K + 1)).toBe(0x6001);
    expect(ref.phys(2 * SZ_2M)).toBe(-1);
    expect(ref.free).toBe(16 - 1 - 3);
    expect(ref.map(SZ_2M, 4 * SZ_2M, SZ_2M, 1)).toEqual({ ret: 0, mapped: SZ_2M });
    expect(ref.free).toBe(16 - 1 - 2);
    expect(ref.phys(SZ_2M + 511 * SZ_4K)).toBe(4 * SZ_2M + 511 * SZ_4K);
  });
});

describe('IoPgtable edge cases', () => {
  const X = SZ_1G + 3 * SZ_2M + 5 * SZ_4K;

  it('maps a 4K page and translates with the offset; a fresh walk takes three table pages', () => {
    const h = harness(8);
    expect(h.freeCount()).toBe(7);
    expect(h.map(X, 0x7654_3000, SZ_4K)).toEqual({ ret: 0, mapped: SZ_4K });
    expect(h.freeCount()).toBe(4);
    expect(h.phys(X + 0x123)).toBe(0x7654_3123);
    expect(h.phys(X + SZ_4K)).toBe(-1);
    expect(h.phys(X - SZ_4K)).toBe(-1);
    expectExactAccounting(h);
  });

  it('-EEXIST on an occupied leaf, and the leaf is unchanged', () => {
    const h = harness(8);
    expect(h.map(X, 0x1000, SZ_4K).ret).toBe(0);
    const free = h.freeCount();
    expect(h.map(X, 0x9000, SZ_4K)).toEqual({ ret: EEXIST, mapped: 0 });
    expect(EEXIST).toBe(-17);
    expect(h.phys(X)).toBe(0x1000);
    expect(h.freeCount()).toBe(free);
    // the same for a 2M block over a 2M block and a 1G block over a 1G block
    expect(h.map(8 * SZ_2M, 10 * SZ_2M, SZ_2M).ret).toBe(0);
    expect(h.map(8 * SZ_2M, 20 * SZ_2M, SZ_2M)).toEqual({ ret: EEXIST, mapped: 0 });
    expect(h.phys(8 * SZ_2M + 0x10)).toBe(10 * SZ_2M + 0x10);
    expect(h.map(5 * SZ_1G, 7 * SZ_1G, SZ_1G).ret).toBe(0);
    expect(h.map(5 * SZ_1G, 9 * SZ_1G, SZ_1G)).toEqual({ ret: EEXIST, mapped: 0 });
    expect(h.phys(5 * SZ_1G + 0x123456)).toBe(7 * SZ_1G + 0x123456);
    expectExactAccounting(h);
  });

  it('a 4K map under an existing 2M block, or a 2M map under a 1G block, gives -EEXIST and allocates nothing', () => {
    const h = harness(8);
    const blk = 3 * SZ_2M;
    expect(h.map(blk, 40 * SZ_2M, SZ_2M).ret).toBe(0);
    const free = h.freeCount();
    expect(h.map(blk + 7 * SZ_4K, 0x3000, SZ_4K)).toEqual({ ret: EEXIST, mapped: 0 });
    expect(h.freeCount()).toBe(free);
    expect(h.phys(blk + 7 * SZ_4K)).toBe(40 * SZ_2M + 7 * SZ_4K);
    expect(h.map(2 * SZ_1G, 0, SZ_1G).ret).toBe(0);
    expect(h.map(2 * SZ_1G + 4 * SZ_2M, 0, SZ_2M)).toEqual({ ret: EEXIST, mapped: 0 });
    expect(h.map(2 * SZ_1G + 4 * SZ_2M + SZ_4K, 0, SZ_4K)).toEqual({ ret: EEXIST, mapped: 0 });
    expect(h.freeCount()).toBe(free);
    expectExactAccounting(h);
  });

  it('a 2M map over an empty L3 table frees that table page', () => {
    const h = harness(8);
    expect(h.map(X, 0x1000, SZ_4K).ret).toBe(0);
    expect(h.unmap(X, SZ_4K)).toBe(SZ_4K);
    // empty tables are not reclaimed by a leaf unmap
    expect(h.freeCount()).toBe(4);
    const blk = alignDown(X, SZ_2M);
    expect(h.map(blk, 6 * SZ_2M, SZ_2M)).toEqual({ ret: 0, mapped: SZ_2M });
    expect(h.freeCount()).toBe(5);
    expect(h.phys(X)).toBe(6 * SZ_2M + (X - blk));
    expectExactAccounting(h);
  });

  it('a 2M map over an L3 table with live pages frees the table and the pages vanish under the block', () => {
    const h = harness(8);
    const blk = alignDown(X, SZ_2M);
    expect(h.map(blk, 0x10_0000_0000, SZ_4K, 3)).toEqual({ ret: 0, mapped: 3 * SZ_4K });
    expect(h.map(blk, 6 * SZ_2M, SZ_2M)).toEqual({ ret: 0, mapped: SZ_2M });
    expect(h.freeCount()).toBe(5);
    expect(h.phys(blk + SZ_4K)).toBe(6 * SZ_2M + SZ_4K);
    expect(h.unmap(blk, SZ_2M)).toBe(SZ_2M);
    expect(h.phys(blk + SZ_4K)).toBe(-1);
    expectExactAccounting(h);
  });

  it('a 1G map over an L2 table frees it and every L3 table below it', () => {
    const h = harness(8);
    expect(h.map(SZ_1G + SZ_4K, 0x1000, SZ_4K).ret).toBe(0);
    expect(h.map(SZ_1G + 9 * SZ_2M, 0x2000, SZ_4K).ret).toBe(0);
    expect(h.freeCount()).toBe(8 - 1 - 4); // L1, L2, two L3
    expect(h.map(SZ_1G, 3 * SZ_1G, SZ_1G)).toEqual({ ret: 0, mapped: SZ_1G });
    expect(h.freeCount()).toBe(8 - 1 - 1);
    expect(h.phys(SZ_1G + 9 * SZ_2M)).toBe(3 * SZ_1G + 9 * SZ_2M);
    expectExactAccounting(h);
  });

  it('unmap of an unmapped iova returns 0, with or without tables on the way', () => {
    const h = harness(8);
    expect(h.unmap(X, SZ_4K)).toBe(0);
    expect(h.unmap(alignDown(X, SZ_2M), SZ_2M)).toBe(0);
    expect(h.unmap(SZ_1G, SZ_1G)).toBe(0);
    expect(h.map(X, 0x1000, SZ_4K).ret).toBe(0);
    expect(h.unmap(X + SZ_4K, SZ_4K)).toBe(0);
    expect(h.unmap(X, SZ_4K)).toBe(SZ_4K);
    expect(h.unmap(X, SZ_4K)).toBe(0);
    expect(h.freeCount()).toBe(4);
    expectExactAccounting(h);
  });

  it('a block-sized unmap over an empty table unmaps (and frees) the table: it returns the block size', () => {
    // __arm_lpae_unmap counts every non-zero entry, tables included; this is kernel behaviour (§6).
    const h = harness(8);
    expect(h.map(X, 0x1000, SZ_4K).ret).toBe(0);
    expect(h.unmap(X, SZ_4K)).toBe(SZ_4K);
    expect(h.unmap(alignDown(X, SZ_2M), SZ_2M)).toBe(SZ_2M);
    expect(h.freeCount()).toBe(5);
    expectExactAccounting(h);
  });

  it('partial unmap of a 2M block returns 0 and leaves it mapped', () => {
    const h = harness(8);
    const blk = 7 * SZ_2M;
    expect(h.map(blk, 12 * SZ_2M, SZ_2M).ret).toBe(0);
    const free = h.freeCount();
    expect(h.unmap(blk + 3 * SZ_4K, SZ_4K)).toBe(0);
    expect(h.unmap(blk, SZ_4K)).toBe(0);
    expect(h.phys(blk + 3 * SZ_4K)).toBe(12 * SZ_2M + 3 * SZ_4K);
    expect(h.phys(blk)).toBe(12 * SZ_2M);
    expect(h.freeCount()).toBe(free);
    // and of a 1G block by a 2M unmap
    expect(h.map(4 * SZ_1G, SZ_1G, SZ_1G).ret).toBe(0);
    expect(h.unmap(4 * SZ_1G + SZ_2M, SZ_2M)).toBe(0);
    expect(h.phys(4 * SZ_1G + SZ_2M)).toBe(SZ_1G + SZ_2M);
    expectExactAccounting(h);
  });

  it('pool exhaustion gives -ENOMEM; tables installed before the failure stay', () => {
    const h = harness(3); // the root and two more pages: L1 and L2 fit, L3 does not
    expect(h.map(X, 0x1000, SZ_4K)).toEqual({ ret: ENOMEM, mapped: 0 });
    expect(ENOMEM).toBe(-12);
    expect(h.freeCount()).toBe(0);
    expect(h.phys(X)).toBe(-1);
    expect(h.pt.scan(h.mem.i32).tableRefs.size).toBe(3);
    // a 2M block needs no L3 table, so it still fits in the same L2 table
    expect(h.map(alignDown(X, SZ_2M), 0, SZ_2M)).toEqual({ ret: 0, mapped: SZ_2M });
    // a 1G map in another L0 slot needs an L1 table: ENOMEM again
    expect(h.map(512 * SZ_1G, 0, SZ_1G)).toEqual({ ret: ENOMEM, mapped: 0 });
    expectExactAccounting(h);
    // a pool with only the root cannot map anything
    const tiny = harness(1);
    expect(tiny.map(0, 0, SZ_1G)).toEqual({ ret: ENOMEM, mapped: 0 });
    expectExactAccounting(tiny);
  });

  it('mapPages with pgcount > 1 maps consecutive pages and stops at the end of the table', () => {
    const h = harness(8);
    const base = 2 * SZ_2M;
    expect(h.map(base + 508 * SZ_4K, 0x40_0000, SZ_4K, 10)).toEqual({ ret: 0, mapped: 4 * SZ_4K });
    for (let i = 0; i < 4; i++) expect(h.phys(base + (508 + i) * SZ_4K + 4)).toBe(0x40_0000 + i * SZ_4K + 4);
    expect(h.phys(base + SZ_2M)).toBe(-1); // the first page of the next L3 table
    expect(h.phys(base + 507 * SZ_4K)).toBe(-1);
    // 2M blocks: the run ends at the end of the L2 table (one 1 GiB region)
    expect(h.map(SZ_1G - 2 * SZ_2M, 0, SZ_2M, 5)).toEqual({ ret: 0, mapped: 2 * SZ_2M });
    expect(h.phys(SZ_1G - SZ_2M + 9)).toBe(SZ_2M + 9);
    expect(h.phys(SZ_1G)).toBe(-1);
    // a run that meets a live leaf fails whole: nothing of it is written
    expect(h.map(base + 500 * SZ_4K, 0x80_0000, SZ_4K, 10)).toEqual({ ret: EEXIST, mapped: 0 });
    expect(h.phys(base + 500 * SZ_4K)).toBe(-1);
    // unmap with pgcount: stops at the first hole, and at the end of the table
    expect(h.unmap(base + 508 * SZ_4K, SZ_4K, 100)).toBe(4 * SZ_4K);
    expect(h.phys(base + 510 * SZ_4K)).toBe(-1);
    expect(h.map(base, 0x1000, SZ_4K, 2).ret).toBe(0);
    expect(h.map(base + 3 * SZ_4K, 0x1000, SZ_4K, 1).ret).toBe(0);
    expect(h.unmap(base, SZ_4K, 4)).toBe(2 * SZ_4K);
    expect(h.phys(base + 3 * SZ_4K)).toBe(0x1000);
    expectExactAccounting(h);
  });

  it('high physical addresses (pfn >= 2^29, sign bit of the descriptor) translate exactly', () => {
    const h = harness(8);
    const phys = PHYS_LIMIT - SZ_4K;
    expect(h.map(X, phys, SZ_4K).ret).toBe(0);
    expect(h.phys(X + 0xfff)).toBe(phys + 0xfff);
    expect(h.map(SZ_1G * 6, PHYS_LIMIT - SZ_1G, SZ_1G).ret).toBe(0);
    expect(h.phys(SZ_1G * 6 + 0x3fff_ffff)).toBe(PHYS_LIMIT - 1);
    expectExactAccounting(h);
  });

  it('a freed table page comes back zeroed when reused', () => {
    const h = harness(5);
    const blk = 4 * SZ_2M;
    expect(h.map(blk, 0x1000, SZ_4K, 512).mapped).toBe(2 * 1024 * 1024);
    expect(h.unmap(blk, SZ_2M)).toBe(SZ_2M); // frees the full L3 table
    expect(h.map(9 * SZ_2M + SZ_4K, 0x2000, SZ_4K).ret).toBe(0); // reuses that page as a new L3 table
    expect(h.phys(9 * SZ_2M + SZ_4K)).toBe(0x2000);
    for (let i = 0; i < 512; i++) if (i !== 1) expect(h.phys(9 * SZ_2M + i * SZ_4K)).toBe(-1);
    expectExactAccounting(h);
  });
});
