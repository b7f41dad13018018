/**
 * The flush-queue benchmark: per-CPU vs single flush queue, strict as the baseline — kernel-model.md
 * §3.5 (why s390 paged guests want one big queue: flushes are expensive and serialised) and §8
 * (dma_map_benchmark, whose loop and output lines this reproduces).
 *
 * Every combination of queue mode x workers x flush cost runs the `flushq` scenario's benchmark loop
 * (map, optional transfer, unmap) on real worker threads for the time budget. For each it reports what
 * dma_map_benchmark prints — average map and unmap latency with standard deviation, in its units and
 * truncation — and what that tool lacks: throughput, p50/p99 latency, IOTLB flushes per 1,000 unmaps,
 * the most IOVAs held in queues, and the lazy exposure window's p50/p99.
 */
import { Bench } from 'tinybench';
import { Checker } from '../check/checker.js';
import { Cpu, runToEnd } from '../engine/cpu.js';
import { allocateMemory } from '../engine/layout.js';
import { withDefaults, variantOf, type ScenarioDef, type VariantDef } from '../engine/scenario.js';
import { RealClock } from '../engine/clock.js';
import { IoPgtable, SZ_4K } from '../model/pgtable.js';
import { flushqParts, flushqScenario, type FlushqPatch } from '../scenarios/flushq.js';
import { stress } from '../stress/stress.js';

/** The built-in variants the benchmark compares by default (the queue modes). */
export type FqMode = 'percpu' | 'single' | 'strict';
export const FQ_MODES: readonly FqMode[] = ['percpu', 'single', 'strict'];

export interface FqBenchOptions {
  /**
   * The variants to run: resolved VariantDefs of the flushq scenario — built-in ones or a user's added
   * with extendScenario (`bench --scenario-file F --variant V,...`). Takes precedence over `modes`.
   */
  readonly variants?: readonly VariantDef<FlushqPatch>[];
  /** Built-in variant names (`--fq percpu,single,strict`), used when `variants` is not given. */
  readonly modes?: readonly string[];
  /** The scenario the variants belong to: flushqScenario (default) or a user's extension of it. */
  readonly scenario?: ScenarioDef<FlushqPatch>;
  /** A user's scenario file (its compiled module): the worker threads load it to find its variants. */
  readonly scenarioFile?: string;
  readonly workers: readonly number[];
  readonly flushCostsNs: readonly number[];
  readonly serial: boolean;
  readonly transferNs: number;
  readonly pages: number;
  readonly timeMs: number;
  /** Ops per worker per measurement instead of timeMs (load-independent runs: tests). */
  readonly opBudget?: number;
  /**
   * Stress slice length (default 100 ms). At every slice barrier the workers wait while the main thread
   * scans the model (quiescent checks): ~1 ms for per-CPU queues, 15-30 ms for the single queue's
   * 32,768-entry ring and the IOVAs it holds — harness time in the throughput. The cross-check runs one
   * slice per measurement (bench/cross-check.ts).
   */
  readonly sliceMs?: number;
  readonly seed: number;
}

export interface FqRow {
  /** The variant's name (a queue mode, or a user's variant). */
  readonly mode: string;
  readonly workers: number;
  readonly flushCostNs: number;
  readonly flush: 'serial' | 'parallel';
  readonly transferNs: number;
  /** Pages per mapping (dma_map_benchmark's granule). */
  readonly pages: number;
  readonly seconds: number;
  /** dma_map_benchmark's four figures (µs, one decimal, its integer arithmetic). */
  readonly mapAvgUs: number;
  readonly mapStddevUs: number;
  readonly unmapAvgUs: number;
  readonly unmapStddevUs: number;
  readonly loops: number;
  /** map+unmap pairs per second, all workers together. */
  readonly throughput: number;
  readonly mapP50Us: number;
  readonly mapP99Us: number;
  readonly unmapP50Us: number;
  readonly unmapP99Us: number;
  readonly flushesPer1kUnmaps: number;
  readonly peakQueued: number;
  readonly exposureP50Us: number;
  readonly exposureP99Us: number;
  /** Exposure windows by quarter-octave bucket of ns (latency.ts). */
  readonly exposureHist: readonly number[];
}

export interface FqMicro {
  /** ns per call, tinybench medians, one thread, no contention. */
  readonly atomicsAddNs: number;
  readonly rcacheGetPutNs: number;
  readonly pgtableMapUnmapNs: number;
  /** An allocation feeding each queue_iova: subtract half the get+put pair for queue_iova alone. */
  readonly allocQueueIovaNs: number;
}

/** The variants an options object names: `variants` as given, else `modes` (default FQ_MODES) resolved. */
export function fqBenchVariants(o: Pick<FqBenchOptions, 'variants' | 'modes' | 'scenario'>): VariantDef<FlushqPatch>[] {
  if (o.variants) return [...o.variants];
  const s = o.scenario ?? flushqScenario;
  return (o.modes ?? FQ_MODES).map((m) => variantOf(s, m));
}

/**
 * Every variant x workers x flush cost, on worker threads (the scenario's bench=1 loop). A variant
 * expected clean that reports a violation is an error (the numbers of a broken variant mean nothing).
 */
