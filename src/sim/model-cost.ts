/**
 * The model's own cost per step, measured on this machine (issue 16 item 2, `bench --calibrate`): what the
 * JavaScript between two scheduling points costs when the stress executor runs it on a real thread — the
 * cost the simulated-time executor must charge for `this-machine` to agree with real threads, and which a
 * bare `stepNs` (one generator yield) misses by an order of magnitude (a strict map+unmap pair is ~25
 * steps of 100-300 ns each, not 25 yields of 14 ns).
 *
 * How: each bench workload (the fq loop of every queue mode, the iova range-cache shapes) runs in this
 * thread on stress-mode Cpus over one SharedArrayBuffer, exactly as workers/stress-worker.ts drives it
 * (prog.next(), then op.next() to the end, `cpu.site` and a step count per yield), its vCPUs taking turns op
 * by op — one thread, so every line is local: what is measured is the model's code and its uncontended
 * Atomics, nothing the coherence model charges. Every step is timed (performance.now() around op.next())
 * and its time goes to the site it resumed at; the op's first step (prog.next() and the code before the
 * first yield) goes to START_SITE. The timer's own cost is then taken out: the same ops run again untimed
 * (same seed, same model state: a one-thread run is deterministic), and the difference per step is
 * subtracted from every step. Best of ROUNDS rounds (the machine is shared: the least disturbed round).
 *
 * Not measured: timer callbacks (they fire rarely; their steps fall back to stepNs), and workloads of
 * other suites (mapsg, dma-iova, pasid), whose sites likewise fall back to stepNs unless they share a
 * site label with a measured one.
 */
import { Checker } from '../check/checker.js';
import { Cpu, type Op } from '../engine/cpu.js';
import { RealClock } from '../engine/clock.js';
import { allocateMemory, zeroMemory } from '../engine/layout.js';
import { opRng } from '../engine/rng.js';
import { variantOf, withDefaults, type ScenarioDef, type VcpuProgram } from '../engine/scenario.js';
import { fqBenchParams } from '../bench/fq-bench.js';
import { modelSiteKey, variantSiteKey } from './profile.js';
import { IOVA_BENCH_PARAMS } from '../bench/iova-bench.js';
import { threadCpuNs } from '../bench/thread-cpu.js';
import { flushqScenario } from '../scenarios/flushq.js';
import { SINGLE_FQ_SIZE } from '../model/fq/flush-queue.js';
import { iovaScenario } from '../scenarios/iova.js';

/** The site an op's first step is charged to: the program drawing the op and the code up to its first yield. */
export const START_SITE = 'start of op';

/** A workload: one scenario, variant and parameters, at `cpus` vCPUs taking turns in one thread. */
export interface Workload {
  readonly name: string;
  readonly scenario: ScenarioDef;
  readonly variant: string;
  readonly params: Record<string, number>;
  readonly cpus: number;
  /**
   * Ops per vCPU this workload needs at least to reach its steady state: the single queue's ring holds
   * 32,767 entries, and its costs once full (a deep rbtree, a drain of the whole ring) are what a run of
   * seconds on real threads pays — 3,000 ops would measure a ring that never filled.
   */
  readonly minOps?: number;
}

/** The bench suites' workloads the cross-check compares (bench/cross-check.ts), at flush cost 0. */
export function benchWorkloads(): Workload[] {
  const fq = (mode: string, cpus: number): Workload => ({
    name: `fq ${mode} x${cpus}`,
    scenario: flushqScenario as ScenarioDef,
    variant: mode,
    params: fqBenchParams(flushqScenario, { serial: false, transferNs: 0, pages: 1 }, 0),
    cpus,
    // Enough for the rings to fill: once for the single queue's (at 2 vCPUs, both share it).
    ...(mode === 'single' ? { minOps: Math.ceil(SINGLE_FQ_SIZE / cpus) + 2_000 } : {}),
  });
  const iova = (variant: string, shape: 'local' | 'handoff', cpus: number): Workload => ({
    name: `iova ${variant} ${shape} x${cpus}`,
    scenario: iovaScenario as ScenarioDef,
    variant,
    params: withDefaults(iovaScenario, { ...IOVA_BENCH_PARAMS, bench: shape === 'local' ? 1 : 2, treeOnly: 0 }),
    cpus,
  });
  return [
    ...['percpu', 'single', 'strict'].flatMap((m) => [fq(m, 1), fq(m, 2)]),
    ...['correct', 'fixed-depot'].flatMap((v) => [iova(v, 'local', 1), iova(v, 'handoff', 2)]),
  ];
}

