/**
 * Block splitting on partial unmap (v4.12..v6.12 arm_lpae_split_blk_unmap, src/model/pgtable-split.ts)
 * and the walk cache (src/model/walk-cache.ts) — kernel-model.md §6. Single-threaded: what a split
 * leaves in the table, what the walk cache holds and drops, and that freeing a table before the walk
 * flush is caught. Explored: the race fixed by 85c7a0f1ef62 and the free-before-walk-flush order are
 * found with fixed seeds, and the fixed code stays clean.
 */
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd } from '../src/engine/cpu.js';
import { allocateMemory, defineLayout } from '../src/engine/layout.js';
import { findVariant, withDefaults } from '../src/engine/scenario.js';
import { explore } from '../src/explore/explore.js';
import { PagePool, pagePoolRegions } from '../src/model/page-pool.js';
import { IoPgtable, SZ_1G, SZ_2M, SZ_4K } from '../src/model/pgtable.js';
import { SplitBlkPgtable } from '../src/model/pgtable-split.js';
import { FreeBeforeWalkFlushPgtable } from '../src/model/pgtable-variants.js';
import { WalkCache, walkCacheRegions } from '../src/model/walk-cache.js';
import { pgtableScenario } from '../src/scenarios/pgtable.js';

function harness(Pgtable: typeof IoPgtable = SplitBlkPgtable, pages = 16) {
  const layout = defineLayout(1, { ...pagePoolRegions(pages), ...walkCacheRegions() });
  const mem = allocateMemory(layout);
  const checker = new Checker(pgtableScenario.invariants);
  const cpu = new Cpu(0, 'explore', mem, checker);
  const freedWhileHeld: number[] = [];
  const pool = new PagePool(layout, pages, {
    pageFree: (_cpu, page) => {
      if (walk.holding(mem.i32, page)) freedWhileHeld.push(page);
    },
  });
  const walk = new WalkCache(layout, pool);
  pool.init(mem, [IoPgtable.ROOT_PAGE]);
  const pt = new Pgtable(pool, { tlb: walk });
  return {
    mem,
    pool,
    pt,
    walk,
    freedWhileHeld,
    map: (iova: number, paddr: number, pgsize: number) => runToEnd(pt.mapPages(cpu, iova, paddr, pgsize, 1)).ret,
    unmap: (iova: number, pgsize: number, n = 1) => runToEnd(pt.unmapPages(cpu, iova, pgsize, n)),
    phys: (iova: number) => runToEnd(pt.iovaToPhys(cpu, iova)),
    dma: (iova: number) => runToEnd(walk.translate(cpu, iova)),
    free: () => pool.freePages(mem.i32).length,
  };
}

describe('arm_lpae_split_blk_unmap, one vCPU', () => {
  it('a 4K unmap inside a 2M block: one new L3 table with 511 pages, the hole unmapped, the rest translating', () => {
    const h = harness();
    const phys = 7 * SZ_2M;
    expect(h.map(SZ_2M, phys, SZ_2M)).toBe(0);
    const before = h.free();
    expect(h.unmap(SZ_2M + 5 * SZ_4K, SZ_4K)).toBe(SZ_4K);
    expect(h.free()).toBe(before - 1);
    expect(h.phys(SZ_2M + 5 * SZ_4K)).toBe(-1);
    expect(h.phys(SZ_2M + 4 * SZ_4K)).toBe(phys + 4 * SZ_4K);
    expect(h.phys(SZ_2M + 511 * SZ_4K + 0x10)).toBe(phys + 511 * SZ_4K + 0x10);
    const leaves = h.pt.scan(h.mem.i32).leaves.filter(([iova]) => iova >= SZ_2M && iova < 2 * SZ_2M);
    expect(leaves.length).toBe(511);
    expect(leaves.every(([, size]) => size === SZ_4K)).toBe(true);
    // a second partial unmap goes through the table now; a third of the same page finds nothing
    expect(h.unmap(SZ_2M + 6 * SZ_4K, SZ_4K, 3)).toBe(3 * SZ_4K);
    expect(h.unmap(SZ_2M + 5 * SZ_4K, SZ_4K)).toBe(0);
  });

  it('a 4K unmap inside a 1G block splits twice: a full table of 2M blocks, then the 2M block holding the hole', () => {
    const h = harness();
    expect(h.map(SZ_1G, 3 * SZ_1G, SZ_1G)).toBe(0);
    const before = h.free();
    const hole = SZ_1G + 3 * SZ_2M + 9 * SZ_4K;
    expect(h.unmap(hole, SZ_4K)).toBe(SZ_4K);
    expect(h.free()).toBe(before - 2);
    expect(h.phys(hole)).toBe(-1);
    expect(h.phys(hole + SZ_4K)).toBe(3 * SZ_1G + 3 * SZ_2M + 10 * SZ_4K);
    expect(h.phys(SZ_1G + 100 * SZ_2M)).toBe(3 * SZ_1G + 100 * SZ_2M);
  });

  it('the current kernel (no split) unmaps nothing and keeps the block', () => {
    const h = harness(IoPgtable);
    expect(h.map(SZ_2M, 0, SZ_2M)).toBe(0);
    expect(h.unmap(SZ_2M + SZ_4K, SZ_4K)).toBe(0);
    expect(h.phys(SZ_2M + SZ_4K)).toBe(SZ_4K);
  });
});

