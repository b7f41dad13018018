/**
 * An explore campaign: many executions of one scenario variant under a seeded strategy, stopping at the
 * first FORBIDDEN violation, which is then replayed with a trace, shrunk, and packaged as a repro.
 */
import type { Violation } from '../check/invariant.js';
import { mergeOutcomes } from '../check/checker.js';
import { allocateMemory, type Memory } from '../engine/layout.js';
import { mix32 } from '../engine/rng.js';
import { nonDefaultParams, type ScenarioDef, type VariantDef } from '../engine/scenario.js';
import { OutOfTime, runExecution, type ExecutionResult, type ExecutionSpec, type TraceEvent } from './execution.js';
import { ReplayScheduler } from './replay.js';
import { decodeSchedule, encodeSchedule, encodeToken, type Repro } from './repro.js';
import { reduces } from './dfs.js';
import { Pruned } from './scheduler.js';
import { makeScheduler, strategyNamed, type StrategyName } from './strategies.js';
import { formatTrace, noteText } from './trace.js';
import { HarnessError } from '../errors.js';
import type { MemoryMode } from '../engine/memory-order.js';
import { shrink } from './shrink.js';

export interface ExploreOptions {
  readonly scenario: ScenarioDef;
  readonly variant: VariantDef;
  /** Full parameter set (defaults filled in). */
  readonly params: Readonly<Record<string, number>>;
  /** Ops each vCPU runs; its length is the number of vCPUs. */
  readonly opsPerCpu: readonly number[];
  readonly strategy: StrategyName;
  readonly depth: number;
  /** dfs: at most this many preemptions per execution (default: unbounded). */
  readonly maxPreemptions?: number;
  /** dfs: partial-order reduction (default on; a preemption bound turns it off). */
  readonly por?: boolean;
  readonly schedules: number;
  /** Wall-clock budget; the campaign stops at whichever of schedules/time comes first. */
  readonly timeMs: number;
  readonly seed: number;
  /** Pin every execution to the op programs of this seed (re-running a stress failure); default: a fresh op seed per execution. */
  readonly opSeed?: number;
  readonly maxSteps: number;
  readonly shrink: boolean;
  /** Wall-clock budget for shrinking (default 10 s). */
  readonly shrinkMs?: number;
  /** Stop at these outcomes too (INTERESTING ones): explore --stop-on. */
  readonly stopOn?: readonly string[];
  /** `weak`: the order.ts primitives run on a weak memory (engine/weak-memory.ts); default sc. */
  readonly memory?: MemoryMode;
  /** Shard `index` of `count` of a seed campaign: executions index, index+count, ... of the unsharded run. */
  readonly shard?: Shard;
  readonly onProgress?: (p: { schedules: number; steps: number; elapsedMs: number }) => void;
  /** Count the steps taken at each site over the campaign's search (ExploreOutcome.sites). */
  readonly coverage?: boolean;
}

/** A failing execution packaged for replay. */
export interface FoundRepro {
  readonly repro: Repro;
  readonly token: string;
  readonly violation: Violation;
  readonly traceHash: string;
  readonly steps: number;
  readonly ops: number;
  readonly cpus: number;
  readonly preemptions: number;
  /** The interleaving, one column per vCPU (trace.ts), as reports embed it (long ones cut). */
  readonly trace: string;
  /** The traced replay itself, for printing it whole (explore --trace [--full]). */
  readonly events: readonly TraceEvent[];
  readonly taskNames: readonly string[];
}

export interface ExploreOutcome {
  readonly schedules: number;
  readonly steps: number;
  readonly ops: number;
  /** Whole campaign, shrinking included. */
  readonly durationMs: number;
  /** The search alone (what steps/s and schedules/s are measured against). */
  readonly searchMs: number;
  readonly violation: Violation | undefined;
  /** The execution as found, and after shrinking (the same when shrinking is off). */
  readonly original: FoundRepro | undefined;
  readonly minimal: FoundRepro | undefined;
  readonly shrinkAttempts: number;
  readonly outcomes: Record<string, number>;
  /** Steps per site label over the search (the executions' total), when coverage was asked for. */
  readonly sites: ReadonlyMap<string, number> | undefined;
  /** An exhaustive strategy (dfs) ran every execution of the configuration (undefined: not exhaustive). */
  readonly exhaustive?: boolean;
  /** Executions an exhaustive strategy abandoned part-way (partial-order reduction): not in `schedules`. */
  readonly pruned: number;
}

