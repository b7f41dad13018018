/**
 * The engine: the shared-memory layout, and the sync primitives under the explore executor, driven by
 * two tiny scenarios written here (a shared counter, and two locks taken in either order).
 */
import { describe, expect, it } from 'vitest';
import { variantOf } from '../src/engine/scenario.js';
import { Checker } from '../src/check/checker.js';
import type { InvariantDef } from '../src/check/invariant.js';
import { Cpu, runToEnd, type Op } from '../src/engine/cpu.js';
import {
  allocateMemory,
  at,
  atCpu,
  CACHE_LINE,
  defineLayout,
  mapMemory,
  region,
  zeroMemory,
  type Layout,
  type RegionSpec,
} from '../src/engine/layout.js';
import { mix32, opRng, pickWeighted, randInt, rngFor } from '../src/engine/rng.js';
import type { ScenarioDef, ScenarioModel, VariantDef } from '../src/engine/scenario.js';
import {
  Counter32,
  Counter64,
  LOCK_WORDS,
  lockHeld,
  lockOwner,
  lockRef,
  spinLock,
  spinTryLock,
  spinUnlock,
} from '../src/engine/sync.js';
import { taskOf } from '../src/engine/task.js';
import { runExecution } from '../src/explore/execution.js';
import { explore, type ExploreOutcome } from '../src/explore/explore.js';
import { ReplayScheduler } from '../src/explore/replay.js';
import type { StrategyName } from '../src/explore/strategies.js';

// ---------------------------------------------------------------------------------------------------
// layout

const ELEM = { i32: 4, i64: 8, f64: 8 } as const;

describe('layout', () => {
  const specs: Record<string, RegionSpec> = {
    a: { kind: 'i32', count: 3 },
    b: { kind: 'i64', count: 1, perCpu: true },
    c: { kind: 'i32', count: 17, perCpu: true },
    d: { kind: 'i64', count: 5 },
    e: { kind: 'i32', count: 0 },
    f: { kind: 'i32', count: 16, perCpu: true },
  };
  const cpus = 5;
  const layout = defineLayout(cpus, specs);

  it('every region starts and ends on a 64-byte boundary, in order, without overlap', () => {
    expect(CACHE_LINE).toBe(64);
    let end = 0;
    for (const name of Object.keys(specs)) {
      const r = region(layout, name);
      expect(r.byteOffset % 64, name).toBe(0);
      expect(r.byteLength % 64, name).toBe(0);
      expect(r.byteOffset, name).toBeGreaterThanOrEqual(end);
      expect(r.base * ELEM[r.kind], name).toBe(r.byteOffset);
      end = r.byteOffset + r.byteLength;
    }
    expect(layout.bytes).toBeGreaterThanOrEqual(end);
    expect(layout.bytes % 64).toBe(0);
    // every element of a shared region lies inside it
    const d = region(layout, 'd');
    expect((at(d, 4) + 1) * 8).toBeLessThanOrEqual(d.byteOffset + d.byteLength);
  });

  it('per-CPU slots are padded to whole cache lines: no two vCPUs share a line', () => {
    for (const name of ['b', 'c', 'f']) {
      const r = region(layout, name);
      const eb = ELEM[r.kind];
      expect(r.perCpu).toBe(true);
      expect((r.stride * eb) % 64, name).toBe(0);
      expect(r.stride * eb, name).toBeGreaterThanOrEqual(64);
      expect(r.stride, name).toBeGreaterThanOrEqual(r.count);
      expect(r.byteLength, name).toBeGreaterThanOrEqual(r.stride * eb * cpus);
      for (let cpu = 0; cpu + 1 < cpus; cpu++) {
        const lastByteOfThis = (atCpu(r, cpu, r.count - 1) + 1) * eb - 1;
        const firstByteOfNext = atCpu(r, cpu + 1) * eb;
        expect(firstByteOfNext - atCpu(r, cpu) * eb, name).toBeGreaterThanOrEqual(64);
        expect(Math.floor(lastByteOfThis / 64), `${name}: cpu${cpu} and cpu${cpu + 1} share a line`).toBeLessThan(
          Math.floor(firstByteOfNext / 64),
        );
      }
      const lastByte = (atCpu(r, cpus - 1, r.count - 1) + 1) * eb;
      expect(lastByte, name).toBeLessThanOrEqual(r.byteOffset + r.byteLength);
    }
    // 17 i32 = 68 bytes: two lines per slot
    expect(region(layout, 'c').stride).toBe(32);
    expect(region(layout, 'f').stride).toBe(16);
    expect(region(layout, 'b').stride).toBe(8);
  });

  it("mapMemory on the same buffer gives views that see each other's writes", () => {
    const m1 = allocateMemory(layout);
    const m2 = mapMemory(m1.sab, JSON.parse(JSON.stringify(layout)) as Layout);
    const c = region(layout, 'c');
    m1.i32[atCpu(c, 3, 16)] = 1234;
    expect(m2.i32[atCpu(region(m2.layout, 'c'), 3, 16)]).toBe(1234);
    const d = region(layout, 'd');
    Atomics.store(m2.i64, at(d, 2), -(2n ** 62n));
    expect(Atomics.load(m1.i64, at(d, 2))).toBe(-(2n ** 62n));
    // the i64 view and the i32 view alias the same bytes (little-endian halves)
    m1.i64[at(d, 0)] = 0x1_0000_0002n;
    expect(m2.i32[at(d, 0) * 2]).toBe(2);
    expect(m2.i32[at(d, 0) * 2 + 1]).toBe(1);
    expect(m1.i32.length * 4).toBe(layout.bytes);
    zeroMemory(m2);
    expect(m1.i32[atCpu(c, 3, 16)]).toBe(0);
    expect(m1.i64[at(d, 2)]).toBe(0n);
    // a bigger buffer is fine; a smaller one is refused
    expect(mapMemory(new SharedArrayBuffer(layout.bytes + 64), layout).i32.length).toBe(layout.bytes / 4);
    expect(() => mapMemory(new SharedArrayBuffer(layout.bytes - 64), layout)).toThrow(RangeError);
  });

  it('bad cpu and element counts throw; an unknown region is named in the error', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => defineLayout(bad, {}), `cpus ${bad}`).toThrow(RangeError);
    }
    for (const bad of [-1, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => defineLayout(2, { x: { kind: 'i32', count: bad } }), `count ${bad}`).toThrow(
        /region x has bad count/,
      );
    }
    expect(() => region(layout, 'nope')).toThrow(/no region 'nope'.*a, b, c/);
    expect(defineLayout(1, {}).bytes).toBe(64);
  });
});

