#!/usr/bin/env node
/**
 * Where do dfs's executions come from? Runs `explore --strategy dfs` of one configuration (with the
 * reduction on) and counts, per shared location, the races that added a task to a backtrack set: each
 * such race is a branch point, so the top locations are the conflicts that multiply the executions.
 *
 *   node scripts/dfs-races.mjs flushq 2 1 [variant] [sc|weak] [key=value ...]
 *
 * Prints executions, pruned, the wall time, then "races  location" rows, most first ("(unknown)": a step
 * whose accesses could not be seen). The executions are untimed, as dfs runs them (explore/execution.ts).
 * Task numbers past the vCPUs are timers (cpu<N> with N = vCPUs + timer id).
 */
import { findScenario } from '../dist/src/scenarios/index.js';
import { withDefaults } from '../dist/src/engine/scenario.js';
import { allocateMemory } from '../dist/src/engine/layout.js';
import { mix32 } from '../dist/src/engine/rng.js';
import { DfsScheduler } from '../dist/src/explore/dfs.js';
import { runExecution } from '../dist/src/explore/execution.js';
import { Pruned } from '../dist/src/explore/scheduler.js';
import { locationName } from '../dist/src/engine/weak-memory.js';

const [name, cpus = '2', ops = '1', variantName, memory = 'sc', ...kv] = process.argv.slice(2);
const scenario = findScenario(name ?? '');
if (!scenario) {
  console.error(`usage: dfs-races.mjs SCENARIO CPUS OPS [VARIANT] [sc|weak] [key=value ...]`);
  process.exit(2);
}
const variant = variantName ? scenario.variants.find((v) => v.name === variantName) : scenario.variants[0];
if (!variant) {
  console.error(`no variant ${variantName}`);
  process.exit(2);
}
const params = withDefaults(scenario, {
  ...scenario.exploreParams,
  ...Object.fromEntries(kv.map((p) => p.split('=')).map(([k, v]) => [k, Number(v)])),
});
const model = scenario.build({ cpus: Number(cpus), variant, params });
const mem = allocateMemory(model.layout);
const byWord = new Map();
/** A footprint word's name: a buffer word, or the weak memory's own state (weak-memory.ts weakWord). */
const nm = (w) =>
  w >= 0
    ? locationName(model.layout, false, w)
    : w === -1
      ? 'G'
      : w > -1000
        ? `views[cpu${-2 - w}]`
        : `buffered[cpu${(-1000 - w) % 256}]:${locationName(model.layout, false, Math.floor((-1000 - w) / 256))}`;
const bySites = new Map();
/** The previous execution's site per step (races are found when the next one starts). */
let sites = new Map();
const s = new DfsScheduler({
  maxPreemptions: Infinity,
  por: true,
  memory,
  onBacktrack: (words, i, j) => {
    const names = words.length === 0 ? ['(unknown)'] : [...new Set(words.map(nm))];
    const site = (k) => sites.get(k) ?? '?';
    for (const n of names) {
      byWord.set(n, (byWord.get(n) ?? 0) + 1);
      const key = `${n}: ${site(i)} / ${site(j)}`;
      bySites.set(key, (bySites.get(key) ?? 0) + 1);
    }
  },
});
const w = s.watch(mem);
let runs = 0;
let pruned = 0;
const t0 = performance.now();
const opsPerCpu = Array(Number(cpus)).fill(Number(ops));
try {
  const cap = Number(process.env.CAP ?? Infinity);
  while (!s.exhausted() && runs < cap) {
    try {
      const r = runExecution(
        { scenario, model, mem: w.mem, opSeed: mix32(1, 0), opsPerCpu, maxSteps: 100_000, memory, trace: true },
        s,
      );
      sites = new Map(r.trace.filter((e) => e.kind === 'step').map((e) => [e.step, `cpu${e.cpu} ${e.site}`]));
      if (r.violation) {
        console.log(`violation: ${r.violation.invariant}: ${r.violation.message}`);
        break;
      }
    } catch (e) {
      if (e instanceof Pruned) {
        pruned++;
        continue;
      }
      throw e;
    }
    runs++;
    if (runs % 5000 === 0) console.error(`${runs} executions...`);
  }
} finally {
  w.stop();
}
console.log(`${runs} executions, ${pruned} pruned, ${((performance.now() - t0) / 1000).toFixed(2)} s`);
for (const [n, c] of [...bySites].sort((a, b) => b[1] - a[1]).slice(0, 25))
  console.log(`${String(c).padStart(7)}  ${n}`);
console.log('');
for (const [n, c] of [...byWord].sort((a, b) => b[1] - a[1]).slice(0, 25))
  console.log(`${String(c).padStart(7)}  ${n}`);
