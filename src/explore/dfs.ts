/**
 * Exhaustive exploration: depth-first over every decision of an execution, with sleep sets.
 * P. Godefroid, "Partial-Order Methods for the Verification of Concurrent Systems", LNCS 1032, 1996
 * (sleep sets, ch. 5); stateless search as in VeriSoft (Godefroid, POPL 1997) and CHESS's preemption
 * bounding (Musuvathi & Qadeer, PLDI 2007). loom and shuttle's check_dfs do the same walk.
 *
 * An execution is a list of decisions, each "one of `count` options, and which one": the vCPU (or timer)
 * that runs the next step, or a non-scheduling choice (a weak-memory visibility decision, nextChoice).
 * The walk keeps the decision tree's current branch as a stack; an execution replays the stack's
 * choices, then takes the first option at every new decision; the next execution moves the deepest
 * decision with an option left to that option. When the stack empties, every execution has been run.
 *
 * Partial-order reduction (sleep sets). After the subtree under "task t runs next" is done at a
 * decision, t goes to sleep for its sibling subtrees, and stays asleep down a branch while the steps
 * taken commute with t's step (footprint.ts: neither writes a word the other touches; unknown accesses
 * commute with nothing). A sleeping task is not run: every execution it would start is equivalent
 * (the same steps, commuting ones swapped) to one already explored. When every runnable task sleeps,
 * the execution is cut short ("pruned"). Sleep sets alone keep at most one complete execution per
 * equivalence class (Mazurkiewicz trace); every class is explored.
 *
 * With --max-preemptions K only executions with at most K preemptions (a switch away from a task that
 * could go on) are run, and sleep sets are off: pruning by a sleeping sibling is sound only when the
 * sibling's equivalent execution is itself within the bound, which bounding does not promise (Coons,
 * Musuvathi, McKinley, "Bounded partial-order reduction", OOPSLA 2013).
 */
import { HarnessError } from '../errors.js';
import type { Memory } from '../engine/layout.js';
import type { MemoryMode } from '../engine/memory-order.js';
import type { WeakLog } from '../engine/weak-memory.js';
import { independent, installLogging, loggedMemory, Recorder, union, UNKNOWN, type Footprint } from './footprint.js';
import { findRaces, type Step, type Wait } from './races.js';
import { Pruned, type Scheduler } from './scheduler.js';

const CPU = 'cpu';
/** weak-memory.ts's choice of a store: 0 visible at once, 1 buffered. */
const STORE = 'store';

interface Decision {
  /** 'cpu' (who runs next) or the kind of a non-scheduling choice. */
  readonly kind: string;
  /** The options in the order they are tried: task ids, or 0..count-1. */
  readonly options: readonly number[];
  /** Index into options of the branch being explored. */
  at: number;
  // Scheduling decisions only:
  /** Tasks asleep here, with the footprint of their step. */
  readonly sleep: ReadonlyMap<number, Footprint>;
  /** Tasks whose subtree here is done, with their step's footprint (over every choice inside it). */
  readonly done: Map<number, Footprint>;
  /** Source-DPOR: the tasks this decision must try (races found later add to it). */
  readonly backtrack: Set<number>;
  /** The chosen task's step's footprint in the latest execution, and merged over all that took it. */
  last: Footprint | undefined;
  footprint: Footprint | undefined;
  /** In the latest execution: what the chosen task's step waited for, and the words it left non-zero. */
  wait?: Wait;
  nonzero?: ReadonlySet<number>;
  /** Preemptions before this decision, and the task that ran the previous step. */
  readonly preemptions: number;
  readonly current: number;
  // A weak-memory store's choice ('store': 0 visible now, 1 buffered) only:
  /** The stored location's i32 word, and the task that stores. */
  word?: number;
  task?: number;
  /** Another task touched the word after the store, in an execution of the "visible now" subtree. */
  observed?: boolean;
}

/**
 * Does the reduction apply? Not under a preemption bound (see above). Under `--memory weak` it does:
 * the weak memory reports into the footprints what each step and each of its visibility choices touches
 * of the store buffers, coherence histories and views (engine/weak-memory.ts WeakLog), and a step's
 * footprint is the union over every choice explored inside it. (`memory` is kept for the callers: the
 * answer no longer depends on it.)
 */
export function reduces(por: boolean, maxPreemptions: number, _memory?: MemoryMode): boolean {
  return por && maxPreemptions === Infinity;
}