// ---------------------------------------------------------------------------------------------------
// seeded randomness

describe('rng', () => {
  const draw = (rng: ReturnType<typeof opRng>, n: number): number[] =>
    Array.from({ length: n }, () => randInt(rng, 0, 1_000_000));

  it('op streams are a pure function of (seed, vCPU) and differ between vCPUs, seeds and purposes', () => {
    expect(draw(opRng(42, 0), 50)).toEqual(draw(opRng(42, 0), 50));
    expect(draw(opRng(42, 0), 50)).not.toEqual(draw(opRng(42, 1), 50));
    expect(draw(opRng(42, 0), 50)).not.toEqual(draw(opRng(43, 0), 50));
    expect(draw(rngFor(42, 1), 50)).not.toEqual(draw(rngFor(42, 2), 50));
    expect(draw(rngFor(42, 1), 50)).not.toEqual(draw(opRng(42, 0), 50));
    const mixes = new Set<number>();
    for (let s = 0; s < 100; s++) for (let k = 0; k < 10; k++) mixes.add(mix32(s, k));
    expect(mixes.size).toBe(1000);
    for (const m of mixes) expect(m | 0).toBe(m);
  });

  it('randInt covers [lo, hi] inclusive and nothing else; pickWeighted never picks a zero weight', () => {
    const rng = rngFor(7, 9);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(randInt(rng, -2, 3));
    expect([...seen].sort((a, b) => a - b)).toEqual([-2, -1, 0, 1, 2, 3]);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[pickWeighted(rng, [1, 0, 3, 0])]!++;
    expect(counts[1]).toBe(0);
    expect(counts[3]).toBe(0);
    expect(counts[0]! + counts[2]!).toBe(4000);
    expect(counts[2]!).toBeGreaterThan(2 * counts[0]!); // 3:1, loosely
  });
});

// ---------------------------------------------------------------------------------------------------
// sync primitives outside any scheduler

