/**
 * Running campaigns: settings from a validated config file, seed campaigns split into shards, and the
 * shards' reports merged into one (issue "reports people look at and a harness people extend", items 4
 * and 6). Plumbing only: exit codes, messages, files, counts — never luck or timing. The commands run
 * in-process (main(argv, io)); the two shards the merge tests read are run once, before them.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from './helpers/cli.js';
import { iommuIn } from './helpers/in-process.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-campaign-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function file(name: string, content: unknown): string {
  const f = path.join(tmp, name);
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}

interface RunJson {
  verdict: string;
  seed: number;
  shard: { index: number; count: number } | null;
  results: {
    scenario: string;
    variant: string;
    ops: number;
    seed: number;
    explore: { schedules: number } | null;
    stress: { ops: number } | null;
  }[];
}

describe('--config', () => {
  it('a field of the wrong type is exit 2 naming the field, and nothing is written', async () => {
    const out = path.join(tmp, 'never');
    const r = await iommuIn('run', 'pgtable', '--config', file('two.json', { workers: 'two' }), '--report-dir', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/workers: .*expected number.*"two"/);
    expect(existsSync(out)).toBe(false);
  });

  it('every bad field is reported with its path: unknown keys, bad durations, bad params, out-of-range values', async () => {
    const r = await iommuIn(
      'run',
      '--config',
      file('bad.json', { time: 'soon', workers: 0, params: { arenas: 'x' }, bogus: 1 }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/4 bad field\(s\)/);
    expect(r.stderr).toMatch(/time: expected a duration/);
    expect(r.stderr).toMatch(/workers: .*>=1/);
    expect(r.stderr).toMatch(/params\.arenas: /);
    expect(r.stderr).toMatch(/Unrecognized key: "bogus"/);
  });

  it('a file that is not JSON, or missing, is exit 2 naming the file', async () => {
    expect((await iommuIn('run', '--config', file('broken.json', '{ workers: 2'))).stderr).toMatch(
      /broken\.json: not JSON/,
    );
    const missing = await iommuIn('explore', '--config', path.join(tmp, 'nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nope\.json/);
  });

  it('settings come from the file, and flags win over it', async () => {
    const cfg = file('good.json', {
      scenarios: ['counter'],
      variant: 'percpu',
      workers: 1,
      ops: 200,
      time: '10m',
      seed: 11,
      mode: 'stress',
      params: { stepsPerOp: 4 },
    });
    const r = await iommuIn('run', '--config', cfg, '--seed', '12', '--json', '--report-dir', path.join(tmp, 'good'));
    expect(r.code).toBe(0);
    const rep = json<RunJson>(r);
    expect(rep.results.map((x) => `${x.scenario}/${x.variant}`)).toEqual(['counter/percpu']);
    expect(rep.seed).toBe(12);
    expect(rep.results[0]!.explore).toBeNull();
    expect(rep.results[0]!.stress!.ops).toBe(200);
  });

  it('explore takes its scenario from the file', async () => {
    const r = await iommuIn(
      'explore',
      '--config',
      file('ex.json', { scenario: 'counter', variant: 'plain-shared', seed: 1, schedules: 50 }),
      '--json',
      '--repro-file',
      path.join(tmp, 'ex-repro.json'),
    );
    expect(r.code).toBe(1);
    expect(json<{ scenario: string }>(r).scenario).toBe('counter');
  });
});

describe('--shard and merge', () => {
  const run = (shard: string, out: string) =>
    iommuIn(
      'run',
      'counter',
      '--variant',
      'percpu',
      '--mode',
      'explore',
      '--schedules',
      '100',
      '--time',
      '10m',
      '--seed',
      '5',
      '--shard',
      shard,
      '--json',
      '--report-dir',
      out,
    );

  it('a malformed shard is exit 2', async () => {
    for (const bad of ['0/2', '3/2', 'a/b', '2']) {
      const r = await iommuIn('run', 'counter', '--shard', bad);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toContain(`'${bad}'`);
    }
  });

  // Shards 1/2 and 2/2 of one campaign, run once: the tests below only read them.
  let a: string;
  let b: string;
  let ra: RunJson;
  let rb: RunJson;
  beforeAll(async () => {
    a = path.join(tmp, 'shard1');
    b = path.join(tmp, 'shard2');
    ra = json<RunJson>(await run('1/2', a));
    rb = json<RunJson>(await run('2/2', b));
  });

  it('shards of one campaign take disjoint op seeds; merge adds their counts into one report', async () => {
    expect(ra.shard).toEqual({ index: 1, count: 2 });
    expect(rb.shard).toEqual({ index: 2, count: 2 });
    expect(ra.seed).toBe(5);
    // each shard's stress programs get their own seed, derived from the campaign seed
    expect(ra.results[0]!.seed).not.toBe(rb.results[0]!.seed);
    const out = path.join(tmp, 'merged');
    const m = await iommuIn('merge', a, b, '--json', '--report-dir', out);
    expect(m.code).toBe(0);
    const merged = json<RunJson & { notes: string[] }>(m);
    expect(merged.notes).toEqual([]);
    expect(merged.results).toHaveLength(1);
    expect(merged.results[0]!.ops).toBe(ra.results[0]!.ops + rb.results[0]!.ops);
    expect(merged.results[0]!.explore!.schedules).toBe(
      ra.results[0]!.explore!.schedules + rb.results[0]!.explore!.schedules,
    );
    const onDisk = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as RunJson;
    expect(onDisk.verdict).toBe('pass');
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toContain('counter');
  });

  it('merge of a campaign that does not add up is exit 1 and writes nothing; --allow-partial merges it, marked partial', async () => {
    const only1 = path.join(tmp, 'only1');
    await run('1/3', only1);
    const m = await iommuIn('merge', only1, '--report-dir', path.join(tmp, 'm2'));
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/shard\(s\) 2, 3 of 3 are missing/);
    expect(m.stderr).toMatch(/nothing written/);
    expect(existsSync(path.join(tmp, 'm2'))).toBe(false);
    const mj = await iommuIn('merge', only1, '--json', '--report-dir', path.join(tmp, 'm2'));
    expect(mj.code).toBe(1);
    expect(json<{ verdict: string; notes: string[] }>(mj)).toMatchObject({
      verdict: 'incomplete',
      notes: ['shard(s) 2, 3 of 3 are missing'],
    });
    const p = await iommuIn('merge', only1, '--allow-partial', '--json', '--report-dir', path.join(tmp, 'm2'));
    expect(p.code).toBe(0);
    expect(json<{ partial: string[] }>(p).partial).toEqual(['shard(s) 2, 3 of 3 are missing']);
    const onDisk = JSON.parse(readFileSync(path.join(tmp, 'm2', 'report.json'), 'utf8')) as { partial: string[] };
    expect(onDisk.partial).toEqual(['shard(s) 2, 3 of 3 are missing']);
    expect(readFileSync(path.join(tmp, 'm2', 'summary.md'), 'utf8')).toMatch(
      /\*\*Partial report\*\*: shard\(s\) 2, 3 of 3 are missing/,
    );
    const bad = await iommuIn('merge', file('notreport.json', { hello: 1 }), '--report-dir', path.join(tmp, 'm3'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not an iommu-stress run report/);
    expect(existsSync(path.join(tmp, 'm3'))).toBe(false);
  });

  it('repeated shards, shards of two seeds or versions, a run given twice: each exit 1 naming the problem', async () => {
    const twice = await iommuIn('merge', a, b, a);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/shard\(s\) 1 appear more than once/);
    expect(twice.stderr).toMatch(/the same run is given more than once \(.*shard1\)/);
    const onDisk = JSON.parse(readFileSync(path.join(b, 'report.json'), 'utf8')) as {
      seed: number;
      version: string;
      runId: string;
    };
    const otherSeed = await iommuIn('merge', a, file('seed6.json', { ...onDisk, seed: 6 }));
    expect(otherSeed.code).toBe(1);
    expect(otherSeed.stderr).toMatch(/different campaign seeds \(5, 6\)/);
    const otherVersion = await iommuIn('merge', a, file('v0.json', { ...onDisk, version: '0.0.1' }));
    expect(otherVersion.code).toBe(1);
    expect(otherVersion.stderr).toMatch(/different versions of iommu-stress \(.*0\.0\.1\)/);
    const ok = await iommuIn('merge', a, b, '--report-dir', path.join(tmp, 'r-merged'));
    expect(ok.code).toBe(0);
    expect(ok.stderr).toBe('');
  });

  it('a merged campaign fails when any shard saw a violation in a variant expected clean', async () => {
    const rep = JSON.parse(readFileSync(path.join(a, 'report.json'), 'utf8')) as {
      results: { violations: unknown[] }[];
    };
    rep.results[0]!.violations = [
      {
        invariant: 'CNT-LOST',
        grade: 'FORBIDDEN',
        message: 'm',
        vcpu: 0,
        step: 1,
        site: 's',
        executor: 'stress',
        command: 'c',
      },
    ];
    const edited = file('edited-report.json', rep);
    const m = await iommuIn('merge', edited, b, '--json', '--report-dir', path.join(tmp, 'm4'));
    expect(m.code).toBe(1);
    expect(json<RunJson>(m).verdict).toBe('fail');
  });
});

describe('explore --stop-on', () => {
  it('hunts an INTERESTING outcome down to a token that replays it', async () => {
    const r = await iommuIn(
      'explore',
      'viommu',
      '--variant',
      'upstream',
      '--seed',
      '3',
      '--stop-on',
      'V-DUPMAP',
      '--json',
      '--repro-file',
      path.join(tmp, 'dup.json'),
    );
    expect(r.code).toBe(1);
    const out = json<{ violation: { invariant: string; grade: string }; token: string; traceHash: string }>(r);
    expect(out.violation).toMatchObject({ invariant: 'V-DUPMAP', grade: 'INTERESTING' });
    const again = await iommuIn('replay', '--token', out.token, '--json');
    expect(again.code).toBe(1);
    expect(json<{ violation: { invariant: string }; traceHash: string }>(again)).toMatchObject({
      violation: { invariant: 'V-DUPMAP' },
      traceHash: out.traceHash,
    });
  });

  it('an outcome the scenario does not declare is exit 2', async () => {
    const r = await iommuIn('explore', 'viommu', '--stop-on', 'V-DUPMAP,NOPE');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no outcome 'NOPE'/);
  });
});
