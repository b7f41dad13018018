/**
 * The command line as users and CI see it (DESIGN.md "Command line"): each command is judged only by its
 * exit code, stdout and stderr, and the files it writes. Exit codes: 0 expectations met, 1 a verdict, 2 bad
 * usage or input, 3 harness failure. Most commands run in-process through main(argv, io) (the same code
 * as the binary, without ~0.5 s of Node start and module loading each); the compiled CLI in dist/ runs as
 * a child process where the process is the point: a stress run's one JSON document on the real stdout, a
 * crashing worker's exit 3, and Commander's --help and --version. (test/fuzz-cli.test.ts shows a sample
 * of invocations behaving the same both ways.)
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iommu, json, root, type CliResult } from './helpers/cli.js';
import { iommuIn } from './helpers/in-process.js';

const pkgVersion = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-cli-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh directory under tmp for one test. */
function dir(name: string): string {
  const d = path.join(tmp, name);
  mkdirSync(d, { recursive: true });
  return d;
}

interface ListJson {
  scenarios: { name: string; variants: { name: string; expect: 'clean' | string[] }[] }[];
}

describe('list', () => {
  it('names every scenario and its variants, exit 0', async () => {
    const r = await iommuIn('list');
    expect(r.code).toBe(0);
    for (const name of ['pgtable', 'correct', 'racy-install', 'counter', 'percpu', 'shared', 'plain-shared']) {
      expect(r.stdout).toContain(name);
    }
    expect(r.stdout).toMatch(/racy-install\s+expect PT-LEAK\|PT-TRANSLATE/);
    expect(r.stdout).toMatch(/plain-shared\s+expect CNT-LOST/);
  });

  it('--json: scenarios[].variants[].expect', async () => {
    const r = await iommuIn('list', '--json');
    expect(r.code).toBe(0);
    const l = json<ListJson>(r);
    const byName = new Map(l.scenarios.map((s) => [s.name, s]));
    expect([...byName.keys()]).toEqual(expect.arrayContaining(['pgtable', 'counter']));
    for (const s of l.scenarios) {
      expect(s.variants.length).toBeGreaterThan(0);
      for (const v of s.variants)
        expect(v.expect === 'clean' || (Array.isArray(v.expect) && v.expect.length > 0)).toBe(true);
    }
    const pg = byName.get('pgtable')!;
    expect(pg.variants.find((v) => v.name === 'correct')?.expect).toBe('clean');
    expect(pg.variants.find((v) => v.name === 'racy-install')?.expect).toEqual(['PT-LEAK', 'PT-TRANSLATE']);
    const cnt = byName.get('counter')!;
    expect(cnt.variants.map((v) => v.name)).toEqual(expect.arrayContaining(['percpu', 'shared', 'plain-shared']));
    expect(cnt.variants.find((v) => v.name === 'plain-shared')?.expect).toEqual(['CNT-LOST']);
  });
});

