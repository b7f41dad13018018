/**
 * The benchmark command's plumbing (never its numbers: performance is measured by `bench`, not
 * asserted by tests): every requested combination is present and well-formed in the report, the
 * dma_map_benchmark lines are printed, and bad flags are exit 2. Measurements are bounded by --ops, never
 * by --time: how much work fits in a time window depends on the machine's load. The bench runs as the
 * compiled CLI in a child process; the bad flags in-process (main(argv, io)), nine Node starts fewer.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iommu, json } from './helpers/cli.js';
import { iommuIn } from './helpers/in-process.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-bench-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

interface FqRowJson {
  mode: string;
  workers: number;
  flushCostNs: number;
  flush: string;
  loops: number;
  throughput: number;
  mapAvgUs: number;
  unmapP99Us: number;
  flushesPer1kUnmaps: number;
  peakQueued: number;
  exposureHist: number[];
}

describe('bench --fq', () => {
  it("writes a report with every requested combination, and prints dma_map_benchmark's lines", () => {
    const out = path.join(tmp, 'fq');
    const r = iommu(
      'bench',
      '--fq',
      'percpu,strict',
      '--workers',
      '1,2',
      '--flush-cost',
      '0,1000',
      '--flush',
      'serial',
      '--repeats',
      '1',
      '--ops',
      '40',
      '--json',
      '--report-dir',
      out,
    );
    expect(r.code).toBe(0);
    const doc = json<{ suite: string; machine: string; fq: { rows: FqRowJson[] } }>(r);
    expect(doc.suite).toBe('fq');
    expect(doc.machine).toMatch(/cores/);
    const combos = doc.fq.rows.map((x) => `${x.mode}/${x.workers}/${x.flushCostNs}/${x.flush}`).sort();
    expect(combos).toEqual([
      'percpu/1/0/serial',
      'percpu/1/1000/serial',
      'percpu/2/0/serial',
      'percpu/2/1000/serial',
      'strict/1/0/serial',
      'strict/1/1000/serial',
      'strict/2/0/serial',
      'strict/2/1000/serial',
    ]);
    for (const row of doc.fq.rows) {
      for (const v of [
        row.loops,
        row.throughput,
        row.mapAvgUs,
        row.unmapP99Us,
        row.flushesPer1kUnmaps,
        row.peakQueued,
      ]) {
        expect(Number.isFinite(v) && v >= 0, JSON.stringify(row)).toBe(true);
      }
      expect(row.loops).toBe(40 * row.workers); // --ops: a fixed amount of work per worker, whatever the load
      // strict syncs every unmap: one flush per unmap, nothing queued, no exposure
      if (row.mode === 'strict') {
        expect(row.flushesPer1kUnmaps).toBe(1000);
        expect(row.peakQueued).toBe(0);
        expect(row.exposureHist.every((n) => n === 0)).toBe(true);
      }
    }
    expect(r.stderr).toMatch(/dma mapping benchmark: threads:1 seconds:\d+\.\d\d node:-1 dir:BIDIRECTIONAL granule: 1/);
    expect(r.stderr).toMatch(/average map latency\(us\):\d+\.\d standard deviation:\d+\.\d/);
    for (const f of ['report.json', 'summary.md', 'bench.html']) expect(existsSync(path.join(out, f)), f).toBe(true);
    const md = readFileSync(path.join(out, 'summary.md'), 'utf8');
    expect(md).toMatch(/\| mode \| workers \| flush \(ns, serial\) \|/);
    expect(md).toMatch(/\| percpu \| 2 \| 1000 \|/);
    expect(readFileSync(path.join(out, 'bench.html'), 'utf8')).toMatch(/machine: .*cores.*Node v\d+/);
    expect((doc as unknown as { host: { node: string } }).host.node).toBe(process.version);
    expect(readFileSync(path.join(out, 'bench.html'), 'utf8')).toMatch(/Throughput vs flush cost/);
  });

  it('bad flags are exit 2 naming the value, and write nothing', async () => {
    const out = path.join(tmp, 'never');
    for (const [args, pattern] of [
      [['--fq', 'percpu,bogus'], /'bogus' is not one of percpu, single, strict/],
      [['--fq', 'percpu', '--flush-cost', '-5'], /--flush-cost: '-5'/],
      [['--fq', 'percpu', '--flush', 'sometimes'], /'sometimes' is not serial or parallel/],
      [['--suite', 'engine', '--fq', 'percpu'], /belong to the fq suite/],
      [['--suite', 'nope'], /'nope' is not one of/],
      [['--fq', 'percpu,', '--time', '1s'], /has an empty item/],
      [['--fq', 'percpu', '--ops', '10', '--time', '1s'], /--ops and --time exclude each other/],
      [['--suite', 'engine', '--ops', '10'], /--ops belongs to the fq and mapsg suites/],
      [['--fq', 'percpu', '--ops', '0'], /--ops: '0'/],
    ] as const) {
      const r = await iommuIn('bench', ...args, '--report-dir', out);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
    expect(existsSync(out)).toBe(false);
  });
});
