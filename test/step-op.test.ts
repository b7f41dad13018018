/**
 * step-op.ts's tail calls: an op that ends in `return tailCall(callee)`, driven by trampoline() or by
 * andThen(trampoline(...)), takes the same steps as the generator that ends in `return yield* callee`:
 * the same sites, the same accesses between them (logged here), the callee started within the step that
 * ended the caller, and the same result — including a chain of tail calls and a caller that returns
 * early without one.
 */
import { describe, expect, it } from 'vitest';
import type { Op } from '../src/engine/cpu.js';
import { andThen, tailCall, trampoline, type TailCall } from '../src/engine/step-op.js';

type Log = string[];

// The callee: `n` steps, each logging its access, then a result.
function* leaf(log: Log, n: number): Op<number> {
  for (let i = 0; i < n; i++) {
    yield `leaf ${i}`;
    log.push(`leaf access ${i}`);
  }
  log.push('leaf returns');
  return 100 + n;
}

// The caller as written with yield* (the reference) and with a tail call; `early` returns without a call.
function* walkRef(log: Log, levels: number, early: boolean): Op<number> {
  for (let l = 0; l < levels; l++) {
    yield `walk ${l}`;
    log.push(`walk access ${l}`);
  }
  if (early) return -1;
  log.push('walk calls leaf');
  return yield* leafRef(log, 2);
}
function* leafRef(log: Log, n: number): Op<number> {
  log.push('mid');
  return yield* leaf(log, n);
}
function* walkTail(log: Log, levels: number, early: boolean): Op<number | TailCall<number>> {
  for (let l = 0; l < levels; l++) {
    yield `walk ${l}`;
    log.push(`walk access ${l}`);
  }
  if (early) return -1;
  log.push('walk calls leaf');
  return tailCall(leafTail(log, 2));
}
// A tail call that makes another (a chain).
function* leafTail(log: Log, n: number): Op<number | TailCall<number>> {
  log.push('mid');
  return tailCall(leaf(log, n));
}

/** Each step's site with the log as it stands after it, then the result and the final log. */
function steps(op: Op<unknown>, log: Log): unknown[] {
  const out: unknown[] = [];
  for (let r = op.next(); ; r = op.next()) {
    out.push(r.done ? { result: r.value, log: [...log] } : { site: r.value, log: [...log] });
    if (r.done) break;
  }
  // A finished op answers as a finished generator.
  expect(op.next()).toEqual({ value: undefined, done: true });
  return out;
}

describe('tail calls (step-op.ts)', () => {
  for (const early of [false, true]) {
    it(`trampoline and andThen(trampoline) step as yield* does (${early ? 'early return' : 'chain of two tail calls'})`, () => {
      const ref: Log = [];
      const want = steps(walkRef(ref, 3, early), ref);
      const a: Log = [];
      expect(steps(trampoline(walkTail(a, 3, early)), a)).toEqual(want);
      // andThen runs its function once, within the last step, on the result the trampoline would give.
      const b: Log = [];
      const seen: number[] = [];
      const checked = andThen(trampoline(walkTail(b, 3, early)), (r) => {
        seen.push(r);
        b.push(`after ${r}`);
        return r * 2;
      });
      const got = steps(checked, b);
      const last = want[want.length - 1] as { result: number; log: string[] };
      expect(got.slice(0, -1)).toEqual(want.slice(0, -1).map((s) => s));
      expect(got[got.length - 1]).toEqual({ result: last.result * 2, log: [...last.log, `after ${last.result}`] });
      expect(seen).toEqual([last.result]);
    });
  }

  it('andThen over a trampoline that has started drives it as any op (no step taken twice)', () => {
    const log: Log = [];
    const t = trampoline(walkTail(log, 2, false));
    expect(t.next()).toEqual({ value: 'walk 0', done: false });
    const rest = steps(
      andThen(t, (r) => r + 1),
      log,
    );
    expect(rest.map((s) => (s as { site?: string }).site ?? (s as { result: number }).result)).toEqual([
      'walk 1',
      'leaf 0',
      'leaf 1',
      103,
    ]);
  });
});
