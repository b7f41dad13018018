#!/usr/bin/env node
/**
 * Where a model step's time goes (issue 13 item 5), in CPU time, so that it means something on a loaded
 * machine: every figure is the best of R rounds of process CPU time (run it with --single-threaded-gc so
 * that GC helper threads do not count), in one process, next to a raw Atomics.add measured the same way.
 *
 *   node --single-threaded-gc scripts/step-cost.mjs [--rounds 5] [--root DIR]
 *
 * Rows: Atomics.add; a flat step (generator resume + yield + Atomics.add, as the stress worker drives
 * it); a step through two levels of yield*; one op-like generator (7 arguments, 4 steps) created and
 * run per 4 steps; the explore executor around flat 64-step ops (random strategy: the executor's own
 * cost per step); pgtable/correct driven in this thread as a stress worker drives it (1 vCPU, coverage
 * off); explore pgtable 4 vCPUs x 96 ops (random), as the engine bench runs it, and with pct. `--root`
 * measures another build (a checkout's dist/), for a before/after on the same machine state.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const rounds = Number(flag('--rounds', '5'));
const root = path.resolve(flag('--root', path.join(path.dirname(new URL(import.meta.url).pathname), '..')));
const load = (p) => import(pathToFileURL(path.join(root, 'dist', 'src', p)).href);
const { explore } = await load('explore/explore.js');
const { findScenario } = await load('scenarios/index.js');
const { withDefaults } = await load('engine/scenario.js');
const { Cpu } = await load('engine/cpu.js');
const { Checker } = await load('check/checker.js');
const { allocateMemory } = await load('engine/layout.js');
const { opRng } = await load('engine/rng.js');
// Builds from before the stress worker detached andThen ops have no AndThen export: drive the op as is.
const { AndThen } = await load('engine/step-op.js');
const detaches = typeof AndThen?.prototype?.detach === 'function';

/** Best-of-rounds CPU ns per unit: `f` returns how many units it did. */
function cpuNs(f) {
  f();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    const units = f();
    const u = process.cpuUsage(c0);
    best = Math.min(best, ((u.user + u.system) * 1e3) / units);
  }
  return best;
}

const i32 = new Int32Array(new SharedArrayBuffer(64));
const N = 2_000_000;
const atomicsAdd = cpuNs(() => {
  for (let k = 0; k < N; k++) Atomics.add(i32, 0, 1);
  return N;
});
function* flat(n) {
  for (let k = 0; k < n; k++) {
    yield 'step';
    Atomics.add(i32, 0, 1);
  }
}
function* leaf() {
  yield 'step';
  Atomics.add(i32, 0, 1);
}
function* mid() {
  yield* leaf();
}
function* nested(n) {
  for (let k = 0; k < n; k++) yield* mid();
}
// An op as the models write one: a generator with a handful of arguments, a few steps, a result object.
function* opLike(cpu, iova, paddr, size, pgcount, lvl, table) {
  for (; lvl < 4; lvl++) {
    yield 'L pte read';
    Atomics.add(cpu, 0, (iova + paddr + size + pgcount + table) & 1);
  }
  return { ret: 0, mapped: size };
}
const drive = (g) => {
  let steps = 0;
  for (let r = g.next(); !r.done; r = g.next()) steps++;
  return steps;
};
const flatStep = cpuNs(() => drive(flat(N)));
const nestedStep = cpuNs(() => drive(nested(N / 4)));
const opStep = cpuNs(() => {
  let steps = 0;
  for (let k = 0; k < N / 4; k++) steps += drive(opLike(i32, k * 4096, 0x1000, 4096, 1, 0, 0));
  return steps;
});

