/**
 * The HTML reports: `index.html` of a run (verdict tables, each violation with its per-vCPU trace and
 * replay command, jcstress-style outcome histograms, throughput charts) and `bench.html` of a benchmark
 * (the engine benchmark's charts, plus any sections a benchmark suite passes in). Self-contained: inline
 * CSS and SVG, no request of any kind, readable without script.
 */
import { siteStatus, verdictText } from './coverage-text.js';
import type { EngineBench } from '../bench/engine-bench.js';
import type { Grade } from '../check/invariant.js';
import { PALETTE, renderChart, type ChartSpec } from './charts.js';
import {
  escapeHtml,
  formatFreq,
  formatInt,
  formatMs,
  formatNumber,
  renderCommand,
  renderPage,
  renderTable,
  slug,
  type Table,
} from './html-kit.js';
import type { HistogramRow, ReportedViolation, RunReport, VariantReport } from './types.js';

export const GRADE_COLORS: Readonly<Record<Grade, string>> = {
  ACCEPTABLE: PALETTE[2],
  INTERESTING: PALETTE[5],
  FORBIDDEN: PALETTE[3],
};

const variantId = (v: VariantReport): string => `v-${slug(v.scenario)}--${slug(v.variant)}`;
const badge = (text: string, cls: string): string =>
  `<span class="badge ${escapeHtml(cls)}">${escapeHtml(text)}</span>`;
const code = (s: string): string => `<code>${escapeHtml(s)}</code>`;

export function renderRunHtml(r: RunReport): string {
  const scenarios = [...new Set(r.results.map((v) => v.scenario))];
  const body = [
    `<header><h1>iommu-stress run ${escapeHtml(r.runId)}</h1>`,
    `<p class="meta"><span class="verdict-banner ${r.verdict}">${r.verdict.toUpperCase()}</span> exit ${r.exitCode} · ` +
      `${r.results.length} variant(s) of ${scenarios.length} scenario(s) · seed ${r.seed}${r.shard ? ` · shard ${r.shard.index}/${r.shard.count}` : ''}` +
      ` · ${escapeHtml(formatMs(r.durationMs))} · started ${escapeHtml(r.startedAt)} · ${escapeHtml(r.tool)} ${escapeHtml(r.version)}</p>`,
    renderCommand(r.command),
    `<nav class="toc"><a href="#verdicts">verdicts</a><a href="#throughput">throughput</a>${r.results.map((v) => `<a href="#${variantId(v)}">${escapeHtml(`${v.scenario}/${v.variant}`)}</a>`).join('')}</nav></header>`,
    '<main>',
    '<h2 id="verdicts">Verdicts</h2>',
    '<p class="note">A variant passes when what was observed meets its expectation: a correct variant stays clean, a known-bug variant must be caught (the checker bites).</p>',
    ...scenarios.map((s) =>
      verdictTable(
        s,
        r.results.filter((v) => v.scenario === s),
      ),
    ),
    '<h2 id="throughput">Throughput</h2>',
    `<div class="charts">${runCharts(r.results)
      .map((c, i) => renderChart(c, `run-chart-${i}`))
      .join('')}</div>`,
    ...r.results.map(variantSection),
    '</main>',
  ];
  return renderPage(`iommu-stress ${r.verdict.toUpperCase()} · ${r.runId}`, body.join('\n'));
}

function verdictTable(scenario: string, vs: readonly VariantReport[]): string {
  const t: Table = {
    cls: 'verdicts',
    caption: scenario,
    columns: [
      { label: 'variant' },
      { label: 'expected' },
      { label: 'observed' },
      { label: 'verdict' },
      { label: 'ops', num: true },
      { label: 'steps', num: true },
      { label: 'stress ops/s', num: true },
      { label: 'workers', num: true },
      { label: 'schedules', num: true },
      { label: 'violations', num: true },
      { label: 'time', num: true },
      { label: 'seed', num: true },
    ],
    rows: vs.map((v) => {
      const grade: Grade = v.violations[0]?.grade ?? 'ACCEPTABLE';
      return {
        cls: `verdict-${v.verdict}`,
        id: `row-${variantId(v)}`,
        cells: [
          `<a href="#${variantId(v)}">${escapeHtml(v.variant)}</a>`,
          code(v.expected),
          `<span class="badge grade-${v.observed === 'clean' ? 'ACCEPTABLE' : grade}">${escapeHtml(v.observed)}</span>`,
          `<span class="badge ${v.verdict}">${escapeHtml(verdictText(v))}</span>`,
          formatInt(v.ops),
          formatInt(v.steps),
          v.stress ? formatInt(v.stress.opsPerSec) : '–',
          v.stress ? String(v.stress.workers) : '–',
          v.explore ? formatInt(v.explore.schedules) : '–',
          String(v.violations.length),
          escapeHtml(formatMs(v.durationMs)),
          String(v.seed),
        ],
      };
    }),
  };
  return `<section class="scenario" id="scenario-${slug(scenario)}"><div class="scroll">${renderTable(t)}</div></section>`;
}

