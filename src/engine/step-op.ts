/**
 * Model ops as hand-written iterators rather than generators. Model code composes ops with `yield*`, and
 * a generator per call costs a step ~5x a flat one (engine bench: allocating it, then resuming through
 * it on every step). `yield*` drives any iterator exactly as it drives a generator, so an op written as
 * a small state machine — the sync primitives (sync.ts), andThen below — yields the same sites in the
 * same order with the same accesses after each, and explore sees no difference (test/trace-pins.test.ts
 * replays pinned tokens to their trace hashes).
 */
import type { Op } from './cpu.js';
import type { Site } from './site.js';

/**
 * An op as a state machine: a subclass implements next() as the generator it stands for would run.
 * Only next() is ever called by `yield*` and the executors; return() and throw() close it as they would
 * close a generator suspended at its yield (none of these ops catches anything).
 */
export abstract class StepOp<R> implements Generator<Site, R, void> {
  /** START before the first next(); then what the subclass needs; CLOSED once it has returned or thrown. */
  protected state = START;
  abstract next(): IteratorResult<Site, R>;
  return(value: R): IteratorResult<Site, R> {
    this.state = CLOSED;
    return { value, done: true };
  }
  throw(e: unknown): IteratorResult<Site, R> {
    this.state = CLOSED;
    throw e;
  }
  [Symbol.iterator](): this {
    return this;
  }
  get [Symbol.toStringTag](): string {
    return 'Generator';
  }
}
export const CLOSED = -1;
/** StepOp states: before the first next(); suspended at the site (its access comes on the next next()). */
export const START = 0;
export const AT_SITE = 1;

/** A closed op's next(), as a finished generator answers. */
export const finished = <R>(): IteratorResult<Site, R> => ({ value: undefined as R, done: true });

/** andThen's op: forwards every step to `op`, and runs `after` on its result within its last step. */
export class AndThen<R, S> extends StepOp<S> {
  constructor(
    private readonly op: Op<R>,
    private readonly after: (r: R) => S,
  ) {
    super();
  }
  next(): IteratorResult<Site, S> {
    if (this.state === CLOSED) return finished();
    const r = this.op.next();
    if (!r.done) return r;
    this.state = CLOSED;
    return { value: this.after(r.value), done: true };
  }

  /**
   * For a driver that runs an op straight to its end (the stress worker): the op this one forwards to,
   * which the driver then resumes itself — one call per step fewer — and hands its result to complete().
   * Only before the first next(); after it, this op is driven only through complete().
   */
  detach(): Op<R> {
    if (this.state !== START) throw new Error('andThen: detach() after the op has started');
    this.state = AT_SITE;
    return this.op;
  }

  /** The detached op returned `r`: run `after` on it, as next() would have in the op's last step. */
  complete(r: R): S {
    this.state = CLOSED;
    return this.after(r);
  }
}

/**
 * `op`, then `after(its result)` in the same step as op's last one: what
 * `function* () { const r = yield* op; return after(r); }` does, without a generator of its own (for an
 * op program's checks after a model call, which wrap every step of it). `after` must not touch shared
 * model state that needs a scheduling point of its own.
 */
export function andThen<R, S>(op: Op<R>, after: (r: R) => S): Op<S> {
  return new AndThen(op, after);
}
