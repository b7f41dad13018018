/**
 * Scenario `viommu` under the explore executor: the upstream driver's nr_endpoints races are found from
 * fixed seeds (V1 lost MAP, V3 lost update), the `locked` fix stays clean, `null-viommu-sync` syncs a
 * NULL viommu; each focused configuration (`focus=N`) produces exactly the interleaving VN of
 * kernel-model.md §4.3 and the outcome it yields; and the shrunk trace of a V1 failure reads like the
 * interleaving a reviewer would draw.
 */
import { describe, expect, it } from 'vitest';
import { allocateMemory } from '../src/engine/layout.js';
import { findVariant, withDefaults, variantOf } from '../src/engine/scenario.js';
import { runExecution, type ExecutionResult, type TraceEvent } from '../src/explore/execution.js';
import { explore, replayRepro, type ExploreOutcome, type FoundRepro } from '../src/explore/explore.js';
import { PctScheduler } from '../src/explore/pct.js';
import type { StrategyName } from '../src/explore/strategies.js';
import { formatTrace } from '../src/explore/trace.js';
import { viommuScenario as s } from '../src/scenarios/viommu.js';

const MAX_STEPS = 100_000;
/** Outcomes of the races themselves (an attach error is also how a faulty device shows up). */
const RACE_OUTCOMES = ['V-DUPMAP', 'V-NOENT', 'V-SYNC-DETACHED', 'V-UNKICKED'];

const paramsWith = (extra: Record<string, number> = {}) => withDefaults(s, { ...s.exploreParams, ...extra });

function run(
  variant: string,
  seed: number,
  schedules: number,
  o: { params?: Record<string, number>; ops?: number[]; strategy?: StrategyName } = {},
): ExploreOutcome {
  return explore({
    scenario: s,
    variant: findVariant(s, variant)!,
    params: paramsWith(o.params),
    opsPerCpu: o.ops ?? Array<number>(s.exploreCpus).fill(s.exploreOps),
    strategy: o.strategy ?? 'pct',
    depth: 3,
    schedules,
    timeMs: Number.POSITIVE_INFINITY,
    seed,
    maxSteps: MAX_STEPS,
    shrink: true,
  });
}

/** Replay a found repro with tracing on, as `replay --token T --trace` does. */
function replay(found: FoundRepro): ExecutionResult {
  const r = found.repro;
  const model = s.build({
    cpus: r.opsPerCpu.length,
    variant: variantOf(s, r.variant),
    params: withDefaults(s, r.params),
  });
  return replayRepro(
    { scenario: s, model, mem: allocateMemory(model.layout), opSeed: r.opSeed, maxSteps: r.maxSteps },
    r,
  );
}

/**
 * Run traced executions of a focused configuration under seeded PCT until one satisfies `want`
 * (an INTERESTING outcome does not stop the explore command, so the tests look for it themselves).
 */
function search(
  variant: string,
  focus: number,
  ops: number[],
  want: (r: ExecutionResult) => boolean,
  schedules = 3_000,
): { r: ExecutionResult; schedules: number } | undefined {
  const model = s.build({ cpus: ops.length, variant: variantOf(s, variant), params: paramsWith({ focus }) });
  const mem = allocateMemory(model.layout);
  const pct = new PctScheduler(7, 3, 60);
  for (let k = 1; k <= schedules; k++) {
    const r = runExecution(
      { scenario: s, model, mem, opSeed: k, opsPerCpu: ops, maxSteps: MAX_STEPS, trace: true },
      pct,
      60,
    );
    if (want(r)) return { r, schedules: k };
  }
  return undefined;
}

/** Position in the trace of vCPU cpu's nth step at `site`, or -1. */
function at(r: ExecutionResult, cpu: number, site: string, nth = 0): number {
  const t = r.trace!;
  let n = 0;
  for (let i = 0; i < t.length; i++) {
    const e = t[i]!;
    if (e.kind === 'step' && e.cpu === cpu && e.site === site && n++ === nth) return i;
  }
  return -1;
}

