/**
 * Synchronisation primitives over Atomics that work under both executors.
 *
 * Every primitive yields a site before it touches the shared word, so the explore scheduler can put
 * another vCPU between any two accesses. A lock that is taken does not spin in explore mode: the vCPU
 * records "blocked on L" and the scheduler does not pick it again until the lock word reads 0, and
 * reports a deadlock when no vCPU can run. In stress mode it spins, then parks with Atomics.wait.
 */
import { Cpu, StopRun, StuckWait, type LockRef, type Op, type Site } from './cpu.js';
import { taskOf } from './task.js';

/** Spins before parking. A park/unpark hand-off costs ~27 µs here vs ~60 ns for a spinning one. */
const SPINS_BEFORE_PARK = 2_000;
/** A parked waiter rechecks the stop flag this often, so a stopped run never hangs on a lock. */
const PARK_TIMEOUT_MS = 20;

/** Lock word values. 2 tells the releaser that someone may be parked (Drepper, "Futexes Are Tricky", mutex2). */
const UNLOCKED = 0;
const LOCKED = 1;
const LOCKED_WAITERS = 2;

/** Words a lock occupies: state, owner. */
export const LOCK_WORDS = 2;

export function lockRef(name: string, index: number, rank = 0): LockRef {
  return { index, name, rank, acquireSite: `lock ${name}`, releaseSite: `unlock ${name}` };
}

export function* spinLock(cpu: Cpu, lock: LockRef): Op {
  const i32 = cpu.i32;
  // After a park we take the lock in state 2: other waiters may still be parked and must be woken later.
  let want = LOCKED;
  const task = taskOf(cpu);
  for (;;) {
    yield lock.acquireSite;
    task.blockedOn = -1;
    if (Atomics.compareExchange(i32, lock.index, UNLOCKED, want) === UNLOCKED) break;
    if (cpu.explore) task.blockedOn = lock.index;
    else {
      waitForRelease(cpu, lock);
      want = LOCKED_WAITERS;
    }
  }
  acquired(cpu, lock);
}

/** One attempt; never blocks. */
export function* spinTryLock(cpu: Cpu, lock: LockRef): Op<boolean> {
  yield lock.acquireSite;
  if (Atomics.compareExchange(cpu.i32, lock.index, UNLOCKED, LOCKED) !== UNLOCKED) return false;
  acquired(cpu, lock);
  return true;
}

export function* spinUnlock(cpu: Cpu, lock: LockRef): Op {
  yield lock.releaseSite;
  const held = taskOf(cpu).held;
  const k = held.lastIndexOf(lock);
  if (k < 0) throw new Error(`cpu${cpu.id} releases ${lock.name}, which it does not hold`);
  held.splice(k, 1);
  cpu.weak?.lockReleasing(lock.index); // spin_unlock is a release (engine/order.ts)
  Atomics.store(cpu.i32, lock.index + 1, 0);
  if (Atomics.exchange(cpu.i32, lock.index, UNLOCKED) === LOCKED_WAITERS) Atomics.notify(cpu.i32, lock.index, 1);
}

/** lockdep_assert_held / assert_spin_locked: does this task hold `lock`? Not a scheduling point. */
export function lockHeld(cpu: Cpu, lock: LockRef): boolean {
  return taskOf(cpu).held.includes(lock);
}

/** Does this task hold the lock whose word is at i32 index `index` (lockdep_assert_held by address)? */
export function lockHeldAt(cpu: Cpu, index: number): boolean {
  return taskOf(cpu).held.some((l) => l.index === index);
}

/**
 * Wait until the i32 at `index` reads 0 — a wait_event on a shared word (a count of users draining,
 * a timer callback finishing). Each check is scheduling point `site`; in explore mode a task that reads
 * non-zero is blocked on the word (not picked again until it reads 0), in stress mode it re-checks.
 */
export function* waitUntilZero(cpu: Cpu, index: number, site: Site): Op {
  const task = taskOf(cpu);
  for (;;) {
    yield site;
    task.blockedOn = -1;
    if (Atomics.load(cpu.i32, index) === 0) return;
    if (cpu.explore) task.blockedOn = index;
  }
}

/** Who holds the lock (vCPU id), or -1. For reports; not a scheduling point. */
export function lockOwner(i32: Int32Array, lock: LockRef): number {
  return Atomics.load(i32, lock.index + 1) - 1;
}

function acquired(cpu: Cpu, lock: LockRef): void {
  cpu.weak?.lockAcquired(lock.index); // spin_lock is an acquire (engine/order.ts)
  Atomics.store(cpu.i32, lock.index + 1, cpu.id + 1);
  if (lock.rank !== 0) checkLockOrder(cpu, lock);
  taskOf(cpu).held.push(lock);
}

/**
 * lockdep-style order check: taking a lock whose class ranks at or below one already held is a
 * FORBIDDEN inversion, even if this execution did not deadlock (the reverse order elsewhere would).
 */
function checkLockOrder(cpu: Cpu, lock: LockRef): void {
  for (const h of taskOf(cpu).held) {
    if (h.rank !== 0 && h.rank >= lock.rank) {
      cpu.fail(
        'LOCKDEP',
        `cpu${cpu.id} takes ${lock.name} (rank ${lock.rank}) while holding ${h.name} (rank ${h.rank})`,
      );
      return;
    }
  }
}