export interface SiteCost {
  /** Steps taken at the site over the measured ops. */
  readonly steps: number;
  /** ns per step, the timer's overhead taken out. */
  readonly ns: number;
}

export interface ModelCost {
  readonly sites: ReadonlyMap<string, SiteCost>;
  /** The same per variant: each workload's variant, its sites (over its own workloads only). */
  readonly byVariant: ReadonlyMap<string, ReadonlyMap<string, SiteCost>>;
  /** All steps together: ns per step (the fallback for a site not measured). */
  readonly meanNs: number;
  readonly steps: number;
  /** The empty window (two back-to-back performance.now() calls) taken out of every step's window. */
  readonly timerNs: number;
  /** Step windows left out as preempted (longer than CUT_NS). */
  readonly dropped: number;
  /** Ops per vCPU each workload ran per pass (by name): `ops`, or more to last minPassNs. */
  readonly opsOf: ReadonlyMap<string, number>;
}

interface Pass {
  /** Wall ns of the pass (timed passes) or CPU ns of this process (plain passes: load-independent). */
  readonly ns: number;
  readonly steps: number;
  /** Timed passes: per site, its steps and the sum of their windows (each less the empty window). */
  readonly perSite?: Map<string, { steps: number; ns: number }>;
  /** Timed passes: windows longer than CUT_NS (the thread was preempted) left out. */
  readonly dropped?: number;
}

/** A step window longer than this was preempted (the machine is shared): it is left out. */
export const CUT_NS = 100_000;

/** What two back-to-back performance.now() calls measure: the timer's own share of every step window. */
export function emptyWindowNs(n = 200_000): number {
  let sum = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const d = (performance.now() - t) * 1e6;
    if (d < CUT_NS) {
      sum += d;
      k++;
    }
  }
  return sum / k;
}

// This thread's CPU time where Linux tells it: process.cpuUsage() also sums V8's GC and compiler helper
// threads, which on an idle machine run on the other core at once and inflate the total by tens of percent
// (an idle calibration priced a strict map+unmap pair 65% above the real one); under load they wait. The
// thread's figure moves in scheduler ticks (4 ms here), so a window shorter than THREAD_CPU_MIN_NS (a
// test's few ops) is taken from the process's clock instead, where a tick would be most of it.
const THREAD_CPU_MIN_NS = 100e6;
const processCpuNs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1e3;
};
const cpuClock = (): { thread: number | undefined; process: number } => ({
  thread: threadCpuNs(),
  process: processCpuNs(),
});
const cpuNsSince = (t0: { thread: number | undefined; process: number }): number => {
  const t1 = cpuClock();
  const thread = t0.thread !== undefined && t1.thread !== undefined ? t1.thread - t0.thread : undefined;
  return thread !== undefined && thread >= THREAD_CPU_MIN_NS ? thread : t1.process - t0.process;
};

/** One pass of `ops` ops per vCPU from a fresh model; timed per step (less `w0` each) or only in total. */
function pass(w: Workload, ops: number, seed: number, w0: number | undefined): Pass {
  const perStep = w0 !== undefined;
  const variant = variantOf(w.scenario, w.variant);
  const model = w.scenario.build({ cpus: w.cpus, variant, params: w.params });
  const mem = allocateMemory(model.layout);
  zeroMemory(mem);
  model.init(mem);
  const checker = new Checker(w.scenario.invariants);
  const epoch = RealClock.epochNow();
  const cpus: Cpu[] = [];
  const progs: VcpuProgram[] = [];
  for (let c = 0; c < w.cpus; c++) {
    const cpu = new Cpu(c, 'stress', mem, checker, -1, new RealClock(epoch));
    cpus.push(cpu);
    progs.push(model.program(cpu, opRng(seed, c)));
  }
  let steps = 0;
  let dropped = 0;
  const perSite = perStep ? new Map<string, { steps: number; ns: number }>() : undefined;
  const add = (site: string, ns: number) => {
    const e = perSite!.get(site);
    const v = ns < CUT_NS ? Math.max(0, ns - w0!) : 0;
    if (ns >= CUT_NS) dropped++;
    if (e) {
      e.steps++;
      e.ns += v;
    } else perSite!.set(site, { steps: 1, ns: v });
  };
  const t0 = perStep ? undefined : cpuClock();
  for (let k = 0; k < ops; k++) {
    for (let c = 0; c < w.cpus; c++) {
      const cpu = cpus[c]!;
      cpu.step = steps;
      if (perStep) {
        let t = performance.now();
        const op: Op<unknown> = progs[c]!.next();
        let r = op.next();
        let at = START_SITE;
        for (;;) {
          const t1 = performance.now();
          add(at, (t1 - t) * 1e6);
          if (r.done) break;
          cpu.site = at = r.value;
          steps++;
          t = performance.now();
          r = op.next();
        }
      } else {
        const op: Op<unknown> = progs[c]!.next();
        for (let r = op.next(); !r.done; r = op.next()) {
          cpu.site = r.value;
          steps++;
        }
      }
    }
  }
  const ns = t0 === undefined ? 0 : cpuNsSince(t0);
  if (checker.failed) throw new Error(`calibrate: ${w.name} reported ${checker.violations[0]?.invariant}`);
  // The op's first step counts as a step too (the simulator charges it as one).
  return { ns, steps: steps + ops * w.cpus, ...(perSite ? { perSite, dropped } : {}) };
}

