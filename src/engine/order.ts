/**
 * The kernel's ordering primitives, named as the kernel names them (include/asm-generic/rwonce.h,
 * include/asm-generic/barrier.h, include/linux/atomic/atomic-instrumented.h; their meaning is the Linux
 * kernel memory model's, tools/memory-model/linux-kernel.cat).
 *
 * None of them yields: the scheduling point is the site the caller yielded just before, exactly as
 * for a plain Atomics access. `idx` is a word index into cpu.i32, or into cpu.i64 for the *64 forms.
 *
 * Under `--memory sc` (the default, and always in stress mode, where JavaScript Atomics are
 * sequentially consistent on real threads) each primitive is the plain Atomics operation: `cpu.weak` is
 * undefined and the cost is that one check. Under `--memory weak` the explore executor gives each vCPU
 * a WeakMemory (engine/weak-memory.ts) and every primitive goes through it: a load may then return an
 * older value of its location and a store may be placed before a newer one in coherence order, each
 * such freedom being a recorded scheduler decision, within what the barriers below allow.
 *
 * Orderings (LKMM): READ_ONCE/WRITE_ONCE, atomic_read/atomic_set, atomic_inc/dec/add/sub and the
 * *_relaxed RMWs are unordered; smp_load_acquire is an acquire, smp_store_release a release;
 * value-returning RMWs (atomic_*_return, atomic_cmpxchg, cmpxchg, xchg) are fully ordered (as if an
 * smp_mb() stood on each side; a failed cmpxchg orders nothing, as LKMM says, but we keep it ordered:
 * stronger, never a false alarm).
 */
import type { Cpu } from './cpu.js';
import { Fence, Ord, Rmw } from './memory-order.js';

export { Fence, Ord, Rmw, type MemoryOrder } from './memory-order.js';

// ---- marked plain accesses --------------------------------------------------------------------------

export function READ_ONCE(cpu: Cpu, idx: number): number {
  const w = cpu.weak;
  return w === undefined ? Atomics.load(cpu.i32, idx) : (w.load(false, idx, Ord.ONCE) as number);
}

export function WRITE_ONCE(cpu: Cpu, idx: number, v: number): void {
  const w = cpu.weak;
  if (w === undefined) Atomics.store(cpu.i32, idx, v);
  else w.store(false, idx, v, Ord.ONCE);
}

export function READ_ONCE64(cpu: Cpu, idx: number): bigint {
  const w = cpu.weak;
  return w === undefined ? Atomics.load(cpu.i64, idx) : (w.load(true, idx, Ord.ONCE) as bigint);
}

export function WRITE_ONCE64(cpu: Cpu, idx: number, v: bigint): void {
  const w = cpu.weak;
  if (w === undefined) Atomics.store(cpu.i64, idx, v);
  else w.store(true, idx, v, Ord.ONCE);
}

// ---- acquire / release ------------------------------------------------------------------------------

export function smp_load_acquire(cpu: Cpu, idx: number): number {
  const w = cpu.weak;
  return w === undefined ? Atomics.load(cpu.i32, idx) : (w.load(false, idx, Ord.ACQUIRE) as number);
}

export function smp_store_release(cpu: Cpu, idx: number, v: number): void {
  const w = cpu.weak;
  if (w === undefined) Atomics.store(cpu.i32, idx, v);
  else w.store(false, idx, v, Ord.RELEASE);
}

export function smp_load_acquire64(cpu: Cpu, idx: number): bigint {
  const w = cpu.weak;
  return w === undefined ? Atomics.load(cpu.i64, idx) : (w.load(true, idx, Ord.ACQUIRE) as bigint);
}

export function smp_store_release64(cpu: Cpu, idx: number, v: bigint): void {
  const w = cpu.weak;
  if (w === undefined) Atomics.store(cpu.i64, idx, v);
  else w.store(true, idx, v, Ord.RELEASE);
}

// ---- barriers ----------------------------------------------------------------------------------------

export function smp_mb(cpu: Cpu): void {
  cpu.weak?.fence(Fence.MB);
}

export function smp_wmb(cpu: Cpu): void {
  cpu.weak?.fence(Fence.WMB);
}

