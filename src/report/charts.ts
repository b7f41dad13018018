/**
 * A small chart API for the HTML reports: a line chart (several named series of x/y points), a bar chart
 * (categories x named series) and a histogram (raw samples, binned here). Each chart is rendered when the
 * report is generated, by Apache ECharts' server-side SVG renderer, to an inline <svg> — so the page needs
 * no script, loads nothing and reads the same offline. A benchmark suite adds its charts by building more
 * ChartSpecs; nothing here knows about scenarios or benchmarks.
 */
import { createRequire } from 'node:module';
import { CHART_INK, escapeHtml, formatNumber } from './html-kit.js';

type ECharts = typeof import('echarts');
let lib: ECharts | undefined;
/**
 * ECharts' prebuilt bundle, loaded on the first chart: it parses in about 0.1 s, where its hundreds of ES
 * modules take several times that — and every CLI command, report or not, would pay it at start-up.
 */
const echarts = (): ECharts => (lib ??= createRequire(import.meta.url)('echarts/dist/echarts.min.js') as ECharts);

export type Point = readonly [x: number, y: number];

export interface LineSeries {
  readonly name: string;
  readonly points: readonly Point[];
}

export interface LineChartSpec {
  readonly kind: 'line';
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  readonly xLog?: boolean;
  readonly yLog?: boolean;
  /** A sentence under the chart: what to read from it. */
  readonly note?: string;
}

export interface BarSeries {
  readonly name: string;
  /** One value per category; null draws no bar. */
  readonly values: readonly (number | null)[];
  /** Per-bar colours (e.g. by grade); the series colour where absent. */
  readonly colors?: readonly (string | undefined)[];
}

export interface BarChartSpec {
  readonly kind: 'bar';
  readonly title: string;
  readonly categories: readonly string[];
  readonly series: readonly BarSeries[];
  readonly xLabel?: string;
  readonly yLabel: string;
  readonly yLog?: boolean;
  readonly note?: string;
}

export interface HistogramSeries {
  readonly name: string;
  readonly samples: readonly number[];
}

export interface HistogramSpec {
  readonly kind: 'histogram';
  readonly title: string;
  /** What a sample measures, with its unit: 'exposure window (µs)'. */
  readonly xLabel: string;
  readonly yLabel?: string;
  /** Several series share the bin edges, so their distributions compare bin by bin. */
  readonly series: readonly HistogramSeries[];
  /** Number of equal-width bins (default: about sqrt(samples), 5..30), or the explicit ascending edges. */
  readonly bins?: number | readonly number[];
  readonly yLog?: boolean;
  readonly note?: string;
}

export type ChartSpec = LineChartSpec | BarChartSpec | HistogramSpec;

/** Colour-blind-safe palette (Tableau 10), readable on light and dark backgrounds. */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
] as const;

const WIDTH = 640;
const HEIGHT = 320;

/** Equal-width bins over all series (or the given edges); returns category labels and counts per series. */
export function binSamples(
  series: readonly HistogramSeries[],
  bins?: number | readonly number[],
): { edges: number[]; labels: string[]; counts: number[][] } {
  const all = series.flatMap((s) => s.samples).filter(Number.isFinite);
  let edges: number[];
  if (Array.isArray(bins)) edges = [...(bins as readonly number[])];
  else {
    if (all.length === 0) return { edges: [], labels: [], counts: series.map(() => []) };
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of all) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    const n =
      typeof bins === 'number'
        ? Math.max(1, Math.floor(bins))
        : Math.min(30, Math.max(5, Math.ceil(Math.sqrt(all.length))));
    if (hi === lo) hi = lo + 1;
    edges = Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
  }
  const nb = Math.max(0, edges.length - 1);
  const counts = series.map((s) => {
    const c = Array<number>(nb).fill(0);
    for (const x of s.samples) {
      if (!Number.isFinite(x) || nb === 0 || x < edges[0]! || x > edges[nb]!) continue;
      // Binary search for the bin; the last bin is closed on the right.
      let a = 0;
      let b = nb - 1;
      while (a < b) {
        const m = (a + b + 1) >> 1;
        if (x >= edges[m]!) a = m;
        else b = m - 1;
      }
      c[a]!++;
    }
    return c;
  });
  const labels = Array.from({ length: nb }, (_, i) => `${formatNumber(edges[i]!)}–${formatNumber(edges[i + 1]!)}`);
  return { edges, labels, counts };
}

/** A histogram as bars: one category per bin, labelled by its lower edge or its range. */
function histogramBars(
  spec: HistogramSpec,
  label: 'edge' | 'range',
): { categories: readonly string[]; series: readonly BarSeries[] } {
  const b = binSamples(spec.series, spec.bins);
  return {
    categories: label === 'range' ? b.labels : b.edges.slice(0, -1).map(formatNumber),
    series: spec.series.map((s, i) => ({ name: s.name, values: b.counts[i]! })),
  };
}

