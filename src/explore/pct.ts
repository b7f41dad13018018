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
 *
 * Under `--memory weak`, the weak choices and extra change points at ordering-primitive accesses come from
 * weak-policy.ts (visibility delays); under sc nothing of it draws from the stream.
 */
import { randInt, rngFor, type RandomGenerator } from '../engine/rng.js';
import type { Scheduler } from './scheduler.js';
import { VisibilityDelays } from './weak-policy.js';

export class PctScheduler implements Scheduler {
  private readonly rng: RandomGenerator;
  private readonly delays: VisibilityDelays;
  private priority: number[] = [];
  /** Change points, ascending step numbers; changeAt[i] lowers the runner to priority depth-1-i. */
  private changeAt: number[] = [];
  private nextChange = 0;
  private step = 0;
  /** The priority the next weak change point gives (below every other: PCT's change points stay >= 1). */
  private lowest = 0;

  constructor(
    seed: number,
    private readonly depth: number,
    private readonly initialEstimate: number,
  ) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`pct: depth must be >= 1, got ${depth}`);
    this.rng = rngFor(seed, 2);
    this.delays = new VisibilityDelays(this.rng);
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
    this.delays.newExecution();
    this.lowest = 0;
  }

  nextCpu(runnable: readonly number[], current: number): number {
    const step = this.step++;
    if (current >= 0 && this.nextChange < this.changeAt.length && this.changeAt[this.nextChange] === step) {
      this.priority[current] = this.depth - 1 - this.nextChange;
      this.nextChange++;
    }
    if (current >= 0 && this.delays.takeDrop()) this.priority[current] = this.lowest--;
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

  /** An ordering primitive with nothing to choose: it may be a weak change point (weak-policy.ts). */
  weakAccess(): void {
    this.delays.access();
  }

  /**
   * A weak-memory choice is not a scheduling decision, so PCT's priorities say nothing about it: the
   * execution's visibility delays decide it (weak-policy.ts), drawn from the same seeded stream, and a
   * few of them are change points (nextCpu then drops the task that made it below every other).
   */
  nextChoice(count: number, kind: string, loc = -1, older = 0): number {
    return this.delays.choice(count, kind, loc, older);
  }
}
