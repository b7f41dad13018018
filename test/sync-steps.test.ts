/**
 * The sync primitives are hand-written iterators (engine/sync.ts StepOp), each standing for a generator
 * function. Here the generators they stand for are written out and both are driven side by side, two
 * vCPUs in explore mode interleaved by a random choice at every step (fast-check, fixed seed): at every
 * step both yield the same site, leave the same shared memory, the same held locks and blocked state,
 * the same trace notes, and return the same values. Plus the generator protocol: return(), throw(),
 * next() after the end, and `yield*` over them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd, type LockRef, type Op } from '../src/engine/cpu.js';
import { allocateMemory, at, defineLayout, region, type Memory } from '../src/engine/layout.js';
import { Counter32, Counter64, LOCK_WORDS, lockRef, spinLock, spinTryLock, spinUnlock } from '../src/engine/sync.js';
import { taskOf } from '../src/engine/task.js';

const layout = defineLayout(2, {
  lock: { kind: 'i32', count: LOCK_WORDS },
  c32: { kind: 'i32', count: 1 },
  c64: { kind: 'i64', count: 1 },
});

// The generators the primitives stand for (explore mode: a taken lock blocks instead of waiting).
function* refLock(cpu: Cpu, lock: LockRef): Op {
  const task = taskOf(cpu);
  for (;;) {
    yield lock.acquireSite;
    task.blockedOn = -1;
    if (Atomics.compareExchange(cpu.i32, lock.index, 0, 1) === 0) break;
    task.blockedOn = lock.index;
  }
  Atomics.store(cpu.i32, lock.index + 1, cpu.id + 1);
  task.held.push(lock);
}
function* refTryLock(cpu: Cpu, lock: LockRef): Op<boolean> {
  yield lock.acquireSite;
  if (Atomics.compareExchange(cpu.i32, lock.index, 0, 1) !== 0) return false;
  Atomics.store(cpu.i32, lock.index + 1, cpu.id + 1);
  taskOf(cpu).held.push(lock);
  return true;
}
function* refUnlock(cpu: Cpu, lock: LockRef): Op {
  yield lock.releaseSite;
  const held = taskOf(cpu).held;
  held.splice(held.lastIndexOf(lock), 1);
  Atomics.store(cpu.i32, lock.index + 1, 0);
  Atomics.exchange(cpu.i32, lock.index, 0);
}
type Note = readonly unknown[];
function* ref32(cpu: Cpu, c: Counter32, kind: number, a: number, b: number): Op<number> {
  const i32 = cpu.i32;
  switch (kind) {
    case 0: {
      yield `read ${c.name}`;
      const v = Atomics.load(i32, c.index);
      cpu.note('read', c.name, c.index, v);
      return v;
    }
    case 1:
      yield `write ${c.name}`;
      Atomics.store(i32, c.index, a);
      cpu.note('write', c.name, c.index, a);
      return a;
    case 2: {
      yield `atomic_add ${c.name}`;
      const old = Atomics.add(i32, c.index, a);
      cpu.note('add', c.name, c.index, old + a, old);
      return old;
    }
    case 3: {
      yield `cmpxchg ${c.name}`;
      const old = Atomics.compareExchange(i32, c.index, a, b);
      cpu.note(old === a ? 'cmpxchg' : 'read', c.name, c.index, old === a ? b : old, old);
      return old;
    }
    default: {
      yield `read ${c.name}`;
      const v = Atomics.load(i32, c.index) + a;
      cpu.note('read', c.name, c.index, v - a);
      yield `write ${c.name}`;
      Atomics.store(i32, c.index, v);
      cpu.note('write', c.name, c.index, v);
      return v;
    }
  }
}
function* ref64(cpu: Cpu, c: Counter64, kind: number, a: bigint, b: bigint): Op<bigint> {
  const i64 = cpu.i64;
  switch (kind) {
    case 0:
      yield `read ${c.name}`;
      return Atomics.load(i64, c.index);
    case 1:
      yield `write ${c.name}`;
      Atomics.store(i64, c.index, a);
      return a;
    case 2:
      yield `atomic64_add ${c.name}`;
      return Atomics.add(i64, c.index, a);
    case 3:
      yield `cmpxchg64 ${c.name}`;
      return Atomics.compareExchange(i64, c.index, a, b);
    default: {
      yield `read ${c.name}`;
      const v = Atomics.load(i64, c.index) + a;
      yield `write ${c.name}`;
      Atomics.store(i64, c.index, v);
      return v;
    }
  }
}

/** One op of a vCPU's program: [what, a, b]. Lock ops keep each vCPU's lock use well nested. */
type Step = readonly [kind: number, a: number, b: number];
const LOCK = 10;
const TRYLOCK = 11;

interface World {
  readonly mem: Memory;
  readonly cpus: Cpu[];
  readonly notes: Note[];
  readonly lock: LockRef;
  readonly c32: Counter32;
  readonly c64: Counter64;
}

function world(): World {
  const mem = allocateMemory(layout);
  const checker = new Checker([]);
  const notes: Note[] = [];
  const cpus = [0, 1].map((id) => {
    const cpu = new Cpu(id, 'explore', mem, checker);
    cpu.tracing = true;
    cpu.noteSink = (...n) => notes.push(n);
    return cpu;
  });
  return {
    mem,
    cpus,
    notes,
    lock: lockRef('l', at(region(layout, 'lock'))),
    c32: new Counter32(at(region(layout, 'c32')), 'n'),
    c64: new Counter64(at(region(layout, 'c64')), 'fq.start'),
  };
}

