/**
 * iommu_pgsize — kernel-model.md §5.1 (IOMMU-C, with J. Gunthorpe's overflow-checked boundary step).
 *
 * Picks the largest page size of the domain's pgsize_bitmap that fits the remaining size and the
 * alignment of iova|paddr, and how many such pages to map before it is worth switching to the next
 * bigger size: if iova and paddr are congruent modulo the next size, stop at its boundary (when a whole
 * next-size page still fits after it) so that the next call can use the bigger page.
 *
 * Simplifications: the bitmap is a list of page sizes (powers of two, ascending) rather than a bit mask,
 * and arithmetic is on JS numbers, exact below 2^53 (the model's IOVAs and physical addresses are below
 * 2^48). The kernel's `unsigned long` matters only for the boundary step's overflow check, so the word
 * width is a parameter: with 64-bit words and our magnitudes `offset + pgsize_next` cannot overflow; the
 * 32-bit word shows the bug the check fixed (`wordBits: 32, checkedAdd: false`).
 */

import { SZ_1G, SZ_2M, SZ_4K } from '../pgtable.js';

/** The LPAE 4 KiB-granule domain: pgsize_bitmap = SZ_4K | SZ_2M | SZ_1G (kernel-model.md §1). */
export const LPAE_PGSIZES: readonly number[] = [SZ_4K, SZ_2M, SZ_1G];

export interface PgsizeWord {
  /** Width of the kernel's unsigned long. */
  readonly bits: 32 | 64;
  /** check_add_overflow on `offset + pgsize_next` (the fix); false = the wrapping add before it. */
  readonly checkedAdd: boolean;
}

export const U64_CHECKED: PgsizeWord = { bits: 64, checkedAdd: true };

export interface Pgsize {
  readonly pgsize: number;
  readonly count: number;
}

/** Is x a multiple of the power of two p (x, p exact integers below 2^53)? */
const aligned = (x: number, p: number): boolean => x % p === 0;

/**
 * iommu_pgsize(domain, iova, paddr, size, &count). Throws where the kernel WARNs and returns 0 (no
 * candidate size: the caller did not check alignment against the smallest page).
 */
export function iommuPgsize(
  pgsizes: readonly number[],
  iova: number,
  paddr: number,
  size: number,
  word: PgsizeWord = U64_CHECKED,
): Pgsize {
  // Page sizes supported by the hardware and small enough for `size`, and aligned with iova|paddr:
  // 2^i divides (iova | paddr) exactly when it divides both.
  let pgsize = 0;
  let next = 0;
  for (const p of pgsizes) {
    if (p <= size && aligned(iova, p) && aligned(paddr, p)) pgsize = p;
  }
  if (pgsize === 0)
    throw new RangeError(
      `iommu_pgsize: no page size fits iova 0x${iova.toString(16)} paddr 0x${paddr.toString(16)} size 0x${size.toString(16)}`,
    );
  for (const p of pgsizes)
    if (p > pgsize) {
      next = p;
      break;
    }
  // No bigger page size at all: as many of this one as fit.
  if (next === 0) return { pgsize, count: Math.floor(size / pgsize) };
  // Not congruent modulo the next size (iova ^ paddr has bits below it): never promotable.
  if (iova % next !== paddr % next) return { pgsize, count: Math.floor(size / pgsize) };
  // Distance to the next `next` boundary: next - (addr_merge & (next - 1)); both remainders are below
  // next <= 2^30 in the model, so the OR is exact on 32-bit ints.
  const offset = next - ((iova % next) | (paddr % next));
  // If a whole next-size page still fits after the boundary, stop at the boundary.
  const wordMod = 2 ** word.bits;
  let end = offset + next;
  let overflow = false;
  if (end >= wordMod) {
    overflow = true;
    end -= wordMod; // what the wrapping add leaves
  }
  if ((word.checkedAdd ? !overflow : true) && end <= size) size = offset;
  return { pgsize, count: Math.floor(size / pgsize) };
}
