/**
 * The scheduler seam, shuttle style: a strategy starts an execution and picks the next vCPU among the
 * runnable ones at every scheduling point. Everything else (recording the decisions, deadlock
 * detection, replay) lives in the executor, so a strategy is one small file.
 *
 * Unlike shuttle there is no nextRandom(): the only data nondeterminism is the op programs, which draw
 * from pure-rand keyed by (op seed, vCPU) and the op seed is part of every repro, so a schedule is just
 * the list of decisions: the vCPU picks and, under `--memory weak`, the visibility choices (nextChoice).
 */
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
   * step's vCPU pick, so replay and shrinking need nothing new.
   */
  nextChoice(count: number, kind: string): number;
}

// The strategies themselves, their names and the default are in strategies.ts.
