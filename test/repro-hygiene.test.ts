/**
 * Issue 11 items 3, 4 and 10: a stress failure's programs come back as a token (stress/reproduce.ts),
 * explore catches model state that is not a function of the buffer and the op program, a model that
 * throws is a finding with a token, shrinking survives a throwing candidate, and traces show values and
 * the racing pair. All in explore (deterministic), with fixed seeds.
 */
import { describe, expect, it } from 'vitest';
import type { InvariantDef } from '../src/check/invariant.js';
import { Cpu, type Op } from '../src/engine/cpu.js';
import { allocateMemory, at, defineLayout, region } from '../src/engine/layout.js';
import { variantOf, withDefaults, type ScenarioDef, type ScenarioModel } from '../src/engine/scenario.js';
import { Checker } from '../src/check/checker.js';
import { HarnessError } from '../src/errors.js';
import { runExecution, type TraceEvent } from '../src/explore/execution.js';
import { explore, replayRepro, type ExploreOptions } from '../src/explore/explore.js';
import { PctScheduler } from '../src/explore/pct.js';
import { decodeToken } from '../src/explore/repro.js';
import { shrink } from '../src/explore/shrink.js';
import { COLLAPSE_ROWS, formatTrace, racingPair } from '../src/explore/trace.js';
import { counterScenario } from '../src/scenarios/counter.js';
import { viommuScenario } from '../src/scenarios/viommu.js';
import { reproduceStressFailure, windowsOf } from '../src/stress/reproduce.js';

const invariants: readonly InvariantDef[] = [{ id: 'T-BAD', meaning: 'test invariant', grade: 'FORBIDDEN' }];

/**
 * A two-word test model. `heapFlag`: the build closure keeps a flag on the JS heap that the first op
 * ever run sets, and every later op takes an extra scheduling point while it is set — state that
 * survives from one execution to the next, as the domain-list-locked driver's open[] did.
 * `throwAt`: vCPU 1's op throws a RangeError when it finds the shared word at that value.
 */
function testScenario(o: { heapFlag?: boolean; throwAt?: number }): ScenarioDef {
  const build = ({ cpus }: { cpus: number }): ScenarioModel => {
    const layout = defineLayout(cpus, { 't.word': { kind: 'i32', count: 1 } });
    const word = at(region(layout, 't.word'));
    let seen = false; // the planted JS-heap state (only read when heapFlag)
    function* bump(cpu: Cpu): Op {
      if (o.heapFlag && seen) yield 'flag set: extra step';
      seen = true;
      yield 'read word';
      const v = Atomics.load(cpu.i32, word);
      cpu.note('read', 'word', word, v);
      if (o.throwAt !== undefined && cpu.id === 1 && v === o.throwAt) throw new RangeError(`word is ${v}`);
      yield 'write word';
      Atomics.store(cpu.i32, word, v + 1);
      cpu.note('write', 'word', word, v + 1);
    }
    return {
      layout,
      init() {
        /* zero */
      },
      program: (cpu) => ({ next: () => bump(cpu), describe: () => 'bump' }),
      quiescent() {
        /* nothing */
      },
    };
  };
  return {
    name: 'hygiene-test',
    summary: 'test',
    follows: 'test',
    params: {},
    exploreCpus: 2,
    exploreOps: 2,
    invariants,
    variants: [{ name: 'v', summary: 'test', expect: 'clean' }],
    build,
  };
}

function options(s: ScenarioDef, o: Partial<ExploreOptions> = {}): ExploreOptions {
  return {
    scenario: s,
    variant: s.variants[0]!,
    params: withDefaults(s),
    opsPerCpu: [2, 2],
    strategy: 'random',
    depth: 3,
    schedules: 200,
    timeMs: Infinity,
    seed: 7,
    maxSteps: 10_000,
    shrink: true,
    ...o,
  };
}

