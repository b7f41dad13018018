/**
 * Synchronisation primitives over Atomics that work under both executors.
 *
 * Every primitive yields a site before it touches the shared word, so the explore scheduler can put
 * another vCPU between any two accesses. A lock that is taken does not spin in explore mode: the vCPU
 * records "blocked on L" and the scheduler does not pick it again until the lock word reads 0, and
 * reports a deadlock when no vCPU can run. In stress mode it spins, then parks with Atomics.wait.
 *
 * The hot ones (spinLock, spinTryLock, spinUnlock, the counters) are not generator functions but small
 * hand-written iterators (StepOp, step-op.ts): model code composes them with `yield*`, and a generator per call
 * costs a step ~5x a flat one (allocating it, then resuming through it). `yield*` drives an iterator
 * exactly as it drives a generator, so each yields the same sites in the same order with the same access
 * after each — explore sees no difference (test/trace-pins.test.ts replays pinned tokens to their trace
 * hashes). Each one's comment shows the generator it stands for.
 */
import { Cpu, StopRun, StuckWait, type LockRef, type Op, type Site } from './cpu.js';
import { AT_SITE, CLOSED, finished, START, StepOp } from './step-op.js';
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

/*
 * spinLock stands for:
 *   function* spinLock(cpu, lock) {
 *     let want = LOCKED;
 *     for (;;) {
 *       yield lock.acquireSite;
 *       task.blockedOn = -1;
 *       if (cmpxchg(lock word, UNLOCKED, want) === UNLOCKED) break;
 *       if (explore) task.blockedOn = lock.index;   // not picked again until the word reads 0
 *       else { waitForRelease(cpu, lock); want = LOCKED_WAITERS; }
 *     }
 *     acquired(cpu, lock);
 *   }
 */
class SpinLockOp extends StepOp<void> {
  // After a park we take the lock in state 2: other waiters may still be parked and must be woken later.
  private want = LOCKED;
  constructor(
    private readonly cpu: Cpu,
    private readonly lock: LockRef,
  ) {
    super();
  }
  next(): IteratorResult<Site, void> {
    const { cpu, lock } = this;
    if (this.state === AT_SITE) {
      const task = taskOf(cpu);
      task.blockedOn = -1;
      if (Atomics.compareExchange(cpu.i32, lock.index, UNLOCKED, this.want) === UNLOCKED) {
        this.state = CLOSED;
        acquired(cpu, lock);
        return { value: undefined, done: true };
      }
      if (cpu.explore) task.blockedOn = lock.index;
      else {
        waitForRelease(cpu, lock);
        this.want = LOCKED_WAITERS;
      }
    } else if (this.state === CLOSED) return finished();
    this.state = AT_SITE;
    // Untimed explore (task.ts waitsLazily): runnable only once the word reads UNLOCKED, so no failed attempt.
    const task = taskOf(cpu);
    if (task.waitsLazily) task.blockedOn = lock.index;
    return { value: lock.acquireSite, done: false };
  }
}

export function spinLock(cpu: Cpu, lock: LockRef): Op {
  return new SpinLockOp(cpu, lock);
}

/*
 * One attempt; never blocks. Stands for:
 *   function* spinTryLock(cpu, lock) {
 *     yield lock.acquireSite;
 *     if (cmpxchg(lock word, UNLOCKED, LOCKED) !== UNLOCKED) return false;
 *     acquired(cpu, lock);
 *     return true;
 *   }
 */
class SpinTryLockOp extends StepOp<boolean> {
  constructor(
    private readonly cpu: Cpu,
    private readonly lock: LockRef,
  ) {
    super();
  }
  next(): IteratorResult<Site, boolean> {
    const { cpu, lock } = this;
    if (this.state === START) {
      this.state = AT_SITE;
      return { value: lock.acquireSite, done: false };
    }
    if (this.state === CLOSED) return finished();
    this.state = CLOSED;
    if (Atomics.compareExchange(cpu.i32, lock.index, UNLOCKED, LOCKED) !== UNLOCKED)
      return { value: false, done: true };
    acquired(cpu, lock);
    return { value: true, done: true };
  }
}

export function spinTryLock(cpu: Cpu, lock: LockRef): Op<boolean> {
  return new SpinTryLockOp(cpu, lock);
}

/** Stands for `function* spinUnlock(cpu, lock) { yield lock.releaseSite; released(cpu, lock); }`. */
class SpinUnlockOp extends StepOp<void> {
  constructor(
    private readonly cpu: Cpu,
    private readonly lock: LockRef,
  ) {
    super();
  }
  next(): IteratorResult<Site, void> {
    if (this.state === START) {
      this.state = AT_SITE;
      return { value: this.lock.releaseSite, done: false };
    }
    if (this.state === CLOSED) return finished();
    this.state = CLOSED;
    released(this.cpu, this.lock);
    return { value: undefined, done: true };
  }
}