describe('counters and locks, run to completion', () => {
  const layout = defineLayout(2, {
    before: { kind: 'i32', count: 3 },
    c64: { kind: 'i64', count: 2 },
    after: { kind: 'i32', count: 3 },
    c32: { kind: 'i32', count: 1 },
    lock: { kind: 'i32', count: LOCK_WORDS },
  });
  const fresh = (): { cpu0: Cpu; cpu1: Cpu; mem: ReturnType<typeof allocateMemory>; checker: Checker } => {
    const mem = allocateMemory(layout);
    const checker = new Checker([]);
    return { mem, checker, cpu0: new Cpu(0, 'explore', mem, checker), cpu1: new Cpu(1, 'explore', mem, checker) };
  };

  it('Counter64 add / plainAdd / cmpxchg work on the BigInt64Array view, beyond 2^53, and touch nothing else', () => {
    const { mem, cpu0 } = fresh();
    const c = new Counter64(at(region(layout, 'c64'), 1), 'fq.start');
    const big = 2n ** 60n + 7n;
    expect(runToEnd(c.add(cpu0, big))).toBe(0n);
    expect(runToEnd(c.add(cpu0, 3n))).toBe(big);
    expect(c.peek(mem.i64)).toBe(big + 3n);
    expect(runToEnd(c.plainAdd(cpu0, 10n))).toBe(big + 13n);
    expect(runToEnd(c.load(cpu0))).toBe(big + 13n);
    expect(runToEnd(c.cmpxchg(cpu0, 1n, 5n))).toBe(big + 13n);
    expect(c.peek(mem.i64)).toBe(big + 13n);
    expect(runToEnd(c.cmpxchg(cpu0, big + 13n, -1n))).toBe(big + 13n);
    expect(mem.i64[at(region(layout, 'c64'), 1)]).toBe(-1n);
    runToEnd(c.store(cpu0, 2n ** 63n - 1n));
    expect(c.peek(mem.i64)).toBe(2n ** 63n - 1n);
    // the neighbours are untouched
    expect(mem.i64[at(region(layout, 'c64'), 0)]).toBe(0n);
    expect([...mem.i32.subarray(at(region(layout, 'before')), at(region(layout, 'before'), 3))]).toEqual([0, 0, 0]);
    expect([...mem.i32.subarray(at(region(layout, 'after')), at(region(layout, 'after'), 3))]).toEqual([0, 0, 0]);
  });

  it('Counter32 plainAdd is a load, a scheduling point and a store: interleaved by hand it loses an update', () => {
    const { mem, cpu0, cpu1 } = fresh();
    const c = new Counter32(at(region(layout, 'c32')), 'nr_endpoints');
    const a = c.plainAdd(cpu0, 1);
    const b = c.plainAdd(cpu1, 1);
    expect(a.next().value).toBe('read nr_endpoints');
    expect(b.next().value).toBe('read nr_endpoints');
    expect(a.next().value).toBe('write nr_endpoints'); // cpu0 loaded 0
    expect(b.next().value).toBe('write nr_endpoints'); // cpu1 loaded 0
    expect(a.next()).toEqual({ done: true, value: 1 });
    expect(b.next()).toEqual({ done: true, value: 1 });
    expect(c.peek(mem.i32)).toBe(1);
    // the atomic add interleaved the same way does not
    const x = c.add(cpu0, 1);
    const y = c.add(cpu1, 1);
    x.next();
    y.next();
    expect(x.next()).toEqual({ done: true, value: 1 });
    expect(y.next()).toEqual({ done: true, value: 2 });
    expect(c.peek(mem.i32)).toBe(3);
  });

  it('a taken lock blocks the second vCPU in explore mode, records the owner, and unlocks', () => {
    const { mem, cpu0, cpu1 } = fresh();
    const lock = lockRef('l', at(region(layout, 'lock')));
    runToEnd(spinLock(cpu0, lock));
    expect(lockOwner(mem.i32, lock)).toBe(0);
    expect(taskOf(cpu0).held).toEqual([lock]);
    expect(lockHeld(cpu0, lock)).toBe(true);
    expect(lockHeld(cpu1, lock)).toBe(false);
    expect(runToEnd(spinTryLock(cpu1, lock))).toBe(false);
    const w = spinLock(cpu1, lock);
    expect(w.next().value).toBe('lock l');
    expect(w.next().value).toBe('lock l'); // CAS failed: blocked, paused at the acquire site again
    expect(taskOf(cpu1).blockedOn).toBe(lock.index);
    runToEnd(spinUnlock(cpu0, lock));
    expect(lockOwner(mem.i32, lock)).toBe(-1);
    expect(w.next().done).toBe(true);
    expect(taskOf(cpu1).blockedOn).toBe(-1);
    expect(lockOwner(mem.i32, lock)).toBe(1);
    expect(() => runToEnd(spinUnlock(cpu0, lock))).toThrow(/cpu0 releases l, which it does not hold/);
  });
});

