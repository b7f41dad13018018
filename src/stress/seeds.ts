import { mix32 } from '../engine/rng.js';

/**
 * The op seed of a stress slice. Scenarios that start each slice from a fresh model also restart every
 * vCPU's op program from this seed, so a failing slice is exactly `explore --op-seed <it>` territory.
 */
export function sliceSeed(seed: number, slice: number, reseedEachSlice: boolean): number {
  return reseedEachSlice ? mix32(seed, 0x51ce + slice) : seed;
}
