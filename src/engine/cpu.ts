/**
 * The execution contract between model code and the two executors.
 *
 * A model operation is a generator that yields a site label right before each access to shared state
 * (DESIGN.md "Execution model"). Between two yields the code touches only the vCPU's own locals, so in
 * explore mode everything between two scheduling points runs atomically, and the explore scheduler
 * decides who goes next at every yield. The stress executor drives the same generator straight to its
 * end on a real thread, so the very same code runs under both.
 */
import type { Checker } from '../check/checker.js';
import type { Memory } from './layout.js';
import type { MemoryOrder } from './memory-order.js';
import { VirtualClock, type Clock } from './clock.js';
import type { Site } from './site.js';
import { TASK, TaskState } from './task.js';

export type { LockRef } from './lock-ref.js';
export type { Site } from './site.js';

/** A model operation (or a piece of one, composed with `yield*`). */
export type Op<R = void> = Generator<Site, R, void>;

export type Mode = 'stress' | 'explore';

/** Thrown inside a stress worker when the run is being stopped (violation elsewhere, watchdog). */
export class StopRun extends Error {
  constructor() {
    super('run stopped');
    this.name = 'StopRun';
  }
}

/** Thrown when a stress-mode wait exceeds TaskState.waitLimitMs: a deadlock the watchdog cannot see. */
export class StuckWait extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StuckWait';
  }
}

/**
 * What a traced step did to a shared location (trace notes): `read` a value, `write` one, or a
 * read-modify-write (`cmpxchg`, `xchg`, `add`) from an old value to a new one.
 */
export type Access = 'read' | 'write' | 'cmpxchg' | 'xchg' | 'add';

/** Receives the notes of a traced explored execution (explore/execution.ts). */
export type NoteSink = (
  task: number,
  access: Access,
  where: string,
  index: number,
  value: number | bigint,
  old: number | bigint | undefined,
) => void;

/** One virtual CPU as the model code sees it. */
export class Cpu {
  readonly explore: boolean;
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
  /** Site of the scheduling point the vCPU last yielded (for violation records). */
  site: Site = 'start';
  /** Steps taken: per vCPU in stress mode, the execution's global step in explore mode. */
  step = 0;
  /** The executor's state of this task (engine/task.ts): not for model code. */
  readonly [TASK]: TaskState;
  /**
   * smp_processor_id(): whose per-CPU structures this task uses. A vCPU's own id; a timer task runs on
   * the CPU its TimerSpec names (like a softirq, it interrupts that CPU's task — the per-CPU locks are
   * what keep the two apart).
   */
  thisCpu: number;
  /** How traces and messages name this task: cpu<N>, or timer:<name> for a timer task. */
  name: string;
  /**
   * True only while an explored execution is traced: then note() records what a step read or wrote.
   * Everywhere else (stress, untraced exploring) a note costs this one check.
   */
  tracing = false;
  /** Where notes go while tracing. */
  noteSink: NoteSink | undefined;
  /**
   * The weak memory an explored execution under `--memory weak` routes the ordering primitives through
   * (engine/order.ts); undefined under `--memory sc` and in stress mode, where they are plain Atomics.
   */
  weak: MemoryOrder | undefined = undefined;

  constructor(
    readonly id: number,
    readonly mode: Mode,
    readonly mem: Memory,
    readonly checker: Checker,
    /** Stress mode: i32 index of the run's stop flag, polled while parked; -1 in explore mode. */
    stopIndex = -1,
    /** Virtual time in explore mode (shared by an execution's vCPUs), real time in stress mode. */
    readonly clock: Clock = new VirtualClock(),
  ) {
    this.explore = mode === 'explore';
    this.thisCpu = id;
    this.name = `cpu${id}`;
    this.i32 = mem.i32;
    this.i64 = mem.i64;
    this[TASK] = new TaskState(stopIndex);
  }

  /** Report an outcome of invariant `id`; returns true when it is FORBIDDEN (the run will stop). */
  fail(id: string, message: string): boolean {
    return this.checker.report(id, message, this.id, this.step, this.site);
  }

  /**
   * Trace note: the step being taken `access`es the shared location `where` (a constant name such as
   * 'dom0.nr_endpoints'; `index` is its slot in the buffer, which identifies it for the racing-pair
   * analysis) and reads or writes `value` (`old`: the value before a read-modify-write). Traces show
   * "read dom0.nr_endpoints → 0", "cmpxchg table pte 0 → 7". Pass constants and locals only: nothing
   * may be built for a note, since it is dropped at once unless tracing.
   */
  note(access: Access, where: string, index: number, value: number | bigint, old?: number | bigint): void {
    if (!this.tracing) return;
    this.noteSink!(this.id, access, where, index, value, old);
  }

  /** Stress mode: has the run been asked to stop? Model code never needs this; blocking primitives do. */
  stopRequested(): boolean {
    const stop = this[TASK].stopIndex;
    return stop >= 0 && Atomics.load(this.i32, stop) !== 0;
  }
}

/** Run an op to completion outside any scheduler (setup code, sequential references, quiescent hooks). */
export function runToEnd<R>(op: Op<R>): R {
  for (;;) {
    const r = op.next();
    if (r.done) return r.value;
  }
}
