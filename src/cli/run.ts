/**
 * `run`: the stress suite. For each scenario variant, real worker threads for the time budget, then —
 * in the default mixed mode, as Lincheck's planner splits stress and model checking — the rest of the
 * budget in the explore executor. A stress failure is immediately re-run deterministically on the same
 * op programs, so what real threads found comes back with a replay token whenever it can be.
 */
import { availableParallelism } from 'node:os';
import { mergeOutcomes } from '../check/checker.js';
import { ENGINE_INVARIANTS, type Grade, type Violation } from '../check/invariant.js';
import {
  expectationText,
  meetsExpectation,
  type ScenarioDef,
  type VariantDef,
  withDefaults,
} from '../engine/scenario.js';
import { mix32 } from '../engine/rng.js';
import { explore, type ExploreOutcome, type Shard } from '../explore/explore.js';
import { DEFAULT_DEPTH, DEFAULT_STRATEGY } from '../explore/strategies.js';
import { loadConfig, underFlags } from './config.js';
import {
  newRunId,
  writeReport,
  type HistogramRow,
  type ReportedViolation,
  type RunReport,
  type VariantReport,
} from '../report/report.js';
import { addedVariants, allScenarios, loadScenarioFile, scenarioModulePath } from '../scenarios/registry.js';
import { reproduceStressFailure } from '../stress/reproduce.js';
import { stress, type StressOutcome } from '../stress/stress.js';
import { BadInput, EXIT, HarnessError } from '../errors.js';
import { elapsedOf, rate, type Io } from './io.js';
import {
  checkBuild,
  checkOutputDir,
  lookupScenario,
  lookupVariant,
  parseDuration,
  parseInteger,
  parseMemory,
  parseParams,
  parseSeed,
  parseShard,
  randomSeed,
} from './parse.js';
import type { MemoryMode } from '../engine/memory-order.js';
import { exploreOpsCommand, replayCommand, runCommandLine } from './repro-commands.js';
import { VERSION } from './version.js';
import { pausePoint } from '../pause.js';

export type RunMode = 'mixed' | 'stress' | 'explore';
const MODES: readonly RunMode[] = ['mixed', 'stress', 'explore'];
/** Share of the budget the explore phase gets in mixed mode. */
const EXPLORE_SHARE = 0.25;
/** Budgets for turning a stress failure into a token (stress/reproduce.ts): the schedule search, then shrinking. */
const REPRO_SEARCH_MS = 20_000;
const REPRO_SHRINK_MS = 5_000;
/** The shell's code for a process ended by SIGINT (128 + 2): what `run` exits with after one. */
export const EXIT_INTERRUPTED = 130;

export interface RunFlags {
  variant?: string;
  allVariants?: boolean;
  workers?: string;
  time?: string;
  ops?: string;
  schedules?: string;
  seed?: string;
  mode?: string;
  slice?: string;
  watchdog?: string;
  param: string[];
  json?: boolean;
  reportDir?: string;
  shard?: string;
  config?: string;
  scenarioFile?: string;
  /** The explore phase's memory model (the stress phase is always sequentially consistent). */
  memory?: string;
}

interface Plan {
  readonly items: {
    scenario: ScenarioDef;
    variant: VariantDef;
    params: Record<string, number>;
    exploreParams: Record<string, number>;
  }[];
  readonly workers: number;
  readonly timeMs: number;
  readonly timeText: string;
  readonly opBudget: number;
  /** Schedules for the explore phase; MAX_SAFE_INTEGER = until the time is spent. */
  readonly schedules: number;
  readonly seed: number;
  /** The campaign's seed (= seed unless sharded). */
  readonly baseSeed: number;
  readonly shard: Shard | undefined;
  readonly mode: RunMode;
  /** The explore phase's memory model (stress: always sc, real threads). */
  readonly memory: MemoryMode;
  readonly sliceMs: number;
  readonly watchdogMs: number;
  readonly reportDir: string | undefined;
  /** The compiled module of a user scenario, handed to the workers. */
  readonly scenarioFile: string | undefined;
}