/** A vCPU's program as one op: its steps in turn, each with the lock taken or tried first when asked. */
function* program(w: World, cpu: Cpu, steps: readonly Step[], real: boolean, out: unknown[]): Op {
  for (const [kind, a, b] of steps) {
    if (kind === LOCK || kind === TRYLOCK) {
      const got =
        kind === LOCK
          ? (yield* real ? spinLock(cpu, w.lock) : refLock(cpu, w.lock), true)
          : yield* real ? spinTryLock(cpu, w.lock) : refTryLock(cpu, w.lock);
      out.push(got);
      if (got) yield* real ? spinUnlock(cpu, w.lock) : refUnlock(cpu, w.lock);
    } else if (kind < 5) out.push(yield* real ? opOf32(w.c32, cpu, kind, a, b) : ref32(cpu, w.c32, kind, a, b));
    else {
      const [x, y] = [BigInt(a) * 2n ** 40n, BigInt(b)];
      out.push(yield* real ? opOf64(w.c64, cpu, kind - 5, x, y) : ref64(cpu, w.c64, kind - 5, x, y));
    }
  }
}
const opOf32 = (c: Counter32, cpu: Cpu, kind: number, a: number, b: number): Op<number> =>
  [c.load(cpu), c.store(cpu, a) as Op<unknown> as Op<number>, c.add(cpu, a), c.cmpxchg(cpu, a, b), c.plainAdd(cpu, a)][
    kind
  ]!;
const opOf64 = (c: Counter64, cpu: Cpu, kind: number, a: bigint, b: bigint): Op<bigint> =>
  [c.load(cpu), c.store(cpu, a) as Op<unknown> as Op<bigint>, c.add(cpu, a), c.cmpxchg(cpu, a, b), c.plainAdd(cpu, a)][
    kind
  ]!;

describe('sync primitives as iterators', () => {
  it('step for step the same as the generators they stand for, under random interleavings', () => {
    const step = fc.tuple(
      fc.integer({ min: 0, max: 11 }),
      fc.integer({ min: -3, max: 3 }),
      fc.integer({ min: -3, max: 3 }),
    );
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 12 }),
        fc.array(step, { maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 200, maxLength: 200 }),
        (p0, p1, picks) => {
          const worlds = [world(), world()] as const; // [reference generators, the primitives]
          const outs: unknown[][][] = [
            [[], []],
            [[], []],
          ];
          const ops = worlds.map((w, k) => [p0, p1].map((p, c) => program(w, w.cpus[c]!, p, k === 1, outs[k]![c]!)));
          const done = [false, false];
          let pick = 0;
          while (!done[0] || !done[1]) {
            const runnable = [0, 1].filter((c) => {
              const b = taskOf(worlds[0].cpus[c]!).blockedOn;
              return !done[c] && (b < 0 || worlds[0].mem.i32[b] === 0);
            });
            expect(runnable.length).toBeGreaterThan(0); // well-nested programs never deadlock
            const c = runnable[(picks[pick++ % picks.length] ? 1 : 0) % runnable.length]!;
            const [r0, r1] = [ops[0]![c]!.next(), ops[1]![c]!.next()];
            expect(r1).toEqual(r0);
            done[c] = r0.done === true;
            expect([...worlds[1].mem.i32]).toEqual([...worlds[0].mem.i32]);
            for (const cc of [0, 1]) {
              const [t0, t1] = [taskOf(worlds[0].cpus[cc]!), taskOf(worlds[1].cpus[cc]!)];
              expect(t1.blockedOn).toBe(t0.blockedOn);
              expect(t1.held.map((l) => l.name)).toEqual(t0.held.map((l) => l.name));
            }
          }
          expect(worlds[1].notes).toEqual(worlds[0].notes);
          expect(outs[1]).toEqual(outs[0]);
        },
      ),
      { seed: 13, numRuns: 150 },
    );
  });

  it('behave as generators: return(), throw(), next() after the end, iterable, nested in yield*', () => {
    const w = world();
    const [cpu] = w.cpus as [Cpu];
    const a = w.c32.add(cpu, 5);
    expect(a[Symbol.iterator]()).toBe(a);
    expect(Object.prototype.toString.call(a)).toBe('[object Generator]');
    expect(a.next()).toEqual({ value: 'atomic_add n', done: false });
    expect(a.return(7)).toEqual({ value: 7, done: true });
    expect(a.next()).toEqual({ value: undefined, done: true });
    expect(w.c32.peek(w.mem.i32)).toBe(0); // closed at its site: the access never happened

    const l = spinLock(cpu, w.lock);
    l.next();
    expect(() => l.throw(new Error('boom'))).toThrow('boom');
    expect(l.next().done).toBe(true);
    expect(taskOf(cpu).held).toEqual([]);

    function* outer(): Op<number> {
      yield* spinLock(cpu, w.lock);
      const v = yield* w.c32.plainAdd(cpu, 2);
      yield* spinUnlock(cpu, w.lock);
      return v + (yield* w.c32.load(cpu));
    }
    const sites: string[] = [];
    const g = outer();
    let r = g.next();
    for (; !r.done; r = g.next()) sites.push(r.value);
    expect(sites).toEqual(['lock l', 'read n', 'write n', 'unlock l', 'read n']);
    expect(r.value).toBe(4);
    expect([...spinTryLock(cpu, w.lock)]).toEqual(['lock l']);
    expect(runToEnd(spinUnlock(cpu, w.lock))).toBeUndefined();
  });
});
