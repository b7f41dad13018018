/**
 * Scenario `counter`: the engine's calibration and self-test, not a kernel mechanism.
 *
 * Each op bumps a counter `stepsPerOp` times, one scheduling point per bump: on the vCPU's own padded
 * per-CPU slot (`percpu`, the shape of an rcache or flush-queue fast path), on one shared word with
 * Atomics.add (`shared`), or on one shared word with a load / scheduling point / store (`plain-shared`,
 * the shape of `nr_endpoints++` without a lock), which loses updates. The bench uses `percpu` to price
 * one scheduling step against a raw Atomics.add.
 *
 * Two harness self-test knobs make a vCPU misbehave after some ops, so the tests can prove that a
 * crashing or hung worker becomes exit 3 with a clear message, never a hang: `crashAfter` throws,
 * `hangAfter` spins forever without yielding (only the watchdog can notice).
 */
import type { InvariantDef } from '../check/invariant.js';
import type { Cpu, Op } from '../engine/cpu.js';
import { at, atCpu, defineLayout, region } from '../engine/layout.js';
import type { ModelConfig, ScenarioDef, ScenarioModel, VcpuProgram } from '../engine/scenario.js';

const invariants: readonly InvariantDef[] = [
  { id: 'CNT-LOST', meaning: 'the shared counter equals the number of increments every vCPU made (no lost update)', grade: 'FORBIDDEN' },
];

function build({ cpus, variant: { name: variant }, params }: ModelConfig): ScenarioModel {
  const stepsPerOp = params.stepsPerOp!;
  const layout = defineLayout(cpus, {
    'cnt.shared': { kind: 'i32', count: 1 },
    'cnt.percpu': { kind: 'i32', count: 1, perCpu: true },
    // Checker state: increments each vCPU has made (its own slot; read at quiescent points).
    'cnt.made': { kind: 'i32', count: 1, perCpu: true },
  });
  const shared = at(region(layout, 'cnt.shared'));
  const percpu = region(layout, 'cnt.percpu');
  const made = region(layout, 'cnt.made');

  // Each op first records (in checker state) the increments it is about to make. That write belongs in
  // the op, not in next(): an op the shrinker draws but skips must leave no trace.
  function* bumpPercpu(cpu: Cpu, idx: number): Op {
    Atomics.add(cpu.i32, atCpu(made, cpu.id), stepsPerOp);
    for (let k = 0; k < stepsPerOp; k++) {
      yield 'percpu add';
      Atomics.add(cpu.i32, idx, 1);
    }
  }
  function* bumpShared(cpu: Cpu): Op {
    Atomics.add(cpu.i32, atCpu(made, cpu.id), stepsPerOp);
    for (let k = 0; k < stepsPerOp; k++) {
      yield 'shared atomic_add';
      Atomics.add(cpu.i32, shared, 1);
    }
  }
  function* bumpPlain(cpu: Cpu): Op {
    Atomics.add(cpu.i32, atCpu(made, cpu.id), stepsPerOp);
    for (let k = 0; k < stepsPerOp; k++) {
      yield 'shared read';
      const v = Atomics.load(cpu.i32, shared);
      yield 'shared write';
      Atomics.store(cpu.i32, shared, v + 1);
    }
  }

  return {
    layout,
    init() { /* all zero */ },
    program(cpu): VcpuProgram {
      const own = atCpu(percpu, cpu.id);
      let ops = 0;
      return {
        next() {
          ops++;
          if (ops === params.crashAfter) throw new Error(`counter: crashAfter=${ops} (harness self-test) on cpu${cpu.id}`);
          if (ops === params.hangAfter) for (;;) { /* harness self-test: a vCPU stuck in the model */ }
          return variant === 'percpu' ? bumpPercpu(cpu, own) : variant === 'shared' ? bumpShared(cpu) : bumpPlain(cpu);
        },
        describe: () => `bump x${stepsPerOp}`,
      };
    },
    quiescent(mem, report) {
      let total = 0;
      let sum = 0;
      for (let c = 0; c < cpus; c++) {
        total += mem.i32[atCpu(made, c)]!;
        sum += mem.i32[atCpu(percpu, c)]!;
      }
      if (variant !== 'percpu') sum = mem.i32[shared]!;
      if (sum !== total) report('CNT-LOST', `counter reads ${sum} after ${total} increments: ${total - sum} lost`);
    },
  };
}

export const counterScenario: ScenarioDef = {
  name: 'counter',
  summary: 'engine calibration: per-CPU vs shared counters; a plain shared increment loses updates',
  follows: 'DESIGN.md "Execution model" (non-atomic read-modify-write); no kernel section',
  params: {
    stepsPerOp: { default: 16, min: 1, max: 1_000_000, help: 'increments (scheduling points) per op' },
    crashAfter: { default: 0, min: 0, max: 1e12, help: 'self-test: a vCPU throws at this op (0 = never)' },
    hangAfter: { default: 0, min: 0, max: 1e12, help: 'self-test: a vCPU loops forever at this op (0 = never)' },
  },
  exploreCpus: 2,
  exploreOps: 3,
  invariants,
  variants: [
    { name: 'percpu', summary: 'each vCPU bumps its own padded per-CPU slot', expect: 'clean' },
    { name: 'shared', summary: 'every vCPU bumps one shared word with Atomics.add', expect: 'clean' },
    { name: 'plain-shared', summary: 'one shared word bumped by load, scheduling point, store', expect: ['CNT-LOST'], source: 'the nr_endpoints++ pattern, kernel-model.md §4.3 V3' },
  ],
  build,
};
