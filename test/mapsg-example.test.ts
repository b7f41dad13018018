/**
 * examples/mapsg-commit-lock.ts — a map_sg design variant written with extendScenario — under both
 * executors and the mapsg benchmark: explore finds it (fixed seed, bounded schedules) and its replay
 * token reproduces the violation; an op-bounded stress run loads the file in the worker threads; the
 * benchmark entry point takes the user's resolved VariantDef in place of a design name. The CLI commands run
 * in-process on the compiled CLI (helpers/in-process-dist.ts: the file imports dist/; the stress run's
 * workers load it on their own threads).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import example from '../examples/mapsg-commit-lock.js';
import { mapsgBench } from '../src/bench/mapsg-bench.js';
import { variantOf } from '../src/engine/scenario.js';
import { json, root } from './helpers/cli.js';
import { iommuDist } from './helpers/in-process-dist.js';

const EXAMPLE = 'examples/mapsg-commit-lock.ts';
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-mapsg-ex-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('examples/mapsg-commit-lock.ts', () => {
  it('extends the built-in mapsg scenario with one variant that expects MAPSG-ONCE or MAPSG-ERROR', () => {
    expect(example.name).toBe('mapsg');
    expect(example.extends).toBe('mapsg');
    expect(variantOf(example, 'commit-lock').expect).toEqual(['MAPSG-ONCE', 'MAPSG-ERROR']);
    expect(example.variants.map((v) => v.name)).toContain('domain-list-locked');
  });

  it('explore (seed 2, at most 200 schedules) finds it, and the replay token reproduces the same violation', async () => {
    const r = await iommuDist(
      'explore',
      'mapsg',
      '--scenario-file',
      EXAMPLE,
      '--variant',
      'commit-lock',
      '--seed',
      '2',
      '--schedules',
      '200',
      '--json',
      '--repro-file',
      path.join(tmp, 'r.json'),
    );
    expect(r.code, r.stderr).toBe(1);
    type Found = {
      variant: string;
      schedules: number;
      violation: { invariant: string };
      token: string;
      traceHash: string;
      replay: string;
    };
    const out = json<Found>(r);
    expect(out.variant).toBe('commit-lock');
    expect(out.schedules).toBeLessThanOrEqual(200);
    expect(['MAPSG-ONCE', 'MAPSG-ERROR']).toContain(out.violation.invariant);
    expect(out.replay).toContain(`--scenario-file ${EXAMPLE}`);
    const again = await iommuDist('replay', '--scenario-file', EXAMPLE, '--token', out.token, '--json');
    expect(again.code).toBe(1);
    expect(json<{ traceHash: string }>(again).traceHash).toBe(out.traceHash);
  });

  it('run --mode stress --ops 300 on two workers: the workers load the file, the report names the variant', async () => {
    const r = await iommuDist(
      'run',
      'mapsg',
      '--scenario-file',
      EXAMPLE,
      '--variant',
      'commit-lock',
      '--mode',
      'stress',
      '--workers',
      '2',
      '--ops',
      '300',
      '--seed',
      '3',
      '--json',
      '--report-dir',
      path.join(tmp, 'rep'),
    );
    // 0: the bug was caught on real threads as expected; 1: not within 300 ops per worker. Never 2 or 3.
    expect([0, 1], r.stderr).toContain(r.code);
    type Result = {
      scenario: string;
      variant: string;
      expected: string;
      stress: { workers: number; ops: number } | null;
    };
    const rep = json<{ results: Result[] }>(r);
    expect(rep.results).toHaveLength(1);
    expect(rep.results[0]!.scenario).toBe('mapsg');
    expect(rep.results[0]!.variant).toBe('commit-lock');
    expect(rep.results[0]!.expected).toBe('MAPSG-ONCE|MAPSG-ERROR');
    expect(rep.results[0]!.stress!.workers).toBe(2);
    expect(rep.results[0]!.stress!.ops).toBeGreaterThan(0);
  });

  it("the mapsg bench entry point runs the user's VariantDef next to a built-in one (20 loops each)", async () => {
    const res = await mapsgBench(
      {
        variants: [variantOf(example, 'commit-lock'), variantOf(example, 'domain-list-locked')],
        scenario: example,
        scenarioFile: path.join(root, 'dist', 'examples', 'mapsg-commit-lock.js'),
        workers: [1],
        hypercallNs: [0],
        segs: [4],
        opBudget: 20,
        timeMs: 120_000,
        seed: 1,
        skipIovaApi: true,
      },
      () => {
        /* quiet */
      },
    );
    expect(res.iova).toEqual([]);
    expect(res.rows.map((x) => x.design)).toEqual(['commit-lock', 'domain-list-locked']);
    for (const row of res.rows) {
      expect(row.loops).toBe(20);
      expect(row.workers).toBe(1);
      expect(row.segs).toBe(4);
      // 4 separate pages parked on the list, committed by the one iotlb_sync_map: one map hypercall.
      expect(row.mapHypercallsPerCall).toBe(1);
      expect(Number.isFinite(row.throughput) && row.throughput > 0).toBe(true);
    }
  });
});
