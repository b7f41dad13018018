/**
 * Replays a recorded schedule (a list of vCPU decisions, and weak-memory choices among them).
 *
 * Strict use: the executor recorded exactly these decisions, so each one is runnable when it comes up
 * and the execution repeats bit for bit. Lenient use (shrinking edits schedules): a decision whose vCPU
 * cannot run is skipped, and once the list is used up the current vCPU keeps running while it can,
 * then the lowest runnable one — a non-preemptive tail, so an edited schedule adds no preemptions of
 * its own (shuttle's "replay that continues after the recorded schedule ends"); every weak-memory
 * choice past the end is the SC one.
 */
import type { Scheduler } from './scheduler.js';

export class ReplayScheduler implements Scheduler {
  private pos = 0;
  /** Decisions that could not be followed (0 for a faithful replay). */
  divergences = 0;

  constructor(private readonly decisions: ArrayLike<number>) {}

  newExecution(): void {
    this.pos = 0;
    this.divergences = 0;
  }

  nextCpu(runnable: readonly number[], current: number): number {
    while (this.pos < this.decisions.length) {
      const want = this.decisions[this.pos++]!;
      if (runnable.includes(want)) return want;
      this.divergences++;
    }
    return runnable.includes(current) ? current : runnable[0]!;
  }

  /** A recorded weak-memory choice; one out of range (an edited schedule) counts as a divergence. */
  nextChoice(count: number): number {
    if (this.pos >= this.decisions.length) return 0;
    const want = this.decisions[this.pos++]!;
    if (want < count) return want;
    this.divergences++;
    return 0;
  }
}
