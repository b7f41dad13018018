/**
 * `run`: the stress suite. For each scenario variant, real worker threads for the time budget, then —
 * in the default mixed mode, as Lincheck's planner splits stress and model checking — the rest of the
 * budget in the explore executor. A stress failure is immediately re-run deterministically on the same
 * op programs, so what real threads found comes back with a replay token whenever it can be.
 */
import { availableParallelism } from 'node:os';
import { judgeRates, judgeRelations } from '../check/judged.js';
import { mergeOutcomes } from '../check/checker.js';
import { ENGINE_INVARIANTS, type Grade, type Violation } from '../check/invariant.js';
import {
  expectationText,
  meetsExpectation,
  expectationUnder,
  type ScenarioDef,
  type VariantDef,
  withDefaults,
} from '../engine/scenario.js';
import { mix32 } from '../engine/rng.js';
import { addTally, coverageReport, newTally, SiteCatalog, tallyLabels } from '../engine/coverage.js';
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
import { verdictText } from '../report/coverage-text.js';
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
  requireCoverage?: boolean;
  /** The explore phase's memory model (the stress phase is always sequentially consistent). */
  memory?: string;
}

/** One parameter set a variant runs with: its own, or one of the scenario's regimes (ScenarioDef.regimes). */
export interface ParamSet {
  readonly regime: string | undefined;
  /** What the regime sets (empty for the variant's own set). */
  readonly overlay: Readonly<Record<string, number>>;
  readonly params: Record<string, number>;
  readonly exploreParams: Record<string, number>;
}

