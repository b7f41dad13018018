/**
 * bench on variants (issue 10, item 5): a scenario file's variants benched next to built-in ones, the
 * suites' adapters, --repeats with spreads, and --compare. Plumbing only (which rows, which spreads,
 * which exit codes), never the numbers: performance is measured by `bench`, not asserted by tests; so
 * the shortest --time the CLI takes. Commands on the scenario file run in-process on the compiled CLI
 * (helpers/in-process-dist.ts: the file imports dist/); the others in-process on src/ (main(argv, io)).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { medianRows } from '../src/bench/spread.js';
import { json, root } from './helpers/cli.js';
import { iommuDist } from './helpers/in-process-dist.js';
import { iommuIn } from './helpers/in-process.js';

let tmp: string;
let ext: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-bench-variants-'));
  ext = path.join(tmp, 'counter-ext.mjs');
  // The patch: a built-in increment under a new name (enough to prove the plumbing).
  writeFileSync(
    ext,
    [
      `import { extendScenario } from ${JSON.stringify(path.join(root, 'dist/src/engine/scenario.js'))};`,
      `import { counterScenario, atomicIncrement } from ${JSON.stringify(path.join(root, 'dist/src/scenarios/counter.js'))};`,
      'export default extendScenario(counterScenario, [',
      "  { name: 'my-atomic', summary: 'atomic_inc under a new name', expect: 'clean', patch: atomicIncrement },",
      ']);',
    ].join('\n'),
  );
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

interface Range {
  min: number;
  max: number;
}
interface VariantRowJson {
  scenario: string;
  variant: string;
  file: string | null;
  workers: number;
  opsPerSec: number;
  repeats: number;
  runs: number;
  spread: Record<string, Range>;
}

describe('repeats', () => {
  it("a row is the median run's, with the min–max over the runs that measured something", () => {
    const runs = [
      [
        { k: 'a', v: 3, lat: 30 },
        { k: 'b', v: 0, lat: 0 },
      ],
      [
        { k: 'a', v: 1, lat: 10 },
        { k: 'b', v: 0, lat: 0 },
      ],
      [
        { k: 'a', v: 0, lat: 0 },
        { k: 'b', v: 0, lat: 0 },
      ],
    ];
    const rows = medianRows(
      runs,
      (r) => r.v,
      ['v', 'lat'],
      (r) => r.v > 0,
    );
    expect(rows[0]).toEqual({
      k: 'a',
      v: 1,
      lat: 10,
      repeats: 2,
      runs: 3,
      spread: { v: { min: 1, max: 3 }, lat: { min: 10, max: 30 } },
    });
    expect(rows[1]).toMatchObject({ k: 'b', repeats: 3, runs: 3, spread: { v: { min: 0, max: 0 } } }); // nothing measured: all runs
  });
});

describe('bench --scenario-file --variant', () => {
  it("benches the file's variant next to a built-in one, each mean with its min–max over the repeats", async () => {
    const out = path.join(tmp, 'a');
    const r = await iommuDist(
      'bench',
      '--scenario-file',
      ext,
      '--variant',
      'my-atomic,percpu',
      '--workers',
      '1',
      '--time',
      '100ms',
      '--repeats',
      '2',
      '--json',
      '--report-dir',
      out,
    );
    expect(r.code).toBe(0);
    const doc = json<{ suite: string; repeats: number; variants: { rows: VariantRowJson[] } }>(r);
    expect(doc.suite).toBe('variants');
    expect(doc.repeats).toBe(2);
    expect(doc.variants.rows.map((x) => `${x.scenario}/${x.variant}/${x.workers}`)).toEqual([
      'counter/my-atomic/1',
      'counter/percpu/1',
    ]);
    expect(doc.variants.rows[0]!.file).toMatch(/counter-ext\.mjs$/);
    expect(doc.variants.rows[1]!.file).toBeNull();
    for (const row of doc.variants.rows) {
      expect(row.runs).toBe(2);
      expect([1, 2]).toContain(row.repeats); // a run that completed no op (a loaded machine) is left out
      for (const f of ['opsPerSec', 'stepsPerSec']) {
        const s = row.spread[f]!;
        expect(s.min).toBeLessThanOrEqual((row as unknown as Record<string, number>)[f]!);
        expect(s.max).toBeGreaterThanOrEqual((row as unknown as Record<string, number>)[f]!);
      }
    }
    expect(r.stderr).toMatch(/counter\/my-atomic \(.*counter-ext\.mjs\)\s+1\s+\S+( [kM])? \[/);
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toMatch(
      /\| counter\/my-atomic \| .*counter-ext\.mjs \| 1 \|/,
    );
    expect(readFileSync(path.join(out, 'bench.html'), 'utf8')).toMatch(/Spread over repeats/);
  });

  it('without --variant: what the file adds, next to the built-in variants expected clean', async () => {
    const r = await iommuDist(
      'bench',
      '--scenario-file',
      ext,
      '--workers',
      '1',
      '--time',
      '100ms',
      '--repeats',
      '1',
      '--json',
      '--report-dir',
      path.join(tmp, 'b'),
    );
    expect(r.code).toBe(0);
    expect(json<{ variants: { rows: VariantRowJson[] } }>(r).variants.rows.map((x) => x.variant)).toEqual([
      'percpu',
      'shared',
      'my-atomic',
    ]);
  });

  it('a bench request that names no scenario, a wrong suite, an unknown variant or a bad count is exit 2 (nothing written)', async () => {
    const never = path.join(tmp, 'never');
    for (const [args, pattern] of [
      [
        ['--scenario', 'flushq', '--variant', 'percpu', '--suite', 'mapsg'],
        /the variants of flushq are benchmarked by the fq suite/,
      ],
      [['--variant', 'percpu'], /--variant needs the scenario/],
      [['--scenario', 'counter', '--variant', 'nope'], /scenario counter has no variant 'nope'/],
      [['--scenario-file', path.join(tmp, 'missing.mjs'), '--variant', 'x'], /missing\.mjs' does not exist/],
      [['--scenario', 'counter', '--repeats', '0'], /--repeats: '0'/],
    ] as const) {
      const r = await iommuIn('bench', ...args, '--report-dir', never);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
    expect(existsSync(never)).toBe(false);
  });
});

/** A bench report with fq rows, as `bench --suite fq` writes it (only what --compare reads). */
function fqReport(file: string, rows: { mode: string; throughput: number; lo: number; hi: number }[]): string {
  writeFileSync(
    file,
    JSON.stringify({
      tool: 'iommu-stress',
      kind: 'bench',
      suite: 'fq',
      repeats: 3,
      fq: {
        rows: rows.map((r) => ({
          mode: r.mode,
          workers: 2,
          flushCostNs: 10000,
          flush: 'parallel',
          transferNs: 0,
          pages: 1,
          throughput: r.throughput,
          mapAvgUs: 1,
          unmapAvgUs: 2,
          repeats: 3,
          spread: {
            throughput: { min: r.lo, max: r.hi },
            mapAvgUs: { min: 1, max: 1 },
            unmapAvgUs: { min: 2, max: 2 },
          },
        })),
      },
    }),
  );
  return file;
}

