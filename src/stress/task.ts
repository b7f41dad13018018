/** What the main thread hands each stress worker, and what it gets back. Plain data (structured clone). */
import type { Violation } from '../check/invariant.js';
import type { Layout } from '../engine/layout.js';

export interface StressTask {
  readonly sab: SharedArrayBuffer;
  readonly layout: Layout;
  readonly scenario: string;
  /** Compiled module of a user scenario (--scenario-file), loaded by the worker before it looks `scenario` up. */
  readonly scenarioFile?: string;
  readonly variant: string;
  readonly params: Readonly<Record<string, number>>;
  readonly cpus: number;
  readonly cpu: number;
  readonly seed: number;
  /** Ops this vCPU runs before it finishes (Infinity: until told to stop). */
  readonly opBudget: number;
  /** Start each slice's op program from the slice's own seed (scenarios with freshEachSlice). */
  readonly reseedEachSlice: boolean;
  /** The run's time origin (absolute ms, see RealClock), shared with the main thread's timers. */
  readonly epochMs: number;
  /** Benchmarks: also take this thread's CPU time around its op loops (StressWorkerResult.steady.cpuMs). */
  readonly measureCpu?: boolean;
}

/**
 * What a worker did in steady state: in its op loops only (not at barriers, not starting up), from its
 * second slice on (the first one is JIT warm-up). Zero steps when the run had a single slice.
 */
export interface SteadyState {
  readonly ops: number;
  readonly steps: number;
  /** Wall time inside the op loops. */
  readonly ms: number;
  /** This thread's CPU time inside them (Linux; with StressTask.measureCpu), else undefined. */
  readonly cpuMs: number | undefined;
}

export interface StressWorkerResult {
  readonly cpu: number;
  readonly ops: number;
  readonly steps: number;
  /** Ops this vCPU ran in the slice it was in when the run stopped (what an explore repro needs). */
  readonly sliceOps: number;
  readonly slice: number;
  readonly violations: readonly Violation[];
  readonly outcomes: Readonly<Record<string, number>>;
  /** Site labels this vCPU yielded that the scenario does not declare (a model error), with their steps. */
  readonly undeclaredSites: Readonly<Record<string, number>>;
  readonly steady: SteadyState;
}
