/**
 * The stress executor's own slots in the model's SharedArrayBuffer: run flags, the slice barrier and
 * per-vCPU progress. They are appended after the scenario's regions, so the scenario's indices do not
 * move and resetting the model between slices never touches them.
 *
 * Protocol (main thread M, workers W):
 *  - Before its first op each W adds 1 to READY and waits until every W has (or STOP): the workers start
 *    together, as jcstress's threads do. Without it an op-bounded run's workers need not overlap at all —
 *    one can spend its whole budget (a few ms) while the other is still loading its modules.
 *  - W polls STOP and SLICE_END between ops (read-mostly cache line, so polling is cheap).
 *  - M sets SLICE_END when a slice's time is up. Each W finishes its op, sets its phase to AT_BARRIER and
 *    adds 1 to ARRIVED (on its own cache line, away from the flags), then waits for GENERATION to move.
 *  - M, woken through Atomics.waitAsync on ARRIVED, scans the quiescent model, maybe resets it, clears
 *    SLICE_END and ARRIVED, and only then bumps GENERATION and notifies: a W that sees the new generation
 *    therefore also sees the cleared flags.
 *  - STOP (violation, budget spent, watchdog) ends everything; anyone may set it and notify STOP/GENERATION.
 *  - FIRST_FAIL names who reported the run's first violation (claimFirstFailure, at the moment of the report).
 *  - M parks only through parkMain below, which re-reads STOP after arming its wait (see there why).
 */
import { Checker } from '../check/checker.js';
import type { InvariantDef } from '../check/invariant.js';
import { atCpu, at, defineLayout, region, type Layout, type RegionSpec } from '../engine/layout.js';
import { pausePoint } from '../pause.js';

export const FLAG_STOP = 0;
export const FLAG_SLICE_END = 1;
export const FLAG_GENERATION = 2;
export const FLAG_FIRST_FAIL = 3;
export const FLAG_READY = 4;

export const PHASE_RUNNING = 0;
export const PHASE_AT_BARRIER = 1;
export const PHASE_FINISHED = 2;

/** Per-vCPU progress slot: a heartbeat (ops done, wrapping) the watchdog watches, and the phase. */
export const PROGRESS_HEARTBEAT = 0;
export const PROGRESS_PHASE = 1;

export interface ControlIndices {
  readonly stop: number;
  readonly sliceEnd: number;
  readonly generation: number;
  readonly arrived: number;
  /** 0, or 1 + the reporter of the run's first violation: a worker's vCPU, or `cpus` for the main thread. */
  readonly firstFail: number;
  /** Workers ready to run their first op (the start barrier). */
  readonly ready: number;
  heartbeat(cpu: number): number;
  phase(cpu: number): number;
  /** i32 index of vCPU `cpu`'s counter of declared site 0 (site k is at + k); see siteCounters. */
  sites(cpu: number): number;
  /** Site counters per vCPU (0 = coverage off). */
  readonly siteCount: number;
}

/**
 * The scenario's layout plus the control regions after it. `sites`: declared sites to count per vCPU
 * (engine/coverage.ts), one i32 counter each in the vCPU's own padded slot; 0 = coverage off.
 */
export function withControl(model: Layout, sites = 0): Layout {
  const specs: Record<string, RegionSpec> = {};
  for (const r of Object.values(model.regions)) specs[r.name] = { kind: r.kind, count: r.count, perCpu: r.perCpu };
  const layout = defineLayout(model.cpus, {
    ...specs,
    'ctl.flags': { kind: 'i32', count: 16 },
    'ctl.arrived': { kind: 'i32', count: 16 },
    'ctl.progress': { kind: 'i32', count: 2, perCpu: true },
    'ctl.sites': { kind: 'i32', count: sites, perCpu: true },
  });
  for (const r of Object.values(model.regions)) {
    if (layout.regions[r.name]!.byteOffset !== r.byteOffset) throw new Error(`control layout moved region ${r.name}`);
  }
  return layout;
}

