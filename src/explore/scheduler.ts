/**
 * The scheduler seam, shuttle style: a strategy starts an execution and picks the next vCPU among the
 * runnable ones at every scheduling point. Everything else (recording the decisions, deadlock
 * detection, replay) lives in the executor, so a strategy is one small file.
 *
 * Unlike shuttle there is no nextRandom(): the only data nondeterminism is the op programs, which draw
 * from pure-rand keyed by (op seed, vCPU) and the op seed is part of every repro, so a schedule is just
 * the list of decisions: the vCPU picks and, under `--memory weak`, the visibility choices (nextChoice).
 */
import type { Memory } from '../engine/layout.js';
import type { WeakLog } from '../engine/weak-memory.js';

export interface Scheduler {
  /** Start a new execution over `cpus` vCPUs; `stepsHint` is the longest execution seen so far (0 if none). */
  newExecution(cpus: number, stepsHint: number): void;
  /**
   * Pick who runs the next step: one of `runnable` (ascending vCPU ids, never empty).
   * `current` is the vCPU that ran the previous step, or -1 at the start.
   */
  nextCpu(runnable: readonly number[], current: number): number;
  /**
   * A decision that is not a vCPU pick: under `--memory weak`, which of `count` (2..256) values a load
   * may see or where a store lands in coherence order (engine/weak-memory.ts). Returns 0..count-1, and
   * 0 is always the sequentially consistent choice. `kind` names what is decided (for strategies that
   * care; PCT and random do not). The executor records the answer in the decision list right after the
   * step's vCPU pick, so replay and shrinking need nothing new. `loc` numbers the location (first-touch
   * order within the execution) and, for a read, options 1..`older` are older committed values, newest
   * first (PCT's visibility delays use them: weak-policy.ts).
   */
  nextChoice(count: number, kind: string, loc: number, older: number): number;
  /**
   * Under `--memory weak`, an ordering primitive that left nothing to choose (a load with one visible
   * value, a lock acquire): not a decision, not recorded; PCT counts them (weak-policy.ts).
   */
  weakAccess?(kind: string): void;
  /** The step just chosen has run (dfs closes its footprint here). */
  stepDone?(): void;
  /** An exhaustive strategy with nothing left to try ends the campaign ("exhaustive: N executions"). */
  exhausted?(): boolean;
  /**
   * A strategy that needs to see every step's shared accesses (partial-order reduction) is given the
   * campaign's memory once and returns the views the executions should use instead, and how to undo
   * anything it installed for the campaign.
   */
  watch?(mem: Memory): { readonly mem: Memory; stop(): void };
  /**
   * Under `--memory weak`, where the execution's weak memory reports what each step touches of its own
   * state (store buffers, coherence histories, views): a strategy that watches the accesses needs it.
   */
  weakLog?(): WeakLog | undefined;
  /**
   * The strategy explores untimed executions (execution.ts ExecutionSpec.untimed: timers runnable once
   * armed, no failed lock attempts): dfs, whose reduction needs steps whose position does not matter.
   */
  readonly untimed?: boolean;
  /**
   * Untimed executions only, after nextCpu: the chosen task's step is one it could take only once the
   * i32 word `word` (`words` 2: the i64 there) read 0 (`zero`: a lock, waitUntilZero) or not 0 (a
   * timer firing: its deadline is set). dfs tells from it which races cannot be reversed (races.ts).
   */
  waited?(word: number, words: 1 | 2, zero: boolean): void;
}

/**
 * Thrown out of nextCpu by a strategy that abandons the execution in progress (dfs: every runnable task
 * sleeps, so whatever follows was explored already). The campaign counts it as pruned, not as a schedule.
 */
export class Pruned extends Error {
  constructor(why: string) {
    super(`pruned: ${why}`);
    this.name = 'Pruned';
  }
}

// The strategies themselves, their names and the default are in strategies.ts.
