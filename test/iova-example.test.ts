/**
 * The worked rcache example (examples/iova-depot-trim-all.ts, issue 10 deliver 8) under all three
 * jobs: explore finds the racy draft's DEPOT-POP for a fixed seed within a bounded number of schedules
 * and keeps the careful version clean; `run --mode stress --ops N` loads the file in the workers and
 * reports the extended variant; the iova bench entry point benches the user's variants next to
 * `correct` (a tiny budget: the result's shape only, never a speed). The CLI commands run in-process on the
 * compiled CLI (helpers/in-process-dist.ts: the file imports dist/), except `list`, the real binary's child.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iommu, json, root } from './helpers/cli.js';
import { iommuDist } from './helpers/in-process-dist.js';

const EXAMPLE = 'examples/iova-depot-trim-all.ts';
const COMPILED = path.join(root, 'dist', 'examples', 'iova-depot-trim-all.js');
/** Two vCPUs, one magazine above num_online_cpus in the depot, 30 ops each: the depot work runs often. */
const GEOMETRY = ['--cpus', '2', '--param', 'warmDepot=3', '--param', 'resvPfns=0', '--ops', '30'];
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-iova-ex-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

interface ExploreJson {
  verdict: string;
  variant: string;
  schedules: number;
  violation?: { invariant: string; message: string };
  outcomes: Record<string, number>;
  token?: string;
  replay?: string;
}
interface RunJson {
  exitCode: number;
  results: {
    scenario: string;
    variant: string;
    expected: string;
    observed: string;
    ops: number;
    stress: { workers: number; ops: number };
  }[];
}
type IovaScenario = import('../src/engine/scenario.js').ScenarioDef<import('../src/model/iova/patch.js').IovaPatch>;
const dist = async <T>(...rel: string[]): Promise<T> =>
  (await import(pathToFileURL(path.join(root, 'dist', ...rel)).href)) as T;

describe('examples/iova-depot-trim-all.ts', () => {
  it('list shows both variants under scenario iova', () => {
    const r = iommu('list', '--scenario-file', EXAMPLE);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/depot-trim-all\s+expect clean/);
    expect(r.stdout).toMatch(/depot-trim-all-counted\s+expect DEPOT-POP/);
  });

  it('explore: the counted draft pops an empty depot (seed 1, <= 1000 schedules), and the token replays it', async () => {
    const r = await iommuDist(
      'explore',
      '--scenario-file',
      EXAMPLE,
      'iova',
      '--variant',
      'depot-trim-all-counted',
      ...GEOMETRY,
      '--seed',
      '1',
      '--schedules',
      '1000',
      '--no-shrink',
      '--json',
      '--repro-file',
      path.join(tmp, 'r.json'),
    );
    const out = json<ExploreJson>(r);
    expect(out.verdict).toBe('violation');
    expect(out.schedules).toBeLessThanOrEqual(1000);
    expect(out.violation!.invariant).toBe('DEPOT-POP');
    expect(out.violation!.message).toMatch(/^timer:iova_depot_work\[0\] pops the bucket-0 depot, which is empty/);
    expect(out.replay).toContain(`--scenario-file ${EXAMPLE}`);
    const again = await iommuDist('replay', '--scenario-file', EXAMPLE, '--token', out.token!, '--json');
    expect(json<ExploreJson>(again).violation!.invariant).toBe('DEPOT-POP');
  });

  it('explore: the careful version is clean over 500 schedules (seed 1) while the depot work trims', async () => {
    const r = await iommuDist(
      'explore',
      '--scenario-file',
      EXAMPLE,
      'iova',
      '--variant',
      'depot-trim-all',
      ...GEOMETRY,
      '--seed',
      '1',
      '--schedules',
      '500',
      '--json',
      '--repro-file',
      path.join(tmp, 'c.json'),
    );
    expect(r.code).toBe(0);
    const out = json<ExploreJson>(r);
    expect(out.verdict).toBe('clean');
    expect(out.schedules).toBe(500);
    expect(out.outcomes['DEPOT-TRIM']).toBeGreaterThan(50);
  });

  it('run --mode stress --ops: the workers load the file; the report names the extended variant', async () => {
    const dir = path.join(tmp, 'rep');
    const r = await iommuDist(
      'run',
      '--scenario-file',
      EXAMPLE,
      'iova',
      '--variant',
      'depot-trim-all',
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
      dir,
    );
    expect(r.code).toBe(0);
    const rep = json<RunJson>(r);
    expect(rep.exitCode).toBe(0);
    expect(rep.results).toHaveLength(1);
    expect(rep.results[0]).toMatchObject({
      scenario: 'iova',
      variant: 'depot-trim-all',
      expected: 'clean',
      observed: 'clean',
      ops: 600,
    });
    expect(rep.results[0]!.stress).toMatchObject({ workers: 2, ops: 600 });
    const onDisk = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as typeof rep;
    expect(onDisk.results[0]!.variant).toBe('depot-trim-all');
  });

  it("the iova bench entry point benches the user's variants next to correct (shape only)", async () => {
    // The compiled modules, as the CLI loads them: the example's classes and the bench share one iova model.
    const ex = await dist<{ default: IovaScenario }>('examples', 'iova-depot-trim-all.js');
    const { iovaBench } = await dist<typeof import('../src/bench/iova-bench.js')>('src', 'bench', 'iova-bench.js');
    const { variantOf } = await dist<typeof import('../src/engine/scenario.js')>('src', 'engine', 'scenario.js');
    const s = ex.default;
    const lines: string[] = [];
    // Bounded by ops (200 pairs per measurement), not by time; the time budget is only a backstop.
    const b = await iovaBench(60_000, (l) => lines.push(l), {
      scenario: s,
      variants: [variantOf(s, 'correct'), variantOf(s, 'depot-trim-all')],
      workers: [1],
      scenarioFile: COMPILED,
      opsPerCpu: 200,
      microMs: 50,
    });
    expect(b.variants).toEqual(['correct', 'depot-trim-all']);
    // per worker count: the rbtree row of the first variant, then local and handoff per variant
    expect(b.rates.map((x) => `${x.shape}/${x.path}/${x.variant}/${x.workers}`)).toEqual([
      'local/rbtree/correct/1',
      'local/rcache/correct/1',
      'handoff/rcache/correct/1',
      'local/rcache/depot-trim-all/1',
      'handoff/rcache/depot-trim-all/1',
    ]);
    for (const x of b.rates) {
      expect(x.outcomes).toBeTypeOf('object');
      expect(x.pairsPerSec).toBeGreaterThan(0);
      expect(x.nsPerPair).toBeCloseTo(1e9 / x.pairsPerSec, 3);
    }
    expect(b.ratios.vsBaseline.map((x) => x.variant)).toEqual(['depot-trim-all']);
    expect(b.ratios.vsBaseline[0]!.handoff).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes('variant depot-trim-all'))).toBe(true);
  });
});