/** Validate everything before any work starts, so bad input leaves nothing behind. */
export async function planRun(namesArg: readonly string[], flags: RunFlags): Promise<Plan> {
  const cfg = flags.config !== undefined ? loadConfig(flags.config, 'run') : {};
  const f = underFlags(cfg, flags);
  const names = namesArg.length > 0 ? namesArg : (cfg.scenarios ?? []);
  const scenarioFile = f.scenarioFile !== undefined ? scenarioModulePath(f.scenarioFile) : undefined;
  const userScenario = scenarioFile !== undefined ? await loadScenarioFile(scenarioFile, f.scenarioFile) : undefined;
  if (f.variant !== undefined && f.allVariants) throw new BadInput('--variant and --all-variants exclude each other');
  // With a scenario file and no names, run just the file's scenario.
  const scenarios = names.length > 0 ? names.map(lookupScenario) : userScenario ? [userScenario] : [...allScenarios()];
  if (f.param.length > 0 && scenarios.length !== 1) throw new BadInput('--param needs exactly one scenario');
  const items = scenarios.flatMap((s) => {
    const clean = s.variants.filter((v) => v.expect === 'clean');
    // A file that extends a built-in scenario and names none of its variants runs what it added.
    const added = s === userScenario && !f.allVariants ? addedVariants(s.name) : [];
    // By default the variants expected clean; a scenario with none (a user's bug hunt) runs them all.
    const variants =
      f.variant !== undefined
        ? [lookupVariant(s, f.variant)]
        : added.length > 0
          ? [...added]
          : f.allVariants || clean.length === 0
            ? [...s.variants]
            : clean;
    const given = parseParams(s, f.param);
    const params = withDefaults(s, given);
    const exploreParams = withDefaults(s, { ...s.exploreParams, ...given });
    return variants.map((variant) => ({ scenario: s, variant, params, exploreParams }));
  });
  if (items.length === 0) throw new BadInput('nothing to run: no scenario variant matches');
  const mode = (f.mode ?? 'mixed') as RunMode;
  if (!MODES.includes(mode)) throw new BadInput(`--mode: '${f.mode}' is not one of ${MODES.join(', ')}`);
  // Every flag given is used: these only steer the stress phase, which --mode explore does not have.
  for (const k of ['ops', 'slice', 'watchdog'] as const) {
    if (mode === 'explore' && f[k] !== undefined) {
      throw new BadInput(`--${k} belongs to the stress phase; --mode explore has none`);
    }
  }
  const timeText = f.time ?? '10s';
  const shard = f.shard !== undefined ? parseShard('--shard', f.shard) : undefined;
  const baseSeed = f.seed !== undefined ? parseSeed('--seed', f.seed) : randomSeed();
  if (f.reportDir !== undefined) checkOutputDir('--report-dir', f.reportDir);
  const workers =
    f.workers !== undefined ? parseInteger('--workers', f.workers, 1, 64) : Math.max(1, availableParallelism());
  for (const it of items) {
    checkBuild(it.scenario, workers, it.variant, it.params);
    checkBuild(it.scenario, it.scenario.exploreCpus, it.variant, it.exploreParams);
  }
  return {
    items,
    workers,
    timeMs: parseDuration('--time', timeText),
    timeText,
    opBudget: f.ops !== undefined ? parseInteger('--ops', f.ops, 1, Number.MAX_SAFE_INTEGER) : Infinity,
    schedules:
      f.schedules !== undefined
        ? parseInteger('--schedules', f.schedules, 1, Number.MAX_SAFE_INTEGER)
        : Number.MAX_SAFE_INTEGER,
    // A shard's stress phase runs its own op programs; its explore phase takes every n-th execution.
    seed: shard && shard.count > 1 ? mix32(baseSeed, 0x5a4d00 + shard.index) : baseSeed,
    baseSeed,
    shard,
    mode,
    memory: parseMemory(f.memory, mode),
    sliceMs: f.slice !== undefined ? parseDuration('--slice', f.slice) : 10,
    watchdogMs: f.watchdog !== undefined ? parseDuration('--watchdog', f.watchdog) : 10_000,
    reportDir: f.reportDir,
    scenarioFile,
  };
}

