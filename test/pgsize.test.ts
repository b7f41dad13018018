/**
 * The core map path on one vCPU, step by step (no scheduler): iommu_pgsize's worked example and edge
 * cases (kernel-model.md §5.1, including the overflow-checked boundary step), iommu_map's alignment
 * check (-EINVAL, no side effect), its page-size loop and the unwind of the mapped prefix (§5.2), and
 * map_sg's sentinel pass and coalescing with one sync (§5.3).
 */
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd } from '../src/engine/cpu.js';
import { allocateMemory } from '../src/engine/layout.js';
import { withDefaults, variantOf } from '../src/engine/scenario.js';
import { iommuPgsize, LPAE_PGSIZES } from '../src/model/core/pgsize.js';
import { EINVAL, ENOMEM, IoPgtable, SZ_1G, SZ_2M, SZ_4K } from '../src/model/pgtable.js';
import { mapsgParts, mapsgScenario, windowIova } from '../src/scenarios/mapsg.js';
import { taskOf } from '../src/engine/task.js';

const SZ_4M = 2 * SZ_2M;

describe('iommu_pgsize (kernel-model.md §5.1)', () => {
  it('the worked example: 0x1ff000 -> 0x3ff000, 4M+4K: first 4K x 1 up to the 2M boundary, then 2M x 2', () => {
    expect(iommuPgsize(LPAE_PGSIZES, 0x1ff000, 0x3ff000, SZ_4M + SZ_4K)).toEqual({ pgsize: SZ_4K, count: 1 });
    expect(iommuPgsize(LPAE_PGSIZES, 0x200000, 0x400000, SZ_4M)).toEqual({ pgsize: SZ_2M, count: 2 });
  });

  it('not congruent modulo the next size: never promotable, all small pages', () => {
    // iova and paddr differ by 4K modulo 2M: 2M pages can never be used, so count covers everything.
    expect(iommuPgsize(LPAE_PGSIZES, 0x1ff000, 0x400000, SZ_4M + SZ_4K)).toEqual({
      pgsize: SZ_4K,
      count: (SZ_4M + SZ_4K) / SZ_4K,
    });
  });

  it('a boundary with no whole next-size page after it: keep going with the small page', () => {
    // 0x1ff000 + 4K reaches 2M, but only 4K more follows: offset + 2M > size, so no stop at the boundary.
    expect(iommuPgsize(LPAE_PGSIZES, 0x1ff000, 0x3ff000, 2 * SZ_4K)).toEqual({ pgsize: SZ_4K, count: 2 });
  });

  it('alignment bounds the size: an aligned 1G that is 2M-aligned only in paddr maps 2M pages', () => {
    expect(iommuPgsize(LPAE_PGSIZES, SZ_1G, SZ_1G, SZ_1G)).toEqual({ pgsize: SZ_1G, count: 1 });
    expect(iommuPgsize(LPAE_PGSIZES, SZ_1G, SZ_1G + SZ_2M, SZ_1G)).toEqual({ pgsize: SZ_2M, count: 512 });
    // iova = paddr = 0: merge is 0, no alignment bound; 1G is the largest size, so as many as fit
    expect(iommuPgsize(LPAE_PGSIZES, 0, 0, 3 * SZ_1G + SZ_2M)).toEqual({ pgsize: SZ_1G, count: 3 });
  });

  it('the largest page size has no next size: as many as fit', () => {
    expect(iommuPgsize([SZ_4K], 0x5000, 0x9000, 7 * SZ_4K)).toEqual({ pgsize: SZ_4K, count: 7 });
  });

  it('no page size fits (size below the smallest page): the kernel WARNs; the model throws', () => {
    expect(() => iommuPgsize(LPAE_PGSIZES, 0, 0, 0x800)).toThrow(/no page size fits/);
  });

  it('the overflow fix: offset + pgsize_next wrapping gave count 2 for a 1G request; check_add_overflow gives 1', () => {
    // 32-bit unsigned long, bitmap {1G, 2G}, iova = paddr = 0, size 1G: offset = 2G, offset + 2G = 4G wraps to 0.
    const word = (checkedAdd: boolean) => ({ bits: 32 as const, checkedAdd });
    expect(iommuPgsize([SZ_1G, 2 * SZ_1G], 0, 0, SZ_1G, word(false))).toEqual({ pgsize: SZ_1G, count: 2 });
    expect(iommuPgsize([SZ_1G, 2 * SZ_1G], 0, 0, SZ_1G, word(true))).toEqual({ pgsize: SZ_1G, count: 1 });
  });
});

