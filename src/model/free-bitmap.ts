/**
 * A set of free slots (table pages, magazines) as a bitmap in shared memory: a slot is taken with
 * compare-and-swap on its word and returned with an atomic OR, so a pool needs no lock and each call
 * is one scheduling point in the model that uses it. Bit n of word n>>5 set = slot n is free.
 *
 * Not a kernel mechanism: it stands in for the page allocator and kmalloc wherever a model needs memory
 * that is not the object of study (kernel-model.md §6 table pages, §2.1 magazines).
 */
import type { RegionSpec } from '../engine/layout.js';

/** tryTake found the word changed under it (another CPU took or returned a slot): try again. */
export const RETRY = -2;

export function freeBitmapRegion(count: number): RegionSpec {
  return { kind: 'i32', count: Math.ceil(count / 32) };
}

export class FreeBitmap {
  private readonly words: number;

  constructor(
    private readonly base: number,
    readonly count: number,
  ) {
    this.words = Math.ceil(count / 32);
  }

  /** Setup: every slot free except those `keep` says are taken. */
  init(i32: Int32Array, taken: (n: number) => boolean = () => false): void {
    for (let n = 0; n < this.count; n++) if (!taken(n)) i32[this.base + (n >> 5)]! |= 1 << (n & 31);
  }

  /**
   * Take the lowest free slot: its number, -1 when none is free, or RETRY.
   *
   * One scheduling point for a scan and a CAS (issue 13, "no window explore cannot see"): the CAS is the
   * only write, so no other vCPU can observe a state between the scan and it; the scan's loads are hints
   * the CAS validates (it fails, and the caller retries, if the word changed since it was read). What a
   * racing thread can see in stress mode — a take that returns a higher slot than the lowest free one,
   * because a give landed in a word already scanned — is the same result as that give ordered after the
   * take, which explore does produce. The RETRY path itself is stress-only: explore runs the step alone.
   */
  tryTake(i32: Int32Array): number {
    let w = 0;
    let bits = 0;
    for (; w < this.words; w++) if ((bits = Atomics.load(i32, this.base + w)) !== 0) break;
    if (w === this.words) return -1;
    const bit = 31 - Math.clz32(bits & -bits);
    // Stress mode: another CPU may change this word between our load and CAS.
    if (Atomics.compareExchange(i32, this.base + w, bits, bits & ~(1 << bit)) !== bits) return RETRY;
    return w * 32 + bit;
  }

  /** Return slot n; true when it was free already (a double free). One atomic access. */
  give(i32: Int32Array, n: number): boolean {
    const bit = 1 << (n & 31);
    return (Atomics.or(i32, this.base + (n >> 5), bit) & bit) !== 0;
  }

  isFree(i32: Int32Array, n: number): boolean {
    return (Atomics.load(i32, this.base + (n >> 5)) & (1 << (n & 31))) !== 0;
  }

  /** The free slots (read on a quiescent model). */
  freeSlots(i32: Int32Array): number[] {
    const out: number[] = [];
    for (let n = 0; n < this.count; n++) if (this.isFree(i32, n)) out.push(n);
    return out;
  }
}
