/**
 * Fuzzing the front door (issue 11 item 9): fast-check generates malformed invocations — flags,
 * durations, shards, parameters, config files (/dev/zero, deep nesting, huge, wrong types), tokens with
 * changed characters, truncated and crafted repro files, broken scenario files, output directories that
 * cannot be written — and each must end in exit 2 with the bad value named in the message, no stack
 * trace, with --json exactly one JSON error document, and nothing written. Most run in-process through
 * main(argv, io); a sample runs as child processes to show the real CLI behaves the same.
 */
import { execFileSync, spawn } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { memoryIo } from '../src/cli/io.js';
import { encodeToken, type Repro } from '../src/explore/repro.js';
import { allScenarios } from '../src/scenarios/registry.js';
import { cliJs, root } from './helpers/cli.js';
import { lockReports, releaseReports } from './helpers/reports-lock.js';

interface Case {
  readonly argv: readonly string[];
  readonly named: readonly string[];
}
interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const STACK = /\n\s+at .+[(:]\d+/;
const reportsRoot = path.join(root, 'reports');
let tmp: string;
let before: string;
let tmpBefore: string;
const files: Record<string, string> = {};

/** Every path under reports/ with its size and mtime: what "nothing written" is checked against. */
function snapshot(dir: string): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = path.join(d, n);
      const st = lstatSync(p);
      out.push(`${p} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.join('\n');
}

const good: Repro = {
  scenario: 'pgtable',
  variant: 'racy-install',
  params: {},
  opSeed: -1458513272,
  opsPerCpu: [1, 1],
  skip: [],
  stopOn: [],
  timers: 0,
  schedule: [1, 4, 0, 9, 1, 7],
  maxSteps: 100_000,
};

/** A scenario module: a valid definition with some fields replaced (JavaScript source text per field). */
const scenarioModule = (over: Record<string, string>): string => {
  const fields: Record<string, string> = {
    name: `'s${Object.keys(over).join('-').toLowerCase()}'`,
    summary: "'s'",
    follows: "'f'",
    exploreCpus: '2',
    exploreOps: '2',
    invariants: '[]',
    params: '{}',
    variants: "[{ name: 'a', summary: 's', expect: 'clean' }]",
    build: '() => ({})',
    ...over,
  };
  const body = Object.entries(fields)
    .filter(([, v]) => v !== 'OMIT')
    .map(([k, v]) => `  ${k}: ${v},`)
    .join('\n');
  return `export default {\n${body}\n};\n`;
};

/** Broken scenario modules: each must be refused with exit 2 naming the file. */
const SCENARIO_FILES: Record<string, string> = {
  'no-params': scenarioModule({ params: 'OMIT' }),
  'params-bad-range': scenarioModule({ params: "{ n: { default: 9, min: 1, max: 4, help: 'h' } }" }),
  'params-not-int': scenarioModule({ params: "{ n: { default: 'x', min: 1, max: 4, help: 'h' } }" }),
  'params-proto-name': scenarioModule({ params: "{ 'a b': { default: 1, min: 1, max: 4, help: 'h' } }" }),
  'explore-params-unknown': scenarioModule({ exploreParams: '{ nope: 1 }' }),
  'no-variants': scenarioModule({ variants: '[]' }),
  'expects-undeclared': scenarioModule({ variants: "[{ name: 'a', summary: 's', expect: ['NOPE'] }]" }),
  'invariant-bad-grade': scenarioModule({ invariants: "[{ id: 'X', meaning: 'm', grade: 'FATAL' }]" }),
  'duplicate-variants': scenarioModule({
    variants: "[{ name: 'a', summary: 's', expect: 'clean' }, { name: 'a', summary: 's', expect: 'clean' }]",
  }),
  'build-missing': scenarioModule({ build: 'OMIT' }),
  'cpus-huge': scenarioModule({ exploreCpus: '1e9' }),
  'summary-missing': scenarioModule({ summary: 'OMIT' }),
  'getter-throws': "export default { get name() { throw new TypeError('boom'); } };",
  exits: 'process.exit(0);\nexport default {};',
  'exits-caught': 'try { process.exit(7); } catch {}\nexport default {};',
  throws: "throw new Error('broken at import');",
  'throws-string': "throw 'a string';",
  syntax: 'export default { name: ;',
  'no-export': 'export const x = 1;',
  'default-null': 'export default null;',
};

beforeAll(async () => {
  await lockReports(); // report-safety.test.ts writes under reports/ on purpose: not while this file runs
  tmp = mkdtempSync(path.join(tmpdir(), 'isr-fuzz-'));
  before = snapshot(reportsRoot);
  const put = (name: string, text: string | Buffer): string => {
    const p = path.join(tmp, name);
    writeFileSync(p, text);
    files[name] = p;
    return p;
  };
  put('not-json.json', '{ time: 10s');
  put('wrong-type.json', JSON.stringify({ time: 10 }));
  put('unknown-key.json', JSON.stringify({ tiem: '1s' }));
  put('bad-workers.json', JSON.stringify({ workers: 0 }));
  put('deep-array.json', `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  put('deep-value.json', `{"time":${'['.repeat(50_000)}${']'.repeat(50_000)}}`);
  put('deep-params.json', `{"params":{"a":${'{"b":'.repeat(30_000)}1${'}'.repeat(30_000)}}}`);
  put('huge.json', Buffer.alloc((1 << 20) + 10, 0x20));
  put('empty.json', '');
  put('regular-file', 'x');
  mkdirSync(path.join(tmp, 'a-dir'));
  execFileSync('mkfifo', [path.join(tmp, 'a-fifo')]); // reading it would wait for a writer forever
  files['a-fifo'] = path.join(tmp, 'a-fifo');
  files['a-dir'] = path.join(tmp, 'a-dir');
  const repro = {
    format: 'iommu-stress-repro',
    version: 2,
    toolVersion: '0.1.0',
    modelHash: '000000000000',
    ...good,
    token: encodeToken(good),
    violation: null,
    traceHash: null,
    command: '',
  };
  const text = JSON.stringify(repro, null, 2);
  for (let i = 1; i <= 8; i++) put(`truncated-${i}.json`, text.slice(0, Math.floor((text.length * i) / 9)));
  put('huge-schedule.json', JSON.stringify({ ...repro, schedule: [0, 2 ** 45], maxSteps: 2 ** 46 }));
  put('huge-steps.json', JSON.stringify({ ...repro, maxSteps: 2 ** 53 }));
  put('huge-ops.json', JSON.stringify({ ...repro, opsPerCpu: [2e9, 1] }));
  put('many-cpus.json', JSON.stringify({ ...repro, opsPerCpu: Array<number>(4096).fill(1) }));
  put('many-timers.json', JSON.stringify({ ...repro, timers: 100_000 }));
  put('wrong-version.json', JSON.stringify({ ...repro, version: 99 }));
  put('not-repro.json', JSON.stringify({ hello: 'world' }));
  put('huge-repro.json', Buffer.alloc((16 << 20) + 10, 0x20));
  for (const [name, text] of Object.entries(SCENARIO_FILES)) put(`scenario-${name}.mjs`, text);
  tmpBefore = snapshot(tmp);
});