/** How many marks the chart should draw: points of every line, bars that have a value. */
export function dataPointCount(spec: ChartSpec): number {
  switch (spec.kind) {
    case 'line':
      return spec.series.reduce(
        (a, s) => a + s.points.filter((p) => plottable(p[1], spec.yLog) && plottable(p[0], spec.xLog)).length,
        0,
      );
    case 'bar':
      return spec.series.reduce((a, s) => a + s.values.filter((v) => v !== null && plottable(v, spec.yLog)).length, 0);
    case 'histogram':
      return binSamples(spec.series, spec.bins).counts.reduce(
        (a, c) => a + c.filter((v) => plottable(v, spec.yLog)).length,
        0,
      );
  }
}

const plottable = (v: number, log?: boolean): boolean => Number.isFinite(v) && (!log || v > 0);

const axisStyle = (name: string | undefined, log: boolean | undefined) => ({
  name,
  nameLocation: 'middle' as const,
  nameTextStyle: { color: CHART_INK.text, fontSize: 12 },
  axisLine: { lineStyle: { color: CHART_INK.axis } },
  axisTick: { lineStyle: { color: CHART_INK.axis } },
  axisLabel: {
    color: CHART_INK.text,
    formatter: (v: number | string) => (typeof v === 'number' ? formatNumber(v) : v),
    hideOverlap: true,
  },
  splitLine: { lineStyle: { color: CHART_INK.grid } },
  ...(log ? { type: 'log' as const, logBase: 10 } : {}),
});

function option(spec: ChartSpec): Record<string, unknown> {
  const legend =
    spec.series.length > 1 ? { legend: { bottom: 0, textStyle: { color: CHART_INK.text }, itemGap: 16 } } : {};
  const base = { animation: false, color: [...PALETTE], textStyle: { fontFamily: 'system-ui, sans-serif' }, ...legend };
  const yGap = yNameGap(spec);
  const grid = { left: yGap + 16, right: 24, top: 16, bottom: spec.series.length > 1 ? 80 : 56, containLabel: false };
  if (spec.kind === 'line') {
    const xs = spec.series.flatMap((s) => s.points.map((p) => p[0]));
    const integral = xs.every(Number.isInteger);
    return {
      ...base,
      grid,
      xAxis: {
        ...axisStyle(spec.xLabel, spec.xLog),
        ...(spec.xLog ? {} : { type: 'value', scale: true, ...(integral ? { minInterval: 1 } : {}) }),
        nameGap: 28,
      },
      yAxis: {
        ...axisStyle(spec.yLabel, spec.yLog),
        ...(spec.yLog ? {} : { type: 'value', scale: false }),
        nameGap: yGap,
      },
      series: spec.series.map((s) => ({
        type: 'line',
        name: s.name,
        showSymbol: true,
        showAllSymbol: true,
        symbolSize: 6,
        data: s.points.filter((p) => plottable(p[1], spec.yLog) && plottable(p[0], spec.xLog)).map((p) => [p[0], p[1]]),
      })),
    };
  }
  const hist = spec.kind === 'histogram';
  // A histogram's bars are labelled by their lower edge on the chart (the ranges are in the data table).
  const { categories, series } = spec.kind === 'bar' ? spec : histogramBars(spec, 'edge');
  const yLog = spec.yLog;
  const values = series.flatMap((s) => s.values.filter((v): v is number => v !== null && plottable(v, yLog)));
  // On a log axis a bar grows from one decade below the smallest value, so a single sample still shows.
  const logMin = yLog && values.length > 0 ? 10 ** (Math.floor(Math.log10(Math.min(...values))) - 1) : undefined;
  const tilt = hist ? { angle: 0, depth: 0 } : labelTilt(categories, WIDTH - grid.left - grid.right);
  return {
    ...base,
    grid: { ...grid, bottom: grid.bottom + tilt.depth },
    xAxis: {
      ...axisStyle(spec.xLabel, false),
      type: 'category',
      data: [...categories],
      nameGap: 28 + tilt.depth,
      axisLabel: {
        ...axisStyle(undefined, false).axisLabel,
        interval: hist ? 'auto' : 0,
        rotate: tilt.angle,
        hideOverlap: hist,
      },
    },
    yAxis: {
      ...axisStyle(spec.yLabel ?? 'samples', yLog),
      ...(yLog ? { min: logMin, startValue: logMin } : { type: 'value' }),
      nameGap: yGap,
    },
    series: series.map((s) => ({
      type: 'bar',
      name: s.name,
      ...(hist && series.length === 1 ? { barCategoryGap: '4%' } : {}),
      data: s.values.map((v, i) => {
        if (v === null || !plottable(v, yLog)) return null;
        const color = s.colors?.[i];
        return color ? { value: v, itemStyle: { color } } : v;
      }),
    })),
  };
}

