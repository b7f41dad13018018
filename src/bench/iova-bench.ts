/**
 * IOVA allocator benchmark (issue 3, deliver 7; issue 10, deliver 5): allocate+free pairs per second
 * through the per-CPU range cache of each variant benched (by default `correct` — the v6.7 list depot —
 * and `fixed-depot`; any resolved variant of scenario `iova`, built-in or from a user's scenario file)
 * and straight through the rbtree of the first, on 1 and 2 stress workers, each measured in the same
 * run as a raw Atomics.add so the ratios are what to quote (DESIGN.md "Performance targets").
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
import { variantOf, withDefaults, type ScenarioDef, type VariantDef } from '../engine/scenario.js';
import type { IovaPatch } from '../model/iova/patch.js';
import { iovaScenario } from '../scenarios/iova.js';
import { stress } from '../stress/stress.js';
import { microBench } from './micro.js';

export interface IovaRate {
  readonly shape: 'local' | 'handoff';
  readonly path: 'rcache' | 'rbtree';
  /** The variant benched (its rcache; the rbtree rows run the first variant's tree). */
  readonly variant: string;
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
  /** The variants benched, in order; the first is the baseline of `vsBaseline`. */
  readonly variants: readonly string[];
  readonly rates: readonly IovaRate[];
  readonly ratios: {
    /** rcache over rbtree pairs/s, local shape, first variant, 1 and 2 workers (the largest count benched). */
    readonly cacheOverTree1: number;
    readonly cacheOverTree2: number;
    /** 2 workers over 1, first variant. */
    readonly scalingCache: number;
    readonly scalingTree: number;
    /** Per variant after the first: its pairs/s over the first's, per shape, at the largest worker count. */
    readonly vsBaseline: readonly { readonly variant: string; readonly local: number; readonly handoff: number }[];
  };
}

export interface IovaBenchOptions {
  /** The scenario the variants belong to (a user's extendScenario(iovaScenario, …)); default iovaScenario. */
  readonly scenario?: ScenarioDef<IovaPatch>;
  /** Resolved variants to bench; default correct and fixed-depot (the list vs the fixed depot). */
  readonly variants?: readonly VariantDef<IovaPatch>[];
  /** Worker counts; default [1, 2]. */
  readonly workers?: readonly number[];
  readonly seed?: number;
  /** Time budget of the raw Atomics.add baseline; default timeMs. */
  readonly microMs?: number;
  /** Stop each measurement after this many ops per vCPU (a smoke run), or at the time budget (default). */
  readonly opsPerCpu?: number;
  /** The compiled module of the user's scenario file (the stress workers load it to find its variants). */
  readonly scenarioFile?: string;
}

/**
 * Long slices: each one starts from a fresh model (init + a quiescent scan on the main thread while the
 * workers wait at the barrier), so short ones would charge that to the allocator; 250 ms also lets the
 * list depot's 100 ms reclaim work run inside a slice, as it does in the kernel.
 */
const SLICE_MS = 250;
const RESIDENT = 64;
/** The iova suite's scenario parameters (also the cross-check's simulated runs, cross-check.ts). */
export const IOVA_BENCH_PARAMS = {
  spacePfns: 1 << 15,
  dma32Pfn: 1 << 14,
  resvPfns: 0,
  warm: 0,
  warmDepot: 0,
  checks: 0,
  maxLive: RESIDENT,
} as const;

/**
 * Bench the variants' range caches: `local` and `handoff` pairs via the rcache for every variant, and
 * the `local` shape straight on the first variant's rbtree, at each worker count.
 */