afterAll(() => {
  try {
    // Nothing any case did may have written under reports/ (the report and repro roots) or next to the inputs.
    expect(snapshot(reportsRoot)).toBe(before);
    expect(snapshot(tmp)).toBe(tmpBefore);
  } finally {
    releaseReports();
  }
});

// ---- the generators: each yields an invocation that must be refused, and what its message must name ----

const commands = ['run', 'explore'] as const;
/** Strings no flag of these kinds accepts: near misses, and random text that is not a number, duration or i/n. */
const NUMBERISH = /^\s*(-?\d+(\.\d+)?\s*(ms|s|m|h)?|0x[0-9a-f]+|\d+\s*\/\s*\d+)\s*$/i;
const junk = fc.oneof(
  fc.constantFrom('', ' ', 'abc', '1.5.2', 'NaN', 'Infinity', '1e3', '0x', '--', '½', '10 s s', '١٢', '1_000', 'null'),
  fc.string({ maxLength: 12, unit: 'grapheme' }).filter((t) => !NUMBERISH.test(t) && !t.includes('\0')),
);
const at = (flag: string, value: string, ...pre: string[]): Case => ({
  argv: [...pre, `${flag}=${value}`],
  named: [`'${value}'`],
});
const scenarioNames = allScenarios().map((s) => s.name);

/** `bad` values for `flag`, minus those that flag happens to accept. */
const badValues = (flags: readonly string[], values: readonly string[], accepted: Record<string, string[]> = {}) =>
  fc
    .tuple(fc.constantFrom(...flags), fc.oneof(junk, fc.constantFrom(...values)))
    .filter(([flag, v]) => !(accepted[flag] ?? []).includes(v));

