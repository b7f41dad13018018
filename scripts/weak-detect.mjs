#!/usr/bin/env node
/**
 * The engine bench's detection rows for the barrier variants only (the variants whose bug shows under
 * `--memory weak`): PCT depth 3, cap 1000 schedules, seeds 1..N (default 5), exactly as
 * `bench --suite engine` measures them, in its table format, without the rest of the bench (minutes).
 * Usage (after npx tsc -b): node scripts/weak-detect.mjs [seeds]
 */
import { detection } from '../dist/src/bench/engine-bench.js';
import { SCENARIOS } from '../dist/src/scenarios/index.js';

const seeds = Number(process.argv[2] ?? 5);
console.log('detection (PCT depth 3, cap 1000; seeds: found/seeds)  found   median   max');
for (const s of SCENARIOS) {
  for (const v of s.variants) {
    if (v.memory !== 'weak') continue;
    const t0 = Date.now();
    const d = detection(s, v.name, seeds, 1_000);
    const row = `${d.scenario}/${d.variant}${d.memory === 'weak' ? ' (weak)' : ''}`;
    console.log(
      `  ${row.padEnd(44)}${`${d.found}/${d.seeds}`.padStart(6)}  ${String(d.medianSchedules).padStart(6)}  ` +
        `${String(d.maxSchedules).padStart(5)}   (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
    );
  }
}
