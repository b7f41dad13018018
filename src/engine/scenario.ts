/**
 * What a scenario is: a model of some kernel state, an op program per vCPU, the invariants it checks
 * and the variants (the correct code and known-bug mutations) with what each one expects.
 *
 * A scenario is a pure description; `build` turns (vCPUs, variant, parameters) into a ScenarioModel
 * that both executors drive. Workers rebuild the same model from the same inputs.
 */
import type { InvariantDef } from '../check/invariant.js';
import type { Cpu, Op } from './cpu.js';
import type { Layout, Memory } from './layout.js';
import type { RandomGenerator } from './rng.js';
import type { TimerSpec } from './timer.js';

export interface ParamSpec {
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly help: string;
}

export type Params = Readonly<Record<string, number>>;

export interface VariantDef {
  readonly name: string;
  readonly summary: string;
  /** 'clean', or the invariants of which at least one must trip (a known-bug variant). */
  readonly expect: 'clean' | readonly string[];
  /** Where the bug comes from, e.g. 'kernel-model.md §9 #14'. */
  readonly source?: string;
}

export interface ModelConfig {
  readonly cpus: number;
  readonly variant: string;
  readonly params: Params;
}

/** One vCPU's endless, seeded stream of operations. */
export interface VcpuProgram {
  /**
   * The next operation; the executor drives it to completion before asking again. next() itself must
   * not change shared state (checker state included): the shrinker may draw an op and never run it.
   */
  next(): Op<unknown>;
  /** Human-readable form of the op last returned by next(), for traces (called only when tracing). */
  describe(): string;
}

export type QuiescentReport = (invariant: string, message: string) => void;

export interface ScenarioModel {
  readonly layout: Layout;
  /** Write the initial shared state into a zeroed buffer. */
  init(mem: Memory): void;
  program(cpu: Cpu, rng: RandomGenerator): VcpuProgram;
  /** Global scan on a quiescent model (no op in flight): at stress barriers and after each explored execution. */
  quiescent(mem: Memory, report: QuiescentReport): void;
  /**
   * Stress mode: start every slice from a fresh model (zeroed, init again) and fresh op programs drawn
   * from the slice's own seed, as jcstress gives each round fresh state, so that start-of-life races
   * such as the first table install recur, and a failing slice re-runs in explore from its op seed.
   */
  readonly freshEachSlice?: boolean;
  /** Kernel timers the model arms (see timer.ts); fired by the executor. */
  readonly timers?: readonly TimerSpec[];
  /**
   * Scenario-specific statistics, read on the quiescent model after a stress run (the benchmark's
   * latency histograms, flush counts, queue peaks).
   */
  stats?(mem: Memory): Record<string, number | readonly number[]>;
  /** Explore mode: virtual nanoseconds one step takes (default 1000). Scale it to let timers fire within an execution. */
  readonly nsPerStep?: number;
}

export interface ScenarioDef {
  readonly name: string;
  readonly summary: string;
  /** Which section of reference/kernel-model.md the model follows. */
  readonly follows: string;
  readonly params: Readonly<Record<string, ParamSpec>>;
  /** Explore defaults: vCPUs and ops per vCPU (small, so that schedules are short and shrink well). */
  readonly exploreCpus: number;
  readonly exploreOps: number;
  /**
   * Explore defaults for parameters (under anything the user sets): a smaller geometry, so that paths a
   * real-sized structure reaches only after thousands of ops (a full 256-entry ring) happen within a
   * short explored execution. Stress mode uses the parameters' own defaults.
   */
  readonly exploreParams?: Params;
  readonly invariants: readonly InvariantDef[];
  readonly variants: readonly VariantDef[];
  build(config: ModelConfig): ScenarioModel;
}

export function findVariant(s: ScenarioDef, name: string): VariantDef | undefined {
  return s.variants.find((v) => v.name === name);
}

/** Parameters with defaults filled in; `given` is already validated. */
export function withDefaults(s: ScenarioDef, given: Params = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, spec] of Object.entries(s.params)) out[k] = given[k] ?? spec.default;
  return out;
}

/** Only the parameters that differ from the defaults (what a repro or a command line needs to say). */
export function nonDefaultParams(s: ScenarioDef, params: Params): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(params)) if (s.params[k]?.default !== v) out[k] = v;
  return out;
}

export function expectationText(v: VariantDef): string {
  return v.expect === 'clean' ? 'clean' : v.expect.join('|');
}

/** Does an observed outcome ('clean' or an invariant id) meet the variant's expectation? */
export function meetsExpectation(v: VariantDef, observed: string): boolean {
  return v.expect === 'clean' ? observed === 'clean' : v.expect.includes(observed);
}
