/**
 * Scenario `iova` in the explore executor: every known-bug variant is found by PCT for fixed seeds
 * within a bounded number of schedules, and reproduces from its token; `correct` and `fixed-depot` stay
 * clean over 2,000 schedules while the flush-all path, ENOMEM and the spurious ENOMEM of §9 #5 really
 * happen; the depot work fires inside explored executions; any vCPU count from 1 to 8 runs.
 */
import { describe, expect, it } from 'vitest';
import { allocateMemory } from '../src/engine/layout.js';
import { findVariant, meetsExpectation, withDefaults, variantOf } from '../src/engine/scenario.js';
import type { ExecutionResult } from '../src/explore/execution.js';
import { explore, replayRepro, type ExploreOutcome } from '../src/explore/explore.js';
import { decodeToken, encodeToken, type Repro } from '../src/explore/repro.js';
import type { StrategyName } from '../src/explore/strategies.js';
import { findScenario } from '../src/scenarios/index.js';
import { iovaScenario as scenario } from '../src/scenarios/iova.js';

const MAX_STEPS = 200_000;

interface RunOpts {
  strategy?: StrategyName;
  cpus?: number;
  ops?: number;
  params?: Record<string, number>;
  shrink?: boolean;
}

function run(variant: string, seed: number, schedules: number, o: RunOpts = {}): ExploreOutcome {
  const cpus = o.cpus ?? scenario.exploreCpus;
  return explore({
    scenario,
    variant: findVariant(scenario, variant)!,
    params: withDefaults(scenario, o.params ?? {}),
    opsPerCpu: Array<number>(cpus).fill(o.ops ?? scenario.exploreOps),
    strategy: o.strategy ?? 'pct',
    depth: 3,
    schedules,
    timeMs: Number.POSITIVE_INFINITY,
    seed,
    maxSteps: MAX_STEPS,
    shrink: o.shrink ?? false,
  });
}

/** Replay a token the way `iommu-stress replay --token` does: from nothing but the token. */
function replayToken(token: string): { repro: Repro; res: ExecutionResult } {
  const repro = decodeToken(token);
  const s = findScenario(repro.scenario)!;
  const model = s.build({
    cpus: repro.opsPerCpu.length,
    variant: variantOf(s, repro.variant),
    params: withDefaults(s, repro.params),
  });
  const res = replayRepro(
    { scenario: s, model, mem: allocateMemory(model.layout), opSeed: repro.opSeed, maxSteps: repro.maxSteps },
    repro,
  );
  return { repro, res };
}

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
/**
 * PCT (depth 3, 3 vCPUs x 10 ops) schedules to the first violation when this was written, seeds 1..10:
 *   no-roundup             1 1 1 1 1 1 1 1 1 1        (sequential: the first free of a 3-granule range)
 *   unlocked-remote-drain  117 23 86 186 85 41 356 136 77 107
 *   depot-pop-empty        319 102 67 410 2 291 393 519 185 756
 */
const CAP = 1_000;

