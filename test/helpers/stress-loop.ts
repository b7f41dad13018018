/**
 * A child process for test/exits.test.ts: `node dist/test/helpers/stress-loop.js RUNS [SEED0]` calls stress()
 * RUNS times, alternating known-bug variants (a worker raises STOP) and clean op-bounded ones, and prints
 * one line per run. Nothing else holds Node's event loop open here, as in the CLI: if the main thread
 * ever sleeps through a worker's STOP while the workers have returned, Node exits 13 mid-loop and the
 * test sees it. It is the CLI's stress path without the process start-up (~1 s a run on a loaded machine).
 */
import { findVariant, withDefaults, type ScenarioDef } from '../../src/engine/scenario.js';
import { counterScenario } from '../../src/scenarios/counter.js';
import { dmaIovaScenario } from '../../src/scenarios/dma-iova.js';
import { iovaScenario } from '../../src/scenarios/iova.js';
import { pgtableScenario } from '../../src/scenarios/pgtable.js';
import { stress } from '../../src/stress/stress.js';

/** [scenario, variant, expected]: bug variants a single vCPU trips (not a race), so every run catches them. */
const LOOP_CASES: readonly (readonly [ScenarioDef, string, string])[] = [
  [iovaScenario, 'no-roundup', 'I3'],
  [counterScenario, 'percpu', 'clean'],
  [dmaIovaScenario, 'no-sync', 'IOVA-USE-UNSYNCED'],
  [pgtableScenario, 'correct', 'clean'],
];

const runs = Number(process.argv[2] ?? '100');
const seedBase = Number(process.argv[3] ?? '0');
for (let k = 0; k < runs; k++) {
  const [scenario, name, expected] = LOOP_CASES[k % LOOP_CASES.length]!;
  const r = await stress({
    scenario,
    variant: findVariant(scenario, name)!,
    params: withDefaults(scenario, {}),
    workers: 2,
    timeMs: 60_000,
    opBudget: 300,
    seed: seedBase + k + 1,
    sliceMs: 10,
    watchdogMs: 10_000,
  });
  const observed = r.violation?.invariant ?? 'clean';
  process.stdout.write(`${k} ${scenario.name}/${name} expected ${expected} observed ${observed}\n`);
}
process.stdout.write('done\n');
