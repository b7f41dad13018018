/**
 * `bench --calibrate`: the `this-machine` cost profile, measured here — a local Atomics op of each kind,
 * a cache line bounced between two worker threads, a park/unpark hand-off (Atomics.wait/notify), and the
 * model's own cost per step, by site, on the bench workloads (sim/model-cost.ts). Explicit costs (flush,
 * hypercall, transfer) are not machine properties: they keep the real
 * bench's defaults (0: the suites' --flush-cost and friends set them).
 */
import { Worker } from 'node:worker_threads';
import { benchWorkloads, measureModelCost, modelSiteTable, type ModelCost } from './model-cost.js';
import { pinMainThread, pinnableCpus } from './pin-cpu.js';
import { realProbe, simProbe, PROBE_STEPS, type ProbeShape } from './lock-probe.js';
import { evalWorkers } from './eval-workers.js';
import type { CostProfile } from './profile.js';
import { availableParallelism, cpus, loadavg } from 'node:os';

const machine = (): string =>
  `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.version}`;

const N = 500_000;

/** The machine is shared: every figure is the best of REPEATS runs (the least disturbed one). */
const REPEATS = 5;

function perOp(f: () => void, n: number): number {
  f(); // warm up
  let best = Infinity;
  for (let k = 0; k < REPEATS; k++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
  }
  return best;
}

/**
 * Two threads take turns on one word: returns ns per hand-off (one line transfer each way, halved), the
 * lower quartile over blocks of `block` rounds — on a shared machine the partner thread is often off its
 * core, and a block in which both ran throughout is the hand-off itself (the mean of a whole run is the
 * machine's load); on an idle machine every block is such a block, and the quartile is their typical one.
 */
async function pingPong(park: boolean, rounds: number, block: number): Promise<number> {
  const sab = new SharedArrayBuffer(128);
  const i32 = new Int32Array(sab);
  const src = `
    const { workerData } = require('node:worker_threads');
    const i32 = new Int32Array(workerData.sab);
    for (let k = 0; k < workerData.rounds; k++) {
      while (Atomics.load(i32, 0) !== 1) { if (workerData.park) Atomics.wait(i32, 0, 0); }
      Atomics.store(i32, 0, 0);
      if (workerData.park) Atomics.notify(i32, 0);
    }`;
  const w = new Worker(src, { eval: true, workerData: { sab, rounds, park } });
  await new Promise((r) => w.once('online', r));
  const blocks: number[] = [];
  for (let b = 0; b < rounds; b += block) {
    const t0 = performance.now();
    for (let k = 0; k < block; k++) {
      Atomics.store(i32, 0, 1);
      if (park) Atomics.notify(i32, 0);
      while (Atomics.load(i32, 0) !== 0) if (park) Atomics.wait(i32, 0, 1);
    }
    blocks.push(((performance.now() - t0) * 1e6) / block / 2);
  }
  await w.terminate();
  return blocks.sort((x, y) => x - y)[blocks.length >> 2]!;
}

/** Ops per vCPU of each model workload per pass (model-cost.ts), at least: more where a pass would be under MIN_PASS_NS. */
export const MODEL_OPS = 3_000;
/**
 * The least CPU time of a workload's plain pass (measureModelCost's minPassNs): above the 100 ms from which
 * the thread's own clock is read, with room for the process clock's inflation in the probe that sizes it.
 */
export const MIN_PASS_NS = 150e6;

const r = (x: number) => Math.round(x * 10) / 10;

/** Exchanges per timed block (exchanges()). */
const XBLOCK = 1_000;

/**
 * Two worker threads each do `n` Atomics.exchange of their own id, on one shared word or each on its own
 * line, timed in blocks of XBLOCK: per block its ns and how often the line came from the other thread (the
 * old value was the other's id). The time a shared block takes more than an unshared one, per such move, is
 * what moving a line costs an access when both CPUs want it — the transfer the simulator charges — without
 * a polling loop on top. Blocks keep it usable on a loaded machine: only those in which the line moved on
 * at least 1% of the exchanges (both threads ran; two threads exchanging flat out hand the line over in
 * bursts, a few moves per hundred exchanges on an idle machine) count.
 */