describe('bad input: exit 2, a message naming the bad value, nothing written', () => {
  const runCases: [string, string[], string][] = [
    ['--time banana', ['run', '--time', 'banana'], 'banana'],
    ['an unknown scenario', ['run', 'nosuchscenario'], 'nosuchscenario'],
    ['an unknown variant', ['run', 'pgtable', '--variant', 'nope'], 'nope'],
    ['--workers 0', ['run', '--workers', '0'], "'0'"],
    ['an unknown parameter', ['run', 'pgtable', '--param', 'nosuch=1'], 'nosuch'],
    ['a parameter out of range', ['run', 'pgtable', '--param', 'arenas=999'], '999'],
    ['an unknown option', ['run', 'pgtable', '--bogus'], '--bogus'],
  ];
  for (const [what, args, named] of runCases) {
    it(`run: ${what}`, async () => {
      const d = dir(`bad-run-${what.replace(/\W+/g, '_')}`);
      const reportDir = path.join(d, 'r');
      const r = await iommuIn(...args, '--report-dir', reportDir);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(named);
      expect(r.stdout).toBe('');
      expect(existsSync(reportDir)).toBe(false);
    });
  }

  it('explore: an unknown strategy', async () => {
    const r = await iommuIn('explore', 'pgtable', '--strategy', 'bfs');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bfs');
  });

  it('explore: --ops with neither one count nor one per vCPU', async () => {
    const r = await iommuIn('explore', 'pgtable', '--cpus', '3', '--ops', '1,2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('1,2');
  });

  it('replay: neither a file nor a token', async () => {
    const r = await iommuIn('replay');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--token|repro file/);
  });

  it('replay: a token that is not one', async () => {
    const r = await iommuIn('replay', '--token', 'garbage');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('garbage');
  });

  it('replay: a repro file that does not exist', async () => {
    const r = await iommuIn('replay', 'missing.json');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing.json');
  });

  it('replay: a repro file that is not JSON', async () => {
    const f = path.join(dir('notjson'), 'bad.json');
    writeFileSync(f, 'this is { not json\n');
    const r = await iommuIn('replay', f);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(f);
    expect(r.stderr).toMatch(/not JSON/i);
  });
});

interface ExploreJson {
  verdict: string;
  violation?: { invariant: string; message: string };
  token?: string;
  traceHash?: string;
  reproFile?: string;
  schedules: number;
}

interface ReplayJson {
  reproduced: boolean;
  traceHash: string;
  sameTrace?: boolean;
  violation: { invariant: string } | null;
}

describe('explore finds the racy-install bug; replay reproduces it exactly', () => {
  let reproFile: string;
  let found: CliResult;
  let ex: ExploreJson;
  beforeAll(async () => {
    reproFile = path.join(dir('explore'), 'r.json');
    found = await iommuIn(
      'explore',
      'pgtable',
      '--variant',
      'racy-install',
      '--seed',
      '1',
      '--json',
      '--repro-file',
      reproFile,
    );
    ex = json<ExploreJson>(found);
  });

  it('explore: exit 1, verdict violation, a token, a trace hash and the repro file', async () => {
    expect(found.code).toBe(1);
    expect(ex.verdict).toBe('violation');
    expect(['PT-LEAK', 'PT-TRANSLATE']).toContain(ex.violation?.invariant);
    expect(ex.token).toMatch(/^isr2\./);
    expect(ex.traceHash).toMatch(/^[0-9a-f]{16}$/);
    expect(ex.reproFile).toBe(reproFile);
    expect(existsSync(reproFile)).toBe(true);
    const file = JSON.parse(readFileSync(reproFile, 'utf8')) as { format: string; token: string; traceHash: string };
    expect(file.format).toBe('iommu-stress-repro');
    expect(file.token).toBe(ex.token);
    expect(file.traceHash).toBe(ex.traceHash);
  });

  it('replay --token: exit 1, reproduced, the same trace hash three times in a row', async () => {
    for (let k = 0; k < 3; k++) {
      const r = await iommuIn('replay', '--token', ex.token!, '--json');
      expect(r.code).toBe(1);
      const rep = json<ReplayJson>(r);
      expect(rep.reproduced).toBe(true);
      expect(rep.violation?.invariant).toBe(ex.violation!.invariant);
      expect(rep.traceHash).toBe(ex.traceHash);
    }
  });

  it('replay <repro file>: exit 1, the same trace as recorded', async () => {
    const r = await iommuIn('replay', reproFile, '--json');
    expect(r.code).toBe(1);
    const rep = json<ReplayJson>(r);
    expect(rep.reproduced).toBe(true);
    expect(rep.sameTrace).toBe(true);
    expect(rep.traceHash).toBe(ex.traceHash);
  });

  it('replay --trace: one column per vCPU, the violation named at the end', async () => {
    const r = await iommuIn('replay', '--token', ex.token!, '--trace');
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    const header = lines[0]!;
    expect(header).toMatch(/^\s*step \|/);
    expect(header).toMatch(/\bcpu\d+\b/);
    expect(lines[1]).toMatch(/^-+\+-/);
    const tail = lines.slice(-3).join('\n');
    expect(tail).toContain(ex.violation!.invariant);
    expect(tail).toContain(ex.traceHash!);
    // Every step row is written in exactly one column.
    const stepRows = lines.slice(2).filter((l) => /^\s*\d+ \|/.test(l));
    expect(stepRows.length).toBeGreaterThan(0);
  });

  it('replay: a repro file whose schedule names a vCPU that does not exist is bad input', async () => {
    const repro = JSON.parse(readFileSync(reproFile, 'utf8')) as { opsPerCpu: number[]; schedule: number[] };
    const cpus = repro.opsPerCpu.length;
    repro.schedule = [cpus + 4, 3];
    const f = path.join(dir('badsched'), 'bad-schedule.json');
    writeFileSync(f, JSON.stringify(repro, null, 2));
    const r = await iommuIn('replay', f);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(f);
    expect(r.stderr).toContain('schedule');
  });
});