/** Are all the positions found and strictly increasing? */
const inOrder = (...pos: number[]): boolean => pos.every((p, i) => p >= 0 && (i === 0 || p > pos[i - 1]!));

/** The site vCPU cpu steps at right after its step at position i. */
function nextSiteOf(r: ExecutionResult, cpu: number, i: number): string | undefined {
  const t = r.trace!;
  for (let k = i + 1; k < t.length; k++) {
    const e = t[k]!;
    if (e.cpu === cpu && e.kind === 'step') return e.site;
  }
  return undefined;
}

const count = (r: ExecutionResult, id: string): number => r.outcomes.get(id) ?? 0;
const steps = (r: ExecutionResult, cpu: number, site: string): number =>
  r.trace!.filter((e) => e.kind === 'step' && e.cpu === cpu && e.site === site).length;

const NR0 = 'read dom0.nr_endpoints';
const W0 = 'write dom0.nr_endpoints';

describe('viommu explore: the variants', () => {
  it('upstream, seed 1: a lost MAP (V1) within 50 schedules, shrunk to an attach and a map', () => {
    const o = run('upstream', 1, 50);
    expect(o.violation?.invariant).toBe('V-INV1');
    expect(o.violation?.message).toMatch(/in the tree, not on the host \(lost MAP\)/);
    expect(o.minimal!.cpus).toBe(2);
    expect(o.minimal!.ops).toBe(2);
  });

  it('upstream, seed 2: a lost nr_endpoints update (V3) within 50 schedules, shrunk to two attaches', () => {
    const o = run('upstream', 2, 50);
    expect(o.violation?.invariant).toBe('V-NR');
    expect(o.violation?.message).toMatch(
      /nr_endpoints = 1 but 2 endpoint\(s\) have it as their domain \(ep0, ep1\): an update was lost/,
    );
    const r = replay(o.minimal!);
    const ops = r.trace!.filter((e) => e.kind === 'op').map((e) => (e as { text: string }).text);
    expect(ops).toHaveLength(2);
    for (const t of ops) expect(t).toMatch(/^attach ep[01] -> dom[01]$/);
  });

  it('upstream is caught by every one of 10 seeds within 200 schedules, by an invariant it is expected to break', () => {
    const expected = findVariant(s, 'upstream')!.expect as readonly string[];
    const seen = new Set<string>();
    for (let seed = 100; seed < 110; seed++) {
      const o = run('upstream', seed, 200);
      expect(o.violation, `seed ${seed}`).toBeDefined();
      expect(expected).toContain(o.violation!.invariant);
      seen.add(o.violation!.invariant);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it("locked: clean over 5,000 PCT schedules, and none of the races' outcomes ever happens", () => {
    const o = run('locked', 1, 5_000);
    expect(o.violation).toBeUndefined();
    expect(o.schedules).toBe(5_000);
    for (const id of RACE_OUTCOMES) expect(o.outcomes[id], id).toBeUndefined();
  });

  it('locked: clean over 2,000 random schedules on 4 vCPUs (role by vCPU id)', () => {
    const o = run('locked', 3, 2_000, { strategy: 'random', ops: [6, 6, 6, 6] });
    expect(o.violation).toBeUndefined();
    for (const id of RACE_OUTCOMES) expect(o.outcomes[id], id).toBeUndefined();
  });

  it('locked: every focused configuration is clean over 500 schedules', () => {
    for (let focus = 1; focus <= 8; focus++) {
      const o = run('locked', 1, 500, { params: { focus } });
      expect(o.violation, `focus ${focus}`).toBeUndefined();
      for (const id of RACE_OUTCOMES) expect(o.outcomes[id], `focus ${focus}: ${id}`).toBeUndefined();
    }
  });

  it('null-viommu-sync: a mapping made before the first attach syncs a NULL viommu (V-NOFIN), shrunk to that one op', () => {
    const o = run('null-viommu-sync', 1, 50);
    expect(o.violation?.invariant).toBe('V-NOFIN');
    expect(o.minimal!.ops).toBe(1);
    const r = replay(o.minimal!);
    expect(r.trace!.find((e) => e.kind === 'op')).toMatchObject({
      text: expect.stringMatching(/^map 0x[0-9a-f]+\+0x1000 in dom[01]$/),
    });
  });
});

describe('viommu explore: one focused configuration per interleaving of §4.3', () => {
  it('V1 lost MAP: ATTACH, replay snapshot, tree insert, the map reads nr_endpoints == 0, then nr_endpoints++ (V-INV1)', () => {
    const o = run('upstream', 1, 1_000, { params: { focus: 1 }, ops: [1, 1] });
    expect(o.violation?.invariant).toBe('V-INV1');
    expect(o.violation?.message).toMatch(/lost MAP/);
    const r = replay(o.minimal!);
    const read = at(r, 1, NR0);
    expect(nextSiteOf(r, 1, read)).toBe('nr_endpoints == 0: no MAP');
    expect(
      inOrder(at(r, 0, 'host: ATTACH'), at(r, 0, 'replay snapshot'), at(r, 1, 'tree insert'), read, at(r, 0, W0)),
    ).toBe(true);
  });

  it('V2 duplicate MAP: tree insert, the replay sends MAP(X), nr_endpoints = 1, then the map queues MAP(X) again (V-DUPMAP)', () => {
    const found = search(
      'upstream',
      2,
      [1, 1],
      (r) =>
        count(r, 'V-DUPMAP') > 0 &&
        inOrder(
          at(r, 1, 'tree insert'),
          at(r, 0, 'replay snapshot'),
          at(r, 0, 'replay: MAP send'),
          at(r, 0, W0),
          at(r, 1, NR0),
          at(r, 1, 'MAP queue'),
        ),
    );
    expect(found).toBeDefined();
    const { r } = found!;
    expect(r.violation).toBeUndefined(); // the device keeps the first MAP; the second one's error is dropped
    expect(steps(r, 1, 'host: MAP')).toBe(1); // the map's own sync delivers the second MAP
  });

  it('V3 lost update: two groups attach at once, both read 0, both replay, both write 1 (V-NR)', () => {
    const o = run('upstream', 1, 1_000, { params: { focus: 3 }, ops: [1, 1] });
    expect(o.violation?.invariant).toBe('V-NR');
    const r = replay(o.minimal!);
    for (const c of [0, 1]) expect(steps(r, c, 'replay snapshot'), `cpu${c} replays`).toBe(1);
    const w0 = at(r, 0, W0);
    const w1 = at(r, 1, W0);
    // each one's increment reads before the other's store: one update is lost
    expect(at(r, 0, NR0, 1)).toBeLessThan(w1);
    expect(at(r, 1, NR0, 1)).toBeLessThan(w0);
    expect(o.violation?.message).toMatch(/dom0.nr_endpoints = 1 but 2 endpoint\(s\)/);
  });

  it('V4 stale UNMAP: tree delete, nr_endpoints read as 1, DETACH destroys the domain, nr = 0, then UNMAP is queued (V-NOENT)', () => {
    const found = search(
      'upstream',
      4,
      [1, 1],
      (r) =>
        count(r, 'V-NOENT') > 0 &&
        inOrder(
          at(r, 0, 'tree delete'),
          at(r, 0, NR0),
          at(r, 1, 'host: DETACH'),
          at(r, 1, W0),
          at(r, 0, 'UNMAP queue'),
          at(r, 0, 'host: UNMAP'),
        ),
    );
    expect(found).toBeDefined();
    expect(found!.r.violation).toBeUndefined(); // benign: the device had already dropped every mapping
  });

  it('V5 sync on a detached domain: iotlb_sync_map reads 1, DETACH and nr = 0, then the sync kicks (V-SYNC-DETACHED, harmless)', () => {
    // cpu0's first read of dom0's count is map_pages' (m), its second the iotlb_sync_map check
    const found = search(
      'upstream',
      5,
      [2, 1],
      (r) =>
        count(r, 'V-SYNC-DETACHED') > 0 &&
        inOrder(at(r, 0, NR0, 1), at(r, 1, 'host: DETACH'), at(r, 1, W0), at(r, 0, 'kick')),
    );
    expect(found).toBeDefined();
    expect(found!.r.violation).toBeUndefined();
  });

  it('V5 with the per-op check missing (null-viommu-sync): the mapping made on a never-attached domain syncs a NULL viommu (V-NOFIN)', () => {
    const o = run('null-viommu-sync', 1, 10, { params: { focus: 5 }, ops: [1, 0] });
    expect(o.violation?.invariant).toBe('V-NOFIN');
    expect(o.violation?.message).toMatch(/^sync on dom1 before its first attach/);
    expect(o.schedules).toBe(1);
  });

  it('V6 deferred-flush no-op: a lazy UNMAP is queued, the attach moving the endpoint drops nr to 0, flush_iotlb_all returns early (V-UNMAP)', () => {
    // cpu0 reads dom0's count in unmap_pages (u), then in flush_iotlb_all
    const found = search(
      'upstream',
      6,
      [2, 1],
      (r) => r.violation?.invariant === 'V-UNMAP' && inOrder(at(r, 0, 'UNMAP queue'), at(r, 1, W0), at(r, 0, NR0, 1)),
    );
    expect(found).toBeDefined();
    const { r } = found!;
    expect(nextSiteOf(r, 0, at(r, 0, NR0, 1))).toBe('nr_endpoints == 0: no sync');
    expect(r.violation!.message).toMatch(/^after flush_iotlb_all .* the host still maps 0x1000/);
    // nobody kicked the UNMAP: the attach has not sent its ATTACH (whose sync would deliver it) yet
    expect(at(r, 1, 'ATTACH send')).toBe(-1);
  });

  it('V7 error-path drift (sequential): ATTACH refused, the core restores the old domain, nr wraps and comes back 0, the next map is never sent', () => {
    const model = s.build({ cpus: 1, variant: variantOf(s, 'upstream'), params: paramsWith({ focus: 7 }) });
    const mem = allocateMemory(model.layout);
    const exec = (ops: number) =>
      runExecution(
        { scenario: s, model, mem, opSeed: 1, opsPerCpu: [ops], maxSteps: MAX_STEPS, trace: true },
        new PctScheduler(1, 3, 60),
      );
    const drift = exec(2); // attach ep0 -> dom1 (fails, restored), map 0x2000
    expect(count(drift, 'V-ATTACH-ERR')).toBe(1);
    expect(steps(drift, 0, W0)).toBe(3); // (a) of the failed attach, (a) and (c) of the restore
    expect(steps(drift, 0, 'nr_endpoints == 0: no MAP')).toBe(1);
    expect(drift.violation?.invariant).toBe('V-NR');
    expect(drift.violation?.message).toBe(
      'dom0.nr_endpoints = 0 but 1 endpoint(s) have it as their domain (ep0): an update was lost',
    );
    const dma = exec(3); // ... and ep0's device DMAs to it
    expect(dma.violation?.invariant).toBe('V-DMA');
    expect(dma.violation?.message).toMatch(/^ep0 DMA to 0x2000 faults: .* but the host has no such mapping in dom0$/);
  });

  it("V8 unkicked MAP: MAP queued with nr = 1, the attach moving the endpoint drops nr to 0, sync_map does not kick; the ATTACH's sync delivers it first (V-UNKICKED, then consistent)", () => {
    const found = search(
      'upstream',
      8,
      [1, 1],
      (r) =>
        count(r, 'V-UNKICKED') > 0 &&
        inOrder(
          at(r, 0, 'MAP queue'),
          at(r, 1, W0),
          at(r, 0, 'nr_endpoints == 0: no sync'),
          at(r, 1, 'kick'),
          at(r, 1, 'host: MAP'),
          at(r, 1, 'host: ATTACH'),
        ),
    );
    expect(found).toBeDefined();
    expect(found!.r.violation).toBeUndefined(); // FIFO order (MAP, then ATTACH) keeps the device consistent
  });
});

describe('viommu explore: trace quality', () => {
  /** formatTrace's table as its columns (cut where the separator line has '+'): each task's non-empty cells, top to bottom. */
  function columns(text: string): Map<string, string[]> {
    const lines = text.split('\n');
    const bounds = [...lines[1]!.matchAll(/\+/g)].map((m) => m.index + 2);
    const cell = (line: string, k: number) =>
      line.slice(bounds[k], k + 1 < bounds.length ? bounds[k + 1]! - 3 : undefined).trim();
    const cols = new Map<string, string[]>(bounds.map((_, k) => [cell(lines[0]!, k), []]));
    for (const line of lines.slice(2)) {
      if (line === '') break;
      bounds.forEach((_, k) => {
        const c = cell(line, k);
        if (c !== '') cols.get(cell(lines[0]!, k))!.push(c);
      });
    }
    return cols;
  }

  it('the shrunk replay trace of the seed-1 V1 failure shows, per vCPU, the ATTACH, the replay snapshot, the tree insert, the read of 0 and the increment — and nothing else', () => {
    const o = run('upstream', 1, 50);
    expect(o.violation?.invariant).toBe('V-INV1');
    const r = replay(o.minimal!);
    const text = formatTrace(r.trace as TraceEvent[], r.taskNames, r.violation);
    expect(text).toBe(o.minimal!.trace);
    // Cells carry the values read and written, and the racing pair's two steps are marked '* ' (trace.ts).
    const cols = new Map([...columns(text)].map(([k, v]) => [k, v.map((c) => c.replace(/^\* /, ''))]));
    expect(cols.size).toBe(2);
    const [attacher, mapper] = [...cols.values()].sort((a, b) =>
      a[0]!.startsWith('> attach') ? -1 : b[0]!.startsWith('> attach') ? 1 : 0,
    );
    expect(attacher![0]).toMatch(/^> attach ep\d -> dom(\d)$/);
    const dom = /dom(\d)$/.exec(attacher![0]!)![1]!;
    expect(mapper![0]).toMatch(new RegExp(`^> map 0x[0-9a-f]+\\+0x1000 in dom${dom}$`));
    // one op each, nothing else in the way
    expect(attacher!.filter((c) => c.startsWith('>'))).toHaveLength(1);
    expect(mapper!.filter((c) => c.startsWith('>'))).toHaveLength(1);
    const nr = `dom${dom}.nr_endpoints`;
    const a = attacher!;
    expect(a).toContain('ATTACH send');
    expect(a).toContain('host: ATTACH');
    expect(a.indexOf('replay snapshot')).toBeGreaterThan(a.indexOf('host: ATTACH'));
    expect(a.lastIndexOf(`write ${nr} = 1`)).toBeGreaterThan(a.indexOf('replay snapshot'));
    const m = mapper!;
    const read = m.indexOf(`read ${nr} → 0`);
    expect(m.indexOf('tree insert')).toBeGreaterThan(0);
    expect(read).toBeGreaterThan(m.indexOf('tree insert'));
    expect(m[read + 1]).toBe('nr_endpoints == 0: no MAP');
    // and the rows interleave the way the race needs: snapshot, insert, read 0, increment
    const row = (cell: string) => text.split('\n').findIndex((l) => l.includes(` ${cell}`));
    expect(
      inOrder(row('replay snapshot'), row('tree insert'), row('nr_endpoints == 0: no MAP'), row(`write ${nr} = 1`)),
    ).toBe(true);
    // the race: the mapper's read of 0 (which skipped the MAP) against the attacher's increment
    expect(text).toMatch(
      new RegExp(`racing pair: cpu\\d write ${nr.replace('.', '\\.')} @ step \\d+ / cpu\\d read @ step \\d+`),
    );
    expect(text).toMatch(/violation V-INV1 \(FORBIDDEN\) by quiescent scan .*lost MAP/);
  });
});
