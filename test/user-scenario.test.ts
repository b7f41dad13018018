/**
 * A patch of one's own as a variant (README "Writing a variant"): examples/viommu-atomic-count.ts extends
 * the built-in scenario viommu with the variant atomic-count; it is loaded with --scenario-file by every
 * command, runs under the explore executor and on worker threads, and its replay command carries the file.
 * The commands run in-process on the compiled CLI (helpers/in-process-dist.ts); `list` and the stale-copy
 * check run the real binary as a child process (a process that loads the file, and refuses a stale copy).
 */
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iommu, json, root } from './helpers/cli.js';
import { iommuDist } from './helpers/in-process-dist.js';

const EXAMPLE = 'examples/viommu-atomic-count.ts';
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-user-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('--scenario-file', () => {
  it("list shows the file's variant among viommu's, marked as from the file", async () => {
    const r = iommu('list', '--scenario-file', EXAMPLE);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /atomic-count\s+expect V-INV1\|V-DMA\|V-UNMAP\s+.*\[from examples\/viommu-atomic-count\.ts\]/,
    );
    expect(r.stdout).toMatch(/^\s+locked\s+expect clean\s+[^[]*$/m); // built-in variants are not marked
    expect(r.stdout).toMatch(/^pgtable — /m);
    const j = json<{ scenarios: { name: string; variants: { name: string; file: string | null }[] }[] }>(
      await iommuDist('list', '--scenario-file', EXAMPLE, '--json'),
    );
    const vs = j.scenarios.find((s) => s.name === 'viommu')!.variants;
    expect(vs.map((v) => v.name)).toEqual(['locked', 'upstream', 'null-viommu-sync', 'atomic-count']);
    expect(vs.find((v) => v.name === 'atomic-count')!.file).toBe(EXAMPLE);
    expect(vs.find((v) => v.name === 'locked')!.file).toBeNull();
  });

  it('explore finds the race the atomic counter leaves, and the printed replay command reproduces it', async () => {
    const r = await iommuDist(
      'explore',
      '--scenario-file',
      EXAMPLE,
      '--seed',
      '1',
      '--json',
      '--repro-file',
      path.join(tmp, 'r.json'),
    );
    expect(r.code).toBe(1);
    const out = json<{
      scenario: string;
      variant: string;
      violation: { invariant: string };
      token: string;
      traceHash: string;
      replay: string;
    }>(r);
    expect(out.scenario).toBe('viommu');
    expect(out.variant).toBe('atomic-count'); // the default variant of a file that extends: the first it adds
    expect(['V-INV1', 'V-DMA', 'V-UNMAP']).toContain(out.violation.invariant);
    expect(out.replay).toContain(`--scenario-file ${EXAMPLE}`);
    const again = await iommuDist('replay', '--scenario-file', EXAMPLE, '--token', out.token, '--json');
    expect(again.code).toBe(1);
    expect(json<{ traceHash: string }>(again).traceHash).toBe(out.traceHash);
    // Without the file the variant is unknown: bad input, not a crash.
    const without = await iommuDist('replay', '--token', out.token);
    expect(without.code).toBe(2);
    expect(without.stderr).toMatch(/scenario viommu has no variant 'atomic-count'/);
  });

  it('run loads the file in the worker threads too (stress phase runs; no harness failure)', async () => {
    const r = await iommuDist(
      'run',
      '--scenario-file',
      EXAMPLE,
      '--mode',
      'stress',
      '--workers',
      '2',
      '--ops',
      '200',
      '--time',
      '10m',
      '--seed',
      '3',
      '--json',
      '--report-dir',
      path.join(tmp, 'rep'),
    );
    expect([0, 1]).toContain(r.code);
    const rep = json<{
      results: { scenario: string; variant: string; stress: { workers: number; ops: number } | null }[];
    }>(r);
    // With the file and no --variant, run runs what the file added.
    expect(rep.results.map((x) => `${x.scenario}/${x.variant}`)).toEqual(['viommu/atomic-count']);
    expect(rep.results[0]!.stress!.workers).toBe(2);
    expect(rep.results[0]!.stress!.ops).toBeGreaterThan(0);
  });

  it("bench runs the example's variant (viommu has no suite of its own: its stress op program)", async () => {
    const r = await iommuDist(
      'bench',
      '--scenario-file',
      EXAMPLE,
      '--variant',
      'atomic-count',
      '--workers',
      '1',
      '--time',
      '1s',
      '--repeats',
      '1',
      '--json',
      '--report-dir',
      path.join(tmp, 'bench'),
    );
    expect(r.code).toBe(0);
    const doc = json<{
      suite: string;
      variants: { rows: { scenario: string; variant: string; file: string | null; runs: number }[] };
    }>(r);
    expect(doc.suite).toBe('variants');
    expect(doc.variants.rows).toEqual([
      expect.objectContaining({ scenario: 'viommu', variant: 'atomic-count', file: EXAMPLE, runs: 1 }),
    ]);
  });

  it('a file that is missing, or exports no scenario, is exit 2 naming it', async () => {
    const missing = await iommuDist('run', '--scenario-file', 'examples/nope.ts');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/'examples\/nope\.ts' does not exist/);
    const empty = path.join(tmp, 'empty.mjs');
    writeFileSync(empty, 'export const x = 1;\n');
    const r = await iommuDist('explore', '--scenario-file', empty);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no default export/);
  });

  it('an edited example that was not rebuilt is refused, naming its stale compiled copy (no stale code runs)', () => {
    const src = path.join(root, EXAMPLE);
    const { atime, mtime } = statSync(src);
    try {
      const later = new Date(Date.now() + 3_600_000); // saved after the last build
      utimesSync(src, later, later);
      const r = iommu('list', '--scenario-file', EXAMPLE);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /'dist\/examples\/viommu-atomic-count\.js' is older than its source 'examples\/viommu-atomic-count\.ts'/,
      );
      expect(r.stderr).toMatch(/run 'npm run build' first/);
      expect(r.stdout).toBe('');
    } finally {
      utimesSync(src, atime, mtime);
    }
    expect(iommu('list', '--scenario-file', EXAMPLE).code).toBe(0);
  });
});
