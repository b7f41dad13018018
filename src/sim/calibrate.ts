/**
 * `bench --calibrate`: the `this-machine` cost profile, measured here — a local Atomics op of each kind,
 * a cache line bounced between two worker threads, a park/unpark hand-off (Atomics.wait/notify), and the
 * model's own per-step overhead (the explore executor's steps on the flushq bench loop, minus its
 * accesses). Explicit costs (flush, hypercall, transfer) are not machine properties: they keep the real
 * bench's defaults (0: the suites' --flush-cost and friends set them).
 */
import { Worker } from 'node:worker_threads';
import type { CostProfile } from './profile.js';
import { availableParallelism, cpus } from 'node:os';

const machine = (): string =>
  `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.version}`;

const N = 500_000;

function perOp(f: () => void, n: number): number {
  f(); // warm up
  const t0 = performance.now();
  f();
  return ((performance.now() - t0) * 1e6) / n;
}

/** Two threads take turns on one word: returns ns per hand-off (one line transfer each way, halved). */
async function pingPong(park: boolean, rounds: number): Promise<number> {
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
  const t0 = performance.now();
  for (let k = 0; k < rounds; k++) {
    Atomics.store(i32, 0, 1);
    if (park) Atomics.notify(i32, 0);
    while (Atomics.load(i32, 0) !== 0) if (park) Atomics.wait(i32, 0, 1);
  }
  const ns = ((performance.now() - t0) * 1e6) / rounds / 2;
  await w.terminate();
  return ns;
}

export async function calibrate(progress: (s: string) => void): Promise<CostProfile> {
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
  const bounceNs = await pingPong(false, 50_000);
  progress('calibrate: park/unpark');
  const parkNs = await pingPong(true, 5_000);
  progress('calibrate: the model step');
  const stepNs = perOp(() => {
    function* g(): Generator<string, void, void> {
      for (let k = 0; k < N; k++) yield 'site';
    }
    for (const s of g()) sink += s.length;
  }, N);
  if (sink === 42) progress(''); // keep the loops from being optimised away
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    name: 'this-machine',
    comment:
      `Measured by bench --calibrate on ${machine()} at ${new Date().toISOString()}: ` +
      'Atomics ops on a local word; lineTransferNs = half a round trip of one word between two worker threads; ' +
      'wakeupNs = half a round trip with Atomics.wait/notify; stepNs = one generator yield (the model step without ' +
      'its accesses); lockHandoffNs = a line transfer (a spinning waiter sees the release); spinWindowNs = the stress ' +
      'locks spin 2,000 loads before they park. No flush, hypercall or transfer cost: the suites set those.',
    stepNs: r(stepNs),
    loadNs: r(loadNs),
    storeNs: r(storeNs),
    rmwNs: r(rmwNs),
    casNs: r(casNs),
    lineTransferNs: r(bounceNs),
    lockHandoffNs: r(bounceNs),
    spinWindowNs: r(2_000 * loadNs + bounceNs),
    wakeupNs: r(parkNs),
    siteNs: {},
    flushCostNs: 0,
    serialFlush: false,
    hypercallNs: 0,
    transferNs: 0,
  };
}
