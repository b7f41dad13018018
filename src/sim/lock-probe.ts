/**
 * The lock probe (issue 16 item 4, `bench --calibrate`): what a contended model spinlock costs real
 * threads that the simulated-time executor does not charge. The probe is the shape of queue_iova on the
 * single flush queue, stripped of everything else: take one model spinlock (engine/sync.ts, exactly the
 * lock the models use: CAS, spin SPINS_BEFORE_PARK loads, park with Atomics.wait, notify on release),
 * write `lines` cache lines beside it (the ring's head, tail and entries: shared by every CPU that takes
 * the lock), work `insideNs` under the lock, release it, work `outsideNs` (the rest of the map+unmap
 * pair). The same op runs on real worker threads (`realProbe`) and in the simulator (`simProbe`): at one
 * CPU the two agree by construction (the simulated step cost is fitted to the one-thread run), so what
 * the two-CPU runs differ by is what a contended hand-off costs on this machine beyond the profile's
 * lockHandoffNs and line transfers.
 *
 * The work is spend() (iotlb.ts): a busy wait on the real clock in a worker, simulated time in the
 * simulator, so both sides do the same amount of it.
 */
import { Checker } from '../check/checker.js';
import { evalWorkers } from './eval-workers.js';
import { Cpu, type Op } from '../engine/cpu.js';
import { RealClock } from '../engine/clock.js';
import { defineLayout, mapMemory, type Layout, type Memory } from '../engine/layout.js';
import type { ScenarioDef, ScenarioModel, VcpuProgram } from '../engine/scenario.js';
import { lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../engine/sync.js';
import { spend } from '../model/iotlb.js';
import { runSim } from './executor.js';
import type { CostProfile } from './profile.js';

export interface ProbeShape {
  /** Cache lines written under the lock, besides the lock's own (the lock word's line holds head and tail). */
  readonly lines: number;
  readonly insideNs: number;
  readonly outsideNs: number;
}

/** The probe's site labels. */
export const PROBE_SITES = ['lock probe', 'unlock probe', 'probe ring write', 'probe work'] as const;

/** A scenario definition for the simulator: no invariants, no parameters. */
export const probeScenario: ScenarioDef = {
  name: 'lock-probe',
  summary: 'bench --calibrate: a contended model spinlock with ring lines written under it',
  follows: '-',
  params: {},
  exploreCpus: 2,
  exploreOps: 1,
  invariants: [],
  variants: [{ name: 'probe', summary: 'the probe', expect: 'clean' }],
  build: () => {
    throw new Error('lock-probe: built by probeModel()');
  },
} as unknown as ScenarioDef;

export function probeLayout(cpus: number, lines: number): Layout {
  // The lock word and the ring header share line 0 (struct iova_fq: lock, head, tail); entries follow.
  return defineLayout(cpus, { probe: { kind: 'i32', count: 16 * (1 + lines) } });
}

/** The probe op: lock, the ring lines and the inside work, unlock, the outside work. */
export function* probeOp(cpu: Cpu, s: ProbeShape, k: number): Op {
  const base = cpu.mem.layout.regions.probe!.base;
  const lock = lockRef('probe', base);
  yield* spinLock(cpu, lock);
  yield 'probe ring write';
  Atomics.store(cpu.i32, base + LOCK_WORDS, k); // the header line: head/tail
  for (let j = 1; j <= s.lines; j++) Atomics.store(cpu.i32, base + 16 * j, k);
  spend(cpu, s.insideNs);
  yield* spinUnlock(cpu, lock);
  yield 'probe work';
  spend(cpu, s.outsideNs);
}

export function probeModel(cpus: number, s: ProbeShape): ScenarioModel {
  const layout = probeLayout(cpus, s.lines);
  return {
    layout,
    init: () => {},
    program: (cpu: Cpu): VcpuProgram => {
      let k = 0;
      return { next: () => probeOp(cpu, s, k++), describe: () => 'probe op' };
    },
    quiescent: () => {},
  };
}

/** Steps of one probe op: lock, ring write, unlock, work, and starting the op. */
export const PROBE_STEPS = 5;

export interface SimProbe {
  /** Simulated ns per op per CPU (makespan / ops per CPU). */
  readonly nsPerOp: number;
  /** Acquisitions that waited. */
  readonly contended: number;
  readonly ops: number;
}

/** The probe in the simulator: `cpus` vCPUs, `ops` each, every probe step priced at `stepNs`. */
export function simProbe(profile: CostProfile, s: ProbeShape, cpus: number, ops: number, stepNs: number): SimProbe {
  // The probe's steps cost what the one-thread run measured (stepNs), its accesses what the profile says.
  const modelSiteNs: Record<string, number> = { 'start of op': stepNs };
  for (const site of PROBE_SITES) modelSiteNs[site] = stepNs;
  const r = runSim({
    scenario: probeScenario,
    model: probeModel(cpus, s),
    opSeed: 1,
    opsPerCpu: Array(cpus).fill(ops),
    profile: { ...profile, modelSiteNs },
  });
  const contended = r.lockWaits.reduce((n, w) => n + w.waits, 0);
  return { nsPerOp: r.makespanNs / ops, contended, ops: r.ops };
}

/** The probe on `cpus` real worker threads, `ops` each: the slowest thread's wall ns per op. */
export async function realProbe(s: ProbeShape, cpus: number, ops: number): Promise<number> {
  const layout = probeLayout(cpus, s.lines);
  const sab = new SharedArrayBuffer(layout.bytes + 64);
  const me = new URL(import.meta.url).href;
  const src = `
    const { workerData: w, parentPort } = require('node:worker_threads');
    import(w.me).then((m) => parentPort.postMessage(m.probeWorker(w)));`;
  const ms = await evalWorkers<number>(
    src,
    Array.from({ length: cpus }, (_, c) => ({ me, sab, layout, s, cpu: c, cpus, ops })),
  );
  return (Math.max(...ms) * 1e6) / ops;
}

/** In a worker: meet the others, run the ops as the stress worker drives them; the ms it took. */
export function probeWorker(w: {
  sab: SharedArrayBuffer;
  layout: Layout;
  s: ProbeShape;
  cpu: number;
  cpus: number;
  ops: number;
}): number {
  const mem: Memory = mapMemory(w.sab, w.layout);
  const go = new Int32Array(w.sab, w.layout.bytes, 16);
  const cpu = new Cpu(w.cpu, 'stress', mem, new Checker([]), -1, new RealClock(RealClock.epochNow()));
  // Warm up alone (the JIT), then start together.
  for (let k = 0; k < 200; k++) for (let op = probeOp(cpu, w.s, k), r = op.next(); !r.done; r = op.next());
  Atomics.add(go, 0, 1);
  while (Atomics.load(go, 0) < w.cpus) {
    /* the others are still warming up */
  }
  const t0 = performance.now();
  for (let k = 0; k < w.ops; k++) {
    const op = probeOp(cpu, w.s, k);
    for (let r = op.next(); !r.done; r = op.next()) cpu.site = r.value;
  }
  return performance.now() - t0;
}