export async function iovaBench(
  timeMs: number,
  progress: (s: string) => void,
  opts: IovaBenchOptions = {},
): Promise<IovaBench> {
  const scenario = opts.scenario ?? iovaScenario;
  const variants = opts.variants ?? [variantOf(scenario, 'correct'), variantOf(scenario, 'fixed-depot')];
  if (variants.length === 0) throw new Error('iova bench: no variant to bench');
  const workerCounts = opts.workers ?? [1, 2];
  progress('iova: raw Atomics.add baseline (tinybench)');
  const micro = await microBench(opts.microMs ?? timeMs);
  const configs: (Pick<IovaRate, 'shape' | 'path' | 'workers'> & { v: VariantDef<IovaPatch> })[] = [];
  for (const workers of workerCounts) {
    configs.push({ shape: 'local', path: 'rbtree', workers, v: variants[0]! });
    for (const v of variants) {
      configs.push({ shape: 'local', path: 'rcache', workers, v });
      configs.push({ shape: 'handoff', path: 'rcache', workers, v });
    }
  }
  const rates: IovaRate[] = [];
  for (const { v, ...c } of configs) {
    progress(`iova: ${c.shape} pairs via ${c.path}, variant ${v.name}, ${c.workers} worker(s)`);
    const params = withDefaults(scenario, {
      ...IOVA_BENCH_PARAMS,
      bench: c.shape === 'local' ? 1 : 2,
      treeOnly: c.path === 'rbtree' ? 1 : 0,
    });
    const r = await stress({
      scenario,
      variant: v,
      params,
      workers: c.workers,
      timeMs,
      opBudget: opts.opsPerCpu ?? Infinity,
      seed: opts.seed ?? 1,
      sliceMs: SLICE_MS,
      watchdogMs: 30_000,
      ...(opts.scenarioFile !== undefined ? { scenarioFile: opts.scenarioFile } : {}),
    });
    // A variant expected to break an invariant may do so here (the bench is not its test): record it.
    if (r.violation && v.expect === 'clean') {
      throw new Error(
        `iova bench: ${c.shape}/${c.path}/${v.name} reported ${r.violation.invariant}: ${r.violation.message}`,
      );
    }
    const pairsPerSec = r.ops / (r.durationMs / 1000);
    const nsPerPair = (1e9 / pairsPerSec) * c.workers;
    rates.push({
      ...c,
      variant: v.name,
      pairsPerSec,
      nsPerPair,
      overAtomicsAdd: nsPerPair / micro.atomicsAddNs,
      outcomes: r.outcomes,
    });
  }
  const rate = (shape: string, path: string, variant: string, workers: number): number =>
    rates.find((x) => x.shape === shape && x.path === path && x.variant === variant && x.workers === workers)
      ?.pairsPerSec ?? Number.NaN;
  const base = variants[0]!.name;
  const lo = workerCounts[0]!;
  const hi = workerCounts[workerCounts.length - 1]!;
  return {
    atomicsAddNs: micro.atomicsAddNs,
    stepNs: micro.stepNs,
    variants: variants.map((v) => v.name),
    rates,
    ratios: {
      cacheOverTree1: rate('local', 'rcache', base, lo) / rate('local', 'rbtree', base, lo),
      cacheOverTree2: rate('local', 'rcache', base, hi) / rate('local', 'rbtree', base, hi),
      scalingCache: rate('local', 'rcache', base, hi) / rate('local', 'rcache', base, lo),
      scalingTree: rate('local', 'rbtree', base, hi) / rate('local', 'rbtree', base, lo),
      vsBaseline: variants.slice(1).map((v) => ({
        variant: v.name,
        local: rate('local', 'rcache', v.name, hi) / rate('local', 'rcache', base, hi),
        handoff: rate('handoff', 'rcache', v.name, hi) / rate('handoff', 'rcache', base, hi),
      })),
    },
  };
}

const M = (x: number): string => `${(x / 1e6).toFixed(3)} M`;

export function iovaBenchText(b: IovaBench): string {
  const r = b.ratios;
  const w = Math.max(7, ...b.variants.map((v) => v.length + 1));
  const hiW = Math.max(...b.rates.map((x) => x.workers));
  return [
    `raw Atomics.add (main thread)   ${b.atomicsAddNs.toFixed(2)} ns/op   (one model step in-thread: ${b.stepNs.toFixed(2)} ns)`,
    '',
    `iova alloc+free pairs (stress)  shape    path    ${'variant'.padEnd(w)}workers   pairs/s      ns/pair/worker   x Atomics.add`,
    ...b.rates.map(
      (x) =>
        `  ${''.padEnd(30)}${x.shape.padEnd(9)}${x.path.padEnd(8)}${x.variant.padEnd(w)}${String(x.workers).padStart(7)}   ${M(x.pairsPerSec).padStart(10)}   ${x.nsPerPair.toFixed(0).padStart(14)}   ${x.overAtomicsAdd.toFixed(0).padStart(13)}`,
    ),
    '',
    `  rcache / rbtree (local, ${b.variants[0]})   fewest workers ${r.cacheOverTree1.toFixed(2)}x   most ${r.cacheOverTree2.toFixed(2)}x`,
    `  most workers / fewest         rcache ${r.scalingCache.toFixed(2)}x   rbtree ${r.scalingTree.toFixed(2)}x`,
    ...r.vsBaseline.map(
      (x) =>
        `  ${x.variant} / ${b.variants[0]} (${hiW} workers)  local ${x.local.toFixed(2)}x   handoff ${x.handoff.toFixed(2)}x`,
    ),
  ].join('\n');
}
