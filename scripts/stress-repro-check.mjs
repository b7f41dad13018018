#!/usr/bin/env node
/**
 * For every model's racing bug variant (test/helpers/stress-repro.ts): stress runs (2 workers, bounded by
 * ops) over N seeds, and for each failing one, whether explore finds the same invariant on its op programs
 * within S schedules. Prints a Markdown table. Usage (after npx tsc -b):
 *   node scripts/stress-repro-check.mjs [--seeds 5] [--schedules 2000] [--only pgtable,iova]
 */
import { STRESS_REPRO_CASES, stressRepro } from '../dist/test/helpers/stress-repro.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const seeds = Number(flag('--seeds', '5'));
const schedules = Number(flag('--schedules', '2000'));
const only = flag('--only', undefined)?.split(',');
console.log('| model/variant | stress runs that failed | explore found the same invariant | other invariant | nothing |');
console.log('|---|---|---|---|---|');
for (const [name, variant, ops] of STRESS_REPRO_CASES) {
  if (only && !only.includes(name)) continue;
  let failed = 0, same = 0, other = 0, none = 0;
  const notes = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await stressRepro(name, variant, ops, [seed], schedules);
    if (r.stressInvariant === undefined) continue;
    failed++;
    if (r.exploreInvariant === r.stressInvariant) same++;
    else if (r.exploreInvariant) { other++; notes.push(`seed ${seed}: ${r.stressInvariant} -> ${r.exploreInvariant}`); }
    else { none++; notes.push(`seed ${seed}: ${r.stressInvariant} not found (${r.failing})`); }
  }
  console.log(`| ${name}/${variant} | ${failed}/${seeds} | ${same} | ${other} | ${none} |${notes.length ? ` ${notes.join('; ')}` : ''}`);
}