export const ROUNDS = 3;

/**
 * Measure every workload: `ops` ops per vCPU per pass, after a warm-up pass (the JIT). Per workload, the
 * timed passes give each site's share (their windows summed over ROUNDS), the plain passes its total (the
 * least CPU time of ROUNDS: the least disturbed); each site's windows are scaled so that together they
 * are that total. Sites seen in several workloads are averaged, weighted by their steps.
 */
export function measureModelCost(
  workloads: readonly Workload[],
  opsAll: number,
  progress: (s: string) => void,
  seed = 1,
  /** Timer-read pairs that measure the empty window (fewer: a quicker, rougher measurement — tests). */
  windowSamples = 200_000,
  /**
   * The least CPU time a plain pass should take (0: `ops` as given — tests): a workload whose pass is
   * shorter runs more ops, so that its total is read from this thread's clock (THREAD_CPU_MIN_NS) and not
   * from the process's, which also counts V8's helper threads — on an idle machine by tens of percent,
   * and by a different share in every workload: a 30 ms pass of the strict loop took the process clock.
   */
  minPassNs = 0,
): ModelCost {
  const w0 = emptyWindowNs(windowSamples);
  const total = new Map<string, { steps: number; ns: number }>();
  const perVariant = new Map<string, Map<string, { steps: number; ns: number }>>();
  let allSteps = 0;
  let allNs = 0;
  let dropped = 0;
  const opsOf = new Map<string, number>();
  // Every workload is warmed up before any is measured, and the measured rounds go round the workloads:
  // whatever drifts in one thread over the calibration (the JIT's tiers, the heap's growth, the thread
  // moving to a CPU of another speed: pin-cpu.ts) then weighs on every design alike. Measured one after the
  // other in one process, the same iova code cost 258 ns a step in the workload measured first and 171 ns
  // in the one after it.
  for (const w of workloads) {
    let ops = Math.max(opsAll, w.minOps ?? 0);
    pass(w, Math.min(ops, 2_000), seed, w0); // both paths compiled before anything counts
    pass(w, Math.min(ops, 2_000), seed, undefined);
    if (minPassNs > 0) {
      const probe = pass(w, ops, seed, undefined).ns;
      if (probe < minPassNs) {
        ops = Math.ceil((ops * minPassNs * 1.25) / Math.max(probe, minPassNs / 100));
        pass(w, ops, seed, undefined); // and at the length it will run
      }
    }
    opsOf.set(w.name, ops);
  }
  const windows = workloads.map(() => new Map<string, { steps: number; ns: number }>());
  const plainNs = workloads.map(() => Infinity);
  const plainSteps = workloads.map(() => 0);
  for (let k = 0; k < ROUNDS; k++) {
    workloads.forEach((w, i) => {
      const ops = opsOf.get(w.name)!;
      progress(`calibrate: model steps of ${w.name}, ${ops} ops per vCPU, round ${k + 1} of ${ROUNDS}`);
      const timed = pass(w, ops, seed, w0);
      dropped += timed.dropped!;
      for (const [site, e] of timed.perSite!) {
        const t = windows[i]!.get(site);
        if (t) {
          t.steps += e.steps;
          t.ns += e.ns;
        } else windows[i]!.set(site, { ...e });
      }
      const plain = pass(w, ops, seed, undefined);
      plainNs[i] = Math.min(plainNs[i]!, plain.ns);
      plainSteps[i] = plain.steps;
    });
  }
  workloads.forEach((w, i) => {
    let sum = 0;
    for (const e of windows[i]!.values()) sum += e.ns / ROUNDS;
    const scale = sum > 0 ? plainNs[i]! / sum : 0;
    const mine = perVariant.get(w.variant) ?? new Map<string, { steps: number; ns: number }>();
    perVariant.set(w.variant, mine);
    for (const [site, e] of windows[i]!) {
      const ns = (e.ns / ROUNDS) * scale;
      const st = e.steps / ROUNDS;
      for (const into of [total, mine]) {
        const t = into.get(site);
        if (t) {
          t.steps += st;
          t.ns += ns;
        } else into.set(site, { steps: st, ns });
      }
    }
    allSteps += plainSteps[i]!;
    allNs += plainNs[i]!;
  });
  const costs = (m: Map<string, { steps: number; ns: number }>) => {
    const out = new Map<string, SiteCost>();
    for (const [site, t] of [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1)))
      out.set(site, { steps: t.steps, ns: t.ns / t.steps });
    return out;
  };
  const byVariant = new Map([...perVariant].map(([v, m]) => [v, costs(m)] as const));
  return { sites: costs(total), byVariant, meanNs: allNs / allSteps, steps: allSteps, timerNs: w0, dropped, opsOf };
}