async function exchanges(shared: boolean, n: number): Promise<{ ns: number; moves: number }[]> {
  const sab = new SharedArrayBuffer(256);
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const i32 = new Int32Array(workerData.sab);
    const idx = workerData.idx;
    const me = workerData.me;
    Atomics.add(i32, 60, 1);
    while (Atomics.load(i32, 60) < 2) {}
    const out = [];
    for (let b = 0; b < workerData.n; b += workerData.block) {
      let moves = 0;
      const t0 = performance.now();
      for (let k = 0; k < workerData.block; k++) if (Atomics.exchange(i32, idx, me) !== me) moves++;
      out.push({ ns: (performance.now() - t0) * 1e6, moves });
    }
    parentPort.postMessage(out);`;
  const rs = await evalWorkers<{ ns: number; moves: number }[]>(
    src,
    [1, 2].map((me) => ({ sab, n, me, block: XBLOCK, idx: shared ? 0 : me * 16 })),
  );
  return rs.flat();
}

/** Passes per thread of the busy-core probe (each at least MIN_PASS_NS of CPU time). */
const BUSY_REPEATS = 3;

/**
 * busyStepFactor: the one-vCPU bench workloads (model-cost.ts), each on its own buffer, timed on one worker
 * thread alone and then on two at once (nothing shared between the two: no line, no lock). Per workload the
 * least time of BUSY_REPEATS passes of the ops the model step ran (long enough for the thread's clock: a
 * 25 ms pass read in 4 ms ticks moved a workload's factor by ±15%); the factor is the median over the
 * workloads of (two at once / alone), at least 1.
 * What it catches: whatever a second busy core costs the model's JavaScript — a shared package's caches
 * and clock, and V8's helper threads (concurrent GC), which run on the idle core while only one is busy.
 */
export async function busyFactor(opsOf: (workload: string) => number): Promise<{ factor: number; each: string[] }> {
  const me = new URL('./model-cost.js', import.meta.url).href;
  const src = `
    const { workerData: w, parentPort } = require('node:worker_threads');
    import(w.me).then((m) => parentPort.postMessage(m.busyPassMs(w)));`;
  const run = async (name: string, threads: number): Promise<number> => {
    const go = new SharedArrayBuffer(64);
    const ops = opsOf(name);
    const ms = await evalWorkers<number>(
      src,
      Array.from({ length: threads }, () => ({ me, name, ops, reps: BUSY_REPEATS, go, threads })),
    );
    return ms.reduce((a, b) => a + b, 0) / ms.length;
  };
  const ratios: number[] = [];
  const each: string[] = [];
  for (const w of benchWorkloads().filter((x) => x.cpus === 1)) {
    const alone = await run(w.name, 1);
    const both = await run(w.name, 2);
    ratios.push(both / alone);
    each.push(`${w.name} ${(both / alone).toFixed(2)}`);
  }
  // The median: on a shared machine one workload's pair of runs can be disturbed either way.
  ratios.sort((x, y) => x - y);
  return { factor: Math.max(1, ratios[ratios.length >> 1]!), each };
}

/**
 * The lock probe (lock-probe.ts) as a check of the measured fields, not a source of any: a model spinlock
 * taken by two real threads with ring lines written under it, against the simulator's price of the same op
 * under the profile. Its one-thread run fits the probe's own step cost; the two-thread figures are printed
 * in the profile's comment.
 */
export const PROBE_SHAPES: readonly ProbeShape[] = [
  { lines: 3, insideNs: 1500, outsideNs: 6000 },
  { lines: 3, insideNs: 1500, outsideNs: 1500 },
];

async function lockProbe(p: CostProfile, ops: number): Promise<string> {
  const out: string[] = [];
  for (const s of PROBE_SHAPES) {
    let t1 = Infinity;
    let t2 = Infinity;
    for (let k = 0; k < 3; k++) t1 = Math.min(t1, await realProbe(s, 1, ops));
    for (let k = 0; k < 3; k++) t2 = Math.min(t2, await realProbe(s, 2, ops));
    const stepNs = Math.max(0, (t1 - simProbe(p, s, 1, ops, 0).nsPerOp) / PROBE_STEPS);
    const sim2 = simProbe(p, s, 2, ops, stepNs);
    out.push(
      `${s.lines} lines, ${s.insideNs} ns in, ${s.outsideNs} ns out: real ${Math.round(t1)} ns/op alone, ` +
        `${Math.round(t2)} on 2 threads; simulated ${Math.round(sim2.nsPerOp)} on 2 vCPUs ` +
        `(${((100 * sim2.contended) / sim2.ops).toFixed(0)}% contended)`,
    );
  }
  return out.join('; ');
}

/**
 * The model step (model-cost.ts) measured with this thread pinned to each CPU in turn (pin-cpu.ts), where
 * it can be pinned, else wherever it runs; the least disturbed CPU's (least mean step) is the profile's,
 * as every other figure here is the least disturbed run's. On this VM one vCPU is often ~1.5x slower
 * than the other (a host-side neighbour), and the real bench's medians come from runs on the faster one
 * unless most runs were disturbed. Every CPU's mean step goes into the profile's comment.
 */
function modelStepOnEveryCpu(modelOps: number, progress: (s: string) => void): ModelCost & { perCpu: string } {
  const cpusToPin = pinnableCpus();
  const where: (number | undefined)[] = cpusToPin.length > 1 ? cpusToPin : [undefined];
  const runs: ModelCost[] = [];
  for (const cpu of where) {
    const unpin = cpu === undefined ? () => {} : pinMainThread(cpu);
    try {
      progress(`calibrate: the model step${cpu === undefined ? '' : ` on CPU ${cpu}`}`);
      runs.push(measureModelCost(benchWorkloads(), modelOps, progress, 1, undefined, MIN_PASS_NS));
    } finally {
      unpin();
    }
  }
  let best = 0;
  runs.forEach((m, i) => {
    if (m.meanNs < runs[best]!.meanNs) best = i;
  });
  const perCpu =
    where[0] === undefined
      ? 'not pinned (no taskset)'
      : `${runs.map((m, i) => `CPU ${where[i]} ${r(m.meanNs)} ns`).join(', ')}; CPU ${where[best]}'s priced`;
  return { ...runs[best]!, perCpu };
}