export interface DfsOptions {
  /** Bound on preemptions per execution (Infinity: none). */
  readonly maxPreemptions: number;
  /** Partial-order reduction (sleep sets); forced off by a preemption bound. */
  readonly por: boolean;
  /**
   * Diagnostics (scripts/dfs-races.mjs): called for each race that adds a task to a backtrack set, with
   * the buffer words (i32 indices) the two racing steps conflict on (empty: one of them was unknown)
   * and the two steps' numbers in the execution just run.
   */
  readonly onBacktrack?: (words: readonly number[], i: number, j: number) => void;
}

export class DfsScheduler implements Scheduler {
  /**
   * dfs explores untimed executions (execution.ts ExecutionSpec.untimed): a timer may fire from the step
   * that arms it and a waiter runs only when it can proceed, so no step's effect depends on its position
   * in the execution (the virtual clock steers nothing, footprint.ts) and swapping two commuting steps
   * gives an execution of the same class. Every timed execution is an untimed one, so clean here is
   * clean with deadlines too; the tokens dfs writes say untimed and replay so.
   */
  readonly untimed = true;
  private readonly stack: Decision[] = [];
  /** Next decision of the execution in progress (an index into stack). */
  private pos = 0;
  /** The scheduling decision whose step is running, and that step's footprint once it ended. */
  private stepOf = -1;
  private stepFootprint: Footprint | undefined;
  /** An execution has run since the walk last moved on. */
  private pending = false;
  private done = false;
  private readonly recorder = new Recorder();
  /** The campaign's buffer as i32 words, unlogged (the values the steps left, for Wait). */
  private raw: Int32Array | undefined;
  private stepWait: Wait | undefined;
  private initial: Int32Array | undefined;
  private log: WeakLog | undefined;
  /** The location of the weak store whose choice comes next (WeakLog.storeChoice). */
  private storeWord = -1;
  private readonly por: boolean;
  private tasks = 0;
  /** Decisions below this index ran the same way in the previous execution: their races are known. */
  private changedAt = 0;
  /** A non-scheduling choice was made inside the running step: its footprint may vary between runs. */
  private choiceInStep = false;

  constructor(private readonly o: DfsOptions) {
    this.por = reduces(o.por, o.maxPreemptions);
  }

  /** Logging views and Atomics for the campaign (only when the reduction needs footprints). */
  watch(mem: Memory): { readonly mem: Memory; stop(): void } {
    if (!this.por) return { mem, stop: () => {} };
    this.raw = mem.i32;
    const rec = this.recorder;
    this.log = {
      raw: mem,
      read: (w, n) => rec.read(w, n),
      write: (w, n) => rec.write(w, n),
      catchUp: (w, n) => rec.catchUp(w, n),
      storeChoice: (w) => {
        this.storeWord = w;
      },
    };
    return { mem: loggedMemory(mem, rec), stop: installLogging(rec) };
  }

  /** Under --memory weak: the weak memory's own accesses go into the step's footprint. */
  weakLog(): WeakLog | undefined {
    return this.log;
  }

  /** A non-scheduling decision's accesses cannot be seen (e.g. kept off the buffer): dependent with all. */
  markUnknown(): void {
    this.recorder.markUnknown();
  }

  /** Untimed executions: the chosen task's step waits for `word` to be 0 (`zero`) or not 0. */
  waited(word: number, words: 1 | 2, zero: boolean): void {
    this.stepWait = { word, words, zero };
  }

  exhausted(): boolean {
    if (this.pending) this.moveOn();
    return this.done;
  }

  newExecution(tasks: number): void {
    this.tasks = tasks;
    if (this.pending) this.moveOn();
    if (this.done) throw new HarnessError('dfs: asked for an execution after the last one');
    this.pending = true;
    this.pos = 0;
    this.stepOf = -1;
    this.stepFootprint = undefined;
  }

  stepDone(): void {
    if (this.stepOf < 0) return;
    if (this.por) {
      const fp = this.recorder.end();
      this.stepFootprint = fp;
      const d = this.stack[this.stepOf]!;
      d.last = fp;
      d.wait = this.stepWait;
      // Which written words it left non-zero (races.ts: can a waiter run before this step?).
      d.nonzero = fp.all ? undefined : nonzeroOf(fp, this.raw!);
      // Under sc a decision's step is the same in every execution through it; a choice inside it can
      // change what it touches, and the sleep sets need all of it.
      d.footprint = d.footprint === undefined || !this.choiceInStep ? fp : union(d.footprint, fp);
    }
  }

