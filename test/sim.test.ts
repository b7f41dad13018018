/**
 * The simulated-time executor (src/sim/): a run is a pure function of its inputs, serialised flushes do
 * not overlap while parallel ones do, a line bounced between CPUs costs transfers that queue, timers fire
 * at simulated deadlines, 256 vCPUs run, profiles are schema-checked, and `bench --sim` writes the same
 * numbers twice. All bounded by ops, never by wall time.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDefaults, variantOf } from '../src/engine/scenario.js';
import { BadInput } from '../src/errors.js';
import { flushqScenario } from '../src/scenarios/flushq.js';
import { CAS, LOAD, RMW } from '../src/sim/access.js';
import { Coherence } from '../src/sim/coherence.js';
import { runSim, type SimResult, type SimSpec } from '../src/sim/executor.js';
import type { Cpu, LockRef, Op } from '../src/engine/cpu.js';
import { at, defineLayout, region } from '../src/engine/layout.js';
import { lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../src/engine/sync.js';
import { spend } from '../src/model/iotlb.js';
import { benchWorkloads, measureModelCost, modelSiteTable, START_SITE } from '../src/sim/model-cost.js';
import { PROBE_STEPS, simProbe } from '../src/sim/lock-probe.js';
import { pinMainThread, pinnableCpus } from '../src/sim/pin-cpu.js';
import {
  builtinProfiles,
  checkProfile,
  loadProfile,
  modelSiteKey,
  profileHash,
  type CostProfile,
} from '../src/sim/profile.js';
import { iommu, json } from './helpers/cli.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-sim-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const s390 = loadProfile('s390-zvm').profile;

function fqRun(
  mode: string,
  cpus: number,
  ops: number,
  over: Record<string, number>,
  profile: CostProfile = s390,
): SimResult {
  const params = withDefaults(flushqScenario, {
    bench: 1,
    checks: 0,
    deviceWeight: 0,
    teardownPermille: 0,
    spacePfns: 1 << 14,
    ...over,
  });
  const model = flushqScenario.build({ cpus, variant: variantOf(flushqScenario, mode), params });
  return runSim({ scenario: flushqScenario, model, opSeed: 7, opsPerCpu: Array(cpus).fill(ops), profile });
}

describe('simulated-time executor', () => {
  it('repeats a run bit for bit', () => {
    const a = fqRun('percpu', 4, 60, { fqSize: 16, flushCostNs: 50_000, serialFlush: 1 });
    const b = fqRun('percpu', 4, 60, { fqSize: 16, flushCostNs: 50_000, serialFlush: 1 });
    expect(a.steps).toBeGreaterThan(1000);
    expect(a.ops).toBe(240);
    expect(b.steps).toBe(a.steps);
    expect(b.makespanNs).toBe(a.makespanNs);
    expect(b.clocks).toEqual(a.clocks);
    expect(b.stats).toEqual(a.stats);
    expect(b.lockWaits).toEqual(a.lockWaits);
  });

  it('serialises flushes under the flush lock and overlaps parallel ones', () => {
    const cost = 100_000;
    const serial = fqRun('percpu', 4, 60, { fqSize: 8, flushCostNs: cost, serialFlush: 1 });
    const parallel = fqRun('percpu', 4, 60, { fqSize: 8, flushCostNs: cost, serialFlush: 0 });
    const flushes = (r: SimResult) => r.stats!.flushes as number;
    expect(flushes(serial)).toBeGreaterThan(8);
    // Serialised: the flushes alone fill at least flushes x cost of simulated time.
    expect(serial.makespanNs).toBeGreaterThanOrEqual(flushes(serial) * cost);
    expect(serial.lockWaits.find((w) => w.site === 'lock iotlb_flush')?.waits ?? 0).toBeGreaterThan(0);
    // Parallel on 4 vCPUs: they overlap, so the run is shorter than the flushes laid end to end.
    expect(parallel.makespanNs).toBeLessThan(flushes(parallel) * cost);
  });

  it('fires timers at their simulated deadlines', () => {
    // A 1 ms fq timer and rings too large to fill: only the timer frees, once simulated time passes 1 ms.
    const r = fqRun('percpu', 2, 100, { timeoutMs: 1, transferNs: 20_000, flushCostNs: 1000 });
    expect(r.makespanNs).toBeGreaterThan(2e6);
    expect(r.timerFires).toBeGreaterThanOrEqual(1);
    expect(r.stats!.flushes).toBeGreaterThanOrEqual(1);
  });

  it('runs 256 vCPUs', () => {
    const r = fqRun('single', 256, 3, { flushCostNs: 1000 });
    expect(r.ops).toBe(768);
    expect(r.lockWaits.find((w) => w.site === 'lock fq')?.waits ?? 0).toBeGreaterThan(0);
  });
});

/** A two-vCPU model whose op programs are given: op k of vCPU c is progs[c](cpu, word, lock). */
function tiny(progs: ((cpu: Cpu, word: number, lock: LockRef) => Op)[]): SimSpec['model'] {
  const layout = defineLayout(progs.length, { w: { kind: 'i32', count: 16 }, l: { kind: 'i32', count: LOCK_WORDS } });
  const word = at(region(layout, 'w'));
  const lock = lockRef('tiny', at(region(layout, 'l')));
  return {
    layout,
    init() {},
    program: (cpu) => ({ next: () => progs[cpu.id]!(cpu, word, lock), describe: () => 'tiny op' }),
    quiescent() {},
  };
}