export async function calibrate(progress: (s: string) => void, modelOps = MODEL_OPS): Promise<CostProfile> {
  const load0 = loadavg()[0]!;
  const i32 = new Int32Array(new SharedArrayBuffer(64));
  progress('calibrate: local Atomics');
  let sink = 0;
  const loadNs = perOp(() => {
    for (let k = 0; k < N; k++) sink += Atomics.load(i32, 0);
  }, N);
  const storeNs = perOp(() => {
    for (let k = 0; k < N; k++) Atomics.store(i32, 0, k);
  }, N);
  const rmwNs = perOp(() => {
    for (let k = 0; k < N; k++) Atomics.add(i32, 0, 1);
  }, N);
  const casNs = perOp(() => {
    for (let k = 0; k < N; k++) Atomics.compareExchange(i32, 0, k, k + 1);
  }, N);
  progress('calibrate: a line bounced between two threads');
  let bounceNs = Infinity;
  for (let k = 0; k < REPEATS; k++) bounceNs = Math.min(bounceNs, await pingPong(false, 20_000, 100));
  progress('calibrate: a line wanted by two threads at once');
  const perMove: number[] = [];
  for (let k = 0; k < REPEATS; k++) {
    const sh = await exchanges(true, 200_000);
    const own = await exchanges(false, 200_000);
    // The unshared block: the median of the faster half (the least disturbed, not the one lucky block).
    const ownNs = own.map((b) => b.ns).sort((x, y) => x - y)[own.length >> 2]!;
    for (const b of sh) if (b.moves * 100 >= XBLOCK) perMove.push(Math.max(0, b.ns - ownNs) / b.moves);
  }
  // The median: a difference of two times is as often too low as too high on a shared machine. No block
  // in which both threads ran (a very loaded machine): the hand-off's figure instead.
  perMove.sort((x, y) => x - y);
  const transferNs = perMove.length > 0 ? perMove[perMove.length >> 1]! : bounceNs;
  progress('calibrate: a release that wakes (Atomics.notify)');
  const notifyNs = perOp(() => {
    for (let k = 0; k < N / 10; k++) Atomics.notify(i32, 0, 1);
  }, N / 10);
  progress('calibrate: park/unpark');
  let parkNs = Infinity;
  for (let k = 0; k < REPEATS; k++) parkNs = Math.min(parkNs, await pingPong(true, 2_000, 20));
  const model = modelStepOnEveryCpu(modelOps, progress);
  const modelSiteNs = modelSiteTable(model, true);
  progress('calibrate: the model step with the other core busy');
  // The passes the model step took (at least MIN_PASS_NS each): the thread's clock, not its 4 ms ticks.
  const busy = await busyFactor((name) => model.opsOf.get(name) ?? modelOps);
  if (sink === 42) progress(''); // keep the loops from being optimised away
  const profile: CostProfile = {
    name: 'this-machine',
    comment:
      `Measured by bench --calibrate on ${machine()} at ${new Date().toISOString()}, load average ` +
      `${load0.toFixed(1)} at the start: ` +
      'Atomics ops on a local word; lineTransferNs = what two worker threads exchanging one word take more ' +
      'than each its own, per move of the line between them (median over blocks of 1,000 in which both ran); ' +
      'lineMoveNs = a move that finds the line idle: the ping-pong half round trip below (at most ' +
      'lineTransferNs); firstTouchNs = 0: the measured steps below include their first touches; ' +
      'lockHandoffNs = half a round trip of one word between two worker threads (a spinning waiter sees it), ' +
      'lower quartile of blocks of 100, best of 5; ' +
      "wakeupNs = the same with Atomics.wait/notify (blocks of 20); modelSiteNs = the model's " +
      "own cost per step by site, the mean over the designs and each design's own ('VARIANT: site'), " +
      `measured on the bench workloads in one thread (src/sim/model-cost.ts: ${model.steps} steps, ` +
      `this thread's CPU time, passes of at least ${MIN_PASS_NS / 1e6} ms, the thread pinned to each CPU in ` +
      `turn: mean step ${model.perCpu}, ` +
      `${model.dropped} preempted windows left out); stepNs = their mean, for a site not measured; ` +
      'spinWindowNs = the stress ' +
      'locks spin 2,000 loads before they park. No flush, hypercall or transfer cost: the suites set those. ' +
      "layout 'model': the profile prices the model's own steps, so it charges the line traffic the real " +
      "threads have (the model's layout, the harness's bookkeeping); spinnersPoll: the model lock's waiters " +
      'spin on the lock word (engine/sync.ts); notifyNs = Atomics.notify with nobody parked (the model ' +
      `lock's release after a contended acquisition); busyStepFactor = the one-vCPU bench workloads on two ` +
      `threads at once, each its own buffer, over one alone (${busy.each.join(', ')}).`,
    stepNs: r(model.meanNs),
    loadNs: r(loadNs),
    storeNs: r(storeNs),
    rmwNs: r(rmwNs),
    casNs: r(casNs),
    lineTransferNs: r(Math.max(0, transferNs)),
    lineMoveNs: r(Math.min(bounceNs, Math.max(0, transferNs))),
    firstTouchNs: 0,
    lockHandoffNs: r(bounceNs),
    spinWindowNs: r(2_000 * loadNs + bounceNs),
    wakeupNs: r(parkNs),
    siteNs: {},
    modelSiteNs,
    layout: 'model',
    spinnersPoll: true,
    notifyNs: r(notifyNs),
    busyStepFactor: Math.round(busy.factor * 1000) / 1000,
    flushCostNs: 0,
    serialFlush: false,
    hypercallNs: 0,
    transferNs: 0,
  };
  progress('calibrate: the lock probe (a check: real threads against the simulator)');
  return { ...profile, comment: `${profile.comment} Lock probe: ${await lockProbe(profile, 20_000)}.` };
}