interface DiffJson {
  a: { variant: string; metric: string; value: number };
  b: { variant: string; value: number };
  ratio: number;
  delta: number;
  overlap: boolean;
}

describe('bench --compare', () => {
  it('prints B vs A per combination: ratio, delta, both spreads, and whether they overlap', async () => {
    const a = fqReport(path.join(tmp, 'ca.json'), [
      { mode: 'percpu', throughput: 1000, lo: 900, hi: 1100 },
      { mode: 'strict', throughput: 500, lo: 480, hi: 520 },
    ]);
    const b = fqReport(path.join(tmp, 'cb.json'), [
      { mode: 'percpu', throughput: 1500, lo: 1400, hi: 1600 },
      { mode: 'strict', throughput: 510, lo: 490, hi: 530 },
    ]);
    const r = await iommuIn('bench', '--compare', a, b, '--json');
    expect(r.code).toBe(0);
    const d = json<{ differences: DiffJson[]; acrossVariants: unknown }>(r);
    expect(d.acrossVariants).toBeNull();
    const tp = d.differences.filter((x) => x.a.metric === 'pairs/s');
    expect(tp.map((x) => [x.a.variant, x.ratio, x.delta, x.overlap])).toEqual([
      ['percpu', 1.5, 500, false],
      ['strict', 1.02, 10, true],
    ]);
    const text = await iommuIn('bench', '--compare', a, b);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /fq\s+percpu\s+2w flush 10000ns parallel transfer 0ns x1\s+pairs\/s\s+1000 \[900–1100\]\s+1500 \[1400–1600\]\s+1\.50x\s+\+500\s+better/,
    );
    expect(text.stdout).toMatch(/strict .* 1\.02x\s+\+10\.00\s+within spread/);
  });

  it('matches one variant against another when each report measured one (before/after a patch)', async () => {
    const a = fqReport(path.join(tmp, 'va.json'), [{ mode: 'percpu', throughput: 1000, lo: 1000, hi: 1000 }]);
    const b = fqReport(path.join(tmp, 'vb.json'), [{ mode: 'my-patch', throughput: 800, lo: 800, hi: 800 }]);
    const r = await iommuIn('bench', '--compare', a, b, '--json');
    expect(r.code).toBe(0);
    const d = json<{ differences: DiffJson[]; acrossVariants: { a: string; b: string } }>(r);
    expect(d.acrossVariants).toEqual({ a: 'percpu', b: 'my-patch' });
    expect(d.differences.find((x) => x.a.metric === 'pairs/s')!.ratio).toBeCloseTo(0.8);
  });

  it('an unreadable, foreign or mismatched report is exit 2 naming the file', async () => {
    const a = fqReport(path.join(tmp, 'ma.json'), [{ mode: 'percpu', throughput: 1, lo: 1, hi: 1 }]);
    const run = path.join(tmp, 'run.json');
    writeFileSync(run, JSON.stringify({ tool: 'iommu-stress', results: [] }));
    const other = path.join(tmp, 'other.json');
    writeFileSync(
      other,
      JSON.stringify({
        tool: 'iommu-stress',
        kind: 'bench',
        variants: {
          rows: [{ scenario: 'counter', variant: 'percpu', workers: 1, opsPerSec: 5, stepsPerSec: 9, stoppedBy: null }],
        },
      }),
    );
    for (const [args, pattern] of [
      [[a, path.join(tmp, 'missing.json')], /cannot read a bench report from '.*missing\.json' \(ENOENT\)/],
      [[a, run], /'.*run\.json' is not an iommu-stress bench report/],
      [[a, other], /'.*ma\.json' \(fq\) and '.*other\.json' \(variants\) measure no combination in common/],
      [[a], /give two reports, A then B \(got 1/],
    ] as const) {
      const r = await iommuIn('bench', '--compare', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
    const extra = await iommuIn('bench', '--compare', a, a, '--time', '1s');
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/takes no other flag \(got --time\)/);
  });
});

describe('what --compare reads of each suite', () => {
  it("every suite's means become measurements keyed by variant and combination, with their spreads", async () => {
    const { measurementsOf } = await import('../src/bench/compare.js');
    const sp = (min: number, max: number) => ({ min, max });
    const ms = measurementsOf({
      engine: {
        stress: [
          {
            scenario: 'counter',
            variant: 'percpu',
            workers: 2,
            stepsPerSec: 10,
            opsPerSec: 1,
            spread: { stepsPerSec: sp(9, 11) },
          },
        ],
        explore: [{ scenario: 'pgtable', cpus: 4, opsPerCpu: 96, stepsPerSec: 5, schedulesPerSec: 2 }],
      },
      iova: { rates: [{ shape: 'local', path: 'rcache', depot: 'fixed', workers: 1, pairsPerSec: 7 }] },
      mapsg: {
        rows: [{ design: 'cookie', workers: 1, hypercallNs: 0, segs: 4, throughput: 3, mapAvgUs: 1, unmapAvgUs: 1 }],
        iova: [{ api: 'two-step', workers: 1, hypercallNs: 0, pages: 4, throughput: 2, mapAvgUs: 1, unmapAvgUs: 1 }],
      },
      variants: {
        rows: [
          { scenario: 'viommu', variant: 'locked', workers: 2, opsPerSec: 4, stepsPerSec: 40, stoppedBy: null },
          { scenario: 'viommu', variant: 'upstream', workers: 2, opsPerSec: 400, stepsPerSec: 4000, stoppedBy: 'V-NR' },
        ],
      },
    });
    const keys = ms.map((m) => `${m.suite}|${m.variant}|${m.config}|${m.metric}`);
    expect(keys).toEqual([
      'engine|counter/percpu|stress 2w|steps/s',
      'engine|counter/percpu|stress 2w|ops/s',
      'engine|pgtable|explore 4x96|steps/s',
      'engine|pgtable|explore 4x96|schedules/s',
      'iova|fixed-depot|local rcache 1w|pairs/s',
      'mapsg|cookie|1w hcall 0ns segs 4|map_sg/s',
      'mapsg|cookie|1w hcall 0ns segs 4|map avg us',
      'mapsg|cookie|1w hcall 0ns segs 4|unmap avg us',
      'dma-iova|two-step|1w hcall 0ns pages 4|rounds/s',
      'dma-iova|two-step|1w hcall 0ns pages 4|map avg us',
      'dma-iova|two-step|1w hcall 0ns pages 4|unmap avg us',
      'variants|viommu/locked|2w|ops/s',
      'variants|viommu/locked|2w|steps/s', // a run stopped by a violation is not a throughput
    ]);
    expect(ms[0]!.range).toEqual(sp(9, 11));
    expect(ms[1]!.range).toBeUndefined();
    expect(ms.find((m) => m.metric === 'map avg us')!.higherIsBetter).toBe(false);
  });
});
