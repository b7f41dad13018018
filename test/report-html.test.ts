/**
 * The HTML reports. Static checks (no network reference, escaping, writeReport's files) run everywhere;
 * the page itself is checked in a real headless Chromium from Debian's package, driven by playwright-core:
 * a real `run` writes index.html, the browser opens it from file:// with every non-file request blocked
 * and recorded, and the test asserts on what was rendered, then saves screenshots beside the report.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineBench } from '../src/bench/engine-bench.js';
import { binSamples, dataPointCount, type ChartSpec } from '../src/report/charts.js';
import { renderBenchHtml, renderRunHtml, type ChartSection } from '../src/report/html.js';
import { writeReport, type RunReport } from '../src/report/report.js';
import { pgtableScenario } from '../src/scenarios/pgtable.js';
import { fixtureReport } from './report-fixture.js';
import { iommuIn } from './helpers/in-process.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const inBrowser = (name: string): string =>
  hasChromium ? name : `${name} (skipped: ${CHROMIUM} is absent; install it with \`apt-get install chromium\`)`;
// vitest lists skipped tests only in verbose mode: say why once, on one line, where everyone sees it.
if (!hasChromium)
  process.stderr.write(
    `report-html: browser tests skipped: ${CHROMIUM} is absent; install it with \`apt-get install chromium\`\n`,
  );
/** Kept after the run, so the report and its screenshots can be looked at. */
const OUT = path.join(os.tmpdir(), 'iommu-stress-report-html-test');

