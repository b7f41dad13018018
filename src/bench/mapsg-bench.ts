/**
 * The map_sg benchmark — kernel-model.md §5.4 (every map is a hypercall in pKVM; the cookie batches a
 * map_sg into one; the per-domain deferred list batches too but "hurts concurrency" with its lock) and
 * §8 (dma_map_benchmark's figures; the IOVA-API proposal's comparison of the two-step API with
 * streaming maps).
 *
 * Every combination of design x workers x hypercall cost x segments runs scenario `mapsg`'s benchmark
 * loop (map_sg of `segs` separate pages, then unmap) on real worker threads for the time budget; then
 * scenario `dma-iova`'s two loops (the two-step API over `pages` pages vs a dma map per page) for the
 * same workers and costs. Reported: throughput, map and unmap latency as dma_map_benchmark computes
 * them, p50/p99, and the map hypercalls each call made.
 *
 * Any variant of scenario mapsg can be benched — a built-in design or a user's (`extendScenario(
 * mapsgScenario, [...])` in a scenario file): pass the resolved VariantDefs as `variants`, with the file
 * as `scenarioFile` so that the worker threads load it too. `designs` (built-in names) still works.
 */
import { variantOf, withDefaults, type ScenarioDef, type VariantDef } from '../engine/scenario.js';
import type { ChartSection } from '../report/html.js';
import { dmaIovaScenario } from '../scenarios/dma-iova.js';
import { type MapsgPatch, mapsgScenario } from '../scenarios/mapsg.js';
import { stress, type StressOptions, type StressOutcome } from '../stress/stress.js';

/** A variant name of scenario mapsg (the built-in designs, or a user's variant). */
export type MapsgDesign = string;
export const MAPSG_DESIGNS: readonly MapsgDesign[] = ['per-call', 'cookie', 'domain-list-locked'];

export interface MapsgBenchOptions {
  /** Variants of scenario mapsg to bench, already resolved (built-in or a user's). Wins over `designs`. */
  readonly variants?: readonly VariantDef<MapsgPatch>[];
  /** Built-in variant names to bench (resolved in `scenario`); default MAPSG_DESIGNS when `variants` is absent. */
  readonly designs?: readonly MapsgDesign[];
  /** The mapsg scenario definition the variants belong to (default the built-in; a user's extended one). */
  readonly scenario?: ScenarioDef<MapsgPatch>;
  /** The scenario file a user's variants come from: the worker threads load it too. */
  readonly scenarioFile?: string;
  /** Ops per worker per measurement instead of timeMs (load-independent runs: tests). */
  readonly opBudget?: number;
  /** Skip the two-step IOVA API comparison (dma-iova), e.g. when only a user's map_sg variants matter. */
  readonly skipIovaApi?: boolean;
  readonly workers: readonly number[];
  readonly hypercallNs: readonly number[];
  readonly segs: readonly number[];
  readonly timeMs: number;
  readonly seed: number;
  /** What runs each combination: real threads (stress, the default) or simulated time (sim/sim-stress.ts). */
  readonly runner?: (o: StressOptions) => Promise<StressOutcome>;
}

export interface MapsgRow {
  readonly design: MapsgDesign;
  readonly workers: number;
  readonly hypercallNs: number;
  readonly segs: number;
  readonly seconds: number;
  readonly loops: number;
  /** map_sg + unmap pairs per second, all workers together. */
  readonly throughput: number;
  readonly mapAvgUs: number;
  readonly mapStddevUs: number;
  readonly mapP50Us: number;
  readonly mapP99Us: number;
  readonly unmapAvgUs: number;
  readonly mapHypercallsPerCall: number;
}

