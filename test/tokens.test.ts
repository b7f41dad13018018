/**
 * Tokens that last: every token an earlier version printed (README history, and a run of c2e7ccf, the
 * last isr1 version) still replays with the verdict it had; isr2 tokens carry a checksum, the tool version
 * and the model hash; a flipped character is exit 2, never a different execution; a token from other
 * model code replays with a warning naming both versions; bounds are checked before allocation.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { memoryIo } from '../src/cli/io.js';
import { decodeToken, encodeToken, readToken, type Repro } from '../src/explore/repro.js';
import { currentStamp, modelHash, moduleGraphHash, TOOL_VERSION } from '../src/explore/stamp.js';
import { BadInput } from '../src/errors.js';

/** The checksum as the encoder computes it (repro.ts): SHA-256 of the text, first 6 bytes, base64url. */
const checkOf = (body: string): string =>
  createHash('sha256').update(body).digest().subarray(0, 6).toString('base64url');

const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'tokens');

interface Fixture {
  token: string;
  source: string;
  scenario: string;
  variant: string;
  exitCode: number;
  invariant: string | null;
  traceHash: string;
  steps: number;
  format: string;
  modelHash: string;
}

interface ReplayJson {
  reproduced: boolean;
  violation: { invariant: string } | null;
  traceHash: string;
  warnings: string[];
  format: string;
  recordedWith: { toolVersion: string; modelHash: string } | null;
  replayedWith: { modelHash: string };
  sameTrace?: boolean;
}

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = memoryIo(argv);
  const code = await main(argv, io);
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ name: f, ...(JSON.parse(readFileSync(path.join(FIXTURES, f), 'utf8')) as Fixture) }));

