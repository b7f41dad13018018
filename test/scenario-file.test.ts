/**
 * A scenario file that extends a built-in scenario with variants (issue 10, item 4): the registry's
 * shape check (exit 2 with a clear message), and every command on the new variant — list, run, explore,
 * replay, merge — with printed commands that carry --scenario-file. The patch is a built-in increment of
 * scenario `counter` under a new name (enough to prove the plumbing; the worked examples are elsewhere).
 * Also the stale-code rule for a compiled twin in dist/. The file imports the compiled dist/ modules, which
 * are the CLI's only there (under vitest, src/cli.ts's main() runs src/): the commands run in-process on
 * the compiled CLI (helpers/in-process-dist.ts), except `list` and the stress run, child processes of the
 * real binary (its plumbing: the process loads the file, and so do its worker threads).
 * Explore phases are bounded by schedules, not by the clock.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadInput } from '../src/errors.js';
import { scenarioModulePath } from '../src/scenarios/registry.js';
import { iommu, json, root } from './helpers/cli.js';
import { iommuDist } from './helpers/in-process-dist.js';

let tmp: string;
const dist = (p: string): string => JSON.stringify(path.join(root, 'dist', p));
/** A scenario file over the compiled project: `body` is the default export's expression. */
function scenarioFile(name: string, body: string): string {
  const f = path.join(tmp, name);
  writeFileSync(
    f,
    [
      `import { extendScenario, variantOf } from ${dist('src/engine/scenario.js')};`,
      `import { counterScenario, atomicIncrement, plainIncrement } from ${dist('src/scenarios/counter.js')};`,
      `export default ${body};`,
    ].join('\n'),
  );
  return f;
}
let ext: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-scenario-file-'));
  ext = scenarioFile(
    'ext.mjs',
    `extendScenario(counterScenario, [
    { name: 'my-atomic', summary: 'atomic_inc under a new name', expect: 'clean', patch: atomicIncrement },
    { name: 'my-plain', summary: 'the plain increment under a new name', expect: ['CNT-LOST'], patch: plainIncrement },
  ])`,
  );
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('a scenario file that extends a built-in scenario', () => {
  it('is checked in full: each bad shape is exit 2 saying what is wrong', async () => {
    const cases: [string, string, RegExp][] = [
      [
        'nosummary.mjs',
        "extendScenario(counterScenario, [{ name: 'x', expect: 'clean' }])",
        /`variants\[3\]\.summary` \(variant x\) must say in one line what the variant changes/,
      ],
      [
        'badname.mjs',
        "extendScenario(counterScenario, [{ name: 'My Patch', summary: 's', expect: 'clean' }])",
        /`variants\[3\]\.name` must be a variant name \(letters, digits, - _ \.\), got "My Patch"/,
      ],
      [
        'badexpect.mjs',
        "extendScenario(counterScenario, [{ name: 'x', summary: 's', expect: ['F1'] }])",
        /`variants\[3\]\.expect` \(variant x\) names "F1", which the scenario does not declare \(it has: CNT-LOST/,
      ],
      [
        'emptyexpect.mjs',
        "extendScenario(counterScenario, [{ name: 'x', summary: 's', expect: [] }])",
        /`variants\[3\]\.expect` \(variant x\) must be 'clean' or a non-empty list/,
      ],
      [
        'clash.mjs',
        "extendScenario(counterScenario, [{ name: 'percpu', summary: 's', expect: 'clean' }])",
        /does not load \(it throws at import: Error: extendScenario: counter already has a variant named 'percpu'\)/,
      ],
      [
        'handclash.mjs',
        "{ ...counterScenario, extends: 'counter', variants: [...counterScenario.variants, { name: 'shared', summary: 's', expect: 'clean' }] }",
        /`variants\[3\]\.name` repeats 'shared'/,
      ],
      [
        'redefine.mjs',
        "{ ...counterScenario, extends: 'counter', variants: [{ ...counterScenario.variants[0], summary: 'mine' }, ...counterScenario.variants.slice(1), { name: 'x', summary: 's', expect: 'clean' }] }",
        /variant 'percpu' of counter is missing or redefined/,
      ],
      ['nothing.mjs', 'extendScenario(counterScenario, [])', /extends counter but adds no variant/],
      [
        'unknown.mjs',
        "{ ...counterScenario, name: 'nosuch', extends: 'nosuch', variants: [{ name: 'x', summary: 's', expect: 'clean' }] }",
        /extends 'nosuch', which is not a built-in scenario \(built in: pgtable, /,
      ],
      [
        'taken.mjs',
        "{ ...counterScenario, variants: [{ name: 'x', summary: 's', expect: 'clean' }] }",
        /defines scenario 'counter', a name already taken \(to add variants to it, export extendScenario\(counterScenario/,
      ],
    ];
    for (const [name, body, pattern] of cases) {
      const r = await iommuDist('list', '--scenario-file', scenarioFile(name, body));
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toMatch(pattern);
      expect(r.stderr, name).toContain(name);
    }
  });

  it('list shows the new variants after the built-in ones, marked as from the file', () => {
    const r = iommu('list', '--scenario-file', ext);
    expect(r.code).toBe(0);
    const counter = r.stdout.slice(r.stdout.indexOf('counter — '));
    expect(counter).toMatch(/percpu\s+expect clean\s+[^\n[]*\n/);
    expect(counter).toMatch(/my-atomic\s+expect clean\s+atomic_inc under a new name \[from .*ext\.mjs\]/);
    expect(counter).toMatch(/my-plain\s+expect CNT-LOST\s+.*\[from .*ext\.mjs\]/);
  });

  it('run runs what the file adds; a caught variant prints a replay that carries the file, and replay reproduces it', async () => {
    const r = await iommuDist(
      'run',
      '--scenario-file',
      ext,
      '--mode',
      'explore',
      '--schedules',
      '200',
      '--time',
      '10m',
      '--seed',
      '1',
      '--json',
      '--report-dir',
      path.join(tmp, 'run'),
    );
    expect(r.code).toBe(0); // my-atomic clean, my-plain caught: both met their expectation
    const rep = json<{
      results: { variant: string; verdict: string; violations: { command: string; token?: string }[] }[];
    }>(r);
    expect(rep.results.map((x) => `${x.variant}:${x.verdict}`)).toEqual(['my-atomic:pass', 'my-plain:pass']);
    const v = rep.results[1]!.violations[0]!;
    expect(v.command).toContain(`--scenario-file ${path.relative(root, ext)} `);
    const again = await iommuDist('replay', '--scenario-file', ext, '--token', v.token!, '--json');
    expect(again.code).toBe(1);
    expect(json<{ variant: string; violation: { invariant: string } }>(again)).toMatchObject({
      variant: 'my-plain',
      violation: { invariant: 'CNT-LOST' },
    });
  });

  it("explore and a stress failure's explore command carry the file too", async () => {
    const e = await iommuDist(
      'explore',
      '--scenario-file',
      ext,
      '--variant',
      'my-plain',
      '--seed',
      '2',
      '--json',
      '--repro-file',
      path.join(tmp, 'r.json'),
    );
    expect(e.code).toBe(1);
    expect(json<{ replay: string }>(e).replay).toMatch(/^npx iommu-stress replay --scenario-file \S*ext\.mjs --token /);
    const s = iommu(
      'run',
      '--scenario-file',
      ext,
      '--variant',
      'my-plain',
      '--mode',
      'stress',
      '--workers',
      '2',
      '--ops',
      '20000',
      '--time',
      '5s',
      '--seed',
      '3',
      '--param',
      'stepsPerOp=64',
      '--json',
      '--report-dir',
      path.join(tmp, 'stress'),
    );
    const rep = json<{ results: { violations: { command: string }[] }[] }>(s);
    // Whether real threads lose an update in this budget is up to them; when they do, the command names the file.
    for (const v of rep.results[0]!.violations) expect(v.command).toMatch(/--scenario-file \S*ext\.mjs /);
  });

  it("merge pools the shards of a campaign on the file's variant", async () => {
    const dirs: string[] = [];
    for (const i of [1, 2]) {
      const d = path.join(tmp, `shard${i}`);
      const r = await iommuDist(
        'run',
        '--scenario-file',
        ext,
        '--variant',
        'my-atomic',
        '--mode',
        'explore',
        '--schedules',
        '100',
        '--time',
        '10m',
        '--seed',
        '5',
        '--shard',
        `${i}/2`,
        '--report-dir',
        d,
      );
      expect(r.code).toBe(0);
      dirs.push(d);
    }
    const m = await iommuDist('merge', ...dirs, '--json', '--report-dir', path.join(tmp, 'merged'));
    expect(m.code).toBe(0);
    expect(json<{ results: { scenario: string; variant: string; verdict: string }[] }>(m).results).toEqual([
      expect.objectContaining({ scenario: 'counter', variant: 'my-atomic', verdict: 'pass' }),
    ]);
  });
});

describe('no stale code', () => {
  it('a compiled twin older than its source and than the last build is refused, naming both; a build makes it current', () => {
    const proj = path.join(tmp, 'proj');
    mkdirSync(path.join(proj, 'examples'), { recursive: true });
    mkdirSync(path.join(proj, 'dist', 'examples'), { recursive: true });
    const src = path.join(proj, 'examples', 'x.ts');
    const twin = path.join(proj, 'dist', 'examples', 'x.js');
    const info = path.join(proj, 'dist', '.tsbuildinfo');
    for (const f of [src, twin, info]) writeFileSync(f, '');
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    utimesSync(twin, t(10), t(10));
    utimesSync(info, t(10), t(10));
    utimesSync(src, t(20), t(20)); // edited after the build
    expect(() => scenarioModulePath(src, proj)).toThrow(BadInput);
    expect(() => scenarioModulePath(src, proj)).toThrow(
      /dist\/examples\/x\.js' is older than its source '.*examples\/x\.ts' .*run 'npm run build'/,
    );
    // The compiled .js given directly is held to the same rule.
    expect(() => scenarioModulePath(twin, proj)).toThrow(/older than its source/);
    // tsc -b leaves a twin alone when the source was saved unchanged, but writes its build info: current.
    utimesSync(info, t(30), t(30));
    expect(scenarioModulePath(src, proj)).toBe(twin);
    utimesSync(info, t(10), t(10));
    utimesSync(twin, t(30), t(30));
    expect(scenarioModulePath(src, proj)).toBe(twin);
  });
});
