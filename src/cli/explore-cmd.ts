/**
 * `explore`: many schedules of one scenario variant in the deterministic scheduler. Exit 1 when a
 * violation is found (with the minimal repro written to a file and its replay token printed), 0 when
 * every schedule ran clean.
 */
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { withDefaults } from '../engine/scenario.js';
import { explore, type FoundRepro } from '../explore/explore.js';
import type { ReproFile } from '../explore/repro.js';
import { currentStamp } from '../explore/stamp.js';
import { DEFAULT_DEPTH, DEFAULT_STRATEGY, isStrategy, STRATEGIES, strategyNamed } from '../explore/strategies.js';
import { formatTrace } from '../explore/trace.js';
import { defaultReportsRoot, writeAtomically } from '../report/report.js';
import { checkOutputFile } from '../report/output-path.js';
import { BadInput, EXIT } from '../errors.js';
import { elapsedOf, rate, type Io } from './io.js';
import { addedVariants, loadScenarioFile, scenarioModulePath } from '../scenarios/registry.js';
import { loadConfig, underFlags } from './config.js';
import {
  checkBuild,
  lookupScenario,
  lookupVariant,
  parseDuration,
  parseInteger,
  parseMemory,
  parseOpsList,
  parseParams,
  parseSeed,
  parseShard,
  randomSeed,
} from './parse.js';
import { replayCommand } from './repro-commands.js';
import { defaultMaxSteps } from './run.js';

export interface ExploreFlags {
  variant?: string;
  strategy?: string;
  depth?: string;
  schedules?: string;
  time?: string;
  seed?: string;
  cpus?: string;
  ops?: string;
  opSeed?: string;
  maxSteps?: string;
  /** Absent when neither the flag nor the config says: then shrinking is on. */
  shrink?: boolean;
  param: string[];
  json?: boolean;
  reproFile?: string;
  shard?: string;
  config?: string;
  scenarioFile?: string;
  stopOn?: string;
  /** Print the found (shrunk) repro's interleaving. */
  trace?: boolean;
  /** With trace: do not collapse the tasks outside the racing pair. */
  full?: boolean;
  /** sc (default) or weak: engine/weak-memory.ts. */
  memory?: string;
}

