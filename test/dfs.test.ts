/**
 * explore --strategy dfs (src/explore/dfs.ts, footprint.ts): it runs every execution of a configuration
 * and ends; sleep sets keep one execution per equivalence class (the reachable end states are those of
 * the unreduced search); the preemption bound counts as CHESS counts; it finds a lost update with a
 * token that replays; it is deterministic; a small configuration of every scenario is exhaustive.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Cpu, Op } from '../src/engine/cpu.js';
import { allocateMemory, at, defineLayout, region } from '../src/engine/layout.js';
import { withDefaults, type ScenarioDef } from '../src/engine/scenario.js';
import { lockRef, spinLock, spinUnlock } from '../src/engine/sync.js';
import { atomic_inc, READ_ONCE, WRITE_ONCE } from '../src/engine/order.js';
import type { MemoryMode } from '../src/engine/memory-order.js';
import { DfsScheduler } from '../src/explore/dfs.js';
import { runExecution } from '../src/explore/execution.js';
import { explore, type ExploreOptions, type ExploreOutcome } from '../src/explore/explore.js';
import { exploreCommand, type ExploreFlags } from '../src/cli/explore-cmd.js';
import type { Io } from '../src/cli/io.js';
import { BadInput } from '../src/errors.js';
import { Pruned } from '../src/explore/scheduler.js';
import { decodeToken, validateRepro } from '../src/explore/repro.js';
import { TimerRef, timerRegions } from '../src/engine/timer.js';
import { findScenario, SCENARIOS } from '../src/scenarios/index.js';

interface DfsOpts {
  params?: Record<string, number>;
  maxPreemptions?: number;
  por?: boolean;
  seed?: number;
}

function dfs(scenario: ScenarioDef, variant: string, opsPerCpu: number[], o: DfsOpts = {}): ExploreOutcome {
  return explore(dfsOptions(scenario, variant, opsPerCpu, o));
}

function dfsOptions(scenario: ScenarioDef, variant: string, opsPerCpu: number[], o: DfsOpts): ExploreOptions {
  return {
    scenario,
    variant: scenario.variants.find((v) => v.name === variant)!,
    params: withDefaults(scenario, { ...scenario.exploreParams, ...o.params }),
    opsPerCpu,
    strategy: 'dfs',
    depth: 1,
    maxPreemptions: o.maxPreemptions,
    por: o.por,
    schedules: Number.MAX_SAFE_INTEGER,
    timeMs: Infinity,
    seed: o.seed ?? 1,
    maxSteps: 100_000,
    shrink: false,
  };
}

const quietIo: Io = {
  out: () => {},
  err: () => {},
  progress: () => {},
  status: () => {},
  paint: (t) => t,
  commandLine: 'test',
};

const counter = findScenario('counter')!;

/**
 * A small mixed model: each vCPU writes its own word, bumps a shared word under a lock, and copies a
 * word another vCPU writes — commuting steps, conflicting ones and blocking in a few steps.
 */
const mixed: ScenarioDef = {
  name: 'test-mixed',
  summary: 'own, locked and racy words',
  follows: 'nothing',
  params: {},
  exploreCpus: 3,
  exploreOps: 1,
  invariants: [],
  variants: [{ name: 'v', summary: 'v', expect: 'clean' }],
  build({ cpus }) {
    const layout = defineLayout(cpus, { w: { kind: 'i32', count: 8 }, l: { kind: 'i32', count: 2 } });
    const w = at(region(layout, 'w'));
    const l = lockRef('l', at(region(layout, 'l')));
    return {
      layout,
      init() {
        /* all zero */
      },
      program(cpu) {
        const c = cpu.id;
        function* op(): Op {
          yield 'own';
          Atomics.store(cpu.i32, w + c, 1);
          yield* spinLock(cpu, l);
          yield 'shared';
          cpu.i32[w + 4] = cpu.i32[w + 4]! + 1;
          yield* spinUnlock(cpu, l);
          yield 'copy';
          cpu.i32[w + 5 + c] = Atomics.load(cpu.i32, w + ((c + 1) % cpus));
        }
        return { next: op, describe: () => 'op' };
      },
      quiescent() {},
    };
  },
};