const durations: fc.Arbitrary<Case> = fc.oneof(
  badValues(
    ['--time', '--slice', '--watchdog'],
    ['0', '0s', '-1s', '2ms', '999ms', '0.5ms', '9999h', '1000000000000s', '1y'],
    { '--slice': ['2ms', '999ms'], '--time': ['999ms'] },
  ).map(([flag, v]) => at(flag, v, 'run', 'pgtable')),
  fc
    .tuple(fc.constantFrom('explore', 'bench'), fc.oneof(junk, fc.constantFrom('0', '5ms', '99ms', '10000h')))
    .map(([cmd, v]) => at('--time', v, ...(cmd === 'explore' ? ['explore', 'pgtable'] : ['bench']))),
);

const integers: fc.Arbitrary<Case> = fc.oneof(
  badValues(['--workers', '--ops', '--seed'], ['0', '-5', '65', '4294967296', '-2147483649', '99999999999999999999'], {
    '--seed': ['0', '-5', '65'],
    '--ops': ['65', '4294967296', '99999999999999999999'],
  }).map(([flag, v]) => at(flag, v, 'run', 'pgtable')),
  badValues(
    ['--depth', '--schedules', '--cpus', '--max-steps', '--op-seed', '--seed'],
    ['0', '-3', '4294967296', '1e9'],
    { '--op-seed': ['0', '-3'], '--seed': ['0', '-3'], '--schedules': ['4294967296'] },
  ).map(([flag, v]) => at(flag, v, 'explore', 'pgtable')),
  fc.oneof(junk, fc.constantFrom('-1,2', '1,,2', '1,x')).map((v) => at('--ops', v, 'explore', 'pgtable')),
);

const shards: fc.Arbitrary<Case> = fc
  .tuple(
    fc.constantFrom('run', 'explore'),
    fc.oneof(junk, fc.constantFrom('0/4', '5/4', '1/0', '3', '1/2/3', 'a/b', '2/1', '1/2000000', '/')),
  )
  .map(([cmd, v]) => at('--shard', v, cmd, 'pgtable'));

const params: fc.Arbitrary<Case> = fc
  .tuple(
    fc.constantFrom(...commands),
    fc.constantFrom(...scenarioNames),
    fc.oneof(
      fc
        .constantFrom('x', '=3', 'a b=1', '__proto__=1', 'constructor=1', 'toString=2', 'nope=1')
        .map((kv) => ({ kv, named: kv.split('=')[0]! || kv })),
      fc
        .tuple(fc.constantFrom('abc', '1.5', '', '1e99', '0x'), fc.nat())
        .map(([v]) => ({ kv: `K=${v}`, named: `'${v}'` })),
      fc.integer({ min: 1, max: 1e9 }).map((d) => ({ kv: `K=${-d - 1e12}`, named: `${-d - 1e12}` })),
    ),
  )
  .map(([cmd, scen, p]) => {
    const keys = Object.keys(allScenarios().find((s) => s.name === scen)!.params);
    const kv = p.kv.startsWith('K=') ? `${keys[0] ?? 'none'}=${p.kv.slice(2)}` : p.kv;
    return { argv: [cmd, scen, '--param', kv], named: [p.named, `'${kv}'`] };
  });

const configs: fc.Arbitrary<Case> = fc
  .tuple(
    fc.constantFrom(...commands),
    fc.constantFrom(
      'not-json.json',
      'wrong-type.json',
      'unknown-key.json',
      'bad-workers.json',
      'deep-array.json',
      'deep-value.json',
      'deep-params.json',
      'huge.json',
      'empty.json',
      'a-dir',
      '/dev/zero',
      '/dev/null',
      '/proc/self/status',
      'missing.json',
      'a-fifo',
    ),
  )
  .map(([cmd, f]) => {
    const file = f.startsWith('/') ? f : (files[f] ?? path.join(tmp, f));
    return { argv: [cmd, 'pgtable', '--config', file], named: [file] };
  });

const randomTokens: fc.Arbitrary<Case> = fc
  .oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ maxLength: 60 }).map((t) => `isr2.${t}`),
    fc.string({ maxLength: 60 }).map((t) => `isr1.${t}`),
  )
  .filter((t) => !t.includes('\0') && !t.trimStart().startsWith('-'))
  .map((t) => ({ argv: ['replay', '--token', t], named: [t.trim() === '' ? "''" : t.trim().slice(0, 20)] }));

const tokens: fc.Arbitrary<Case> = fc
  .tuple(fc.nat(), fc.constantFrom(...'ABCabc019-_.'), fc.boolean())
  .map(([pos, ch, drop]) => {
    const t = encodeToken(good);
    const i = pos % t.length;
    let bad = drop ? t.slice(0, i) + t.slice(i + 1) : t.slice(0, i) + ch + t.slice(i + 1);
    if (bad === t) bad = `${t}x`;
    return { argv: ['replay', '--token', bad], named: [bad.slice(0, 20)] };
  });