export async function exploreCommand(nameArg: string | undefined, flags: ExploreFlags, io: Io): Promise<number> {
  const cfg = flags.config !== undefined ? loadConfig(flags.config, 'explore') : {};
  const f = underFlags(cfg, flags);
  const user =
    f.scenarioFile !== undefined
      ? await loadScenarioFile(scenarioModulePath(f.scenarioFile), f.scenarioFile)
      : undefined;
  const name = nameArg ?? cfg.scenario ?? user?.name;
  if (name === undefined) throw new BadInput('explore needs a scenario (an argument, or "scenario" in --config)');
  const scenario = lookupScenario(name);
  // Default: the first variant, or the first one a scenario file added to a built-in scenario.
  const variant = lookupVariant(
    scenario,
    f.variant ?? (scenario === user ? addedVariants(scenario.name)[0] : undefined)?.name ?? scenario.variants[0]!.name,
  );
  const params = withDefaults(scenario, { ...scenario.exploreParams, ...parseParams(scenario, f.param) });
  const strategy = f.strategy ?? DEFAULT_STRATEGY;
  if (!isStrategy(strategy)) throw new BadInput(`--strategy: '${f.strategy}' is not one of ${STRATEGIES.join(', ')}`);
  if (!strategyNamed(strategy).usesDepth && f.depth !== undefined) {
    throw new BadInput(`--depth belongs to --strategy pct (--strategy ${strategy} has no bug depth)`);
  }
  const cpus = f.cpus !== undefined ? parseInteger('--cpus', f.cpus, 1, 255) : scenario.exploreCpus;
  let opsPerCpu = Array<number>(cpus).fill(scenario.exploreOps);
  if (f.ops !== undefined) {
    const list = parseOpsList('--ops', f.ops);
    if (list.length !== 1 && list.length !== cpus)
      throw new BadInput(`--ops: '${f.ops}' gives ${list.length} counts for ${cpus} vCPUs (give one, or one per vCPU)`);
    opsPerCpu = list.length === 1 ? Array<number>(cpus).fill(list[0]!) : list;
  }
  checkBuild(scenario, cpus, variant, params);
  const stopOn = f.stopOn === undefined ? [] : f.stopOn.split(',').map((id) => id.trim());
  for (const id of stopOn) {
    if (!scenario.invariants.some((i) => i.id === id)) {
      throw new BadInput(`--stop-on: scenario ${scenario.name} has no outcome '${id}' (see: iommu-stress list)`);
    }
  }
  const memory = parseMemory(f.memory);
  const seed = f.seed !== undefined ? parseSeed('--seed', f.seed) : randomSeed();
  const hasTime = f.time !== undefined;
  const schedules =
    f.schedules !== undefined
      ? parseInteger('--schedules', f.schedules, 1, Number.MAX_SAFE_INTEGER)
      : hasTime
        ? Number.MAX_SAFE_INTEGER
        : 1_000;
  const options = {
    scenario,
    variant,
    params,
    opsPerCpu,
    strategy,
    seed,
    schedules,
    shrink: f.shrink ?? true,
    shard: f.shard !== undefined ? parseShard('--shard', f.shard) : undefined,
    stopOn,
    depth: f.depth !== undefined ? parseInteger('--depth', f.depth, 1, 64) : DEFAULT_DEPTH,
    timeMs: hasTime ? parseDuration('--time', f.time!) : Infinity,
    opSeed: f.opSeed !== undefined ? parseSeed('--op-seed', f.opSeed) : undefined,
    maxSteps: f.maxSteps !== undefined ? parseInteger('--max-steps', f.maxSteps, 1, 1e9) : defaultMaxSteps(opsPerCpu),
    memory,
  };
  if (f.reproFile !== undefined) checkOutputFile('--repro-file', f.reproFile);

  io.progress(
    `explore ${scenario.name}/${variant.name}: ${strategy}${strategyNamed(strategy).usesDepth ? ` depth ${options.depth}` : ''}, seed ${seed}, ${cpus} vCPUs x ${opsPerCpu.join(',')} ops${memory === 'weak' ? ', --memory weak' : ''}`,
  );
  const budget = options.timeMs;
  const r = explore({
    ...options,
    onProgress: (p) =>
      io.status(
        `explore ${scenario.name}/${variant.name} ${elapsedOf(p.elapsedMs, budget)}  ${p.schedules}` +
          `${Number.isFinite(schedules) && schedules < Number.MAX_SAFE_INTEGER ? ` / ${schedules}` : ''} schedules  ` +
          `${rate(p.schedules / Math.max(1e-3, p.elapsedMs / 1000))}/s  ${rate(p.steps / Math.max(1e-3, p.elapsedMs / 1000))} steps/s`,
      ),
  });
  const found = r.minimal;
  let reproFile: string | undefined;
  if (found) {
    const shardPart = options.shard ? `-shard${options.shard.index + 1}of${options.shard.count}` : '';
    reproFile =
      f.reproFile ??
      path.join(defaultReportsRoot(), 'repros', `${scenario.name}-${variant.name}-seed${seed}${shardPart}.json`);
    mkdirSync(path.dirname(reproFile), { recursive: true });
    writeAtomically(reproFile, `${JSON.stringify(reproFileOf(found), null, 2)}\n`);
  }
  const summary = {
    verdict: found ? 'violation' : 'clean',
    scenario: scenario.name,
    variant: variant.name,
    expected: variant.expect,
    strategy,
    depth: options.depth,
    memory,
    seed,
    schedules: r.schedules,
    steps: r.steps,
    ops: r.ops,
    durationMs: Math.round(r.durationMs),
    stepsPerSec: Math.round(r.steps / Math.max(1e-3, r.searchMs / 1000)),
    schedulesPerSec: Math.round(r.schedules / Math.max(1e-3, r.searchMs / 1000)),
    outcomes: r.outcomes,
    ...(found
      ? {
          violation: found.violation,
          token: found.token,
          reproFile,
          traceHash: found.traceHash,
          original: sizeOf(r.original!),
          minimal: sizeOf(found),
          shrinkAttempts: r.shrinkAttempts,
          replay: replayCommand(found.token, scenario.name),
          ...(flags.trace ? { trace: traceOf(found, flags.full === true) } : {}),
        }
      : {}),
  };
  if (f.json) io.out(JSON.stringify(summary, null, 2));
  else if (!found) {
    io.out(
      `clean: ${r.schedules} schedules, ${r.steps} steps in ${(r.durationMs / 1000).toFixed(2)} s (seed ${seed}` +
        `${memory === 'weak' ? ', memory weak' : ''})`,
    );
  } else {
    const v = found.violation;
    if (flags.trace) io.out(`${traceOf(found, flags.full === true)}\n`);
    io.out(
      `violation ${v.invariant} after ${r.schedules} schedule(s) (seed ${seed}` +
        `${memory === 'weak' ? ', memory weak' : ''}): ${v.message}`,
    );
    io.out(`  found:  ${describeSize(r.original!)}`);
    io.out(`  shrunk: ${describeSize(found)}${(f.shrink ?? true) ? ` (${r.shrinkAttempts} attempts)` : ''}`);
    io.out(`  repro:  ${reproFile}`);
    io.out(`  replay: ${replayCommand(found.token, scenario.name)}`);
  }
  return found ? EXIT.verdict : EXIT.ok;
}

function traceOf(f: FoundRepro, full: boolean): string {
  return formatTrace(f.events, f.taskNames, f.violation, Infinity, { full });
}

function sizeOf(f: FoundRepro) {
  return { cpus: f.cpus, ops: f.ops, steps: f.steps, preemptions: f.preemptions, opsPerCpu: f.repro.opsPerCpu };
}

function describeSize(f: FoundRepro): string {
  return `${f.cpus} vCPUs, ${f.ops} ops, ${f.steps} steps, ${f.preemptions} preemptions`;
}

export function reproFileOf(f: FoundRepro): ReproFile {
  return {
    format: 'iommu-stress-repro',
    version: 2,
    ...currentStamp(f.repro.scenario),
    ...f.repro,
    token: f.token,
    violation: f.violation,
    traceHash: f.traceHash,
    command: replayCommand(f.token, f.repro.scenario),
  };
}
