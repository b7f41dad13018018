/**
 * The lock-order checker (lockdep style, engine/sync.ts) with the IOVA allocator's own locks, whose
 * classes rank CpuRcache.lock (1) < Rcache.lock (2) < iova_rbtree_lock (3) (kernel-model.md §2.3, §10):
 * a reversed acquisition is a FORBIDDEN LOCKDEP outcome naming both locks and the vCPU, whether or not
 * that execution deadlocks; a correct nesting is not; and every nesting the model itself performs —
 * a depot push under the CPU lock, a drain under the CPU lock, a depot flush — is in rank order.
 */
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd, type LockRef, type Op } from '../src/engine/cpu.js';
import { allocateMemory, defineLayout, type Memory } from '../src/engine/layout.js';
import { withDefaults, type ScenarioDef } from '../src/engine/scenario.js';
import { spinLock, spinUnlock } from '../src/engine/sync.js';
import { explore } from '../src/explore/explore.js';
import { newIovaDomain, type CheckedIovaDomain } from '../src/model/iova/checked-domain.js';
import { iovaDomainRegions, type IovaDomainOptions } from '../src/model/iova/iova-domain.js';
import {
  cpuRcacheLockName,
  iovaDepotWorkName,
  iovaDepotWorkTimer,
  IOVA_TIMERS,
  RANK_CPU_RCACHE,
  RANK_DEPOT,
  RANK_RBTREE,
  RBTREE_LOCK_NAME,
  rcacheLockName,
} from '../src/model/iova/locks.js';
import { IOVA_MAG_SIZE } from '../src/model/iova/magazine.js';
import { iovaScenario } from '../src/scenarios/iova.js';
import { taskOf } from '../src/engine/task.js';

const OPTS: IovaDomainOptions = {
  cpus: 2,
  startPfn: 1,
  dma32Pfn: 2048,
  spacePfns: 4096,
  depotDelayNs: 100e6,
  checks: true,
  resvPfns: 0,
  warm: false,
  warmDepot: 0,
};

function domain(o: IovaDomainOptions = OPTS): {
  mem: Memory;
  d: CheckedIovaDomain;
  cpu: (id: number) => Cpu;
  checker: Checker;
} {
  const layout = defineLayout(o.cpus, iovaDomainRegions(o));
  const mem = allocateMemory(layout);
  const d = newIovaDomain(layout, o);
  d.init(mem.i32);
  const checker = new Checker(iovaScenario.invariants);
  return { mem, d, checker, cpu: (id) => new Cpu(id, 'explore', mem, checker) };
}

function* nest(cpu: Cpu, locks: readonly LockRef[]): Op {
  for (const l of locks) yield* spinLock(cpu, l);
  for (const l of [...locks].reverse()) yield* spinUnlock(cpu, l);
}

