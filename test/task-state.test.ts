/**
 * The executor's per-task state (engine/task.ts) is apart from what model code sees of a Cpu: reached
 * with taskOf(cpu) by the executors and primitives; model code uses waitUntilZero and lockHeld. Timers
 * get their ids from a per-scenario timerIds(...), not bare numbers.
 */
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, runToEnd } from '../src/engine/cpu.js';
import { allocateMemory, at, defineLayout, region } from '../src/engine/layout.js';
import { lockHeld, lockRef, spinLock, spinUnlock, waitUntilZero } from '../src/engine/sync.js';
import { taskOf, TaskState } from '../src/engine/task.js';

const layout = defineLayout(2, { word: { kind: 'i32', count: 1 }, lock: { kind: 'i32', count: 2 } });

function fresh(mode: 'explore' | 'stress' = 'explore') {
  const mem = allocateMemory(layout);
  const checker = new Checker([]);
  return { mem, cpu0: new Cpu(0, mode, mem, checker), cpu1: new Cpu(1, mode, mem, checker) };
}

describe('task state apart from the Cpu', () => {
  it("a Cpu's own string-keyed fields carry no executor state", () => {
    const { cpu0 } = fresh();
    const keys = Object.keys(cpu0);
    for (const k of ['blockedOn', 'held', 'waitLimitMs', 'stopIndex']) expect(keys).not.toContain(k);
    expect(taskOf(cpu0)).toBeInstanceOf(TaskState);
    expect(taskOf(cpu0)).not.toBe(taskOf(fresh().cpu0));
  });

  it('waitUntilZero blocks an explore task on the word until it reads 0, one site per check', () => {
    const { mem, cpu0 } = fresh();
    const word = at(region(layout, 'word'));
    Atomics.store(mem.i32, word, 2);
    const w = waitUntilZero(cpu0, word, 'wait for users');
    expect(w.next().value).toBe('wait for users');
    expect(w.next().value).toBe('wait for users'); // read 2: blocked, paused at the site again
    expect(taskOf(cpu0).blockedOn).toBe(word);
    Atomics.store(mem.i32, word, 0);
    expect(w.next().done).toBe(true);
    expect(taskOf(cpu0).blockedOn).toBe(-1);
  });

  it('waitUntilZero in stress mode re-checks without blocking the task', () => {
    const { mem, cpu0 } = fresh('stress');
    const word = at(region(layout, 'word'));
    Atomics.store(mem.i32, word, 1);
    const w = waitUntilZero(cpu0, word, 'wait');
    w.next();
    w.next();
    expect(taskOf(cpu0).blockedOn).toBe(-1);
    Atomics.store(mem.i32, word, 0);
    expect(w.next().done).toBe(true);
  });

  it('lockHeld follows spinLock and spinUnlock of this task only', () => {
    const { cpu0, cpu1 } = fresh();
    const lock = lockRef('l', at(region(layout, 'lock')));
    expect(lockHeld(cpu0, lock)).toBe(false);
    runToEnd(spinLock(cpu0, lock));
    expect(lockHeld(cpu0, lock)).toBe(true);
    expect(lockHeld(cpu1, lock)).toBe(false);
    runToEnd(spinUnlock(cpu0, lock));
    expect(lockHeld(cpu0, lock)).toBe(false);
  });
});

describe('timers with named ids', () => {
  it('timerIds numbers names in order, refuses a repeat, and sizes the timer regions', async () => {
    const { timerIds, timerRegions, TimerRef } = await import('../src/engine/timer.js');
    const T = timerIds('fq_timer', 'depot_work');
    expect(T).toEqual({ fq_timer: 0, depot_work: 1 });
    expect(() => timerIds('a', 'a')).toThrow(/given twice/);
    expect(timerRegions(T)['timer.deadline']!.count).toBe(2);
    const l = defineLayout(1, timerRegions(T));
    const ref = TimerRef.named(l, T, 'depot_work');
    expect(ref.id).toBe(1);
    expect(ref.name).toBe('depot_work');
    expect(ref.deadlineIndex).not.toBe(TimerRef.named(l, T, 'fq_timer').deadlineIndex);
  });
});
