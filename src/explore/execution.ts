/**
 * One explored execution: all vCPUs (and the model's timers) in this thread, a scheduler choosing who
 * runs at every scheduling point, every decision recorded. Given (model, op seed, ops per vCPU,
 * decisions) an execution is a pure function, which is what makes replay and shrinking work.
 *
 * A step resumes the chosen task at the site it is paused at: it performs that shared access and runs
 * its local code up to the next site (or the end of its op, in which case its next op is started and
 * run up to its first site, which touches nothing shared). Tasks 0..N-1 are the vCPUs; N.. are timers,
 * runnable once the virtual clock passes their deadline (see engine/timer.ts).
 */
import { createHash } from 'node:crypto';
import { judgeRelations } from '../check/judged.js';
import { Checker } from '../check/checker.js';
import { HarnessError } from '../errors.js';
import type { Violation } from '../check/invariant.js';
import { Cpu, type Access, type NoteSink, type Op, type Site } from '../engine/cpu.js';
import { zeroMemory, type Memory } from '../engine/layout.js';
import { opRng } from '../engine/rng.js';
import type { ScenarioDef, ScenarioModel, VcpuProgram } from '../engine/scenario.js';
import { lockOwner } from '../engine/sync.js';
import { VirtualClock } from '../engine/clock.js';
import { taskOf } from '../engine/task.js';
import { claimDueTimer } from '../engine/timer.js';
import type { MemoryMode } from '../engine/memory-order.js';
import { WeakMemory, type WeakNote } from '../engine/weak-memory.js';
import type { Scheduler } from './scheduler.js';

export interface ExecutionSpec {
  readonly scenario: ScenarioDef;
  readonly model: ScenarioModel;
  /** Reused between executions: zeroed and re-initialised at the start of each. */
  readonly mem: Memory;
  readonly opSeed: number;
  /** Ops each vCPU draws from its program; its length is the number of vCPUs (0 = that vCPU sits out). */
  readonly opsPerCpu: readonly number[];
  /**
   * Per vCPU, indices of drawn ops that are not run (shrinking removes ops from the middle of a program
   * this way). Sound because a program's next() touches no shared state: an op that never runs leaves
   * no trace but its draw from the vCPU's rng.
   */
  readonly skip?: readonly (readonly number[])[];
  readonly maxSteps: number;
  /** Record (task, site, op) events and a trace hash. Off for speed while exploring. */
  readonly trace?: boolean;
  /** Outcomes that stop the execution like a FORBIDDEN one (Checker stopOn). */
  readonly stopOn?: ReadonlySet<string>;
  /**
   * A wall-clock deadline (performance.now() ms) for a search: past it the execution is abandoned with
   * OutOfTime, checked every 65,536 steps. Replays and checks never set it: they must run to the end.
   */
  readonly deadline?: number;
  /**
   * Site coverage: the steps taken at each site are added to this map (pass a fresh map for one
   * execution's counts, the same one for a campaign's total). Off (undefined) costs one test per step.
   */
  readonly siteCounts?: Map<Site, number>;
  /**
   * `weak`: the order.ts primitives go through a WeakMemory (engine/weak-memory.ts), whose every
   * freedom is a recorded choice; `sc` (the default): they are plain Atomics.
   */
  readonly memory?: MemoryMode;
  /**
   * Untimed (explore --strategy dfs; recorded in its tokens): virtual time orders nothing. A timer is
   * runnable from the step that arms it, its firing one more scheduler choice, instead of once the
   * virtual clock passes its deadline; and a task waiting for a lock or a word (sync.ts) is not runnable
   * until its next step can proceed, instead of spending a step on a failed attempt. Every execution of
   * the timed semantics is one of the untimed (a timer fires at a due point, which is after its arming;
   * a failed attempt changes no shared state, so dropping it leaves every other step as it was), so
   * untimed is the larger set: what it finds clean is clean with deadlines too. A timer firing earlier
   * than its timeout is real for a guest (the arming vCPU may be descheduled for that long); no model
   * compares a deadline with anything but 0. Why dfs needs it: with deadlines, a step's position in the
   * execution decides when a timer falls due, so the step that arms it (reading the clock) depends on
   * every step, and a failed attempt matters because it moves time. Default false; a scheduler may ask
   * for it (Scheduler.untimed).
   */
  readonly untimed?: boolean;
}

/** An execution abandoned at its search's deadline (ExecutionSpec.deadline): no outcome, time is up. */
export class OutOfTime extends Error {
  constructor() {
    super('out of time');
    this.name = 'OutOfTime';
  }
}

