/**
 * PCT — Probabilistic Concurrency Testing.
 * S. Burckhardt, P. Kothari, M. Musuvathi, S. Nagarakatte, "A Randomized Scheduler with Probabilistic
 * Guarantees of Finding Bugs", ASPLOS 2010.
 *
 * For n threads, k steps and bug depth d: give the threads distinct random priorities d..d+n-1, pick
 * d-1 change points uniformly in [1, k], and at every step run the highest-priority runnable thread.
 * When the execution reaches the i-th change point, the running thread's priority drops to d-i (below
 * every initial priority). A bug of depth d is then found with probability at least 1/(n·k^(d-1)) per
 * execution. k is not known in advance: as shuttle and Coyote do, we use the longest execution seen so
 * far (or an estimate before the first one) and let it grow.
 */
import { randInt, rngFor, type RandomGenerator } from '../engine/rng.js';
import type { Scheduler } from './scheduler.js';

export class PctScheduler implements Scheduler {
  private readonly rng: RandomGenerator;
  private priority: number[] = [];
  /** Change points, ascending step numbers; changeAt[i] lowers the runner to priority depth-1-i. */
  private changeAt: number[] = [];
  private nextChange = 0;
  private step = 0;

  constructor(
    seed: number,
    private readonly depth: number,
    private readonly initialEstimate: number,
  ) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`pct: depth must be >= 1, got ${depth}`);
    this.rng = rngFor(seed, 2);
  }

  newExecution(cpus: number, stepsHint: number): void {
    const d = this.depth;
    // Random permutation of d..d+n-1 (Fisher-Yates).
    const p = Array.from({ length: cpus }, (_, i) => d + i);
    for (let i = cpus - 1; i > 0; i--) {
      const j = randInt(this.rng, 0, i);
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    this.priority = p;
    const k = Math.max(2, stepsHint > 0 ? stepsHint : this.initialEstimate);
    const points = new Set<number>();
    while (points.size < Math.min(d - 1, k - 1)) points.add(randInt(this.rng, 1, k - 1));
    this.changeAt = [...points].sort((a, b) => a - b);
    this.nextChange = 0;
    this.step = 0;
  }

  nextCpu(runnable: readonly number[], current: number): number {
    const step = this.step++;
    if (current >= 0 && this.nextChange < this.changeAt.length && this.changeAt[this.nextChange] === step) {
      this.priority[current] = this.depth - 1 - this.nextChange;
      this.nextChange++;
    }
    let best = runnable[0]!;
    let bestP = this.priority[best]!;
    for (let i = 1; i < runnable.length; i++) {
      const c = runnable[i]!;
      const pc = this.priority[c]!;
      if (pc > bestP) {
        best = c;
        bestP = pc;
      }
    }
    return best;
  }

  /**
   * A weak-memory choice is not a scheduling decision, so PCT's priorities say nothing about it: the
   * SC choice half of the time, else any weaker one uniformly. Drawn from the same seeded stream, so
   * under `--memory sc` (no choices) the schedules are the same as before choices existed.
   */
  nextChoice(count: number): number {
    return randInt(this.rng, 0, 1) === 0 ? 0 : randInt(this.rng, 1, count - 1);
  }
}
