/**
 * The simulator-vs-real-threads cross-check (issue 16 item 4), without real threads: the simulated side on a
 * tiny configuration (deterministic: the this-machine profile, a fixed seed), the table's cells and verdicts
 * from a synthetic real side, and the script's usage and bad input. The full table (real threads, loaded
 * machine) is run by hand: node scripts/cross-check.mjs.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGREE, crossCheckCells, crossCheckText, simSide, type Side } from '../src/bench/cross-check.js';

const COSTS = [0, 100_000];
const sim = simSide({ flushCostsNs: COSTS, serial: false, timeMs: 0, repeats: 1, simOps: 60, seed: 1 }, () => {});

describe('cross-check', () => {
  it('simulates every design at 1 and 2 vCPUs, and lazy beats strict when flushes are dear', () => {
    for (const m of ['percpu', 'single', 'strict'])
      for (const c of [1, 2]) for (const f of COSTS) expect(sim.fq.get(`${m}/${c}/${f}`)).toBeGreaterThan(0);
    for (const v of ['correct', 'fixed-depot'])
      for (const s of ['local', 'handoff'])
        for (const c of [1, 2]) expect(sim.iova.get(`${v}/${s}/${c}`)).toBeGreaterThan(0);
    for (const c of [1, 2])
      expect(sim.fq.get(`percpu/${c}/100000`)! / sim.fq.get(`strict/${c}/100000`)!).toBeGreaterThan(1);
  });

  it('gives a verdict per cell: agree within ±AGREE, DIFFER beyond', () => {
    // A real side where per-CPU queues run at half the simulated rate: every ratio with percpu in it differs.
    const real: Side = {
      fq: new Map([...sim.fq].map(([k, v]) => [k, k.startsWith('percpu/') ? v / 2 : v])),
      iova: new Map([...sim.iova].map(([k, v]) => [k, k.startsWith('correct/') ? v * (1 + AGREE / 2) : v])),
    };
    const cells = crossCheckCells(real, sim, COSTS);
    expect(cells).toHaveLength(3 * 2 * COSTS.length + 2 * 2 + 3 * 2);
    for (const c of cells) {
      // Real per-CPU pairs at half the simulated rate: they take twice the simulated time (-50%).
      if (c.ratio.startsWith('µs per')) {
        expect(c.diff, c.ratio).toBeCloseTo(c.ratio === 'µs per percpu pair' ? -0.5 : 0, 9);
        continue;
      }
      const percpu = c.ratio.includes('percpu');
      expect(c.agree, `${c.ratio} ${c.cpus} ${c.at}`).toBe(!percpu);
      if (percpu) expect(Math.abs(c.diff)).toBeGreaterThan(AGREE);
    }
    expect(cells.some((c) => c.noiseBound)).toBe(false); // no spread given
    // A spread over the runs that spans the simulated ratio: that difference is the real side's noise.
    const key = 'lazy percpu/strict@2@100000 ns';
    const c0 = cells.find((c) => `${c.ratio}@${c.cpus}@${c.at}` === key)!;
    const spread = new Map([[key, { min: c0.real * 0.5, max: c0.sim * 1.1 }]]);
    const noisy = crossCheckCells({ ...real, spread }, sim, COSTS).find((c) => `${c.ratio}@${c.cpus}@${c.at}` === key)!;
    expect([noisy.agree, noisy.noiseBound]).toEqual([false, true]);
    expect(crossCheckText([noisy], [])).toMatch(/ DIFFER\*$[^]*\(noise-bound\): 1 of the differing ratio cells$/m);
    const text = crossCheckText(cells, ['header line']);
    expect(text.split('\n')[0]).toBe('header line');
    expect(text).toMatch(/^ratio +CPUs +at +real \(median \[min–max\]\) +sim +sim\/real +±25%$/m);
    expect(text).toMatch(/^lazy percpu\/strict +2 +100000 ns .* DIFFER$/m);
    expect(text).toMatch(/^list\/fixed depot +1 +handoff .* agree$/m);
    // Per-CPU pair times differ, single and strict ones agree: 4 of 6.
    const ratios = cells.filter((c) => !c.ratio.startsWith('µs per'));
    expect(text).toContain(
      `${ratios.filter((c) => c.agree).length} of ${ratios.length} ratio cell(s) agree within ±25%; 4 of 6 pair time(s)`,
    );
  });

  it('the script prints its usage, and refuses a bad flag with exit 2', () => {
    const script = path.join(__dirname, '..', 'scripts', 'cross-check.mjs');
    const help = spawnSync(process.execPath, [script, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--sim-only/);
    const bad = spawnSync(process.execPath, [script, '--flush', 'sometimes'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--flush: 'sometimes' is not serial or parallel/);
  });

  it('takes the real side from a printed table (--real-table), and refuses a missing one before any work', () => {
    const script = path.join(__dirname, '..', 'scripts', 'cross-check.mjs');
    const table = path.join(__dirname, '..', 'reports', 'reference', 'cross-check-serial', 'table.txt');
    const args = ['--flush', 'serial', '--flush-cost', '0,100000', '--sim-ops', '10', '--json'];
    const r = spawnSync(process.execPath, [script, ...args, '--real-table', table], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const cells = (JSON.parse(r.stdout) as { cells: { ratio: string; cpus: number; at: string; real: number }[] })
      .cells;
    // The table's own medians come back as the real side of every cell it has (per-CPU/single and the queued
    // designs' pair times are derived from its rounded ratios: not to the last digit).
    const text = readFileSync(table, 'utf8');
    const derived = /^(percpu\/single|µs per (percpu|single))/;
    for (const c of cells.filter((x) => !derived.test(x.ratio))) {
      const row = text.split('\n').find((l) => new RegExp(`^${c.ratio}\\s+${c.cpus}\\s+${c.at}\\s`).test(l));
      expect(row, `${c.ratio} ${c.cpus} ${c.at}`).toBeDefined();
      expect(c.real.toFixed(2)).toBe(/\s([\d.]+) \[/.exec(row!)![1]);
    }
    const bad = spawnSync(process.execPath, [script, ...args, '--real-table', `${table}.missing`], {
      encoding: 'utf8',
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--real-table .*table\.txt\.missing/);
    expect(bad.stderr).not.toMatch(/fq sim:/);
  });

  it('the reference regeneration script prints its usage, and refuses a bad flag with exit 2 before any work', () => {
    const script = path.join(__dirname, '..', 'scripts', 'regen-reference.sh');
    const help = spawnSync('bash', [script, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--quick/);
    const bad = spawnSync('bash', [script, '--fast'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown argument '--fast'/);
  });
});