describe('tokens recorded by earlier versions', () => {
  it('the fixtures cover every isr1 shape and isr2', () => {
    const formats = new Set(fixtures.map((f) => f.format));
    for (const f of ['isr1 (7 fields)', 'isr1 (8 fields)', 'isr1 (9 fields)', 'isr1 (10 fields)', 'isr2']) {
      expect(formats).toContain(f);
    }
    expect(fixtures.length).toBeGreaterThanOrEqual(15);
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('%s replays with its recorded verdict', async (_name, fx) => {
    const r = await cli('replay', '--token', fx.token, '--json');
    expect(r.code, r.stderr).toBe(fx.exitCode);
    const j = JSON.parse(r.stdout) as ReplayJson;
    expect(j.format).toBe(fx.format);
    expect(j.violation?.invariant ?? null).toBe(fx.invariant);
    if (j.replayedWith.modelHash === fx.modelHash) {
      // Same model code as when the expectation was recorded: bit for bit the same execution.
      expect(j.traceHash).toBe(fx.traceHash);
    }
    if (fx.format.startsWith('isr1')) {
      expect(j.recordedWith).toBeNull();
      expect(j.warnings).toHaveLength(1);
      expect(j.warnings[0]).toMatch(
        new RegExp(
          ': an isr1 token \\(\\d+ fields\\), recorded before repros carried ' +
            'a tool version and model hash; replaying on iommu-stress \\S+, model \\S+@[0-9a-f]{12}$',
        ),
      );
      expect(r.stderr).toContain(`warning: ${j.warnings[0]}`);
    } else if (j.recordedWith!.modelHash === j.replayedWith.modelHash) {
      expect(j.warnings).toEqual([]);
    }
  });

  it('the README token that "has the wrong shape" (9 fields under isr1) reproduces the lost MAP', async () => {
    const r = await cli('replay', '--token', fixtures.find((f) => f.format === 'isr1 (9 fields)')!.token);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^reproduced: V-INV1 .*lost MAP/m);
  });

  it('repro files of version 1 (no stamp) and 2 replay, with the same trace as recorded', async () => {
    for (const f of ['repro-v1-viommu-upstream.json', 'repro-v2-flushq-timer-teardown.json']) {
      const file = path.join(FIXTURES, 'files', f);
      const rec = JSON.parse(readFileSync(file, 'utf8')) as {
        violation: { invariant: string };
        traceHash: string;
        modelHash?: string;
        scenario: string;
      };
      const r = await cli('replay', file, '--json');
      expect(r.code, r.stderr).toBe(1);
      const j = JSON.parse(r.stdout) as ReplayJson;
      expect(j.violation?.invariant).toBe(rec.violation.invariant);
      if (rec.modelHash === undefined || rec.modelHash === modelHash(rec.scenario)) expect(j.sameTrace).toBe(true);
      expect(j.format).toBe(f.includes('v1') ? 'repro file v1' : 'repro file v2');
      expect(j.warnings.length).toBe(f.includes('v1') ? 1 : rec.modelHash === modelHash(rec.scenario) ? 0 : 1);
    }
  });
});

const sample: Repro = {
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

describe('isr2 tokens', () => {
  it('carry the tool version and the model hash, and round-trip', () => {
    const t = encodeToken(sample);
    expect(t).toMatch(/^isr2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{8}$/);
    const d = readToken(t);
    expect(d.repro).toEqual(sample);
    expect(d.stamp).toEqual({ toolVersion: TOOL_VERSION, modelHash: modelHash('pgtable') });
    expect(d.stamp!.modelHash).toMatch(/^[0-9a-f]{12}$/);
  });

  it('a token from other model code replays with a warning naming both versions', async () => {
    const t = encodeToken(sample, { toolVersion: '0.0.9', modelHash: '0123456789ab' });
    const r = await cli('replay', '--token', t);
    expect(r.code).toBe(1); // the execution itself is today's: the warning says it may differ
    const now = currentStamp('pgtable');
    expect(r.stderr).toBe(
      'warning: --token was recorded with iommu-stress 0.0.9, model pgtable@0123456789ab; ' +
        `replaying on iommu-stress ${now.toolVersion}, ` +
        `model pgtable@${now.modelHash}: the model code changed since, the execution may differ`,
    );
    const same = await cli('replay', '--token', encodeToken(sample), '--json');
    expect((JSON.parse(same.stdout) as ReplayJson).warnings).toEqual([]);
    expect(same.stderr).toBe('');
  });

  it('every changed character is exit 2 "token checksum mismatch" (or not a token), never an execution', async () => {
    const t = encodeToken(sample);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let checked = 0;
    for (let i = 0; i < t.length; i++) {
      for (const shift of [1, 17]) {
        const c = t[i]!;
        const other = c === '.' ? '_' : alphabet[(alphabet.indexOf(c) + shift) % alphabet.length]!;
        const bad = t.slice(0, i) + other + t.slice(i + 1);
        const r = await cli('replay', '--token', bad, '--json');
        expect(r.code, bad).toBe(2);
        expect((JSON.parse(r.stdout) as { error: { message: string } }).error.message, bad).toMatch(
          i < 5 ? /is not an iommu-stress token|checksum mismatch/ : /token checksum mismatch/,
        );
        checked++;
      }
    }
    expect(checked).toBe(2 * t.length);
  });

  it('a dropped or added character is a checksum mismatch too', () => {
    const t = encodeToken(sample);
    for (const bad of [t.slice(0, -1), `${t}A`, t.slice(0, 20) + t.slice(21), `${t.slice(0, 20)}A${t.slice(20)}`]) {
      expect(() => decodeToken(bad)).toThrow(/token checksum mismatch/);
    }
  });
});

describe('bounds before allocation', () => {
  /** An isr2 token with a valid checksum around arbitrary JSON: what a crafted token can do. */
  const crafted = (o: Record<string, unknown>): string => {
    const json = JSON.stringify({ tv: '0.1.0', mh: '000000000000', ...o });
    const body = `isr2.${deflateRawSync(Buffer.from(json)).toString('base64url')}`;
    return `${body}.${checkOf(body)}`;
  };
  const base = { s: 'pgtable', v: 'correct', p: {}, o: 1, n: [1, 1], d: [0, 5], x: 100, t: 0, k: [], h: [] };

  it.each([
    ['a 35 TB schedule', { d: [0, 2 ** 45], x: 2 ** 46 }, /field 'maxSteps'/],
    ['a schedule over the decision limit', { d: [0, 200_000_000], x: 1_000_000_000 }, /field 'schedule'/],
    ['a billion ops per vCPU', { n: [1e9, 1] }, /field 'opsPerCpu'/],
    ['300 vCPUs', { n: Array<number>(300).fill(1) }, /field 'opsPerCpu'/],
    ['1000 timers', { t: 1000 }, /field 'timers'/],
    ['a skip list longer than the program', { k: [[0, 0, 0]] }, /field 'skip'/],
    ['a 10,000-character scenario name', { s: 'x'.repeat(10_000) }, /field 'scenario'/],
    ['65 parameters', { p: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`p${i}`, 1])) }, /field 'params'/],
  ])('%s is exit 2', async (_what, change, message) => {
    const r = await cli('replay', '--token', crafted({ ...base, ...change }), '--json');
    expect(r.code).toBe(2);
    expect((JSON.parse(r.stdout) as { error: { message: string } }).error.message).toMatch(message);
  });

  it('a deflate bomb stops at the inflate limit', () => {
    const body = `isr2.${deflateRawSync(Buffer.alloc(12 << 20, 0x20)).toString('base64url')}`;
    expect(() => decodeToken(`${body}.${checkOf(body)}`)).toThrow(/inflates to more than/);
  });

  it('an isr1 token with a huge schedule is exit 2 too (isr1 has no checksum, but the same bounds)', () => {
    const fields = ['pgtable', 'correct', {}, 1, [1, 1], [0, 2 ** 45], 2 ** 46, 0];
    const t = `isr1.${deflateRawSync(Buffer.from(JSON.stringify(fields))).toString('base64url')}`;
    expect(() => decodeToken(t)).toThrow(BadInput);
  });
});

describe('the model hash', () => {
  it('differs per scenario, ignores comments and blank lines, and follows imports', () => {
    const all = ['pgtable', 'iova', 'flushq', 'viommu', 'mapsg', 'dma-iova', 'counter'];
    expect(new Set(all.map(modelHash)).size).toBe(7);
    const dir = mkdtempSync(path.join(tmpdir(), 'isr-hash-'));
    const entry = path.join(dir, 'scenario.js');
    writeFileSync(entry, "import { x } from './model.js';\nexport default x;\n");
    writeFileSync(path.join(dir, 'model.js'), 'export const x = 1;\n');
    const h0 = moduleGraphHash(entry);
    writeFileSync(path.join(dir, 'model.js'), '// a comment\n\nexport const x = 1;\n/** doc */\n');
    expect(moduleGraphHash(entry)).toBe(h0);
    writeFileSync(path.join(dir, 'model.js'), 'export const x = 2;\n');
    expect(moduleGraphHash(entry)).not.toBe(h0);
  });
});
