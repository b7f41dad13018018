#!/usr/bin/env node
/**
 * Folded steps survey (issue 13 item 3): which scheduling points make more than one shared write in one
 * explore step, and which writes follow a lock release within the same step — the places where a model
 * may hide a window from explore. Counts Atomics writes (store/add/sub/exchange/compareExchange/or/and;
 * plain typed-array stores are not seen) over 20 random executions of every built-in variant at twice its
 * explore ops. Writes are sorted by the layout region they land in: lock words (written inside
 * engine/sync), harness regions (checkers' shadows, oracles, statistics: HARNESS below; they are judged
 * atomically on purpose) and model words, the kernel state another vCPU could race on. The last step of
 * an execution is left out (the quiescent teardown after it would be counted into it).
 * Prints, per scenario and site that wrote more than one model word in a step (or wrote one after a
 * release), the most model words one step wrote and the regions; `--all` also lists lock and harness
 * words. Each site listed needs a scheduling point per racing access or a comment at that spot saying why
 * no other vCPU can observe the state in between (and an assertion of the lock that makes it so).
 * Usage (after npx tsc -b): node scripts/folded-steps.mjs [--all]
 */
const D = new URL('../dist', import.meta.url).pathname;
const { allocateMemory } = await import(D + '/src/engine/layout.js');
const { withDefaults } = await import(D + '/src/engine/scenario.js');
const { runExecution } = await import(D + '/src/explore/execution.js');
const { RandomScheduler } = await import(D + '/src/explore/random.js');
const { SCENARIOS } = await import(D + '/src/scenarios/index.js');
const ALL = process.argv.includes('--all');

/** Regions the harness owns (checkers, oracles, statistics, latency): not kernel state. */
const HARNESS =
  /^(shadow\.|pt\.shadow|fq\.(oracle|clearAt|syncAt|unmapUs|peak|acct|expHist)|lat\.|chk\.|hyp\.stats|mapsg\.|dma\.|cnt\.made|owner\.tag|vm\.changes|cost\.ns|harness\.|iotlb\.flushes)/;

let regionOf = () => '?';
let on = false;
let released = false;
/** Per step: model words written, model words written after a release, regions touched. */
let words = new Set();
let afterRelease = 0;
let regions = new Set();
const viewKind = (ta) => (ta instanceof Int32Array ? 'i32' : ta instanceof BigInt64Array ? 'i64' : 'f64');
for (const f of ['store', 'add', 'sub', 'exchange', 'compareExchange', 'or', 'and']) {
  const orig = Atomics[f];
  Atomics[f] = function (ta, i, ...rest) {
    if (on) {
      const inSync = /engine\/sync\.js/.test(new Error().stack.split('\n')[2] ?? '');
      if (inSync) {
        if (f === 'exchange' && rest[0] === 0) released = true;
      } else {
        const r = regionOf(viewKind(ta), i);
        if (!HARNESS.test(r)) {
          words.add(`${viewKind(ta)}:${i}`);
          regions.add(r);
          if (released) afterRelease++;
        } else if (ALL) regions.add(`(${r})`);
      }
    }
    return orig.call(Atomics, ta, i, ...rest);
  };
}

function regionLookup(layout) {
  const byKind = { i32: [], i64: [], f64: [] };
  for (const r of Object.values(layout.regions)) byKind[r.kind].push(r);
  return (kind, i) => {
    for (const r of byKind[kind]) {
      const len = r.perCpu ? r.stride * layout.cpus : r.count;
      if (i >= r.base && i < r.base + len) return r.name;
    }
    return '?';
  };
}

const exceptions = [];
const stats = new Map(); // scenario: site -> {steps, maxWords, afterRelease, regions}
for (const s of SCENARIOS)
  for (const v of s.variants) {
    const params = withDefaults(s, s.exploreParams);
    const opsPerCpu = Array(s.exploreCpus).fill(s.exploreOps * 2);
    const model = s.build({ cpus: opsPerCpu.length, variant: v, params });
    const mem = allocateMemory(model.layout);
    regionOf = regionLookup(model.layout);
    for (let seed = 1; seed <= 20; seed++) {
      const per = [];
      const inner = new RandomScheduler(seed);
      const begin = () => {
        words = new Set();
        regions = new Set();
        afterRelease = 0;
        released = false;
      };
      const sched = {
        newExecution: (...a) => inner.newExecution(...a),
        nextCpu: (r, c) => {
          if (on) per.push([words.size, afterRelease, regions]);
          begin();
          on = true;
          return inner.nextCpu(r, c);
        },
      };
      on = false;
      const res = runExecution(
        { scenario: s, model, mem, opSeed: seed * 7919, opsPerCpu, maxSteps: 1e6, trace: true },
        sched,
      );
      on = false;
      // An assertion of a fold's lock (engine/assert-locked.ts) throws: the survey must not hide it.
      if (res.violation?.invariant === 'EXCEPTION')
        exceptions.push(`${s.name}/${v.name} seed ${seed}: ${res.violation.message}`);
      const steps = res.trace.filter((e) => e.kind === 'step');
      steps.forEach((e, k) => {
        if (k >= per.length) return; // the last step: teardown writes would be counted into it
        const [nw, ar, rg] = per[k];
        const key = `${s.name}: ${e.site}`;
        const st = stats.get(key) ?? { steps: 0, maxWords: 0, afterRelease: 0, regions: new Set() };
        st.steps++;
        st.maxWords = Math.max(st.maxWords, nw);
        st.afterRelease += ar;
        if (nw > 1 || ar > 0 || ALL) for (const r of rg) st.regions.add(r);
        stats.set(key, st);
      });
    }
  }
console.log(`${'scenario: site'.padEnd(58)} ${'steps'.padStart(6)} words after-rel  regions`);
for (const [k, st] of [...stats].sort())
  if (st.maxWords > 1 || st.afterRelease > 0 || (ALL && st.regions.size > 0))
    console.log(
      `${k.padEnd(58)} ${String(st.steps).padStart(6)} ${String(st.maxWords).padStart(5)} ${String(st.afterRelease).padStart(9)}  ${[...st.regions].sort().join(' ')}`,
    );
for (const e of exceptions) console.log(`EXCEPTION ${e}`);
if (exceptions.length > 0) process.exitCode = 1;
