/**
 * Kernel timers under the explore executor (engine/timer.ts, explore/execution.ts): a timer is task N
 * (after the vCPUs), runnable once the virtual clock passes its deadline; the clock advances nsPerStep
 * per step and jumps to the next deadline when no vCPU can run. Tested on a small inline scenario whose
 * vCPUs arm, cancel and synchronously cancel one timer whose callback bumps shared counters.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { InvariantDef } from '../src/check/invariant.js';
import type { Cpu, Op } from '../src/engine/cpu.js';
import { allocateMemory, at, defineLayout, region, type Memory } from '../src/engine/layout.js';
import {
  findVariant,
  withDefaults,
  type ModelConfig,
  type ScenarioDef,
  type ScenarioModel,
  variantOf,
} from '../src/engine/scenario.js';
import { TimerRef, timerRegions } from '../src/engine/timer.js';
import { runExecution, type ExecutionResult } from '../src/explore/execution.js';
import { explore, replayRepro } from '../src/explore/explore.js';
import { RandomScheduler } from '../src/explore/random.js';
import { ReplayScheduler } from '../src/explore/replay.js';
import { decodeToken } from '../src/explore/repro.js';
import type { Scheduler } from '../src/explore/scheduler.js';
import { formatTrace } from '../src/explore/trace.js';
import { waitUntilZero } from '../src/engine/sync.js';

const NS_PER_STEP = 100;
const TIMER = 'flush';
const FIRES = `timer ${TIMER} fires`;

const invariants: readonly InvariantDef[] = [
  { id: 'T-SYNC', meaning: 'after del_timer_sync returns, no callback is still running', grade: 'FORBIDDEN' },
];

/**
 * Variants (what each vCPU op does):
 *  - arm-spin:   mod_timer(delay), then `spin` steps of local work;
 *  - arm-wait:   mark "pending", mod_timer(delay), then wait (blocked) until the callback clears the mark;
 *  - del:        mod_timer(delay), del_timer twice (results recorded), then `spin` steps;
 *  - sync / nosync: mod_timer(delay), `spin` steps, then del_timer_sync (sync) or del_timer (nosync),
 *                then check that every callback that started has finished (T-SYNC).
 * The callback counts its entry, takes `cbSteps` more steps, counts its exit and clears "pending".
 */
function build({ cpus, variant: { name: variant }, params }: ModelConfig): ScenarioModel {
  const layout = defineLayout(cpus, {
    ...timerRegions(1),
    't.entered': { kind: 'i32', count: 1 },
    't.fired': { kind: 'i32', count: 1 },
    't.pending': { kind: 'i32', count: 1 },
    't.del': { kind: 'i32', count: 2 },
    't.waited': { kind: 'i32', count: 1 },
  });
  const ref = new TimerRef(layout, 0, TIMER);
  const entered = at(region(layout, 't.entered'));
  const fired = at(region(layout, 't.fired'));
  const pending = at(region(layout, 't.pending'));
  const delResult = region(layout, 't.del');
  const waited = at(region(layout, 't.waited'));
  const delay = params.delayNs!;
  const spin = params.spin!;
  const cbSteps = params.cbSteps!;

  function* spinFor(n: number): Op {
    for (let k = 0; k < n; k++) yield 'local work';
  }

  function* op(cpu: Cpu): Op {
    const i32 = cpu.i32;
    switch (variant) {
      case 'arm-spin':
        yield* ref.mod(cpu, delay);
        yield* spinFor(spin);
        return;
      case 'arm-wait':
        yield 'mark pending';
        Atomics.store(i32, pending, 1);
        yield* ref.mod(cpu, delay);
        yield* waitUntilZero(cpu, pending, 'wait for callback');
        return;
      case 'del': {
        yield* ref.mod(cpu, delay);
        const first = yield* ref.del(cpu);
        Atomics.store(i32, at(delResult, 0), first ? 1 : 2);
        const second = yield* ref.del(cpu);
        Atomics.store(i32, at(delResult, 1), second ? 1 : 2);
        yield* spinFor(spin);
        return;
      }
      case 'sync':
      case 'nosync': {
        yield* ref.mod(cpu, delay);
        yield* spinFor(spin);
        yield 'peek running';
        if (Atomics.load(i32, ref.runningIndex) !== 0) Atomics.add(i32, waited, 1);
        if (variant === 'sync') yield* ref.delSync(cpu);
        else yield* ref.del(cpu);
        yield 'check callback finished';
        const e = Atomics.load(i32, entered);
        const f = Atomics.load(i32, fired);
        if (e !== f)
          cpu.fail(
            'T-SYNC',
            `cpu${cpu.id}: ${e - f} callback(s) still running after del_timer${variant === 'sync' ? '_sync' : ''} returned`,
          );
        return;
      }
      default:
        throw new Error(`no variant ${variant}`);
    }
  }

  return {
    layout,
    nsPerStep: NS_PER_STEP,
    init() {
      /* all zero */
    },
    program(cpu) {
      return { next: () => op(cpu), describe: () => variant };
    },
    quiescent() {
      /* the checks are online */
    },
    timers: [
      {
        ref,
        *callback(cpu: Cpu): Op {
          yield 'callback enter';
          Atomics.add(cpu.i32, entered, 1);
          yield* spinFor(cbSteps);
          yield 'callback exit';
          Atomics.add(cpu.i32, fired, 1);
          Atomics.store(cpu.i32, pending, 0);
        },
      },
    ],
  };
}

