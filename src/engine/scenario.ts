/**
 * What a scenario is: a model of some kernel state, an op program per vCPU, the invariants it checks
 * and the variants (the correct code and known-bug mutations) with what each one expects.
 *
 * A scenario is a pure description; `build` turns (vCPUs, variant, parameters) into a ScenarioModel
 * that both executors drive. Workers rebuild the same model from the same inputs.
 */
import type { InvariantDef } from '../check/invariant.js';
import type { MemoryMode } from './memory-order.js';
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

/**
 * One variant of a scenario: the faithful kernel code, a known bug, a fix, or a user's patch idea.
 * `P` is the scenario's own patch type (what its factory lets a variant change: mechanism classes,
 * hook overrides, options); a variant without a patch runs the faithful model.
 */
export interface VariantDef<P = unknown> {
  readonly name: string;
  readonly summary: string;
  /** 'clean', or the invariants of which at least one must trip (a known-bug variant). */
  readonly expect: 'clean' | readonly string[];
  /** Where the bug comes from, e.g. 'kernel-model.md §9 #14'. */
  readonly source?: string;
  /** What this variant changes in the scenario's model (see the scenario's factory). */
  readonly patch?: P;
  /**
   * 'weak': a barrier bug, which shows only under `--memory weak` (clean under sc is the proof that it
   * is an ordering bug); the engine bench's detection explores it under weak. Default sc.
   */
  readonly memory?: MemoryMode;
}

export interface ModelConfig<P = unknown> {
  readonly cpus: number;
  /** The variant to build, already resolved (an unknown name is bad input before any model is built). */
  readonly variant: VariantDef<P>;
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

export interface ScenarioDef<P = unknown> {
  readonly name: string;
  /**
   * Set by extendScenario: this definition adds variants to the built-in scenario of the same name
   * (a user's scenario file), rather than defining a new scenario.
   */
  readonly extends?: string;
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
  /** Every variant, in `list` order: the faithful model first, then fixes, known bugs and user patches. */
  readonly variants: readonly VariantDef<P>[];
  build(config: ModelConfig<P>): ScenarioModel;
}

export function findVariant<P>(s: ScenarioDef<P>, name: string): VariantDef<P> | undefined {
  return s.variants.find((v) => v.name === name);
}

/** The variant named `name`; throws when there is none (tests and code that already validated the name). */
export function variantOf<P>(s: ScenarioDef<P>, name: string): VariantDef<P> {
  const v = findVariant(s, name);
  if (!v) throw new Error(`scenario ${s.name} has no variant '${name}'`);
  return v;
}

/**
 * A scenario with more variants: how a user's scenario file adds a patch idea to a built-in scenario
 * (`export default extendScenario(flushqScenario, [{ name: 'my-patch', …, patch: {…} }])`). The result
 * keeps the base's name, parameters, invariants and factory; `list`, `run`, `explore`, `replay`, `merge`
 * and `bench` then know the new variant names.
 */
export function extendScenario<P>(base: ScenarioDef<P>, variants: readonly VariantDef<P>[]): ScenarioDef<P> {
  for (const v of variants) {
    if (findVariant(base, v.name))
      throw new Error(`extendScenario: ${base.name} already has a variant named '${v.name}'`);
  }
  return { ...base, extends: base.name, variants: [...base.variants, ...variants] };
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