// ---------------------------------------------------------------------------------------------------
// tiny scenarios for the explore executor

const variant = (name: string): VariantDef => ({ name, summary: name, expect: 'clean' });

function exploreOnce(
  scenario: ScenarioDef,
  v: string,
  seed: number,
  schedules: number,
  o: { strategy?: StrategyName; depth?: number; opsPerCpu?: number; params?: Record<string, number> } = {},
): ExploreOutcome {
  return explore({
    scenario,
    variant: scenario.variants.find((x) => x.name === v)!,
    params: o.params ?? {},
    opsPerCpu: [o.opsPerCpu ?? 2, o.opsPerCpu ?? 2],
    strategy: o.strategy ?? 'random',
    depth: o.depth ?? 2,
    schedules,
    timeMs: Number.POSITIVE_INFINITY,
    seed,
    maxSteps: 10_000,
    shrink: true,
  });
}

/** Two vCPUs increment one shared counter: plainly (racy), atomically, or plainly under a spinlock. */
const counterInvariants: readonly InvariantDef[] = [
  { id: 'LOST-UPDATE', meaning: 'the counter equals the number of increments', grade: 'FORBIDDEN' },
];

const counterScenario: ScenarioDef = {
  name: 'test-counter',
  summary: 'shared counter',
  follows: 'nothing',
  params: {},
  exploreCpus: 2,
  exploreOps: 2,
  invariants: counterInvariants,
  variants: [variant('plain'), variant('atomic'), variant('locked')],
  build({ cpus, variant: { name: v } }): ScenarioModel {
    const layout = defineLayout(cpus, {
      counter: { kind: 'i32', count: 1 },
      lock: { kind: 'i32', count: LOCK_WORDS },
      done: { kind: 'i32', count: 1, perCpu: true },
    });
    const counter = new Counter32(at(region(layout, 'counter')), 'counter');
    const lock = lockRef('counter_lock', at(region(layout, 'lock')));
    const done = region(layout, 'done');
    return {
      layout,
      init() {
        /* all zero */
      },
      program(cpu) {
        function* inc(): Op {
          if (v === 'plain') yield* counter.plainAdd(cpu, 1);
          else if (v === 'atomic') yield* counter.add(cpu, 1);
          else {
            yield* spinLock(cpu, lock);
            yield* counter.plainAdd(cpu, 1);
            yield* spinUnlock(cpu, lock);
          }
          Atomics.add(cpu.i32, atCpu(done, cpu.id), 1); // checker state, private to this vCPU
        }
        return { next: inc, describe: () => `inc ${v}` };
      },
      quiescent(mem, report) {
        let incs = 0;
        for (let c = 0; c < cpus; c++) incs += mem.i32[atCpu(done, c)]!;
        const got = counter.peek(mem.i32);
        if (got !== incs) report('LOST-UPDATE', `counter is ${got} after ${incs} increments`);
      },
    };
  },
};