/** Charts of a run: stress ops/s and explore schedules/s per variant; ops per variant if neither phase ran. */
function runCharts(results: readonly VariantReport[]): ChartSpec[] {
  const categories = results.map((v) => `${v.scenario}/${v.variant}`);
  const wide = (xs: readonly (number | null)[]) => {
    const pos = xs.filter((x): x is number => x !== null && x > 0);
    return pos.length > 1 && Math.max(...pos) / Math.min(...pos) > 100;
  };
  const charts: ChartSpec[] = [];
  const opsPerSec = results.map((v) => v.stress?.opsPerSec ?? null);
  if (opsPerSec.some((x) => x !== null)) {
    charts.push({
      kind: 'bar',
      title: 'Stress phase: ops/s per variant',
      categories,
      yLabel: 'ops/s',
      yLog: wide(opsPerSec),
      series: [
        {
          name: 'ops/s',
          values: opsPerSec,
          colors: results.map((v) => (v.verdict === 'pass' ? PALETTE[0] : PALETTE[3])),
        },
      ],
      note:
        `Real worker threads (${[...new Set(results.flatMap((v) => (v.stress ? [v.stress.workers] : [])))].join(', ')} workers). ` +
        'A variant that stops at its first violation runs only milliseconds, so its rate is not a throughput.',
    });
  }
  const schedPerSec = results.map((v) =>
    v.explore && v.explore.durationMs > 0 ? v.explore.schedules / (v.explore.durationMs / 1000) : null,
  );
  if (schedPerSec.some((x) => x !== null)) {
    charts.push({
      kind: 'bar',
      title: 'Explore phase: schedules/s per variant',
      categories,
      yLabel: 'schedules/s',
      yLog: wide(schedPerSec),
      series: [{ name: 'schedules/s', values: schedPerSec }],
      note: "Deterministic PCT schedules of the scenario's explore shape, executed per second on the main thread.",
    });
  }
  if (charts.length === 0) {
    const ops = results.map((v) => v.ops);
    charts.push({
      kind: 'bar',
      title: 'Ops per variant',
      categories,
      yLabel: 'ops',
      yLog: wide(ops),
      series: [{ name: 'ops', values: ops }],
    });
  }
  return charts;
}