  nextCpu(runnable: readonly number[], current: number): number {
    // The buffer as init left it (the same in every execution): copied once, before the first step.
    if (this.initial === undefined && this.raw !== undefined && this.pos === 0) this.initial = this.raw.slice();
    const d = this.pos < this.stack.length ? this.replayed(CPU, runnable.length) : this.fresh(runnable, current);
    this.stepOf = this.pos++;
    this.choiceInStep = false;
    this.stepWait = undefined;
    if (this.por) this.recorder.begin();
    return d.options[d.at]!;
  }

  nextChoice(count: number, kind: string): number {
    this.choiceInStep = true;
    if (this.pos < this.stack.length) return this.replayed(kind, count, this.pos++).at;
    const store = kind === STORE && this.storeWord >= 0 && this.stepOf >= 0;
    const step = store ? this.stack[this.stepOf]! : undefined;
    this.stack.push({
      kind,
      options: Array.from({ length: count }, (_, i) => i),
      at: 0,
      sleep: NO_SLEEP,
      done: new Map(),
      backtrack: new Set(),
      last: undefined,
      footprint: undefined,
      preemptions: 0,
      current: -1,
      ...(step ? { word: this.storeWord, task: step.options[step.at]!, observed: false } : {}),
    });
    this.storeWord = -1;
    this.pos++;
    return 0;
  }

  /** The stack's decision at pos, checked against what the execution offers now. */
  private replayed(kind: string, count: number, at = this.pos): Decision {
    const d = this.stack[at]!;
    if (d.kind !== kind || d.options.length !== count) {
      throw new HarnessError(
        `dfs: decision ${at} offers ${count} '${kind}' options, its first run offered ` +
          `${d.options.length} '${d.kind}' (uncontrolled nondeterminism in the model?)`,
      );
    }
    return d;
  }

  private fresh(runnable: readonly number[], current: number): Decision {
    const parent = this.stepOf >= 0 ? this.stack[this.stepOf]! : undefined;
    const preemptions = parent
      ? parent.preemptions + (isPreemption(parent.options[parent.at]!, parent.current, parent.options) ? 1 : 0)
      : 0;
    const sleep = new Map<number, Footprint>();
    if (this.por && parent) {
      const ran = parent.options[parent.at]!;
      const fp = this.stepFootprint!;
      for (const m of [parent.sleep, parent.done]) {
        for (const [t, f] of m) if (t !== ran && independent(f, fp)) sleep.set(t, f);
      }
    }
    // The running task first (no preemption), then the others in ascending order: deterministic, and
    // the first execution is the non-preemptive one.
    const options = runnable.includes(current) ? [current, ...runnable.filter((t) => t !== current)] : [...runnable];
    const d: Decision = {
      kind: CPU,
      options,
      at: -1,
      sleep,
      done: new Map(),
      backtrack: new Set(),
      last: undefined,
      footprint: undefined,
      preemptions,
      current,
    };
    d.at = this.nextOption(d, false);
    if (d.at < 0) throw PRUNED;
    // Source-DPOR starts a decision with one task; the races of the executions below add the others.
    d.backtrack.add(d.options[d.at]!);
    this.stack.push(d);
    return d;
  }

  /**
   * The first option that is awake, not done, within the preemption bound and (with `backtrackOnly`)
   * in the backtrack set; -1 if none.
   */
  private nextOption(d: Decision, backtrackOnly: boolean): number {
    for (let i = 0; i < d.options.length; i++) {
      const t = d.options[i]!;
      if (d.sleep.has(t) || d.done.has(t)) continue;
      if (backtrackOnly && !d.backtrack.has(t)) continue;
      if (isPreemption(t, d.current, d.options) && d.preemptions + 1 > this.o.maxPreemptions) continue;
      return i;
    }
    return -1;
  }

  /** After an execution: the deepest decision with an option left takes it; the rest of the branch goes. */
  private moveOn(): void {
    this.pending = false;
    // Decisions past pos were not reached (an execution that ended early replays a shorter prefix only if
    // the model is nondeterministic, which replayed() reports); drop them.
    this.stack.length = Math.min(this.stack.length, this.pos);
    if (this.por) {
      this.addBacktracks();
      this.markObserved();
    }
    while (this.stack.length > 0) {
      const d = this.stack[this.stack.length - 1]!;
      let next: number;
      if (d.kind === CPU) {
        d.done.set(d.options[d.at]!, d.footprint ?? UNSEEN);
        d.footprint = undefined;
        next = this.nextOption(d, this.por);
      } else if (this.por && d.word !== undefined && !d.observed) next = -1;
      else next = d.at + 1 < d.options.length ? d.at + 1 : -1;
      if (next >= 0) {
        d.at = next;
        this.changedAt = this.stack.length - 1;
        return;
      }
      this.stack.pop();
    }
    this.done = true;
  }