export async function runCommand(names: readonly string[], f: RunFlags, io: Io): Promise<number> {
  const plan = await planRun(names, f);
  const startedAt = new Date();
  const runId = newRunId(startedAt);
  const t0 = performance.now();
  const results: VariantReport[] = [];
  const reportOf = (exitCode: number, partial?: string[]): RunReport => {
    const pass = results.every((r) => r.verdict === 'pass');
    return {
      tool: 'iommu-stress',
      version: VERSION,
      runId,
      command: io.commandLine,
      startedAt: startedAt.toISOString(),
      durationMs: performance.now() - t0,
      seed: plan.baseSeed,
      shard: plan.shard ? { index: plan.shard.index + 1, count: plan.shard.count } : null,
      verdict: pass ? 'pass' : 'fail',
      exitCode: exitCode < 0 ? (pass ? EXIT.ok : EXIT.verdict) : exitCode,
      results: [...results],
      ...(partial ? { partial } : {}),
    };
  };
  // SIGINT during a stress phase (async: this thread is free) stops it at once — the workers finish their
  // op — and the run writes what was measured, marked partial, and exits 130; a second SIGINT quits.
  // The explore executor runs on this thread without yielding, so no handler could run during it: there
  // SIGINT keeps its default (the process ends at once) and the report on disk is the checkpoint written
  // just before, marked partial. A finished run replaces it with the whole report.
  const interrupt = new AbortController();
  let interruptedIn: string | undefined;
  let current = '';
  const onSigint = () => {
    if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
    interruptedIn = current;
    io.err(
      `iommu-stress: SIGINT during ${current}: stopping and writing what was measured (SIGINT again quits at once)`,
    );
    interrupt.abort();
  };
  const phases: Phases = {
    signal: interrupt.signal,
    armSigint: () => {
      process.on('SIGINT', onSigint);
    },
    disarmSigint: () => {
      process.off('SIGINT', onSigint);
    },
    checkpoint: (what) => {
      writeReport(
        reportOf(EXIT_INTERRUPTED, [
          `interrupted (SIGINT or killed) during ${what} after ` +
            `${((performance.now() - t0) / 1000).toFixed(1)} s: ${results.length} of ${plan.items.length} variant(s) reported`,
        ]),
        plan.reportDir,
      );
    },
  };
  for (const item of plan.items) {
    if (interrupt.signal.aborted) break;
    current = `${item.scenario.name}/${item.variant.name}`;
    const r = await runVariant(plan, item, io, phases);
    results.push(r);
    if (!f.json) io.out(verdictLine(r, io));
  }
  const partial =
    interruptedIn !== undefined
      ? [
          `interrupted by SIGINT after ${((performance.now() - t0) / 1000).toFixed(1)} s, during ${interruptedIn}` +
            ` (its counts are what was measured until then); ${plan.items.length - results.length} of ${plan.items.length} variant(s) not run`,
        ]
      : undefined;
  const report = reportOf(partial ? EXIT_INTERRUPTED : -1, partial);
  const exitCode = report.exitCode;
  const dirs = writeReport(report, plan.reportDir);
  if (partial) io.err(`iommu-stress: interrupted: partial report written to ${dirs[0]}`);
  if (f.json) io.out(JSON.stringify({ ...report, reportDirs: dirs }, null, 2));
  else {
    for (const r of results) {
      for (const v of r.violations) {
        const what = v.stressSaw
          ? `replay shows: ${v.invariant} ${v.message}\n    stress saw: ${v.stressSaw.invariant} ${v.stressSaw.message}`
          : `${v.invariant} ${v.message}`;
        io.out(
          `  ${r.scenario}/${r.variant}: ${what}${v.noRepro ? `\n    ${v.noRepro}` : ''}\n    reproduce: ${v.command}`,
        );
      }
    }
    io.out(`verdict: ${partial ? 'INTERRUPTED' : report.verdict.toUpperCase()}  report: ${dirs[0]}`);
  }
  return exitCode;
}

/** How runVariant tells runCommand where SIGINT can be handled (stress phases) and where it cannot. */
interface Phases {
  readonly signal: AbortSignal;
  armSigint(): void;
  disarmSigint(): void;
  /** Put a partial report on disk before a phase that SIGINT would end at once (explore). */
  checkpoint(what: string): void;
}