export type TraceEvent =
  | { readonly kind: 'op'; readonly cpu: number; readonly step: number; readonly text: string }
  | { readonly kind: 'step'; readonly cpu: number; readonly step: number; readonly site: Site }
  /** What the step read or wrote (Cpu.note), recorded right after that step's event. */
  | NoteEvent;

export interface NoteEvent {
  readonly kind: 'note';
  readonly cpu: number;
  readonly step: number;
  readonly access: Access;
  readonly where: string;
  readonly index: number;
  readonly value: number | bigint;
  readonly old: number | bigint | undefined;
  /** Under --memory weak, what a weak choice did: "cpu0's store of 1 not yet visible". */
  readonly detail?: string;
}

export interface ExecutionResult {
  /** The first FORBIDDEN violation, if any. */
  readonly violation: Violation | undefined;
  readonly steps: number;
  readonly ops: number;
  /** The task chosen at each step, each followed by that step's weak-memory choices (if any). */
  readonly decisions: Uint8Array;
  /** Context switches away from a task that could have gone on. */
  readonly preemptions: number;
  readonly outcomes: ReadonlyMap<string, number>;
  readonly trace: readonly TraceEvent[] | undefined;
  /** Column names: cpu0.. then timer:<name>. */
  readonly taskNames: readonly string[];
  /** sha256 (16 hex digits) of the decisions and sites; only when traced. */
  readonly traceHash: string | undefined;
  /** The execution ran untimed (ExecutionSpec.untimed, or the scheduler asked for it). */
  readonly untimed: boolean;
}

const DEFAULT_NS_PER_STEP = 1_000;
/** A decision is one byte: a weak-memory choice has at most this many options. */
export const MAX_CHOICES = 256;

function grow(a: Uint8Array): Uint8Array {
  const grown = new Uint8Array(a.length * 2);
  grown.set(a);
  return grown;
}

