/**
 * How a simulated bench is shown: the real-thread suite's own lines (dma_map_benchmark's, via
 * fq-report.ts) under a banner that says the time is simulated and under which profile, a table per
 * vCPU count with the ratio between designs and where the time went (the sites tasks waited at), the
 * simulator's own speed, and chart sections against vCPU count and flush cost, both on log axes.
 */
import type { ChartSection } from '../report/html.js';
import type { Table } from '../report/html-kit.js';
import { escapeHtml } from '../report/html-kit.js';
import { fqBenchMarkdown, fqBenchText } from '../bench/fq-report.js';
import type { LoadedProfile } from './profile.js';
import type { SimFqRow, SimRunInfo, SimSpeed } from './fq-sim.js';

const k = (x: number) =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function simBanner(p: LoadedProfile, opsPerCpu: number, seed: number): string {
  return (
    `SIMULATED TIME — profile ${p.profile.name} (sha256 ${p.hash}, ${p.source}), ${opsPerCpu} ops per vCPU, seed ${seed}.\n` +
    'Every latency, second and rate below is simulated time from the cost profile, not measured on this machine.'
  );
}

export function speedText(speed: readonly SimSpeed[]): string {
  const steps = speed.reduce((a, s) => a + s.steps, 0);
  const ms = speed.reduce((a, s) => a + s.wallMs, 0);
  return `simulator: ${steps} steps in ${(ms / 1000).toFixed(1)} s wall time (${k((steps / ms) * 1000)} simulated steps/s)`;
}

export function waitsText(info: SimRunInfo): string {
  return info.topWaits.length === 0 ? 'no waits' : info.topWaits.map((w) => `${w.site} ${pct(w.share)}`).join(', ');
}

/** Per row: vCPUs, throughput, the ratio to a baseline mode at the same vCPUs and cost, and the top waits. */
export function simFqTable(rows: readonly SimFqRow[], baseline: string | undefined): string {
  const head = [
    'mode',
    'vCPUs',
    'flush ns',
    'map+unmap/s (sim)',
    `vs ${baseline ?? '-'}`,
    'flush/1k',
    'waited at (share of vCPU time)',
  ];
  const body = rows.map((r) => [
    r.mode,
    String(r.workers),
    `${r.flushCostNs} ${r.flush[0]}`,
    k(r.throughput),
    ratio(rows, r, baseline),
    r.flushesPer1kUnmaps.toFixed(1),
    waitsText(r.sim),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i < 3 || i === 6 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...body.map(line)].join('\n');
}

function ratio(rows: readonly SimFqRow[], r: SimFqRow, baseline: string | undefined): string {
  const b = rows.find((x) => x.mode === baseline && x.workers === r.workers && x.flushCostNs === r.flushCostNs);
  return b && b.throughput > 0 ? `${(r.throughput / b.throughput).toFixed(2)}x` : '-';
}

/** The baseline of the ratio column: percpu when benched (the published comparison), else the first mode. */
export function baselineOf(rows: readonly SimFqRow[]): string | undefined {
  const modes = [...new Set(rows.map((r) => r.mode))];
  return modes.includes('percpu') ? 'percpu' : modes[0];
}

const simSeconds = (s: number): string => (s >= 1 ? s.toFixed(1) : s.toPrecision(2));

export function simFqText(rows: readonly SimFqRow[], p: LoadedProfile, ops: number, seed: number): string {
  let line = 0;
  return [
    simBanner(p, ops, seed),
    '',
    fqBenchText(rows, undefined)
      // dma_map_benchmark prints whole seconds; a simulated run lasts milliseconds: say how many.
      .replace(/seconds:(\d+)/g, () => `seconds(sim):${simSeconds(rows[line++]?.seconds ?? 0)}`)
      .replace(/^mode( +)workers/m, (_, sp) => `mode${sp}vCPUs  `),
    '',
    simFqTable(rows, baselineOf(rows)),
    ...noFlushNotes(rows),
  ].join('\n');
}

/** Lazy rows whose run ended before their first IOTLB flush: their rate leaves the flush out. */
function noFlushNotes(rows: readonly SimFqRow[]): string[] {
  const none = rows.filter((r) => r.flushesPer1kUnmaps === 0 && r.peakQueued > 0);
  if (none.length === 0) return [];
  const which = none.map((r) => `${r.mode} at ${r.workers} vCPU(s)`).join(', ');
  return [
    '',
    `note: ${which} flushed no IOTLB within the run (the ring never filled, the timer never fired): ` +
      'that rate leaves the flush out; raise --ops until the run spans a flush.',
  ];
}

export function simFqMarkdown(rows: readonly SimFqRow[], p: LoadedProfile, ops: number, seed: number): string {
  const base = baselineOf(rows);
  return [
    `**${simBanner(p, ops, seed).replace('\n', '** ')}`,
    '',
    fqBenchMarkdown(rows).replace('| workers |', '| vCPUs |'),
    ...noFlushNotes(rows),
    '',
    `| mode | vCPUs | flush | map+unmap/s (sim) | vs ${base} | waited at (share of vCPU time) |`,
    '|---|---:|---|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.workers} | ${r.flushCostNs} ns ${r.flush} | ${Math.round(r.throughput)} | ${ratio(rows, r, base)} | ${waitsText(r.sim)} |`,
    ),
    '',
  ].join('\n');
}

