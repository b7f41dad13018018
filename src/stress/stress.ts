/**
 * The stress executor: one piscina worker per vCPU running free on real cores, in slices separated by
 * a barrier at which the main thread scans the quiescent model (see control.ts for the protocol).
 *
 * Each worker gets one long task for the whole run rather than one task per slice: a piscina task costs
 * 30-60 µs here, and a vCPU's program state then stays in the worker that owns it. A watchdog turns a
 * worker that throws, crashes or stops making progress into a HarnessError (exit 3), never a hang.
 */
import { Piscina } from 'piscina';
import type { Violation } from '../check/invariant.js';
import { HarnessError } from '../errors.js';
import { Cpu, StopRun, StuckWait, type Op } from '../engine/cpu.js';
import { newTally, SiteCatalog, tallyLabel, type SiteTally } from '../engine/coverage.js';
import { allocateMemory } from '../engine/layout.js';
import { RealClock } from '../engine/clock.js';
import { taskOf } from '../engine/task.js';
import { claimDueTimer, nextDeadline } from '../engine/timer.js';
import type { ScenarioDef, VariantDef } from '../engine/scenario.js';
import { workerFile } from '../paths.js';
import { pausePoint } from '../pause.js';
import {
  ClaimingChecker,
  controlIndices,
  firstFailure,
  parkMain,
  PHASE_FINISHED,
  PHASE_RUNNING,
  raiseStop,
  withControl,
} from './control.js';
import { sliceSeed } from './seeds.js';
import type { SteadyState, StressTask, StressWorkerResult } from './task.js';

/** A freshEachSlice model is drained (ScenarioModel.drain) at every this-many-th slice barrier, and at the last. */
const DRAIN_EVERY = 16;
export interface StressOptions {
  readonly scenario: ScenarioDef;
  readonly variant: VariantDef;
  readonly params: Readonly<Record<string, number>>;
  readonly workers: number;
  readonly timeMs: number;
  /** Ops per vCPU; Infinity = until the time budget is spent. */
  readonly opBudget: number;
  readonly seed: number;
  readonly sliceMs: number;
  /** A running worker whose heartbeat stands still this long is reported as hung. */
  readonly watchdogMs: number;
  /** The module a user scenario comes from (the workers load it too). */
  readonly scenarioFile?: string;
  readonly onProgress?: (p: { elapsedMs: number; ops: number; slices: number }) => void;
  /**
   * Count the steps taken at each declared site (engine/coverage.ts) in per-vCPU counters merged at slice
   * barriers: on in `run`, off in `bench` (it costs a Map lookup per step).
   */
  readonly coverage?: boolean;
  /** Benchmarks: each worker also takes its thread's CPU time around its op loops (perCpu[].steady.cpuMs). */
  readonly measureCpu?: boolean;
  /** Aborting it (SIGINT) stops the run like a spent budget: the workers finish their op, counts come back. */
  readonly signal?: AbortSignal;
}

export interface StressOutcome {
  readonly ops: number;
  readonly steps: number;
  readonly durationMs: number;
  readonly slices: number;
  readonly violation: Violation | undefined;
  readonly outcomes: Record<string, number>;
  /** Per vCPU; `steady`: its op loops from its second slice on (what a step rate should be taken over). */
  readonly perCpu: readonly { readonly ops: number; readonly steps: number; readonly steady?: SteadyState }[];
  /** The model's own statistics at the end of the run (ScenarioModel.stats), if it keeps any. */
  readonly stats: Record<string, number | readonly number[]> | undefined;
  /** Steps per declared site over every vCPU and timer, when coverage was asked for. */
  readonly sites: { readonly catalog: SiteCatalog; readonly tally: SiteTally } | undefined;
  /**
   * The op programs that failed, for the explore re-run (stress/reproduce.ts): with freshEachSlice, the
   * failing slice alone (its seed, the ops each vCPU completed in it); otherwise the run's programs from
   * their start.
   */
  readonly failing:
    | {
        readonly slice: number;
        readonly opSeed: number;
        readonly opsPerCpu: readonly number[];
        readonly sliceOnly: boolean;
      }
    | undefined;
}

const POLL_MS = 50;
/** A worker told to stop finishes its op (µs) or its lock park (20 ms); seconds mean it is stuck. */
const EXIT_GRACE_MS = 2_000;

