/**
 * Explore hygiene for the domain-list driver (issue 11 item 4): the "holds the domain lock for a
 * map -> sync window" flag lives in the shared buffer, so an explored execution that is cut while a
 * vCPU holds the window leaves nothing behind for the next one. Before, the flag was a JS array on the
 * driver object: the next execution's first map_pages skipped taking the lock it believed it held, and
 * the replay of a real bug came out different (exit 3 "did not fail again when replayed").
 */
import { describe, expect, it } from 'vitest';
import { allocateMemory } from '../src/engine/layout.js';
import { variantOf, withDefaults } from '../src/engine/scenario.js';
import { lockOwner } from '../src/engine/sync.js';
import { runExecution, type ExecutionSpec } from '../src/explore/execution.js';
import { RandomScheduler } from '../src/explore/random.js';
import { mapsgParts, mapsgScenario as scenario } from '../src/scenarios/mapsg.js';

const config = {
  cpus: 2,
  variant: variantOf(scenario, 'domain-list-locked'),
  params: withDefaults(scenario, scenario.exploreParams),
};
const OPS = [4, 4];

type Model = ExecutionSpec['model'];
type Mem = ExecutionSpec['mem'];

function spec(model: Model, mem: Mem, opSeed: number, maxSteps: number, trace = false): ExecutionSpec {
  return { scenario, model, mem, opSeed, opsPerCpu: OPS, maxSteps, trace };
}

function freshModel() {
  const model = scenario.build(config);
  return { model, mem: allocateMemory(model.layout) };
}

describe('domain-list-locked: executions on one model are independent', () => {
  it('an execution cut while a vCPU holds the domain window does not change the next execution', () => {
    const lock = mapsgParts(config).list!.lock;
    // Find a cut (a step bound) at which some vCPU holds the domain lock, i.e. is inside its window.
    let cut = -1;
    for (let k = 5; k < 400 && cut < 0; k++) {
      const { model, mem } = freshModel();
      const r = runExecution(spec(model, mem, 11, k), new RandomScheduler(5));
      if (r.violation?.invariant === 'STEP-BOUND' && lockOwner(mem.i32, lock) >= 0) cut = k;
    }
    expect(cut, 'no step bound leaves the window open').toBeGreaterThan(0);

    // Two executions in a row on one model: the cut one, then a full traced one ...
    const shared = freshModel();
    const first = runExecution(spec(shared.model, shared.mem, 11, cut), new RandomScheduler(5));
    expect(first.violation?.invariant).toBe('STEP-BOUND');
    expect(lockOwner(shared.mem.i32, lock)).toBeGreaterThanOrEqual(0);
    const second = runExecution(spec(shared.model, shared.mem, 12, 100_000, true), new RandomScheduler(9));
    // ... give what the same execution gives on a model that never ran anything.
    const alone = freshModel();
    const reference = runExecution(spec(alone.model, alone.mem, 12, 100_000, true), new RandomScheduler(9));
    expect(second.violation).toBeUndefined();
    expect(reference.violation).toBeUndefined();
    expect(second.steps).toBe(reference.steps);
    expect(second.traceHash).toBe(reference.traceHash);
    // The second execution took the domain lock itself (the sites are there), not "already held".
    expect(second.trace!.some((e) => e.kind === 'step' && e.site === 'lock domain_deferred_lock')).toBe(true);
  });
});