async function runVariant(plan: Plan, item: Plan['items'][number], io: Io, phases: Phases): Promise<VariantReport> {
  const { signal } = phases;
  const { scenario, variant, params } = item;
  const t0 = performance.now();
  const violations: ReportedViolation[] = [];
  const outcomes: Record<string, number> = {};
  let st: StressOutcome | undefined;
  let ex: ExploreOutcome | undefined;
  const stressMs = plan.mode === 'mixed' ? plan.timeMs * (1 - EXPLORE_SHARE) : plan.timeMs;

  if (plan.mode !== 'explore') {
    io.progress(`${scenario.name}/${variant.name}: stress, ${plan.workers} workers, ${(stressMs / 1000).toFixed(1)} s`);
    phases.armSigint();
    try {
      st = await stress({
        scenario,
        variant,
        params,
        workers: plan.workers,
        timeMs: stressMs,
        opBudget: plan.opBudget,
        seed: plan.seed,
        sliceMs: plan.sliceMs,
        watchdogMs: plan.watchdogMs,
        scenarioFile: plan.scenarioFile,
        signal,
        onProgress: (p) =>
          io.status(
            `${scenario.name}/${variant.name} stress ${elapsedOf(p.elapsedMs, stressMs)}  ` +
              `${rate(p.ops / Math.max(1e-3, p.elapsedMs / 1000))} ops/s  ${p.slices} slices  violations 0`,
          ),
      });
    } catch (e) {
      if (!(e instanceof HarnessError)) throw e;
      throw new HarnessError(
        `${scenario.name}/${variant.name}: ${e.message}\n  re-run: ${runCommandLine(scenario, variant.name, params, plan.workers, plan.timeText, plan.seed)}`,
      );
    } finally {
      phases.disarmSigint();
    }
    mergeOutcomes(outcomes, st.outcomes);
    if (st.violation && st.failing) {
      if (signal.aborted) {
        // Interrupted: no search for a token; the failing programs and the command that explores them.
        const { opSeed, opsPerCpu } = st.failing;
        violations.push({
          ...st.violation,
          executor: 'stress',
          command: exploreOpsCommand(scenario, variant.name, params, opSeed, opsPerCpu, plan.seed),
        });
      } else {
        phases.checkpoint(`the deterministic re-run of ${scenario.name}/${variant.name}'s stress failure`);
        violations.push(reproduceForReport(plan, item, st.violation, st.failing, io));
      }
    }
  }
  const remaining = plan.timeMs - (performance.now() - t0);
  if (violations.length === 0 && plan.mode !== 'stress' && remaining > 0 && !signal.aborted) {
    phases.checkpoint(`the explore phase of ${scenario.name}/${variant.name}`);
    pausePoint('explore-phase'); // tests: SIGINT lands in the explore phase
    io.progress(`${scenario.name}/${variant.name}: explore (${DEFAULT_STRATEGY}), ${(remaining / 1000).toFixed(1)} s`);
    const opsPerCpu = Array<number>(scenario.exploreCpus).fill(scenario.exploreOps);
    ex = explore({
      scenario,
      variant,
      params: item.exploreParams,
      opsPerCpu,
      strategy: DEFAULT_STRATEGY,
      depth: DEFAULT_DEPTH,
      schedules: plan.schedules,
      timeMs: remaining,
      seed: plan.baseSeed,
      maxSteps: defaultMaxSteps(opsPerCpu),
      shrink: true,
      shard: plan.shard,
      memory: plan.memory,
      onProgress: (p) =>
        io.status(
          `${scenario.name}/${variant.name} explore ${elapsedOf(p.elapsedMs, remaining)}  ` +
            `${rate(p.schedules / Math.max(1e-3, p.elapsedMs / 1000))} schedules/s  ${rate(p.steps / Math.max(1e-3, p.elapsedMs / 1000))} steps/s  violations 0`,
        ),
    });
    mergeOutcomes(outcomes, ex.outcomes);
    const m = ex.minimal;
    if (m)
      violations.push({
        ...m.violation,
        executor: 'explore',
        token: m.token,
        trace: m.trace,
        command: replayCommand(m.token, scenario.name),
      });
  }
  const observed = violations[0]?.invariant ?? 'clean';
  const ops = (st?.ops ?? 0) + (ex?.ops ?? 0);
  if (violations.length === 0 && variant.expect !== 'clean') {
    // Nothing to replay: say how to spend more on it.
    io.progress(
      `${scenario.name}/${variant.name}: not caught; try ${runCommandLine(scenario, variant.name, params, plan.workers, '60s', plan.seed)}`,
    );
  }
  return {
    scenario: scenario.name,
    variant: variant.name,
    expected: expectationText(variant),
    observed,
    // A stress failure whose replay ends in another invariant still observed what the threads saw.
    verdict:
      meetsExpectation(variant, observed) ||
      (violations[0]?.stressSaw && meetsExpectation(variant, violations[0].stressSaw.invariant))
        ? 'pass'
        : 'fail',
    ops,
    steps: (st?.steps ?? 0) + (ex?.steps ?? 0),
    durationMs: performance.now() - t0,
    seed: plan.seed,
    params,
    violations,
    outcomes,
    histogram: histogram(scenario, ops, outcomes, violations),
    stress: st
      ? {
          workers: plan.workers,
          ops: st.ops,
          steps: st.steps,
          slices: st.slices,
          durationMs: st.durationMs,
          opsPerSec: st.ops / (st.durationMs / 1000),
        }
      : null,
    explore: ex
      ? { schedules: ex.schedules, steps: ex.steps, strategy: DEFAULT_STRATEGY, durationMs: ex.durationMs }
      : null,
  };
}

