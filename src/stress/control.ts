/**
 * The stress executor's own slots in the model's SharedArrayBuffer: run flags, the slice barrier and
 * per-vCPU progress. They are appended after the scenario's regions, so the scenario's indices do not
 * move and resetting the model between slices never touches them.
 *
 * Protocol (main thread M, workers W):
 *  - W polls STOP and SLICE_END between ops (read-mostly cache line, so polling is cheap).
 *  - M sets SLICE_END when a slice's time is up. Each W finishes its op, sets its phase to AT_BARRIER and
 *    adds 1 to ARRIVED (on its own cache line, away from the flags), then waits for GENERATION to move.
 *  - M, woken through Atomics.waitAsync on ARRIVED, scans the quiescent model, maybe resets it, clears
 *    SLICE_END and ARRIVED, and only then bumps GENERATION and notifies: a W that sees the new generation
 *    therefore also sees the cleared flags.
 *  - STOP (violation, budget spent, watchdog) ends everything; anyone may set it and notify STOP/GENERATION.
 */
import { atCpu, at, defineLayout, region, type Layout, type RegionSpec } from '../engine/layout.js';

export const FLAG_STOP = 0;
export const FLAG_SLICE_END = 1;
export const FLAG_GENERATION = 2;

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
  heartbeat(cpu: number): number;
  phase(cpu: number): number;
}

/** The scenario's layout plus the control regions after it. */
export function withControl(model: Layout): Layout {
  const specs: Record<string, RegionSpec> = {};
  for (const r of Object.values(model.regions)) specs[r.name] = { kind: r.kind, count: r.count, perCpu: r.perCpu };
  const layout = defineLayout(model.cpus, {
    ...specs,
    'ctl.flags': { kind: 'i32', count: 16 },
    'ctl.arrived': { kind: 'i32', count: 16 },
    'ctl.progress': { kind: 'i32', count: 2, perCpu: true },
  });
  for (const r of Object.values(model.regions)) {
    if (layout.regions[r.name]!.byteOffset !== r.byteOffset) throw new Error(`control layout moved region ${r.name}`);
  }
  return layout;
}

export function controlIndices(layout: Layout): ControlIndices {
  const flags = at(region(layout, 'ctl.flags'));
  const progress = region(layout, 'ctl.progress');
  return {
    stop: flags + FLAG_STOP,
    sliceEnd: flags + FLAG_SLICE_END,
    generation: flags + FLAG_GENERATION,
    arrived: at(region(layout, 'ctl.arrived')),
    heartbeat: (cpu) => atCpu(progress, cpu, PROGRESS_HEARTBEAT),
    phase: (cpu) => atCpu(progress, cpu, PROGRESS_PHASE),
  };
}

/** Raise STOP and wake everyone who might be parked on a control word. */
export function raiseStop(i32: Int32Array, ctl: ControlIndices): void {
  Atomics.store(i32, ctl.stop, 1);
  Atomics.notify(i32, ctl.stop);
  Atomics.notify(i32, ctl.generation);
  Atomics.notify(i32, ctl.arrived);
}