export function smp_rmb(cpu: Cpu): void {
  cpu.weak?.fence(Fence.RMB);
}

export function dma_wmb(cpu: Cpu): void {
  cpu.weak?.fence(Fence.DMA_WMB);
}

export function dma_rmb(cpu: Cpu): void {
  cpu.weak?.fence(Fence.DMA_RMB);
}

/** smp_mb__before_atomic / smp_mb__after_atomic: a full barrier next to an unordered RMW. */
export function smp_mb__before_atomic(cpu: Cpu): void {
  cpu.weak?.fence(Fence.MB);
}

export function smp_mb__after_atomic(cpu: Cpu): void {
  cpu.weak?.fence(Fence.MB);
}

// ---- atomic_t (32-bit) ------------------------------------------------------------------------------

export const atomic_read = READ_ONCE;
export const atomic_set = WRITE_ONCE;

/**
 * An atomic add whose old value nobody reads: the sc implementation of atomic_inc/dec/add/sub and of
 * atomic64_inc/dec/add/sub, and what harness counters use. Two such adds commute (the same end value in
 * either order, and neither step learns anything from the other), so explore's dfs swaps these two
 * functions, for its campaign, for ones that record the access as a commuting update
 * (explore/footprint.ts) instead of a write: a counter bumped by every op then creates no branch.
 */
export const counterAdd = {
  i32(a: Int32Array, idx: number, delta: number): void {
    Atomics.add(a, idx, delta);
  },
  i64(a: BigInt64Array, idx: number, delta: bigint): void {
    Atomics.add(a, idx, delta);
  },
};

/** atomic_inc/dec/add/sub: relaxed, no result. */
function add32(cpu: Cpu, idx: number, delta: number): void {
  const w = cpu.weak;
  if (w !== undefined) w.rmw(false, idx, Rmw.ADD, delta, 0, Ord.ONCE);
  else counterAdd.i32(cpu.i32, idx, delta);
}

function add64(cpu: Cpu, idx: number, delta: bigint): void {
  const w = cpu.weak;
  if (w !== undefined) w.rmw(true, idx, Rmw.ADD, delta, 0n, Ord.ONCE);
  else counterAdd.i64(cpu.i64, idx, delta);
}

function rmw32(cpu: Cpu, idx: number, op: Rmw, a: number, b: number, ord: Ord): number {
  const w = cpu.weak;
  if (w !== undefined) return w.rmw(false, idx, op, a, b, ord) as number;
  switch (op) {
    case Rmw.ADD:
      return Atomics.add(cpu.i32, idx, a);
    case Rmw.XCHG:
      return Atomics.exchange(cpu.i32, idx, a);
    default:
      return Atomics.compareExchange(cpu.i32, idx, a, b);
  }
}

/** Relaxed, returns nothing. */
export function atomic_inc(cpu: Cpu, idx: number): void {
  add32(cpu, idx, 1);
}

export function atomic_dec(cpu: Cpu, idx: number): void {
  add32(cpu, idx, -1);
}

export function atomic_add(cpu: Cpu, idx: number, delta: number): void {
  add32(cpu, idx, delta);
}

export function atomic_sub(cpu: Cpu, idx: number, delta: number): void {
  add32(cpu, idx, -delta);
}

/** Fully ordered; the new value. */
export function atomic_add_return(cpu: Cpu, idx: number, delta: number): number {
  return (rmw32(cpu, idx, Rmw.ADD, delta, 0, Ord.FULL) + delta) | 0;
}

export function atomic_inc_return(cpu: Cpu, idx: number): number {
  return atomic_add_return(cpu, idx, 1);
}

export function atomic_dec_return(cpu: Cpu, idx: number): number {
  return atomic_add_return(cpu, idx, -1);
}

/** Fully ordered; the old value. */
export function atomic_fetch_add(cpu: Cpu, idx: number, delta: number): number {
  return rmw32(cpu, idx, Rmw.ADD, delta, 0, Ord.FULL);
}

/** Fully ordered; returns the value found (the swap happened iff it equals `old`). */
export function atomic_cmpxchg(cpu: Cpu, idx: number, old: number, v: number): number {
  return rmw32(cpu, idx, Rmw.CMPXCHG, old, v, Ord.FULL);
}