/**
 * A lock and a timer: each vCPU bumps a word under the lock, and vCPU 0 arms the timer there (mod_timer,
 * one second: with deadlines it would never fire in these few steps); the timer copies the word under
 * the lock. Untimed (dfs), it may fire from the step that armed it: before or after vCPU 1's bump.
 */
const timed: ScenarioDef = {
  name: 'test-timed',
  summary: 'a lock and a timer',
  follows: 'nothing',
  params: {},
  exploreCpus: 2,
  exploreOps: 1,
  invariants: [],
  variants: [{ name: 'v', summary: 'v', expect: 'clean' }],
  build({ cpus }) {
    const layout = defineLayout(cpus, {
      w: { kind: 'i32', count: 4 },
      l: { kind: 'i32', count: 2 },
      ...timerRegions(1),
    });
    const w = at(region(layout, 'w'));
    const l = lockRef('l', at(region(layout, 'l')));
    const ref = new TimerRef(layout, 0, 't');
    return {
      layout,
      init() {
        /* all zero */
      },
      timers: [
        {
          ref,
          *callback(cpu: Cpu): Op {
            yield* spinLock(cpu, l);
            yield 'copy';
            cpu.i32[w + 1] = cpu.i32[w]! + 10 * cpu.i32[w + 1]!;
            yield* spinUnlock(cpu, l);
          },
        },
      ],
      program(cpu) {
        function* op(): Op {
          yield* spinLock(cpu, l);
          yield 'bump';
          cpu.i32[w] = cpu.i32[w]! + 1;
          if (cpu.id === 0) yield* ref.mod(cpu, 1e9);
          yield* spinUnlock(cpu, l);
        }
        return { next: op, describe: () => 'op' };
      },
      quiescent() {},
    };
  },
};

/**
 * Counters: each vCPU bumps a shared word with atomic_inc (a commuting update, order.ts counterAdd)
 * `incs` times, then (with `read`) copies the word into a word of its own.
 */
function counting(incs: number, read: boolean): ScenarioDef {
  return {
    ...mixed,
    name: 'test-counting',
    build({ cpus }) {
      const layout = defineLayout(cpus, { w: { kind: 'i32', count: 8 } });
      const w = at(region(layout, 'w'));
      return {
        layout,
        init() {
          /* all zero */
        },
        program(cpu) {
          function* op(): Op {
            for (let k = 0; k < incs; k++) {
              yield 'inc';
              atomic_inc(cpu, w);
            }
            if (!read) return;
            yield 'read';
            cpu.i32[w + 1 + cpu.id] = Atomics.load(cpu.i32, w);
          }
          return { next: op, describe: () => 'op' };
        },
        quiescent() {},
      };
    },
  };
}

/**
 * Message passing without barriers, plus a plain word of its own each: cpu0 writes x then y; cpu1
 * reads y then x and keeps what it read.
 */
const weakMix: ScenarioDef = {
  ...mixed,
  name: 'test-weak-mix',
  build({ cpus }) {
    const layout = defineLayout(cpus, { w: { kind: 'i32', count: 16 } });
    const w = at(region(layout, 'w'));
    const [x, y, own] = [w, w + 1, w + 3];
    return {
      layout,
      init() {
        /* all zero */
      },
      program(cpu) {
        const c = cpu.id;
        function* cpu0(): Op {
          yield 'own';
          cpu.i32[own + c] = 1;
          yield 'x';
          WRITE_ONCE(cpu, x, 1);
          yield 'y';
          WRITE_ONCE(cpu, y, 1);
        }
        function* cpu1(): Op {
          yield 'own';
          cpu.i32[own + c] = 1;
          yield 'y';
          cpu.i32[w + 9] = READ_ONCE(cpu, y);
          yield 'x';
          cpu.i32[w + 10] = READ_ONCE(cpu, x);
        }
        return { next: c === 0 ? cpu0 : cpu1, describe: () => 'op' };
      },
      quiescent() {},
    };
  },
};