/** Anything that would make the page load something: a URL scheme, a CDN, a stylesheet import, an external src/href/url(). */
const NETWORK_REFS = [
  /https?:/i,
  /\/\/cdn/i,
  /@import/i,
  /\burl\(\s*['"]?(?!#)/i,
  /\b(?:src|href|action|srcset|poster)\s*=\s*(?!["']?(?:#|data:))/i,
  /<link\b(?![^>]*href="data:)/i,
];
const networkRefs = (html: string): string[] => NETWORK_REFS.filter((re) => re.test(html)).map(String);

function fakeEngineBench(): EngineBench {
  return {
    micro: { atomicsAddNs: 5.1, stepNs: 9.3, nestedStepNs: 21.7 },
    stress: [
      { scenario: 'counter', variant: 'percpu', workers: 1, stepsPerSec: 60e6, opsPerSec: 234e3 },
      { scenario: 'counter', variant: 'percpu', workers: 2, stepsPerSec: 112e6, opsPerSec: 437e3 },
      { scenario: 'pgtable', variant: 'correct', workers: 1, stepsPerSec: 9e6, opsPerSec: 2e6 },
      { scenario: 'pgtable', variant: 'correct', workers: 2, stepsPerSec: 14e6, opsPerSec: 3.1e6 },
    ],
    explore: [
      {
        scenario: 'pgtable',
        cpus: 4,
        opsPerCpu: 96,
        stepsPerExecution: 2100,
        stepsPerSec: 3.4e6,
        schedulesPerSec: 1600,
      },
      {
        scenario: 'pgtable',
        cpus: 3,
        opsPerCpu: 8,
        stepsPerExecution: 150,
        stepsPerSec: 3.1e6,
        schedulesPerSec: 20000,
      },
      { scenario: 'counter', cpus: 4, opsPerCpu: 8, stepsPerExecution: 2048, stepsPerSec: 5e6, schedulesPerSec: 2400 },
    ],
    detection: [
      { scenario: 'pgtable', variant: 'racy-install', seeds: 20, found: 20, medianSchedules: 4, maxSchedules: 31 },
      { scenario: 'counter', variant: 'racy', seeds: 20, found: 19, medianSchedules: 12, maxSchedules: 1001 },
    ],
    ratios: {
      stressStepOverAtomicsAdd: 3.2,
      microStepOverAtomicsAdd: 1.8,
      twoWorkerSpeedup: 1.87,
      twoWorkerSpeedupPgtable: 1.5,
    },
  };
}

/** What a later suite passes in: the flush-queue benchmark's charts, built with the same generic chart API. */
function flushQueueSection(): ChartSection {
  const modes = ['percpu', 'single', 'strict'];
  const charts: ChartSpec[] = [
    {
      kind: 'line',
      title: 'Throughput vs workers',
      xLabel: 'workers',
      yLabel: 'map+unmap pairs/s',
      series: modes.map((m, i) => ({
        name: m,
        points: [
          [1, 1e6 / (i + 1)],
          [2, 1.8e6 / (i + 1)],
          [4, 3e6 / (i + 1.5)],
        ],
      })),
    },
    {
      kind: 'line',
      title: 'Throughput vs flush cost',
      xLabel: 'flush cost (ns)',
      yLabel: 'pairs/s',
      xLog: true,
      series: modes.map((m, i) => ({
        name: m,
        points: [
          [100, 2e6 / (i + 1)],
          [1000, 1.5e6 / (i + 1)],
          [10000, 4e5 / (i + 1)],
        ],
      })),
    },
    {
      kind: 'bar',
      title: 'Unmap latency percentiles',
      categories: ['p50', 'p90', 'p99'],
      yLabel: 'µs',
      series: modes.map((m, i) => ({ name: m, values: [0.4 * (i + 1), 0.9 * (i + 1), 3 * (i + 1)] })),
    },
    {
      kind: 'histogram',
      title: 'Exposure window',
      xLabel: 'exposure window (µs)',
      series: [{ name: 'percpu', samples: Array.from({ length: 400 }, (_, k) => (k % 37) * 0.7 + (k % 5)) }],
    },
  ];
  return { heading: 'Flush queue', text: 'Lazy-mode flush queues per queue mode.', charts };
}

describe('HTML report, static', () => {
  it('renders a run report with no network reference, everything escaped', () => {
    const html = renderRunHtml(fixtureReport());
    expect(networkRefs(html)).toEqual([]);
    expect(html).not.toMatch(/xmlns/);
    expect(html.match(/<script>/g)).toHaveLength(1); // ours; the fixture's <script>alert(1)</script> is text
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<b>&');
    expect(html.match(/<tr class="verdict-/g)).toHaveLength(4);
    expect(html).toContain('<pre class="trace">step | cpu0');
    // Each chart is an inline SVG with as many marks as it has data points.
    const figures = [...html.matchAll(/<figure class="chart"[^>]*data-points="(\d+)">([\s\S]*?)<\/figure>/g)];
    expect(figures.length).toBeGreaterThanOrEqual(2);
    for (const [, points, body] of figures) {
      expect(Number(points)).toBeGreaterThan(0);
      expect(body!.match(/ecmeta_ssr_type="chart"/g)?.length).toBe(Number(points));
    }
  });

  it('renders a bench report with no network reference and a chart per series set', () => {
    const html = renderBenchHtml(fakeEngineBench(), {
      command: 'iommu-stress bench --suite all',
      sections: [flushQueueSection()],
    });
    expect(networkRefs(html)).toEqual([]);
    const figures = [...html.matchAll(/<figure class="chart"[^>]*data-kind="(\w+)" data-points="(\d+)">/g)];
    expect(figures.map((f) => f[1])).toEqual(['line', 'line', 'bar', 'bar', 'bar', 'line', 'line', 'bar', 'histogram']);
    expect(figures.every((f) => Number(f[2]) > 0)).toBe(true);
  });

  it('bins histogram samples and counts data points', () => {
    const b = binSamples(
      [
        { name: 'a', samples: [0, 1, 2, 3, 4, 10] },
        { name: 'b', samples: [10, 10] },
      ],
      2,
    );
    expect(b.labels).toEqual(['0–5', '5–10']);
    expect(b.counts).toEqual([
      [5, 1],
      [0, 2],
    ]);
    expect(binSamples([{ name: 'a', samples: [1, 5, 9, 12] }], [0, 4, 8]).counts).toEqual([[1, 1]]); // 9 and 12 are outside
    expect(
      dataPointCount({
        kind: 'bar',
        title: '',
        categories: ['x', 'y', 'z'],
        yLabel: '',
        yLog: true,
        series: [{ name: 's', values: [3, 0, null] }],
      }),
    ).toBe(1);
    expect(
      dataPointCount({
        kind: 'line',
        title: '',
        xLabel: '',
        yLabel: '',
        series: [
          {
            name: 's',
            points: [
              [1, 2],
              [2, Number.NaN],
            ],
          },
        ],
      }),
    ).toBe(1);
  });

  it('writeReport writes index.html and junit.xml beside report.json and summary.md', () => {
    const dir = path.join(OUT, 'static');
    rmSync(dir, { recursive: true, force: true });
    writeReport(fixtureReport(), dir);
    for (const f of ['report.json', 'summary.md', 'index.html', 'junit.xml'])
      expect(existsSync(path.join(dir, f)), f).toBe(true);
    expect(readFileSync(path.join(dir, 'index.html'), 'utf8')).toMatch(/^<!doctype html>/);
  });
});

/** Evaluated in the page (a string, so the test needs no DOM typings). */
const CHART_MARKS = `[...document.querySelectorAll('figure.chart')].map((f) => {
  const marks = [...f.querySelectorAll('svg [ecmeta_ssr_type="chart"]')];
  const visible = marks.filter((m) => { const b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0; });
  return { id: f.id, points: Number(f.dataset.points), marks: marks.length, visible: visible.length };
})`;

interface Opened {
  context: BrowserContext;
  page: Page;
  requests: string[];
  blocked: string[];
  errors: string[];
}

describe('HTML report in headless Chromium', () => {
  let browser: Browser | undefined;
  beforeAll(async () => {
    if (!hasChromium) return;
    rmSync(path.join(OUT, 'run'), { recursive: true, force: true });
    mkdirSync(OUT, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--host-resolver-rules=MAP * ~NOTFOUND',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** Open a file with every non-file request recorded and aborted. */
  async function open(file: string, javaScriptEnabled = true): Promise<Opened> {
    const context = await browser!.newContext({ javaScriptEnabled, viewport: { width: 1280, height: 900 } });
    const o: Opened = { context, page: await context.newPage(), requests: [], blocked: [], errors: [] };
    await context.route(
      (url) => url.protocol !== 'file:' && url.protocol !== 'data:',
      async (route) => {
        o.blocked.push(route.request().url());
        await route.abort();
      },
    );
    o.page.on('request', (r) => o.requests.push(r.url()));
    o.page.on('pageerror', (e) => o.errors.push(String(e)));
    o.page.on('console', (m) => {
      if (m.type() === 'error') o.errors.push(m.text());
    });
    await o.page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    return o;
  }

  function expectOffline(o: Opened, file: string): void {
    expect(o.blocked).toEqual([]);
    expect(
      o.requests.every((u) => u.startsWith('file:') || u.startsWith('data:')),
      o.requests.join('\n'),
    ).toBe(true);
    expect(o.requests).toContain(pathToFileURL(file).href);
    expect(o.errors).toEqual([]);
  }

  /** Per chart: data points declared, SVG marks drawn, and how many of those the browser laid out with a size. */
  const chartMarks = async (page: Page) =>
    page.evaluate(CHART_MARKS) as Promise<{ id: string; points: number; marks: number; visible: number }[]>;

  it.skipIf(!hasChromium)(
    inBrowser("a real run's index.html: verdict rows, charts with data points, the racy-install trace, offline"),
    async () => {
      const dir = path.join(OUT, 'run');
      // In-process (main(argv, io)): the same run, without a Node start; it must succeed as the child had to.
      const ran = await iommuIn(
        'run',
        'pgtable',
        '--all-variants',
        '--ops',
        '300',
        '--schedules',
        '300',
        '--time',
        '10m',
        '--seed',
        '1',
        '--report-dir',
        dir,
      );
      expect(ran.code, ran.stderr).toBe(0);
      const report = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as RunReport;
      const file = path.join(dir, 'index.html');
      expect(networkRefs(readFileSync(file, 'utf8'))).toEqual([]);
      const o = await open(file);
      const { page } = o;
      expect(await page.title()).toContain(report.runId);

      const rows = page.locator('table.verdicts tbody tr');
      expect(await rows.count()).toBe(report.results.length);
      // Every pgtable variant, in the scenario's order (correct first; racy-install among the bug variants).
      expect(report.results.map((v) => v.variant)).toEqual(pgtableScenario.variants.map((v) => v.name));
      const racyAt = report.results.findIndex((v) => v.variant === 'racy-install');
      for (const [i, v] of report.results.entries()) {
        const cells = (await rows.nth(i).locator('td').allInnerTexts()).map((t) => t.trim());
        expect(cells.slice(0, 4)).toEqual([v.variant, v.expected, v.observed, 'PASS']);
      }
      expect(await page.locator('caption', { hasText: 'pgtable' }).first().isVisible()).toBe(true);

      const charts = await chartMarks(page);
      expect(charts.map((c) => c.id)).toEqual(expect.arrayContaining(['run-chart-0', 'run-chart-1']));
      for (const c of charts) {
        expect(c.points, c.id).toBeGreaterThan(0);
        expect(c.marks, c.id).toBe(c.points);
        expect(c.visible, c.id).toBeGreaterThan(0);
      }
      // stress ops/s: one bar per variant
      expect(charts.find((c) => c.id === 'run-chart-0')!.marks).toBe(report.results.length);

      const racy = page.locator('#v-pgtable--racy-install');
      const trace = racy.locator('pre.trace').first();
      expect(await trace.isVisible()).toBe(true);
      expect(await trace.innerText()).toMatch(/step \| cpu\d/);
      const command = (await racy.locator('.violation .cmd code').first().innerText()).trim();
      expect(command).toBe(report.results[racyAt]!.violations[0]!.command);
      expect(await racy.locator('.violation button.copy').first().isVisible()).toBe(true); // the script ran
      expect(await page.locator('#v-pgtable--correct table.histogram tbody tr').first().innerText()).toMatch(
        /^ok\s+[\d,]+\s+100\.00%\s+ACCEPTABLE$/,
      );

      const shot = path.join(dir, 'index.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
      await page.emulateMedia({ colorScheme: 'dark' });
      expect(await page.evaluate('getComputedStyle(document.body).backgroundColor')).toBe('rgb(21, 23, 27)');
      await page.screenshot({ path: path.join(dir, 'index-dark.png') });
      expectOffline(o, file);
      await o.context.close();

      // Without JavaScript the page reads the same: the charts are plain SVG; only the copy buttons stay hidden.
      const noJs = await open(file, false);
      expect(await noJs.page.locator('table.verdicts tbody tr').count()).toBe(report.results.length);
      expect((await chartMarks(noJs.page)).every((c) => c.visible > 0)).toBe(true);
      expect(await noJs.page.locator('button.copy').first().isVisible()).toBe(false);
      expectOffline(noJs, file);
      await noJs.context.close();
    },
    120_000, // the run covers every pgtable variant, stress and explore, on a shared 2-core machine
  );

  it.skipIf(!hasChromium)(
    inBrowser("bench.html: engine charts and a later suite's charts all have data points, offline"),
    async () => {
      const file = path.join(OUT, 'bench.html');
      writeFileSync(
        file,
        renderBenchHtml(fakeEngineBench(), {
          command: 'iommu-stress bench --report-dir R',
          sections: [flushQueueSection()],
        }),
      );
      const o = await open(file);
      const charts = await chartMarks(o.page);
      expect(charts).toHaveLength(9);
      for (const c of charts) {
        expect(c.points, c.id).toBeGreaterThan(0);
        expect(c.marks, c.id).toBe(c.points);
        expect(c.visible, c.id).toBeGreaterThan(0);
      }
      // Stress steps/s vs workers: two series (counter/percpu, pgtable/correct) of two points each.
      expect(charts[0]!.marks).toBe(4);
      expect(await o.page.locator('h2').allInnerTexts()).toEqual([
        'Baseline and targets',
        'Stress mode',
        'Explore mode',
        'Detection',
        'Flush queue',
      ]);
      await o.page.screenshot({ path: path.join(OUT, 'bench.png'), fullPage: true });
      expectOffline(o, file);
      await o.context.close();
    },
  );
});