describe('explore and run verdicts', () => {
  it('explore pgtable/correct: 2000 schedules clean, exit 0', async () => {
    const r = await iommuIn(
      'explore',
      'pgtable',
      '--variant',
      'correct',
      '--seed',
      '7',
      '--schedules',
      '2000',
      '--json',
      '--repro-file',
      path.join(dir('clean'), 'never.json'),
    );
    expect(r.code).toBe(0);
    const ex = json<ExploreJson>(r);
    expect(ex.verdict).toBe('clean');
    expect(ex.schedules).toBe(2000);
    expect(existsSync(path.join(tmp, 'clean', 'never.json'))).toBe(false);
  });

  // Runs below are bounded by --ops and --schedules, with a --time far beyond them: never by a time window.
  it('run pgtable/correct on 2 workers, 300 ops each + 50 schedules: exit 0, one JSON document, report.json and summary.md', () => {
    const reportDir = path.join(dir('run-pg'), 'rep');
    const r = iommu(
      'run',
      'pgtable',
      '--variant',
      'correct',
      '--workers',
      '2',
      '--ops',
      '300',
      '--schedules',
      '50',
      '--time',
      '10m',
      '--seed',
      '3',
      '--json',
      '--report-dir',
      reportDir,
    );
    expect(r.code).toBe(0);
    const rep = json<{ verdict: string; exitCode: number; results: Record<string, unknown>[] }>(r);
    expect(rep.verdict).toBe('pass');
    expect(rep.exitCode).toBe(0);
    expect(rep.results).toHaveLength(1);
    const v = rep.results[0]!;
    expect(v).toMatchObject({
      scenario: 'pgtable',
      variant: 'correct',
      expected: 'clean',
      observed: 'clean',
      seed: 3,
      violations: [],
    });
    expect((v.stress as { ops: number }).ops).toBe(600);
    expect((v.explore as { schedules: number }).schedules).toBe(50);
    expect(v.ops).toBeGreaterThan(600);
    expect(v.steps as number).toBeGreaterThanOrEqual(v.ops as number);
    expect(typeof v.durationMs).toBe('number');

    const onDisk = JSON.parse(readFileSync(path.join(reportDir, 'report.json'), 'utf8')) as typeof rep;
    expect(onDisk.verdict).toBe('pass');
    expect(onDisk.results[0]).toMatchObject({ scenario: 'pgtable', variant: 'correct', observed: 'clean', seed: 3 });
    const md = path.join(reportDir, 'summary.md');
    expect(existsSync(md)).toBe(true);
    expect(readFileSync(md, 'utf8')).toContain('pgtable');
  });

  it('run counter/plain-shared: the bug is caught as expected (exit 0) with a reproduce command', async () => {
    const reportDir = path.join(dir('run-plain'), 'rep');
    // Real threads may or may not lose an update in 2 x 2000 ops; the explore phase then finds it from the seed.
    const r = await iommuIn(
      'run',
      'counter',
      '--variant',
      'plain-shared',
      '--workers',
      '2',
      '--ops',
      '2000',
      '--schedules',
      '2000',
      '--time',
      '10m',
      '--seed',
      '1',
      '--json',
      '--report-dir',
      reportDir,
    );
    expect(r.code).toBe(0);
    const rep = json<{
      verdict: string;
      results: {
        expected: string;
        observed: string;
        verdict: string;
        violations: { invariant: string; command: string }[];
      }[];
    }>(r);
    expect(rep.verdict).toBe('pass');
    const v = rep.results[0]!;
    expect(v.expected).toBe('CNT-LOST');
    expect(v.observed).toBe('CNT-LOST');
    expect(v.violations.length).toBeGreaterThan(0);
    expect(v.violations[0]!.invariant).toBe('CNT-LOST');
    expect(v.violations[0]!.command.startsWith('npx iommu-stress')).toBe(true);
  });

  it('run --mode explore: no stress phase, schedules counted', async () => {
    const reportDir = path.join(dir('run-explore'), 'rep');
    const r = await iommuIn(
      'run',
      'counter',
      '--variant',
      'percpu',
      '--mode',
      'explore',
      '--schedules',
      '200',
      '--time',
      '10m',
      '--seed',
      '5',
      '--json',
      '--report-dir',
      reportDir,
    );
    expect(r.code).toBe(0);
    const v = json<{ results: { stress: unknown; explore: { schedules: number } | null; observed: string }[] }>(r)
      .results[0]!;
    expect(v.stress).toBeNull();
    expect(v.explore?.schedules).toBe(200);
    expect(v.observed).toBe('clean');
  });

  it('run: a bug variant that cannot be caught (1 worker, 1 op) is a failed expectation, exit 1', async () => {
    const reportDir = path.join(dir('run-miss'), 'rep');
    const r = await iommuIn(
      'run',
      'pgtable',
      '--variant',
      'racy-install',
      '--mode',
      'stress',
      '--workers',
      '1',
      '--ops',
      '1',
      '--time',
      '10m',
      '--seed',
      '1',
      '--json',
      '--report-dir',
      reportDir,
    );
    expect(r.code).toBe(1);
    const rep = json<{
      verdict: string;
      exitCode: number;
      results: { observed: string; verdict: string; ops: number }[];
    }>(r);
    expect(rep.verdict).toBe('fail');
    expect(rep.exitCode).toBe(1);
    expect(rep.results[0]).toMatchObject({ observed: 'clean', verdict: 'fail', ops: 1 });
    const onDisk = JSON.parse(readFileSync(path.join(reportDir, 'report.json'), 'utf8')) as {
      verdict: string;
      exitCode: number;
    };
    expect(onDisk).toMatchObject({ verdict: 'fail', exitCode: 1 });
  });

  it('run: a worker that crashes is a harness failure, exit 3, naming the crash and the re-run command', () => {
    // crashAfter is counter's harness self-test knob: a vCPU throws at that op.
    const r = iommu(
      'run',
      'counter',
      '--variant',
      'percpu',
      '--mode',
      'stress',
      '--param',
      'crashAfter=100',
      '--workers',
      '1',
      '--ops',
      '1000',
      '--time',
      '10m',
      '--seed',
      '1',
      '--report-dir',
      path.join(dir('run-crash'), 'rep'),
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('harness failure');
    expect(r.stderr).toContain('crashAfter=100');
    expect(r.stderr).toContain('npx iommu-stress run counter');
  });
});

describe('help and version', () => {
  it('--help: exit 0, lists the commands', () => {
    const r = iommu('--help');
    expect(r.code).toBe(0);
    for (const c of ['list', 'run', 'explore', 'replay', 'bench'])
      expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
  });

  it('run --help: exit 0, documents --time', () => {
    const r = iommu('run', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--time');
    expect(r.stdout).toContain('--report-dir');
  });

  it('--version prints the package.json version', () => {
    const r = iommu('--version');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkgVersion);
  });
});