function variantSection(v: VariantReport): string {
  const params = Object.entries(v.params)
    .map(([k, x]) => `${k}=${x}`)
    .join(' ');
  const phases: [string, string][] = [
    ...(v.stress
      ? [
          [
            'stress',
            `${formatInt(v.stress.ops)} ops, ${formatInt(v.stress.steps)} steps, ${v.stress.workers} workers, ${v.stress.slices} slices, ${formatMs(v.stress.durationMs)}`,
          ] as [string, string],
        ]
      : []),
    ...(v.explore
      ? [
          [
            `explore (${v.explore.strategy})`,
            `${formatInt(v.explore.schedules)} schedules, ${formatInt(v.explore.steps)} steps, ${formatMs(v.explore.durationMs)}`,
          ] as [string, string],
        ]
      : []),
  ];
  const outcomes = Object.entries(v.outcomes);
  return [
    `<section class="variant" id="${variantId(v)}">`,
    `<h2>${escapeHtml(v.scenario)} / ${escapeHtml(v.variant)} <span class="badge ${v.verdict}">${v.verdict.toUpperCase()}</span></h2>`,
    `<dl class="facts"><dt>expected</dt><dd>${code(v.expected)}</dd><dt>observed</dt><dd>${code(v.observed)}</dd>` +
      `<dt>seed</dt><dd>${v.seed}</dd><dt>params</dt><dd>${params ? code(params) : '(defaults)'}</dd>` +
      phases.map(([k, text]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(text)}</dd>`).join('') +
      (outcomes.length > 0
        ? `<dt>outcomes</dt><dd>${escapeHtml(outcomes.map(([k, n]) => `${k}: ${formatInt(n)}`).join(', '))}</dd>`
        : '') +
      '</dl>',
    v.violations.length > 0
      ? `<h3>Violations</h3>${v.violations.map(violationBlock).join('')}`
      : '<p class="note">No violation.</p>',
    histogramBlock(v),
    coverageBlock(v),
    '</section>',
  ].join('\n');
}

/** The variant's site coverage: a summary line, then every declared site with its steps (folded). */
function coverageBlock(v: VariantReport): string {
  const c = v.coverage;
  if (!c) return '';
  if (!c.declared) return '<h3>Coverage</h3><p class="note">The scenario declares no sites: nothing is judged.</p>';
  const never = c.neverReached.length;
  const table = renderTable({
    cls: 'coverage',
    columns: [
      { label: 'site' },
      { label: 'stress steps', num: true },
      { label: 'explore steps', num: true },
      { label: 'status' },
    ],
    rows: c.sites.map((s) => {
      const st = siteStatus(s);
      return {
        cls: `site-${st.replace(' ', '-')}`,
        cells: [
          code(s.site),
          formatInt(s.stress),
          formatInt(s.explore),
          escapeHtml(st === 'exempt' ? `exempt: ${s.exempt}` : st),
        ],
      };
    }),
  });
  const undeclared = Object.keys(c.undeclared);
  return [
    '<h3>Coverage</h3>',
    `<p class="note">${c.reached} of ${c.sites.length} declared sites reached` +
      (never > 0 ? `; <strong>${never} never reached</strong>: ${c.neverReached.map(code).join(', ')}` : '') +
      (undeclared.length > 0
        ? `; <strong>undeclared (a model error)</strong>: ${undeclared.map(code).join(', ')}`
        : '') +
      '.</p>',
    `<details><summary>every declared site</summary><div class="scroll">${table}</div></details>`,
  ].join('\n');
}

function violationBlock(x: ReportedViolation): string {
  const who = x.vcpu >= 0 ? `cpu${x.vcpu}` : 'quiescent scan';
  return [
    `<article class="violation grade-${x.grade}">`,
    `<h4>${badge(x.grade, `grade-${x.grade}`)} ${escapeHtml(x.invariant)} <span class="note">found by the ${escapeHtml(x.executor)} executor</span></h4>`,
    `<dl class="facts"><dt>invariant</dt><dd>${code(x.invariant)}</dd><dt>message</dt><dd class="message">${escapeHtml(x.message)}</dd>` +
      `<dt>vCPU</dt><dd>${escapeHtml(who)}</dd><dt>site</dt><dd>${code(x.site)}</dd><dt>step</dt><dd>${x.step}</dd>` +
      (x.stressSaw
        ? `<dt>stress saw</dt><dd>${code(x.stressSaw.invariant)} ${escapeHtml(x.stressSaw.message)} (the replay above, on the same op programs, ends elsewhere)</dd>`
        : '') +
      '</dl>',
    x.trace
      ? `<h5>Per-vCPU trace (shrunk interleaving, one column per vCPU)</h5><pre class="trace">${escapeHtml(x.trace)}</pre>`
      : '<p class="note">No deterministic repro was found in the replay budget; the command below re-runs the same op programs in the explore executor.</p>',
    `<h5>Reproduce</h5>${renderCommand(x.command)}`,
    '</article>',
  ].join('\n');
}

function histogramBlock(v: VariantReport): string {
  const rows: readonly HistogramRow[] = v.histogram;
  if (rows.length === 0) return '';
  const total = rows.reduce((a, r) => a + r.samples, 0);
  const table = renderTable({
    cls: 'histogram',
    columns: [{ label: 'RESULT' }, { label: 'SAMPLES', num: true }, { label: 'FREQ', num: true }, { label: 'EXPECT' }],
    rows: rows.map((r) => ({
      cells: [code(r.result), formatInt(r.samples), formatFreq(r.samples, total), badge(r.expect, `grade-${r.expect}`)],
    })),
  });
  const intro =
    '<h3>Outcomes</h3><p class="note">jcstress form: every op either had nothing to report (<code>ok</code>) or produced one outcome, graded by EXPECT.</p>';
  if (rows.length < 2) return intro + table;
  const chart = renderChart(
    {
      kind: 'bar',
      title: `${v.scenario}/${v.variant}: outcome histogram`,
      categories: rows.map((r) => r.result),
      xLabel: 'RESULT',
      yLabel: 'samples',
      yLog: true,
      series: [
        { name: 'samples', values: rows.map((r) => r.samples), colors: rows.map((r) => GRADE_COLORS[r.expect]) },
      ],
      note: 'Log scale; bars coloured by EXPECT grade (green acceptable, yellow interesting, red forbidden).',
    },
    `hist-${variantId(v)}`,
  );
  return `${intro}<div class="charts"><div>${table}</div>${chart}</div>`;
}

// ---------------------------------------------------------------- benchmarks

/** A titled group of charts (and tables) in bench.html; benchmark suites pass theirs in. */
export interface ChartSection {
  readonly heading: string;
  /** One paragraph under the heading (plain text). */
  readonly text?: string;
  readonly charts: readonly ChartSpec[];
  readonly tables?: readonly Table[];
}

export interface BenchHtmlOptions {
  readonly title?: string;
  /** The command line that produced the numbers. */
  readonly command?: string;
  readonly generatedAt?: string;
  /** The machine the numbers come from: CPU model, cores, memory, Node version. */
  readonly machine?: string;
  /** Warnings about what the numbers measure (e.g. the model's own overhead dominating), shown at the top. */
  readonly caveats?: readonly string[];
  /** Further suites' sections (flush queue, IOVA allocator, ...), after the engine benchmark's. */
  readonly sections?: readonly ChartSection[];
}

export function renderBenchHtml(bench: EngineBench | null, extra: BenchHtmlOptions = {}): string {
  const sections = [...(bench ? engineBenchSections(bench) : []), ...(extra.sections ?? [])];
  const title = extra.title ?? 'iommu-stress benchmark';
  let n = 0;
  const body = [
    `<header><h1>${escapeHtml(title)}</h1>`,
    extra.generatedAt ? `<p class="meta">generated ${escapeHtml(extra.generatedAt)}</p>` : '',
    extra.machine ? `<p class="meta">machine: ${escapeHtml(extra.machine)}</p>` : '',
    extra.command ? renderCommand(extra.command) : '',
    ...(extra.caveats ?? []).map((c) => `<p class="caveat"><strong>caveat:</strong> ${escapeHtml(c)}</p>`),
    `<nav class="toc">${sections.map((s) => `<a href="#${slug(s.heading)}">${escapeHtml(s.heading)}</a>`).join('')}</nav></header>`,
    '<main>',
    ...sections.map((s) =>
      [
        `<section class="bench" id="${slug(s.heading)}"><h2>${escapeHtml(s.heading)}</h2>`,
        s.text ? `<p>${escapeHtml(s.text)}</p>` : '',
        ...(s.tables ?? []).map(renderTable),
        s.charts.length > 0
          ? `<div class="charts">${s.charts.map((c) => renderChart(c, `bench-chart-${n++}`)).join('')}</div>`
          : '',
        '</section>',
      ].join('\n'),
    ),
    '</main>',
  ];
  return renderPage(title, body.join('\n'));
}

/** The engine benchmark as sections: baseline and targets, stress scaling, explore rates, PCT detection. */
export function engineBenchSections(b: EngineBench): ChartSection[] {
  const r = b.ratios;
  const met = (ok: boolean) => `<span class="badge ${ok ? 'pass' : 'fail'}">${ok ? 'met' : 'MISSED'}</span>`;
  const ex0 = b.explore[0];
  const targets: Table = {
    caption: 'Targets (DESIGN.md "Performance targets"), measured against a raw Atomics.add in the same run',
    columns: [{ label: 'target' }, { label: 'measured', num: true }, { label: '' }],
    rows: [
      {
        cells: [
          'stress step &le; 4× Atomics.add',
          `${r.stressStepOverAtomicsAdd.toFixed(2)}×`,
          met(r.stressStepOverAtomicsAdd <= 4),
        ],
      },
      {
        cells: [
          '2 workers &ge; 1.8× one (per-CPU)',
          `${r.twoWorkerSpeedup.toFixed(2)}× (pgtable ${r.twoWorkerSpeedupPgtable.toFixed(2)}×)`,
          met(r.twoWorkerSpeedup >= 1.8),
        ],
      },
      ...(ex0
        ? [
            {
              cells: [
                `explore &ge; 3 M steps/s (${escapeHtml(ex0.scenario)})`,
                `${formatNumber(ex0.stepsPerSec)}`,
                met(ex0.stepsPerSec >= 3e6),
              ],
            },
            {
              cells: [
                `&ge; 1000 schedules/s (${ex0.cpus} vCPUs, ~${ex0.stepsPerExecution.toFixed(0)} steps)`,
                ex0.schedulesPerSec.toFixed(0),
                met(ex0.schedulesPerSec >= 1000),
              ],
            },
          ]
        : []),
      {
        cells: [
          'bug variants found by PCT &le; 1000 schedules (median)',
          b.detection.map((d) => d.medianSchedules).join(', ') || '–',
          met(b.detection.every((d) => d.medianSchedules <= 1000)),
        ],
      },
    ],
  };
  const micro: Table = {
    caption: 'Single-thread micro-benchmarks (tinybench medians)',
    columns: [{ label: 'operation' }, { label: 'ns', num: true }, { label: '× Atomics.add', num: true }],
    rows: [
      { cells: ['raw Atomics.add', b.micro.atomicsAddNs.toFixed(2), '1.00'] },
      {
        cells: ['model step in-thread (yield + add)', b.micro.stepNs.toFixed(2), r.microStepOverAtomicsAdd.toFixed(2)],
      },
      {
        cells: [
          'model step via 2× yield*',
          b.micro.nestedStepNs.toFixed(2),
          (b.micro.nestedStepNs / b.micro.atomicsAddNs).toFixed(2),
        ],
      },
    ],
  };
  const stressKeys = [...new Set(b.stress.map((s) => `${s.scenario}/${s.variant}`))];
  const stressSeries = (f: (s: EngineBench['stress'][number]) => number) =>
    stressKeys.map((k) => ({
      name: k,
      points: b.stress
        .filter((s) => `${s.scenario}/${s.variant}` === k)
        .sort((x, y) => x.workers - y.workers)
        .map((s) => [s.workers, f(s)] as const),
    }));
  const exploreCats = b.explore.map((e) => `${e.scenario} ${e.cpus}×${e.opsPerCpu}`);
  const detCats = b.detection.map((d) => `${d.scenario}/${d.variant}`);
  return [
    { heading: 'Baseline and targets', charts: [], tables: [targets, micro] },
    {
      heading: 'Stress mode',
      text: 'Real worker threads, one vCPU per worker. Steps are scheduling points (shared accesses); per-CPU structures should scale with workers.',
      charts: [
        {
          kind: 'line',
          title: 'Stress steps/s vs workers',
          xLabel: 'workers',
          yLabel: 'steps/s',
          series: stressSeries((s) => s.stepsPerSec),
        },
        {
          kind: 'line',
          title: 'Stress ops/s vs workers',
          xLabel: 'workers',
          yLabel: 'ops/s',
          yLog: true,
          series: stressSeries((s) => s.opsPerSec),
        },
      ],
    },
    {
      heading: 'Explore mode',
      text: 'The deterministic scheduler on the main thread (random strategy): raw step rate, and whole executions (schedules) per second.',
      charts: [
        {
          kind: 'bar',
          title: 'Explore steps/s',
          categories: exploreCats,
          xLabel: 'scenario vCPUs×ops',
          yLabel: 'steps/s',
          series: [{ name: 'steps/s', values: b.explore.map((e) => e.stepsPerSec) }],
        },
        {
          kind: 'bar',
          title: 'Explore schedules/s',
          categories: exploreCats,
          xLabel: 'scenario vCPUs×ops',
          yLabel: 'schedules/s',
          series: [{ name: 'schedules/s', values: b.explore.map((e) => e.schedulesPerSec) }],
        },
      ],
    },
    {
      heading: 'Detection',
      text: 'PCT (depth 3) schedules until each known-bug variant is caught, over several seeds; a seed that never catches it counts as the cap + 1.',
      charts: [
        {
          kind: 'bar',
          title: 'PCT schedules to first violation',
          categories: detCats,
          xLabel: 'bug variant',
          yLabel: 'schedules',
          yLog: true,
          series: [
            { name: 'median', values: b.detection.map((d) => d.medianSchedules) },
            { name: 'max', values: b.detection.map((d) => d.maxSchedules) },
          ],
        },
      ],
      tables: [
        {
          columns: [
            { label: 'variant' },
            { label: 'found', num: true },
            { label: 'median', num: true },
            { label: 'max', num: true },
          ],
          rows: b.detection.map((d) => ({
            cells: [
              escapeHtml(`${d.scenario}/${d.variant}`),
              `${d.found}/${d.seeds}`,
              String(d.medianSchedules),
              String(d.maxSchedules),
            ],
          })),
        },
      ],
    },
  ];
}
