/**
 * 64-bit pfns in the IOVA tree (src/model/iova/iova-tree.ts): the anchor holds ~0UL, pfn words are 64-bit,
 * and dcdb3ba7e2a8 "iommu/iova: Fix alloc iova overflows issue" as a variant (alloc-overflow): before the
 * fix, retry_pfn = pfn_hi + 1 wraps to 0 on the anchor and the retry pass allocates below start_pfn.
 */
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd } from '../src/engine/cpu.js';
import { allocateMemory, at, defineLayout, region } from '../src/engine/layout.js';
import { findVariant, withDefaults } from '../src/engine/scenario.js';
import { explore } from '../src/explore/explore.js';
import { ANCHOR_NODE, IOVA_ANCHOR, IovaTree, iovaTreeRegions, type IovaGeometry } from '../src/model/iova/iova-tree.js';
import { AllocOverflowTree } from '../src/model/iova/tree-variants.js';
import { iovaScenario } from '../src/scenarios/iova.js';

const G: IovaGeometry = { startPfn: 1, dma32Pfn: 64, spacePfns: 128 };

function harness(Tree: typeof IovaTree) {
  const layout = defineLayout(1, iovaTreeRegions(G));
  const mem = allocateMemory(layout);
  const tree = new Tree(layout, G);
  tree.init(mem.i32);
  const cpu = new Cpu(0, 'explore', mem, new Checker(iovaScenario.invariants));
  return {
    mem,
    tree,
    nodes: at(region(layout, 'iova.nodes')),
    alloc: (size: number, limitPfn: number) => runToEnd(tree.allocIova(cpu, size, limitPfn, true)),
    reserve: (lo: number, hi: number) => runToEnd(tree.reserveIova(cpu, lo, hi)),
  };
}

describe('iova tree on 64-bit pfns', () => {
  it('the anchor holds ~0UL: its pfn words are all ones (sign-extended), read as IOVA_ANCHOR above every pfn', () => {
    const h = harness(IovaTree);
    expect([...h.mem.i32.subarray(h.nodes, h.nodes + 2)]).toEqual([-1, -1]);
    expect(h.tree.lo(h.mem.i32, ANCHOR_NODE)).toBe(IOVA_ANCHOR);
    expect(IOVA_ANCHOR > Number.MAX_SAFE_INTEGER).toBe(true);
  });

  it('pfns up to 2^31 - 1 are stored exactly; a pfn the words cannot hold is refused, naming it', () => {
    const h = harness(IovaTree);
    const top = 2 ** 31 - 6;
    expect(h.reserve(top, top + 5)).toBe(true);
    expect(h.tree.ranges(h.mem.i32)).toEqual([[top, top + 5]]);
    expect(() => h.reserve(2 ** 40, 2 ** 40 + 1)).toThrow(/pfn 1099511627776 is outside/);
  });

  // A reserved window fills [32, 63]: a 32-granule aligned 32-bit request has no gap at or above start_pfn.
  it('the upstream retry (retry_pfn = pfn_hi): a search from the anchor with no gap fails', () => {
    const h = harness(IovaTree);
    h.reserve(32, 63);
    expect(h.alloc(32, 63)).toBe(-1);
    expect(h.tree.ranges(h.mem.i32)).toEqual([[32, 63]]);
  });

  it('alloc-overflow (before dcdb3ba7e2a8): pfn_hi + 1 wraps to 0 on the anchor and the range starts at pfn 0', () => {
    const h = harness(AllocOverflowTree);
    h.reserve(32, 63);
    expect(h.alloc(32, 63)).toBe(0);
    expect(h.tree.ranges(h.mem.i32)).toEqual([
      [0, 31],
      [32, 63],
    ]);
  });

  it('explore finds alloc-overflow (I1) and correct stays clean, seed 1', () => {
    const run = (variant: string, schedules: number) =>
      explore({
        scenario: iovaScenario,
        variant: findVariant(iovaScenario, variant)!,
        params: withDefaults(iovaScenario, {}),
        opsPerCpu: [10, 10, 10],
        strategy: 'pct',
        depth: 3,
        schedules,
        timeMs: Number.POSITIVE_INFINITY,
        seed: 1,
        maxSteps: 1e6,
        shrink: false,
      });
    expect(run('alloc-overflow', 100).violation?.invariant).toBe('I1');
    expect(run('correct', 50).violation).toBeUndefined();
  });
});
