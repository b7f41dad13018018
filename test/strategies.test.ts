/**
 * The explore strategies' one table (src/explore/strategies.ts) feeds the command line's choices, the
 * config schema and the scheduler factory; the default is the table's. The commands run in-process
 * (main(argv, io)), except --help: Commander prints it through the process's own hooks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PctScheduler } from '../src/explore/pct.js';
import { RandomScheduler } from '../src/explore/random.js';
import { DEFAULT_STRATEGY, makeScheduler, STRATEGIES, STRATEGY_TABLE } from '../src/explore/strategies.js';
import { iommu, json } from './helpers/cli.js';
import { iommuIn } from './helpers/in-process.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'iommu-strategies-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('strategy table', () => {
  it('names each strategy once, with help, and the default is one of them', () => {
    expect(new Set(STRATEGIES).size).toBe(STRATEGY_TABLE.length);
    expect(STRATEGIES).toContain(DEFAULT_STRATEGY);
    for (const s of STRATEGY_TABLE) expect(s.help.length).toBeGreaterThan(10);
  });

  it('the factory builds the strategy the table names', () => {
    expect(makeScheduler('pct', 1, 3, 100)).toBeInstanceOf(PctScheduler);
    expect(makeScheduler('random', 1, 3, 100)).toBeInstanceOf(RandomScheduler);
  });

  it("the CLI offers exactly the table's names, and an unknown one is exit 2 listing them", async () => {
    const help = iommu('explore', '--help').stdout.replace(/\s+/g, ' ');
    for (const s of STRATEGY_TABLE)
      expect(help).toContain(`${s.name}${s.name === DEFAULT_STRATEGY ? ' (default)' : ''}:`);
    const bad = await iommuIn('explore', 'counter', '--strategy', 'nope');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`Allowed choices are ${STRATEGIES.join(', ')}.`);
  });

  it("the config schema accepts the table's names and rejects others; explore without one uses the default", async () => {
    const bad = path.join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ strategy: 'nope' }));
    const r = await iommuIn('explore', 'counter', '--config', bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(STRATEGIES.map((n) => `"${n}"`).join('|'));
    for (const name of STRATEGIES) {
      const good = path.join(tmp, `${name}.json`);
      writeFileSync(good, JSON.stringify({ strategy: name, schedules: 3, seed: 1 }));
      const ok = await iommuIn('explore', 'counter', '--config', good, '--json');
      expect(ok.code).toBe(0);
      expect(json<{ strategy: string }>(ok).strategy).toBe(name);
    }
    const dflt = await iommuIn('explore', 'counter', '--schedules', '3', '--seed', '1', '--json');
    expect(json<{ strategy: string }>(dflt).strategy).toBe(DEFAULT_STRATEGY);
  });
});