describe('iova explore: each known-bug variant is found', () => {
  for (const name of ['no-roundup', 'unlocked-remote-drain', 'depot-pop-empty']) {
    it(`${name}: PCT finds an expected violation within ${CAP} schedules for seeds 1..10`, () => {
      const v = findVariant(scenario, name)!;
      for (const seed of SEEDS) {
        const r = run(name, seed, CAP);
        expect(r.violation, `seed ${seed}: clean after ${r.schedules} schedules`).toBeDefined();
        expect(r.schedules).toBeLessThanOrEqual(CAP);
        expect(
          meetsExpectation(v, r.violation!.invariant),
          `seed ${seed}: ${r.violation!.invariant} ${r.violation!.message}`,
        ).toBe(true);
      }
    });
  }

  it('the races need a second vCPU: unlocked-remote-drain and depot-pop-empty shrink to 2 vCPUs, replay from the token, and pass on `correct`', () => {
    for (const name of ['unlocked-remote-drain', 'depot-pop-empty']) {
      const r = run(name, 1, CAP, { shrink: true });
      const found = r.minimal!;
      expect(found, name).toBeDefined();
      expect(found.cpus, name).toBe(2);
      const { repro, res } = replayToken(found.token);
      expect(repro).toEqual(found.repro);
      expect(res.violation?.invariant, name).toBe(found.violation.invariant);
      expect(res.violation!.message).toBe(found.violation.message);
      expect(res.traceHash).toBe(found.traceHash);
      // The same op programs and schedule on the correct code: the bug is the variant's, not the harness's.
      expect(replayToken(encodeToken({ ...found.repro, variant: 'correct' })).res.violation, name).toBeUndefined();
    }
  });

  it('no-roundup needs no race: it shrinks to one vCPU, and the message names the range and the bucket', () => {
    const r = run('no-roundup', 3, 10, { shrink: true });
    expect(r.minimal!.cpus).toBe(1);
    expect(r.minimal!.violation.invariant).toBe('I3');
    expect(r.minimal!.violation.message).toMatch(
      /frees the (3|5|6|7|12|24)-granule range at 0x[0-9a-f]+ into bucket \d, which holds only \d+-granule ranges/,
    );
  });

  it('depot-pop-empty names the empty depot; unlocked-remote-drain names the remote CPU or the lost range', () => {
    const d = run('depot-pop-empty', 5, CAP).violation!;
    expect(d.message).toMatch(/^cpu\d pops the bucket-0 depot, which is empty/);
    const u = run('unlocked-remote-drain', 2, CAP).violation!;
    expect(u.message).toMatch(/cpu\d|lost/);
  });
});

describe('iova explore: the correct variants stay clean', () => {
  it('correct: 2,000 PCT schedules (seed 1) clean; the flush-all path, ENOMEM and a spurious ENOMEM happen', () => {
    const r = run('correct', 1, 2_000);
    expect(r.violation, r.violation?.message).toBeUndefined();
    expect(r.schedules).toBe(2_000);
    expect(r.outcomes['IOVA-FLUSH']).toBeGreaterThan(100);
    expect(r.outcomes['ENOMEM']).toBeGreaterThan(50);
    // §9 #5: INTERESTING, counted, and not a failure
    expect(r.outcomes['ENOMEM-SPURIOUS']).toBeGreaterThanOrEqual(1);
  });

  it('fixed-depot: 2,000 PCT schedules (seed 2) clean, with a spurious ENOMEM too', () => {
    const r = run('fixed-depot', 2, 2_000);
    expect(r.violation, r.violation?.message).toBeUndefined();
    expect(r.outcomes['IOVA-FLUSH']).toBeGreaterThan(100);
    expect(r.outcomes['ENOMEM-SPURIOUS']).toBeGreaterThanOrEqual(1);
  });

  it('correct under the random strategy on 1, 2, 5 and 8 vCPUs: clean', () => {
    for (const cpus of [1, 2, 5, 8]) {
      const r = run('correct', 11, 150, { strategy: 'random', cpus });
      expect(r.violation, `${cpus} vCPUs: ${r.violation?.message}`).toBeUndefined();
      expect(r.ops).toBe(150 * cpus * scenario.exploreOps);
    }
  });

  it('the depot work fires inside explored executions and trims a surplus depot magazine (1 vCPU, 3 depot magazines)', () => {
    // cpu0 starts with full loaded and prev: its first 1-granule free pushes a third depot magazine and
    // schedules the work; 100 virtual ms (100 steps) later it trims while depot_size > num_online_cpus.
    const r = run('correct', 3, 200, { cpus: 1, ops: 40, params: { warmDepot: 2 } });
    expect(r.violation, r.violation?.message).toBeUndefined();
    expect(r.outcomes['DEPOT-TRIM']).toBeGreaterThan(10);
    // the fixed depot has no work to run
    const f = run('fixed-depot', 3, 200, { cpus: 1, ops: 40, params: { warmDepot: 2 } });
    expect(f.violation).toBeUndefined();
    expect(f.outcomes['DEPOT-TRIM']).toBeUndefined();
  });

  it('is deterministic: the same seed gives the same steps and outcomes', () => {
    const a = run('correct', 4, 100);
    const b = run('correct', 4, 100);
    expect(b.steps).toBe(a.steps);
    expect(b.outcomes).toEqual(a.outcomes);
    expect(run('correct', 5, 100).steps).not.toBe(a.steps);
  });
});
