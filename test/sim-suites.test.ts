/**
 * The simulated bench's iova burst shape and its pasid suite (src/sim/iova-burst.ts, src/sim/pasid-sim.ts):
 * small runs, bounded by ops. The burst shape: one completion sweep of five 1024-range bursts (5120
 * frees on one IRQ vCPU) overflows the fixed 32-magazine depot into the rbtree and not the list depot.
 * The pasid suite: the four paths run on several vCPUs, deterministic, and a combination whose buffers
 * do not fit the model's memory is left out with a note.
 */
import { describe, expect, it } from 'vitest';
import { iovaScenario } from '../src/scenarios/iova.js';
import { simIovaBench } from '../src/sim/iova-sim.js';
import { pasidMemPages, simPasidBench, simPasidText } from '../src/sim/pasid-sim.js';
import { loadProfile } from '../src/sim/profile.js';
import { iommu } from './helpers/cli.js';

const bare = loadProfile('bare-metal');
const none = () => {};

describe('bench --sim --suite iova --shape burst', () => {
  it('overflows the fixed depot into the rbtree on a burst the list depot holds', () => {
    const variants = ['correct', 'fixed-depot'].map((n) => iovaScenario.variants.find((v) => v.name === n)!);
    const o = { variants, cpus: [6], freers: 1, opsPerCpu: 1024, seed: 1, profile: bare, shape: 'burst' as const };
    const rows = simIovaBench({ ...o, depth: 1024 }, none, []);
    const [list, fixed] = rows;
    expect(rows.map((r) => [r.variant, r.cpus, r.freers, r.allocating])).toEqual([
      ['correct', 6, 1, 5],
      ['fixed-depot', 6, 1, 5],
    ]);
    // 5 x 1024 ranges, every one a cold-start rbtree allocation, all freed by the IRQ vCPU.
    for (const r of rows) expect(r.traffic.treeAllocs).toBe(5 * 1024);
    // The IRQ vCPU fills its two magazines (254 ranges); each 127 frees after that push a full loaded
    // magazine on: ceil(4866 / 127) = 39 pushes, of which the fixed depot keeps 32.
    expect(list!.traffic.pushes).toBe(39);
    expect(list!.traffic.magsToTree).toBe(0);
    expect(fixed!.traffic.pushes).toBe(39);
    expect(fixed!.traffic.magsToTree).toBe(39 - 32);
    expect(fixed!.rbtreeLockShare).toBeGreaterThan(0);
  });

  it('refuses a bad shape before any work', () => {
    const a = iommu('bench', '--sim', '--suite', 'iova', '--cpus', '4', '--shape', 'bogus');
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("--shape: 'bogus' is not one of irq, burst");
  });
});

describe('bench --sim --suite pasid', () => {
  it('runs the four paths on several vCPUs, the same numbers twice, and leaves out what does not fit', () => {
    const o = { cpus: [2], sizesPages: [1, 1024], invCostsNs: [1000], opsPerCpu: 4, seed: 1, profile: bare };
    expect(pasidMemPages(2, 1024)).toBeGreaterThan(4096);
    const a = simPasidBench(o, none, []);
    const b = simPasidBench(o, none, []);
    expect(b.rows).toEqual(a.rows);
    expect(a.rows.map((r) => r.path)).toEqual([
      'separate-domain-strict',
      'separate-domain',
      'iova-eq-kva',
      'shared-kernel-table',
    ]);
    for (const r of a.rows) expect(r.dmasPerSec).toBeGreaterThan(0);
    const inv = Object.fromEntries(a.rows.map((r) => [r.path, r.invalidationsPerDma]));
    // Strict invalidates once per unmap; option 2 never for direct-map buffers.
    expect(inv['separate-domain-strict']).toBe(1);
    expect(inv['shared-kernel-table']).toBe(0);
    expect(a.skipped).toHaveLength(1);
    expect(a.skipped[0]).toContain('4 MiB at 2 vCPUs');
    const text = simPasidText(a, o);
    expect(text).toContain('SIMULATED TIME');
    expect(text).toContain('left out: 4 MiB at 2 vCPUs');
  });
});