const flat: CostProfile = { ...s390, stepNs: 0, loadNs: 0, storeNs: 0, rmwNs: 0, casNs: 0, lineTransferNs: 100 };
const tinySim = (model: SimSpec['model']) =>
  runSim({
    scenario: { invariants: [] } as unknown as SimSpec['scenario'],
    model,
    opSeed: 1,
    opsPerCpu: [1, 1],
    profile: flat,
  });

describe('timing of a step', () => {
  it("charges a step's access at its start: a later spend does not hold the line", () => {
    const r = tinySim(
      tiny([
        function* (cpu, w) {
          yield 'add';
          Atomics.add(cpu.i32, w, 1);
          spend(cpu, 1e6);
        },
        function* (cpu, w) {
          yield 'work';
          spend(cpu, 500);
          yield 'add';
          Atomics.add(cpu.i32, w, 1);
        },
      ]),
    );
    // vCPU 1 takes the line from vCPU 0 at 500 ns (not after vCPU 0's 1 ms): done at 500 + one transfer.
    expect(r.clocks[1]).toBe(600);
    expect(r.clocks[0]).toBe(100 + 1e6);
  });

  it('hands a lock over at the release, plus the hand-off', () => {
    const r = tinySim(
      tiny([
        function* (cpu, _w, l) {
          yield* spinLock(cpu, l);
          yield 'critical section';
          spend(cpu, 1e6);
          yield* spinUnlock(cpu, l);
        },
        function* (cpu, _w, l) {
          yield 'arrive later';
          spend(cpu, 1000);
          yield* spinLock(cpu, l);
          yield* spinUnlock(cpu, l);
        },
      ]),
    );
    expect(r.lockWaits[0]?.site).toBe('lock tiny');
    // Released a little after 1 ms; vCPU 1 runs again a hand-off later, then takes and drops the lock.
    expect(r.clocks[1]).toBeGreaterThan(1e6 + flat.lockHandoffNs);
    expect(r.clocks[1]).toBeLessThan(1e6 + flat.lockHandoffNs + 1000);
  });

  it('charges a measured step its measured cost instead of stepNs and hits, plus transfers, and starting an op', () => {
    const run = (profile: CostProfile) =>
      runSim({
        scenario: { invariants: [] } as unknown as SimSpec['scenario'],
        model: tiny([
          function* (cpu, w) {
            yield 'add 1';
            Atomics.add(cpu.i32, w, 1);
            yield 'add 2';
            Atomics.add(cpu.i32, w, 1);
          },
          function* () {
            yield 'idle';
          },
        ]),
        opSeed: 1,
        opsPerCpu: [1, 0],
        profile,
      });
    const p = { ...flat, stepNs: 7, rmwNs: 3 };
    // Not measured: each step stepNs + its access (the first fetches the line: one transfer).
    expect(run(p).clocks[0]).toBe(7 + 100 + 3 + (7 + 3));
    // Measured ('add #' covers both sites): 40 per step, the hit inside it; the transfer still charged;
    // and the op's start.
    const m = { ...p, modelSiteNs: { 'add #': 40, 'start of op': 1000 } };
    expect(run(m).clocks[0]).toBe(1000 + 100 + 40 + 40);
  });
});