const reproFiles: fc.Arbitrary<Case> = fc
  .constantFrom(
    ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => `truncated-${i}.json`),
    'huge-schedule.json',
    'huge-steps.json',
    'huge-ops.json',
    'many-cpus.json',
    'many-timers.json',
    'wrong-version.json',
    'not-repro.json',
    'huge-repro.json',
    'a-dir',
    'a-fifo',
    'missing.json',
    '/dev/zero',
  )
  .map((f) => {
    const file = f.startsWith('/') ? f : (files[f] ?? path.join(tmp, f));
    return { argv: ['replay', file], named: [file] };
  });

const scenarioFiles: fc.Arbitrary<Case> = fc
  .tuple(fc.constantFrom(...Object.keys(SCENARIO_FILES)), fc.constantFrom('list', 'run', 'explore', 'replay'))
  .map(([name, cmd]) => {
    const file = files[`scenario-${name}.mjs`]!;
    const argv =
      cmd === 'replay'
        ? ['replay', '--scenario-file', file, '--token', encodeToken(good)]
        : [cmd, '--scenario-file', file];
    return { argv, named: [file] };
  });

const reportDirs: fc.Arbitrary<Case> = fc
  .tuple(
    fc.constantFrom('run', 'bench', 'merge'),
    fc.constantFrom('/proc/nope/x', '/proc', '/sys/x', '/dev/null/x', 'REGULAR', 'REGULAR/out', ''),
  )
  .map(([cmd, d]) => {
    const dir = d.replace('REGULAR', files['regular-file']!);
    const argv =
      cmd === 'merge'
        ? ['merge', tmp, '--report-dir', dir]
        : cmd === 'bench'
          ? ['bench', '--report-dir', dir]
          : ['run', 'pgtable', '--report-dir', dir];
    return { argv, named: [dir === '' ? "''" : dir] };
  });

const usage: fc.Arbitrary<Case> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('--bogus', '--tiem', '--workers-x', '--jsonn'),
      fc.constantFrom('run', 'explore', 'replay', 'list', 'bench', 'merge'),
    )
    .map(([opt, cmd]) => ({ argv: [cmd, opt], named: [opt] })),
  fc.constantFrom('runn', 'explor', 'lists', 'x').map((cmd) => ({ argv: [cmd], named: [cmd] })),
  fc
    .tuple(fc.constantFrom('run', 'explore'), fc.constantFrom('pgtablex', 'nope', 'PGTABLE', 'pg table'))
    .map(([cmd, s]) => ({ argv: [cmd, s], named: [s] })),
  fc
    .tuple(fc.constantFrom(...commands), fc.constantFrom(...scenarioNames), fc.constantFrom('nope', 'CORRECT', 'x y'))
    .map(([cmd, s, v]) => ({ argv: [cmd, s, '--variant', v], named: [v] })),
  fc.constantFrom('banana', 'all,', 'ENGINE').map((s) => at('--suite', s, 'bench')),
  fc.constantFrom('engine', 'pasid').map((s) => ({ argv: ['bench', '--suite', s, '--seed', '3'], named: ['--seed'] })),
  fc
    .constantFrom('engine', 'iova', 'pasid')
    .map((s) => ({ argv: ['bench', '--suite', s, '--ops', '5'], named: ['--ops'] })),
  fc.constantFrom(',', 'single,,strict').map((s) => at('--fq', s, 'bench')),
  fc.constant({ argv: ['bench', '--fq', 'percpu,x'], named: ["'x'"] }),
  fc.constantFrom('-1', '10000001', 'x', '1,,2').map((s) => at('--flush-cost', s, 'bench')),
  fc.constantFrom('fast', 'PARALLEL').map((s) => at('--mode', s, 'run', 'pgtable')),
  fc
    .constantFrom('--ops=5', '--slice=5ms', '--watchdog=5s')
    .map((f) => ({ argv: ['run', 'pgtable', '--mode', 'explore', f], named: [f.split('=')[0]!] })),
  fc.constant({ argv: ['explore', 'pgtable', '--strategy', 'random', '--depth', '2'], named: ['--depth'] }),
  fc
    .constantFrom('NOPE', 'PT-LEAK,NOPE')
    .map((s) => ({ argv: ['explore', 'pgtable', '--stop-on', s], named: ["'NOPE'"] })),
);

