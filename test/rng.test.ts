/**
 * randInt (engine/rng.ts) must draw exactly as pure-rand's uniformInt: the op programs and the explore
 * schedulers are defined by those draws (a replay token holds a seed, not the values), so a faster path
 * that gave one different value, or consumed the generator differently, would break every token.
 */
import { describe, expect, it } from 'vitest';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { opRng, randInt, rngFor } from '../src/engine/rng.js';

describe('randInt', () => {
  it('draws what uniformInt draws and leaves the generator where uniformInt leaves it', () => {
    // Power-of-two sizes (the masked path) up to its limit and past it, others around them, big ranges.
    const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 16, 28, 64, 255, 256, 257, 4096, 2 ** 20, 2 ** 30 - 1, 2 ** 30];
    sizes.push(2 ** 30 + 1, 2 ** 31, 2 ** 32, 2 ** 32 + 3, 2 ** 40);
    for (const seed of [1, 2, 0x7fffffff, -5]) {
      const a = opRng(seed, 3);
      const b = opRng(seed, 3);
      const mine: number[] = [];
      const theirs: number[] = [];
      for (let k = 0; k < 1_000; k++) {
        const size = sizes[k % sizes.length]!;
        const lo = (k % 5) - 2;
        mine.push(randInt(a, lo, lo + size - 1));
        theirs.push(uniformInt(b, lo, lo + size - 1));
      }
      expect(mine).toEqual(theirs);
      // The same position in the stream afterwards.
      expect(a.next()).toBe(b.next());
    }
    const s = rngFor(9, 1);
    const t = rngFor(9, 1);
    const picks = Array.from({ length: 1_000 }, () => randInt(s, 0, 3));
    expect(picks).toEqual(Array.from({ length: 1_000 }, () => uniformInt(t, 0, 3)));
  });
});
