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
  {
    id: 'CNT-LOST',
    meaning: 'the shared counter equals the number of increments every vCPU made (no lost update)',
    grade: 'FORBIDDEN',
  },
];

/**
 * What a counter variant changes: how one increment is made on its word, and which word that is (each
 * vCPU's own padded slot, or the one shared word the quiescent check then reads).
 */
export interface CounterPatch {
  readonly word: 'percpu' | 'shared';
  /**
   * `times` increments of the i32 at `index`, each with its scheduling point(s) and access(es). One
   * generator for them all: the engine bench prices a scheduling step with this loop, so no nested yield*.
   */
  bump(cpu: Cpu, index: number, times: number): Op;
}

/** this_cpu_inc on the vCPU's own slot. */
export const percpuIncrement: CounterPatch = {
  word: 'percpu',
  *bump(cpu, index, times) {
    for (let k = 0; k < times; k++) {
      yield 'percpu add';
      Atomics.add(cpu.i32, index, 1);
    }
  },
};

/** atomic_inc on the shared word. */
export const atomicIncrement: CounterPatch = {
  word: 'shared',
  *bump(cpu, index, times) {
    for (let k = 0; k < times; k++) {
      yield 'shared atomic_add';
      Atomics.add(cpu.i32, index, 1);
    }
  },
};

/** A plain `x++` on the shared word: load, scheduling point, store (updates are lost). */
export const plainIncrement: CounterPatch = {
  word: 'shared',
  *bump(cpu, index, times) {
    for (let k = 0; k < times; k++) {
      yield 'shared read';
      const v = Atomics.load(cpu.i32, index);
      yield 'shared write';
      Atomics.store(cpu.i32, index, v + 1);
    }
  },
};

/** The counter model around the increment of `config.variant.patch` (default: per-CPU). */
export function buildCounter({ cpus, variant, params }: ModelConfig<CounterPatch>): ScenarioModel {
  const patch = variant.patch ?? percpuIncrement;
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

  // Each op first records (in checker state, outside the patch's code) the increments it is about to
  // make. That write belongs in the op, not in next(): an op the shrinker draws but skips must leave no
  // trace. The record is made on the op's first resume by a thin wrapper rather than a `yield*`, which
  // would add a generator hop to every step this scenario exists to price.
  function bump(cpu: Cpu, index: number): Op {
    const op = patch.bump(cpu, index, stepsPerOp);
    const first = op.next.bind(op);
    op.next = () => {
      op.next = first;
      Atomics.add(cpu.i32, atCpu(made, cpu.id), stepsPerOp);
      return first();
    };
    return op;
  }

  return {
    layout,
    init() {
      /* all zero */
    },
    program(cpu): VcpuProgram {
      const word = patch.word === 'percpu' ? atCpu(percpu, cpu.id) : shared;
      let ops = 0;
      return {
        next() {
          ops++;
          if (ops === params.crashAfter)
            throw new Error(`counter: crashAfter=${ops} (harness self-test) on cpu${cpu.id}`);
          if (ops === params.hangAfter)
            for (;;) {
              /* harness self-test: a vCPU stuck in the model */
            }
          return bump(cpu, word);
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
      if (patch.word === 'shared') sum = mem.i32[shared]!;
      if (sum !== total) report('CNT-LOST', `counter reads ${sum} after ${total} increments: ${total - sum} lost`);
    },
  };
}

export const counterScenario: ScenarioDef<CounterPatch> = {
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
  // Each variant's increment is its own scheduling point.
  sites: [],
  variants: [
    {
      name: 'percpu',
      summary: 'each vCPU bumps its own padded per-CPU slot',
      expect: 'clean',
      patch: percpuIncrement,
      sites: ['percpu add'],
    },
    {
      name: 'shared',
      summary: 'every vCPU bumps one shared word with Atomics.add',
      expect: 'clean',
      patch: atomicIncrement,
      sites: ['shared atomic_add'],
    },
    {
      name: 'plain-shared',
      summary: 'one shared word bumped by load, scheduling point, store',
      expect: ['CNT-LOST'],
      source: 'the nr_endpoints++ pattern, kernel-model.md §4.3 V3',
      patch: plainIncrement,
      sites: ['shared read', 'shared write'],
    },
  ],
  build: buildCounter,
};
