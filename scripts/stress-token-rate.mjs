#!/usr/bin/env node
/**
 * How many stress failures come back with a replay token: every bug variant of every scenario, run in
 * stress mode (2 workers) over N seeds; per variant, the share of failing runs whose violation carries
 * a token. Usage: node scripts/stress-token-rate.mjs [--seeds 20] [--time 2s] [--ops N] [--only scen/var,...]
 * Prints a Markdown table (the figure in notes/repro-readme.md comes from it).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const flag = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const seeds = Number(flag('--seeds', '20'));
const time = flag('--time', '2s');
const ops = flag('--ops', undefined);
const only = flag('--only', undefined)?.split(',');
const cli = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'src', 'cli.js');

const list = JSON.parse(spawnSync(process.execPath, [cli, 'list', '--json'], { encoding: 'utf8' }).stdout);
const scenarios = Array.isArray(list) ? list : list.scenarios;
const items = [];
for (const s of scenarios) {
  for (const v of s.variants) {
    if (v.expect === 'clean' || (Array.isArray(v.expect) && v.expect.length === 0)) continue;
    if (only && !only.includes(`${s.name}/${v.name}`)) continue;
    items.push([s.name, v.name]);
  }
}
const dir = mkdtempSync(path.join(tmpdir(), 'token-rate-'));
const rows = [];
let allFail = 0, allTok = 0;
for (const [s, v] of items) {
  let failed = 0, tokens = 0, differs = 0;
  const misses = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const argv = [cli, 'run', s, '--variant', v, '--mode', 'stress', '--workers', '2', '--time', time, '--seed', String(seed),
      '--json', '--report-dir', path.join(dir, `${s}-${v}-${seed}`), ...(ops ? ['--ops', ops] : [])];
    const r = spawnSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 1 << 28 });
    let rep;
    try { rep = JSON.parse(r.stdout); } catch { misses.push(`seed ${seed}: exit ${r.status}, no JSON`); continue; }
    const res = rep.results[0];
    const viol = res.violations[0];
    if (!viol) continue;
    failed++;
    if (viol.token) tokens++; else misses.push(`seed ${seed}: ${viol.invariant} no token`);
    if (viol.stressSaw) differs++;
  }
  allFail += failed; allTok += tokens;
  rows.push(`| ${s}/${v} | ${failed}/${seeds} | ${tokens}/${failed} | ${failed ? Math.round((100 * tokens) / failed) : '-'}% | ${differs} |`);
  process.stderr.write(`${s}/${v}: ${tokens}/${failed} ${misses.join('; ')}\n`);
}
rmSync(dir, { recursive: true, force: true });
console.log('| variant | stress failed | with token | rate | replay ends elsewhere |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`| **all** | ${allFail} | ${allTok}/${allFail} | ${allFail ? ((100 * allTok) / allFail).toFixed(1) : '-'}% | |`);