/** Rows of a repro's trace kept in reports (the first and the last ones; replay --trace shows all). */
const REPORT_TRACE_ROWS = 1_000;

export interface Shard {
  /** 0-based. */
  readonly index: number;
  readonly count: number;
}

export function explore(o: ExploreOptions): ExploreOutcome {
  const t0 = performance.now();
  const opsPerCpu = o.opsPerCpu;
  const model = o.scenario.build({ cpus: opsPerCpu.length, variant: o.variant, params: o.params });
  const mem = allocateMemory(model.layout);
  const shard = o.shard ?? { index: 0, count: 1 };
  // Each shard's strategy gets its own stream; shard 0 of 1 is the unsharded campaign.
  const schedSeed = shard.count > 1 ? mix32(o.seed, 0x5a4d00 + shard.index) : o.seed;
  const scheduler = makeScheduler(o.strategy, schedSeed, o.depth, opsPerCpu.reduce((a, b) => a + b, 0) * 8, {
    maxPreemptions: o.maxPreemptions,
    por: reduces(o.por ?? true, o.maxPreemptions ?? Infinity, o.memory),
  });
  // An exhaustive strategy enumerates one configuration: the op programs of the campaign's first seed.
  const exhaustive = strategyNamed(o.strategy).exhaustive;
  if (exhaustive && shard.count > 1) throw new RangeError(`explore: --strategy ${o.strategy} cannot be sharded`);
  const fixedOpSeed = o.opSeed ?? (exhaustive ? mix32(o.seed, 0) : undefined);
  // A strategy that watches the accesses (dfs) runs the executions on its logging views.
  const watched = scheduler.watch?.(mem);
  let pruned = 0;
  let finished = false;
  const stopOn = new Set(o.stopOn ?? []);
  const outcomes: Record<string, number> = {};
  let schedules = 0;
  let steps = 0;
  let ops = 0;
  let longest = 0;
  let failing: { result: ExecutionResult; opSeed: number } | undefined;
  let lastProgressMs = 0;
  const siteCounts = o.coverage ? new Map<string, number>() : undefined;

  try {
    while (schedules < o.schedules) {
      if (scheduler.exhausted?.()) {
        finished = true;
        break;
      }
      const elapsedMs = performance.now() - t0;
      if (elapsedMs >= o.timeMs) break;
      // Every 16 executions, and at least twice a second when executions are long (a stress failure's
      // whole programs): a status line that stands still looks like a hang.
      if ((schedules & 15) === 0 || elapsedMs - lastProgressMs > 500) {
        lastProgressMs = elapsedMs;
        o.onProgress?.({ schedules, steps, elapsedMs });
      }
      const opSeed = fixedOpSeed ?? mix32(o.seed, shard.index + shard.count * schedules);
      const spec: ExecutionSpec = {
        scenario: o.scenario,
        model,
        mem,
        opSeed,
        opsPerCpu,
        maxSteps: o.maxSteps,
        stopOn,
        memory: o.memory,
        untimed: scheduler.untimed === true,
      };
      let result: ExecutionResult;
      // A single long execution (a stress failure's whole programs) must not outlast the budget.
      try {
        result = runExecution(
          { ...spec, mem: watched?.mem ?? mem, deadline: t0 + o.timeMs, siteCounts },
          scheduler,
          longest,
        );
      } catch (e) {
        if (e instanceof OutOfTime) break;
        if (e instanceof Pruned) {
          pruned++;
          continue;
        }
        throw e;
      }
      // The failing execution too: a token must come from an execution that a fresh model repeats.
      if (schedules % NONDETERMINISM_CHECK_EVERY === 0 || result.violation)
        checkDeterministic(o, spec, result, schedules);
      schedules++;
      steps += result.steps;
      ops += result.ops;
      if (result.steps > longest) longest = result.steps;
      mergeOutcomes(outcomes, result.outcomes);
      if (result.violation) {
        failing = { result, opSeed };
        break;
      }
    }
    if (!failing && !finished) finished = scheduler.exhausted?.() ?? false;
  } finally {
    watched?.stop();
  }
  const exhaustiveOutcome = exhaustive ? { exhaustive: finished, pruned } : { pruned };

  const searchMs = performance.now() - t0;
  if (!failing) {
    return {
      schedules,
      steps,
      ops,
      durationMs: searchMs,
      searchMs,
      violation: undefined,
      original: undefined,
      minimal: undefined,
      shrinkAttempts: 0,
      outcomes,
      sites: siteCounts,
      ...exhaustiveOutcome,
    };
  }
  const base = {
    scenario: o.scenario,
    model,
    mem,
    opSeed: failing.opSeed,
    maxSteps: o.maxSteps,
    stopOn,
    memory: o.memory,
    untimed: scheduler.untimed === true,
  };
  const repro = (
    ops: readonly number[],
    skip: readonly (readonly number[])[],
    decisions: ArrayLike<number>,
  ): Repro => ({
    scenario: o.scenario.name,
    variant: o.variant.name,
    params: nonDefaultParams(o.scenario, o.params),
    opSeed: failing.opSeed,
    opsPerCpu: ops,
    skip: skip.some((l) => l.length > 0) ? skip : [],
    stopOn: [...stopOn],
    timers: model.timers?.length ?? 0,
    schedule: encodeSchedule(decisions),
    maxSteps: o.maxSteps,
    ...(o.memory === 'weak' ? { memory: 'weak' as const } : {}),
    ...(scheduler.untimed === true ? { untimed: true } : {}),
  });
  const original = packageRepro(base, repro(opsPerCpu, [], failing.result.decisions));
  let minimal = original;
  let shrinkAttempts = 0;
  if (o.shrink) {
    const s = shrink(
      base,
      { opsPerCpu, skip: opsPerCpu.map(() => []), decisions: failing.result.decisions.slice(), result: failing.result },
      failing.result.violation!.invariant,
      2_000,
      o.shrinkMs ?? 10_000,
    );
    shrinkAttempts = s.attempts;
    // Shrinking only ever keeps candidates that failed for real; should packaging the smallest one still
    // go wrong, the repro as found stands.
    try {
      minimal = packageRepro(base, repro(s.opsPerCpu, s.skip, s.decisions));
    } catch (e) {
      if (!(e instanceof HarnessError)) throw e;
    }
  }
  return {
    schedules,
    steps,
    ops,
    durationMs: performance.now() - t0,
    searchMs,
    violation: minimal.violation,
    original,
    minimal,
    shrinkAttempts,
    outcomes,
    sites: siteCounts,
    ...exhaustiveOutcome,
  };
}