export function controlIndices(layout: Layout): ControlIndices {
  const flags = at(region(layout, 'ctl.flags'));
  const progress = region(layout, 'ctl.progress');
  const sites = region(layout, 'ctl.sites');
  return {
    stop: flags + FLAG_STOP,
    sliceEnd: flags + FLAG_SLICE_END,
    generation: flags + FLAG_GENERATION,
    firstFail: flags + FLAG_FIRST_FAIL,
    ready: flags + FLAG_READY,
    arrived: at(region(layout, 'ctl.arrived')),
    heartbeat: (cpu) => atCpu(progress, cpu, PROGRESS_HEARTBEAT),
    phase: (cpu) => atCpu(progress, cpu, PROGRESS_PHASE),
    sites: (cpu) => atCpu(sites, cpu, 0),
    siteCount: sites.count,
  };
}

/**
 * `who` (a worker's vCPU, or `cpus` for the main thread's timers and barrier scans) has just reported its
 * first violation: it becomes the run's first unless another reporter claimed that already. Called in
 * the report itself (ClaimingChecker), not when the op ends or STOP is raised: the other threads go
 * on until they see STOP, and may report what the first violation caused (a run committed by a foreign
 * map call then fails its owner's own commit), so which worker's report is the run's is known only here.
 * The claim is sequentially consistent: a report caused by what another thread did after its own report
 * (and so after its claim) always loses.
 */
export function claimFirstFailure(i32: Int32Array, ctl: ControlIndices, who: number): void {
  Atomics.compareExchange(i32, ctl.firstFail, 0, who + 1);
}

/**
 * A stress thread's checker (a worker's, or the main thread's for timers and barrier scans): its first
 * failing report claims the run's first violation for `who` (claimFirstFailure), inside the report.
 * (A subclass here rather than a hook in Checker: check/checker.ts is part of every model's hash.)
 */
export class ClaimingChecker extends Checker {
  constructor(
    invariants: readonly InvariantDef[],
    private readonly i32: Int32Array,
    private readonly ctl: ControlIndices,
    private readonly who: number,
  ) {
    super(invariants);
  }

  override report(invariant: string, message: string, vcpu: number, step: number, site: string): boolean {
    const first = !this.failed;
    const failing = super.report(invariant, message, vcpu, step, site);
    if (first && this.failed) claimFirstFailure(this.i32, this.ctl, this.who);
    return failing;
  }
}

/** Who claimed the run's first violation (claimFirstFailure), or -1: nobody did. */
export function firstFailure(i32: Int32Array, ctl: ControlIndices): number {
  return Atomics.load(i32, ctl.firstFail) - 1;
}

/** Raise STOP and wake everyone who might be parked on a control word. */
export function raiseStop(i32: Int32Array, ctl: ControlIndices): void {
  Atomics.store(i32, ctl.stop, 1);
  Atomics.notify(i32, ctl.stop);
  Atomics.notify(i32, ctl.generation);
  Atomics.notify(i32, ctl.arrived);
  Atomics.notify(i32, ctl.ready);
}

export type ParkResult = 'stopped' | 'moved' | 'timed-out';

/**
 * Park the main thread until ARRIVED moves from `seen` (the value M read), STOP is raised, or `ms` pass.
 *
 * The wait is on ARRIVED, so an arrival after M read `seen` is never missed: the wait sees a different
 * value and returns at once. STOP is another word: a worker that raises it after M's last look at STOP
 * but before the wait is armed notifies nobody, and M would sleep through it (a lost wake-up). So M
 * looks at STOP again *after* arming. raiseStop stores STOP before it notifies, and both the store and
 * the arming are sequentially consistent: either the re-check sees STOP, or the notify finds M armed.
 * (This lost wake-up, together with a pending Atomics.waitAsync not keeping Node's event loop alive,
 * was `run --json` exiting 13 with no output: the caller keeps a ref'ed handle for the whole run.)
 */
export async function parkMain(i32: Int32Array, ctl: ControlIndices, seen: number, ms: number): Promise<ParkResult> {
  pausePoint('park'); // tests hold the window between the caller's STOP check and the arming open
  const w = Atomics.waitAsync(i32, ctl.arrived, seen, Math.max(1, ms));
  if (Atomics.load(i32, ctl.stop) !== 0) return 'stopped';
  const r = w.async ? await w.value : w.value;
  if (Atomics.load(i32, ctl.stop) !== 0) return 'stopped';
  return r === 'timed-out' ? 'timed-out' : 'moved';
}