/** A per-call mapsg model on one vCPU with its page table, driven by runToEnd. */
function fixture(variant = 'per-call', params: Record<string, number> = {}) {
  const parts = mapsgParts({
    cpus: 1,
    variant: variantOf(mapsgScenario, variant),
    params: withDefaults(mapsgScenario, { hypercallNs: 0, ...params }),
  });
  const mem = allocateMemory(parts.layout);
  parts.pool.init(mem, [IoPgtable.ROOT_PAGE]);
  parts.cookies.init(mem.i32);
  const checker = new Checker(mapsgScenario.invariants);
  const cpu = new Cpu(0, 'explore', mem, checker);
  const ctx = parts.hyp.ctx[0]!;
  const iova = windowIova(parts.g, 0, 0);
  const walk = (a: number) => parts.pt.walk(mem.i32, a);
  const hypercalls = () => parts.hyp.counts(mem.i32, 1);
  // What the op program does before a map call: the op's tag and planned failure, and the window's call in progress.
  const begin = (tag: number, failAt: number) => {
    ctx.begin(tag, failAt);
    mem.i32[parts.callBase] = tag;
  };
  return { parts, mem, checker, cpu, ctx, iova, walk, hypercalls, begin };
}

describe('iommu_map / iommu_unmap (kernel-model.md §5.2)', () => {
  it('misaligned iova, paddr or size: -EINVAL before anything is touched', () => {
    const f = fixture();
    f.begin((1 << 20) | 1, -1);
    const before = f.mem.i32.slice();
    for (const [iova, paddr, size] of [
      [f.iova + 0x800, 0x100000000, SZ_4K],
      [f.iova, 0x100000800, SZ_4K],
      [f.iova, 0x100000000, SZ_4K + 0x800],
    ] as const) {
      expect(runToEnd(f.parts.core.iommuMap(f.cpu, iova, paddr, size))).toBe(EINVAL);
    }
    expect(f.mem.i32).toEqual(before);
    expect(f.hypercalls()).toEqual([0, 0, 0]);
  });

  it('the page-size loop: 2M + 4K at 2M-aligned addresses is one block and one page, one hypercall each', () => {
    const f = fixture();
    f.begin((1 << 20) | 1, -1);
    expect(runToEnd(f.parts.core.iommuMap(f.cpu, f.iova, 0x100000000, SZ_2M + SZ_4K))).toBe(0);
    expect(f.hypercalls()).toEqual([2, 0, 0]);
    expect(f.walk(f.iova + 0x1234)).toBe(0x100001234);
    expect(f.walk(f.iova + SZ_2M)).toBe(0x100000000 + SZ_2M);
    expect(f.walk(f.iova + SZ_2M + SZ_4K)).toBe(-1);
    expect(runToEnd(f.parts.core.iommuUnmap(f.cpu, f.iova, SZ_2M + SZ_4K))).toBe(SZ_2M + SZ_4K);
    expect(f.walk(f.iova)).toBe(-1);
    expect(f.checker.violations).toEqual([]);
  });

  it('a failing map_pages stops the loop and unmaps the prefix, including what the failing call mapped', () => {
    const f = fixture();
    f.begin((1 << 20) | 1, 1); // the second map hypercall fails after committing half its leaves
    const iova = f.iova + SZ_2M - SZ_4K; // 4K x 1, then 2M x 1 (+ 4K x 2)
    const ret = runToEnd(f.parts.core.iommuMap(f.cpu, iova, 0x100000000 + SZ_2M - SZ_4K, SZ_4K + SZ_2M + 2 * SZ_4K));
    expect(ret).toBe(ENOMEM);
    expect(f.hypercalls()[0]).toBe(2);
    expect(f.hypercalls()[1]).toBeGreaterThan(0); // the unwind
    for (let off = 0; off < SZ_2M + 3 * SZ_4K; off += SZ_4K) expect(f.walk(iova + off)).toBe(-1);
    expect(f.checker.violations).toEqual([]);
  });

  it('a failing hypercall over several pages commits half of them, and the unwind takes those back too', () => {
    const f = fixture();
    f.begin((1 << 20) | 1, 0);
    // paddr not congruent with iova modulo 2M: one map_pages of 4K x 4, which commits 2 then fails.
    expect(runToEnd(f.parts.core.iommuMapNosync(f.cpu, f.iova, 0x100001000, 4 * SZ_4K))).toBe(ENOMEM);
    expect(f.hypercalls()).toEqual([1, 1, 1]);
    for (let k = 0; k < 4; k++) expect(f.walk(f.iova + k * SZ_4K)).toBe(-1);
    expect(f.checker.violations).toEqual([]);
  });
});

