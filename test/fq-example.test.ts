/**
 * examples/fq-free-to-queuing-cpu.ts, the ZZK-FQ patch written as a user's variant file: it does what it
 * says (the timer's drained IOVA lands in the queuing CPU's range cache), and every job runs on it —
 * explore (clean), run --mode stress (op-bounded, exit 0), replay of a token it yields, and the fq
 * benchmark entry point. The CLI commands run in-process on the compiled CLI (helpers/in-process-dist.ts:
 * the file imports dist/), except the stress run: the real binary as a child process, its workers load the file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import example from '../examples/fq-free-to-queuing-cpu.js';
import { fqBench } from '../src/bench/fq-bench.js';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd } from '../src/engine/cpu.js';
import { allocateMemory } from '../src/engine/layout.js';
import { variantOf, withDefaults } from '../src/engine/scenario.js';
import { IoPgtable } from '../src/model/pgtable.js';
import { flushqParts, flushqScenario } from '../src/scenarios/flushq.js';
import { iommu, json, root } from './helpers/cli.js';
import { iommuDist } from './helpers/in-process-dist.js';

const FILE = 'examples/fq-free-to-queuing-cpu.ts';
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-fqex-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** CPU 1 maps-and-unmaps one page, the timer drains on CPU 0: whose range cache does the IOVA land in? */
function drainOnTimerCpu(variant: string) {
  const config = { cpus: 2, variant: variantOf(example, variant), params: withDefaults(flushqScenario, { fqSize: 4 }) };
  const parts = flushqParts(config);
  const mem = allocateMemory(parts.layout);
  parts.domain.init(mem.i32);
  parts.pool.init(mem, [IoPgtable.ROOT_PAGE]);
  const checker = new Checker(flushqScenario.invariants);
  const [cpu0, cpu1, timer] = [
    new Cpu(0, 'explore', mem, checker),
    new Cpu(1, 'explore', mem, checker),
    new Cpu(2, 'explore', mem, checker),
  ];
  timer.thisCpu = 0;
  const pfn = runToEnd(parts.m.dma.iommuDmaMap(cpu1, 0x1000, 1));
  runToEnd(parts.m.dma.iommuDmaUnmap(cpu1, pfn, 1));
  runToEnd(parts.fq!.timer.del(timer));
  runToEnd(parts.fq!.fqFlushTimeout(timer));
  expect(parts.fq!.held(mem.i32)).toBe(0);
  const alloc = (cpu: Cpu) => runToEnd(parts.domain.allocIovaFast(cpu, 1, pfn, true));
  return { pfn, onCpu0: alloc(cpu0), onCpu1: alloc(cpu1), violations: checker.violations };
}