export async function stress(o: StressOptions): Promise<StressOutcome> {
  const n = o.workers;
  const model = o.scenario.build({ cpus: n, variant: o.variant, params: o.params });
  const catalog = o.coverage ? new SiteCatalog(o.scenario, o.variant) : undefined;
  // At least one counter when coverage is on, even for a scenario that declares no site: a worker counts
  // only when it has counters, and undeclared labels are what such a run reports.
  const layout = withControl(model.layout, catalog ? Math.max(1, catalog.keys.length) : 0);
  const mem = allocateMemory(layout);
  const i32 = mem.i32;
  const ctl = controlIndices(layout);
  const modelWords = model.layout.bytes >> 2;
  const reseed = model.freshEachSlice === true;
  model.init(mem);

  const pool = new Piscina<StressTask, StressWorkerResult>({
    filename: workerFile('stress-worker'),
    minThreads: n,
    maxThreads: n,
    idleTimeout: 1_000,
    atomics: 'disabled', // tasks are long; piscina's own Atomics parking buys nothing here
    execArgv: [], // never inherit the parent's flags (vitest's would change module resolution in workers)
  });
  const t0 = performance.now();
  const epochMs = RealClock.epochNow();
  const results: (StressWorkerResult | undefined)[] = Array(n).fill(undefined);
  let crash: string | undefined;
  // Once we terminate workers ourselves (after a hang), their rejections are not crashes to report.
  let terminating = false;
  const tasks = Array.from({ length: n }, (_, cpu) =>
    pool
      .run({
        sab: mem.sab,
        layout,
        scenario: o.scenario.name,
        variant: o.variant.name,
        params: o.params,
        cpus: n,
        cpu,
        seed: o.seed,
        opBudget: o.opBudget,
        reseedEachSlice: reseed,
        epochMs,
        scenarioFile: o.scenarioFile,
        measureCpu: o.measureCpu,
      })
      .then(
        (r) => {
          results[cpu] = r;
        },
        (e: unknown) => {
          if (terminating) return;
          crash ??= `the worker running cpu${cpu} crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
          raiseStop(i32, ctl);
        },
      ),
  );
  const allDone = Promise.all(tasks);

  // This thread's reports (timers, barrier scans) claim the run's first violation as reporter `n`.
  const checker = new ClaimingChecker(o.scenario.invariants, i32, ctl, n);
  const tally = catalog ? newTally(catalog) : undefined;
  const countSite = (label: string): void => tallyLabel(catalog!, tally!, label);
  // Add every vCPU's counters into the run's tally and clear them: at a barrier (workers wait for the next
  // generation, which this thread bumps after) and once the workers have returned.
  const mergeSiteCounters = (): void => {
    if (!tally) return;
    for (let c = 0; c < n; c++) {
      const base = ctl.sites(c);
      for (let k = 0; k < catalog!.keys.length; k++) {
        tally.counts[k]! += i32[base + k]! >>> 0;
        i32[base + k] = 0;
      }
    }
  };
  // A timer callback runs here to its end; with coverage on, its sites are counted like a worker's, and
  // its expiry under the label explore gives it.
  const runCallback = (op: Op<unknown>, name: string): void => {
    if (!tally) {
      for (let r = op.next(); !r.done; r = op.next());
      return;
    }
    countSite(`timer ${name} fires`);
    for (let r = op.next(); !r.done; r = op.next()) countSite(r.value);
  };
  // The model's timers fire here, on the main thread, on real time, while the workers run.
  const clock = new RealClock(epochMs);
  const timers = (model.timers ?? []).map((t, k) => {
    const cpu = new Cpu(n + k, 'stress', mem, checker, ctl.stop, clock);
    cpu.thisCpu = Math.min(t.runsOn ?? 0, n - 1);
    cpu.name = `timer:${t.ref.name}`;
    taskOf(cpu).waitLimitMs = o.watchdogMs; // this thread is the watchdog: it must never block for good
    return { spec: t, cpu };
  });
  const fireDueTimers = (): number => {
    for (const t of timers) {
      if (!claimDueTimer(i32, mem.i64, t.spec.ref, clock.now())) continue;
      try {
        runCallback(t.spec.callback(t.cpu), t.spec.ref.name);
      } catch (e) {
        if (e instanceof StuckWait) {
          hung ??= `watchdog: timer ${t.spec.ref.name}: ${e.message}`;
          raiseStop(i32, ctl);
        } else if (!(e instanceof StopRun)) throw e;
      }
      Atomics.store(i32, t.spec.ref.runningIndex, 0);
      if (checker.failed) {
        failingSlice = slice;
        raiseStop(i32, ctl);
      }
    }
    return (
      (nextDeadline(
        mem.i64,
        timers.map((t) => t.spec.ref),
      ) -
        clock.now()) /
      1e6
    );
  };
  const watchdog = new Watchdog(n, o.watchdogMs);
  let slice = 0;
  let failingSlice = -1;
  let hung: string | undefined;
  const stopped = () => Atomics.load(i32, ctl.stop) !== 0;
  const finishedCount = () => {
    let k = 0;
    for (let c = 0; c < n; c++) if (Atomics.load(i32, ctl.phase(c)) === PHASE_FINISHED) k++;
    return k;
  };
  const sumOps = () => {
    let s = 0;
    for (let c = 0; c < n; c++) s += Atomics.load(i32, ctl.heartbeat(c)) >>> 0;
    return s;
  };
  // The time budget counts from the moment every worker is running ops, not from the pool's creation:
  // starting workers (and loading a scenario file in each) takes 0.1-1 s here, which a short budget
  // would otherwise spend on start-up and report as a slow model.
  let budgetT0 = Number.POSITIVE_INFINITY;
  const allStarted = (): boolean => {
    for (let c = 0; c < n; c++) {
      if (Atomics.load(i32, ctl.heartbeat(c)) === 0 && Atomics.load(i32, ctl.phase(c)) === PHASE_RUNNING) return false;
    }
    return true;
  };
  const check = (): boolean => {
    if (budgetT0 === Number.POSITIVE_INFINITY && allStarted()) budgetT0 = performance.now();
    hung = watchdog.check(i32, ctl);
    if (hung) raiseStop(i32, ctl);
    o.onProgress?.({ elapsedMs: performance.now() - t0, ops: sumOps(), slices: slice });
    return !stopped();
  };

  // A pending Atomics.waitAsync does not keep Node's event loop alive, and piscina unrefs a worker once its
  // task is done: without a ref'ed handle of our own, a run whose workers have all returned while this
  // thread is parked lets Node exit (code 13, top-level await never settled) with nothing printed.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const abort = () => {
    raiseStop(i32, ctl);
  };
  o.signal?.addEventListener('abort', abort);
  if (o.signal?.aborted) abort();
  try {
    let active = n;
    for (;;) {
      // The slice runs until its time is up, or everyone still active has finished its op budget. The first
      // slice's time counts from the moment every worker is running ops, as the budget's does: on a loaded
      // machine a worker can start after a whole slice, which then measured nothing (0 ops at its barrier).
      const sliceEndFrom = (start: number) => Math.min(start + o.sliceMs, budgetT0 + o.timeMs);
      let sliceEnd = budgetT0 === Number.POSITIVE_INFINITY ? budgetT0 : sliceEndFrom(performance.now());
      for (let now = performance.now(); now < sliceEnd && check(); now = performance.now()) {
        if (sliceEnd === Number.POSITIVE_INFINITY && budgetT0 !== Number.POSITIVE_INFINITY)
          sliceEnd = sliceEndFrom(budgetT0);
        const untilTimer = fireDueTimers();
        const arrived = Atomics.load(i32, ctl.arrived);
        if (arrived >= active || stopped()) break;
        await parkMain(i32, ctl, arrived, Math.min(POLL_MS, sliceEnd - now, Math.max(0.5, untilTimer)));
      }
      if (stopped()) break;
      Atomics.store(i32, ctl.sliceEnd, 1);
      // Barrier: wait for every active worker to finish its op and arrive. Timers keep firing until then:
      // an op in flight may be waiting for one (the model is quiescent only once everyone is here).
      for (
        let arrived = Atomics.load(i32, ctl.arrived);
        arrived < active && check();
        arrived = Atomics.load(i32, ctl.arrived)
      ) {
        const untilTimer = fireDueTimers();
        await parkMain(i32, ctl, arrived, Math.min(POLL_MS, Math.max(0.5, untilTimer)));
      }
      if (stopped()) break;
      pausePoint('stress-barrier'); // tests: "a slice has run" (noted once), e.g. before sending SIGINT
      model.quiescent(mem, (inv, msg) => {
        checker.report(inv, msg, -1, slice, 'quiescent');
      });
      mergeSiteCounters();
      active = n - finishedCount();
      const last = active === 0 || performance.now() - budgetT0 >= o.timeMs;
      // The final drain changes the model: only where the slice's state is thrown away after it — at the
      // run's last barrier, and at every DRAIN_EVERY-th slice of a freshEachSlice model (a drain costs
      // about one quiescent scan: on every 10 ms slice it would cost stress a good part of its steps/s).
      if (model.drain && !checker.failed && (last || (reseed && slice % DRAIN_EVERY === 0)))
        model.drain(mem, (inv, msg) => {
          checker.report(inv, msg, -1, slice, 'final drain');
        });
      if (checker.failed) {
        failingSlice = slice;
        raiseStop(i32, ctl);
        break;
      }
      if (last) {
        raiseStop(i32, ctl);
        break;
      }
      if (reseed) {
        i32.fill(0, 0, modelWords);
        model.init(mem);
      }
      // Clear the slice's flags *before* publishing the new generation (workers read them after it).
      Atomics.store(i32, ctl.arrived, 0);
      Atomics.store(i32, ctl.sliceEnd, 0);
      slice++;
      watchdog.newSlice(i32, ctl);
      Atomics.add(i32, ctl.generation, 1);
      Atomics.notify(i32, ctl.generation);
    }
    const exited = await Promise.race([allDone.then(() => true), sleep(EXIT_GRACE_MS).then(() => false)]);
    if (!exited) hung ??= `a worker did not stop within ${EXIT_GRACE_MS / 1000}s of being told to`;
  } finally {
    terminating = true;
    await pool.destroy();
    clearInterval(keepAlive);
    o.signal?.removeEventListener('abort', abort);
  }
  if (crash) throw new HarnessError(crash);
  if (hung) throw new HarnessError(hung);
  mergeSiteCounters(); // the last slice's steps (the workers have returned)

  const done = results as StressWorkerResult[];
  const outcomes: Record<string, number> = {};
  for (const [k, v] of checker.outcomes) outcomes[k] = (outcomes[k] ?? 0) + v;
  for (const r of done) {
    for (const [k, v] of Object.entries(r.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
    for (const [l, v] of Object.entries(r.undeclaredSites))
      tally?.undeclared.set(l, (tally.undeclared.get(l) ?? 0) + v);
  }
  // The run's violation is the one reported first (claimFirstFailure), not the lowest worker's: a worker
  // goes on until it sees STOP and may meet what another's bug did first (mapsg/domain-list-unlocked: cpu1
  // commits cpu0's parked run, MAPSG-ONCE; cpu0's own commit of it then fails -EEXIST and its map_sg
  // returns with the run mapped, MAPSG-ERROR), which explore, stopping at the first, never reports.
  const first = firstFailure(i32, ctl);
  let violation: Violation | undefined;
  if (first === n) violation = checker.violations[0];
  else if (first >= 0) {
    violation = done[first]!.violations[0];
    failingSlice = done[first]!.slice;
  }
  return {
    ops: done.reduce((a, r) => a + r.ops, 0),
    steps: done.reduce((a, r) => a + r.steps, 0),
    // From the moment every worker ran (the budget's start); ops done while others started count in it.
    durationMs: performance.now() - (budgetT0 === Number.POSITIVE_INFINITY ? t0 : budgetT0),
    slices: slice + 1,
    violation,
    outcomes,
    perCpu: done.map((r) => ({ ops: r.ops, steps: r.steps, steady: r.steady })),
    stats: model.stats?.(mem),
    sites: catalog && tally ? { catalog, tally } : undefined,
    failing: violation
      ? {
          slice: failingSlice,
          opSeed: sliceSeed(o.seed, failingSlice, reseed),
          // A vCPU that spent its op budget in an earlier slice ran nothing in the failing one.
          opsPerCpu: done.map((r) => (!reseed ? r.ops : r.slice === failingSlice ? r.sliceOps : 0)),
          sliceOnly: reseed,
        }
      : undefined,
  };
}

/** Notices a running worker whose heartbeat has not moved for too long. */
class Watchdog {
  private readonly beat: number[];
  private readonly since: number[];
  constructor(
    private readonly n: number,
    private readonly limitMs: number,
  ) {
    this.beat = Array(n).fill(-1);
    this.since = Array(n).fill(performance.now());
  }

  newSlice(i32: Int32Array, ctl: ReturnType<typeof controlIndices>): void {
    const now = performance.now();
    for (let c = 0; c < this.n; c++) {
      this.beat[c] = Atomics.load(i32, ctl.heartbeat(c));
      this.since[c] = now;
    }
  }

  /** A message naming the hung vCPU, or undefined. */
  check(i32: Int32Array, ctl: ReturnType<typeof controlIndices>): string | undefined {
    const now = performance.now();
    for (let c = 0; c < this.n; c++) {
      const b = Atomics.load(i32, ctl.heartbeat(c));
      if (b !== this.beat[c] || Atomics.load(i32, ctl.phase(c)) !== PHASE_RUNNING) {
        this.beat[c] = b;
        this.since[c] = now;
        continue;
      }
      if (now - this.since[c]! > this.limitMs) {
        return `watchdog: cpu${c} made no progress for ${(this.limitMs / 1000).toFixed(1)}s (stuck after op ${b >>> 0}: a livelock, a lost wake-up or an endless loop in the model)`;
      }
    }
    return undefined;
  }
}

const sleep = (ms: number) =>
  new Promise<void>((r) => {
    setTimeout(r, ms).unref();
  });
