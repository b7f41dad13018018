/**
 * How the flush-queue benchmark is shown: dma_map_benchmark's own three lines per combination
 * (kernel-model.md §8, so the numbers can sit next to a real run of the kernel tool), one more line with
 * what that tool lacks, a comparison table, Markdown for a cover letter, and chart sections for the
 * HTML page (throughput vs workers and vs flush cost per queue mode, latency percentiles, the exposure
 * window's distribution).
 */
import type { ChartSection } from '../report/html.js';
import { bucketUpperNs } from '../model/dma/latency.js';
import type { FqMicro, FqRow } from './fq-bench.js';

const f1 = (x: number) => x.toFixed(1);

/** Percentiles come from quarter-octave histograms (latency.ts): each is the upper bound of its bucket. */
export const BUCKET_NOTE = 'percentiles are histogram bucket upper bounds';

/**
 * dma_map_benchmark prints whole seconds; a real-thread run lasts a second or two, so the real seconds
 * are given to 0.01 s. A simulated row (it carries `sim`) keeps the tool's integer, which the sim report
 * rewrites as simulated seconds.
 */
function secondsField(r: FqRow): string {
  return 'sim' in r ? String(Math.round(r.seconds)) : r.seconds.toFixed(2);
}

/** `ns, serial` or `ns, parallel`: how the run flushed (one run has one setting; both if rows were mixed). */
export function flushUnit(rows: readonly FqRow[]): string {
  return `ns, ${[...new Set(rows.map((r) => r.flush))].join('/') || 'parallel'}`;
}
const k = (x: number) =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0);

export function fqBenchText(rows: readonly FqRow[], micro: FqMicro | undefined): string {
  const out: string[] = [];
  for (const r of rows) {
    out.push(
      `# ${r.mode}, flush ${r.flushCostNs} ns ${r.flush}, transfer ${r.transferNs} ns`,
      `dma mapping benchmark: threads:${r.workers} seconds:${secondsField(r)} node:-1 dir:BIDIRECTIONAL granule: ${r.pages}`,
      `average map latency(us):${f1(r.mapAvgUs)} standard deviation:${f1(r.mapStddevUs)}`,
      `average unmap latency(us):${f1(r.unmapAvgUs)} standard deviation:${f1(r.unmapStddevUs)}`,
      `  + throughput ${k(r.throughput)} map+unmap/s; map p50/p99 <=${f1(r.mapP50Us)}/<=${f1(r.mapP99Us)} us;` +
        ` unmap p50/p99 <=${f1(r.unmapP50Us)}/<=${f1(r.unmapP99Us)} us (${BUCKET_NOTE});` +
        ` ${f1(r.flushesPer1kUnmaps)} flushes per 1000 unmaps; peak ${r.peakQueued} IOVAs queued;` +
        (noExposure(r)
          ? ' no lazy exposure'
          : ` exposure p50/p99 <=${f1(r.exposureP50Us)}/<=${f1(r.exposureP99Us)} us`),
      '',
    );
  }
  out.push(tableText(rows));
  if (micro) {
    out.push(
      '',
      'components, one thread (tinybench medians):',
      `  Atomics.add                                  ${micro.atomicsAddNs.toFixed(1)} ns`,
      `  alloc_iova_fast + free_iova_fast (rcache)    ${micro.rcacheGetPutNs.toFixed(1)} ns  (${(micro.rcacheGetPutNs / micro.atomicsAddNs).toFixed(1)}x Atomics.add)`,
      `  io-pgtable map + unmap, one 4K page          ${micro.pgtableMapUnmapNs.toFixed(1)} ns  (${(micro.pgtableMapUnmapNs / micro.atomicsAddNs).toFixed(1)}x)`,
      `  alloc_iova_fast + queue_iova                 ${micro.allocQueueIovaNs.toFixed(1)} ns  (${(micro.allocQueueIovaNs / micro.atomicsAddNs).toFixed(1)}x)`,
    );
  }
  return out.join('\n');
}

function tableText(rows: readonly FqRow[]): string {
  const head = [
    'mode',
    'workers',
    `flush ${flushUnit(rows)}`,
    'pairs/s',
    'vs strict',
    'map us',
    'unmap us',
    'unmap p99<=',
    'flush/1k',
    'peak q',
    'exp p50<= us',
    'exp p99<= us',
  ];
  const body = rows.map((r) => [
    r.mode,
    String(r.workers),
    String(r.flushCostNs),
    k(r.throughput),
    ratioToStrict(rows, r),
    f1(r.mapAvgUs),
    f1(r.unmapAvgUs),
    f1(r.unmapP99Us),
    f1(r.flushesPer1kUnmaps),
    String(r.peakQueued),
    noExposure(r) ? '-' : f1(r.exposureP50Us),
    noExposure(r) ? '-' : f1(r.exposureP99Us),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), ...body.map(line), `(${BUCKET_NOTE}: p99<= 5.7 means the 99th percentile is at most 5.7)`].join(
    '\n',
  );
}

/** A strict domain (built-in `strict` or a user's strict variant) frees at once: no exposure window to show. */
function noExposure(r: FqRow): boolean {
  return r.exposureHist.every((n) => n === 0);
}

/** Throughput against strict at the same workers and flush cost, when strict was measured. */
function ratioToStrict(rows: readonly FqRow[], r: FqRow): string {
  const s = rows.find((x) => x.mode === 'strict' && x.workers === r.workers && x.flushCostNs === r.flushCostNs);
  return s && s.throughput > 0 ? `${(r.throughput / s.throughput).toFixed(2)}x` : '-';
}

