/**
 * A bug placed in a rare path is caught by the default suite (issue 13): each variant below injects one
 * through the scenario's seams — the full-IOVA-space path, the one-shot flush of every CPU's range cache,
 * the full flush-queue ring, the full virtio-iommu request ring, the 2 MiB block mapping — and expects 'clean'. The suite restricted to that
 * variant fails: its explore leg (the default strategy and seed handling of `run`, on every parameter set
 * `run` gives the variant, regimes included) finds the violation within a bounded number of schedules,
 * deterministically. The explore leg alone suffices here, so the stress leg is not run.
 *
 * The 2 MiB and request-ring cases also show why the regimes exist: the scenarios' own explore parameters
 * map no block and never find the request ring full (every request is synced before the next), and those
 * bugs are seen only in the `huge` and `full-ring` regimes.
 */
import { describe, expect, it } from 'vitest';
import {
  extendScenario,
  flushqScenario,
  FlushQueue,
  IommuCore,
  IovaDomain,
  IovaRcaches,
  iovaScenario,
  LockedViommuDriver,
  mapsgScenario,
  RequestQueue,
  viommuScenario,
  type Cpu,
  type DomainOps,
  type Op,
  type ScenarioDef,
  type VariantDef,
} from '../src/api.js';
import type { ViommuHost } from '../src/model/viommu/host.js';
import type { ViommuLayout } from '../src/model/viommu/layout.js';
import { RANK_REQUEST_LOCK } from '../src/model/viommu/locks.js';
import { paramSets } from '../src/cli/run.js';
import { explore } from '../src/explore/explore.js';
import { DEFAULT_DEPTH, DEFAULT_STRATEGY } from '../src/explore/strategies.js';

/** Full IOVA space: once the one-shot flush could not make room either, a pfn just above the limit. */
class FullSpaceOffByOne extends IovaDomain {
  override *allocIovaFast(cpu: Cpu, size: number, limitPfn: number, flushRcache: boolean): Op<number> {
    const pfn = yield* super.allocIovaFast(cpu, size, limitPfn, flushRcache);
    return pfn === 0 && flushRcache ? limitPfn + 1 : pfn;
  }
}

/** One-shot flush: free_cpu_cached_iovas gives a magazine's ranges back to the rbtree but forgets mag->size = 0. */
class FlushKeepsSize extends IovaRcaches {
  override *iovaMagazineFreePfns(cpu: Cpu, m: number, k: number, whose: string): Op {
    const size = Atomics.load(cpu.i32, this.pool.head(m));
    yield* super.iovaMagazineFreePfns(cpu, m, k, whose);
    Atomics.store(cpu.i32, this.pool.head(m), size);
  }
}

/** Full flush-queue ring: the oldest entry is freed first, and the flush that covers it comes after. */
class FreeBeforeFlushWhenFull extends FlushQueue {
  protected override *fqRingFull(cpu: Cpu, r: number): Op {
    yield* this.fqEntryFree(cpu, r);
    yield* this.fqFlushIotlb(cpu);
  }
}

/** Full request ring: the full check is off by one, so the request after a full ring overwrites the oldest. */
class RingFullOffByOne extends RequestQueue {
  protected override ringFull(i32: Int32Array): boolean {
    return Atomics.load(i32, this.L.rqTail) - Atomics.load(i32, this.L.rqHead) > this.L.ringSize;
  }
}
class RingFullOffByOneDriver extends LockedViommuDriver {
  protected override makeRequestQueue(L: ViommuLayout, host: ViommuHost): RequestQueue {
    return new RingFullOffByOne(L, host, RANK_REQUEST_LOCK);
  }
}

const SZ_2M = 2 << 20;
/** 2 MiB block: map_pages of a block writes the physical address of its second page. */
class BlockOffByOnePage extends IommuCore {
  constructor(ops: DomainOps, pgsizes?: readonly number[]) {
    const wrapped = Object.create(ops) as DomainOps;
    wrapped.mapPages = function* (cpu: Cpu, iova: number, paddr: number, pgsize: number, count: number) {
      return yield* ops.mapPages.call(this, cpu, iova, pgsize === SZ_2M ? paddr + 4096 : paddr, pgsize, count);
    };
    super(wrapped, pgsizes);
  }
}

/**
 * The explore leg of `run <scenario> --variant <name>` on each of the variant's parameter sets, as the
 * default suite runs it: the first violation, and the regime it came from.
 */
function defaultSuiteExplore(
  base: ScenarioDef,
  variant: VariantDef,
  schedules: number,
): { invariant: string; regime: string } | undefined {
  const s = extendScenario(base, [variant]) as ScenarioDef;
  for (const set of paramSets(s, undefined)) {
    const opsPerCpu = Array<number>(s.exploreCpus).fill(s.exploreOps);
    const o = explore({
      scenario: s,
      variant,
      params: set.exploreParams,
      opsPerCpu,
      strategy: DEFAULT_STRATEGY,
      depth: DEFAULT_DEPTH,
      schedules,
      timeMs: 600_000,
      seed: 1,
      maxSteps: 400_000,
      shrink: false,
    });
    if (o.violation) return { invariant: o.violation.invariant, regime: set.regime ?? '' };
  }
  return undefined;
}

const clean = (name: string, patch: unknown): VariantDef => ({
  name,
  summary: 'an injected bug',
  expect: 'clean',
  patch,
});

describe('a bug in a rare path fails the default suite restricted to its variant', () => {
  it('full IOVA space: a pfn above the limit once the space is full', () => {
    const found = defaultSuiteExplore(
      iovaScenario as ScenarioDef,
      clean('full-space-off-by-one', { domain: FullSpaceOffByOne }),
      64,
    );
    expect(found?.invariant).toBe('I1');
  });

  it('one-shot rcache flush: ranges freed to the rbtree stay in the magazine', () => {
    const found = defaultSuiteExplore(
      iovaScenario as ScenarioDef,
      clean('flush-keeps-size', { rcaches: FlushKeepsSize }),
      64,
    );
    expect(['I2', 'I5', 'IOVA-LEAK', 'I1', 'IOVA-DRAIN', 'IOVA-ACCT']).toContain(found?.invariant);
  });

  it('full flush-queue ring: an entry freed before the flush that covers it', () => {
    const found = defaultSuiteExplore(
      flushqScenario as ScenarioDef,
      clean('free-before-flush-when-full', { flushQueue: FreeBeforeFlushWhenFull }),
      64,
    );
    expect(['F1', 'DMA-CORRUPT']).toContain(found?.invariant);
  });

  it('full request ring: the request after a full ring overwrites a pending one (seen in the full-ring regime only)', () => {
    const v = clean('ring-full-off-by-one', { driver: RingFullOffByOneDriver });
    const found = defaultSuiteExplore(viommuScenario as ScenarioDef, v, 64);
    expect(found).toEqual({ invariant: expect.stringMatching(/^V-/), regime: 'full-ring' });
  });

  it('2 MiB block mapping: the block translates one page off (seen in the huge regime only)', () => {
    const v = clean('block-off-by-one-page', { core: BlockOffByOnePage });
    const found = defaultSuiteExplore(mapsgScenario as ScenarioDef, v, 32);
    expect(found).toEqual({ invariant: expect.stringMatching(/^MAPSG-/), regime: 'huge' });
  });
});
