// PCT's weak-memory choice policy (src/explore/weak-policy.ts): per execution, every location is delayed
// or prompt, and a fixed number of ordering-primitive accesses are change points. Pure unit tests.
import { describe, expect, it } from 'vitest';
import { rngFor } from '../src/engine/rng.js';
import { VisibilityDelays } from '../src/explore/weak-policy.js';

/** One execution's answers: a store to and a read of each of `locs` locations (a read may see 3 older values). */
function execution(p: VisibilityDelays, locs: number): { store: number[]; read: number[] } {
  p.newExecution();
  const store: number[] = [];
  const read: number[] = [];
  for (let l = 0; l < locs; l++) store.push(p.choice(2, 'store', l, 0));
  for (let l = 0; l < locs; l++) read.push(p.choice(5, 'read', l, 3));
  return { store, read };
}

describe('PCT visibility delays', () => {
  it('a location is delayed or prompt for the whole execution: buffered stores and oldest reads go together', () => {
    const p = new VisibilityDelays(rngFor(7, 2));
    const { store, read } = execution(p, 200);
    // A delayed location: its store stays buffered (1) and its read returns the oldest value (3); a prompt
    // one answers 0 twice. One decision in 16 is a fair coin instead, so allow a few mismatches.
    const together = store.filter((s, l) => (s === 1 && read[l] === 3) || (s === 0 && read[l] === 0)).length;
    expect(together).toBeGreaterThan(160);
    const delayed = store.filter((s) => s === 1).length;
    expect(delayed).toBeGreaterThan(60);
    expect(delayed).toBeLessThan(140);
    for (const k of read) expect(k >= 0 && k < 5).toBe(true);
    // The next execution draws its locations anew.
    expect(execution(p, 200).store).not.toEqual(store);
  });

  it('is a pure function of the seed', () => {
    const a = new VisibilityDelays(rngFor(3, 2));
    const b = new VisibilityDelays(rngFor(3, 2));
    expect(execution(a, 50)).toEqual(execution(b, 50));
  });

  it('makes 16 change points per execution among the accesses, spread over the longest execution so far', () => {
    const p = new VisibilityDelays(rngFor(1, 2));
    const drops = (accesses: number): number[] => {
      p.newExecution();
      const at: number[] = [];
      for (let i = 0; i < accesses; i++) {
        p.access();
        if (p.takeDrop()) at.push(i);
      }
      return at;
    };
    // The first execution assumes 64 accesses; once one made 1000, points spread over 1000.
    expect(drops(1000).length).toBe(16);
    const later = drops(1000);
    expect(later.length).toBe(16);
    expect(Math.max(...later)).toBeGreaterThan(500);
    expect(p.takeDrop()).toBe(false);
  });
});
