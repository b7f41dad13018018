/**
 * Kernel timers (timer_list, delayed work) for models — DESIGN.md "Time".
 *
 * A timer's deadline lives in shared memory (0 = not pending), so arming it is a shared write like any
 * other. Who fires it depends on the executor:
 *  - explore: each timer is a schedulable task next to the vCPUs, runnable once the virtual clock has
 *    passed its deadline; the clock advances a fixed quantum per step and jumps to the next deadline
 *    when no vCPU can run, so a timer interleaves with vCPU ops like a softirq would;
 *  - stress: the main thread fires due timers on real time while the workers run.
 * Firing clears the deadline and marks the timer running until its callback returns, so a model can
 * tell del_timer (does not wait) from del_timer_sync (waits for a running callback) — the FQ teardown
 * race of kernel-model.md §9 #6 is exactly that difference.
 */
import type { Cpu, Op, Site } from './cpu.js';
import { at, region, type Layout, type RegionSpec } from './layout.js';
import { waitUntilZero } from './sync.js';

export { RealClock, VirtualClock, type Clock } from './clock.js';

export interface TimerSpec {
  readonly ref: TimerRef;
  /** The timer function, run in timer context (its Cpu id is vCPUs + timer number). */
  callback(cpu: Cpu): Op<unknown>;
  /** The CPU it fires on (its Cpu.thisCpu, for per-CPU structures); default 0. */
  readonly runsOn?: number;
}

/**
 * A scenario's timers by name, numbered in order: `const TIMERS = timerIds('fq_timer', 'depot_work')` gives
 * `{ fq_timer: 0, depot_work: 1 }`, so a TimerRef's id is `TIMERS.fq_timer`, never a bare number, and a
 * trace's `timer:<name>` column names the same thing the code does.
 */
export type TimerIds<N extends string = string> = { readonly [K in N]: number };

export function timerIds<const N extends readonly string[]>(...names: N): TimerIds<N[number]> {
  if (new Set(names).size !== names.length) {
    throw new Error(`timerIds: a timer name is given twice (${names.join(', ')})`);
  }
  return Object.freeze(Object.fromEntries(names.map((n, k) => [n, k]))) as TimerIds<N[number]>;
}

/** The shared words of a scenario's timers: one deadline and one running flag each. */
export function timerRegions(timers: number | TimerIds): Record<string, RegionSpec> {
  const count = typeof timers === 'number' ? timers : Object.keys(timers).length;
  return {
    'timer.deadline': { kind: 'i64', count },
    'timer.running': { kind: 'i32', count },
  };
}

/** A model's handle on timer `id` (from the scenario's timerIds; TimerRef.named takes the name). */
export class TimerRef {
  readonly deadlineIndex: number;
  readonly runningIndex: number;
  private readonly modSite: Site;
  private readonly delSite: Site;
  private readonly syncSite: Site;
  private readonly scheduleSite: Site;

  constructor(
    layout: Layout,
    readonly id: number,
    readonly name: string,
  ) {
    this.deadlineIndex = at(region(layout, 'timer.deadline'), id);
    this.runningIndex = at(region(layout, 'timer.running'), id);
    this.modSite = `mod_timer ${name}`;
    this.delSite = `del_timer ${name}`;
    this.syncSite = `del_timer_sync ${name}`;
    this.scheduleSite = `schedule_delayed_work ${name}`;
  }

  /** The TimerRef of the timer `name` of a scenario's timerIds. */
  static named<N extends string>(layout: Layout, ids: TimerIds<N>, name: N): TimerRef {
    return new TimerRef(layout, ids[name], name);
  }

  /** mod_timer: (re)arm to fire `delayNs` from now. */
  *mod(cpu: Cpu, delayNs: number): Op {
    yield this.modSite;
    Atomics.store(cpu.i64, this.deadlineIndex, BigInt(Math.max(1, Math.round(cpu.clock.now() + delayNs))));
  }

  /**
   * schedule_delayed_work: arm to fire `delayNs` from now unless already pending (then nothing changes).
   * Returns whether it armed. The test-and-set of PENDING and the arm are one compare-and-swap.
   */
  *schedule(cpu: Cpu, delayNs: number, site: Site = this.scheduleSite): Op<boolean> {
    yield site;
    const deadline = BigInt(Math.max(1, Math.round(cpu.clock.now() + delayNs)));
    return Atomics.compareExchange(cpu.i64, this.deadlineIndex, 0n, deadline) === 0n;
  }

  /** del_timer: cancel if pending; a callback already running goes on. Returns whether it was pending. */
  *del(cpu: Cpu): Op<boolean> {
    yield this.delSite;
    return Atomics.exchange(cpu.i64, this.deadlineIndex, 0n) !== 0n;
  }

  /** del_timer_sync: cancel, then wait until a running callback has returned. */
  *delSync(cpu: Cpu): Op<boolean> {
    const was = yield* this.del(cpu);
    // Explore: wait like a lock waiter until the running word reads 0.
    yield* waitUntilZero(cpu, this.runningIndex, this.syncSite);
    return was;
  }

  /** timer_pending. */
  *pending(cpu: Cpu): Op<boolean> {
    yield `timer_pending ${this.name}`;
    return Atomics.load(cpu.i64, this.deadlineIndex) !== 0n;
  }
}

/** Executor side: is timer `id` due at `now`? Clears the deadline and marks it running if so. */
export function claimDueTimer(i32: Int32Array, i64: BigInt64Array, ref: TimerRef, now: number): boolean {
  const d = Atomics.load(i64, ref.deadlineIndex);
  if (d === 0n || Number(d) > now) return false;
  if (Atomics.compareExchange(i64, ref.deadlineIndex, d, 0n) !== d) return false;
  Atomics.store(i32, ref.runningIndex, 1);
  return true;
}

/** The earliest pending deadline, or Infinity. */
export function nextDeadline(i64: BigInt64Array, refs: readonly TimerRef[]): number {
  let best = Infinity;
  for (const r of refs) {
    const d = Atomics.load(i64, r.deadlineIndex);
    if (d !== 0n && Number(d) < best) best = Number(d);
  }
  return best;
}