interface Plan {
  readonly items: {
    scenario: ScenarioDef;
    variant: VariantDef;
    params: Record<string, number>;
    exploreParams: Record<string, number>;
    /** The variant's own parameters first, then the regimes' (only when no --param is given). */
    sets: readonly ParamSet[];
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
  /** A clean pass with declared-reachable sites never reached fails (exit 1). */
  readonly requireCoverage: boolean;
}

/**
 * The parameter sets `run` gives each variant of `s`: the given parameters alone when the user gave some,
 * else the defaults and then every regime of the scenario (tests use it to run a variant as the default
 * suite does).
 */
export function paramSets(s: ScenarioDef, given: Readonly<Record<string, number>> | undefined): ParamSet[] {
  const own: ParamSet = {
    regime: undefined,
    overlay: {},
    params: withDefaults(s, given),
    exploreParams: withDefaults(s, { ...s.exploreParams, ...given }),
  };
  if (given !== undefined) return [own];
  return [
    own,
    ...(s.regimes ?? []).map((r) => ({
      regime: r.name,
      overlay: r.params,
      params: withDefaults(s, r.params),
      exploreParams: withDefaults(s, { ...s.exploreParams, ...r.params, ...r.exploreParams }),
    })),
  ];
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
    // Parameters given on the command line are the user's regime: the scenario's own are not added.
    const sets = paramSets(s, f.param.length > 0 ? given : undefined);
    return variants.map((variant) => ({ scenario: s, variant, params, exploreParams, sets }));
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
    // A scenario file's site declarations are input too: an exemption of an undeclared site is a typo.
    try {
      new SiteCatalog(it.scenario, it.variant);
    } catch (e) {
      throw new BadInput(`${it.scenario.name}/${it.variant.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    for (const set of it.sets) {
      checkBuild(it.scenario, workers, it.variant, set.params);
      checkBuild(it.scenario, it.scenario.exploreCpus, it.variant, set.exploreParams);
    }
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
    requireCoverage: f.requireCoverage === true,
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
    if (!f.json) {
      io.out(verdictLine(r, io));
      for (const w of coverageWarnings(r)) io.err(w);
    }
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
  const { scenario, variant } = item;
  const t0 = performance.now();
  const violations: ReportedViolation[] = [];
  const outcomes: Record<string, number> = {};
  const stressRuns: StressOutcome[] = [];
  const exploreRuns: ExploreOutcome[] = [];
  const catalog = new SiteCatalog(scenario, variant);
  const stressSites = newTally(catalog);
  const exploreSites = newTally(catalog);
  // The variant's parameter sets (its own, then the scenario's regimes) share its budget in turn.
  const sets = item.sets;
  const setMs = plan.timeMs / sets.length;
  for (const set of sets) {
    if (violations.length > 0 || signal.aborted) break;
    const { params } = set;
    const label = `${scenario.name}/${variant.name}${set.regime ? `@${set.regime}` : ''}`;
    const tSet = performance.now();
    const stressMs = plan.mode === 'mixed' ? setMs * (1 - EXPLORE_SHARE) : setMs;
    let st: StressOutcome | undefined;
    if (plan.mode !== 'explore') {
      io.progress(`${label}: stress, ${plan.workers} workers, ${(stressMs / 1000).toFixed(1)} s`);
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
          coverage: true,
          signal,
          onProgress: (p) =>
            io.status(
              `${label} stress ${elapsedOf(p.elapsedMs, stressMs)}  ` +
                `${rate(p.ops / Math.max(1e-3, p.elapsedMs / 1000))} ops/s  ${p.slices} slices  violations 0`,
            ),
        });
      } catch (e) {
        if (!(e instanceof HarnessError)) throw e;
        throw new HarnessError(
          `${label}: ${e.message}\n  re-run: ${runCommandLine(scenario, variant.name, params, plan.workers, plan.timeText, plan.seed)}`,
        );
      } finally {
        phases.disarmSigint();
      }
      stressRuns.push(st);
      mergeOutcomes(outcomes, st.outcomes);
      // Judged counts over the whole stress phase (check/judged.ts): relations and rate bounds.
      if (!st.violation && scenario.judged) {
        const j = [
          ...judgeRelations(scenario.judged, st.outcomes, params),
          ...judgeRates(scenario.judged, st.outcomes, st.ops, params, plan.workers),
        ][0];
        if (j)
          violations.push({
            invariant: j.id,
            grade: 'FORBIDDEN',
            message: `${label} stress phase: ${j.message}`,
            vcpu: -1,
            step: st.steps,
            site: 'judged counts',
            executor: 'stress',
            command: runCommandLine(scenario, variant.name, params, plan.workers, plan.timeText, plan.seed),
          });
      }
      if (st.sites) addTally(stressSites, st.sites.tally);
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
          phases.checkpoint(`the deterministic re-run of ${label}'s stress failure`);
          violations.push(reproduceForReport(plan, { ...item, params }, st.violation, st.failing, io));
        }
      }
    }
    // The set's explore phase gets the rest of its share. The stress budget starts once every worker runs
    // (stress.ts), so starting workers does not eat the explore share either.
    // At least its share even when the stress phase overran (a loaded machine, a slow barrier); more when
    // the stress phase ended early (--ops).
    const remaining =
      plan.mode === 'explore'
        ? setMs - (performance.now() - tSet)
        : Math.max(setMs * EXPLORE_SHARE, setMs - (st?.durationMs ?? 0));
    if (violations.length === 0 && plan.mode !== 'stress' && remaining > 0 && !signal.aborted) {
      phases.checkpoint(`the explore phase of ${label}`);
      pausePoint('explore-phase'); // tests: SIGINT lands in the explore phase
      io.progress(`${label}: explore (${DEFAULT_STRATEGY}), ${(remaining / 1000).toFixed(1)} s`);
      const opsPerCpu = Array<number>(scenario.exploreCpus).fill(scenario.exploreOps);
      const ex = explore({
        scenario,
        variant,
        params: set.exploreParams,
        opsPerCpu,
        strategy: DEFAULT_STRATEGY,
        depth: DEFAULT_DEPTH,
        schedules: plan.schedules,
        timeMs: remaining,
        seed: plan.baseSeed,
        maxSteps: defaultMaxSteps(opsPerCpu),
        shrink: true,
        shard: plan.shard,
        coverage: true,
        memory: plan.memory,
        onProgress: (p) =>
          io.status(
            `${label} explore ${elapsedOf(p.elapsedMs, remaining)}  ` +
              `${rate(p.schedules / Math.max(1e-3, p.elapsedMs / 1000))} schedules/s  ${rate(p.steps / Math.max(1e-3, p.elapsedMs / 1000))} steps/s  violations 0`,
          ),
      });
      exploreRuns.push(ex);
      mergeOutcomes(outcomes, ex.outcomes);
      if (ex.sites) tallyLabels(catalog, exploreSites, ex.sites);
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
  }
  const observed = violations[0]?.invariant ?? 'clean';
  const sum = <T>(runs: readonly T[], f: (r: T) => number) => runs.reduce((a, r) => a + f(r), 0);
  const ops = sum(stressRuns, (r) => r.ops) + sum(exploreRuns, (r) => r.ops);
  if (violations.length === 0 && expectationUnder(variant, plan.memory) !== 'clean') {
    // Nothing to replay: say how to spend more on it.
    io.progress(
      `${scenario.name}/${variant.name}: not caught; try ${runCommandLine(scenario, variant.name, item.params, plan.workers, '60s', plan.seed)}`,
    );
  }
  // Explore-only sites (engine/coverage.ts) are judged whenever the plan has an explore leg.
  const coverage = coverageReport(
    catalog,
    stressRuns.length > 0 ? stressSites : undefined,
    exploreSites,
    plan.mode !== 'stress',
  );
  const met =
    meetsExpectation(variant, observed, plan.memory) ||
    (violations[0]?.stressSaw !== undefined &&
      meetsExpectation(variant, violations[0].stressSaw.invariant, plan.memory));
  // A clean pass that left a declared-reachable site unreached says so; --require-coverage fails it.
  const incomplete = met && variant.expect === 'clean' && !signal.aborted ? coverage.neverReached.length : 0;
  const stressMs = sum(stressRuns, (r) => r.durationMs);
  return {
    scenario: scenario.name,
    variant: variant.name,
    expected: expectationText(variant, plan.memory),
    ...(variant.finding ? { finding: variant.finding } : {}),
    observed,
    // A stress failure whose replay ends in another invariant still observed what the threads saw.
    verdict: met && !(incomplete > 0 && plan.requireCoverage) ? 'pass' : 'fail',
    ops,
    steps: sum(stressRuns, (r) => r.steps) + sum(exploreRuns, (r) => r.steps),
    durationMs: performance.now() - t0,
    seed: plan.seed,
    params: item.params,
    violations,
    outcomes,
    histogram: histogram(scenario, ops, outcomes, violations),
    stress:
      stressRuns.length > 0
        ? {
            workers: plan.workers,
            ops: sum(stressRuns, (r) => r.ops),
            steps: sum(stressRuns, (r) => r.steps),
            slices: sum(stressRuns, (r) => r.slices),
            durationMs: stressMs,
            opsPerSec: sum(stressRuns, (r) => r.ops) / (stressMs / 1000),
          }
        : null,
    explore:
      exploreRuns.length > 0
        ? {
            schedules: sum(exploreRuns, (r) => r.schedules),
            steps: sum(exploreRuns, (r) => r.steps),
            strategy: DEFAULT_STRATEGY,
            durationMs: sum(exploreRuns, (r) => r.durationMs),
          }
        : null,
    coverage,
    incompleteCoverage: incomplete,
    ...(sets.length > 1
      ? { regimes: sets.flatMap((s) => (s.regime ? [{ name: s.regime, params: s.overlay }] : [])) }
      : {}),
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
  const verdict = io.paint(verdictText(r), r.verdict === 'pass' ? 'green' : 'red');
  return (
    `${verdict}  ${`${r.scenario}/${r.variant}${r.finding ? ' (FINDING)' : ''}`.padEnd(28)} expected ${r.expected.padEnd(22)} observed ${r.observed.padEnd(14)}` +
    ` ${[what, ex].filter(Boolean).join(' + ')} in ${(r.durationMs / 1000).toFixed(1)} s`
  );
}

/** The warning under a clean pass that left declared-reachable sites unreached (or yielded undeclared ones). */
export function coverageWarnings(r: VariantReport): string[] {
  const out: string[] = [];
  const c = r.coverage;
  if (!c) return out;
  const n = r.incompleteCoverage ?? 0;
  if (n > 0) {
    const shown = c.neverReached.slice(0, 8).map((s) => `'${s}'`);
    const more = c.neverReached.length > shown.length ? `, … (${c.neverReached.length - shown.length} more)` : '';
    out.push(
      `warning: ${r.scenario}/${r.variant}: ${n} declared-reachable ${n === 1 ? 'site was' : 'sites were'} never reached: ${shown.join(', ')}${more}`,
    );
  }
  const undeclared = Object.keys(c.undeclared);
  if (undeclared.length > 0) {
    out.push(
      `warning: ${r.scenario}/${r.variant}: the model yielded ${undeclared.length} undeclared site(s) (a model error: declare them in the scenario's sites): ${undeclared
        .slice(0, 8)
        .map((s) => `'${s}'`)
        .join(', ')}`,
    );
  }
  return out;
}
