/**
 * `replay`: re-run one execution from a token or a repro file, bit for bit, optionally printing the
 * interleaving. Exit 1 when the violation happens again, 0 when the execution now runs clean (the bug
 * is fixed, or the model changed under the repro).
 */
import { allocateMemory } from '../engine/layout.js';
import { withDefaults } from '../engine/scenario.js';
import { replayRepro } from '../explore/explore.js';
import { readToken, REPRO_LIMITS, validateRepro, type DecodedRepro } from '../explore/repro.js';
import { currentStamp } from '../explore/stamp.js';
import { preview } from '../preview.js';
import { formatTrace } from '../explore/trace.js';
import { BadInput, EXIT } from '../errors.js';
import { readBoundedFile, type Io } from './io.js';
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
  if ((file === undefined) === (f.token === undefined))
    throw new BadInput('replay needs either a repro file or --token TOKEN (exactly one)');
  // Everything about the input is checked before the scenario file is loaded and anything runs.
  const { decoded, recordedHash, recordedInvariant } =
    file !== undefined
      ? readReproFile(file)
      : { decoded: readToken(f.token!), recordedHash: undefined, recordedInvariant: undefined };
  if (f.scenarioFile !== undefined) await loadScenarioFile(scenarioModulePath(f.scenarioFile), f.scenarioFile);
  const where = file ?? '--token';
  const scenario = lookupScenario(decoded.repro.scenario);
  const variant = lookupVariant(scenario, decoded.repro.variant);
  checkParams(scenario, decoded.repro.params, where);
  const params = withDefaults(scenario, decoded.repro.params);
  checkBuild(scenario, decoded.repro.opsPerCpu.length, variant, params);
  const model = scenario.build({ cpus: decoded.repro.opsPerCpu.length, variant, params });
  const timers = model.timers?.length ?? 0;
  // The oldest isr1 tokens (7 fields) predate the timer count; the models they come from had none.
  const repro = decoded.timersKnown ? decoded.repro : { ...decoded.repro, timers };
  if (timers !== repro.timers) {
    throw new BadInput(
      `${where}: the repro was recorded with ${repro.timers} timer task(s), but ${scenario.name}/${variant.name} now has ${timers}: the model changed`,
    );
  }
  const warnings = stampWarnings(decoded, where);
  for (const w of warnings) io.err(`warning: ${w}`);
  const res = replayRepro(
    { scenario, model, mem: allocateMemory(model.layout), opSeed: repro.opSeed, maxSteps: repro.maxSteps },
    repro,
  );
  const v = res.violation;
  const reproduced = v !== undefined && (recordedInvariant === undefined || v.invariant === recordedInvariant);
  const trace = f.trace ? formatTrace(res.trace!, res.taskNames, v, Infinity, { full: f.full === true }) : undefined;
  if (f.json) {
    io.out(
      JSON.stringify(
        {
          reproduced,
          scenario: scenario.name,
          variant: variant.name,
          violation: v ?? null,
          traceHash: res.traceHash,
          ...(recordedHash ? { recordedTraceHash: recordedHash, sameTrace: recordedHash === res.traceHash } : {}),
          format: decoded.format,
          recordedWith: decoded.stamp,
          replayedWith: currentStamp(scenario.name),
          warnings,
          steps: res.steps,
          ops: res.ops,
          preemptions: res.preemptions,
          ...(trace ? { trace } : {}),
        },
        null,
        2,
      ),
    );
  } else {
    if (trace) io.out(trace);
    io.out(
      v
        ? `${reproduced ? 'reproduced' : 'different violation'}: ${v.invariant} ${v.message}`
        : 'not reproduced: the execution ran clean',
    );
    io.out(
      `${scenario.name}/${variant.name}: ${res.steps} steps, ${res.ops} ops, ${res.preemptions} preemptions, trace hash ${res.traceHash}` +
        (recordedHash
          ? recordedHash === res.traceHash
            ? ' (same as recorded)'
            : ` (recorded ${recordedHash}: the model changed)`
          : ''),
    );
  }
  return reproduced ? EXIT.verdict : EXIT.ok;
}

/** What differs between the code that recorded the repro and today's, named on both sides. */
export function stampWarnings(d: DecodedRepro, where: string): string[] {
  const now = currentStamp(d.repro.scenario);
  const today = `iommu-stress ${now.toolVersion}, model ${d.repro.scenario}@${now.modelHash}`;
  if (d.stamp === null) {
    const what = d.format.startsWith('isr1')
      ? `an isr1 token (${/\d+ fields/.exec(d.format)?.[0] ?? 'no field count'})`
      : 'a version 1 repro file';
    return [`${where}: ${what}, recorded before repros carried a tool version and model hash; replaying on ${today}`];
  }
  if (d.stamp.modelHash === now.modelHash && d.stamp.toolVersion === now.toolVersion) return [];
  const changed = d.stamp.modelHash !== now.modelHash ? 'model code' : 'tool';
  const then = `iommu-stress ${d.stamp.toolVersion}, model ${d.repro.scenario}@${d.stamp.modelHash}`;
  return [
    `${where} was recorded with ${then}; ` +
      `replaying on ${today}: the ${changed} changed since, the execution may differ`,
  ];
}

function readReproFile(file: string): { decoded: DecodedRepro; recordedHash?: string; recordedInvariant?: string } {
  const text = readBoundedFile(file, REPRO_LIMITS.fileBytes, 'the repro file');
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (e) {
    throw new BadInput(`${file}: not JSON (${(e as Error).message})`);
  }
  if (typeof x !== 'object' || x === null || (x as { format?: unknown }).format !== 'iommu-stress-repro') {
    throw new BadInput(`${file}: not an iommu-stress repro file (no "format": "iommu-stress-repro")`);
  }
  const o = x as Record<string, unknown>;
  if (o.version !== 1 && o.version !== 2) {
    throw new BadInput(`${file}: repro file version ${preview(o.version)} is not 1 or 2`);
  }
  const stamped = o.version === 2;
  if (stamped && (typeof o.toolVersion !== 'string' || typeof o.modelHash !== 'string')) {
    throw new BadInput(`${file}: a version 2 repro file needs "toolVersion" and "modelHash" strings`);
  }
  const violation = o.violation as { invariant?: unknown } | null | undefined;
  return {
    decoded: {
      repro: validateRepro(o, file),
      format: `repro file v${o.version as number}`,
      timersKnown: 'timers' in o,
      stamp: stamped ? { toolVersion: o.toolVersion as string, modelHash: o.modelHash as string } : null,
    },
    recordedHash: typeof o.traceHash === 'string' ? o.traceHash : undefined,
    recordedInvariant: typeof violation?.invariant === 'string' ? violation.invariant : undefined,
  };
}
