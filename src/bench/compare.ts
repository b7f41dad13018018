/**
 * `bench --compare A/report.json B/report.json`: what changed between two benchmark runs (before and
 * after a patch, or a user's variant against upstream's). Every suite's report is read as a flat list of
 * measurements — (suite, variant, combination, metric) -> value with its min–max over repeats — and
 * the two lists are matched; per match, B over A as a ratio and a difference, and whether the two
 * spreads overlap (then the difference is within the noise of the runs).
 *
 * When the two reports measured different variants of the same combinations (A ran `percpu`, B ran a
 * user's `my-patch`) and each holds exactly one variant, combinations are matched without the variant.
 */
import type { Range } from './spread.js';

export interface Measurement {
  readonly suite: string;
  /** The variant (or design, mode, api) measured; '' when the suite has none. */
  readonly variant: string;
  /** Everything else that makes the combination: workers, costs, sizes. */
  readonly config: string;
  readonly metric: string;
  readonly value: number;
  readonly range: Range | undefined;
  /** Is more better (a rate) or worse (a latency)? */
  readonly higherIsBetter: boolean;
}

type Row = Record<string, unknown>;

const num = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : NaN);
const rangeOf = (row: Row, field: string): Range | undefined => {
  const r = (row.spread as Record<string, Range> | undefined)?.[field];
  return r && Number.isFinite(r.min) && Number.isFinite(r.max) ? r : undefined;
};
const rows = (x: unknown): Row[] =>
  Array.isArray(x) ? x.filter((r): r is Row => typeof r === 'object' && r !== null) : [];

function metrics(
  suite: string,
  list: Row[],
  variant: (r: Row) => string,
  config: (r: Row) => string,
  fields: readonly (readonly [field: string, metric: string, higher: boolean])[],
): Measurement[] {
  return list
    .flatMap((r) =>
      fields.map(([field, metric, higherIsBetter]) => ({
        suite,
        variant: variant(r),
        config: config(r),
        metric,
        value: num(r[field]),
        range: rangeOf(r, field),
        higherIsBetter,
      })),
    )
    .filter((m) => !Number.isNaN(m.value));
}

/** Every measurement a bench report.json holds (today's suites; older reports without spreads too). */
export function measurementsOf(doc: Row): Measurement[] {
  const out: Measurement[] = [];
  const engine = doc.engine as Row | undefined;
  if (engine) {
    out.push(
      ...metrics(
        'engine',
        rows(engine.stress),
        (r) => `${r.scenario}/${r.variant}`,
        (r) => `stress ${r.workers}w`,
        [
          ['stepsPerSec', 'steps/s', true],
          ['opsPerSec', 'ops/s', true],
        ],
      ),
    );
    out.push(
      ...metrics(
        'engine',
        rows(engine.explore),
        (r) => String(r.scenario),
        (r) => `explore ${r.cpus}x${r.opsPerCpu}`,
        [
          ['stepsPerSec', 'steps/s', true],
          ['schedulesPerSec', 'schedules/s', true],
        ],
      ),
    );
  }
  const iova = doc.iova as Row | undefined;
  if (iova) {
    out.push(
      ...metrics(
        'iova',
        rows(iova.rates),
        (r) => String(r.depot === 'fixed' ? 'fixed-depot' : 'correct'),
        (r) => `${r.shape} ${r.path} ${r.workers}w`,
        [['pairsPerSec', 'pairs/s', true]],
      ),
    );
  }
  const fq = doc.fq as Row | undefined;
  if (fq) {
    out.push(
      ...metrics(
        'fq',
        rows(fq.rows),
        (r) => String(r.mode),
        (r) => `${r.workers}w flush ${r.flushCostNs}ns ${r.flush} transfer ${r.transferNs}ns x${r.pages}`,
        [
          ['throughput', 'pairs/s', true],
          ['mapAvgUs', 'map avg us', false],
          ['unmapAvgUs', 'unmap avg us', false],
        ],
      ),
    );
  }
  const mapsg = doc.mapsg as Row | undefined;
  if (mapsg) {
    out.push(
      ...metrics(
        'mapsg',
        rows(mapsg.rows),
        (r) => String(r.design),
        (r) => `${r.workers}w hcall ${r.hypercallNs}ns segs ${r.segs}`,
        [
          ['throughput', 'map_sg/s', true],
          ['mapAvgUs', 'map avg us', false],
          ['unmapAvgUs', 'unmap avg us', false],
        ],
      ),
    );
    out.push(
      ...metrics(
        'dma-iova',
        rows(mapsg.iova),
        (r) => String(r.api),
        (r) => `${r.workers}w hcall ${r.hypercallNs}ns pages ${r.pages}`,
        [
          ['throughput', 'rounds/s', true],
          ['mapAvgUs', 'map avg us', false],
          ['unmapAvgUs', 'unmap avg us', false],
        ],
      ),
    );
  }
  const variants = doc.variants as Row | undefined;
  if (variants) {
    const measured = rows(variants.rows).filter((r) => r.stoppedBy === null || r.stoppedBy === undefined);
    out.push(
      ...metrics(
        'variants',
        measured,
        (r) => `${r.scenario}/${r.variant}`,
        (r) => `${r.workers}w`,
        [
          ['opsPerSec', 'ops/s', true],
          ['stepsPerSec', 'steps/s', true],
        ],
      ),
    );
  }
  return out;
}

