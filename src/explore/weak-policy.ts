/**
 * How PCT makes the weak-memory choices (`--memory weak`, engine/weak-memory.ts): visibility delays and
 * weak change points.
 *
 * A fair coin per decision (the policy this replaces) spreads weakness thinly: the reordering a barrier
 * bug needs (a flag seen new while the data behind it is seen old) is then one outcome among many coin
 * tosses, and it only matters if another CPU runs inside the short window where it is visible. PCT's
 * insight (Burckhardt et al., ASPLOS 2010) is that a bug needs only a few ordering facts to go one
 * particular way; for weak memory those facts are which stores some CPU does not see yet, and where the
 * other CPUs run meanwhile (PCTWM, Gao et al., ASPLOS 2023, samples a few communication points per
 * execution for the same reason). So, per execution:
 *  - every location is drawn *delayed* or *prompt* (a fair coin, hashed from a per-execution salt and
 *    the location's number). A store to a delayed location stays in its CPU's store buffer (until a
 *    barrier, a release's acquirer or a plain step takes it out); a load of a delayed location returns
 *    the oldest value its CPU may still see (every later store "not yet visible"); prompt locations
 *    behave sequentially consistently; which of two buffered stores lands first in coherence order is
 *    left as program time has it. A message-passing bug (flag prompt, data delayed) is then set up with
 *    probability 1/4 whatever happens in between, one stale read (flushq's fq_flush_start_cnt) with 1/2;
 *  - WEAK_CHANGE_POINTS of the execution's ordering-primitive accesses (numbered in program time; the
 *    count is estimated from the longest execution so far, as PCT estimates its k) are change points:
 *    after the step that made one, the running task drops below every other, as at a PCT change point.
 *    The windows a weak reordering opens are short (a plain step or a barrier closes them), so the
 *    other CPUs must run inside one: these points put preemptions where the primitives are, which
 *    PCT's change points (uniform over all steps) rarely do.
 * One decision in NOISE_IN is instead the old fair coin, so that every choice keeps a positive
 * probability (a reader spinning on a delayed location still sees the new value in the end).
 *
 * A pure function of the scheduler's seeded stream: everything is drawn at the first weak access of an
 * execution, so under `--memory sc` (no weak accesses) PCT's stream and schedules are what they were.
 */
import { mix32, randInt, type RandomGenerator } from '../engine/rng.js';

/** One decision in NOISE_IN is a fair coin rather than the execution's delays. */
const NOISE_IN = 16;
/**
 * Weak change points per execution. Measured on flushq/no-queue-mb (PCT depth 3): seeds 1-12 capped at 400
 * schedules, 8 found it for 5 seeds, 16 for 11; seeds 1-10 capped at 1,000, 12 for 8, 16 for 9, 24 for 7
 * (too many preemptions scatter the schedule, as a high PCT depth does). lifecycle/fq-no-wmb: 12 of 12
 * seeds within 400 with 8, 16 or 32.
 */
const WEAK_CHANGE_POINTS = 16;

export class VisibilityDelays {
  private salt = 0;
  private drawn = false;
  /** Ordering-primitive accesses so far in this execution, and the most any execution has made. */
  private accesses = 0;
  private accessesHint = 64;
  /** The accesses after whose step the running task drops below every other. */
  private readonly points = new Set<number>();
  private drop = false;

  constructor(private readonly rng: RandomGenerator) {}

  newExecution(): void {
    this.accessesHint = Math.max(this.accessesHint, this.accesses);
    this.accesses = 0;
    this.drawn = false;
    this.drop = false;
  }

  /** An ordering primitive with nothing to choose (Scheduler.weakAccess). */
  access(): void {
    this.draw();
    this.count();
  }

  /**
   * `count` options of a decision of `kind` ('read' | 'store' | 'order') about location `loc`; for a
   * read, options 1..`older` are older committed values (the highest the oldest) and the rest commit
   * another CPU's buffered store; for a store, option 1 keeps it buffered. 0 is always the SC choice.
   */
  choice(count: number, kind: string, loc: number, older: number): number {
    this.draw();
    this.count();
    if (randInt(this.rng, 0, NOISE_IN - 1) === 0) {
      return randInt(this.rng, 0, 1) === 0 ? 0 : randInt(this.rng, 1, count - 1);
    }
    if (loc < 0 || (mix32(this.salt, loc) & 1) === 0) return 0;
    if (kind === 'store') return 1;
    if (kind === 'read') return older;
    return 0;
  }

  /** Did the step just run make a change-point access? (PCT asks once per step.) */
  takeDrop(): boolean {
    const d = this.drop;
    this.drop = false;
    return d;
  }

  private draw(): void {
    if (this.drawn) return;
    this.drawn = true;
    this.salt = randInt(this.rng, 0, 0x7fffffff);
    this.points.clear();
    const n = Math.min(WEAK_CHANGE_POINTS, this.accessesHint);
    while (this.points.size < n) this.points.add(randInt(this.rng, 0, this.accessesHint - 1));
  }

  private count(): void {
    if (this.points.has(this.accesses++)) this.drop = true;
  }
}