describe('lockdep with the iova locks', () => {
  it('the classes rank per-CPU cache < depot < tree', () => {
    const { d } = domain();
    expect(d.rcache.cpuLocks[1]![3]!.rank).toBe(RANK_CPU_RCACHE);
    expect(d.rcache.depotLocks[3]!.rank).toBe(RANK_DEPOT);
    expect(d.tree.lock.rank).toBe(RANK_RBTREE);
    expect(RANK_CPU_RCACHE).toBeLessThan(RANK_DEPOT);
    expect(RANK_DEPOT).toBeLessThan(RANK_RBTREE);
  });

  it('lock and timer names come from locks.ts: one delayed work per bucket, timer ids 0..5', () => {
    const { d } = domain();
    expect(d.rcache.cpuLocks[1]![3]!.name).toBe(cpuRcacheLockName(1, 3));
    expect(d.rcache.depotLocks[2]!.name).toBe(rcacheLockName(2));
    expect(d.tree.lock.name).toBe(RBTREE_LOCK_NAME);
    const timers = d.timerSpecs();
    expect(timers.length).toBe(IOVA_TIMERS);
    timers.forEach((t, k) => {
      expect(t.ref.id).toBe(iovaDepotWorkTimer(k));
      expect(t.ref.name).toBe(iovaDepotWorkName(k));
    });
  });

  it('a correct nesting (cpu_rcache -> rcache -> iova_rbtree_lock) is not reported', () => {
    const { d, cpu, checker } = domain();
    runToEnd(nest(cpu(1), [d.rcache.cpuLocks[1]![0]!, d.rcache.depotLocks[0]!, d.tree.lock]));
    runToEnd(nest(cpu(0), [d.rcache.cpuLocks[0]![5]!, d.tree.lock]));
    runToEnd(nest(cpu(0), [d.rcache.depotLocks[2]!, d.tree.lock]));
    expect(checker.violations).toEqual([]);
    expect(checker.failed).toBe(false);
  });

  it.each([
    [
      'iova_rbtree_lock then rcache[0].lock',
      (d: CheckedIovaDomain) => [d.tree.lock, d.rcache.depotLocks[0]!],
      'cpu1 takes rcache[0].lock (rank 2) while holding iova_rbtree_lock (rank 3)',
    ],
    [
      'rcache[4].lock then its CPU lock',
      (d: CheckedIovaDomain) => [d.rcache.depotLocks[4]!, d.rcache.cpuLocks[1]![4]!],
      'cpu1 takes cpu_rcache[4]@cpu1.lock (rank 1) while holding rcache[4].lock (rank 2)',
    ],
    [
      'iova_rbtree_lock then a CPU lock',
      (d: CheckedIovaDomain) => [d.tree.lock, d.rcache.cpuLocks[0]![2]!],
      'cpu1 takes cpu_rcache[2]@cpu0.lock (rank 1) while holding iova_rbtree_lock (rank 3)',
    ],
    [
      'two CPU locks of the same class (no nesting annotation)',
      (d: CheckedIovaDomain) => [d.rcache.cpuLocks[1]![0]!, d.rcache.cpuLocks[0]![0]!],
      'cpu1 takes cpu_rcache[0]@cpu0.lock (rank 1) while holding cpu_rcache[0]@cpu1.lock (rank 1)',
    ],
  ] as const)('a reversed acquisition is caught and names both locks and the vCPU: %s', (_, locks, message) => {
    const { d, cpu, checker } = domain();
    runToEnd(nest(cpu(1), locks(d)));
    expect(checker.failed).toBe(true);
    expect(checker.violations[0]).toMatchObject({ invariant: 'LOCKDEP', grade: 'FORBIDDEN', vcpu: 1, message });
  });

  it('every nesting the model performs is in rank order: depot push under the CPU lock, drains, depot flush', () => {
    const { d, cpu, checker, mem } = domain();
    const c0 = cpu(0);
    // Drive the ops step by step and record the ranks held after every step.
    const seen = new Set<string>();
    const drive = <R>(op: Op<R>): R => {
      for (;;) {
        const r = op.next();
        const ranks = taskOf(c0).held.map((l) => l.rank);
        for (let i = 1; i < ranks.length; i++)
          expect(
            ranks[i]!,
            `held ${taskOf(c0)
              .held.map((l) => l.name)
              .join(', ')}`,
          ).toBeGreaterThan(ranks[i - 1]!);
        seen.add(ranks.join('<'));
        if (r.done) return r.value;
      }
    };
    // Fill bucket 0's loaded and prev and one more: the third magazine goes to the depot (cpu -> depot).
    const pfns: number[] = [];
    for (let k = 0; k < 2 * IOVA_MAG_SIZE + 1; k++) pfns.push(drive(d.allocIovaFast(c0, 1, OPTS.spacePfns - 1, true)));
    for (const p of pfns) drive(d.freeIovaFast(c0, p, 1));
    expect(d.rcache.depot.size(mem.i32, 0)).toBe(1);
    // Drain both CPUs (cpu -> tree) and the depots (depot -> tree), as the flush-all path does.
    drive(d.rcache.freeCpuCachedIovas(c0, 0));
    drive(d.rcache.freeCpuCachedIovas(c0, 1));
    drive(d.rcache.freeGlobalCachedIovas(c0));
    expect(d.rcache.depot.size(mem.i32, 0)).toBe(0);
    expect(seen).toContain(`${RANK_CPU_RCACHE}<${RANK_DEPOT}`);
    expect(seen).toContain(`${RANK_CPU_RCACHE}<${RANK_RBTREE}`);
    expect(seen).toContain(`${RANK_DEPOT}<${RANK_RBTREE}`);
    expect(checker.violations).toEqual([]);
    expect(d.tree.ranges(mem.i32)).toEqual([]);
  });
});

// A two-op scenario on the iova locks, for the explore executor: lockdep reports a reversed order even
// on a serial schedule that cannot deadlock, and names the vCPU; the correct order never trips it.
const twoOrders: ScenarioDef = {
  name: 'iova-lock-order',
  summary: 'test only',
  follows: 'kernel-model.md §2.3 lock order',
  params: {},
  exploreCpus: 2,
  exploreOps: 2,
  invariants: iovaScenario.invariants,
  variants: [
    { name: 'reversed', summary: 'cpu1 nests the tree lock outside the depot lock', expect: ['LOCKDEP'] },
    { name: 'nested', summary: 'rank order', expect: 'clean' },
  ],
  build: ({ cpus, variant: { name: variant } }) => {
    const o = { ...OPTS, cpus };
    const layout = defineLayout(cpus, iovaDomainRegions(o));
    const d = newIovaDomain(layout, o);
    return {
      layout,
      init: (mem) => {
        d.init(mem.i32);
      },
      program: (cpu) => ({
        next: () =>
          nest(
            cpu,
            variant === 'reversed' && cpu.id === 1
              ? [d.tree.lock, d.rcache.depotLocks[0]!]
              : [d.rcache.cpuLocks[cpu.id]![0]!, d.rcache.depotLocks[0]!, d.tree.lock],
          ),
        describe: () => 'nest',
      }),
      quiescent: () => {
        /* nothing to scan */
      },
    };
  },
};

describe('lockdep in the explore executor', () => {
  const go = (variant: string, depth: number, schedules: number) =>
    explore({
      scenario: twoOrders,
      variant: twoOrders.variants.find((v) => v.name === variant)!,
      params: withDefaults(twoOrders),
      opsPerCpu: [2, 2],
      strategy: 'pct',
      depth,
      schedules,
      timeMs: Infinity,
      seed: 9,
      maxSteps: 10_000,
      shrink: false,
    });

  it('reversed order: LOCKDEP by cpu1 on a serial schedule (PCT depth 1), never a DEADLOCK first', () => {
    const r = go('reversed', 1, 20);
    expect(r.violation).toMatchObject({
      invariant: 'LOCKDEP',
      vcpu: 1,
      message: 'cpu1 takes rcache[0].lock (rank 2) while holding iova_rbtree_lock (rank 3)',
    });
  });

  it('rank order: clean over 500 PCT schedules', () => {
    const r = go('nested', 3, 500);
    expect(r.violation, r.violation?.message).toBeUndefined();
    expect(r.schedules).toBe(500);
  });
});