describe('cache-line ownership', () => {
  it('charges a transfer when the line moves and a hit when it stays, and queues contended transfers', () => {
    const p = { ...s390, lineTransferNs: 100, rmwNs: 5, loadNs: 1, casNs: 6 };
    const c = new Coherence(4, 4, p);
    expect(c.charge(0, 0, 1, RMW)).toBe(105); // first touch: fetched
    expect(c.charge(0, 200, 1, RMW)).toBe(205); // owned: a hit
    expect(c.charge(1, 300, 1, LOAD)).toBe(401); // read miss: now shared by 0 and 1
    expect(c.charge(1, 500, 1, LOAD)).toBe(501);
    expect(c.charge(0, 600, 1, LOAD)).toBe(601); // 0 kept a shared copy
    // Two CPUs want the line exclusively at the same time: the second waits for the first transfer.
    expect(c.charge(2, 1000, 1, CAS)).toBe(1106);
    expect(c.charge(3, 1000, 1, CAS)).toBe(1212);
    expect(c.transfers).toBe(4);
    // firstTouchNs prices a line nobody holds yet (from memory); a move between CPUs stays a transfer.
    const m = new Coherence(4, 4, { ...p, firstTouchNs: 7 });
    expect(m.charge(0, 0, 2, RMW)).toBe(12);
    expect(m.charge(1, 0, 3, LOAD)).toBe(8);
    expect(m.charge(1, 20, 2, CAS)).toBe(126);
    // lineMoveNs prices a move that finds the line idle; one that queued behind another pays lineTransferNs.
    const q = new Coherence(4, 4, { ...p, lineMoveNs: 30 });
    expect(q.charge(0, 0, 1, RMW)).toBe(105); // first touch: still the transfer (firstTouchNs's default)
    expect(q.charge(1, 300, 1, LOAD)).toBe(331); // idle at cpu0: one move
    expect(q.charge(2, 1000, 1, CAS)).toBe(1036); // idle: one move, the line busy until 1036
    expect(q.charge(3, 1010, 1, CAS)).toBe(1142); // queued behind it: the contended transfer
    expect(q.charge(2, 1100, 1, LOAD)).toBe(1243); // waits for that transfer, then a contended one
  });
});