export interface IovaApiRow {
  readonly api: 'two-step' | 'dma-map-per-page';
  readonly workers: number;
  readonly hypercallNs: number;
  readonly pages: number;
  readonly seconds: number;
  readonly loops: number;
  /** Whole map + unmap rounds of `pages` pages per second. */
  readonly throughput: number;
  readonly mapAvgUs: number;
  readonly unmapAvgUs: number;
  readonly hypercallsPerLoop: number;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/**
 * The map_sg benchmark: every variant x workers x hypercall cost x segments, then (unless skipIovaApi)
 * the two-step IOVA API against a dma map per page.
 */
export async function mapsgBench(
  o: MapsgBenchOptions,
  progress: (s: string) => void,
): Promise<{ rows: MapsgRow[]; iova: IovaApiRow[] }> {
  const scenario = o.scenario ?? mapsgScenario;
  const variants = o.variants ?? (o.designs ?? MAPSG_DESIGNS).map((d) => variantOf(scenario, d));
  const rows: MapsgRow[] = [];
  for (const variant of variants) {
    for (const workers of o.workers) {
      for (const cost of o.hypercallNs) {
        for (const segs of o.segs) {
          progress(`mapsg bench: ${variant.name}, ${workers} worker(s), hypercall ${cost} ns, ${segs} segments`);
          rows.push(await mapsgCombination(o, scenario, variant, workers, cost, segs));
        }
      }
    }
  }
  const iova: IovaApiRow[] = [];
  for (const api of o.skipIovaApi ? [] : (['two-step', 'dma-map-per-page'] as const)) {
    for (const workers of o.workers) {
      for (const cost of o.hypercallNs) {
        for (const pages of o.segs) {
          progress(`dma-iova bench: ${api}, ${workers} worker(s), hypercall ${cost} ns, ${pages} pages`);
          iova.push(await iovaCombination(o, api, workers, cost, pages));
        }
      }
    }
  }
  return { rows, iova };
}

async function mapsgCombination(
  o: MapsgBenchOptions,
  s: ScenarioDef<MapsgPatch>,
  variant: VariantDef<MapsgPatch>,
  workers: number,
  hypercallNs: number,
  segs: number,
): Promise<MapsgRow> {
  const design = variant.name;
  // One cookie buffer holds every run: one hypercall per map_sg, as the RFC intends.
  const params = withDefaults(s, {
    bench: 1,
    checks: 0,
    hypercallNs,
    segs,
    segPages: 1,
    slots: 1,
    cookieEntries: segs,
    failPermille: 0,
    badAlignPermille: 0,
    hugePermille: 0,
  });
  const r = await (o.runner ?? stress)({
    scenario: s as ScenarioDef,
    variant: variant as VariantDef,
    params,
    workers,
    timeMs: o.opBudget ? Infinity : o.timeMs,
    opBudget: o.opBudget ?? Infinity,
    seed: o.seed,
    sliceMs: 100,
    watchdogMs: 30_000,
    ...(o.scenarioFile !== undefined ? { scenarioFile: o.scenarioFile } : {}),
  });
  if (r.violation) throw new Error(`mapsg bench: ${design} reported ${r.violation.invariant}: ${r.violation.message}`);
  const st = r.stats!;
  const n = (k: string) => st[k] as number;
  const seconds = r.durationMs / 1000;
  return {
    design,
    workers,
    hypercallNs,
    segs,
    seconds,
    loops: n('loops'),
    throughput: n('loops') / seconds,
    mapAvgUs: n('mapAvgUs'),
    mapStddevUs: n('mapStddevUs'),
    mapP50Us: n('mapP50Ns') / 1000,
    mapP99Us: n('mapP99Ns') / 1000,
    unmapAvgUs: n('unmapAvgUs'),
    mapHypercallsPerCall: n('loops') > 0 ? r2(n('mapHypercalls') / n('loops')) : 0,
  };
}

async function iovaCombination(
  o: MapsgBenchOptions,
  api: IovaApiRow['api'],
  workers: number,
  hypercallNs: number,
  pages: number,
): Promise<IovaApiRow> {
  const s = dmaIovaScenario;
  const params = withDefaults(s, {
    bench: api === 'two-step' ? 1 : 2,
    checks: 0,
    lifecycleChecks: 0,
    hypercallNs,
    maxPages: pages,
    spacePfns: 1 << 16,
  });
  const r = await (o.runner ?? stress)({
    scenario: s as ScenarioDef,
    variant: variantOf(s, 'correct') as VariantDef,
    params,
    workers,
    timeMs: o.opBudget ? Infinity : o.timeMs,
    opBudget: o.opBudget ?? Infinity,
    seed: o.seed,
    sliceMs: 100,
    watchdogMs: 30_000,
  });
  if (r.violation) throw new Error(`dma-iova bench: ${api} reported ${r.violation.invariant}: ${r.violation.message}`);
  const st = r.stats!;
  const n = (k: string) => st[k] as number;
  const seconds = r.durationMs / 1000;
  return {
    api,
    workers,
    hypercallNs,
    pages,
    seconds,
    loops: n('loops'),
    throughput: n('loops') / seconds,
    mapAvgUs: n('mapAvgUs'),
    unmapAvgUs: n('unmapAvgUs'),
    hypercallsPerLoop: n('loops') > 0 ? r2((n('mapHypercalls') + n('unmapHypercalls')) / n('loops')) : 0,
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

const f1 = (x: number) => x.toFixed(1);
const k = (x: number) =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0);

/** Throughput against the cookie design at the same workers, cost and segments. */
function vsCookie(rows: readonly MapsgRow[], r: MapsgRow): string {
  const c = rows.find(
    (x) => x.design === 'cookie' && x.workers === r.workers && x.hypercallNs === r.hypercallNs && x.segs === r.segs,
  );
  return c && c.throughput > 0 ? `${(r.throughput / c.throughput).toFixed(2)}x` : '-';
}

function vsPerPage(rows: readonly IovaApiRow[], r: IovaApiRow): string {
  const c = rows.find(
    (x) =>
      x.api === 'dma-map-per-page' && x.workers === r.workers && x.hypercallNs === r.hypercallNs && x.pages === r.pages,
  );
  return c && c.throughput > 0 ? `${(r.throughput / c.throughput).toFixed(2)}x` : '-';
}

function table(head: readonly string[], body: readonly (readonly string[])[], leftCols: number): string {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i < leftCols ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), ...body.map(line)].join('\n');
}