  /**
   * A weak store's "buffered" option is worth running only if some other task can tell: buffering it
   * changes nothing but what other CPUs (and timers and the device) may read of its location, and the
   * coherence order against their stores to it, so an execution in which no other task touches the
   * location after the store (in the "visible now" subtree) has no buffered counterpart that differs.
   * The writer itself reads its buffered store by forwarding and its own view of the location only
   * after it, so what it sees is the same; what its later stores carry differs only in that location's
   * entry, which again matters only to a task that reads it; the end state is the same (every store is
   * committed at the end, and no other store to the location can come between). This is the
   * store-buffer flush as a delayed action that matters only when it races with an access of another
   * thread (Abdulla, Aronis, Atig, Jonsson, Leonardsson, Sagonas, "Stateless model checking for TSO and
   * PSO", TACAS 2015), with the flush kept inside the store's step. The mark is made in the "visible now"
   * subtree, which is explored first, before the option is considered; DPOR explores a representative
   * of every class there, and an access of the location is dependent with the store, so it comes after
   * the store in every execution of a class that has it.
   */
  private markObserved(): void {
    for (let k = 0; k < this.stack.length; k++) {
      const d = this.stack[k]!;
      if (d.word === undefined || d.observed || d.at !== 0) continue;
      const w = d.word;
      for (let j = k + 1; j < this.stack.length; j++) {
        const e = this.stack[j]!;
        if (e.kind !== CPU || e.options[e.at] === d.task) continue;
        const f = e.last ?? UNKNOWN;
        if (f.all || (f.seen ?? f.reads).has(w) || f.writes.has(w) || f.updates.has(w)) {
          d.observed = true;
          break;
        }
      }
    }
  }

  /** Source sets: each race of the execution just run adds a task to the decision before its first step. */
  private addBacktracks(): void {
    const steps: (Step & { at: number })[] = [];
    let from = -1;
    for (let k = 0; k < this.stack.length; k++) {
      const d = this.stack[k]!;
      if (d.kind !== CPU) continue;
      // The step of the last scheduling decision at or before the first changed one is new too.
      if (k <= this.changedAt) from = steps.length;
      steps.push({ task: d.options[d.at]!, footprint: d.last ?? UNSEEN, at: k, wait: d.wait, nonzero: d.nonzero });
    }
    findRaces(
      steps,
      this.tasks,
      Math.max(0, from),
      (i, initials, j) => {
        const d = this.stack[steps[i]!.at]!;
        if (initials.some((t) => d.backtrack.has(t))) return;
        this.o.onBacktrack?.(conflicts(steps[i]!.footprint, steps[j]!.footprint), i, j);
        const t = initials.find((q) => d.options.includes(q));
        // An initial that could not run there (a timer not yet due at that step): try every task there.
        if (t === undefined) for (const q of d.options) d.backtrack.add(q);
        else d.backtrack.add(t);
      },
      this.initial,
    );
  }
}

const NO_SLEEP: ReadonlyMap<number, Footprint> = new Map();
/** One instance: an Error's stack trace costs more than a short execution. */
const PRUNED = new Pruned('every runnable task sleeps');
/** The step of a decision that was never completed (the execution stopped inside it): assume the worst. */
const UNSEEN: Footprint = UNKNOWN;

/** The words two dependent footprints conflict on (for diagnostics). */
function conflicts(a: Footprint, b: Footprint): number[] {
  if (a.all || b.all) return [];
  const out = new Set<number>();
  for (const w of a.writes) if (b.writes.has(w) || b.reads.has(w) || b.updates.has(w)) out.add(w);
  for (const w of b.writes) if (a.reads.has(w) || a.updates.has(w)) out.add(w);
  for (const w of a.updates) if (b.reads.has(w)) out.add(w);
  for (const w of b.updates) if (a.reads.has(w)) out.add(w);
  return [...out];
}

/** The written words a step left non-zero. */
function nonzeroOf(fp: Footprint, raw: Int32Array): Set<number> {
  const nz = new Set<number>();
  for (const w of fp.writes) if (raw[w] !== 0) nz.add(w);
  return nz;
}

function isPreemption(t: number, current: number, runnable: readonly number[]): boolean {
  return current >= 0 && t !== current && runnable.includes(current);
}
