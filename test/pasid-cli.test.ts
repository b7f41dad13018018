/**
 * The system-PASID scenario through the CLI, as users run it: explore finds the option-2 race with no
 * invalidation and its token replays to the same trace; an op-bounded run of every variant passes with
 * each bug variant caught; a short `bench --suite pasid` writes a well-formed report (its plumbing, never
 * its numbers' size — except what the cost model fixes exactly). The commands run in-process
 * (main(argv, io)); the stress phases on worker threads as ever.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from './helpers/cli.js';
import { iommuIn } from './helpers/in-process.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-pasid-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

interface Found {
  verdict: string;
  violation: { invariant: string; message: string };
  token: string;
  traceHash: string;
}
interface RunResult {
  variant: string;
  expected: string;
  observed: string;
  outcomes: Record<string, number>;
}

describe('explore pasid --variant shared-kernel-table-noinval', () => {
  it('exits 1 with DMA-CORRUPT and a token that replays with the same trace hash', async () => {
    const r = await iommuIn(
      'explore',
      'pasid',
      '--variant',
      'shared-kernel-table-noinval',
      '--seed',
      '1',
      '--json',
      '--repro-file',
      path.join(tmp, 'noinval.json'),
    );
    expect(r.code).toBe(1);
    const ex = json<Found>(r);
    expect(ex.verdict).toBe('violation');
    expect(ex.violation.invariant).toBe('DMA-CORRUPT');
    expect(ex.violation.message).toMatch(/stale device-TLB translation/);
    expect(ex.token).toMatch(/^isr2\./);
    const rep = await iommuIn('replay', '--token', ex.token, '--json');
    expect(rep.code).toBe(1);
    const back = json<{ reproduced: boolean; traceHash: string; violation: { invariant: string } }>(rep);
    expect(back.reproduced).toBe(true);
    expect(back.violation.invariant).toBe('DMA-CORRUPT');
    expect(back.traceHash).toBe(ex.traceHash);
  });
});

describe('run pasid --all-variants (op-bounded)', () => {
  it('exits 0: the clean variants clean, every bug variant caught, exposure rows in the report', async () => {
    const out = path.join(tmp, 'run');
    const r = await iommuIn(
      'run',
      'pasid',
      '--all-variants',
      '--workers',
      '2',
      '--ops',
      '100',
      '--schedules',
      '300',
      '--time',
      '10m',
      '--seed',
      '1',
      '--json',
      '--report-dir',
      out,
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = json<{ results: RunResult[] }>(r);
    const by = new Map(doc.results.map((x) => [x.variant, x]));
    expect([...by.keys()].sort()).toEqual([
      'iova-eq-kva',
      'iova-eq-kva-norefcount',
      'separate-domain',
      'separate-domain-strict',
      'shared-kernel-table',
      'shared-kernel-table-lazy-purge',
      'shared-kernel-table-noinval',
    ]);
    expect(by.get('iova-eq-kva-norefcount')!.observed).toMatch(/^DMA-(FAULT|CORRUPT)$/);
    expect(by.get('shared-kernel-table-noinval')!.observed).toBe('DMA-CORRUPT');
    for (const v of [
      'separate-domain',
      'separate-domain-strict',
      'iova-eq-kva',
      'shared-kernel-table',
      'shared-kernel-table-lazy-purge',
    ]) {
      expect(by.get(v)!.observed, v).toBe('clean');
      expect(
        Object.keys(by.get(v)!.outcomes).some((id) => id.startsWith('EXPOSURE')),
        v,
      ).toBe(true);
    }
    expect(readFileSync(path.join(out, 'index.html'), 'utf8')).toMatch(/EXPOSURE/);
  }, 240_000);
});

interface Row {
  path: string;
  pages: number;
  invCostNs: number;
  perDmaNs: number;
  overheadNs: number;
  breakdownNs: Record<string, number>;
  invalidationsPerDma: number;
  jsNsPerDma: number;
}

describe('bench --suite pasid', () => {
  it('writes report.json, summary.md and bench.html with every combination and the verdicts', async () => {
    const out = path.join(tmp, 'bench');
    const r = await iommuIn('bench', '--suite', 'pasid', '--time', '200ms', '--json', '--report-dir', out);
    expect(r.code, r.stderr).toBe(0);
    const doc = json<{
      suite: string;
      pasid: {
        rows: Row[];
        verdicts: { notable: boolean; savingPct: number }[];
        vmalloc: { variant: string; invalidationsPerChange: number }[];
      };
    }>(r);
    expect(doc.suite).toBe('pasid');
    const combos = doc.pasid.rows.map((x) => `${x.path}/${x.pages}/${x.invCostNs}`);
    expect(combos).toHaveLength(3 * 4 * 2);
    expect(new Set(combos).size).toBe(combos.length);
    for (const row of doc.pasid.rows) {
      const parts = Object.values(row.breakdownNs).reduce((a, b) => a + b, 0);
      // The modelled time is exactly the sum of its categories (every cost is an explicit spend).
      expect(Math.abs(parts - row.perDmaNs), JSON.stringify(row)).toBeLessThan(1e-6 * row.perDmaNs + 1e-6);
      expect(row.jsNsPerDma).toBeGreaterThan(0);
      // Option 2 does nothing per buffer: no allocation, no PTE, no invalidation for direct-map buffers.
      const perBuffer = row.breakdownNs.alloc! + row.breakdownNs.pte! + row.invalidationsPerDma;
      if (row.path === 'shared-kernel-table') expect(perBuffer).toBe(0);
      // Strict option 1 invalidates once per DMA.
      if (row.path === 'separate-domain-strict') expect(row.invalidationsPerDma).toBe(1);
    }
    expect(doc.pasid.verdicts).toHaveLength(3 * 2 * 2);
    const vm = new Map(doc.pasid.vmalloc.map((v) => [v.variant, v.invalidationsPerChange]));
    // Invalidation at every vunmap: one per vmap+vunmap pair, plus the purges'.
    expect(vm.get('shared-kernel-table')!).toBeGreaterThanOrEqual(0.5);
    expect(vm.get('shared-kernel-table-lazy-purge')!).toBeLessThan(vm.get('shared-kernel-table')!);
    for (const f of ['report.json', 'summary.md', 'bench.html']) expect(existsSync(path.join(out, f)), f).toBe(true);
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toMatch(/## System PASID/);
    expect(readFileSync(path.join(out, 'bench.html'), 'utf8')).toMatch(/System PASID: option 1 vs option 2/);
    expect(r.stderr).toMatch(/NOTABLE|not notable/);
  }, 240_000);
});
