/**
 * `replay`: re-run one execution from a token or a repro file, bit for bit, optionally printing the
 * interleaving. Exit 1 when the violation happens again, 0 when the execution now runs clean (the bug
 * is fixed, or the model changed under the repro).
 */
import { readFileSync } from 'node:fs';
import { allocateMemory } from '../engine/layout.js';
import { withDefaults } from '../engine/scenario.js';
import { replayRepro } from '../explore/explore.js';
import { decodeToken, validateRepro, type Repro } from '../explore/repro.js';
import { formatTrace } from '../explore/trace.js';
import { BadInput, EXIT } from '../errors.js';
import type { Io } from './io.js';
import { loadScenarioFile, scenarioModulePath } from '../scenarios/registry.js';
import { checkBuild, checkParams, lookupScenario, lookupVariant } from './parse.js';

export interface ReplayFlags {
  scenarioFile?: string;
  token?: string;
  trace?: boolean;
  /** With trace: do not collapse the tasks outside the racing pair. */
  full?: boolean;
  json?: boolean;
}

export async function replayCommand(file: string | undefined, f: ReplayFlags, io: Io): Promise<number> {
  if (f.scenarioFile !== undefined) await loadScenarioFile(scenarioModulePath(f.scenarioFile), f.scenarioFile);
  if ((file === undefined) === (f.token === undefined)) throw new BadInput('replay needs either a repro file or --token TOKEN (exactly one)');
  const { repro, recordedHash, recordedInvariant } = file !== undefined ? readReproFile(file) : { repro: decodeToken(f.token!), recordedHash: undefined, recordedInvariant: undefined };
  const where = file ?? '--token';
  const scenario = lookupScenario(repro.scenario);
  const variant = lookupVariant(scenario, repro.variant);
  checkParams(scenario, repro.params, where);
  const params = withDefaults(scenario, repro.params);
  checkBuild(scenario, repro.opsPerCpu.length, variant, params);
  const model = scenario.build({ cpus: repro.opsPerCpu.length, variant, params });
  const timers = model.timers?.length ?? 0;
  if (timers !== repro.timers) {
    throw new BadInput(`${where}: the repro was recorded with ${repro.timers} timer task(s), but ${scenario.name}/${variant.name} now has ${timers}: the model changed`);
  }
  const res = replayRepro({ scenario, model, mem: allocateMemory(model.layout), opSeed: repro.opSeed, maxSteps: repro.maxSteps }, repro);
  const v = res.violation;
  const reproduced = v !== undefined && (recordedInvariant === undefined || v.invariant === recordedInvariant);
  const trace = f.trace ? formatTrace(res.trace!, res.taskNames, v, Infinity, { full: f.full === true }) : undefined;
  if (f.json) {
    io.out(JSON.stringify({
      reproduced, scenario: scenario.name, variant: variant.name, violation: v ?? null, traceHash: res.traceHash,
      ...(recordedHash ? { recordedTraceHash: recordedHash, sameTrace: recordedHash === res.traceHash } : {}),
      steps: res.steps, ops: res.ops, preemptions: res.preemptions, ...(trace ? { trace } : {}),
    }, null, 2));
  } else {
    if (trace) io.out(trace);
    io.out(v ? `${reproduced ? 'reproduced' : 'different violation'}: ${v.invariant} ${v.message}` : 'not reproduced: the execution ran clean');
    io.out(`${scenario.name}/${variant.name}: ${res.steps} steps, ${res.ops} ops, ${res.preemptions} preemptions, trace hash ${res.traceHash}`
      + (recordedHash ? (recordedHash === res.traceHash ? ' (same as recorded)' : ` (recorded ${recordedHash}: the model changed)`) : ''));
  }
  return reproduced ? EXIT.verdict : EXIT.ok;
}

function readReproFile(file: string): { repro: Repro; recordedHash?: string; recordedInvariant?: string } {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    throw new BadInput(`${file}: cannot read the repro file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let x: unknown;
  try { x = JSON.parse(text); } catch (e) {
    throw new BadInput(`${file}: not JSON (${(e as Error).message})`);
  }
  if (typeof x !== 'object' || x === null || (x as { format?: unknown }).format !== 'iommu-stress-repro') {
    throw new BadInput(`${file}: not an iommu-stress repro file (no "format": "iommu-stress-repro")`);
  }
  const o = x as Record<string, unknown>;
  const violation = o.violation as { invariant?: unknown } | null | undefined;
  return {
    repro: validateRepro(o, file),
    recordedHash: typeof o.traceHash === 'string' ? o.traceHash : undefined,
    recordedInvariant: typeof violation?.invariant === 'string' ? violation.invariant : undefined,
  };
}