const scenario: ScenarioDef = {
  name: 'timer-selftest',
  summary: 'one timer armed, cancelled and synchronously cancelled by vCPUs',
  follows: 'engine/timer.ts',
  params: {
    delayNs: { default: 3 * NS_PER_STEP, min: 1, max: 1e15, help: 'mod_timer delay' },
    spin: { default: 5, min: 0, max: 1000, help: 'local steps after arming' },
    cbSteps: { default: 4, min: 0, max: 1000, help: 'callback steps between enter and exit' },
  },
  exploreCpus: 1,
  exploreOps: 3,
  invariants,
  variants: ['arm-spin', 'arm-wait', 'del', 'sync', 'nosync'].map((name) => ({
    name,
    summary: name,
    expect: 'clean' as const,
  })),
  build,
};

interface Run {
  readonly res: ExecutionResult;
  readonly mem: Memory;
  readonly model: ScenarioModel;
  readonly read: (name: string, i?: number) => number;
}

function runOnce(
  variant: string,
  opsPerCpu: readonly number[],
  scheduler: Scheduler,
  params: Record<string, number> = {},
  trace = true,
): Run {
  const model = scenario.build({
    cpus: opsPerCpu.length,
    variant: variantOf(scenario, variant),
    params: withDefaults(scenario, params),
  });
  const mem = allocateMemory(model.layout);
  const res = runExecution({ scenario, model, mem, opSeed: 1, opsPerCpu, maxSteps: 100_000, trace }, scheduler);
  return { res, mem, model, read: (name, i = 0) => Atomics.load(mem.i32, at(region(model.layout, name), i)) };
}

const fireSteps = (res: ExecutionResult) => res.trace!.filter((e) => e.kind === 'step' && e.site === FIRES);
const SEEDS = Array.from({ length: 200 }, (_, i) => 1 + i);