/** Every execution's end state (a hash of the buffer), enumerated by dfs directly. */
function endStates(
  scenario: ScenarioDef,
  cpus: number,
  por: boolean,
  memory?: MemoryMode,
  only?: string,
): { states: Set<string>; runs: number } {
  const model = scenario.build({ cpus, variant: scenario.variants[0]!, params: withDefaults(scenario) });
  const mem = allocateMemory(model.layout);
  const s = new DfsScheduler({ maxPreemptions: Infinity, por });
  const w = s.watch(mem);
  const states = new Set<string>();
  let runs = 0;
  try {
    while (!s.exhausted()) {
      try {
        const spec = { scenario, model, mem: w.mem, opSeed: 1, opsPerCpu: Array(cpus).fill(1), maxSteps: 1000, memory };
        runExecution(spec, s);
      } catch (e) {
        if (e instanceof Pruned) continue;
        throw e;
      }
      runs++;
      const r = only === undefined ? undefined : region(model.layout, only);
      const bytes = r ? new Uint8Array(mem.sab, r.byteOffset, r.byteLength) : new Uint8Array(mem.sab);
      states.add(createHash('sha256').update(bytes).digest('hex'));
    }
  } finally {
    w.stop();
  }
  return { states, runs };
}

describe('dfs', () => {
  it('sleep sets reach every end state of the unreduced search with fewer executions', () => {
    const full = endStates(mixed, 2, false);
    const reduced = endStates(mixed, 2, true);
    expect(reduced.states).toEqual(full.states);
    expect(full.states.size).toBeGreaterThan(1);
    // C(10, 5) = 252 interleavings less the 200 with both vCPUs between spin_lock and spin_unlock: dfs runs
    // untimed (execution.ts), so a vCPU waits for the lock without a failed attempt of its own.
    expect(full.runs).toBe(52);
    expect(reduced.runs).toBeLessThan(full.runs / 4);
    // The logging views and Atomics are gone after the campaign.
    expect(Atomics.load.name).toBe('load');
  });

  it('untimed: a timer fires from the step that armed it, a lock waiter never fails; the reduction keeps every end state', () => {
    // The deadline (the clock at mod_timer) is left out: it is not compared with anything but 0.
    const full = endStates(timed, 2, false, 'sc', 'w');
    const reduced = endStates(timed, 2, true, 'sc', 'w');
    expect(reduced.states).toEqual(full.states);
    // The timer copies 1 (armed by vCPU 0's bump, fired before vCPU 1's) or 2, or has not fired when
    // the vCPUs are done (0: the 'end' choice); with deadlines only the 0 would be reachable.
    expect(full.states.size).toBe(3);
    expect(reduced.runs).toBeLessThan(full.runs);
  });

  it('under --memory weak the reduction keeps every end state (stale reads, buffered stores included)', () => {
    const full = endStates(weakMix, 2, false, 'weak');
    const reduced = endStates(weakMix, 2, true, 'weak');
    expect(reduced.states).toEqual(full.states);
    // More end states than sc has: cpu1 can see y = 1 and then x = 0 (MP without barriers).
    expect(full.states.size).toBeGreaterThan(endStates(weakMix, 2, false, 'sc').states.size);
    expect(reduced.runs).toBeLessThan(full.runs / 2);
  });

  it('atomic_inc updates commute with each other, not with a read of the counter', () => {
    // Three incs each: C(6,3) = 20 interleavings, one class.
    expect(endStates(counting(3, false), 2, true).runs).toBe(1);
    expect(endStates(counting(3, false), 2, false).runs).toBe(20);
    const full = endStates(counting(2, true), 2, false);
    const reduced = endStates(counting(2, true), 2, true);
    expect(reduced.states).toEqual(full.states);
    expect(full.states.size).toBeGreaterThan(2);
    expect(reduced.runs).toBeLessThan(full.runs);
  });

  it('counts executions exactly: all interleavings of conflicting steps, one of commuting ones', () => {
    const p = { params: { stepsPerOp: 3 } };
    // Two vCPUs, three Atomics.add each on one word: every one of C(6,3) = 20 orders differs.
    expect(dfs(counter, 'shared', [1, 1], p)).toMatchObject({ schedules: 20, exhaustive: true });
    expect(dfs(counter, 'shared', [1, 1], { ...p, por: false })).toMatchObject({ schedules: 20, pruned: 0 });
    // Per-CPU words: all 20 interleavings are one class.
    expect(dfs(counter, 'percpu', [1, 1], p)).toMatchObject({ schedules: 1, exhaustive: true });
    expect(dfs(counter, 'percpu', [1, 1], { ...p, por: false }).schedules).toBe(20);
    // CHESS's count: who starts (2), then at most one preemption after step 1 or 2 of the first (2 x 2).
    expect(dfs(counter, 'shared', [1, 1], { ...p, maxPreemptions: 0 }).schedules).toBe(2);
    expect(dfs(counter, 'shared', [1, 1], { ...p, maxPreemptions: 1 }).schedules).toBe(6);
  });

  it('finds the lost update with a token that replays, the same way every time', () => {
    const a = dfs(counter, 'plain-shared', [1, 1], { params: { stepsPerOp: 2 } });
    const b = dfs(counter, 'plain-shared', [1, 1], { params: { stepsPerOp: 2 } });
    expect(a.violation?.invariant).toBe('CNT-LOST');
    expect(a.exhaustive).toBe(false);
    expect(b.minimal!.token).toBe(a.minimal!.token);
    expect(b.schedules).toBe(a.schedules);
    // (the token was replayed when it was packaged: a repro that does not fail again is a HarnessError)
    expect(a.minimal!.traceHash).toBe(b.minimal!.traceHash);
    // The token says the execution ran untimed, and replays so.
    const r = decodeToken(a.minimal!.token);
    expect(r.untimed).toBe(true);
    expect(() => validateRepro({ ...r, untimed: 'yes' }, 'token')).toThrow(/untimed/);
  });

  // The smallest configuration of each scenario that still races: two vCPUs with one op each; where
  // that is more than a second here, with at most one preemption (figures for bigger ones: notes/).
  const SMALL: Record<string, { maxPreemptions?: number }> = {
    flushq: { maxPreemptions: 1 },
    mapsg: { maxPreemptions: 1 },
    pasid: { maxPreemptions: 1 },
  };
  it.each(SCENARIOS.map((s) => s.name))('%s: a small configuration is exhaustive and clean', (name) => {
    const s = findScenario(name)!;
    const r = dfs(s, s.variants[0]!.name, [1, 1], SMALL[name] ?? {});
    expect(r.violation).toBeUndefined();
    expect(r.exhaustive).toBe(true);
    expect(r.schedules).toBeGreaterThan(0);
  });

  it('prints "exhaustive: N executions (M pruned), clean"; JSON says so', async () => {
    const lines: string[] = [];
    const io = { ...quietIo, out: (t: string) => lines.push(t) };
    const f = { strategy: 'dfs', variant: 'shared', cpus: '2', ops: '1', param: ['stepsPerOp=3'], seed: '1' };
    expect(await exploreCommand('counter', f, io)).toBe(0);
    expect(lines.join('\n')).toMatch(
      /^exhaustive: 20 executions \(0 pruned\), clean; 120 steps in [\d.]+ s \(seed 1\)$/,
    );
    lines.length = 0;
    expect(await exploreCommand('counter', { ...f, json: true }, io)).toBe(0);
    expect(JSON.parse(lines.join(''))).toMatchObject({ exhaustive: true, pruned: 0, schedules: 20, por: true });
  });

  it('a budget that runs out first says so', () => {
    const short = explore({
      ...dfsOptions(counter, 'shared', [1, 1], { params: { stepsPerOp: 3 } }),
      schedules: 5,
    });
    expect(short).toMatchObject({ schedules: 5, exhaustive: false });
  });

  it('bad combinations are BadInput (exit 2) before any work', async () => {
    const run = (f: Partial<ExploreFlags>) => exploreCommand('counter', { param: [], seed: '1', ...f }, quietIo);
    await expect(run({ strategy: 'pct', maxPreemptions: '2' })).rejects.toThrow(
      '--max-preemptions belongs to --strategy dfs',
    );
    await expect(run({ strategy: 'random', por: false })).rejects.toThrow('--no-por belongs to --strategy dfs');
    await expect(run({ strategy: 'dfs', shard: '1/2' })).rejects.toThrow('cannot be sharded');
    await expect(run({ strategy: 'dfs', maxPreemptions: '-1' })).rejects.toThrow(BadInput);
  });
});
