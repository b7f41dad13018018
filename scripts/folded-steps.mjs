#!/usr/bin/env node
/**
 * Folded steps survey (issue 13 item 3): which scheduling points make more than one shared write in one
 * explore step, and which writes follow a lock release within the same step — the places where a model
 * may hide a window from explore. Counts Atomics writes (store/add/sub/exchange/compareExchange/or/and;
 * plain typed-array stores are not seen, and checker state counts too) over 20 random executions of
 * every built-in variant at twice its explore ops. Prints, per scenario and site, the most distinct words
 * one step wrote and the writes after a release; then those writes by source line. Each site it lists
 * needs a scheduling point per racing access or a comment saying why none is observable.
 * Usage (after npx tsc -b): node scripts/folded-steps.mjs
 */
const D = new URL('../dist', import.meta.url).pathname;
const { allocateMemory } = await import(D + '/src/engine/layout.js');
const { withDefaults } = await import(D + '/src/engine/scenario.js');
const { runExecution } = await import(D + '/src/explore/execution.js');
const { RandomScheduler } = await import(D + '/src/explore/random.js');
const { SCENARIOS } = await import(D + '/src/scenarios/index.js');
let writes = 0, afterRelease = 0, released = false, on = false;
const words = new Set();
const locs = new Map();
for (const f of ['store', 'add', 'sub', 'exchange', 'compareExchange', 'or', 'and']) {
  const orig = Atomics[f];
  Atomics[f] = function (ta, i, ...rest) {
    if (on) {
      writes++; words.add(i);
      if (released) { afterRelease++; const fr = new Error().stack.split('\n').slice(2).find((l) => !l.includes('sync.js') && !l.includes('folded.mjs')) ?? ''; const m = /\/(src\/[^:]+:\d+)/.exec(fr); locs.set(m ? m[1] : fr.trim(), (locs.get(m ? m[1] : fr.trim()) ?? 0) + 1); }
      if (f === 'exchange' && rest[0] === 0) released = true;
    }
    return orig.call(Atomics, ta, i, ...rest);
  };
}
const stats = new Map(); // site -> {steps, maxWrites, maxWords, afterRelease}
for (const s of SCENARIOS) for (const v of s.variants) {
  const params = withDefaults(s, s.exploreParams);
  const opsPerCpu = Array(s.exploreCpus).fill(s.exploreOps * 2);
  const model = s.build({ cpus: opsPerCpu.length, variant: v, params });
  const mem = allocateMemory(model.layout);
  for (let seed = 1; seed <= 20; seed++) {
    const per = [];
    const inner = new RandomScheduler(seed);
    const sched = { newExecution: (...a) => inner.newExecution(...a), nextCpu: (r, c) => { if (on) per.push([writes, words.size, afterRelease]); writes = 0; afterRelease = 0; released = false; words.clear(); on = true; return inner.nextCpu(r, c); } };
    writes = 0; on = false;
    const res = runExecution({ scenario: s, model, mem, opSeed: seed * 7919, opsPerCpu, maxSteps: 1e6, trace: true }, sched);
    per.push([writes, words.size, afterRelease]); on = false;
    const steps = res.trace.filter((e) => e.kind === 'step');
    steps.forEach((e, k) => {
      const [w, nw, ar] = per[k] ?? [0, 0, 0];
      const key = `${s.name}: ${e.site}`;
      const st = stats.get(key) ?? { steps: 0, maxWrites: 0, maxWords: 0, afterRelease: 0, variants: new Set() };
      st.steps++; st.maxWrites = Math.max(st.maxWrites, w); st.maxWords = Math.max(st.maxWords, nw); st.afterRelease += ar;
      if (nw > 1) st.variants.add(v.name);
      stats.set(key, st);
    });
  }
}
for (const [k, st] of [...stats].sort()) if (st.maxWords > 1 || st.afterRelease > 0)
  console.log(`${k.padEnd(70)} steps ${String(st.steps).padStart(6)}  max words written ${st.maxWords}  writes-after-release ${st.afterRelease}`);

console.log('\nwrites after a release, by code location:');
for (const [l, n] of [...locs].sort((a, b) => b[1] - a[1])) console.log(String(n).padStart(7), l);