/**
 * The first execution of a campaign and every this-many-th one is run a second time from scratch (a
 * freshly built model, a fresh buffer) under the decisions it recorded — shuttle's check for
 * uncontrolled nondeterminism. An execution must be a function of the shared buffer and the op program:
 * model state on a JS heap that survives from one execution to the next (a flag in a closure, a cache),
 * Math.random or the wall clock would make a replay token lie. The check is cheap (one untraced run in
 * 64): the two runs must take the same decisions and steps, end the same way and leave the same buffer;
 * only when they do not are both traced to name the first step where they part.
 */
export const NONDETERMINISM_CHECK_EVERY = 64;

function checkDeterministic(o: ExploreOptions, spec: ExecutionSpec, first: ExecutionResult, index: number): void {
  const fresh = () => {
    const model = o.scenario.build({ cpus: spec.opsPerCpu.length, variant: o.variant, params: o.params });
    return { model, mem: allocateMemory(model.layout) };
  };
  const end = (r: ExecutionResult) => (r.violation ? `violation ${r.violation.invariant}` : 'clean');
  const f = fresh();
  const replay = new ReplayScheduler(first.decisions);
  const again = runExecution({ ...spec, ...f }, replay);
  const word = firstDifferentWord(spec.mem.i32, f.mem.i32);
  if (replay.divergences === 0 && again.steps === first.steps && end(again) === end(first) && word < 0) return;
  // Name the first step where they part: the campaign's model (as it is now) and a fresh one, both traced.
  const a = runExecution({ ...spec, trace: true }, new ReplayScheduler(first.decisions));
  const b = runExecution({ ...spec, ...fresh(), trace: true }, new ReplayScheduler(first.decisions));
  const ta = a.trace!;
  const tb = b.trace!;
  let i = 0;
  while (i < ta.length && i < tb.length && eventKey(ta[i]!) === eventKey(tb[i]!)) i++;
  const names = first.taskNames;
  const show = (e: TraceEvent | undefined, r: ExecutionResult): string =>
    e ? eventText(e, names) : `the end (${end(r)})`;
  const where =
    i < ta.length || i < tb.length
      ? `differs first at step ${ta[i]?.step ?? tb[i]?.step ?? first.steps}: ` +
        `first run ${show(ta[i], a)}, re-run ${show(tb[i], b)}`
      : word >= 0
        ? `takes the same steps but leaves a different buffer (first at ${wordName(spec.mem, word)})`
        : `ends differently: first run ${end(first)} after ${first.steps} steps, ` +
          `re-run ${end(again)} after ${again.steps}`;
  throw new HarnessError(
    `explore ${o.scenario.name}/${o.variant.name}: uncontrolled nondeterminism: ` +
      `execution #${index} (op seed ${spec.opSeed}) re-run from scratch on the same decisions ${where}. ` +
      'An execution must be a function of the shared buffer and the op program: look for model state kept on ' +
      'the JS heap across executions (a flag in a closure or a field), Math.random or the clock',
  );
}