export async function fqBench(o: FqBenchOptions, progress: (s: string) => void): Promise<FqRow[]> {
  const rows: FqRow[] = [];
  for (const variant of fqBenchVariants(o)) {
    for (const workers of o.workers) {
      for (const cost of o.flushCostsNs) {
        progress(
          `fq bench: ${variant.name}, ${workers} worker(s), flush ${cost} ns ${o.serial ? 'serial' : 'parallel'}`,
        );
        rows.push(await oneCombination(o, variant, workers, cost));
      }
    }
  }
  return rows;
}

/** The flushq parameters of one benchmark combination (shared with the simulated bench, sim/fq-sim.ts). */
export function fqBenchParams(
  s: ScenarioDef<FlushqPatch>,
  o: { readonly serial: boolean; readonly transferNs: number; readonly pages: number },
  flushCostNs: number,
): Record<string, number> {
  return withDefaults(s, {
    bench: 1,
    checks: 0,
    deviceWeight: 0,
    teardownPermille: 0,
    flushCostNs,
    serialFlush: o.serial ? 1 : 0,
    transferNs: o.transferNs,
    maxPages: o.pages,
    // Enough IOVA space that the benchmark never runs dry: every queue full, plus the caches.
    spacePfns: 1 << 18,
  });
}

async function oneCombination(
  o: FqBenchOptions,
  variant: VariantDef<FlushqPatch>,
  workers: number,
  flushCostNs: number,
): Promise<FqRow> {
  const s = o.scenario ?? flushqScenario;
  const mode = variant.name;
  const params = fqBenchParams(s, o, flushCostNs);
  const r = await stress({
    scenario: s as ScenarioDef,
    variant,
    params,
    workers,
    scenarioFile: o.scenarioFile,
    timeMs: o.opBudget ? Infinity : o.timeMs,
    opBudget: o.opBudget ?? Infinity,
    seed: o.seed,
    sliceMs: o.sliceMs ?? 100,
    watchdogMs: 30_000,
  });
  if (r.violation) throw new Error(`fq bench: ${mode} reported ${r.violation.invariant}: ${r.violation.message}`);
  const st = r.stats!;
  const n = (k: string) => st[k] as number;
  const seconds = r.durationMs / 1000;
  return {
    mode,
    workers,
    flushCostNs,
    flush: o.serial ? 'serial' : 'parallel',
    transferNs: o.transferNs,
    pages: o.pages,
    seconds,
    mapAvgUs: n('mapAvgUs'),
    mapStddevUs: n('mapStddevUs'),
    unmapAvgUs: n('unmapAvgUs'),
    unmapStddevUs: n('unmapStddevUs'),
    loops: n('loops'),
    throughput: n('loops') / seconds,
    mapP50Us: n('mapP50Ns') / 1000,
    mapP99Us: n('mapP99Ns') / 1000,
    unmapP50Us: n('unmapP50Ns') / 1000,
    unmapP99Us: n('unmapP99Ns') / 1000,
    flushesPer1kUnmaps: n('loops') > 0 ? (1000 * n('flushes')) / n('loops') : 0,
    peakQueued: n('peakQueued'),
    exposureP50Us: n('exposureP50Ns') / 1000,
    exposureP99Us: n('exposureP99Ns') / 1000,
    exposureHist: st.exposureHist as readonly number[],
  };
}

/** Component costs on one thread (tinybench): a range-cache get+put, a page-table map+unmap, alloc + queue_iova. */
export async function fqMicro(timeMs: number): Promise<FqMicro> {
  const config = {
    cpus: 1,
    variant: variantOf(flushqScenario, 'percpu'),
    params: withDefaults(flushqScenario, { bench: 1, checks: 0, flushCostNs: 0, spacePfns: 1 << 16 }),
  };
  const { layout, domain, pool, pt, fq } = flushqParts(config);
  const mem = allocateMemory(layout);
  domain.init(mem.i32);
  pool.init(mem, [IoPgtable.ROOT_PAGE]);
  const cpu = new Cpu(
    0,
    'stress',
    mem,
    new Checker(flushqScenario.invariants),
    -1,
    new RealClock(RealClock.epochNow()),
  );
  const limit = (1 << 15) - 1;
  const i32 = new Int32Array(new SharedArrayBuffer(64));
  const N = 1_000;
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(300, timeMs / 4) });
  bench
    .add('Atomics.add', () => {
      for (let k = 0; k < N; k++) Atomics.add(i32, 0, 1);
    })
    .add('alloc_iova_fast + free_iova_fast (rcache hit)', () => {
      for (let k = 0; k < N; k++)
        runToEnd(domain.freeIovaFast(cpu, runToEnd(domain.allocIovaFast(cpu, 1, limit, true)), 1));
    })
    .add('io-pgtable map + unmap, one 4K page', () => {
      for (let k = 0; k < N; k++) {
        runToEnd(pt.mapPages(cpu, 0x1000, 0x5000, SZ_4K, 1));
        runToEnd(pt.unmapPages(cpu, 0x1000, SZ_4K, 1));
      }
    })
    .add('alloc_iova_fast + queue_iova (percpu fq)', () => {
      for (let k = 0; k < N; k++) runToEnd(fq!.queueIova(cpu, runToEnd(domain.allocIovaFast(cpu, 1, limit, true)), 1));
    });
  await bench.run();
  const perOp = (i: number) =>
    ((bench.tasks[i]!.result as unknown as { latency: { p50: number } }).latency.p50 * 1e6) / N;
  return { atomicsAddNs: perOp(0), rcacheGetPutNs: perOp(1), pgtableMapUnmapNs: perOp(2), allocQueueIovaNs: perOp(3) };
}
