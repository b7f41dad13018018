// The kernel ordering primitives (src/engine/order.ts) under --memory sc: each is the plain Atomics
// operation on the word it names, with the kernel's return convention (old value, new value, nothing).
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu } from '../src/engine/cpu.js';
import { allocateMemory, defineLayout } from '../src/engine/layout.js';
import * as o from '../src/engine/order.js';

// Region a: i32 words 0..3; region b: i64 words 8.. (the next cache line), so the two never overlap.
const B = 8;
function cpu(): Cpu {
  const mem = allocateMemory(defineLayout(1, { a: { kind: 'i32', count: 4 }, b: { kind: 'i64', count: 2 } }));
  expect(mem.layout.regions.b!.base).toBe(B);
  return new Cpu(0, 'explore', mem, new Checker([]));
}

describe('order.ts under sc', () => {
  it('marked accesses, acquire/release and barriers are the plain Atomics operations', () => {
    const c = cpu();
    expect(c.weak).toBeUndefined();
    o.WRITE_ONCE(c, 1, 7);
    expect(c.i32[1]).toBe(7);
    expect(o.READ_ONCE(c, 1)).toBe(7);
    o.smp_store_release(c, 2, 9);
    expect(o.smp_load_acquire(c, 2)).toBe(9);
    o.WRITE_ONCE64(c, B, 1n << 40n);
    expect(o.READ_ONCE64(c, B)).toBe(1n << 40n);
    o.smp_store_release64(c, B, 5n);
    expect(o.smp_load_acquire64(c, B)).toBe(5n);
    o.smp_mb(c);
    o.smp_wmb(c);
    o.smp_rmb(c);
    o.dma_wmb(c);
    o.dma_rmb(c);
    expect(Array.from(c.i32.subarray(0, 4))).toEqual([0, 7, 9, 0]);
  });

  it('atomics return what the kernel returns', () => {
    const c = cpu();
    o.atomic_inc(c, 0);
    o.atomic_inc(c, 0);
    o.atomic_dec(c, 0);
    expect(o.atomic_read(c, 0)).toBe(1);
    expect(o.atomic_inc_return(c, 0)).toBe(2);
    expect(o.atomic_add_return(c, 0, 3)).toBe(5);
    expect(o.atomic_fetch_add(c, 0, 1)).toBe(5);
    expect(o.atomic_cmpxchg(c, 0, 6, 10)).toBe(6);
    expect(o.cmpxchg(c, 0, 6, 11)).toBe(10); // fails: returns what it found
    expect(o.cmpxchg_relaxed(c, 0, 10, 12)).toBe(10);
    expect(o.xchg(c, 0, 1)).toBe(12);
    expect(o.atomic_read(c, 0)).toBe(1);
    o.atomic64_inc(c, B + 1);
    expect(o.atomic64_inc_return(c, B + 1)).toBe(2n);
    expect(o.atomic64_add_return(c, B + 1, 5n)).toBe(7n);
    expect(o.cmpxchg64_relaxed(c, B + 1, 7n, 9n)).toBe(7n);
    expect(o.cmpxchg64(c, B + 1, 1n, 2n)).toBe(9n);
    expect(o.atomic64_read(c, B + 1)).toBe(9n);
  });
});
