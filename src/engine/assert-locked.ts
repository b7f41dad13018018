/**
 * assert_spin_locked / lockdep_assert_held for model code that folds several writes to shared state into
 * one scheduling point (issue 13 item 3): the fold hides no window from explore only while every other
 * accessor of those words takes the same lock, so the model asserts it holds it. Failing it is a bug in
 * the model (a patch that moved the access out of the lock), not a kernel invariant: it throws.
 */
import type { Cpu, LockRef } from './cpu.js';
import { lockHeld } from './sync.js';

export function assertSpinLocked(cpu: Cpu, lock: LockRef, what: string): void {
  if (!lockHeld(cpu, lock)) throw new Error(`model: ${cpu.name} ${what} without ${lock.name}`);
}