export function mapsgBenchText(res: { rows: readonly MapsgRow[]; iova: readonly IovaApiRow[] }): string {
  const a = table(
    [
      'design',
      'workers',
      'hypercall ns',
      'segs',
      'map_sg/s',
      'vs cookie',
      'map avg us',
      'map p50',
      'map p99',
      'unmap us',
      'map hcalls/call',
    ],
    res.rows.map((r) => [
      r.design,
      String(r.workers),
      String(r.hypercallNs),
      String(r.segs),
      k(r.throughput),
      vsCookie(res.rows, r),
      f1(r.mapAvgUs),
      f1(r.mapP50Us),
      f1(r.mapP99Us),
      f1(r.unmapAvgUs),
      String(r.mapHypercallsPerCall),
    ]),
    1,
  );
  const b = table(
    [
      'api',
      'workers',
      'hypercall ns',
      'pages',
      'rounds/s',
      'vs per-page',
      'map avg us',
      'unmap avg us',
      'hcalls/round',
    ],
    res.iova.map((r) => [
      r.api,
      String(r.workers),
      String(r.hypercallNs),
      String(r.pages),
      k(r.throughput),
      vsPerPage(res.iova, r),
      f1(r.mapAvgUs),
      f1(r.unmapAvgUs),
      String(r.hypercallsPerLoop),
    ]),
    1,
  );
  return `map_sg designs (map_sg of separate pages + unmap):\n${a}\n\ntwo-step IOVA API vs a dma map per page:\n${b}`;
}

export function mapsgBenchMarkdown(res: { rows: readonly MapsgRow[]; iova: readonly IovaApiRow[] }): string {
  return [
    '## map_sg: per-call vs deferred cookie vs per-domain deferred list (locked)',
    '',
    '| design | workers | hypercall ns | segs | map_sg+unmap/s | vs cookie | map avg (σ) µs | map p99 µs | map hypercalls / call |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...res.rows.map(
      (r) =>
        `| ${r.design} | ${r.workers} | ${r.hypercallNs} | ${r.segs} | ${Math.round(r.throughput)} | ${vsCookie(res.rows, r)} | ` +
        `${f1(r.mapAvgUs)} (${f1(r.mapStddevUs)}) | ${f1(r.mapP99Us)} | ${r.mapHypercallsPerCall} |`,
    ),
    '',
    '## Two-step IOVA API vs a dma map per page',
    '',
    '| api | workers | hypercall ns | pages | rounds/s | vs per-page | map avg µs | unmap avg µs | hypercalls / round |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...res.iova.map(
      (r) =>
        `| ${r.api} | ${r.workers} | ${r.hypercallNs} | ${r.pages} | ${Math.round(r.throughput)} | ${vsPerPage(res.iova, r)} | ${f1(r.mapAvgUs)} | ${f1(r.unmapAvgUs)} | ${r.hypercallsPerLoop} |`,
    ),
    '',
    'Latencies as dma_map_benchmark computes them (100 ns units, truncated); percentiles from quarter-octave histograms.',
    '',
  ].join('\n');
}

export function mapsgBenchSections(res: { rows: readonly MapsgRow[]; iova: readonly IovaApiRow[] }): ChartSection[] {
  const workers = [...new Set(res.rows.map((r) => r.workers))].sort((a, b) => a - b);
  const segs = [...new Set(res.rows.map((r) => r.segs))].sort((a, b) => a - b);
  const designs = [...new Set(res.rows.map((r) => r.design))];
  const maxSeg = segs[segs.length - 1]!;
  return [
    {
      heading: 'map_sg: per-call vs cookie vs per-domain deferred list',
      text: `map_sg of separate pages then unmap, on ${workers.join(' and ')} worker thread(s); every driver map or unmap call costs the hypercall time.`,
      charts: [
        ...workers.map((w) => ({
          kind: 'line' as const,
          title: `Throughput vs hypercall cost (${w} worker${w > 1 ? 's' : ''}, ${maxSeg} segments)`,
          xLabel: 'hypercall cost (ns)',
          yLabel: 'map_sg+unmap/s',
          series: designs.map((d) => ({
            name: d,
            points: res.rows
              .filter((r) => r.design === d && r.workers === w && r.segs === maxSeg)
              .map((r) => [r.hypercallNs, r.throughput] as const),
          })),
          note: 'The gap between cookie and domain-list-locked at 2 workers is what the domain lock costs (kernel-model.md §5.4).',
        })),
        {
          kind: 'line',
          title: 'Two-step IOVA API vs dma map per page',
          xLabel: 'hypercall cost (ns)',
          yLabel: 'rounds/s',
          series: (['two-step', 'dma-map-per-page'] as const).flatMap((a) =>
            workers.map((w) => ({
              name: `${a} ${w}w`,
              points: res.iova
                .filter((r) => r.api === a && r.workers === w && r.pages === maxSeg)
                .map((r) => [r.hypercallNs, r.throughput] as const),
            })),
          ),
        },
      ],
    },
  ];
}