/** Two locks; cpu0 always takes A then B; cpu1 takes B then A ('ab-ba') or A then B ('ab-ab'). */
const twoLockScenario: ScenarioDef = {
  name: 'test-two-locks',
  summary: 'two locks',
  follows: 'nothing',
  params: { ranked: { default: 0, min: 0, max: 1, help: '1: give the locks lockdep ranks A=1 < B=2' } },
  exploreCpus: 2,
  exploreOps: 1,
  invariants: [],
  variants: [variant('ab-ba'), variant('ab-ab')],
  build({ cpus, variant: { name: v }, params }): ScenarioModel {
    const layout = defineLayout(cpus, {
      a: { kind: 'i32', count: LOCK_WORDS },
      b: { kind: 'i32', count: LOCK_WORDS },
      n: { kind: 'i32', count: 1 },
    });
    const ranked = params.ranked === 1;
    const A = lockRef('lockA', at(region(layout, 'a')), ranked ? 1 : 0);
    const B = lockRef('lockB', at(region(layout, 'b')), ranked ? 2 : 0);
    const n = new Counter32(at(region(layout, 'n')), 'n');
    return {
      layout,
      init() {
        /* all zero */
      },
      program(cpu) {
        const [first, second] = cpu.id === 1 && v === 'ab-ba' ? [B, A] : [A, B];
        function* nested(): Op {
          yield* spinLock(cpu, first);
          yield* n.add(cpu, 1);
          yield* spinLock(cpu, second);
          yield* n.add(cpu, 1);
          yield* spinUnlock(cpu, second);
          yield* spinUnlock(cpu, first);
        }
        return { next: nested, describe: () => `${first.name} then ${second.name}` };
      },
      quiescent() {
        /* nothing to scan */
      },
    };
  },
};