describe('timers in the explore executor', () => {
  it('a timer fires as its own task, in a column named timer:<name>, and its callback runs', () => {
    // arm-wait: the vCPU blocks until the callback has run, so the timer must fire once per op.
    const r = runOnce('arm-wait', [3], new RandomScheduler(1));
    expect(r.res.violation).toBeUndefined();
    expect(r.res.ops).toBe(3);
    expect(r.read('t.fired')).toBe(3);
    expect(r.read('t.entered')).toBe(3);
    expect(r.res.taskNames).toEqual(['cpu0', `timer:${TIMER}`]);
    const fires = fireSteps(r.res);
    expect(fires).toHaveLength(3);
    for (const e of fires) {
      expect(e.cpu).toBe(1);
      expect(r.res.taskNames[e.cpu]).toBe(`timer:${TIMER}`);
      expect(r.res.decisions[e.step]).toBe(1);
    }
    // The callback's own steps are in the timer's column too.
    expect(r.res.trace!.some((e) => e.kind === 'step' && e.cpu === 1 && e.site === 'callback exit')).toBe(true);
    const table = formatTrace(r.res.trace!, r.res.taskNames);
    expect(table.split('\n')[0]).toMatch(/cpu0\s*\|\s*timer:flush/);
    expect(table).toContain(FIRES);
  });

  it('when every vCPU is blocked the clock jumps to the deadline: a timer 10^12 ns away fires within a few steps', () => {
    const r = runOnce('arm-wait', [2], new RandomScheduler(2), { delayNs: 1e12 });
    expect(r.res.violation).toBeUndefined();
    expect(r.read('t.fired')).toBe(2);
    // 10^12 ns is 10^10 steps of 100 ns; the execution took a handful.
    expect(r.res.steps).toBeLessThan(100);
  });

  it('a timer whose deadline is not reached before every vCPU finishes never fires', () => {
    for (const seed of SEEDS.slice(0, 20)) {
      const r = runOnce('arm-spin', [3, 3], new RandomScheduler(seed), { delayNs: 1e12 });
      expect(r.res.violation).toBeUndefined();
      expect(r.res.ops).toBe(6);
      expect(r.read('t.fired')).toBe(0);
      expect(r.read('t.entered')).toBe(0);
      expect(Array.from(r.res.decisions)).not.toContain(2);
      expect(fireSteps(r.res)).toHaveLength(0);
      // still pending when the execution ended
      expect(Atomics.load(r.mem.i64, r.model.timers![0]!.ref.deadlineIndex)).not.toBe(0n);
    }
  });

  it('a short timer with vCPUs still running does fire (the control for the test above)', () => {
    let fired = 0;
    for (const seed of SEEDS.slice(0, 20)) {
      const r = runOnce('arm-spin', [3, 3], new RandomScheduler(seed), { delayNs: NS_PER_STEP, spin: 20 });
      expect(r.res.violation).toBeUndefined();
      fired += r.read('t.fired');
    }
    expect(fired).toBeGreaterThan(0);
  });

  it('del_timer cancels a pending timer (true), a second del finds nothing (false), and it never fires', () => {
    for (const seed of SEEDS.slice(0, 50)) {
      // The vCPU keeps running 30 steps (3000 ns) past a 500 ns deadline.
      const r = runOnce('del', [1], new RandomScheduler(seed), { delayNs: 5 * NS_PER_STEP, spin: 30 });
      expect(r.res.violation).toBeUndefined();
      expect(r.read('t.del', 0)).toBe(1);
      expect(r.read('t.del', 1)).toBe(2);
      expect(r.read('t.entered')).toBe(0);
      expect(fireSteps(r.res)).toHaveLength(0);
    }
  });

  it('del_timer_sync waits for a running callback: never returns while one runs (200 schedules)', () => {
    let waited = 0;
    for (const seed of SEEDS) {
      const r = runOnce('sync', [4], new RandomScheduler(seed), {}, false);
      expect(r.res.violation, `seed ${seed}`).toBeUndefined();
      expect(r.read('t.entered')).toBe(r.read('t.fired'));
      waited += r.read('t.waited');
    }
    // The callback was running when del_timer_sync was called in some executions: the wait was exercised.
    expect(waited).toBeGreaterThan(0);
  });

  it('plain del_timer does not wait: the same check catches a callback still running (the check bites)', () => {
    const caught = SEEDS.filter(
      (seed) => runOnce('nosync', [4], new RandomScheduler(seed), {}, false).res.violation?.invariant === 'T-SYNC',
    );
    expect(caught.length).toBeGreaterThan(0);
  });

  it('the same seed gives the same decisions and trace twice; a recorded schedule replays exactly', () => {
    let timerSteps = 0;
    for (const seed of [3, 17, 99]) {
      const a = runOnce('sync', [4], new RandomScheduler(seed));
      timerSteps += Array.from(a.res.decisions).filter((d) => d === 1).length;
      const b = runOnce('sync', [4], new RandomScheduler(seed));
      expect(Array.from(b.res.decisions)).toEqual(Array.from(a.res.decisions));
      expect(b.res.traceHash).toBe(a.res.traceHash);
      expect(b.read('t.fired')).toBe(a.read('t.fired'));
      const c = runOnce('sync', [4], new ReplayScheduler(a.res.decisions.slice()));
      expect(Array.from(c.res.decisions)).toEqual(Array.from(a.res.decisions));
      expect(c.res.traceHash).toBe(a.res.traceHash);
    }
    // The timer task took part in these schedules, so its decisions are part of what repeats.
    expect(timerSteps).toBeGreaterThan(0);
  });
});