describe('what real threads pay at a contended lock (issue 16 item 4)', () => {
  // vCPU 0 holds the lock for 1 µs; vCPU 1 arrives during it and spins, then takes and drops the lock.
  const contended = () =>
    tiny([
      function* (cpu, _w, l) {
        yield* spinLock(cpu, l);
        yield 'critical section';
        spend(cpu, 1000);
        yield* spinUnlock(cpu, l);
      },
      function* (cpu, _w, l) {
        yield 'arrive';
        spend(cpu, 100);
        yield* spinLock(cpu, l);
        yield* spinUnlock(cpu, l);
      },
    ]);
  const sim = (profile: CostProfile, opsPerCpu = [1, 1], variant?: string) =>
    runSim({
      scenario: { invariants: [] } as unknown as SimSpec['scenario'],
      model: contended(),
      opSeed: 1,
      opsPerCpu,
      profile,
      ...(variant ? { variant } : {}),
    });

  it('a release after a contended acquisition pays notifyNs; nothing else changes', () => {
    const base = sim(flat);
    const r = sim({ ...flat, notifyNs: 50 });
    expect(r.clocks[0]).toBe(base.clocks[0]); // took the lock uncontended: its release is a plain store
    expect(r.clocks[1]).toBe(base.clocks[1]! + 50); // was handed the lock: its release wakes
  });

  it('a spinning waiter pulls the lock line back after every write to it (spinnersPoll)', () => {
    const base = sim(flat);
    const r = sim({ ...flat, spinnersPoll: true });
    // The holder's release writes the line twice (owner, lock word): the waiter re-reads it after the
    // first, so the second waits for that read and moves the line back. Its read of the released word is
    // the hand-off (lockHandoffNs), not charged again.
    expect(r.lineTransfers).toBe(base.lineTransfers + 2);
    expect(r.clocks[0]).toBe(base.clocks[0]! + 2 * flat.lineTransferNs);
  });

  it('measured steps cost busyStepFactor more while another vCPU runs, and a variant its own cost first', () => {
    const m = { ...flat, modelSiteNs: { 'critical section': 1000, 'start of op': 0 } };
    const alone = sim(m, [1, 0]).clocks[0]!;
    expect(sim({ ...m, busyStepFactor: 1.5 }, [1, 0]).clocks[0]).toBe(alone); // one vCPU: no factor
    // Two vCPUs: vCPU 0's measured step is 1.5 x 1000 while vCPU 1 still runs.
    expect(sim({ ...m, busyStepFactor: 1.5 }).clocks[0]).toBe(sim(m).clocks[0]! + 500);
    const v = { ...m, modelSiteNs: { ...m.modelSiteNs, 'mine: critical section': 10 } };
    expect(sim(v, [1, 0], 'mine').clocks[0]).toBe(alone - 990);
    expect(sim(v, [1, 0], 'other').clocks[0]).toBe(alone);
  });

  it("layout 'model' charges the harness's regions and the model's own layout, as real threads pay them", () => {
    const run = (profile: CostProfile) =>
      runSim({
        scenario: { invariants: [] } as unknown as SimSpec['scenario'],
        model: contended(),
        opSeed: 1,
        opsPerCpu: [1, 1],
        profile,
        untimed: ['l'],
      });
    expect(run(flat).lineTransfers).toBe(0);
    expect(run({ ...flat, layout: 'model' }).lineTransfers).toBe(sim(flat).lineTransfers);
  });

  it('the lock probe: one vCPU pays its work and steps, two contend', () => {
    const s = { lines: 3, insideNs: 1000, outsideNs: 1000 };
    const one = simProbe(flat, s, 1, 50, 10);
    expect(one.contended).toBe(0);
    // Per op: the work, PROBE_STEPS measured steps; the first op also fetches the four lines it writes.
    expect(one.nsPerOp * 50).toBe(50 * (2000 + 10 * PROBE_STEPS) + 4 * flat.lineTransferNs);
    const two = simProbe(flat, s, 2, 50, 10);
    expect(two.contended).toBeGreaterThan(0);
    expect(two.nsPerOp).toBeGreaterThan(one.nsPerOp);
  });
});