const anyCase: fc.Arbitrary<Case & { json: boolean }> = fc
  .tuple(
    fc.oneof(
      durations,
      integers,
      shards,
      params,
      configs,
      tokens,
      randomTokens,
      reproFiles,
      scenarioFiles,
      reportDirs,
      usage,
    ),
    fc.boolean(),
  )
  .map(([c, json]) => ({ ...c, json, argv: json ? [...c.argv, '--json'] : c.argv }));

/** The checks every case must pass, whichever way it ran. */
function judge(c: Case & { json: boolean }, r: Outcome): void {
  const where =
    `${c.argv.join(' ').slice(0, 200)}\nstdout: ${r.stdout.slice(0, 400)}\n` + `stderr: ${r.stderr.slice(0, 400)}`;
  expect(r.code, where).toBe(2);
  expect(STACK.test(r.stderr) || STACK.test(r.stdout), where).toBe(false);
  let message = r.stderr;
  if (c.json) {
    const doc = JSON.parse(r.stdout) as { error: { kind: string; message: string }; exitCode: number };
    expect(doc.error.kind, where).toBe('bad-input');
    expect(doc.exitCode, where).toBe(2);
    message = doc.error.message;
  } else {
    expect(r.stdout, where).toBe('');
  }
  const want = `${where}\nexpected the message to name one of ${JSON.stringify(c.named)}`;
  expect(
    c.named.some((n) => message.includes(n)),
    want,
  ).toBe(true);
}

async function inProcess(argv: readonly string[]): Promise<Outcome> {
  const io = memoryIo(argv);
  const code = await main(argv, io);
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

function child(argv: readonly string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
    delete env.NODE_OPTIONS;
    const p = spawn(process.execPath, [cliJs, ...argv], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // A hung CLI would hang the suite: the kill only bounds the damage; the exit code check then fails.
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: stdout.replace(/\n$/, ''), stderr: stderr.replace(/\n$/, '') });
    });
  });
}

describe('fuzzing the front door', () => {
  it('1,200 malformed invocations in-process: exit 2, the bad value named, no stack, one JSON document', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(anyCase, async (c) => {
        judge(c, await inProcess(c.argv));
        n++;
      }),
      { seed: Number(process.env.FUZZ_SEED ?? 20261206), numRuns: 1_200, endOnFailure: true },
    );
    expect(n).toBe(1_200);
  }, 120_000);

  it('a sample of 20 as child processes behaves exactly as in-process', async () => {
    const sample = fc.sample(anyCase, { seed: 11, numRuns: 20 });
    const results: Outcome[] = [];
    for (let i = 0; i < sample.length; i += 4) {
      results.push(...(await Promise.all(sample.slice(i, i + 4).map((c) => child(c.argv)))));
    }
    for (const [i, c] of sample.entries()) {
      const r = results[i]!;
      judge(c, r);
      const mine = await inProcess(c.argv);
      expect(r.stdout, c.argv.join(' ')).toBe(mine.stdout);
      expect(r.code).toBe(mine.code);
    }
  }, 120_000);
});

describe('--json on every exit', () => {
  it('exit 3 prints one JSON document too, and keeps the stack on stderr', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'isr-json3-'));
    // A scenario that passes the shape check, then throws when `list` reads it again: an internal error (exit 3).
    const file = path.join(dir, 'late-throw.mjs');
    writeFileSync(
      file,
      `let reads = 0;
export default {
  name: 'late-throw', get summary() { if (++reads > 1) throw new RangeError('summary blew up'); return 's'; },
  follows: 'f', exploreCpus: 1, exploreOps: 1, invariants: [], params: {},
  variants: [{ name: 'a', summary: 's', expect: 'clean' }], build() { return {}; },
};`,
    );
    const r = await inProcess(['list', '--scenario-file', file, '--json']);
    expect(r.code).toBe(3);
    const doc = JSON.parse(r.stdout) as { error: { kind: string; message: string }; exitCode: number };
    expect(doc).toEqual({ error: { kind: 'harness', message: 'internal error: summary blew up' }, exitCode: 3 });
    expect(r.stderr).toMatch(/^iommu-stress: harness failure: RangeError: summary blew up\n\s+at /);
    expect(r.stderr).toMatch(STACK);
    // A module is evaluated once per process (its read counter is spent): the plain run gets a fresh copy.
    const copy = path.join(dir, 'late-throw-2.mjs');
    writeFileSync(copy, readFileSync(file, 'utf8'));
    const plain = await inProcess(['list', '--scenario-file', copy]);
    expect(plain.code).toBe(3);
    expect(plain.stderr).toMatch(/^iommu-stress: harness failure: RangeError: summary blew up\n\s+at /);
  });
});
