/**
 * Uniform random scheduling: at every scheduling point, any runnable vCPU with equal probability
 * (shuttle's RandomScheduler; the baseline against which PCT's guarantee is stated).
 */
import { randInt, rngFor, type RandomGenerator } from '../engine/rng.js';
import type { Scheduler } from './scheduler.js';

export class RandomScheduler implements Scheduler {
  private readonly rng: RandomGenerator;
  constructor(seed: number) {
    this.rng = rngFor(seed, 1);
  }

  newExecution(): void {
    /* the stream simply continues */
  }

  nextCpu(runnable: readonly number[]): number {
    return runnable.length === 1 ? runnable[0]! : runnable[randInt(this.rng, 0, runnable.length - 1)]!;
  }

  /** Every value a weak load may see (every place a store may land) with equal probability. */
  nextChoice(count: number): number {
    return randInt(this.rng, 0, count - 1);
  }
}
