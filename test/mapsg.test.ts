/**
 * Scenario mapsg under the explore executor (kernel-model.md §5.3, §5.4, §9 #12 #13): every bug
 * variant found by PCT for fixed seeds within a bounded number of schedules, the three correct designs
 * clean over 2,000 schedules with their error paths really taken, and the mapsg benchmark's plumbing
 * (in-process, main(argv, io): bench's process plumbing is test/bench.test.ts's).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findVariant, meetsExpectation, withDefaults } from '../src/engine/scenario.js';
import { mapsgBench } from '../src/bench/mapsg-bench.js';
import { explore } from '../src/explore/explore.js';
import { mapsgScenario as scenario } from '../src/scenarios/mapsg.js';
import { json } from './helpers/cli.js';
import { iommuIn } from './helpers/in-process.js';

const EXPLORE_PARAMS = withDefaults(scenario, scenario.exploreParams);
const OPS = Array<number>(scenario.exploreCpus).fill(scenario.exploreOps);

function search(variant: string, seed: number, schedules: number) {
  return explore({
    scenario,
    variant: findVariant(scenario, variant)!,
    params: EXPLORE_PARAMS,
    opsPerCpu: OPS,
    strategy: 'pct',
    depth: 3,
    schedules,
    timeMs: Number.POSITIVE_INFINITY,
    seed,
    maxSteps: 100_000,
    shrink: false,
  });
}

describe('mapsg under the explore executor', () => {
  const bugs: [string, string, number][] = [
    ['domain-list-unlocked', 'MAPSG-ONCE', 200],
    ['cookie-error-leak', 'MAPSG-COOKIE', 100],
    ['unwind-unmapped', 'MAPSG-ERROR', 100],
  ];
  for (const [variant, invariant, bound] of bugs) {
    for (const seed of [1, 2, 3]) {
      it(`PCT finds ${variant} (${invariant}) for seed ${seed} within ${bound} schedules`, () => {
        const r = search(variant, seed, bound);
        expect(r.violation, `${variant} seed ${seed}`).toBeDefined();
        expect(meetsExpectation(findVariant(scenario, variant)!, r.violation!.invariant)).toBe(true);
        expect(r.violation!.invariant).toBe(invariant);
      });
    }
  }

  for (const variant of ['per-call', 'cookie', 'domain-list-locked']) {
    it(`${variant} stays clean over 2,000 schedules (seed 7), through -EINVAL and failed hypercalls`, () => {
      const r = search(variant, 7, 2_000);
      expect(r.violation).toBeUndefined();
      expect(r.schedules).toBe(2_000);
      // The error paths ran: misaligned runs and injected hypercall failures, each unwound cleanly.
      expect(r.outcomes['MAPSG-EINVAL'] ?? 0).toBeGreaterThan(0);
      expect(r.outcomes['MAPSG-EFAIL'] ?? 0).toBeGreaterThan(0);
    });
  }
});

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-mapsg-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

interface MapsgRowJson {
  design: string;
  workers: number;
  hypercallNs: number;
  segs: number;
  loops: number;
  throughput: number;
  mapAvgUs: number;
  mapHypercallsPerCall: number;
}
interface IovaRowJson {
  api: string;
  workers: number;
  hypercallNs: number;
  pages: number;
  loops: number;
  throughput: number;
  hypercallsPerLoop: number;
}

describe('bench --suite mapsg', () => {
  it('writes a report with every requested combination, well formed, with the hypercalls each design makes', async () => {
    const out = path.join(tmp, 'mapsg');
    const r = await iommuIn(
      'bench',
      '--suite',
      'mapsg',
      '--workers',
      '1,2',
      '--hypercall-cost',
      '0,2000',
      '--segs',
      '4',
      '--repeats',
      '1',
      '--ops',
      '30',
      '--json',
      '--report-dir',
      out,
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = json<{ suite: string; mapsg: { rows: MapsgRowJson[]; iova: IovaRowJson[] } }>(r);
    expect(doc.suite).toBe('mapsg');
    const combos = doc.mapsg.rows.map((x) => `${x.design}/${x.workers}/${x.hypercallNs}/${x.segs}`).sort();
    expect(combos).toEqual([
      'cookie/1/0/4',
      'cookie/1/2000/4',
      'cookie/2/0/4',
      'cookie/2/2000/4',
      'domain-list-locked/1/0/4',
      'domain-list-locked/1/2000/4',
      'domain-list-locked/2/0/4',
      'domain-list-locked/2/2000/4',
      'per-call/1/0/4',
      'per-call/1/2000/4',
      'per-call/2/0/4',
      'per-call/2/2000/4',
    ]);
    for (const row of doc.mapsg.rows) {
      expect(row.loops, JSON.stringify(row)).toBe(30 * row.workers); // op-bounded: load-independent
      expect(Number.isFinite(row.throughput) && row.throughput > 0).toBe(true);
      // 4 separate pages: 4 map hypercalls per call, or one batch (cookie, domain list)
      expect(row.mapHypercallsPerCall).toBe(row.design === 'per-call' ? 4 : 1);
    }
    expect(doc.mapsg.iova.map((x) => x.api).sort()).toEqual([
      'dma-map-per-page',
      'dma-map-per-page',
      'dma-map-per-page',
      'dma-map-per-page',
      'two-step',
      'two-step',
      'two-step',
      'two-step',
    ]);
    for (const row of doc.mapsg.iova) {
      expect(row.loops).toBe(30 * row.workers);
      // two-step: one map hypercall (the sync) + one unmap; per page: one of each per page
      expect(row.hypercallsPerLoop).toBe(row.api === 'two-step' ? 2 : 2 * row.pages);
    }
    for (const f of ['report.json', 'summary.md', 'bench.html']) expect(existsSync(path.join(out, f)), f).toBe(true);
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toMatch(/\| domain-list-locked \| 2 \| 2000 \|/);
  });
});

describe('mapsgBench, op-bounded (load-independent)', () => {
  it('30 loops per worker: every design and both IOVA APIs make the hypercalls they should', async () => {
    const res = await mapsgBench(
      { workers: [1, 2], hypercallNs: [0], segs: [4], opBudget: 30, timeMs: 120_000, seed: 1 },
      () => {
        /* quiet */
      },
    );
    expect(res.rows.map((x) => `${x.design}/${x.workers}`)).toEqual([
      'per-call/1',
      'per-call/2',
      'cookie/1',
      'cookie/2',
      'domain-list-locked/1',
      'domain-list-locked/2',
    ]);
    for (const row of res.rows) {
      expect(row.loops).toBe(30 * row.workers);
      expect(row.mapHypercallsPerCall).toBe(row.design === 'per-call' ? 4 : 1);
    }
    expect(res.iova.map((x) => `${x.api}/${x.workers}`)).toEqual([
      'two-step/1',
      'two-step/2',
      'dma-map-per-page/1',
      'dma-map-per-page/2',
    ]);
    for (const row of res.iova) {
      expect(row.loops).toBe(30 * row.workers);
      expect(row.hypercallsPerLoop).toBe(row.api === 'two-step' ? 2 : 2 * row.pages);
    }
  });
});