function waitForRelease(cpu: Cpu, lock: LockRef): void {
  const i32 = cpu.i32;
  const index = lock.index;
  for (let k = 0; k < SPINS_BEFORE_PARK; k++) if (Atomics.load(i32, index) === UNLOCKED) return;
  const limitMs = taskOf(cpu).waitLimitMs;
  const giveUpAt = performance.now() + limitMs;
  for (;;) {
    const c = Atomics.load(i32, index);
    if (c === UNLOCKED) return;
    // Announce a waiter before sleeping; if the owner released in between, the CAS fails and we retry.
    if (c === LOCKED && Atomics.compareExchange(i32, index, LOCKED, LOCKED_WAITERS) !== LOCKED) continue;
    Atomics.wait(i32, index, LOCKED_WAITERS, PARK_TIMEOUT_MS);
    if (cpu.stopRequested()) throw new StopRun();
    if (performance.now() > giveUpAt) {
      throw new StuckWait(
        `task ${cpu.id} waited ${(limitMs / 1000).toFixed(1)}s for lock ${lock.name} held by task ${lockOwner(i32, lock)}`,
      );
    }
  }
}

/**
 * A lock for a section with no scheduling point inside — hardware-internal atomicity, such as an IOTLB
 * fill racing an invalidation. In explore mode such a section already runs as one step, so the lock is
 * always free when tried; in stress mode it makes the section atomic across real threads. Not a kernel
 * lock: it has no lockdep rank and never yields.
 */
export function rawLock(i32: Int32Array, index: number): void {
  while (Atomics.compareExchange(i32, index, 0, 1) !== 0) {
    while (Atomics.load(i32, index) !== 0) {
      /* spin: the holder is inside a few loads and stores */
    }
  }
}

export function rawUnlock(i32: Int32Array, index: number): void {
  Atomics.store(i32, index, 0);
}

/** A 32-bit counter in shared memory. Each method is one scheduling point plus one atomic access. */
export class Counter32 {
  private readonly loadSite: Site;
  private readonly addSite: Site;
  private readonly storeSite: Site;
  private readonly casSite: Site;
  constructor(
    readonly index: number,
    readonly name: string,
  ) {
    this.loadSite = `read ${name}`;
    this.addSite = `atomic_add ${name}`;
    this.storeSite = `write ${name}`;
    this.casSite = `cmpxchg ${name}`;
  }
  *load(cpu: Cpu): Op<number> {
    yield this.loadSite;
    const v = Atomics.load(cpu.i32, this.index);
    cpu.note('read', this.name, this.index, v);
    return v;
  }
  *store(cpu: Cpu, v: number): Op {
    yield this.storeSite;
    Atomics.store(cpu.i32, this.index, v);
    cpu.note('write', this.name, this.index, v);
  }
  /** Atomic add; returns the old value. */
  *add(cpu: Cpu, delta: number): Op<number> {
    yield this.addSite;
    const old = Atomics.add(cpu.i32, this.index, delta);
    cpu.note('add', this.name, this.index, old + delta, old);
    return old;
  }
  /** Atomic compare-and-swap; returns the value found. */
  *cmpxchg(cpu: Cpu, expected: number, v: number): Op<number> {
    yield this.casSite;
    const old = Atomics.compareExchange(cpu.i32, this.index, expected, v);
    cpu.note(old === expected ? 'cmpxchg' : 'read', this.name, this.index, old === expected ? v : old, old);
    return old;
  }
  /**
   * The kernel's plain `x += delta` on a shared int: a load, a scheduling point, a store. Two vCPUs
   * interleaved here lose an update, as `nr_endpoints++` without a lock does. Returns the value stored.
   */
  *plainAdd(cpu: Cpu, delta: number): Op<number> {
    yield this.loadSite;
    const v = Atomics.load(cpu.i32, this.index) + delta;
    cpu.note('read', this.name, this.index, v - delta);
    yield this.storeSite;
    Atomics.store(cpu.i32, this.index, v);
    cpu.note('write', this.name, this.index, v);
    return v;
  }
  peek(i32: Int32Array): number {
    return Atomics.load(i32, this.index);
  }
}

/** A 64-bit counter (the flush queue's start/finish counters are u64 in the kernel). */
export class Counter64 {
  private readonly loadSite: Site;
  private readonly addSite: Site;
  private readonly storeSite: Site;
  private readonly casSite: Site;
  /** `index` is into the BigInt64Array view. */
  constructor(
    readonly index: number,
    readonly name: string,
  ) {
    this.loadSite = `read ${name}`;
    this.addSite = `atomic64_add ${name}`;
    this.storeSite = `write ${name}`;
    this.casSite = `cmpxchg64 ${name}`;
  }
  *load(cpu: Cpu): Op<bigint> {
    yield this.loadSite;
    return Atomics.load(cpu.i64, this.index);
  }
  *store(cpu: Cpu, v: bigint): Op {
    yield this.storeSite;
    Atomics.store(cpu.i64, this.index, v);
  }
  *add(cpu: Cpu, delta: bigint): Op<bigint> {
    yield this.addSite;
    return Atomics.add(cpu.i64, this.index, delta);
  }
  *cmpxchg(cpu: Cpu, expected: bigint, v: bigint): Op<bigint> {
    yield this.casSite;
    return Atomics.compareExchange(cpu.i64, this.index, expected, v);
  }
  /** Non-atomic `x += delta`: load, scheduling point, store. */
  *plainAdd(cpu: Cpu, delta: bigint): Op<bigint> {
    yield this.loadSite;
    const v = Atomics.load(cpu.i64, this.index) + delta;
    yield this.storeSite;
    Atomics.store(cpu.i64, this.index, v);
    return v;
  }
  peek(i64: BigInt64Array): bigint {
    return Atomics.load(i64, this.index);
  }
}
