/**
 * The README runs (issue 11 item 2): every `iommu-stress` command the README shows is run, and its exit
 * code and the shape of its output are checked, so the README cannot drift from the tool. The commands
 * come from README.md at test time (it changes as sections are merged); nothing here lists them.
 *
 * Convention for README authors
 * - Commands are taken from ```console blocks (lines `$ npx iommu-stress ...`; the lines after one, up to
 *   the next `$` line or the end of the block, are its shown output) and from ```sh blocks (lines
 *   starting `npx iommu-stress ...`, no output shown). `iommu-stress ...` without npx works too.
 * - Expected exit code: a trailing comment `# exit N` on the command line says it. Otherwise it follows
 *   from the shown output: a `verdict: PASS` line is 0, `verdict: FAIL` 1; output opening with
 *   `violation ` (explore found one) or holding a `reproduced:` line (replay) is 1; other shown output is
 *   0. A command with no shown output and no comment must end in a verdict, 0 or 1 (never 2 or 3).
 * - Shape: the first shown output line that is not `…` must appear in the real output, with every number,
 *   hex value, token and path a wildcard and runs of spaces free (the padding may differ).
 * - Tokens: every `replay --token T` the README shows, in a command or in output (`reproduce: ...`), is
 *   replayed and must reproduce (exit 1): old tokens in the README must keep replaying.
 * - Budgets are shortened, never the command's meaning: `run` gets `--ops 200 --schedules 200 --time 10m`
 *   (bounded by work, not by the clock) unless it sets --ops/--schedules; `explore --time X` becomes
 *   `--schedules 500`; `bench --time X` becomes `--ops 20` for the fq and mapsg suites and `--time 100ms` (the shortest --time the CLI takes)
 *   otherwise (`bench --sim` of another suite keeps its own --ops: a simulated bench takes no --time), with `--detection-seeds 2` for the engine suite's detection table; and its lists (--flush-cost, --hypercall-cost, --segs) keep their first two values.
 *   Reports and repro files go to a temporary directory.
 * - How: two lanes at once, both in this process through main(argv, io), the binary's own entry: no Node
 *   start and CLI load (~0.5 s of CPU) per command. Commands that load a --scenario-file, or whose shown
 *   output names a place in the compiled code (`counter.js:80`), run on the compiled CLI of dist/
 *   (helpers/in-process-dist.ts), one after another: such a file imports the compiled dist/ modules, which
 *   are the CLI's own only in dist/ (under vitest, src/cli.ts's main() runs src/, and a stack names
 *   counter.ts). The others run on src/'s main(), one after another. The two lanes share no module.
 *   (The real binary's process plumbing is test/cli.test.ts's and test/fuzz-cli.test.ts's.)
 * - Not run: ```text blocks (transcripts that need files of an earlier step, or a Ctrl-C), and `npm ...`
 *   lines. `npm ci` reinstalls node_modules under the running tests, `npm test` is
 *   this suite, and `npm start` is `run --time 2s` over every scenario (half a minute of clock-bounded
 *   work); the last is checked for what it is: package.json's start script is an iommu-stress run.
 *   Commands in other blocks (json, yaml, the plain synopsis) are not run: they are not shown as typed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root, type CliResult } from './helpers/cli.js';
import { iommuIn } from './helpers/in-process.js';
import { iommuDist } from './helpers/in-process-dist.js';

interface Shown {
  readonly line: number;
  readonly command: string;
  readonly output: readonly string[];
  readonly block: 'console' | 'sh';
}

/** Every iommu-stress command in the README's console and sh blocks, with the output shown after it. */
export function readmeCommands(text: string): Shown[] {
  const lines = text.split('\n');
  const found: Shown[] = [];
  let block: string | undefined;
  let current: { line: number; command: string; output: string[]; block: 'console' | 'sh' } | undefined;
  const flush = () => {
    if (current) found.push(current);
    current = undefined;
  };
  lines.forEach((raw, k) => {
    const fence = /^```(\S*)/.exec(raw);
    if (fence) {
      if (block === undefined) block = fence[1] ?? '';
      else {
        flush();
        block = undefined;
      }
      return;
    }
    if (block === 'console') {
      const m = /^\$ (.*)$/.exec(raw);
      if (m) {
        flush();
        if (/^(npx )?iommu-stress\b/.test(m[1]!))
          current = { line: k + 1, command: m[1]!.trim(), output: [], block: 'console' };
      } else if (current) current.output.push(raw);
    } else if (block === 'sh' && /^(npx )?iommu-stress\b/.test(raw.trim())) {
      found.push({ line: k + 1, command: raw.trim(), output: [], block: 'sh' });
    }
  });
  return found;
}

/** The exit code the README implies, or undefined for "a verdict: 0 or 1". */
export function expectedExit(s: Shown): number | undefined {
  const c = /#\s*exit\s+(\d+)\s*$/.exec(s.command);
  if (c) return Number(c[1]);
  if (s.output.length === 0) return undefined;
  if (s.output.some((l) => /^verdict: PASS\b/.test(l))) return 0;
  if (s.output.some((l) => /^verdict: FAIL\b/.test(l))) return 1;
  const first = s.output.find((l) => l.trim() !== '' && l.trim() !== '…');
  if (first?.startsWith('violation ') || s.output.some((l) => /^reproduced:/.test(l))) return 1;
  return 0;
}

/** A regular expression for a shown output line: numbers, hex, tokens and paths free; spacing free. */
export function shapeOf(line: string): RegExp {
  const WILD = '\u0000';
  const wild: string[] = [];
  // Markers hold no digits (the number wildcard runs after the others): index 12 -> 'bc'.
  const keep = (re: string) => {
    wild.push(re);
    return `${WILD}${String(wild.length - 1).replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!)}${WILD}`;
  };
  const marked = line
    .trim()
    .replace(/\b[a-z]{2,6}\d\.[A-Za-z0-9_-]{8,}/g, () => keep('\\S+')) // a token
    .replace(/(^|\s)\/\S+/g, (_m, pre: string) => `${pre}${keep('\\S+')}`) // an absolute path
    .replace(/0x[0-9a-f]+/g, () => keep('0x[0-9a-f]+'))
    .replace(/\d+(?:[.,]\d+)*/g, () => keep('\\d+(?:[.,]\\d+)*'));
  const escaped = marked.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+');
  const index = (letters: string) => Number(letters.replace(/[a-j]/g, (c) => String(c.charCodeAt(0) - 97)));
  return new RegExp(escaped.replace(new RegExp(`${WILD}([a-j]+)${WILD}`, 'g'), (_m, i: string) => wild[index(i)]!));
}

/** The command with its budgets shortened and its output files in `tmp` (see the header). */
export function shortened(command: string, tmp: string, k: number): string[] {
  const args = command.replace(/#.*$/, '').trim().split(/\s+/);
  if (args[0] === 'npx') args.shift();
  args.shift(); // iommu-stress
  const cmd = args[0];
  const has = (f: string) => args.includes(f);
  const drop = (f: string) => {
    const i = args.indexOf(f);
    if (i >= 0) args.splice(i, 2);
  };
  const firstTwo = (f: string) => {
    const i = args.indexOf(f);
    if (i >= 0) args[i + 1] = args[i + 1]!.split(',').slice(0, 2).join(',');
  };
  if (cmd === 'run') {
    if (!has('--ops') && !has('--schedules')) {
      drop('--time');
      args.push('--ops', '200', '--schedules', '200', '--time', '10m');
    }
    if (!has('--report-dir')) args.push('--report-dir', path.join(tmp, `report-${k}`));
  } else if (cmd === 'explore') {
    if (has('--time')) {
      drop('--time');
      if (!has('--schedules')) args.push('--schedules', '500');
    }
    if (!has('--repro-file')) args.push('--repro-file', path.join(tmp, `repro-${k}.json`));
  } else if (cmd === 'bench') {
    const suite = args[args.indexOf('--suite') + 1];
    const opsSuite =
      suite === 'fq' ||
      suite === 'mapsg' ||
      (!has('--suite') &&
        ['--fq', '--flush-cost', '--flush', '--transfer', '--granule', '--hypercall-cost', '--segs'].some(has));
    drop('--time');
    // A simulated bench (--sim) refuses --time: it runs the --ops it is given (a few seconds at most in the
    // README), or 20 per vCPU for the fq and mapsg suites.
    if (opsSuite) args.push('--ops', '20');
    else if (!has('--sim')) args.push('--time', '100ms');
    // The engine suite's detection table: 2 PCT seeds per known-bug variant instead of 20.
    if (!opsSuite && (!has('--suite') || suite === 'engine' || suite === 'all')) args.push('--detection-seeds', '2');
    for (const f of ['--flush-cost', '--hypercall-cost', '--segs']) firstTwo(f);
    if (!has('--report-dir')) args.push('--report-dir', path.join(tmp, `bench-${k}`));
  }
  return args;
}

/** `replay --token T` commands the README shows anywhere in its console and sh blocks (output included). */
function shownTokens(text: string): string[] {
  return [...new Set([...text.matchAll(/iommu-stress replay --token (\S+)/g)].map((m) => m[1]!))];
}

/** A command that runs on the compiled CLI (see the header, "How"). */
const needsDist = (j: { readonly args: readonly string[]; readonly shown?: Shown }): boolean =>
  j.args.includes('--scenario-file') || (j.shown?.output.some((l) => /\.js:\d+/.test(l)) ?? false);

/** Two lanes at once: the commands on the compiled CLI, and those on src/'s. */
async function lanes(jobs: readonly { readonly args: string[]; readonly shown?: Shown }[]): Promise<CliResult[]> {
  const out: CliResult[] = Array(jobs.length);
  const lane = async (compiled: boolean) => {
    for (const [k, j] of jobs.entries())
      if (needsDist(j) === compiled) out[k] = await (compiled ? iommuDist(...j.args) : iommuIn(...j.args));
  };
  await Promise.all([lane(true), lane(false)]);
  return out;
}

const README = readFileSync(path.join(root, 'README.md'), 'utf8');
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'iommu-readme-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('the convention itself', () => {
  it('reads commands, outputs, exit codes and shapes as the header says', () => {
    const text = [
      '```console',
      '$ npx iommu-stress run a --time 5s',
      'PASS  a/b   1,234 ops in 5.0 s',
      'verdict: PASS  report: /x/y',
      '$ iommu-stress explore a   # exit 1',
      '```',
      '```sh',
      'npm test',
      'npx iommu-stress list',
      '```',
    ].join('\n');
    const c = readmeCommands(text);
    expect(c.map((x) => [x.command, expectedExit(x)])).toEqual([
      ['npx iommu-stress run a --time 5s', 0],
      ['iommu-stress explore a   # exit 1', 1],
      ['npx iommu-stress list', undefined],
    ]);
    expect(shapeOf(c[0]!.output[0]!).test('PASS a/b      99 ops in 0.1 s')).toBe(true);
    expect(shapeOf(c[0]!.output[0]!).test('FAIL a/b 99 ops in 0.1 s')).toBe(false);
    const v =
      'violation V-INV1 after 1 schedule(s) (seed 1): 0x6000 in the tree, token isr1.Jco7CoAwEEXRvUz9hMl, at /work/x.json';
    expect(
      shapeOf(v).test(
        'violation V-INV1 after 12 schedule(s) (seed 3): 0x7a00 in the tree, token isr2.AAAAAAAAAAAA, at /tmp/y.json',
      ),
    ).toBe(true);
    expect(
      shapeOf(v).test(
        'violation V-NR after 1 schedule(s) (seed 1): 0x6000 in the tree, token isr1.Jco7CoAwEEXRvUz9hMl, at /work/x.json',
      ),
    ).toBe(false);
    expect(shortened(c[0]!.command, '/t', 0)).toEqual([
      'run',
      'a',
      '--ops',
      '200',
      '--schedules',
      '200',
      '--time',
      '10m',
      '--report-dir',
      '/t/report-0',
    ]);
  });
});