describe('timers: repros and known defects', () => {
  it('explore finds the del_timer race; its repro names the timer task and replays exactly from the token', () => {
    const o = explore({
      scenario,
      variant: findVariant(scenario, 'nosync')!,
      params: withDefaults(scenario),
      opsPerCpu: [4],
      strategy: 'random',
      depth: 3,
      schedules: 1000,
      timeMs: Number.POSITIVE_INFINITY,
      seed: 1,
      maxSteps: 100_000,
      shrink: true,
    });
    expect(o.minimal?.violation.invariant).toBe('T-SYNC');
    const m = o.minimal!;
    expect(m.repro.timers).toBe(1);
    // The timer (task 1, after cpu0) fired in the failing schedule: it is in the recorded decisions.
    expect(m.repro.schedule.filter((_, i) => i % 2 === 0)).toContain(1);
    const back = decodeToken(m.token);
    expect(back).toEqual(m.repro);
    const model = scenario.build({
      cpus: back.opsPerCpu.length,
      variant: variantOf(scenario, back.variant),
      params: withDefaults(scenario, back.params),
    });
    const again = replayRepro(
      { scenario, model, mem: allocateMemory(model.layout), opSeed: back.opSeed, maxSteps: back.maxSteps },
      back,
    );
    expect(again.violation?.invariant).toBe('T-SYNC');
    expect(again.traceHash).toBe(m.traceHash);
    expect(
      again.trace!.some((e) => e.kind === 'step' && e.site === FIRES && again.taskNames[e.cpu] === `timer:${TIMER}`),
    ).toBe(true);
  });

  it('a timer callback deadlocked after re-arming itself is reported as DEADLOCK, not an endless loop', () => {
    // Runs in a child process: the defect is a synchronous infinite loop inside runExecution, which
    // would otherwise hang the test worker. The kill timeout is only a hang guard.
    const dist = pathToFileURL(
      path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'), 'dist', 'src'),
    ).href;
    const script = `
      const { defineLayout, allocateMemory, at, region } = await import('${dist}/engine/layout.js');
      const { TimerRef, timerRegions } = await import('${dist}/engine/timer.js');
      const { spinLock, spinUnlock, lockRef, LOCK_WORDS } = await import('${dist}/engine/sync.js');
      const { runExecution } = await import('${dist}/explore/execution.js');
      const scenario = { name: 'dl', summary: '', follows: '', params: {}, exploreCpus: 1, exploreOps: 1, invariants: [],
        variants: [{ name: 'v', summary: '', expect: 'clean' }],
        build({ cpus }) {
          const layout = defineLayout(cpus, { ...timerRegions(1), l: { kind: 'i32', count: LOCK_WORDS } });
          const ref = new TimerRef(layout, 0, 't');
          const L = lockRef('L', at(region(layout, 'l')));
          return { layout, nsPerStep: 10, init() {}, quiescent() {},
            // cpu0: arm, let the deadline pass, take L, then del_timer_sync while holding L
            program(cpu) { return { describe: () => 'op', next: () => (function* () {
              yield* ref.mod(cpu, 15);
              for (let i = 0; i < 5; i++) yield 'spin';
              yield* spinLock(cpu, L);
              yield* ref.delSync(cpu);
              yield* spinUnlock(cpu, L);
            })() }; },
            // the callback re-arms itself (mod_timer on a running timer is legal), then needs L
            timers: [{ ref, *callback(cpu) { yield 'cb'; yield* ref.mod(cpu, 1000); yield* spinLock(cpu, L); yield* spinUnlock(cpu, L); } }],
          };
        } };
      const model = scenario.build({ cpus: 1, variant: scenario.variants[0], params: {} });
      // Fire the timer as soon as it is due, then run cpu0 whenever it can: cpu0 takes L inside the callback's window.
      let fired = false;
      const sched = { newExecution() {}, nextCpu(r) { if (!fired && r.includes(1)) { fired = true; return 1; } return r.includes(0) ? 0 : r[0]; } };
      const res = runExecution({ scenario, model, mem: allocateMemory(model.layout), opSeed: 1, opsPerCpu: [1], maxSteps: 10000 }, sched);
      process.stdout.write(JSON.stringify({ invariant: res.violation?.invariant ?? null, steps: res.steps }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(child.signal, 'runExecution never returned (killed by the hang guard)').toBeNull();
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toMatchObject({ invariant: 'DEADLOCK' });
  });
});