/** The comparison table in Markdown (the caller heads it with the command and the machine). */
export function fqBenchMarkdown(rows: readonly FqRow[]): string {
  const lines = [
    '## Flush queues: per-CPU vs single (vs strict)',
    '',
    `| mode | workers | flush (${flushUnit(rows)}) | map+unmap/s | vs strict | map avg (σ) µs | unmap avg (σ) µs | unmap p99 ≤ µs | flushes / 1k unmaps | peak queued | exposure p50 / p99 ≤ µs |`,
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.workers} | ${r.flushCostNs} | ${Math.round(r.throughput)} | ${ratioToStrict(rows, r)} | ` +
        `${f1(r.mapAvgUs)} (${f1(r.mapStddevUs)}) | ${f1(r.unmapAvgUs)} (${f1(r.unmapStddevUs)}) | ${f1(r.unmapP99Us)} | ` +
        `${f1(r.flushesPer1kUnmaps)} | ${r.peakQueued} | ${noExposure(r) ? '-' : `${f1(r.exposureP50Us)} / ${f1(r.exposureP99Us)}`} |`,
    ),
    '',
    'Latencies as dma_map_benchmark computes them (100 ns units, truncated); percentiles (≤) are upper bounds of ' +
      'quarter-octave histogram buckets, not exact values.',
  ];
  return `${lines.join('\n')}\n`;
}

/** Chart sections for the benchmark's HTML page. */
export function fqBenchSections(rows: readonly FqRow[]): ChartSection[] {
  const modes = [...new Set(rows.map((r) => r.mode))];
  const costs = [...new Set(rows.map((r) => r.flushCostNs))].sort((a, b) => a - b);
  const workers = [...new Set(rows.map((r) => r.workers))].sort((a, b) => a - b);
  const maxW = workers[workers.length - 1]!;
  const label = (r: FqRow) => `${r.mode} ${r.workers}w ${r.flushCostNs}ns`;
  const lazy = rows.filter((r) => !noExposure(r) && r.flushCostNs === costs[costs.length - 1] && r.workers === maxW);
  // Octaves (4 quarter-octave buckets each) keep the chart readable.
  const octaves = (h: readonly number[]) =>
    Array.from({ length: Math.ceil(h.length / 4) }, (_, o) => h.slice(4 * o, 4 * o + 4).reduce((a, b) => a + b, 0));
  const used = lazy.flatMap((r) => octaves(r.exposureHist).map((n, i) => (n > 0 ? i : -1))).filter((i) => i >= 0);
  const lo = used.length ? Math.min(...used) : 0;
  const hi = used.length ? Math.max(...used) : 0;
  return [
    {
      heading: 'Flush queues: per-CPU vs single',
      text:
        `Each point is the median run of the dma_map_benchmark loop (map, transfer ${rows[0]?.transferNs ?? 0} ns, unmap)` +
        ` on ${workers.join(' and ')} worker thread(s), flush cost in ${flushUnit(rows)}.`,
      charts: [
        {
          kind: 'line',
          title: `Throughput vs flush cost (${maxW} worker${maxW > 1 ? 's' : ''})`,
          xLabel: `flush cost (${flushUnit(rows)}; log)`,
          xLog: true,
          yLabel: 'map+unmap pairs/s',
          series: modes.map((m) => ({
            name: m,
            points: rows
              .filter((r) => r.mode === m && r.workers === maxW)
              .map((r) => [r.flushCostNs, r.throughput] as const),
          })),
          note:
            'Where the single queue overtakes per-CPU queues, flushes have become the bottleneck (kernel-model.md §3.5).' +
            (costs[0] === 0 ? ' A log axis has no 0: the 0 ns points are in the tables.' : ''),
        },
        ...costs.map((c) => ({
          kind: 'line' as const,
          title: `Throughput vs workers (flush ${c} ns)`,
          xLabel: 'workers',
          yLabel: 'map+unmap pairs/s',
          series: modes.map((m) => ({
            name: m,
            points: rows
              .filter((r) => r.mode === m && r.flushCostNs === c)
              .map((r) => [r.workers, r.throughput] as const),
          })),
        })),
        {
          kind: 'bar',
          title: 'Unmap latency percentiles (histogram bucket upper bounds)',
          categories: rows.map(label),
          yLabel: 'µs (≤, bucket bound)',
          yLog: true,
          series: [
            { name: 'p50', values: rows.map((r) => r.unmapP50Us) },
            { name: 'p99', values: rows.map((r) => r.unmapP99Us) },
          ],
        },
        {
          kind: 'bar',
          title: `Lazy exposure window (flush ${costs[costs.length - 1]} ns, ${maxW} worker${maxW > 1 ? 's' : ''})`,
          categories: Array.from({ length: hi - lo + 1 }, (_, i) => `≤${k(bucketUpperNs(4 * (lo + i) + 3) / 1000)} µs`),
          yLabel: 'IOVAs freed',
          yLog: true,
          series: lazy.map((r) => ({ name: r.mode, values: octaves(r.exposureHist).slice(lo, hi + 1) })),
          note: "Unmap to the IOVA's return to the allocator: how long a device could still reach the buffer through a stale IOTLB entry.",
        },
      ],
    },
  ];
}