const counter = findScenario('counter');
const flatScenario = {
  ...counter,
  sites: undefined,
  build: (cfg) => {
    const m = counter.build(cfg);
    return {
      ...m,
      quiescent() {},
      drain: undefined,
      judged: undefined,
      program: () => ({ next: () => flat(64), describe: () => 'flat x64' }),
    };
  },
};
const exploreFlat = cpuNs(() => {
  const r = explore({
    scenario: flatScenario,
    variant: counter.variants.find((v) => v.name === 'percpu'),
    params: withDefaults(counter, { stepsPerOp: 64 }),
    opsPerCpu: [8, 8, 8, 8],
    strategy: 'random',
    depth: 3,
    schedules: 200,
    timeMs: Infinity,
    seed: 1,
    maxSteps: 1e7,
    shrink: false,
  });
  return r.steps;
});

const pgtable = findScenario('pgtable');
const correct = pgtable.variants.find((v) => v.name === 'correct');
const model = pgtable.build({ cpus: 1, variant: correct, params: withDefaults(pgtable, {}) });
const mem = allocateMemory(model.layout);
model.init(mem);
const cpu = new Cpu(0, 'stress', mem, new Checker(pgtable.invariants), -1);
const prog = model.program(cpu, opRng(1, 0));
let stressOps = 0;
let stressSteps = 0;
const stressStep = cpuNs(() => {
  let steps = 0;
  for (let o = 0; o < 100_000; o++) {
    const op = prog.next();
    cpu.step = steps;
    // As workers/stress-worker.ts drives it: a checked model call's own op, then its check.
    const checked = detaches && op instanceof AndThen ? op : undefined;
    const run = checked ? checked.detach() : op;
    let r = run.next();
    for (; !r.done; r = run.next()) {
      cpu.site = r.value;
      steps++;
    }
    checked?.complete(r.value);
  }
  stressOps += 100_000;
  stressSteps += steps;
  return steps;
});
let exploreSteps = 0;
let exploreRuns = 0;
/** One explore campaign of pgtable/correct, 4 vCPUs x 96 ops (the engine bench's shape), 100 schedules. */
function explorePgtableCampaign(strategy) {
  return explore({
    scenario: pgtable,
    variant: correct,
    params: withDefaults(pgtable, {}),
    opsPerCpu: [96, 96, 96, 96],
    strategy,
    depth: 3,
    schedules: 100,
    timeMs: Infinity,
    seed: 1,
    maxSteps: 1e7,
    shrink: false,
  });
}
const explorePgtable = cpuNs(() => {
  const r = explorePgtableCampaign('random');
  exploreSteps += r.steps;
  exploreRuns += r.schedules;
  return r.steps;
});

// The default strategy (pct) switches vCPUs only at its change points and when the runner blocks: the
// same model without random's switch at nearly every step (each one resumes another generator chain).
const explorePct = cpuNs(() => explorePgtableCampaign('pct').steps);

const row = (what, ns) =>
  console.log(`${what.padEnd(58)} ${ns.toFixed(1).padStart(7)} ns  ${(ns / atomicsAdd).toFixed(1).padStart(6)}x`);
console.log(`CPU ns per unit, best of ${rounds} rounds (${root})`);
row('Atomics.add', atomicsAdd);
row('flat step (resume + yield + Atomics.add)', flatStep);
row('step through 2x yield*', nestedStep);
row('op-like generator (7 args, 4 steps), per step', opStep);
row('explore executor, flat 64-step ops, 4 vCPUs random, /step', exploreFlat);
row(`pgtable/correct stress loop, 1 vCPU, /step (${(stressSteps / stressOps).toFixed(2)} steps/op)`, stressStep);
row(`explore pgtable 4x96 random, /step (${Math.round(exploreSteps / exploreRuns)} steps/execution)`, explorePgtable);
row('explore pgtable 4x96 pct (the default strategy), /step', explorePct);
console.log(
  `=> stress ${(1e3 / stressStep).toFixed(2)} M steps/cpu-s, ` +
    `explore ${(1e3 / explorePgtable).toFixed(2)} M steps/cpu-s (pct ${(1e3 / explorePct).toFixed(2)})`,
);
