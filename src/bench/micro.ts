/**
 * Single-thread micro-benchmarks (tinybench): the raw Atomics.add baseline and one model scheduling
 * step driven the way a stress worker drives it (generator resume + yield + the Atomics access), plus
 * the same step reached through two levels of `yield*`, which is how model code composes.
 */
import { Bench } from 'tinybench';
import { threadCpuNs } from './thread-cpu.js';

const N = 10_000;

function* flat(i32: Int32Array): Generator<string, void, void> {
  for (let k = 0; k < N; k++) {
    yield 'step';
    Atomics.add(i32, 0, 1);
  }
}
function* leaf(i32: Int32Array): Generator<string, void, void> {
  yield 'step';
  Atomics.add(i32, 0, 1);
}
function* mid(i32: Int32Array): Generator<string, void, void> {
  yield* leaf(i32);
}
function* nested(i32: Int32Array): Generator<string, void, void> {
  for (let k = 0; k < N; k++) yield* mid(i32);
}

function drive(g: Generator<string, void, void>): number {
  let steps = 0;
  let site = '';
  for (let r = g.next(); !r.done; r = g.next()) {
    site = r.value;
    steps++;
  }
  return steps + site.length;
}

export interface MicroResult {
  /** Nanoseconds per operation, median of tinybench samples. */
  readonly atomicsAddNs: number;
  readonly stepNs: number;
  readonly nestedStepNs: number;
  /**
   * Atomics.add in this thread's CPU time (best of 5 rounds of 2 M), the baseline of a stress worker's
   * CPU time per step; undefined where the OS gives no per-thread CPU time (see thread-cpu.ts).
   */
  readonly atomicsAddCpuNs?: number;
}

const CPU_ROUNDS = 5;
const CPU_ADDS = 2_000_000;

function atomicsAddCpuNs(i32: Int32Array): number | undefined {
  let best = Infinity;
  for (let r = 0; r < CPU_ROUNDS; r++) {
    const c0 = threadCpuNs();
    if (c0 === undefined) return undefined;
    for (let k = 0; k < CPU_ADDS; k++) Atomics.add(i32, 0, 1);
    best = Math.min(best, (threadCpuNs()! - c0) / CPU_ADDS);
  }
  return best;
}

export async function microBench(timeMs: number): Promise<MicroResult> {
  const i32 = new Int32Array(new SharedArrayBuffer(64));
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(500, timeMs / 4) });
  bench
    .add('Atomics.add x10000', () => {
      for (let k = 0; k < N; k++) Atomics.add(i32, 0, 1);
    })
    .add('model step (yield + Atomics.add) x10000', () => {
      drive(flat(i32));
    })
    .add('model step via 2x yield* x10000', () => {
      drive(nested(i32));
    });
  await bench.run();
  const perOp = (i: number): number => {
    const r = bench.tasks[i]!.result as unknown as { latency?: { p50: number } };
    if (!r.latency) throw new Error(`bench task ${bench.tasks[i]!.name} did not complete`);
    return (r.latency.p50 * 1e6) / N; // ms per iteration -> ns per op
  };
  return { atomicsAddNs: perOp(0), stepNs: perOp(1), nestedStepNs: perOp(2), atomicsAddCpuNs: atomicsAddCpuNs(i32) };
}
