/**
 * Calibration's helper threads: one worker per `workerData` entry, each running `src` (CommonJS, eval'd)
 * and posting one message; resolves to their messages in order, rejects on a worker's error (a probe that
 * crashes must not hang the calibration), and terminates every worker either way.
 */
import { Worker } from 'node:worker_threads';

export async function evalWorkers<T>(src: string, workerData: readonly unknown[]): Promise<T[]> {
  const ws = workerData.map((d) => new Worker(src, { eval: true, workerData: d }));
  try {
    return await Promise.all(
      ws.map((w) => new Promise<T>((res, rej) => (w.once('message', res), w.once('error', rej)))),
    );
  } finally {
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
