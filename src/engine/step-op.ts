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

/**
 * andThen's op: forwards every step to `op`, and runs `after` on its result within its last step. Given a
 * trampoline that has not started, it drives the trampoline's op and its tail calls itself, as the
 * trampoline would: one object and one call per step fewer.
 */
class AndThen<R, S> extends StepOp<S> {
  private op: Op<R | TailCall<R>>;
  constructor(
    op: Op<R>,
    private readonly after: (r: R) => S,
  ) {
    super();
    this.op = op instanceof Trampoline && op.unstarted() ? op.driven() : op;
  }
  next(): IteratorResult<Site, S> {
    if (this.state === CLOSED) return finished();
    for (;;) {
      const r = this.op.next();
      if (!r.done) return r;
      if (r.value instanceof TailCall) {
        this.op = (r.value as TailCall<R>).op;
        continue;
      }
      this.state = CLOSED;
      return { value: this.after(r.value as R), done: true };
    }
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

/**
 * What a generator op returns to end with another op in its place: `return tailCall(op)` where it would
 * write `return yield* op`. A kernel function that ends in a call to another (__arm_lpae_map's
 * `return arm_lpae_init_pte(...)`) keeps that shape, and the rest of the op runs one `yield*` level
 * shallower: each level is paid on every step below it (~38 ns a step here, against ~10 ns for a generator
 * resume). Only an op driven by trampoline() may return one.
 */
export class TailCall<R> {
  constructor(readonly op: Op<R | TailCall<R>>) {}
}

export function tailCall<R>(op: Op<R | TailCall<R>>): TailCall<R> {
  return new TailCall(op);
}

/** trampoline's op: drives `op`, and when it returns a TailCall, the op in it, within the same step. */
class Trampoline<R> extends StepOp<R> {
  constructor(private op: Op<R | TailCall<R>>) {
    super();
  }
  unstarted(): boolean {
    return this.state === START;
  }
  /** The op it drives (for andThen, which then drives it in its place: this one is never started). */
  driven(): Op<R | TailCall<R>> {
    this.state = CLOSED;
    return this.op;
  }
  next(): IteratorResult<Site, R> {
    if (this.state === CLOSED) return finished();
    for (;;) {
      const r = this.op.next();
      if (!r.done) {
        this.state = AT_SITE;
        return r;
      }
      if (r.value instanceof TailCall) {
        this.op = (r.value as TailCall<R>).op;
        continue;
      }
      this.state = CLOSED;
      return r as IteratorResult<Site, R>;
    }
  }
}

/**
 * `op`, whose tail calls (a TailCall result) run in its place: the same steps, sites and accesses as
 * `yield*`-ing each callee from the caller — the callee starts in the step that ended the caller — with no
 * generator between the driver and the one running.
 */
export function trampoline<R>(op: Op<R | TailCall<R>>): Op<R> {
  return new Trampoline(op);
}
