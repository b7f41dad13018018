/**
 * A stress worker: one vCPU on a real thread. It runs its op program in slices, driving every op's
 * generator straight to the end (the yields are scheduling points only for the explore executor), and
 * meets the other workers at a barrier between slices (see src/stress/control.ts for the protocol).
 */
import { Cpu, StopRun, type Op } from '../src/engine/cpu.js';
import { AndThen } from '../src/engine/step-op.js';
import { mapMemory } from '../src/engine/layout.js';
import { opRng } from '../src/engine/rng.js';
import { RealClock } from '../src/engine/clock.js';
import { findVariant } from '../src/engine/scenario.js';
import { SiteCatalog } from '../src/engine/coverage.js';
import { loadScenarioFile, scenarioNamed } from '../src/scenarios/registry.js';
import {
  ClaimingChecker,
  controlIndices,
  PHASE_AT_BARRIER,
  PHASE_FINISHED,
  PHASE_RUNNING,
} from '../src/stress/control.js';
import { sliceSeed } from '../src/stress/seeds.js';
import type { StressTask, StressWorkerResult } from '../src/stress/task.js';
import { threadCpuNs } from '../src/bench/thread-cpu.js';

/**
 * The slice-end flag is polled before every 16th op (ops & mask === 0) and at a slice's first: an
 * Atomics.load is ~6 ns here, 1% of a pgtable op, and the main thread's time-based slice end may well
 * wait a few microseconds more. The stop flag stays polled before every op (another vCPU's violation
 * stops this one at once, so the op counts the explore re-run replays stay tight), as the op budget is.
 */
const SLICE_END_POLL_MASK = 15;
/** Spin this many loads for the next slice before parking: released workers then start together. */
const BARRIER_SPINS = 20_000;
const PARK_MS = 20;