describe('sync primitives under the explore executor', () => {
  const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

  it('plainAdd: random exploration finds the lost update within 50 schedules for each of 10 seeds', () => {
    for (const seed of SEEDS) {
      const r = exploreOnce(counterScenario, 'plain', seed, 50);
      expect(r.violation?.invariant, `seed ${seed}`).toBe('LOST-UPDATE');
      expect(r.violation!.site).toBe('quiescent');
      expect(r.violation!.message).toMatch(/^counter is \d+ after \d+ increments$/);
      expect(r.schedules, `seed ${seed}`).toBeLessThanOrEqual(50);
      // Shrunk, but a lost update needs both vCPUs. (The greedy shrinker does not always reach [1, 1]:
      // it drops a vCPU's *last* ops under the same schedule, and for seeds 7 and 10 the race is in
      // cpu0's second op, so it stops at [2, 1].)
      const min = r.minimal!.repro.opsPerCpu;
      expect(
        min.every((k) => k >= 1),
        `seed ${seed}: ${min}`,
      ).toBe(true);
      expect(r.minimal!.ops).toBeLessThanOrEqual(r.original!.ops);
      expect(r.minimal!.violation.message).toBe(`counter is ${r.minimal!.ops - 1} after ${r.minimal!.ops} increments`);
    }
  });

  it('PCT finds the lost update too', () => {
    for (const seed of SEEDS.slice(0, 5)) {
      const r = exploreOnce(counterScenario, 'plain', seed, 100, { strategy: 'pct', depth: 2 });
      expect(r.violation?.invariant, `seed ${seed}`).toBe('LOST-UPDATE');
    }
  });

  it('atomic add stays clean over 500 schedules (random and PCT)', () => {
    for (const strategy of ['random', 'pct'] as const) {
      const r = exploreOnce(counterScenario, 'atomic', 11, 500, { strategy, opsPerCpu: 3 });
      expect(r.violation, strategy).toBeUndefined();
      expect(r.schedules).toBe(500);
      expect(r.steps).toBe(500 * 6); // one step per atomic add, 3 per vCPU
    }
  });

  it('plainAdd under spinLock/spinUnlock stays clean over 500 schedules (random and PCT)', () => {
    for (const strategy of ['random', 'pct'] as const) {
      const r = exploreOnce(counterScenario, 'locked', 12, 500, { strategy, opsPerCpu: 3 });
      expect(r.violation, strategy).toBeUndefined();
      expect(r.schedules).toBe(500);
      // lock + load + store + unlock per increment, and more whenever a vCPU retried a taken lock
      expect(r.steps).toBeGreaterThan(500 * 6 * 4);
    }
  });

  it('AB-BA without ranks: random exploration finds a DEADLOCK that names both locks', () => {
    let found = 0;
    for (const seed of SEEDS.slice(0, 5)) {
      const r = exploreOnce(twoLockScenario, 'ab-ba', seed, 100, { opsPerCpu: 1 });
      expect(r.violation?.invariant, `seed ${seed}`).toBe('DEADLOCK');
      const msg = r.violation!.message;
      expect(msg).toMatch(/cpu0 holds lockA, waits at 'lock lockB' \(held by cpu1\)/);
      expect(msg).toMatch(/cpu1 holds lockB, waits at 'lock lockA' \(held by cpu0\)/);
      expect(r.violation!.vcpu).toBe(-1);
      found++;
    }
    expect(found).toBe(5);
  });

  it('AB-BA without ranks on a serial schedule neither deadlocks nor trips lockdep (rank 0 = unordered)', () => {
    const model = twoLockScenario.build({
      cpus: 2,
      variant: variantOf(twoLockScenario, 'ab-ba'),
      params: { ranked: 0 },
    });
    const res = runExecution(
      {
        scenario: twoLockScenario,
        model,
        mem: allocateMemory(model.layout),
        opSeed: 1,
        opsPerCpu: [1, 1],
        maxSteps: 1000,
      },
      new ReplayScheduler([]),
    );
    expect(res.violation).toBeUndefined();
    expect(res.preemptions).toBe(0);
  });

  it('AB-BA with ranks trips LOCKDEP on a serial schedule that cannot deadlock (replay of a serial schedule)', () => {
    const model = twoLockScenario.build({
      cpus: 2,
      variant: variantOf(twoLockScenario, 'ab-ba'),
      params: { ranked: 1 },
    });
    // an empty schedule replays as non-preemptive: cpu0 runs its op to the end, then cpu1
    const res = runExecution(
      {
        scenario: twoLockScenario,
        model,
        mem: allocateMemory(model.layout),
        opSeed: 1,
        opsPerCpu: [1, 1],
        maxSteps: 1000,
      },
      new ReplayScheduler([]),
    );
    expect(res.violation?.invariant).toBe('LOCKDEP');
    expect(res.violation!.vcpu).toBe(1);
    expect(res.violation!.message).toBe('cpu1 takes lockA (rank 1) while holding lockB (rank 2)');
    expect(res.preemptions).toBe(0);
    const d = [...res.decisions];
    expect(d.indexOf(1)).toBeGreaterThan(0);
    expect(d.slice(0, d.indexOf(1)).every((c) => c === 0)).toBe(true);
    expect(d.slice(d.indexOf(1)).every((c) => c === 1)).toBe(true);
  });

  it('AB-BA with ranks: PCT of depth 1 (no priority changes: serial) reports LOCKDEP, never DEADLOCK', () => {
    for (const seed of SEEDS) {
      const r = exploreOnce(twoLockScenario, 'ab-ba', seed, 1, {
        strategy: 'pct',
        depth: 1,
        opsPerCpu: 1,
        params: { ranked: 1 },
      });
      expect(r.schedules).toBe(1);
      expect(r.violation?.invariant, `seed ${seed}`).toBe('LOCKDEP');
      expect(r.violation!.message).toMatch(/cpu1 takes lockA \(rank 1\) while holding lockB \(rank 2\)/);
      expect(r.minimal!.preemptions).toBe(0);
    }
  });

  it('correct nesting in rank order (both A then B) stays clean over 500 schedules', () => {
    for (const strategy of ['random', 'pct'] as const) {
      const r = exploreOnce(twoLockScenario, 'ab-ab', 13, 500, {
        strategy,
        depth: 3,
        opsPerCpu: 2,
        params: { ranked: 1 },
      });
      expect(r.violation, strategy).toBeUndefined();
      expect(r.schedules).toBe(500);
    }
  });

  it('taking a ranked lock at or below a held rank is LOCKDEP even for the same class', () => {
    const layout = defineLayout(1, { a: { kind: 'i32', count: LOCK_WORDS }, b: { kind: 'i32', count: LOCK_WORDS } });
    const mem = allocateMemory(layout);
    const checker = new Checker([]);
    const cpu = new Cpu(0, 'explore', mem, checker);
    const a1 = lockRef('rcache', at(region(layout, 'a')), 5);
    const a2 = lockRef('rcache2', at(region(layout, 'b')), 5);
    runToEnd(spinLock(cpu, a1));
    expect(checker.failed).toBe(false);
    runToEnd(spinLock(cpu, a2));
    expect(checker.failed).toBe(true);
    expect(checker.violations[0]).toMatchObject({ invariant: 'LOCKDEP', vcpu: 0 });
    expect(checker.violations[0]!.message).toContain('rcache2 (rank 5) while holding rcache (rank 5)');
  });
});