export const cmpxchg = atomic_cmpxchg;

/** Unordered: only atomicity. */
export function cmpxchg_relaxed(cpu: Cpu, idx: number, old: number, v: number): number {
  return rmw32(cpu, idx, Rmw.CMPXCHG, old, v, Ord.ONCE);
}

export function cmpxchg_acquire(cpu: Cpu, idx: number, old: number, v: number): number {
  return rmw32(cpu, idx, Rmw.CMPXCHG, old, v, Ord.ACQUIRE);
}

export function cmpxchg_release(cpu: Cpu, idx: number, old: number, v: number): number {
  return rmw32(cpu, idx, Rmw.CMPXCHG, old, v, Ord.RELEASE);
}

/** Fully ordered; the old value. */
export function xchg(cpu: Cpu, idx: number, v: number): number {
  return rmw32(cpu, idx, Rmw.XCHG, v, 0, Ord.FULL);
}

export const atomic_xchg = xchg;

export function xchg_relaxed(cpu: Cpu, idx: number, v: number): number {
  return rmw32(cpu, idx, Rmw.XCHG, v, 0, Ord.ONCE);
}

export function xchg_acquire(cpu: Cpu, idx: number, v: number): number {
  return rmw32(cpu, idx, Rmw.XCHG, v, 0, Ord.ACQUIRE);
}

export function xchg_release(cpu: Cpu, idx: number, v: number): number {
  return rmw32(cpu, idx, Rmw.XCHG, v, 0, Ord.RELEASE);
}

// ---- atomic64_t and 64-bit cmpxchg (cpu.i64) -------------------------------------------------------

export const atomic64_read = READ_ONCE64;
export const atomic64_set = WRITE_ONCE64;

function rmw64(cpu: Cpu, idx: number, op: Rmw, a: bigint, b: bigint, ord: Ord): bigint {
  const w = cpu.weak;
  if (w !== undefined) return w.rmw(true, idx, op, a, b, ord) as bigint;
  switch (op) {
    case Rmw.ADD:
      return Atomics.add(cpu.i64, idx, a);
    case Rmw.XCHG:
      return Atomics.exchange(cpu.i64, idx, a);
    default:
      return Atomics.compareExchange(cpu.i64, idx, a, b);
  }
}

export function atomic64_inc(cpu: Cpu, idx: number): void {
  add64(cpu, idx, 1n);
}

export function atomic64_dec(cpu: Cpu, idx: number): void {
  add64(cpu, idx, -1n);
}

export function atomic64_add(cpu: Cpu, idx: number, delta: bigint): void {
  add64(cpu, idx, delta);
}

export function atomic64_add_return(cpu: Cpu, idx: number, delta: bigint): bigint {
  return BigInt.asIntN(64, rmw64(cpu, idx, Rmw.ADD, delta, 0n, Ord.FULL) + delta);
}

export function atomic64_inc_return(cpu: Cpu, idx: number): bigint {
  return atomic64_add_return(cpu, idx, 1n);
}

export function atomic64_dec_return(cpu: Cpu, idx: number): bigint {
  return atomic64_add_return(cpu, idx, -1n);
}

export function atomic64_fetch_add(cpu: Cpu, idx: number, delta: bigint): bigint {
  return rmw64(cpu, idx, Rmw.ADD, delta, 0n, Ord.FULL);
}

export function atomic64_cmpxchg(cpu: Cpu, idx: number, old: bigint, v: bigint): bigint {
  return rmw64(cpu, idx, Rmw.CMPXCHG, old, v, Ord.FULL);
}

export const cmpxchg64 = atomic64_cmpxchg;

export function cmpxchg64_relaxed(cpu: Cpu, idx: number, old: bigint, v: bigint): bigint {
  return rmw64(cpu, idx, Rmw.CMPXCHG, old, v, Ord.ONCE);
}

export function atomic64_xchg(cpu: Cpu, idx: number, v: bigint): bigint {
  return rmw64(cpu, idx, Rmw.XCHG, v, 0n, Ord.FULL);
}

export const xchg64 = atomic64_xchg;
