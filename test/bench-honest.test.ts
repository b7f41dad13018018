/**
 * The real-thread bench's labels and caveat (issue 16 item 6): plumbing only, on synthetic rows — units
 * that say how the run flushed, percentiles labelled as bucket bounds, real seconds in the
 * dma_map_benchmark line, the flush-cost chart on a log axis, tilted bar labels that do not overlap, the
 * machine and the caveat in bench.html, and the caveat exactly when the measured pair is dearer than
 * OVERHEAD_FACTOR x the bare-metal yardstick.
 */
import { describe, expect, it } from 'vitest';
import type { FqRow } from '../src/bench/fq-bench.js';
import { fqBenchMarkdown, fqBenchSections, fqBenchText } from '../src/bench/fq-report.js';
import { bareMetalCosts, OVERHEAD_FACTOR, overheadCaveat, overheadChecks } from '../src/bench/overhead-caveat.js';
import { variantOf } from '../src/engine/scenario.js';
import { labelTilt, yNameGap } from '../src/report/charts.js';
import { renderBenchHtml } from '../src/report/html.js';
import { flushqScenario } from '../src/scenarios/flushq.js';

function row(
  mode: string,
  workers: number,
  flushCostNs: number,
  throughput: number,
  flush: 'serial' | 'parallel',
): FqRow {
  const hist = Array<number>(128).fill(0);
  if (mode !== 'strict') hist[40] = 5;
  return {
    mode,
    workers,
    flushCostNs,
    flush,
    transferNs: 0,
    pages: 1,
    seconds: 1.234,
    mapAvgUs: 1.5,
    mapStddevUs: 0.5,
    unmapAvgUs: 2.5,
    unmapStddevUs: 0.7,
    loops: 1000,
    throughput,
    mapP50Us: 1.2,
    mapP99Us: 5.7,
    unmapP50Us: 2.1,
    unmapP99Us: 9.9,
    flushesPer1kUnmaps: 7.8,
    peakQueued: 12,
    exposureP50Us: 10,
    exposureP99Us: 20,
    exposureHist: hist,
  };
}

const rows = (flush: 'serial' | 'parallel') => [
  row('percpu', 1, 0, 100_000, flush),
  row('percpu', 1, 10_000, 50_000, flush),
  row('strict', 1, 0, 150_000, flush),
  row('strict', 1, 10_000, 40_000, flush),
];

describe('real-thread fq bench labels', () => {
  it('says how the run flushed, gives real seconds, and labels percentiles as bucket bounds', () => {
    for (const flush of ['serial', 'parallel'] as const) {
      const text = fqBenchText(rows(flush), undefined);
      expect(text).toMatch(new RegExp(`^mode +workers +flush ns, ${flush} +pairs/s`, 'm'));
      expect(text).toContain('dma mapping benchmark: threads:1 seconds:1.23 node:-1');
      expect(text).toContain('map p50/p99 <=1.2/<=5.7 us');
      expect(text).toContain('percentiles are histogram bucket upper bounds');
      const md = fqBenchMarkdown(rows(flush));
      expect(md).toContain(`| flush (ns, ${flush}) |`);
      expect(md).toMatch(/upper bounds of quarter-octave histogram buckets/);
    }
  });

  it('puts flush cost on a log axis and says the 0 ns points are in the tables', () => {
    const chart = fqBenchSections(rows('serial'))[0]!.charts[0]!;
    expect(chart.kind).toBe('line');
    expect(chart.kind === 'line' && chart.xLog).toBe(true);
    expect(chart.kind === 'line' && chart.xLabel).toBe('flush cost (ns, serial; log)');
    expect(chart.note).toMatch(/0 ns points are in the tables/);
  });

  it('tilts long bar labels until neighbours are a line apart, and leaves short ones flat', () => {
    expect(labelTilt(['a', 'b', 'c'], 552)).toEqual({ angle: 0, depth: 0 });
    const many = Array.from({ length: 18 }, (_, i) => `percpu ${i}w 100000ns`);
    const t = labelTilt(many, 552);
    const slot = 552 / 18;
    expect(slot * Math.sin((t.angle * Math.PI) / 180)).toBeGreaterThanOrEqual(16);
    expect(t.depth).toBeGreaterThan(0);
  });

  it('moves the y axis name clear of wide tick labels', () => {
    const line = (ys: number[]) =>
      ({
        kind: 'line',
        title: 't',
        xLabel: 'x',
        yLabel: 'y',
        series: [{ name: 's', points: ys.map((y, i) => [i, y] as const) }],
      }) as const;
    expect(yNameGap(line([1, 150_000]))).toBe(48);
    expect(yNameGap(line([0.000123, 1]))).toBeGreaterThan(48 + 7);
  });

  it('shows the machine and the caveats in bench.html', () => {
    const html = renderBenchHtml(null, {
      command: 'iommu-stress bench --fq percpu',
      machine: 'Some CPU, 2 cores, 8 GiB, Node v20.20.2',
      caveats: ['model overhead dominates: <test>'],
      sections: fqBenchSections(rows('parallel')),
    });
    expect(html).toContain('machine: Some CPU, 2 cores, 8 GiB, Node v20.20.2');
    expect(html).toContain('iommu-stress bench --fq percpu');
    expect(html).toContain('<strong>caveat:</strong> model overhead dominates: &lt;test&gt;');
  });
});

describe('model-overhead caveat', () => {
  // percpu at 0 ns: 10 µs per pair; strict: 6.67 µs per pair.
  const measured = rows('parallel');

  it('appears when a measured 0 ns pair costs more than OVERHEAD_FACTOR x its bare-metal yardstick', () => {
    const bare = new Map([
      ['percpu/1', 10_000 / (OVERHEAD_FACTOR + 1)],
      ['strict/1', 10_000],
    ]);
    const checks = overheadChecks(measured, bare);
    expect(checks.map((c) => c.mode)).toEqual(['percpu', 'strict']);
    const line = overheadCaveat(checks);
    expect(line).toMatch(/^model overhead dominates: .*10\.00 µs per worker \(percpu, 1 worker\(s\)\)/);
    expect(line).toContain('over 10x in 1 of 2 row(s)');
  });

  it('does not appear when every pair is within the factor', () => {
    const bare = new Map([
      ['percpu/1', 10_000 / (OVERHEAD_FACTOR - 1)],
      ['strict/1', 6_000],
    ]);
    expect(overheadCaveat(overheadChecks(measured, bare))).toBeUndefined();
  });

  it('simulates the bare-metal yardstick for each benched design at the measured worker counts', () => {
    const a = bareMetalCosts(measured, [variantOf(flushqScenario, 'strict')]);
    expect([...a.keys()]).toEqual(['strict/1']);
    expect(a.get('strict/1')).toBeGreaterThan(0);
  });
});