describe('the ZZK-FQ example', () => {
  it("upstream frees the drained IOVA into the timer CPU's rcache; the patch into the queuing CPU's", () => {
    const upstream = drainOnTimerCpu('percpu');
    expect(upstream.onCpu0).toBe(upstream.pfn);
    expect(upstream.onCpu1).not.toBe(upstream.pfn);
    const patched = drainOnTimerCpu('free-to-queuing-cpu');
    expect(patched.onCpu1).toBe(patched.pfn);
    expect(patched.onCpu0).not.toBe(patched.pfn);
    expect([...upstream.violations, ...patched.violations]).toEqual([]);
  });

  for (const variant of ['free-to-queuing-cpu', 'free-to-queuing-cpu-single']) {
    it(`explore: ${variant} is clean over 1,000 schedules (seed 1)`, async () => {
      const r = await iommuDist(
        'explore',
        'flushq',
        '--variant',
        variant,
        '--scenario-file',
        FILE,
        '--seed',
        '1',
        '--schedules',
        '1000',
        '--json',
        '--repro-file',
        path.join(tmp, `${variant}.json`),
      );
      expect(r.code, r.stderr).toBe(0);
      const out = json<{ verdict: string; schedules: number; violation: unknown }>(r);
      expect(out.verdict).toBe('clean');
      expect(out.violation).toBeUndefined();
      expect(out.schedules).toBe(1000);
    });
  }

  it('run --mode stress: op-bounded on 2 workers, exit 0', () => {
    const r = iommu(
      'run',
      'flushq',
      '--variant',
      'free-to-queuing-cpu',
      '--scenario-file',
      FILE,
      '--mode',
      'stress',
      '--workers',
      '2',
      '--ops',
      '3000',
      // Far beyond the op budget: the run is bounded by ops alone (the default 10 s cut it short on a loaded machine).
      '--time',
      '10m',
      '--seed',
      '2',
      '--json',
      '--report-dir',
      path.join(tmp, 'rep'),
    );
    expect(r.code, r.stderr).toBe(0);
    const rep = json<{
      results: { variant: string; stress: { workers: number; ops: number } | null; regimes?: unknown[] }[];
    }>(r);
    expect(rep.results[0]!.variant).toBe('free-to-queuing-cpu');
    // 3,000 ops on each of 2 workers, once per parameter set: the variant's own and each flushq regime's.
    const sets = 1 + (rep.results[0]!.regimes?.length ?? 0);
    expect(sets).toBe(2);
    expect(rep.results[0]!.stress!.ops).toBe(6000 * sets);
  });

  it('replay: a token it yields (stopping at a late DMA) replays to the same trace, with the file', async () => {
    const r = await iommuDist(
      'explore',
      'flushq',
      '--variant',
      'free-to-queuing-cpu-single',
      '--scenario-file',
      FILE,
      '--seed',
      '1',
      '--schedules',
      '200',
      '--stop-on',
      'LAZY-LATE-DMA',
      '--json',
      '--repro-file',
      path.join(tmp, 'late.json'),
    );
    const out = json<{ violation: { invariant: string }; token: string; traceHash: string; replay: string }>(r);
    expect(out.violation.invariant).toBe('LAZY-LATE-DMA');
    expect(out.replay).toContain(`--scenario-file ${FILE}`);
    const again = await iommuDist('replay', '--scenario-file', FILE, '--token', out.token, '--json');
    expect(json<{ traceHash: string }>(again).traceHash).toBe(out.traceHash);
  });

  it("bench --scenario-file --variant: the CLI benches the file's variant next to a built-in one, op-bounded", async () => {
    const out = path.join(tmp, 'bench');
    const r = await iommuDist(
      'bench',
      '--scenario-file',
      FILE,
      '--variant',
      'percpu,free-to-queuing-cpu',
      '--workers',
      '2',
      '--flush-cost',
      '0',
      '--ops',
      '200',
      '--repeats',
      '1',
      '--json',
      '--report-dir',
      out,
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = json<{
      suite: string;
      benched: { name: string; file: string | null }[];
      fq: { rows: { mode: string; loops: number }[] };
    }>(r);
    expect(doc.suite).toBe('fq');
    expect(doc.benched.map((b) => [b.name, b.file !== null])).toEqual([
      ['percpu', false],
      ['free-to-queuing-cpu', true],
    ]);
    expect(doc.fq.rows.map((row) => [row.mode, row.loops])).toEqual([
      ['percpu', 400],
      ['free-to-queuing-cpu', 400],
    ]);
  });

  it("the fq benchmark runs the user's variant next to a built-in one (result shape)", async () => {
    const rows = await fqBench(
      {
        variants: [variantOf(example, 'percpu'), variantOf(example, 'free-to-queuing-cpu')],
        scenario: example,
        scenarioFile: path.join(root, 'dist', 'examples', 'fq-free-to-queuing-cpu.js'),
        workers: [2],
        flushCostsNs: [0],
        serial: false,
        transferNs: 0,
        pages: 1,
        timeMs: Number.POSITIVE_INFINITY,
        opBudget: 1_000,
        seed: 3,
      },
      () => {},
    );
    expect(rows.map((r) => r.mode)).toEqual(['percpu', 'free-to-queuing-cpu']);
    for (const row of rows) {
      expect(row.workers).toBe(2);
      expect(row.loops).toBe(2_000);
      expect(row.throughput).toBeGreaterThan(0);
      expect(row.exposureHist.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      for (const k of ['mapAvgUs', 'unmapAvgUs', 'mapP99Us', 'flushesPer1kUnmaps', 'peakQueued'] as const) {
        expect(Number.isFinite(row[k]), k).toBe(true);
      }
    }
  }, 120_000);
});
