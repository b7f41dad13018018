/**
 * TEMPORARY: the few kernel ordering primitives cookie.ts uses, with the names and signatures of
 * src/engine/order.ts (helper `weak`), in their SC form (plain Atomics), until that file is merged.
 */
import type { Cpu } from '../../engine/cpu.js';

export function READ_ONCE(cpu: Cpu, idx: number): number {
  return Atomics.load(cpu.i32, idx);
}
export function WRITE_ONCE(cpu: Cpu, idx: number, v: number): void {
  Atomics.store(cpu.i32, idx, v);
}
export function smp_wmb(_cpu: Cpu): void {}
export function smp_mb(_cpu: Cpu): void {}
export const atomic_read = READ_ONCE;
export const atomic_set = WRITE_ONCE;
export function atomic_xchg(cpu: Cpu, idx: number, v: number): number {
  return Atomics.exchange(cpu.i32, idx, v);
}
export function atomic64_read(cpu: Cpu, idx: number): bigint {
  return Atomics.load(cpu.i64, idx);
}
export function atomic64_set(cpu: Cpu, idx: number, v: bigint): void {
  Atomics.store(cpu.i64, idx, v);
}
export function atomic64_inc(cpu: Cpu, idx: number): void {
  Atomics.add(cpu.i64, idx, 1n);
}
export function WRITE_ONCE64(cpu: Cpu, idx: number, v: bigint): void {
  Atomics.store(cpu.i64, idx, v);
}
export function READ_ONCE64(cpu: Cpu, idx: number): bigint {
  return Atomics.load(cpu.i64, idx);
}