export function simFqSections(rows: readonly SimFqRow[], p: LoadedProfile, ops: number, seed: number): ChartSection[] {
  const modes = [...new Set(rows.map((r) => r.mode))];
  const costs = [...new Set(rows.map((r) => r.flushCostNs))].sort((a, b) => a - b);
  const cpus = [...new Set(rows.map((r) => r.workers))].sort((a, b) => a - b);
  const maxC = cpus[cpus.length - 1]!;
  const table: Table = {
    caption: 'Simulated runs (one per combination: a run repeats bit for bit)',
    columns: [
      { label: 'mode' },
      { label: 'vCPUs', num: true },
      { label: 'flush' },
      { label: 'map+unmap/s (sim)', num: true },
      { label: 'map / unmap avg µs (sim)', num: true },
      { label: 'flushes / 1k', num: true },
      { label: 'steps', num: true },
      { label: 'waited at (share of vCPU time)' },
    ],
    rows: rows.map((r) => ({
      cells: [
        escapeHtml(r.mode),
        String(r.workers),
        `${r.flushCostNs} ns ${r.flush}`,
        String(Math.round(r.throughput)),
        `${r.mapAvgUs.toFixed(1)} / ${r.unmapAvgUs.toFixed(1)}`,
        r.flushesPer1kUnmaps.toFixed(1),
        String(r.sim.steps),
        escapeHtml(waitsText(r.sim)),
      ],
    })),
  };
  const positive = (xs: readonly (readonly [number, number])[]) => xs.filter(([x, y]) => x > 0 && y > 0);
  return [
    {
      heading: `Flush queues, simulated (profile ${p.profile.name})`,
      text:
        `${simBanner(p, ops, seed)} Profile: ${p.profile.comment} ` +
        'Flush costs of 0 ns cannot sit on the log axis and are left out of the flush-cost chart.',
      tables: [table],
      charts: [
        ...costs.map((c) => ({
          kind: 'line' as const,
          title: `Simulated throughput vs vCPUs (flush ${c} ns ${rows[0]?.flush ?? ''})`,
          xLabel: 'vCPUs (log)',
          yLabel: 'map+unmap pairs/s (simulated)',
          xLog: true,
          yLog: true,
          series: modes.map((m) => ({
            name: m,
            points: positive(
              rows.filter((r) => r.mode === m && r.flushCostNs === c).map((r) => [r.workers, r.throughput] as const),
            ),
          })),
        })),
        {
          kind: 'line' as const,
          title: `Simulated throughput vs flush cost (${maxC} vCPUs)`,
          xLabel: 'flush cost, ns (log)',
          yLabel: 'map+unmap pairs/s (simulated)',
          xLog: true,
          yLog: true,
          series: modes.map((m) => ({
            name: m,
            points: positive(
              rows.filter((r) => r.mode === m && r.workers === maxC).map((r) => [r.flushCostNs, r.throughput] as const),
            ),
          })),
          note: 'Where the single queue overtakes per-CPU queues, flushes have become the bottleneck (kernel-model.md §3.5).',
        },
      ],
    },
  ];
}
