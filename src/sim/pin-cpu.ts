/**
 * Pin this thread to one CPU for a measurement, and let it go again (bench --calibrate). Node has no
 * affinity API; util-linux's `taskset -p` on the thread's id does it, and a main thread's id is the
 * process id. Why calibrate needs it: on this 2-vCPU VM the same one-thread pass of the model costs
 * ~150-200 ns a step on one vCPU and, much of the time, ~250-320 on the other (a host-side neighbour; the
 * guest sees no steal time), so an unpinned calibration prices the model by whichever vCPU it happened to
 * land on. Pinned, it measures every CPU and takes the least disturbed one, as it does for every other
 * figure.
 */
import { execFileSync } from 'node:child_process';

/** The main thread's affinity list as taskset prints it ('0-1', '0,2'), or undefined (no taskset, not Linux). */
function affinity(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const out = execFileSync('taskset', ['-pc', String(process.pid)], { encoding: 'utf8', stdio: 'pipe' });
    return /list:\s*(\S+)/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/** The CPUs the main thread may run on ('0-2,5' is 0, 1, 2, 5), or [] where it cannot be pinned. */
export function pinnableCpus(): number[] {
  const list = affinity();
  if (list === undefined) return [];
  return list.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return Array.from({ length: (b ?? a!) - a! + 1 }, (_, k) => a! + k);
  });
}

/** Pin the main thread to `cpu`; returns the function that gives it back the CPUs it had. */
export function pinMainThread(cpu: number): () => void {
  const before = affinity();
  if (before === undefined) throw new Error('pinMainThread: taskset is not available here');
  const set = (list: string) => execFileSync('taskset', ['-pc', list, String(process.pid)], { stdio: 'ignore' });
  set(String(cpu));
  return () => set(before);
}