describe('explore hygiene: uncontrolled nondeterminism', () => {
  it('a JS-heap flag that survives from one execution to the next is a harness error naming the scenario and the first differing step', () => {
    let err: unknown;
    try {
      explore(options(testScenario({ heapFlag: true })));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HarnessError);
    const m = (err as Error).message;
    expect(m).toMatch(/^explore hygiene-test\/v: uncontrolled nondeterminism: execution #64 /);
    // the first run (on the campaign's model, flag set) takes the extra step; the re-run from scratch does not
    expect(m).toMatch(
      /differs first at step \d+: first run cpu\d at 'flag set: extra step', re-run cpu\d at 'read word'/,
    );
  });

  it('the same model without the flag runs its 200 schedules clean (the check itself raises nothing)', () => {
    const r = explore(options(testScenario({})));
    expect(r.schedules).toBe(200);
    expect(r.violation).toBeUndefined();
  });
});

describe('a model exception in explore is a finding', () => {
  it('cpu1 throwing is an EXCEPTION violation with a token that replays it, naming the task, the error and the site', () => {
    const s = testScenario({ throwAt: 1 });
    const r = explore(options(s));
    expect(r.violation?.invariant).toBe('EXCEPTION');
    const f = r.minimal!;
    expect(f.violation.message).toMatch(
      /^cpu1 threw RangeError: word is 1 at 'read word' \(.*repro-hygiene\.test\.ts:\d+\)$/,
    );
    expect(f.violation.vcpu).toBe(1);
    const back = decodeToken(f.token);
    const model = s.build({ cpus: back.opsPerCpu.length, variant: variantOf(s, 'v'), params: {} });
    const again = replayRepro(
      { scenario: s, model, mem: allocateMemory(model.layout), opSeed: back.opSeed, maxSteps: back.maxSteps },
      back,
    );
    expect(again.violation?.invariant).toBe('EXCEPTION');
    expect(again.violation?.message).toBe(f.violation.message);
  });

  it('shrinking keeps the best repro so far when a candidate throws outside an op', () => {
    const s = counterScenario;
    const variant = variantOf(s, 'plain-shared');
    const params = withDefaults(s, { stepsPerOp: 2 });
    const good = s.build({ cpus: 2, variant, params });
    // A model whose programs cannot be built after the first 10 executions: every later candidate throws.
    let built = 0;
    const flaky: ScenarioModel = {
      ...good,
      program: (cpu, rng) => {
        if (++built > 20) throw new TypeError('program construction failed');
        return good.program(cpu, rng);
      },
    };
    const base = { scenario: s, model: flaky, mem: allocateMemory(good.layout), opSeed: 3, maxSteps: 10_000 };
    let start;
    for (let k = 0; !start?.violation; k++) {
      start = runExecution({ ...base, opsPerCpu: [3, 3] }, new PctScheduler(k, 3, 40));
    }
    const r = shrink(
      base,
      { opsPerCpu: [3, 3], skip: [[], []], decisions: start.decisions.slice(), result: start },
      'CNT-LOST',
      200,
      60_000,
    );
    expect(r.result.violation?.invariant).toBe('CNT-LOST');
    expect(r.attempts).toBeGreaterThan(9);
    expect(r.opsPerCpu.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(6);
  });
});

describe('traces a reviewer can read', () => {
  it('notes cost one check when not tracing: the sink is never called', () => {
    const s = testScenario({});
    const model = s.build({ cpus: 1, variant: s.variants[0]!, params: {} });
    const cpu = new Cpu(0, 'stress', allocateMemory(model.layout), new Checker(invariants));
    cpu.noteSink = () => {
      throw new Error('called');
    };
    expect(() => cpu.note('read', 'word', 0, 1)).not.toThrow();
  });

  it('viommu/upstream seed 1: the trace shows the values read and written and marks the racing pair', () => {
    const r = explore({
      scenario: viommuScenario,
      variant: variantOf(viommuScenario, 'upstream'),
      params: withDefaults(viommuScenario, viommuScenario.exploreParams),
      opsPerCpu: [6, 6, 6],
      strategy: 'pct',
      depth: 3,
      schedules: 1000,
      timeMs: Infinity,
      seed: 1,
      maxSteps: 100_000,
      shrink: true,
    });
    const f = r.minimal!;
    const text = formatTrace(f.events, f.taskNames, f.violation);
    expect(text).toMatch(/read dom\d\.nr_endpoints → 0/);
    expect(text).toMatch(/write dom\d\.nr_endpoints = 1/);
    const pair = racingPair(f.events, f.violation)!;
    expect(pair).toBeDefined();
    expect(pair.pivot.where).toMatch(/^dom\d\.nr_endpoints$/);
    expect(pair.pivot.where).toBe(pair.other.where);
    expect(pair.pivot.cpu).not.toBe(pair.other.cpu);
    expect(text).toContain(
      `racing pair: ${f.taskNames[pair.pivot.cpu]} ${pair.pivot.access} ${pair.pivot.where} @ step ${pair.pivot.step}` +
        ` / ${f.taskNames[pair.other.cpu]} ${pair.other.access} @ step ${pair.other.step}`,
    );
    // exactly the two steps of the pair are marked
    const marked = text
      .split('\n')
      .filter((l) => /\| \* /.test(l))
      .map((l) => Number(l.split('|')[0]));
    expect(marked.sort((a, b) => a - b)).toEqual([pair.pivot.step, pair.other.step].sort((a, b) => a - b));
  });

  it("a lost update: the racing pair is the failing task's read and the other task's write in between", () => {
    const ev = (cpu: number, step: number, access: 'read' | 'write', value: number): TraceEvent[] => [
      { kind: 'step', cpu, step, site: `${access} x` },
      { kind: 'note', cpu, step, access, where: 'x', index: 5, value, old: undefined },
    ];
    const events = [...ev(1, 0, 'read', 0), ...ev(0, 1, 'read', 0), ...ev(0, 2, 'write', 1), ...ev(1, 3, 'write', 1)];
    const v = {
      invariant: 'T-BAD',
      grade: 'FORBIDDEN' as const,
      message: 'lost',
      vcpu: -1,
      step: 4,
      site: 'quiescent',
    };
    const p = racingPair(events, v)!;
    expect([p.pivot.cpu, p.pivot.access, p.pivot.step]).toEqual([1, 'read', 0]);
    expect([p.other.cpu, p.other.access, p.other.step]).toEqual([0, 'write', 2]);
  });

  it('a long trace collapses the tasks outside the racing pair unless full', () => {
    const events: TraceEvent[] = [];
    let step = 0;
    const push = (cpu: number, access: 'read' | 'write' | undefined) => {
      events.push({ kind: 'step', cpu, step, site: access ? `${access} x` : 'local' });
      if (access) events.push({ kind: 'note', cpu, step, access, where: 'x', index: 1, value: 0, old: undefined });
      step++;
    };
    push(0, 'read');
    for (let k = 0; k < COLLAPSE_ROWS; k++) push(2, undefined);
    push(1, 'write');
    const v = { invariant: 'T-BAD', grade: 'FORBIDDEN' as const, message: 'm', vcpu: 0, step, site: 's' };
    const names = ['cpu0', 'cpu1', 'cpu2'];
    const short = formatTrace(events, names, v);
    expect(short).toContain(`... ${COLLAPSE_ROWS} step(s) of cpu2 (not in the racing pair; --full shows them) ...`);
    expect(short.split('\n')[0]).not.toContain('cpu2');
    const full = formatTrace(events, names, v, Infinity, { full: true });
    expect(full.split('\n')[0]).toContain('cpu2');
    expect(full.split('\n').filter((l) => /^\s*\d+ \|/.test(l))).toHaveLength(COLLAPSE_ROWS + 2);
  });
});

describe('a token for a stress failure', () => {
  it('windows: 4, 16, 64 ... ops per vCPU, each capped by what the vCPU ran, ending with the whole programs', () => {
    expect(windowsOf([3, 100])).toEqual([
      [3, 4],
      [3, 16],
      [3, 64],
      [3, 100],
    ]);
    expect(windowsOf([4, 4])).toEqual([[4, 4]]);
  });

  it('counter/plain-shared: 5,000 ops per vCPU from the start of a run come back as a token on a short prefix of the same programs', () => {
    const s = counterScenario;
    const r = reproduceStressFailure({
      scenario: s,
      variant: variantOf(s, 'plain-shared'),
      params: withDefaults(s),
      failing: { opSeed: 12345, opsPerCpu: [5000, 4000], sliceOnly: false },
      seed: 1,
      searchMs: 60_000,
      shrinkMs: 60_000,
      maxSteps: () => 100_000,
    });
    expect(r.found?.violation.invariant).toBe('CNT-LOST');
    const repro = decodeToken(r.found!.token);
    expect(repro.opSeed).toBe(12345);
    expect(r.window).toEqual([4, 4]);
    repro.opsPerCpu.forEach((k, c) => expect(k).toBeLessThanOrEqual(r.window[c]!));
  });
});