describe('README.md', () => {
  const commands = readmeCommands(README);

  it('shows iommu-stress commands in console blocks (the test has something to check)', () => {
    expect(commands.filter((c) => c.block === 'console').length).toBeGreaterThanOrEqual(3);
  });

  it('npm start is an iommu-stress run', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toMatch(/node dist\/src\/cli\.js run\b/);
  });

  it('every command shown runs with the exit code and the first output line the README shows; every token replays', async () => {
    const tokens = shownTokens(README).filter((t) => !commands.some((c) => c.command.includes(t)));
    const jobs = [
      ...commands.map((c, k) => ({
        what: `README.md:${c.line}: ${c.command}`,
        args: shortened(c.command, tmp, k),
        shown: c,
      })),
      ...tokens.map((t) => ({
        what: `token shown in the README output: ${t}`,
        args: ['replay', '--token', t],
        shown: undefined,
      })),
    ];
    const results = await lanes(jobs);
    const failures: string[] = [];
    jobs.forEach((j, k) => {
      const r = results[k]!;
      const want = j.shown ? expectedExit(j.shown) : 1;
      const codeOk = want === undefined ? r.code === 0 || r.code === 1 : r.code === want;
      const first = j.shown?.output.find((l) => l.trim() !== '' && l.trim() !== '…');
      const shapeOk = first === undefined || shapeOf(first).test(`${r.stdout}\n${r.stderr}`);
      if (!codeOk || !shapeOk) {
        failures.push(
          `${j.what}\n  ran: iommu-stress ${j.args.join(' ')}\n  exit ${r.code} (README implies ${want ?? '0 or 1'})` +
            `${shapeOk ? '' : `\n  no output line shaped like: ${first}`}\n  stderr: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
        );
      }
    });
    expect(failures.join('\n\n')).toBe('');
  }, 900_000);
});