export function runExecution(spec: ExecutionSpec, scheduler: Scheduler, stepsHint = 0): ExecutionResult {
  const { model, mem, opsPerCpu, maxSteps } = spec;
  const n = opsPerCpu.length;
  const timers = model.timers ?? [];
  const tasks = n + timers.length;
  if (tasks > 255) throw new RangeError('explore: at most 255 vCPUs and timers');
  zeroMemory(mem);
  model.init(mem);
  const checker = new Checker(spec.scenario.invariants, spec.stopOn);
  const untimed = spec.untimed === true || scheduler.untimed === true;
  const clock = new VirtualClock();
  const nsPerStep = model.nsPerStep ?? DEFAULT_NS_PER_STEP;
  const cpus: Cpu[] = [];
  const progs: VcpuProgram[] = [];
  const ops: (Op<unknown> | undefined)[] = Array(tasks).fill(undefined);
  const started = new Int32Array(n);
  const skip = spec.skip;
  let skipped = 0;
  /** vCPUs: program done. Timers: never (they are idle or running). */
  const finished: boolean[] = Array(tasks).fill(false);
  const site: Site[] = Array(tasks).fill('start');
  const taskNames = [...Array.from({ length: n }, (_, c) => `cpu${c}`), ...timers.map((t) => `timer:${t.ref.name}`)];
  const trace: TraceEvent[] | undefined = spec.trace ? [] : undefined;
  const hash = spec.trace ? createHash('sha256') : undefined;
  /**
   * This execution's steps per site, added into spec.siteCounts when it ends (however it ends): a counter
   * box per site takes one Map lookup per step where counting straight into the total took two.
   */
  const siteCounts = spec.siteCounts ? new Map<Site, number[]>() : undefined;
  let step = 0;

  // Start vCPU c's next op and run it to its first site; mark it finished when its program is done.
  const advance = (c: number): void => {
    const cpu = cpus[c]!;
    for (;;) {
      if (started[c]! >= opsPerCpu[c]!) {
        finished[c] = true;
        ops[c] = undefined;
        return;
      }
      site[c] = 'start of op';
      const op = progs[c]!.next();
      if (skip?.[c]?.includes(started[c]!)) {
        started[c]!++;
        skipped++;
        continue;
      }
      started[c]!++;
      if (trace) trace.push({ kind: 'op', cpu: c, step, text: progs[c]!.describe() });
      ops[c] = op;
      cpu.step = step;
      const r = op.next();
      if (!r.done) {
        site[c] = r.value;
        return;
      }
    }
  };
  // A timer's callback has returned: it is idle again (maybe re-armed by the callback).
  const timerDone = (t: number): void => {
    ops[t] = undefined;
    Atomics.store(mem.i32, timers[t - n]!.ref.runningIndex, 0);
  };

  const noteSink: NoteSink | undefined = trace
    ? (task, access, where, index, value, old) => {
        trace.push({ kind: 'note', cpu: task, step: cpus[task]!.step, access, where, index, value, old });
      }
    : undefined;
  for (let c = 0; c < tasks; c++) {
    const cpu = new Cpu(c, 'explore', mem, checker, -1, clock);
    if (untimed) taskOf(cpu).waitsLazily = true;
    if (noteSink) {
      cpu.tracing = true;
      cpu.noteSink = noteSink;
    }
    if (c >= n) {
      cpu.thisCpu = Math.min(timers[c - n]!.runsOn ?? 0, n - 1);
      cpu.name = taskNames[c]!;
    }
    cpus.push(cpu);
    if (c < n) progs.push(model.program(cpu, opRng(spec.opSeed, c)));
  }
  // Model code that throws is a finding (EXCEPTION), with the step it threw at: replayable like any other.
  const threw = (c: number, e: unknown): void => {
    if (e instanceof HarnessError) throw e;
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    const at = e instanceof Error ? atSite(e) : '';
    const message = `${taskNames[c]} threw ${what} at '${site[c]}'${at ? ` (${at})` : ''}`;
    checker.report('EXCEPTION', message, c, step, site[c]!);
    finished[c] = true;
    ops[c] = undefined;
  };
  for (let c = 0; c < n && !checker.failed; c++) {
    try {
      advance(c);
    } catch (e) {
      threw(c, e);
    }
  }
  const state = cpus.map(taskOf);

  scheduler.newExecution(tasks, stepsHint);
  let decisions: Uint8Array = new Uint8Array(Math.max(64, stepsHint + 16));
  /** Decisions recorded: one vCPU pick per step, and after it the step's weak-memory choices. */
  let nd = 0;
  /**
   * A weak-memory choice among `count` (engine/weak-memory.ts): asked of the scheduler, recorded in the
   * decision list after the step's vCPU pick and hashed into the trace hash. A single option is no
   * decision: it is neither asked nor recorded.
   */
  const choose = (count: number, kind: string, loc: number, older: number): number => {
    if (count <= 1) {
      scheduler.weakAccess?.(kind);
      return 0;
    }
    if (count > MAX_CHOICES) throw new HarnessError(`explore: a choice among ${count} values (at most ${MAX_CHOICES})`);
    const k = scheduler.nextChoice(count, kind, loc, older);
    if (!(k >= 0 && k < count)) throw new HarnessError(`explore: the scheduler chose ${k} of ${count} (${kind})`);
    if (nd === decisions.length) decisions = grow(decisions);
    decisions[nd++] = k;
    if (hash) hash.update(`=${k}\n`);
    return k;
  };
  const weakNote: WeakNote | undefined = trace
    ? (task, access, where, index, value, detail) => {
        const step = cpus[task]!.step;
        trace.push({ kind: 'note', cpu: task, step, access, where, index, value, old: undefined, detail });
      }
    : undefined;
  const wm = spec.memory === 'weak' ? new WeakMemory(mem, n, choose, weakNote, scheduler.weakLog?.()) : undefined;
  /** The vCPU whose store buffer a task uses: its own, or for a timer the CPU it runs on. */
  const memCpu = cpus.map((cpu) => (cpu.id < n ? cpu.id : cpu.thisCpu));
  if (wm) for (const cpu of cpus) cpu.weak = wm.handle(cpu.id, memCpu[cpu.id]!);
  const i32 = mem.i32;
  let current = -1;
  let preemptions = 0;

  // The task whose model code is running (for EXCEPTION): one try around the whole loop, not one per
  // step, keeps the hot loop as V8 optimises it best; an exception ends the execution anyway.
  let running = -1;
  // The runnable set is rebuilt only when it can have changed: while no task waits on a word and there
  // are no timers it changes only when the task that just ran finished or blocked; otherwise (a waiter
  // may be woken by any step, a timer may fall due) at every step. A rebuilt set is a fresh array (the
  // strategies never keep one), so a reused one is exactly what a rebuild would give.
  let runnable: number[] = [];
  let alive = 0;
  let rescan = true;
  /** Whether the previous step's task is in `runnable` (a switch away from it is a preemption). */
  let currentRunnable = false;
  /** Untimed: every vCPU is done and the 'end' choice let the armed timers run (until one fires). */
  let overtime = false;
  const stepDone = scheduler.stepDone !== undefined;
  const waited = scheduler.waited?.bind(scheduler);
  try {
    for (; !checker.failed;) {
      if (rescan) {
        runnable = [];
        alive = 0;
        currentRunnable = false;
        let waiting = false;
        for (let c = 0; c < n; c++) {
          if (finished[c]) continue;
          alive++;
          const b = state[c]!.blockedOn;
          if (b >= 0) waiting = true;
          if (b < 0 || Atomics.load(i32, b) === 0) {
            runnable.push(c);
            if (c === current) currentRunnable = true;
          }
        }
        for (let t = n; t < tasks; t++) {
          if (ops[t]) {
            // a callback in progress: runnable like a vCPU, and the execution is not over
            alive++;
            const b = state[t]!.blockedOn;
            if (b < 0 || Atomics.load(i32, b) === 0) {
              runnable.push(t);
              if (t === current) currentRunnable = true;
            }
          } else if ((alive > 0 || overtime) && (untimed ? dueAt(t) !== Infinity : dueAt(t) <= clock.ns)) {
            runnable.push(t);
            if (t === current) currentRunnable = true;
          }
        }
        rescan = waiting || tasks > n;
      }
      if (alive === 0) {
        // Every vCPU is done. Timed, the execution ends (a timer not yet due never fires). Untimed, an
        // armed timer could fire now: whether it does is a choice ('end': 0 ends here as timed would,
        // 1 lets the armed timers run), so the executions dfs runs are maximal and its races see the
        // firing (a timer left armed at the end has no step that could race with anything).
        if (!untimed || !timers.some((_, k) => !ops[n + k] && dueAt(n + k) !== Infinity)) break;
        if (!overtime) {
          if (choose(2, 'end', -1, 0) === 0) break;
          overtime = true;
          continue;
        }
      }
      if (runnable.length === 0) {
        // Nobody can run now. If an idle timer is due later, time passes until then; a deadline of a
        // timer whose callback is itself blocked (it re-armed itself) cannot help: that is a deadlock.
        let next = Infinity;
        for (let t = n; t < tasks; t++) if (!ops[t]) next = Math.min(next, dueAt(t));
        if (next !== Infinity && next > clock.ns) {
          clock.ns = next;
          continue;
        }
        checker.report('DEADLOCK', deadlockMessage(cpus, finished, site, ops, n, taskNames), -1, step, 'deadlock');
        break;
      }
      if ((step & 0xffff) === 0xffff && spec.deadline !== undefined && performance.now() > spec.deadline)
        throw new OutOfTime();
      if (step >= maxSteps) {
        checker.report('STEP-BOUND', `execution exceeded ${maxSteps} steps`, current, step, 'step-bound');
        break;
      }
      const c = scheduler.nextCpu(runnable, current);
      if (untimed && waited) {
        if (c >= n && !ops[c]) waited(timers[c - n]!.ref.deadlineIndex * 2, 2, false);
        else if (state[c]!.blockedOn >= 0) waited(state[c]!.blockedOn, 1, true);
      }
      if (c !== current && currentRunnable) preemptions++;
      if (nd === decisions.length) decisions = grow(decisions);
      decisions[nd++] = c;
      const cpu = cpus[c]!;
      cpu.step = step;
      clock.ns += nsPerStep;
      if (c >= n && !ops[c]) {
        // The timer fires: this step is its expiry; the callback then runs to its first site.
        const timer = timers[c - n]!;
        overtime = false;
        claimDueTimer(i32, mem.i64, timer.ref, Infinity);
        const s = `timer ${timer.ref.name} fires`;
        cpu.site = s;
        if (trace) {
          trace.push({ kind: 'step', cpu: c, step, site: s });
          hash!.update(`${c}:${s}\n`);
        }
        step++;
        if (siteCounts) countSite(siteCounts, s);
        site[c] = s;
        running = c;
        if (wm) wm.beginStep(memCpu[c]!);
        const op = timer.callback(cpu);
        const r = op.next();
        if (wm) wm.endStep(state[c]!.blockedOn >= 0);
        if (r.done) timerDone(c);
        else {
          ops[c] = op;
          site[c] = r.value;
        }
      } else {
        const s = site[c]!;
        cpu.site = s;
        if (trace) {
          trace.push({ kind: 'step', cpu: c, step, site: s });
          hash!.update(`${c}:${s}\n`);
        }
        step++;
        if (siteCounts) countSite(siteCounts, s);
        running = c;
        if (wm) wm.beginStep(memCpu[c]!);
        const r = ops[c]!.next();
        if (!r.done) site[c] = r.value;
        else if (c < n) advance(c);
        else timerDone(c);
        if (wm) wm.endStep(state[c]!.blockedOn >= 0);
      }
      running = -1;
      current = c;
      // Still runnable, unless it finished or now waits (then the set is rebuilt).
      currentRunnable = true;
      if (finished[c] || state[c]!.blockedOn >= 0) rescan = true;
      if (stepDone) scheduler.stepDone!();
      if (checker.failed) break;
    }
  } catch (e) {
    if (running < 0) throw e; // the harness's own code, not the model's
    if (wm) wm.endStep(true);
    threw(running, e);
    if (running >= n) timerDone(running);
  } finally {
    // However the execution ends, its site counts go into the campaign's total.
    if (siteCounts) addSiteCounts(spec.siteCounts!, siteCounts);
  }

  function dueAt(t: number): number {
    const d = Atomics.load(mem.i64, timers[t - n]!.ref.deadlineIndex);
    return d === 0n ? Infinity : Number(d);
  }

  // Every store still buffered becomes visible: the final state is the newest store of each location.
  if (wm) wm.finish();
  if (!checker.failed) {
    try {
      model.quiescent(mem, (inv, msg) => {
        checker.report(inv, msg, -1, step, 'quiescent');
      });
      if (model.drain && !checker.failed)
        model.drain(mem, (inv, msg) => {
          checker.report(inv, msg, -1, step, 'final drain');
        });
      if (model.judged && !checker.failed)
        for (const j of judgeRelations(model.judged, checker.outcomes))
          checker.report(j.id, j.message, -1, step, 'judged counts');
    } catch (e) {
      if (e instanceof HarnessError) throw e;
      const at = e instanceof Error ? atSite(e) : '';
      const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      checker.report('EXCEPTION', `the quiescent scan threw ${what}${at ? ` (${at})` : ''}`, -1, step, 'quiescent');
    }
  }
  const violation = checker.violations[0];
  if (hash && violation) hash.update(`violation ${violation.invariant}\n`);
  let opsDone = -skipped;
  for (let c = 0; c < n; c++) opsDone += started[c]!;
  return {
    violation,
    steps: step,
    ops: opsDone,
    decisions: decisions.subarray(0, nd),
    preemptions,
    outcomes: checker.outcomes,
    trace,
    taskNames,
    traceHash: hash ? hash.digest('hex').slice(0, 16) : undefined,
    untimed,
  };
}

