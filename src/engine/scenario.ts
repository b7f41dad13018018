/**
 * What a scenario is: a model of some kernel state, an op program per vCPU, the invariants it checks
 * and the variants (the correct code and known-bug mutations) with what each one expects.
 *
 * A scenario is a pure description; `build` turns (vCPUs, variant, parameters) into a ScenarioModel
 * that both executors drive. Workers rebuild the same model from the same inputs.
 */
import type { MemoryMode } from './memory-order.js';
import type { InvariantDef } from '../check/invariant.js';
import type { SiteExemption } from './coverage.js';
import type { Site } from './site.js';
import type { JudgedCount } from '../check/judged.js';
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
  /** Sites the patch adds to the scenario's (engine/coverage.ts: `#` stands for an instance number). */
  readonly sites?: readonly Site[];
  /** Declared sites this variant may legitimately never reach, with why (e.g. strict mode has no flush queue). */
  readonly unreached?: readonly SiteExemption[];
  /**
   * 'weak': an ordering bug (a missing barrier), whose expectation holds under `explore --memory weak`
   * only; under sc — and in stress mode, which is always sc — the variant is expected clean. That it is
   * clean under sc is the proof that the bug is one of ordering.
   */
  readonly memory?: MemoryMode;
  /**
   * Set when the variant models upstream code as it is and trips a FORBIDDEN invariant: a finding, not
   * a known bug and not a harness fault. Its `expect` names the invariant(s) it trips; `fixedBy` names
   * the sibling variant with the fix, expected clean. `list` and the reports mark it FINDING, and the
   * default suite (`run` without --variant/--all-variants) leaves it out, as it does every variant not
   * expected clean.
   */
  readonly finding?: Finding;
}

/** What a finding variant records about the upstream code it models (VariantDef.finding). */
export interface Finding {
  /** The kernel code as it is: file and function(s), e.g. 'drivers/iommu/dma-iommu.c: queue_iova'. */
  readonly upstream: string;
  /** One line: what goes wrong, and under which conditions. */
  readonly what: string;
  /** The variant of the same scenario that fixes it (expected clean). */
  readonly fixedBy: string;
}

/** Is this variant a finding (upstream code as it is, tripping a FORBIDDEN invariant)? */
export function isFinding(v: VariantDef): boolean {
  return v.finding !== undefined;
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
   * The final drain, after the quiescent scan at the end of every explored execution, and of a stress
   * slice whose state is thrown away (the run's last; every 16th of a freshEachSlice model, stress.ts
   * DRAIN_EVERY): give every object back (queued IOVAs,
   * cached ranges, ...) and judge that each came back exactly once. It may change `mem` freely.
   */
  drain?(mem: Memory, report: QuiescentReport): void;
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
  /**
   * The judged counts whose relations hold for every explored execution of this model (check/judged.ts),
   * already filtered to its parameters (judgedFor).
   */
  readonly judged?: readonly JudgedCount[];
  /** Explore mode: virtual nanoseconds one step takes (default 1000). Scale it to let timers fire within an execution. */
  readonly nsPerStep?: number;
}

/** A named parameter set (ScenarioDef.regimes), shown as `scenario/variant@name`. */
export interface Regime {
  readonly name: string;
  readonly summary: string;
  /** Over the parameters' defaults (stress) and over exploreParams (explore). */
  readonly params: Params;
  /** Explore only, over `params`. */
  readonly exploreParams?: Params;
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
  /**
   * Every site the model yields, statically (engine/coverage.ts; `#` stands for an instance number):
   * coverage reports each one reached or not, and a site yielded but not declared is a model error. A
   * scenario without the list (a user's) is run without coverage judgement.
   */
  readonly sites?: readonly Site[];
  /** Declared sites no variant of this scenario is expected to reach, with why. */
  readonly unreached?: readonly SiteExemption[];
  /**
   * Parameter regimes where rare paths happen (a small IOVA space that fills, rings that fill): `run`
   * without --param runs every variant with its own parameters and then with each regime's, sharing the
   * variant's time budget, and reports coverage over all of them.
   */
  readonly regimes?: readonly Regime[];
  /**
   * Counts the checker judges (check/judged.ts): relations per explored execution and per stress phase,
   * rate bounds per stress phase. Each rule's id is one of `invariants` (FORBIDDEN).
   */
  readonly judged?: readonly JudgedCount[];
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

/** What the variant expects under `memory`: an ordering bug (VariantDef.memory 'weak') is clean under sc. */
export function expectationUnder(v: VariantDef, memory: MemoryMode = 'sc'): 'clean' | readonly string[] {
  return v.memory === 'weak' && memory !== 'weak' ? 'clean' : v.expect;
}

export function expectationText(v: VariantDef, memory: MemoryMode = 'sc'): string {
  const e = expectationUnder(v, memory);
  return e === 'clean' ? 'clean' : e.join('|');
}

/** Does an observed outcome ('clean' or an invariant id) meet the variant's expectation (under `memory`)? */
export function meetsExpectation(v: VariantDef, observed: string, memory: MemoryMode = 'sc'): boolean {
  const e = expectationUnder(v, memory);
  return e === 'clean' ? observed === 'clean' : e.includes(observed);
}
