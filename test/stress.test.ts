/**
 * The stress executor's plumbing, called directly: real worker threads (the compiled worker in
 * dist/workers, built by the global setup), op budgets, per-vCPU counts, the barrier's quiescent scan,
 * what a failure carries for the explore re-run, and crashes / hangs turned into HarnessError.
 * Nothing here depends on how the threads happen to interleave.
 */
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../src/errors.js';
import { findVariant, withDefaults, type ScenarioDef } from '../src/engine/scenario.js';
import { counterScenario } from '../src/scenarios/counter.js';
import { pgtableScenario } from '../src/scenarios/pgtable.js';
import { sliceSeed } from '../src/stress/seeds.js';
import { stress, type StressOptions } from '../src/stress/stress.js';

function options(
  scenario: ScenarioDef,
  variant: string,
  o: Partial<StressOptions> & { params?: Record<string, number> },
): StressOptions {
  return {
    scenario,
    variant: findVariant(scenario, variant)!,
    params: withDefaults(scenario, o.params ?? {}),
    workers: 2,
    timeMs: 60_000,
    opBudget: Infinity,
    seed: 1,
    sliceMs: 10,
    watchdogMs: 10_000,
    ...o,
  };
}

describe('stress executor', () => {
  it('counter/percpu with an op budget: exactly the budget on every worker, steps = ops x stepsPerOp, clean', async () => {
    const o = options(counterScenario, 'percpu', { opBudget: 5000, seed: 11 });
    const stepsPerOp = o.params.stepsPerOp!;
    expect(stepsPerOp).toBe(16);
    const r = await stress(o);
    expect(r.ops).toBe(2 * 5000);
    expect(r.steps).toBe(r.ops * stepsPerOp);
    expect(r.perCpu).toHaveLength(2);
    for (const c of r.perCpu) {
      expect({ ops: c.ops, steps: c.steps }).toEqual({ ops: 5000, steps: 5000 * stepsPerOp });
      // Steady state: the op loops from the worker's second slice on, a part of what it did.
      const st = c.steady!;
      expect(st.ops).toBeLessThanOrEqual(c.ops);
      expect(st.steps).toBe(st.ops * stepsPerOp);
      expect(st.ms).toBeGreaterThanOrEqual(0);
      expect(st.cpuMs).toBeUndefined(); // only with measureCpu
    }
    expect(r.slices).toBeGreaterThanOrEqual(1);
    expect(r.violation).toBeUndefined();
    expect(r.failing).toBeUndefined();
  });

  it('the op budget holds with a parameter too (stepsPerOp=3, 1 worker)', async () => {
    const r = await stress(
      options(counterScenario, 'shared', { workers: 1, opBudget: 777, params: { stepsPerOp: 3 }, measureCpu: true }),
    );
    expect(r.ops).toBe(777);
    expect(r.steps).toBe(777 * 3);
    expect(r.perCpu.map((c) => ({ ops: c.ops, steps: c.steps }))).toEqual([{ ops: 777, steps: 777 * 3 }]);
    const st = r.perCpu[0]!.steady!;
    expect(st.steps).toBe(st.ops * 3);
    // measureCpu: the worker's thread CPU time, where Linux gives it (bench/thread-cpu.ts).
    if (process.platform === 'linux') expect(st.cpuMs).toBeGreaterThanOrEqual(0);
    expect(r.violation).toBeUndefined();
  });

  it('pgtable/correct on 2 workers, 400 ops each: ops, slices, no violation', async () => {
    const r = await stress(options(pgtableScenario, 'correct', { opBudget: 400, seed: 3 }));
    expect(r.ops).toBe(800);
    expect(r.steps).toBeGreaterThanOrEqual(r.ops);
    expect(r.slices).toBeGreaterThanOrEqual(1);
    expect(r.perCpu).toHaveLength(2);
    expect(r.perCpu.reduce((a, c) => a + c.ops, 0)).toBe(r.ops);
    expect(r.perCpu.reduce((a, c) => a + c.steps, 0)).toBe(r.steps);
    expect(r.violation).toBeUndefined();
    expect(r.failing).toBeUndefined();
  });

  it('counter/plain-shared: a lost update, when reported, is CNT-LOST with the op programs to re-run', async () => {
    const seed = 5;
    const r = await stress(options(counterScenario, 'plain-shared', { opBudget: 20_000, seed }));
    expect(r.ops).toBeGreaterThan(0);
    expect(r.perCpu).toHaveLength(2);
    // Whether real threads lose an update in this run is up to the hardware: check the shape only.
    if (r.violation) {
      expect(r.violation.invariant).toBe('CNT-LOST');
      expect(r.violation.grade).toBe('FORBIDDEN');
      expect(r.failing).toBeDefined();
      const f = r.failing!;
      expect(f.opsPerCpu).toHaveLength(2);
      expect(f.slice).toBeGreaterThanOrEqual(0);
      // counter does not restart its programs each slice, so the op seed is the run's seed and the
      // ops to re-run are everything each vCPU did.
      expect(f.opSeed).toBe(sliceSeed(seed, f.slice, false));
      expect(f.opsPerCpu).toEqual(r.perCpu.map((c) => c.ops));
    } else {
      expect(r.failing).toBeUndefined();
    }
  });

  it('a worker that throws is a HarnessError naming the crash, not a hang', async () => {
    // crashAfter is counter's harness self-test knob: every vCPU throws at that op.
    const run = stress(options(counterScenario, 'percpu', { params: { crashAfter: 100 }, opBudget: 1000 }));
    await expect(run).rejects.toBeInstanceOf(HarnessError);
    await expect(run).rejects.toThrow(/crashed[\s\S]*crashAfter=100/);
  });

  it('a worker stuck in the model is caught by the watchdog: HarnessError, not a hang', async () => {
    // hangAfter: the vCPU loops forever at that op without ever returning to the executor.
    const run = stress(
      options(counterScenario, 'percpu', { workers: 1, params: { hangAfter: 100 }, opBudget: 1000, watchdogMs: 300 }),
    );
    await expect(run).rejects.toBeInstanceOf(HarnessError);
    await expect(run).rejects.toThrow(/watchdog[\s\S]*cpu0/);
  });
});
