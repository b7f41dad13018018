#!/usr/bin/env node
/**
 * Stress detection figures for bug variants (issue 12 item 4: found by stress within 30 s on 2 workers
 * for at least 8 of 10 seeds), and soak figures for clean ones: each variant run in stress mode on N
 * seeds through the CLI; per variant, how many seeds saw an expected invariant and how long (the run's
 * durationMs, from when every worker runs ops). Opt-in: long, not in npm test.
 * Usage: node scripts/stress-detect.mjs [--seeds 10] [--time 30s] [--workers 2] scen/var[,scen/var...]
 * Prints a Markdown table.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : dflt;
};
const seeds = Number(flag('--seeds', '10'));
const time = flag('--time', '30s');
const workers = flag('--workers', '2');
const items = (args[0] ?? '').split(',').filter(Boolean).map((x) => x.split('/'));
if (items.length === 0 || items.some((x) => x.length !== 2)) {
  console.error('usage: node scripts/stress-detect.mjs [--seeds N] [--time D] [--workers W] scenario/variant[,...]');
  process.exit(2);
}
const cli = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'src', 'cli.js');
const dir = mkdtempSync(path.join(tmpdir(), 'stress-detect-'));
console.log('| variant | expect | seeds as expected | durations (s) | median (s) |');
console.log('|---|---|---|---|---|');
for (const [s, v] of items) {
  const secs = [];
  let found = 0;
  let expect = '';
  for (let seed = 1; seed <= seeds; seed++) {
    const argv = [cli, 'run', s, '--variant', v, '--mode', 'stress', '--workers', workers, '--time', time];
    argv.push('--seed', String(seed), '--json', '--report-dir', path.join(dir, `${s}-${v}-${seed}`));
    const r = spawnSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 1 << 28 });
    const res = JSON.parse(r.stdout).results[0];
    expect = res.expected;
    // A bug variant passes when an expected invariant tripped; a clean one when nothing did.
    const ok = res.verdict === 'pass';
    if (ok) found++;
    secs.push(ok ? (res.durationMs / 1000).toFixed(1) : `miss(${res.observed})`);
  }
  const nums = secs.map(Number).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const median = nums.length ? nums[Math.floor(nums.length / 2)] : '-';
  console.log(`| ${s}/${v} | ${expect} | ${found}/${seeds} | ${secs.join(' ')} | ${median} |`);
}
rmSync(dir, { recursive: true, force: true });