/**
 * A stress failure as reported: the deterministic replay is the headline when one is found (with what
 * the threads saw beside it when that differs); otherwise the threads' violation, the shortest failing
 * programs and an explore command on them.
 */
function reproduceForReport(
  plan: Plan,
  item: Plan['items'][number],
  seen: Violation,
  failing: NonNullable<StressOutcome['failing']>,
  io: Io,
): ReportedViolation {
  const { scenario, variant, params } = item;
  const what = `${scenario.name}/${variant.name}`;
  io.progress(`${what}: ${seen.invariant} under stress; searching a deterministic interleaving of its op programs`);
  const r = reproduceStressFailure({
    scenario,
    variant,
    params,
    failing,
    seed: plan.seed,
    searchMs: REPRO_SEARCH_MS,
    shrinkMs: REPRO_SHRINK_MS,
    maxSteps: defaultMaxSteps,
    onProgress: (t) => io.status(`${what} repro: ${t}`),
  });
  const found = r.found;
  if (!found) {
    const cmd = exploreOpsCommand(scenario, variant.name, params, failing.opSeed, failing.opsPerCpu, plan.seed);
    return {
      ...seen,
      executor: 'stress',
      command: `${cmd} --time 60s`,
      noRepro:
        `no deterministic interleaving found in ${(r.searchMs / 1000).toFixed(1)} s (${r.schedules} schedules, ` +
        `windows up to ${r.window.join(',')} ops); shortest failing op programs: op seed ${failing.opSeed}, ` +
        `ops ${failing.opsPerCpu.join(',')}` +
        `${failing.sliceOnly ? ` (slice ${failing.slice} alone)` : ' (from the start of the run)'}`,
    };
  }
  const differs = found.violation.invariant !== seen.invariant || found.violation.vcpu !== seen.vcpu;
  return {
    ...found.violation,
    executor: 'stress',
    token: found.token,
    trace: found.trace,
    command: replayCommand(found.token, scenario.name),
    ...(differs ? { stressSaw: seen } : {}),
  };
}

/** jcstress-style rows: every op either had nothing to report ('ok') or produced one outcome. */
function histogram(
  s: ScenarioDef,
  ops: number,
  outcomes: Readonly<Record<string, number>>,
  violations: readonly ReportedViolation[],
): HistogramRow[] {
  const grade = (id: string): Grade =>
    [...ENGINE_INVARIANTS, ...s.invariants].find((i) => i.id === id)?.grade ?? 'ACCEPTABLE';
  const rows: HistogramRow[] = Object.entries(outcomes).map(([result, samples]) => ({
    result,
    samples,
    expect: grade(result),
  }));
  for (const v of violations) rows.push({ result: v.invariant, samples: 1, expect: v.grade });
  const reported = rows.reduce((a, r) => a + r.samples, 0);
  return [{ result: 'ok', samples: Math.max(0, ops - reported), expect: 'ACCEPTABLE' }, ...rows];
}

export function defaultMaxSteps(opsPerCpu: readonly number[]): number {
  return Math.max(100_000, 400 * opsPerCpu.reduce((a, b) => a + b, 0));
}

function verdictLine(r: VariantReport, io: Io): string {
  const what = r.stress ? `${r.stress.ops} ops on ${r.stress.workers} workers` : '';
  const ex = r.explore ? `${r.explore.schedules} schedules` : '';
  return (
    `${r.verdict === 'pass' ? io.paint('PASS', 'green') : io.paint('FAIL', 'red')}  ${`${r.scenario}/${r.variant}`.padEnd(28)} expected ${r.expected.padEnd(22)} observed ${r.observed.padEnd(14)}` +
    ` ${[what, ex].filter(Boolean).join(' + ')} in ${(r.durationMs / 1000).toFixed(1)} s`
  );
}