export default async function stressWorker(task: StressTask): Promise<StressWorkerResult> {
  if (task.scenarioFile !== undefined) await loadScenarioFile(task.scenarioFile);
  const scenario = scenarioNamed(task.scenario);
  if (!scenario) throw new Error(`worker: unknown scenario '${task.scenario}'`);
  const mem = mapMemory(task.sab, task.layout);
  const i32 = mem.i32;
  const ctl = controlIndices(task.layout);
  const variant = findVariant(scenario, task.variant);
  if (!variant) throw new Error(`worker: scenario ${task.scenario} has no variant '${task.variant}'`);
  const model = scenario.build({ cpus: task.cpus, variant, params: task.params });
  // Whose violation is the run's is decided when it is reported, not by worker order (stress/control.ts).
  const checker = new ClaimingChecker(scenario.invariants, i32, ctl, task.cpu);
  const cpu = new Cpu(task.cpu, 'stress', mem, checker, ctl.stop, new RealClock(task.epochMs));
  const heartbeat = ctl.heartbeat(task.cpu);
  const phase = ctl.phase(task.cpu);
  let slice = 0;
  let prog = model.program(cpu, opRng(sliceSeed(task.seed, 0, task.reseedEachSlice), task.cpu));
  let ops = 0;
  let steps = 0;
  let sliceOps = 0;
  // Site coverage (engine/coverage.ts): this vCPU's counters, in its own padded slot of the buffer, which
  // the main thread reads and clears at slice barriers. Only this thread writes them while a slice runs,
  // so a plain increment does; the barrier's Atomics hand-off orders them for the reader.
  const catalog = ctl.siteCount > 0 ? new SiteCatalog(scenario, variant) : undefined;
  const siteCounters = catalog ? i32.subarray(ctl.sites(task.cpu), ctl.sites(task.cpu) + ctl.siteCount) : undefined;
  const undeclared = new Map<string, number>();
  // Steady state (StressWorkerResult.steady): the op loops of slices 1.., timed around each loop.
  const steady = { ops: 0, steps: 0, ms: 0, cpuNs: task.measureCpu === true ? 0 : undefined };

  // The start barrier (stress/control.ts): every worker runs its first op once all are here.
  Atomics.add(i32, ctl.ready, 1);
  Atomics.notify(i32, ctl.ready);
  const all = task.cpus;
  awaitWord(i32, ctl.ready, ctl.stop, (v) => v >= all);

  try {
    for (;;) {
      const t0 = performance.now();
      const cpu0 = steady.cpuNs !== undefined ? threadCpuNs() : undefined;
      const ops0 = ops;
      const steps0 = steps;
      // One slice: ops until the main thread ends the slice, the run stops, or the budget is spent.
      for (let first = true; ops < task.opBudget && Atomics.load(i32, ctl.stop) === 0; first = false) {
        if ((first || (ops & SLICE_END_POLL_MASK) === 0) && Atomics.load(i32, ctl.sliceEnd) !== 0) break;
        const op = prog.next();
        cpu.step = steps;
        // A model call with the program's check after it (andThen): resume the model's op itself and run
        // the check on its result, as the andThen op would within the last step, one call per step fewer.
        const checked = op instanceof AndThen ? (op as AndThen<unknown, unknown>) : undefined;
        const run: Op<unknown> = checked ? checked.detach() : op;
        let r = run.next();
        if (siteCounters) {
          for (; !r.done; r = run.next()) {
            cpu.site = r.value;
            steps++;
            const k = catalog!.indexOf(r.value);
            if (k >= 0) siteCounters[k]!++;
            else undeclared.set(r.value, (undeclared.get(r.value) ?? 0) + 1);
          }
        } else {
          for (; !r.done; r = run.next()) {
            cpu.site = r.value;
            steps++;
          }
        }
        checked?.complete(r.value);
        ops++;
        sliceOps++;
        // The heartbeat is a progress hint for the main thread's watchdog (an aligned Int32 store never
        // tears, and the reader's Atomics.load sees it soon): a plain store, a third of an Atomics.store.
        i32[heartbeat] = ops | 0;
        if (checker.failed) {
          Atomics.store(i32, ctl.stop, 1);
          Atomics.notify(i32, ctl.stop);
          Atomics.notify(i32, ctl.arrived);
        }
      }
      if (slice > 0) {
        steady.ms += performance.now() - t0;
        steady.ops += ops - ops0;
        steady.steps += steps - steps0;
        if (cpu0 !== undefined) steady.cpuNs! += threadCpuNs()! - cpu0;
      }
      if (Atomics.load(i32, ctl.stop) !== 0) break;
      const finished = ops >= task.opBudget;
      const gen = Atomics.load(i32, ctl.generation);
      Atomics.store(i32, phase, finished ? PHASE_FINISHED : PHASE_AT_BARRIER);
      Atomics.add(i32, ctl.arrived, 1);
      Atomics.notify(i32, ctl.arrived);
      if (finished) break;
      if (!awaitWord(i32, ctl.generation, ctl.stop, (v) => v !== gen)) break;
      Atomics.store(i32, phase, PHASE_RUNNING);
      slice++;
      if (task.reseedEachSlice) {
        prog = model.program(cpu, opRng(sliceSeed(task.seed, slice, true), task.cpu));
        sliceOps = 0;
      }
    }
  } catch (e) {
    // A lock wait noticed STOP mid-op: the run is ending because of something else; not an error here.
    if (!(e instanceof StopRun)) throw e;
  }
  return {
    cpu: task.cpu,
    ops,
    steps,
    sliceOps,
    slice,
    violations: checker.violations,
    outcomes: Object.fromEntries(checker.outcomes),
    undeclaredSites: Object.fromEntries(undeclared),
    steady: {
      ops: steady.ops,
      steps: steady.steps,
      ms: steady.ms,
      cpuMs: steady.cpuNs !== undefined && threadCpuNs() !== undefined ? steady.cpuNs / 1e6 : undefined,
    },
  };
}

/** Wait until `until` holds for the word at `index` (true) or the run stops (false): spin, then park on it. */
function awaitWord(i32: Int32Array, index: number, stopIndex: number, until: (v: number) => boolean): boolean {
  for (let k = 0; k < BARRIER_SPINS; k++) {
    if (until(Atomics.load(i32, index))) return true;
    if (Atomics.load(i32, stopIndex) !== 0) return false;
  }
  for (;;) {
    if (Atomics.load(i32, stopIndex) !== 0) return false;
    const v = Atomics.load(i32, index);
    if (until(v)) return true;
    Atomics.wait(i32, index, v, PARK_MS);
  }
}