export function spinUnlock(cpu: Cpu, lock: LockRef): Op {
  return new SpinUnlockOp(cpu, lock);
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
    if (task.waitsLazily) task.blockedOn = index; // untimed explore: runnable once it reads 0
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

/** The lock word is ours: record the owner, check lockdep order, and hold it. */
function acquired(cpu: Cpu, lock: LockRef): void {
  cpu.weak?.lockAcquired(lock.index); // spin_lock is an acquire (engine/order.ts)
  Atomics.store(cpu.i32, lock.index + 1, cpu.id + 1);
  if (lock.rank !== 0) checkLockOrder(cpu, lock);
  taskOf(cpu).held.push(lock);
}

/** Drop a held lock: forget it, clear the owner, free the word and wake a parked waiter if there may be one. */
function released(cpu: Cpu, lock: LockRef): void {
  const held = taskOf(cpu).held;
  const k = held.lastIndexOf(lock);
  if (k < 0) throw new Error(`cpu${cpu.id} releases ${lock.name}, which it does not hold`);
  // Locks are mostly released innermost first: pop() then, which allocates nothing (splice does).
  if (k === held.length - 1) held.pop();
  else held.splice(k, 1);
  cpu.weak?.lockReleasing(lock.index); // spin_unlock is a release (engine/order.ts)
  Atomics.store(cpu.i32, lock.index + 1, 0);
  if (Atomics.exchange(cpu.i32, lock.index, UNLOCKED) === LOCKED_WAITERS) Atomics.notify(cpu.i32, lock.index, 1);
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

/** What a counter op does: one site and one access; PlainAdd is two of each (load, site, store). */
const enum CounterAccess {
  Load,
  Store,
  Add,
  Cmpxchg,
  PlainAdd,
}
/** CounterOp state between PlainAdd's load and its store. */
const AT_STORE = 2;

/**
 * A counter as its ops see it (internal to CounterOp; model code calls load, store, add...): the sites,
 * indexed by CounterAccess, and the access made once an op is resumed at its site.
 */
interface CounterCore<T> {
  readonly sites: readonly Site[];
  /** The access (PlainAdd: its load, returning the value to store). */
  access(cpu: Cpu, kind: CounterAccess, a: T, b: T): T;
  /** PlainAdd's store of `v` (after its second site). */
  storePlain(cpu: Cpu, v: T): void;
}

/**
 * One counter method as a StepOp: stands for `function* () { yield site; return access(); }`, or for
 * PlainAdd `function* () { yield loadSite; v = load() + delta; yield storeSite; store(v); return v; }`.
 */
class CounterOp<T> extends StepOp<T> {
  private plain: T | undefined;
  constructor(
    private readonly cpu: Cpu,
    private readonly counter: CounterCore<T>,
    private readonly kind: CounterAccess,
    private readonly a: T,
    private readonly b: T,
  ) {
    super();
  }
  next(): IteratorResult<Site, T> {
    const { cpu, counter, kind } = this;
    switch (this.state) {
      case START:
        this.state = AT_SITE;
        return { value: counter.sites[kind === CounterAccess.PlainAdd ? CounterAccess.Load : kind]!, done: false };
      case AT_SITE:
        if (kind === CounterAccess.PlainAdd) {
          this.plain = counter.access(cpu, CounterAccess.PlainAdd, this.a, this.b);
          this.state = AT_STORE;
          return { value: counter.sites[CounterAccess.Store]!, done: false };
        }
        this.state = CLOSED;
        return { value: counter.access(cpu, kind, this.a, this.b), done: true };
      case AT_STORE:
        this.state = CLOSED;
        counter.storePlain(cpu, this.plain!);
        return { value: this.plain!, done: true };
      default:
        return finished();
    }
  }
}

/** A 32-bit counter in shared memory. Each method is one scheduling point plus one atomic access. */
export class Counter32 implements CounterCore<number> {
  /** Indexed by CounterAccess. */
  readonly sites: readonly Site[];
  constructor(
    readonly index: number,
    readonly name: string,
  ) {
    this.sites = [`read ${name}`, `write ${name}`, `atomic_add ${name}`, `cmpxchg ${name}`];
  }
  load(cpu: Cpu): Op<number> {
    return new CounterOp(cpu, this, CounterAccess.Load, 0, 0);
  }
  store(cpu: Cpu, v: number): Op {
    return new CounterOp(cpu, this, CounterAccess.Store, v, 0) as Op<unknown> as Op; // returns v; callers ignore it
  }
  /** Atomic add; returns the old value. */
  add(cpu: Cpu, delta: number): Op<number> {
    return new CounterOp(cpu, this, CounterAccess.Add, delta, 0);
  }
  /** Atomic compare-and-swap; returns the value found. */
  cmpxchg(cpu: Cpu, expected: number, v: number): Op<number> {
    return new CounterOp(cpu, this, CounterAccess.Cmpxchg, expected, v);
  }
  /**
   * The kernel's plain `x += delta` on a shared int: a load, a scheduling point, a store. Two vCPUs
   * interleaved here lose an update, as `nr_endpoints++` without a lock does. Returns the value stored.
   */
  plainAdd(cpu: Cpu, delta: number): Op<number> {
    return new CounterOp(cpu, this, CounterAccess.PlainAdd, delta, 0);
  }
  /** CounterCore (for CounterOp only). */
  access(cpu: Cpu, kind: CounterAccess, a: number, b: number): number {
    const i32 = cpu.i32;
    const index = this.index;
    switch (kind) {
      case CounterAccess.Load: {
        const v = Atomics.load(i32, index);
        cpu.note('read', this.name, index, v);
        return v;
      }
      case CounterAccess.Store:
        Atomics.store(i32, index, a);
        cpu.note('write', this.name, index, a);
        return a;
      case CounterAccess.Add: {
        const old = Atomics.add(i32, index, a);
        cpu.note('add', this.name, index, old + a, old);
        return old;
      }
      case CounterAccess.Cmpxchg: {
        const old = Atomics.compareExchange(i32, index, a, b);
        cpu.note(old === a ? 'cmpxchg' : 'read', this.name, index, old === a ? b : old, old);
        return old;
      }
      case CounterAccess.PlainAdd: {
        const old = Atomics.load(i32, index);
        cpu.note('read', this.name, index, old);
        return old + a;
      }
    }
  }
  storePlain(cpu: Cpu, v: number): void {
    Atomics.store(cpu.i32, this.index, v);
    cpu.note('write', this.name, this.index, v);
  }
  peek(i32: Int32Array): number {
    return Atomics.load(i32, this.index);
  }
}

/** A 64-bit counter (the flush queue's start/finish counters are u64 in the kernel). */
export class Counter64 implements CounterCore<bigint> {
  /** Indexed by CounterAccess. */
  readonly sites: readonly Site[];
  /** `index` is into the BigInt64Array view. */
  constructor(
    readonly index: number,
    readonly name: string,
  ) {
    this.sites = [`read ${name}`, `write ${name}`, `atomic64_add ${name}`, `cmpxchg64 ${name}`];
  }
  load(cpu: Cpu): Op<bigint> {
    return new CounterOp(cpu, this, CounterAccess.Load, 0n, 0n);
  }
  store(cpu: Cpu, v: bigint): Op {
    return new CounterOp(cpu, this, CounterAccess.Store, v, 0n) as Op<unknown> as Op; // returns v; callers ignore it
  }
  add(cpu: Cpu, delta: bigint): Op<bigint> {
    return new CounterOp(cpu, this, CounterAccess.Add, delta, 0n);
  }
  cmpxchg(cpu: Cpu, expected: bigint, v: bigint): Op<bigint> {
    return new CounterOp(cpu, this, CounterAccess.Cmpxchg, expected, v);
  }
  /** Non-atomic `x += delta`: load, scheduling point, store. */
  plainAdd(cpu: Cpu, delta: bigint): Op<bigint> {
    return new CounterOp(cpu, this, CounterAccess.PlainAdd, delta, 0n);
  }
  /** CounterCore (for CounterOp only). */
  access(cpu: Cpu, kind: CounterAccess, a: bigint, b: bigint): bigint {
    const i64 = cpu.i64;
    switch (kind) {
      case CounterAccess.Load:
        return Atomics.load(i64, this.index);
      case CounterAccess.Store:
        Atomics.store(i64, this.index, a);
        return a;
      case CounterAccess.Add:
        return Atomics.add(i64, this.index, a);
      case CounterAccess.Cmpxchg:
        return Atomics.compareExchange(i64, this.index, a, b);
      case CounterAccess.PlainAdd:
        return Atomics.load(i64, this.index) + a;
    }
  }
  storePlain(cpu: Cpu, v: bigint): void {
    Atomics.store(cpu.i64, this.index, v);
  }
  peek(i64: BigInt64Array): bigint {
    return Atomics.load(i64, this.index);
  }
}