describe('cost profiles', () => {
  it('has the built-in profiles, each valid, with distinct hashes', () => {
    const names = builtinProfiles();
    for (const n of ['this-machine', 's390-zvm', 'virtio', 'bare-metal']) expect(names).toContain(n);
    const hashes = names.map((n) => loadProfile(n).hash);
    expect(new Set(hashes).size).toBe(names.length);
  });

  it('names the bad field of a bad profile', () => {
    expect(() => checkProfile({ ...s390, lineTransferNs: 'x' }, 'p.json')).toThrow(BadInput);
    expect(() => checkProfile({ ...s390, lineTransferNs: 'x' }, 'p.json')).toThrow(/'lineTransferNs'/);
    expect(() => checkProfile({ ...s390, stepNs: -1 }, 'p.json')).toThrow(/'stepNs'/);
    const { wakeupNs: _, ...missing } = s390;
    expect(() => checkProfile(missing, 'p.json')).toThrow(/'wakeupNs'/);
    expect(() => checkProfile({ ...s390, siteNs: { 'rbtree alloc_iova': 'slow' } }, 'p.json')).toThrow(
      /'siteNs.rbtree alloc_iova'/,
    );
    expect(() => checkProfile({ ...s390, typo: 1 }, 'p.json')).toThrow(BadInput);
    expect(() => checkProfile({ ...s390, modelSiteNs: { 'fq full?': -2 } }, 'p.json')).toThrow(
      /'modelSiteNs.fq full\?'/,
    );
  });

  it('defaults the later fields to kernel-like semantics, hashed only when set (old hashes hold)', () => {
    const { layout: _l, spinnersPoll: _s, notifyNs: _n, busyStepFactor: _b, ...old } = s390;
    const p = checkProfile(old, 'p.json');
    expect([p.layout, p.spinnersPoll, p.notifyNs, p.busyStepFactor]).toEqual(['kernel', false, 0, 1]);
    expect(profileHash(p)).toBe(profileHash(s390));
    expect(profileHash({ ...p, notifyNs: 1 })).not.toBe(profileHash(p));
    expect(() => checkProfile({ ...old, layout: 'struct' }, 'p.json')).toThrow(/'layout'/);
    expect(() => checkProfile({ ...old, busyStepFactor: 0.5 }, 'p.json')).toThrow(/'busyStepFactor'/);
  });

  it('defaults modelSiteNs to none (kernel-like profiles), and keys sites with digit runs as #', () => {
    const { modelSiteNs: _, ...without } = s390;
    expect(checkProfile(without, 'p.json').modelSiteNs).toEqual({});
    expect(modelSiteKey('lock cpu_rcache[3]@cpu17.lock')).toBe('lock cpu_rcache[#]@cpu#.lock');
    // The calibrated profile prices the bench's sites, and its fallback is their mean.
    const tm = loadProfile('this-machine').profile;
    for (const k of ['start of op', 'L# pte read', 'fq entry write', 'lock iova_rbtree_lock'])
      expect(tm.modelSiteNs[k], k).toBeGreaterThan(0);
  });
});

describe('bench --calibrate: the model step', () => {
  it('times the same steps, at the same sites, as the simulator takes on the same workload', () => {
    const w = benchWorkloads().find((x) => x.name === 'iova correct local x1')!;
    const m = measureModelCost([w], 30, () => {}, 1, 5_000);
    const r = runSim({
      scenario: w.scenario,
      model: w.scenario.build({ cpus: 1, variant: variantOf(w.scenario, w.variant), params: w.params }),
      opSeed: 1,
      opsPerCpu: [30],
      profile: s390,
      countSites: true,
    });
    const simSites = new Map([...r.siteSteps!].map(([s, n]) => [s, n]));
    simSites.set(START_SITE, 30);
    expect(new Map([...m.sites].map(([s, c]) => [s, c.steps]))).toEqual(simSites);
    expect(m.steps).toBe(r.steps + 30);
    expect(m.opsOf.get(w.name)).toBe(30);
    // A pass shorter than minPassNs runs more ops (at most 125 times as many: the probe's floor).
    const longer = measureModelCost([w], 30, () => {}, 1, 5_000, 5e6).opsOf.get(w.name)!;
    expect(longer).toBeGreaterThan(30);
    expect(longer).toBeLessThanOrEqual(30 * 125);
    for (const c of m.sites.values()) expect(c.ns).toBeGreaterThanOrEqual(0);
    expect(m.meanNs).toBeGreaterThan(0);
    // Priced by that measurement alone (no transfers, no hits), one simulated vCPU takes exactly the
    // measured time: the sum over sites of steps x cost (to the profile's 0.1 ns rounding).
    const table = modelSiteTable(m);
    expect(Object.keys(table).some((k) => k.includes(': '))).toBe(false);
    const own = modelSiteTable(m, true);
    expect(own[`correct: ${START_SITE}`]).toBe(table[START_SITE]); // one workload: its own figure is the mean
    const priced = runSim({
      scenario: w.scenario,
      model: w.scenario.build({ cpus: 1, variant: variantOf(w.scenario, w.variant), params: w.params }),
      opSeed: 1,
      opsPerCpu: [30],
      profile: { ...flat, lineTransferNs: 0, firstTouchNs: 0, modelSiteNs: table },
    });
    let want = 0;
    for (const [site, c] of m.sites) want += c.steps * table[modelSiteKey(site)]!;
    expect(priced.makespanNs).toBeCloseTo(want, 6);
    expect(Math.abs(want - m.meanNs * m.steps)).toBeLessThan(0.001 * want + 0.1 * m.steps);
  });
});

