/**
 * The calling thread's own CPU time, for benchmarks that must mean something on a machine shared with other
 * work: wall time counts the time a thread waited for a core, CPU time does not. Node 20 has no per-thread
 * CPU clock (process.cpuUsage sums every thread, GC helpers and other workers included), so this reads
 * Linux's /proc/thread-self/schedstat, whose first field is the nanoseconds the thread has run on a CPU.
 */
import { readFileSync } from 'node:fs';

const SCHEDSTAT = '/proc/thread-self/schedstat';
let available: boolean | undefined;

/** Nanoseconds this thread has spent on a CPU since it started, or undefined where the OS does not say. */
export function threadCpuNs(): number | undefined {
  if (available === false) return undefined;
  try {
    const ns = Number(readFileSync(SCHEDSTAT, 'latin1').split(' ', 1)[0]);
    available = Number.isFinite(ns);
    return available ? ns : undefined;
  } catch {
    available = false;
    return undefined;
  }
}
