/**
 * Trace pins: explored executions of every built-in variant, recorded as replay tokens together with
 * the trace hash, the steps and the violation they had when recorded (test/fixtures/trace-pins.json).
 * test/trace-pins.test.ts replays each token and expects the same trace hash: the proof that an engine
 * change meant to be invisible to explore (a faster lock or counter, a recursion turned into a loop)
 * kept every site, every blocking decision and every outcome.
 *
 * Two kinds per variant: `random` — one execution of the scenario's explore shape under the uniform
 * random scheduler (many context switches); `found` — for a bug variant, the violation PCT finds first
 * (the token `explore` would print, unshrunk). Regenerate with `node scripts/pin-traces.mjs` only when a
 * change is meant to change what explore sees, and say why in the commit.
 */
import { allocateMemory } from '../../src/engine/layout.js';
import { mix32 } from '../../src/engine/rng.js';
import { variantOf, withDefaults, nonDefaultParams, type ScenarioDef } from '../../src/engine/scenario.js';
import { runExecution } from '../../src/explore/execution.js';
import { explore, replayRepro } from '../../src/explore/explore.js';
import { RandomScheduler } from '../../src/explore/random.js';
import { decodeToken, encodeSchedule, encodeToken, type Repro } from '../../src/explore/repro.js';
import { SCENARIOS } from '../../src/scenarios/index.js';

export interface TracePin {
  /** scenario/variant#kind-seed */
  readonly name: string;
  readonly token: string;
  readonly traceHash: string;
  readonly steps: number;
  readonly violation: string | null;
}

const MAX_STEPS = 1_000_000;
/** PCT schedules tried for a bug variant's `found` pin (the engine bench finds every one within 1,000). */
const PCT_SCHEDULES = 3_000;

function scenarioNamed(name: string): ScenarioDef {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`trace pins: no scenario ${name}`);
  return s;
}

/**
 * One execution of scenario/variant under the random scheduler seeded `seed`, as a pin: the scenario's
 * explore shape, with `opsScale` times its ops per vCPU (longer programs reach the rarer paths).
 */
export function randomPin(scenarioName: string, variantName: string, seed: number, opsScale = 1): TracePin {
  const s = scenarioNamed(scenarioName);
  const variant = variantOf(s, variantName);
  const params = withDefaults(s, s.exploreParams);
  const opsPerCpu = Array<number>(s.exploreCpus).fill(s.exploreOps * opsScale);
  const model = s.build({ cpus: opsPerCpu.length, variant, params });
  const opSeed = mix32(seed, 0x7e1);
  const base = { scenario: s, model, mem: allocateMemory(model.layout), opSeed, maxSteps: MAX_STEPS };
  const res = runExecution({ ...base, opsPerCpu }, new RandomScheduler(seed));
  const repro: Repro = {
    scenario: s.name,
    variant: variant.name,
    params: nonDefaultParams(s, params),
    opSeed,
    opsPerCpu,
    skip: [],
    timers: model.timers?.length ?? 0,
    schedule: encodeSchedule(res.decisions),
    maxSteps: MAX_STEPS,
    stopOn: [],
  };
  const traced = replayRepro(base, repro);
  return {
    name: `${s.name}/${variant.name}#random-${seed}${opsScale > 1 ? `-x${opsScale}` : ''}`,
    token: encodeToken(repro),
    traceHash: traced.traceHash!,
    steps: traced.steps,
    violation: traced.violation?.invariant ?? null,
  };
}

/** The first violation PCT (depth 3) finds in a bug variant from campaign seed `seed`, as a pin; undefined if none. */
export function foundPin(scenarioName: string, variantName: string, seed: number): TracePin | undefined {
  const s = scenarioNamed(scenarioName);
  const variant = variantOf(s, variantName);
  const r = explore({
    scenario: s,
    variant,
    params: withDefaults(s, s.exploreParams),
    opsPerCpu: Array<number>(s.exploreCpus).fill(s.exploreOps),
    strategy: 'pct',
    depth: 3,
    schedules: PCT_SCHEDULES,
    timeMs: Infinity,
    seed,
    maxSteps: MAX_STEPS,
    shrink: false,
    // An ordering bug (a missing barrier) is found under the weak memory model only; its token says so.
    memory: variant.memory ?? 'sc',
  });
  if (!r.original) return undefined;
  return {
    name: `${s.name}/${variant.name}#found-${seed}`,
    token: r.original.token,
    traceHash: r.original.traceHash,
    steps: r.original.steps,
    violation: r.original.violation.invariant,
  };
}

/**
 * Every built-in variant: random pins of seeds 1 and 2, one of seed 3 with 4x the ops, and a found pin
 * for each bug variant.
 */
export function allPins(): TracePin[] {
  const pins: TracePin[] = [];
  for (const s of SCENARIOS) {
    for (const v of s.variants) {
      pins.push(randomPin(s.name, v.name, 1), randomPin(s.name, v.name, 2), randomPin(s.name, v.name, 3, 4));
      if (v.expect !== 'clean') {
        const f = foundPin(s.name, v.name, 1);
        if (f) pins.push(f);
      }
    }
  }
  return pins;
}

/** Replay a pin's token on today's code: what the test compares with the recorded pin. */
export function replayPin(token: string): { traceHash: string; steps: number; violation: string | null } {
  const repro = decodeToken(token);
  const s = scenarioNamed(repro.scenario);
  const variant = variantOf(s, repro.variant);
  const params = withDefaults(s, repro.params);
  const model = s.build({ cpus: repro.opsPerCpu.length, variant, params });
  const res = replayRepro(
    { scenario: s, model, mem: allocateMemory(model.layout), opSeed: repro.opSeed, maxSteps: repro.maxSteps },
    repro,
  );
  return { traceHash: res.traceHash!, steps: res.steps, violation: res.violation?.invariant ?? null };
}