function countSite(counts: Map<Site, number[]>, s: Site): void {
  const box = counts.get(s);
  if (box === undefined) counts.set(s, [1]);
  else box[0]!++;
}

function addSiteCounts(into: Map<Site, number>, from: ReadonlyMap<Site, number[]>): void {
  for (const [s, box] of from) into.set(s, (into.get(s) ?? 0) + box[0]!);
}

/** The first stack frame of an exception outside node's internals: "file.ts:123". */
function atSite(e: Error): string {
  for (const line of (e.stack ?? '').split('\n').slice(1)) {
    const m = /\(?([^()\s]+):(\d+):\d+\)?$/.exec(line.trim());
    if (m && !m[1]!.startsWith('node:')) return `${m[1]!.split('/').slice(-2).join('/')}:${m[2]}`;
  }
  return '';
}

function deadlockMessage(
  cpus: readonly Cpu[],
  finished: readonly boolean[],
  site: readonly Site[],
  ops: readonly unknown[],
  n: number,
  names: readonly string[],
): string {
  const parts: string[] = [];
  for (const cpu of cpus) {
    if (cpu.id < n ? finished[cpu.id] : !ops[cpu.id]) continue;
    const task = taskOf(cpu);
    const held = task.held.map((l) => l.name).join(', ') || 'nothing';
    const owner = task.blockedOn >= 0 ? ownerOfWord(cpus, task.blockedOn, names) : '';
    parts.push(`${names[cpu.id]} holds ${held}, waits at '${site[cpu.id]}'${owner}`);
  }
  return `no vCPU can run: ${parts.join('; ')}`;
}

function ownerOfWord(cpus: readonly Cpu[], index: number, names: readonly string[]): string {
  for (const c of cpus) {
    const l = taskOf(c).held.find((h) => h.index === index);
    if (l) return ` (held by ${names[lockOwner(c.i32, l)]})`;
  }
  return '';
}
