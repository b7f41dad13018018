/**
 * The executor's own state of one task (a vCPU or a timer): what it is blocked on, the locks it holds,
 * how long a stress-mode wait may last, and the run's stop flag. Kept apart from what model code sees
 * of a Cpu (cpu.ts), as loom keeps its engine apart from the wrappers: the executors (explore/,
 * stress/) and the blocking primitives (sync.ts, timer.ts) reach it with taskOf(cpu); model code uses
 * the primitives (spinLock, waitUntilZero, lockHeld), never this.
 */
import type { LockRef } from './lock-ref.js';

export class TaskState {
  /** Explore mode: i32 index of a word this task waits on (runnable again once it reads 0), or -1. */
  blockedOn = -1;
  /**
   * Explore, untimed (explore/execution.ts ExecutionSpec.untimed): a blocking primitive marks the task
   * blocked on its word before its first attempt, so the task runs only when the attempt succeeds.
   */
  waitsLazily = false;
  /** Locks held, innermost last (lockdep and deadlock reports). */
  readonly held: LockRef[] = [];
  /**
   * Stress mode: the longest a blocking primitive may wait before it gives up with StuckWait. Workers
   * wait without limit (the watchdog watches them); the main thread, which fires timers and is the
   * watchdog, must not.
   */
  waitLimitMs = Infinity;

  constructor(
    /** Stress mode: i32 index of the run's stop flag, polled while parked; -1 in explore mode. */
    readonly stopIndex = -1,
  ) {}
}

/** The key of a Cpu's TaskState: a symbol, so it is not part of the Cpu that model code reads. */
export const TASK: unique symbol = Symbol('iommu-stress task state');

export function taskOf(cpu: { readonly [TASK]: TaskState }): TaskState {
  return cpu[TASK];
}