describe('iommu_map_sg (kernel-model.md §5.3)', () => {
  const P = 0x100000000;
  it('coalesces physically contiguous elements into one run: one map call per run, exactly one sync', () => {
    const f = fixture();
    f.begin((1 << 20) | 1, -1);
    // runs: [P, 3 pages) and [P + 4 pages, 1 page): two runs, two hypercalls
    const sg = [
      { phys: P, length: SZ_4K },
      { phys: P + SZ_4K, length: 2 * SZ_4K },
      { phys: P + 4 * SZ_4K, length: SZ_4K },
    ];
    expect(runToEnd(f.parts.core.iommuMapSg(f.cpu, f.iova, sg))).toBe(4 * SZ_4K);
    expect(f.hypercalls()[0]).toBe(2);
    expect(f.ctx.syncMaps).toBe(1);
    expect(f.walk(f.iova + 2 * SZ_4K)).toBe(P + 2 * SZ_4K);
    expect(f.walk(f.iova + 3 * SZ_4K)).toBe(P + 4 * SZ_4K);
  });

  it('the sentinel pass: a zero-length last element that continues the run leaves the run unmapped (short count)', () => {
    const f = fixture();
    f.begin((1 << 20) | 1, -1);
    const sg = [
      { phys: P, length: SZ_4K },
      { phys: P + 2 * SZ_4K, length: SZ_4K },
      { phys: P + 3 * SZ_4K, length: 0 },
    ];
    // The last run [P+2p, 1 page) then the empty element at its end: p == start + len, never flushed.
    expect(runToEnd(f.parts.core.iommuMapSg(f.cpu, f.iova, sg))).toBe(SZ_4K);
    expect(f.walk(f.iova + SZ_4K)).toBe(-1);
  });

  it('a misaligned run fails with -EINVAL and the runs before it are unmapped', () => {
    const f = fixture();
    f.begin((1 << 20) | 1, -1);
    const sg = [
      { phys: P, length: SZ_4K },
      { phys: P + 2 * SZ_4K, length: SZ_4K / 2 },
    ];
    expect(runToEnd(f.parts.core.iommuMapSg(f.cpu, f.iova, sg))).toBe(EINVAL);
    expect(f.walk(f.iova)).toBe(-1);
    expect(f.ctx.syncMaps).toBe(0);
    expect(f.checker.violations).toEqual([]);
  });

  it('the cookie: one hypercall per map_sg when the buffer holds every run; the cookie is released', () => {
    const f = fixture('cookie', { cookieEntries: 8 });
    f.begin((1 << 20) | 1, -1);
    const sg = [0, 2, 4, 6].map((k) => ({ phys: P + k * SZ_4K, length: SZ_4K }));
    expect(runToEnd(f.parts.core.iommuMapSg(f.cpu, f.iova, sg))).toBe(4 * SZ_4K);
    expect(f.hypercalls()[0]).toBe(1);
    expect(f.parts.cookies.freeCount(f.mem.i32)).toBe(f.parts.cookies.cookies);
  });

  it('the domain list: runs parked by map_pages, committed by the one iotlb_sync_map in one hypercall', () => {
    const f = fixture('domain-list-locked');
    f.begin((1 << 20) | 1, -1);
    const sg = [0, 2, 4].map((k) => ({ phys: P + k * SZ_4K, length: SZ_4K }));
    expect(runToEnd(f.parts.core.iommuMapSg(f.cpu, f.iova, sg))).toBe(3 * SZ_4K);
    expect(f.hypercalls()[0]).toBe(1);
    expect(f.parts.list!.parked(f.mem.i32, 0)).toBe(0);
    expect(taskOf(f.cpu).held).toEqual([]); // the window's lock is released
    expect(f.walk(f.iova + 2 * SZ_4K)).toBe(P + 4 * SZ_4K);
  });

  it('the domain list: a failing commit leaves the rest parked and the unwind cancels it and unmaps the committed part', () => {
    const f = fixture('domain-list-locked');
    f.begin((1 << 20) | 1, 0);
    const sg = [0, 2, 4, 6].map((k) => ({ phys: P + k * SZ_4K, length: SZ_4K }));
    expect(runToEnd(f.parts.core.iommuMapSg(f.cpu, f.iova, sg))).toBe(ENOMEM);
    expect(f.parts.list!.parked(f.mem.i32, 0)).toBe(0);
    expect(taskOf(f.cpu).held).toEqual([]);
    for (let k = 0; k < 4; k++) expect(f.walk(f.iova + k * SZ_4K)).toBe(-1);
    expect(f.checker.violations).toEqual([]);
  });
});