function firstDifferentWord(a: Int32Array, b: Int32Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** "pt.pages[12]" for an i32 index into the buffer. */
function wordName(mem: Memory, word: number): string {
  const byte = word * 4;
  for (const r of Object.values(mem.layout.regions)) {
    if (byte >= r.byteOffset && byte < r.byteOffset + r.byteLength) {
      return `${r.name}[${Math.floor((byte - r.byteOffset) / (r.kind === 'i32' ? 4 : 8))}]`;
    }
  }
  return `i32[${word}]`;
}

function eventKey(e: TraceEvent): string {
  switch (e.kind) {
    case 'op':
      return `o${e.cpu}:${e.step}:${e.text}`;
    case 'step':
      return `s${e.cpu}:${e.step}:${e.site}`;
    default:
      return `n${e.cpu}:${e.step}:${e.access}:${e.where}:${e.index}:${e.value}:${e.old}`;
  }
}

function eventText(e: TraceEvent, names: readonly string[]): string {
  const who = names[e.cpu] ?? `task${e.cpu}`;
  switch (e.kind) {
    case 'op':
      return `${who} starts op '${e.text}'`;
    case 'step':
      return `${who} at '${e.site}'`;
    default:
      return `${who} ${noteText(e)}`;
  }
}

/** Re-run a repro with tracing on; it must fail again (it is deterministic), else that is a harness bug. */
function packageRepro(base: Omit<ExecutionSpec, 'opsPerCpu'>, r: Repro): FoundRepro {
  const res = replayRepro(base, r);
  if (!res.violation || !res.traceHash) {
    throw new HarnessError(
      `explore: a failing execution did not fail again when replayed (nondeterminism in scenario ${r.scenario}?)`,
    );
  }
  return {
    repro: r,
    token: encodeToken(r),
    violation: res.violation,
    traceHash: res.traceHash,
    steps: res.steps,
    ops: res.ops,
    cpus: activeCpus(r),
    preemptions: res.preemptions,
    trace: formatTrace(res.trace!, res.taskNames, res.violation, REPORT_TRACE_ROWS),
    events: res.trace!,
    taskNames: res.taskNames,
  };
}

export function replayRepro(base: Omit<ExecutionSpec, 'opsPerCpu'>, r: Repro): ExecutionResult {
  return runExecution(
    {
      ...base,
      opsPerCpu: r.opsPerCpu,
      skip: r.skip,
      stopOn: new Set(r.stopOn),
      trace: true,
      memory: r.memory ?? 'sc',
      untimed: r.untimed === true,
    },
    new ReplayScheduler(decodeSchedule(r.schedule)),
  );
}

/** vCPUs that run at least one op. */
function activeCpus(r: Repro): number {
  return r.opsPerCpu.filter((k, c) => k > (r.skip[c]?.length ?? 0)).length;
}
