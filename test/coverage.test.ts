/**
 * Site coverage (engine/coverage.ts): declared sites and their `#` instance patterns; every label every
 * variant yields is declared (a site yielded but not declared is a model error); the default suite reaches
 * every declared-reachable site of every model; an unreached one turns a clean pass into
 * `PASS (incomplete coverage: …)`, and --require-coverage into exit 1.
 *
 * The default-suite check runs `run --mode explore` with a bounded schedule count rather than `npm start`
 * itself: explore alone reaches every declared-reachable site (the regimes put the rare paths within
 * short explored executions), it is deterministic for a seed, and it costs a few seconds instead of the
 * suite's 40 s of stress. The stress leg's counters are checked by the plumbing test below. The commands
 * run in-process on the compiled CLI (helpers/in-process-dist.ts): the scenario files import dist/.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  coverageReport,
  mergeCoverage,
  newTally,
  SiteCatalog,
  tallyLabels,
  UNDECLARED,
} from '../src/engine/coverage.js';
import { allocateMemory } from '../src/engine/layout.js';
import { withDefaults } from '../src/engine/scenario.js';
import { runExecution } from '../src/explore/execution.js';
import { makeScheduler } from '../src/explore/strategies.js';
import type { RunReport } from '../src/report/types.js';
import { allScenarios } from '../src/scenarios/registry.js';
import { counterScenario, percpuIncrement } from '../src/scenarios/counter.js';
import { stress } from '../src/stress/stress.js';
import { root } from './helpers/cli.js';
import { iommuDist } from './helpers/in-process-dist.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-coverage-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('the site catalog', () => {
  it('matches `#` to an instance number and nothing else, and counts instances under one site', () => {
    const cat = new SiteCatalog({ sites: ['lock fq[cpu#]', 'L2 leaf write', 'rcache[#] magazine_push'] }, {});
    expect(cat.indexOf('lock fq[cpu0]')).toBe(0);
    expect(cat.indexOf('lock fq[cpu17]')).toBe(0);
    expect(cat.indexOf('lock fq[cpux]')).toBe(UNDECLARED);
    expect(cat.indexOf('L2 leaf write')).toBe(1);
    expect(cat.indexOf('L3 leaf write')).toBe(UNDECLARED);
    const t = newTally(cat);
    tallyLabels(
      cat,
      t,
      new Map([
        ['rcache[0] magazine_push', 2],
        ['rcache[5] magazine_push', 3],
        ['mystery', 1],
      ]),
    );
    const c = coverageReport(cat, undefined, t);
    expect(c.sites.find((s) => s.site === 'rcache[#] magazine_push')?.explore).toBe(5);
    expect(c.reached).toBe(1);
    expect(c.neverReached).toEqual(['lock fq[cpu#]', 'L2 leaf write']);
    expect(c.undeclared).toEqual({ mystery: 1 });
  });

  it('judges an explore-only site only when the run had an explore leg, and a merge with one judges it', () => {
    const cat = new SiteCatalog(
      { sites: ['a', 'rare'], unreached: [{ sites: ['rare'], reason: 'small rings', exploreOnly: true }] },
      {},
    );
    expect(cat.exempt.has('rare')).toBe(false);
    const stressed = newTally(cat);
    tallyLabels(cat, stressed, new Map([['a', 3]]));
    // Stress only: 'rare' is exempt, with the declaration's reason.
    const s = coverageReport(cat, stressed, undefined);
    expect(s.neverReached).toEqual([]);
    expect(s.sites.find((x) => x.site === 'rare')?.exempt).toBe('explore only: small rings');
    // An explore leg (mixed or explore mode), even one that did not get to run: judged like any other.
    expect(coverageReport(cat, stressed, newTally(cat), true).neverReached).toEqual(['rare']);
    expect(coverageReport(cat, stressed, undefined, true).neverReached).toEqual(['rare']);
    // A stress-only shard merged with an explored one: judged, and reached if the explore shard reached it.
    const explored = newTally(cat);
    expect(mergeCoverage(s, coverageReport(cat, undefined, explored)).neverReached).toEqual(['rare']);
    tallyLabels(cat, explored, new Map([['rare', 1]]));
    const m = mergeCoverage(s, coverageReport(cat, undefined, explored));
    expect(m.neverReached).toEqual([]);
    expect(m.sites.find((x) => x.site === 'rare')).toEqual({ site: 'rare', stress: 0, explore: 1 });
  });

  it('refuses a site declared twice and an exemption of a site not declared', () => {
    expect(() => new SiteCatalog({ sites: ['a'] }, { sites: ['a'] })).toThrow(/'a' is declared twice/);
    expect(() => new SiteCatalog({ sites: ['a'] }, { unreached: [{ sites: ['b'], reason: 'r' }] })).toThrow(
      /unreached site 'b' is not declared/,
    );
  });
});

describe('every model declares its sites', () => {
  it('no known-bug variant of any scenario, under any of its parameter sets, yields an undeclared site', () => {
    for (const s of allScenarios()) {
      expect(s.sites, `${s.name} declares its sites`).toBeDefined();
      const sets = [
        s.exploreParams ?? {},
        ...(s.regimes ?? []).map((r) => ({ ...s.exploreParams, ...r.params, ...r.exploreParams })),
      ];
      // The variants expected clean are checked by the default-suite test below (its report's `undeclared`).
      for (const v of s.variants.filter((x) => x.expect !== 'clean')) {
        const cat = new SiteCatalog(s, v);
        const tally = newTally(cat);
        for (const given of sets) {
          const opsPerCpu = Array<number>(s.exploreCpus).fill(s.exploreOps);
          const model = s.build({ cpus: opsPerCpu.length, variant: v, params: withDefaults(s, given) });
          const mem = allocateMemory(model.layout);
          const sched = makeScheduler('pct', 7, 3, 1000);
          for (let i = 0; i < 4; i++) {
            const counts = new Map<string, number>();
            runExecution(
              { scenario: s, model, mem, opSeed: 11 + i, opsPerCpu, maxSteps: 200_000, siteCounts: counts },
              sched,
            );
            tallyLabels(cat, tally, counts);
          }
        }
        expect(Object.fromEntries(tally.undeclared), `${s.name}/${v.name}: undeclared sites`).toEqual({});
      }
    }
  });
});

describe('stress counts sites per vCPU and merges them at barriers', () => {
  it('counts every step of a bounded run at its declared site', async () => {
    const variant = counterScenario.variants.find((v) => v.name === 'percpu')!;
    const r = await stress({
      scenario: counterScenario,
      variant,
      params: withDefaults(counterScenario, { stepsPerOp: 4 }),
      workers: 2,
      timeMs: 60_000,
      opBudget: 500,
      seed: 5,
      sliceMs: 1,
      watchdogMs: 10_000,
      coverage: true,
    });
    // 2 vCPUs x 500 ops x 4 increments, each one step at 'percpu add', however many slices it took.
    expect(r.steps).toBe(4_000);
    expect(r.sites!.catalog.keys).toEqual(['percpu add']);
    expect(r.sites!.tally.counts).toEqual([4_000]);
    expect(r.sites!.tally.undeclared.size).toBe(0);
  });
});

describe('the default suite', () => {
  it('reaches every declared-reachable site of every model (explore leg, 16 schedules per parameter set)', async () => {
    const out = path.join(tmp, 'suite');
    const r = await iommuDist(
      'run',
      '--mode',
      'explore',
      '--schedules',
      '16',
      '--time',
      '600s',
      '--seed',
      '1',
      '--require-coverage',
      '--report-dir',
      out,
    );
    const rep = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as RunReport;
    const gaps = rep.results.flatMap((v) =>
      v.coverage!.neverReached.length > 0 || Object.keys(v.coverage!.undeclared).length > 0
        ? [
            `${v.scenario}/${v.variant}: never ${v.coverage!.neverReached.join(', ')}; undeclared ${Object.keys(v.coverage!.undeclared).join(', ')}`,
          ]
        : [],
    );
    expect(gaps).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
    // The regimes ran: the one-shot rcache flush (small IOVA space) and the 2 MiB block path in explore.
    const site = (s: string, v: string, name: string) =>
      rep.results
        .find((x) => `${x.scenario}/${x.variant}` === `${s}/${v}`)!
        .coverage!.sites.find((x) => x.site === name)!;
    expect(site('flushq', 'percpu-fixed', 'rcache[#] magazine_free_pfns (rbtree erase)').explore).toBeGreaterThan(0);
    expect(site('mapsg', 'per-call', 'L2 leaf write').explore).toBeGreaterThan(0);
    // The ring-full paths, each under a site of its own: the fq ring, the request ring, the IOVA space.
    expect(site('flushq', 'percpu-fixed', 'fq full: atomic64_inc fq_flush_start_cnt').explore).toBeGreaterThan(0);
    expect(site('viommu', 'locked', 'kick (request ring full)').explore).toBeGreaterThan(0);
    expect(site('dma-iova', 'correct', 'rbtree alloc_iova (retry after the rcache flush)').explore).toBeGreaterThan(0);
    expect(rep.results.find((x) => x.scenario === 'flushq')!.regimes).toEqual([
      { name: 'small-space', params: { spacePfns: 128, buffers: 8 } },
    ]);
  });
});

describe('a clean pass with a declared site never reached', () => {
  const file = (): string => {
    const f = path.join(tmp, 'ghost.mjs');
    const dist = (p: string) => JSON.stringify(path.join(root, 'dist', p));
    writeFileSync(
      f,
      [
        `import { extendScenario } from ${dist('src/engine/scenario.js')};`,
        `import { counterScenario, percpuIncrement } from ${dist('src/scenarios/counter.js')};`,
        `export default extendScenario(counterScenario, [{ name: 'ghost', summary: 'declares a site it never yields',`,
        `  expect: 'clean', patch: percpuIncrement, sites: ['percpu add', 'ghost site'] }]);`,
      ].join('\n'),
    );
    return f;
  };

  it('says PASS (incomplete coverage: 1 site never reached) with a warning; --require-coverage exits 1', async () => {
    expect(percpuIncrement).toBeDefined();
    const f = file();
    const base = ['run', '--scenario-file', f, '--mode', 'explore', '--schedules', '3', '--seed', '2', '--time', '60s'];
    const out = path.join(tmp, 'ghost');
    const r = await iommuDist(...base, '--report-dir', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PASS \(incomplete coverage: 1 site never reached\)\s+counter\/ghost/);
    expect(r.stderr).toMatch(/warning: counter\/ghost: 1 declared-reachable site was never reached: 'ghost site'/);
    const rep = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as RunReport;
    expect(rep.results[0]!.incompleteCoverage).toBe(1);
    expect(rep.results[0]!.coverage!.neverReached).toEqual(['ghost site']);
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toContain(
      '| PASS (incomplete coverage: 1 site never reached) |',
    );
    expect(readFileSync(path.join(out, 'index.html'), 'utf8')).toMatch(
      /1 never reached<\/strong>: <code>ghost site<\/code>/,
    );

    const strict = await iommuDist(...base, '--require-coverage', '--report-dir', path.join(tmp, 'ghost-strict'));
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/FAIL \(incomplete coverage: 1 site never reached\)\s+counter\/ghost/);
  });

  it('an explore-only site: a stress-only run does not judge it (exempt, with the reason)', async () => {
    const f = path.join(tmp, 'ghost-explore-only.mjs');
    const dist = (p: string) => JSON.stringify(path.join(root, 'dist', p));
    writeFileSync(
      f,
      [
        `import { extendScenario } from ${dist('src/engine/scenario.js')};`,
        `import { counterScenario, percpuIncrement } from ${dist('src/scenarios/counter.js')};`,
        `export default extendScenario(counterScenario, [{ name: 'ghost', summary: 's', expect: 'clean',`,
        `  patch: percpuIncrement, sites: ['percpu add', 'ghost site'],`,
        `  unreached: [{ sites: ['ghost site'], reason: 'tiny shapes', exploreOnly: true }] }]);`,
      ].join('\n'),
    );
    const stressOnly = await iommuDist(
      ...['run', '--scenario-file', f, '--mode', 'stress', '--ops', '50', '--seed', '2', '--time', '60s'],
      ...['--report-dir', path.join(tmp, 'eo-stress')],
    );
    expect(stressOnly.code, stressOnly.stderr).toBe(0);
    expect(stressOnly.stdout).toMatch(/PASS\s+counter\/ghost/);
    const rep = JSON.parse(readFileSync(path.join(tmp, 'eo-stress', 'report.json'), 'utf8')) as RunReport;
    expect(rep.results[0]!.coverage!.sites.find((s) => s.site === 'ghost site')!.exempt).toBe(
      'explore only: tiny shapes',
    );
    // A run with an explore leg judges it: the catalog test above (coverageReport's `explored`).
  });

  it('an exemption of a site that is not declared is bad input (exit 2)', async () => {
    const f = path.join(tmp, 'typo.mjs');
    const dist = (p: string) => JSON.stringify(path.join(root, 'dist', p));
    writeFileSync(
      f,
      [
        `import { extendScenario } from ${dist('src/engine/scenario.js')};`,
        `import { counterScenario, percpuIncrement } from ${dist('src/scenarios/counter.js')};`,
        `export default extendScenario(counterScenario, [{ name: 'typo', summary: 's', expect: 'clean',`,
        `  patch: percpuIncrement, unreached: [{ sites: ['percpu ad'], reason: 'typo' }] }]);`,
      ].join('\n'),
    );
    const r = await iommuDist('run', '--scenario-file', f, '--time', '1s');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/counter\/typo: coverage: unreached site 'percpu ad' is not declared/);
  });
});