describe('the walk cache', () => {
  it('a walk caches the tables it passed; a block map over the L3 table flushes the walk before freeing it', () => {
    const h = harness(IoPgtable);
    expect(h.map(SZ_2M + SZ_4K, 5 * SZ_4K, SZ_4K)).toBe(0);
    expect(h.dma(SZ_2M + SZ_4K)).toBe(5 * SZ_4K);
    const l3 = h.pt.scan(h.mem.i32).tableRefs;
    const l3page = [...l3.keys()].at(-1)!;
    expect(h.walk.holding(h.mem.i32, l3page)).toEqual({ lvl: 3, iova: SZ_2M });
    expect(h.unmap(SZ_2M + SZ_4K, SZ_4K)).toBe(SZ_4K);
    // the empty L3 table stays (and stays cached) until a block replaces it
    expect(h.walk.holding(h.mem.i32, l3page)).not.toBeNull();
    expect(h.map(SZ_2M, 9 * SZ_2M, SZ_2M)).toBe(0);
    expect(h.walk.holding(h.mem.i32, l3page)).toBeNull();
    expect(h.freedWhileHeld).toEqual([]);
    expect(h.dma(SZ_2M + SZ_4K)).toBe(9 * SZ_2M + SZ_4K);
  });

  it('freeing the table before the walk flush (free-before-walk-flush) frees a page the walk cache holds', () => {
    const h = harness(FreeBeforeWalkFlushPgtable);
    expect(h.map(SZ_2M + SZ_4K, 5 * SZ_4K, SZ_4K)).toBe(0);
    expect(h.dma(SZ_2M + SZ_4K)).toBe(5 * SZ_4K);
    expect(h.unmap(SZ_2M + SZ_4K, SZ_4K)).toBe(SZ_4K);
    expect(h.map(SZ_2M, 9 * SZ_2M, SZ_2M)).toBe(0);
    expect(h.freedWhileHeld.length).toBe(1);
  });

  it('a flush drops only the regions it meets', () => {
    const h = harness(IoPgtable);
    expect(h.map(SZ_4K, SZ_4K, SZ_4K)).toBe(0);
    expect(h.map(SZ_2M, SZ_4K, SZ_4K)).toBe(0);
    h.dma(SZ_4K);
    h.dma(SZ_2M);
    const cpu = new Cpu(0, 'explore', h.mem, new Checker(pgtableScenario.invariants));
    runToEnd(h.walk.tlbFlushWalk(cpu, SZ_2M, SZ_2M));
    const pages = [...h.pt.scan(h.mem.i32).tableRefs.keys()].filter((p) => p !== IoPgtable.ROOT_PAGE);
    const held = pages.map((p) => h.walk.holding(h.mem.i32, p)?.iova);
    // L1 and L2 (regions of 512G and 1G that contain 2M) are gone; the L3 table for 0..2M stays
    expect(held.filter((x) => x !== undefined)).toEqual([0]);
  });
});

describe('explore: the split race and the walk-flush order', () => {
  const scenario = pgtableScenario;
  const run = (variant: string, seed: number, schedules: number) =>
    explore({
      scenario,
      variant: findVariant(scenario, variant)!,
      params: withDefaults(scenario, {}),
      opsPerCpu: [8, 8, 8],
      strategy: 'pct',
      depth: 3,
      schedules,
      timeMs: Number.POSITIVE_INFINITY,
      seed,
      maxSteps: 1e6,
      shrink: false,
    });

  it('split-blk-race (before 85c7a0f1ef62): the loser keeps its page mapped, PT-TRANSLATE (seeds 1-3)', () => {
    for (const seed of [1, 2, 3]) {
      const r = run('split-blk-race', seed, 1_000);
      expect(r.violation?.invariant, `seed ${seed}`).toBe('PT-TRANSLATE');
    }
  });

  it('free-before-walk-flush: PT-WALK-UAF (seeds 1-3)', () => {
    for (const seed of [1, 2, 3])
      expect(run('free-before-walk-flush', seed, 1_000).violation?.invariant).toBe('PT-WALK-UAF');
  });

  it('split-blk (after the fix) and correct stay clean over 600 schedules', () => {
    for (const v of ['split-blk', 'correct']) {
      const r = run(v, 5, 600);
      expect(r.violation, `${v}: ${r.violation?.message}`).toBeUndefined();
      expect(r.schedules).toBe(600);
    }
  });
});