/**
 * How far the y axis name sits from the axis: clear of the widest tick label. The ticks are round values
 * within the data's range, so the formatted extremes bound their width.
 */
export function yNameGap(spec: ChartSpec): number {
  const ys =
    spec.kind === 'line'
      ? spec.series.flatMap((s) => s.points.map((p) => p[1]))
      : spec.kind === 'bar'
        ? spec.series.flatMap((s) => s.values.filter((v): v is number => v !== null))
        : [];
  const finite = ys.filter(Number.isFinite);
  const ends = finite.length > 0 ? [Math.min(...finite), Math.max(...finite)] : [];
  return Math.max(48, 12 + CHAR_PX * Math.max(0, ...ends.map((v) => formatNumber(v).length)));
}

/** About how wide a 12 px label character is, and how far apart two tilted labels must be to not overlap. */
const CHAR_PX = 7;
const LINE_PX = 16;

/**
 * How far to tilt the category labels of a bar chart so that every one is shown and none overlaps: flat
 * when they fit their slots; else tilted until two neighbours are a text line apart (slot x sin(angle) >=
 * LINE_PX), at least 20 degrees. `depth` is how much lower the tilted labels reach (the axis name and the
 * legend move down by it).
 */
export function labelTilt(categories: readonly string[], plotWidth: number): { angle: number; depth: number } {
  const longest = Math.max(0, ...categories.map((c) => c.length)) * CHAR_PX;
  const slot = plotWidth / Math.max(1, categories.length);
  if (longest <= slot - 4) return { angle: 0, depth: 0 };
  const angle = Math.min(90, Math.max(20, Math.ceil((Math.asin(Math.min(1, LINE_PX / slot)) * 180) / Math.PI)));
  return { angle, depth: Math.ceil(longest * Math.sin((angle * Math.PI) / 180)) };
}

/** The chart's SVG, rendered now; ids are prefixed with `id` so several charts share one page. */
export function renderSvg(spec: ChartSpec, id: string): string {
  const chart = echarts().init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height: HEIGHT });
  let svg: string;
  try {
    chart.setOption(option(spec));
    svg = chart.renderToSVGString();
  } finally {
    chart.dispose(); // without it zrender's frame loop keeps the process alive
  }
  const prefix = id.replace(/[^A-Za-z0-9_-]/g, '_');
  return (
    svg
      // Inline SVG in HTML needs no namespace declarations; dropping them leaves no URL at all in the page.
      .replace(/\s+xmlns(:xlink)?="[^"]*"/g, '')
      // The hover-cursor stylesheet is for interactive charts; these are static.
      .replace(/<style\s*>[\s\S]*?<\/style>/g, '')
      .replace(/\bzr\d+-/g, `${prefix}-`)
      .replace(/^<svg /, `<svg role="img" aria-label="${escapeHtml(spec.title)}" `)
  );
}

/** A <figure>: caption, the inline SVG, an optional note, and the numbers in a collapsed table. */
export function renderChart(spec: ChartSpec, id: string): string {
  const points = dataPointCount(spec);
  const body = points > 0 ? renderSvg(spec, id) : '<p class="empty">no data</p>';
  return (
    `<figure class="chart" id="${escapeHtml(id)}" data-kind="${spec.kind}" data-points="${points}">` +
    `<figcaption>${escapeHtml(spec.title)}</figcaption>${body}` +
    `${spec.note ? `<p class="note">${escapeHtml(spec.note)}</p>` : ''}` +
    `<details><summary>data</summary>${dataTable(spec)}</details></figure>`
  );
}

function dataTable(spec: ChartSpec): string {
  const cell = (v: number | null | undefined) =>
    `<td class="num">${v === null || v === undefined ? '–' : escapeHtml(formatNumber(v))}</td>`;
  if (spec.kind === 'line') {
    const xs = [...new Set(spec.series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const head = `<tr><th>${escapeHtml(spec.xLabel)}</th>${spec.series.map((s) => `<th>${escapeHtml(s.name)}</th>`).join('')}</tr>`;
    const rows = xs.map(
      (x) => `<tr>${cell(x)}${spec.series.map((s) => cell(s.points.find((p) => p[0] === x)?.[1])).join('')}</tr>`,
    );
    return `<table class="data"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
  }
  const { categories, series } = spec.kind === 'bar' ? spec : histogramBars(spec, 'range');
  const head = `<tr><th>${escapeHtml(spec.xLabel ?? '')}</th>${series.map((s) => `<th>${escapeHtml(s.name)}</th>`).join('')}</tr>`;
  const rows = categories.map(
    (c, i) => `<tr><th scope="row">${escapeHtml(c)}</th>${series.map((s) => cell(s.values[i])).join('')}</tr>`,
  );
  return `<table class="data"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}
