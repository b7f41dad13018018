/**
 * IOVA allocator benchmark (issue 3, deliver 7): allocate+free pairs per second through the per-CPU
 * range cache vs straight through the rbtree, with the list depot vs the fixed 32-magazine depot, on 1
 * and 2 stress workers, each measured in the same run as a raw Atomics.add so the ratios are what to
 * quote (DESIGN.md "Performance targets").
 *
 * Shapes (scenario `iova`, parameter `bench`): `local` = each op allocates a cacheable size (1..32
 * granules, mostly small) and frees the oldest of the RESIDENT ranges the vCPU holds (a working set of
 * in-flight mappings, so the rbtree is populated and its walks are not trivially short); `handoff` = each op allocates, passes the
 * range to the next vCPU's mailbox slot and frees what its own slot holds, so magazines fill on one
 * vCPU and empty on the other and move through the depot. The domain starts cold and large (32 Ki
 * granules, no reserved window) so that no allocation fails, and the online shadow checks are off —
 * they cost a compare-and-swap per granule and would dominate; the quiescent scans still run between
 * slices.
 */
import { findVariant, withDefaults } from '../engine/scenario.js';
import { iovaScenario } from '../scenarios/iova.js';
import { stress } from '../stress/stress.js';
import { microBench } from './micro.js';

export interface IovaRate {
  readonly shape: 'local' | 'handoff';
  readonly path: 'rcache' | 'rbtree';
  readonly depot: 'list' | 'fixed';
  readonly workers: number;
  readonly pairsPerSec: number;
  /** Wall-clock ns per pair per worker (what one vCPU pays for one alloc+free). */
  readonly nsPerPair: number;
  /** nsPerPair over one raw Atomics.add measured in the same run. */
  readonly overAtomicsAdd: number;
  readonly outcomes: Record<string, number>;
}

export interface IovaBench {
  readonly atomicsAddNs: number;
  readonly stepNs: number;
  readonly rates: readonly IovaRate[];
  readonly ratios: {
    /** rcache over rbtree pairs/s, local shape, 1 and 2 workers. */
    readonly cacheOverTree1: number;
    readonly cacheOverTree2: number;
    /** 2 workers over 1. */
    readonly scalingCache: number;
    readonly scalingTree: number;
    /** list depot over fixed depot pairs/s, handoff shape, 2 workers. */
    readonly listOverFixed2: number;
  };
}

/**
 * Long slices: each one starts from a fresh model (init + a quiescent scan on the main thread while the
 * workers wait at the barrier), so short ones would charge that to the allocator; 250 ms also lets the
 * list depot's 100 ms reclaim work run inside a slice, as it does in the kernel.
 */
const SLICE_MS = 250;
const RESIDENT = 64;
const BENCH_PARAMS = { spacePfns: 1 << 15, dma32Pfn: 1 << 14, resvPfns: 0, warm: 0, warmDepot: 0, checks: 0, maxLive: RESIDENT } as const;

export async function iovaBench(timeMs: number, progress: (s: string) => void): Promise<IovaBench> {
  progress('iova: raw Atomics.add baseline (tinybench)');
  const micro = await microBench(timeMs);
  const configs: Omit<IovaRate, 'pairsPerSec' | 'nsPerPair' | 'overAtomicsAdd' | 'outcomes'>[] = [];
  for (const workers of [1, 2]) {
    configs.push({ shape: 'local', path: 'rcache', depot: 'list', workers });
    configs.push({ shape: 'local', path: 'rbtree', depot: 'list', workers });
    configs.push({ shape: 'handoff', path: 'rcache', depot: 'list', workers });
    configs.push({ shape: 'handoff', path: 'rcache', depot: 'fixed', workers });
  }
  const rates: IovaRate[] = [];
  for (const c of configs) {
    progress(`iova: ${c.shape} pairs via ${c.path}, ${c.depot} depot, ${c.workers} worker(s)`);
    const variant = findVariant(iovaScenario, c.depot === 'fixed' ? 'fixed-depot' : 'correct')!;
    const params = withDefaults(iovaScenario, { ...BENCH_PARAMS, bench: c.shape === 'local' ? 1 : 2, treeOnly: c.path === 'rbtree' ? 1 : 0 });
    const r = await stress({
      scenario: iovaScenario, variant, params, workers: c.workers, timeMs, opBudget: Infinity, seed: 1, sliceMs: SLICE_MS, watchdogMs: 30_000,
    });
    if (r.violation) throw new Error(`iova bench: ${c.shape}/${c.path}/${c.depot} reported ${r.violation.invariant}: ${r.violation.message}`);
    const pairsPerSec = r.ops / (r.durationMs / 1000);
    const nsPerPair = (1e9 / pairsPerSec) * c.workers;
    rates.push({ ...c, pairsPerSec, nsPerPair, overAtomicsAdd: nsPerPair / micro.atomicsAddNs, outcomes: r.outcomes });
  }
  const rate = (shape: string, path: string, depot: string, workers: number): number =>
    rates.find((x) => x.shape === shape && x.path === path && x.depot === depot && x.workers === workers)!.pairsPerSec;
  return {
    atomicsAddNs: micro.atomicsAddNs,
    stepNs: micro.stepNs,
    rates,
    ratios: {
      cacheOverTree1: rate('local', 'rcache', 'list', 1) / rate('local', 'rbtree', 'list', 1),
      cacheOverTree2: rate('local', 'rcache', 'list', 2) / rate('local', 'rbtree', 'list', 2),
      scalingCache: rate('local', 'rcache', 'list', 2) / rate('local', 'rcache', 'list', 1),
      scalingTree: rate('local', 'rbtree', 'list', 2) / rate('local', 'rbtree', 'list', 1),
      listOverFixed2: rate('handoff', 'rcache', 'list', 2) / rate('handoff', 'rcache', 'fixed', 2),
    },
  };
}

const M = (x: number): string => `${(x / 1e6).toFixed(3)} M`;

export function iovaBenchText(b: IovaBench): string {
  const r = b.ratios;
  return [
    `raw Atomics.add (main thread)   ${b.atomicsAddNs.toFixed(2)} ns/op   (one model step in-thread: ${b.stepNs.toFixed(2)} ns)`,
    '',
    'iova alloc+free pairs (stress)  shape    path    depot  workers   pairs/s      ns/pair/worker   x Atomics.add',
    ...b.rates.map((x) => `  ${''.padEnd(30)}${x.shape.padEnd(9)}${x.path.padEnd(8)}${x.depot.padEnd(7)}${String(x.workers).padStart(7)}   ${M(x.pairsPerSec).padStart(10)}   ${x.nsPerPair.toFixed(0).padStart(14)}   ${x.overAtomicsAdd.toFixed(0).padStart(13)}`),
    '',
    `  rcache / rbtree (local)       1 worker ${r.cacheOverTree1.toFixed(2)}x   2 workers ${r.cacheOverTree2.toFixed(2)}x`,
    `  2 workers / 1                 rcache ${r.scalingCache.toFixed(2)}x   rbtree ${r.scalingTree.toFixed(2)}x`,
    `  list / fixed depot (handoff, 2 workers)  ${r.listOverFixed2.toFixed(2)}x`,
  ].join('\n');
}
