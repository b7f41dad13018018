#!/usr/bin/env node
/**
 * For every model's racing bug variant (test/helpers/stress-repro.ts): stress runs (2 workers, bounded by
 * ops) over N seeds, and for each failing one, whether explore finds the same invariant on its op programs
 * within S schedules — asking for the invariant the threads broke (reproduceStressFailure's `want`: another
 * one found first is only a fallback, and the search goes on). Prints a Markdown table: the stress-found
 * invariants, how many runs explore answered with the same one, another one, or nothing, and the schedules
 * each search took. Usage (after npx tsc -b):
 *   node scripts/stress-repro-check.mjs [--seeds 5] [--schedules 2000] [--only pgtable,iova]
 */
import { STRESS_REPRO_CASES, stressRepro } from '../dist/test/helpers/stress-repro.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const seeds = Number(flag('--seeds', '5'));
const schedules = Number(flag('--schedules', '2000'));
const only = flag('--only', undefined)?.split(',');
console.log(`seeds 1-${seeds}, at most ${schedules} explore schedules per failing run`);
console.log('| model/variant | stress runs that failed | stress found | explore: same | other | none | schedules |');
console.log('|---|---|---|---|---|---|---|');
for (const [name, variant, ops, over] of STRESS_REPRO_CASES) {
  if (only && !only.includes(name)) continue;
  let failed = 0;
  let same = 0;
  let other = 0;
  let none = 0;
  const found = new Map();
  const scheds = [];
  const notes = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await stressRepro(name, variant, ops, [seed], schedules, over);
    if (r.stressInvariant === undefined) continue;
    failed++;
    found.set(r.stressInvariant, (found.get(r.stressInvariant) ?? 0) + 1);
    scheds.push(r.schedules);
    if (r.exploreInvariant === r.stressInvariant) same++;
    else if (r.exploreInvariant) {
      other++;
      notes.push(`seed ${seed}: ${r.stressInvariant} -> ${r.exploreInvariant}`);
    } else {
      none++;
      notes.push(`seed ${seed}: ${r.stressInvariant} not found (${r.failing})`);
    }
  }
  const inv = [...found].map(([k, n]) => `${k} x${n}`).join(', ') || '-';
  const regime = over
    ? ` (${Object.entries(over)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`
    : '';
  console.log(
    `| ${name}/${variant}${regime} | ${failed}/${seeds} | ${inv} | ${same} | ${other} | ${none} | ${scheds.join(', ') || '-'} |` +
      (notes.length ? ` ${notes.join('; ')}` : ''),
  );
}
