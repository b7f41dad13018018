/**
 * A scenario of one's own (README "Writing a scenario"): examples/viommu-atomic-count.ts is loaded with
 * --scenario-file by every command, runs under the explore executor and on worker threads, and its
 * replay command carries the file along.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iommu, json } from './helpers/cli.js';

const EXAMPLE = 'examples/viommu-atomic-count.ts';
let tmp: string;
beforeAll(() => { tmp = mkdtempSync(path.join(tmpdir(), 'iommu-user-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

describe('--scenario-file', () => {
  it('list shows the file\'s scenario next to the built-in ones', () => {
    const r = iommu('list', '--scenario-file', EXAMPLE);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/viommu-atomic-count — /);
    expect(r.stdout).toMatch(/atomic-count\s+expect V-INV1\|V-DMA\|V-UNMAP/);
    expect(r.stdout).toMatch(/^pgtable — /m);
  });

  it('explore finds the race the atomic counter leaves, and the printed replay command reproduces it', () => {
    const r = iommu('explore', '--scenario-file', EXAMPLE, '--seed', '1', '--json', '--repro-file', path.join(tmp, 'r.json'));
    expect(r.code).toBe(1);
    const out = json<{ scenario: string; violation: { invariant: string }; token: string; traceHash: string; replay: string }>(r);
    expect(out.scenario).toBe('viommu-atomic-count');
    expect(['V-INV1', 'V-DMA', 'V-UNMAP']).toContain(out.violation.invariant);
    expect(out.replay).toContain(`--scenario-file ${EXAMPLE}`);
    const again = iommu('replay', '--scenario-file', EXAMPLE, '--token', out.token, '--json');
    expect(again.code).toBe(1);
    expect(json<{ traceHash: string }>(again).traceHash).toBe(out.traceHash);
    // Without the file the scenario is unknown: bad input, not a crash.
    const without = iommu('replay', '--token', out.token);
    expect(without.code).toBe(2);
    expect(without.stderr).toMatch(/unknown scenario 'viommu-atomic-count'/);
  });

  it('run loads the file in the worker threads too (stress phase runs; no harness failure)', () => {
    const r = iommu('run', '--scenario-file', EXAMPLE, '--mode', 'stress', '--workers', '2', '--ops', '200', '--time', '10m',
      '--seed', '3', '--json', '--report-dir', path.join(tmp, 'rep'));
    expect([0, 1]).toContain(r.code);
    const rep = json<{ results: { scenario: string; stress: { workers: number; ops: number } | null }[] }>(r);
    expect(rep.results[0]!.scenario).toBe('viommu-atomic-count');
    expect(rep.results[0]!.stress!.workers).toBe(2);
    expect(rep.results[0]!.stress!.ops).toBeGreaterThan(0);
  });

  it('a file that is missing, or exports no scenario, is exit 2 naming it', () => {
    const missing = iommu('run', '--scenario-file', 'examples/nope.ts');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/'examples\/nope\.ts' does not exist/);
    const empty = path.join(tmp, 'empty.mjs');
    writeFileSync(empty, 'export const x = 1;\n');
    const r = iommu('explore', '--scenario-file', empty);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no default export/);
  });
});