export interface Difference {
  readonly a: Measurement;
  readonly b: Measurement;
  /** B / A. */
  readonly ratio: number;
  /** B - A. */
  readonly delta: number;
  /** Both spreads known and overlapping: the difference is within run-to-run noise. */
  readonly overlap: boolean | undefined;
}

export interface Comparison {
  readonly differences: readonly Difference[];
  /** Matched without the variant (each report measured one variant): which ones. */
  readonly acrossVariants: { readonly a: string; readonly b: string } | undefined;
  readonly onlyA: number;
  readonly onlyB: number;
}

const keyOf = (m: Measurement, withVariant: boolean): string =>
  `${m.suite}\u0000${withVariant ? m.variant : ''}\u0000${m.config}\u0000${m.metric}`;

export function compareMeasurements(a: readonly Measurement[], b: readonly Measurement[]): Comparison {
  const match = (withVariant: boolean) => {
    const byKey = new Map(a.map((m) => [keyOf(m, withVariant), m]));
    return b.flatMap((mb) => {
      const ma = byKey.get(keyOf(mb, withVariant));
      return ma ? [{ a: ma, b: mb }] : [];
    });
  };
  let pairs = match(true);
  let acrossVariants: Comparison['acrossVariants'];
  const va = new Set(a.map((m) => m.variant));
  const vb = new Set(b.map((m) => m.variant));
  if (pairs.length === 0 && va.size === 1 && vb.size === 1) {
    pairs = match(false);
    if (pairs.length > 0) acrossVariants = { a: [...va][0]!, b: [...vb][0]! };
  }
  const differences = pairs.map(({ a: x, b: y }) => ({
    a: x,
    b: y,
    ratio: y.value / x.value,
    delta: y.value - x.value,
    overlap: x.range && y.range ? x.range.min <= y.range.max && y.range.min <= x.range.max : undefined,
  }));
  return { differences, acrossVariants, onlyA: a.length - pairs.length, onlyB: b.length - pairs.length };
}

export const fmt = (x: number): string => {
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)} k`;
  return a >= 100 ? x.toFixed(0) : x.toFixed(2);
};
const withSpread = (m: Measurement): string =>
  m.range ? `${fmt(m.value)} [${fmt(m.range.min)}–${fmt(m.range.max)}]` : `${fmt(m.value)} [no spread]`;

export function comparisonText(c: Comparison, fileA: string, fileB: string): string {
  const head = ['suite', 'variant', 'combination', 'metric', 'A', 'B', 'B/A', 'B-A', 'verdict'];
  const body = c.differences.map((d) => {
    const better = d.b.higherIsBetter ? d.ratio > 1 : d.ratio < 1;
    const verdict =
      d.overlap === undefined
        ? better
          ? 'better?'
          : 'worse?'
        : d.overlap
          ? 'within spread'
          : better
            ? 'better'
            : 'worse';
    return [
      d.a.suite,
      c.acrossVariants ? `${d.a.variant} -> ${d.b.variant}` : d.a.variant,
      d.a.config,
      d.a.metric,
      withSpread(d.a),
      withSpread(d.b),
      `${d.ratio.toFixed(2)}x`,
      `${d.delta >= 0 ? '+' : ''}${fmt(d.delta)}`,
      verdict,
    ];
  });
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((x, i) => (i >= 4 && i <= 7 ? x.padStart(w[i]!) : x.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [
    `A: ${fileA}`,
    `B: ${fileB}`,
    ...(c.acrossVariants
      ? [
          `(each report measured one variant: ${c.acrossVariants.a} in A, ${c.acrossVariants.b} in B;` +
            ' matched by combination)',
        ]
      : []),
    '',
    line(head),
    ...body.map(line),
    '',
    `${c.differences.length} measurement(s) compared; ${c.onlyA} only in A, ${c.onlyB} only in B.` +
      " [min–max] over each report's repeats;" +
      ' "within spread": the two ranges overlap.',
  ].join('\n');
}