/**
 * The profile's modelSiteNs from a measurement: per site key (digit runs as '#'), the steps-weighted mean
 * of the sites it covers (cpu_rcache[0]@cpu1 and [3]@cpu0 share one cost), in ns to one decimal.
 */
export function modelSiteTable(m: ModelCost, perVariant = false): Record<string, number> {
  const table = (sites: ReadonlyMap<string, SiteCost>, key: (site: string) => string) => {
    const bySite = new Map<string, { steps: number; ns: number }>();
    for (const [site, c] of sites) {
      const k = key(site);
      const e = bySite.get(k) ?? { steps: 0, ns: 0 };
      e.steps += c.steps;
      e.ns += c.ns * c.steps;
      bySite.set(k, e);
    }
    return [...bySite].map(([k, e]) => [k, Math.round((10 * e.ns) / e.steps) / 10] as const);
  };
  // The site means (any variant, other suites), and with perVariant each measured variant's own
  // ('VARIANT: site'), which bench --calibrate writes too: a site's cost is the design's, not the mean's —
  // the means are weighted by steps, so the single queue's 34,768-op workloads (nine steps in ten) set
  // them, and its deep rbtree priced strict's `rbtree alloc_iova` and the per-CPU queue's `start of op`.
  // (A variant's own figure comes from one or two workloads; passes long enough for the thread's clock,
  // minPassNs, keep it from the process clock's helper-thread noise that once moved a design by 20-30%.)
  const rows = [
    ...table(m.sites, modelSiteKey),
    ...(perVariant ? [...m.byVariant].flatMap(([v, sites]) => table(sites, (s) => variantSiteKey(v, s))) : []),
  ];
  return Object.fromEntries(rows.sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

/**
 * The busy-core probe (profile busyStepFactor): workload `name` of benchWorkloads() on its own buffer in
 * this thread (a worker), after a warm-up pass, once `go` says every probing thread is ready; the least
 * time of `reps` passes of `ops` ops per vCPU, in ms — this thread's CPU time where Linux tells it (time
 * the thread waited for a core, on a loaded machine, is not the model's cost), else wall time. Run alone
 * and then on two threads at once, nothing shared between them: what the second busy core costs.
 */
export function busyPassMs(d: {
  name: string;
  ops: number;
  reps: number;
  go: SharedArrayBuffer;
  threads: number;
}): number {
  const w = benchWorkloads().find((x) => x.name === d.name);
  if (!w) throw new Error(`busy probe: no workload '${d.name}'`);
  pass(w, Math.min(d.ops, 2_000), 1, undefined);
  const go = new Int32Array(d.go);
  Atomics.add(go, 0, 1);
  while (Atomics.load(go, 0) < d.threads) {
    /* the other thread is still warming up */
  }
  let best = Infinity;
  for (let k = 0; k < d.reps; k++) {
    const c0 = threadCpuNs();
    const t0 = performance.now();
    pass(w, d.ops, 1, undefined);
    const c1 = threadCpuNs();
    best = Math.min(best, c0 !== undefined && c1 !== undefined ? (c1 - c0) / 1e6 : performance.now() - t0);
  }
  return best;
}