describe('bench --calibrate: pinning the measuring thread', () => {
  it('pins the main thread to one CPU and lets it go again (Linux with taskset; else nothing to pin)', () => {
    const cpus = pinnableCpus();
    const allowed = () => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/thread-self/status', 'utf8'))![1];
    if (cpus.length === 0) {
      expect(process.platform !== 'linux' || spawnSync('taskset', ['-V']).status !== 0).toBe(true);
      return;
    }
    expect(cpus).toHaveLength(availableParallelism());
    const before = allowed();
    const unpin = pinMainThread(cpus.at(-1)!);
    try {
      expect(allowed()).toBe(String(cpus.at(-1)));
      expect(availableParallelism()).toBe(1);
    } finally {
      unpin();
    }
    expect(allowed()).toBe(before);
  });
});

describe('bench --sim', () => {
  const args = (dir: string) => [
    'bench',
    '--sim',
    '--suite',
    'fq',
    '--cpus',
    '2',
    '--profile',
    's390-zvm',
    '--fq',
    'percpu,single',
    '--ops',
    '40',
    '--report-dir',
    dir,
    '--json',
  ];

  it('writes the report files, labels simulated time, and gives the same numbers twice', () => {
    const a = iommu(...args(path.join(tmp, 'a')));
    const b = iommu(...args(path.join(tmp, 'b')));
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const ja = json<{ simulated: boolean; profile: { name: string; hash: string }; fq: { rows: unknown[] } }>(a);
    const jb = json<typeof ja>(b);
    expect(ja.simulated).toBe(true);
    expect(ja.profile.name).toBe('s390-zvm');
    expect(ja.profile.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(ja.fq.rows).toHaveLength(2);
    expect(jb.fq.rows).toEqual(ja.fq.rows);
    expect(a.stderr).toContain('SIMULATED TIME');
    expect(a.stderr).toContain('dma mapping benchmark: threads:2');
    for (const f of ['report.json', 'summary.md', 'bench.html']) expect(existsSync(path.join(tmp, 'a', f))).toBe(true);
    expect(readFileSync(path.join(tmp, 'a', 'summary.md'), 'utf8')).toContain(ja.profile.hash);
  });

  it('rejects a bad profile (naming the field) and a bad vCPU count before any work', () => {
    const bad = path.join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...s390, casNs: 'fast' }));
    const r = iommu('bench', '--sim', '--profile', bad, '--cpus', '1', '--report-dir', path.join(tmp, 'c'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'casNs'");
    expect(existsSync(path.join(tmp, 'c'))).toBe(false);
    const c = iommu('bench', '--sim', '--cpus', '1,257');
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('257');
  });
});
