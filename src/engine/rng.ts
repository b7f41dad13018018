/**
 * Seeded randomness. Op programs draw from pure-rand's xoroshiro128+ keyed by (seed, vCPU), so the same
 * seed gives every vCPU the same op stream in a stress worker and in the explore executor.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

export type { RandomGenerator };

/** A 32-bit mix (murmur3 finaliser) so that neighbouring (seed, key) pairs give unrelated streams. */
export function mix32(a: number, b: number): number {
  let h = (Math.imul(a | 0, 0x9e3779b1) ^ Math.imul((b | 0) + 0x7f4a7c15, 0x85ebca6b)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** The op-program generator of one vCPU. */
export function opRng(seed: number, cpu: number): RandomGenerator {
  return xoroshiro128plus(mix32(seed, cpu + 1));
}

/** A generator for a named purpose (a scheduler, an execution), independent of the op streams. */
export function rngFor(seed: number, purpose: number): RandomGenerator {
  return xoroshiro128plus(mix32(mix32(seed, 0x5eed), purpose));
}

/**
 * Uniform integer in [lo, hi], both included: pure-rand's uniformInt, draw for draw (the op programs and
 * the explore schedulers are defined by these draws; test/rng.test.ts checks the two agree), at less cost:
 *  - a range whose size is a power of two (up to 2^30) is never rejected by uniformInt (its bound,
 *    floor(2^32 / size) * size, is 2^32) and gives (draw + 2^31) mod size: the draw's low bits, a mask;
 *  - any other size up to 2^31 rejects the same draws (computing the bound only for a draw within n of
 *    2^32, the only ones it can reject); the remainder is taken as v - floor(v / n) * n,
 *    exact here (v < 2^32, so the quotient's rounding error is below 1/n and cannot reach the next
 *    integer), instead of a floating-point % that costs more than the rest of the draw.
 * The random strategy draws at every step, the op programs several times per op.
 */
export function randInt(rng: RandomGenerator, lo: number, hi: number): number {
  const n = hi - lo + 1;
  if (!(n > 0 && n <= 0x80000000)) return uniformInt(rng, lo, hi);
  if (n <= 0x40000000 && (n & (n - 1)) === 0) return (rng.next() & (n - 1)) + lo;
  // uniformInt rejects v >= floor(2^32 / n) * n, a bound above 2^32 - n: a draw at or below that is kept
  // without computing the bound (a division, as much as the rest of the draw).
  let v = rng.next() + 2147483648;
  while (v > 4294967296 - n && v >= (n > 2 ? Math.floor(4294967296 / n) * n : 4294967296)) v = rng.next() + 2147483648;
  return v - Math.floor(v / n) * n + lo;
}

/** Pick an index by integer weights. */
export function pickWeighted(rng: RandomGenerator, weights: readonly number[]): number {
  let total = 0;
  for (const w of weights) total += w;
  let r = randInt(rng, 0, total - 1);
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i]!;
    if (r < 0) return i;
  }
  return weights.length - 1;
}
