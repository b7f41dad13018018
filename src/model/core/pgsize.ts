/**
 * iommu_pgsize — kernel-model.md §5.1 (IOMMU-C, with J. Gunthorpe's overflow-checked boundary step);
 * drivers/iommu/iommu.c: iommu_pgsize.
 *
 * Picks the largest page size of the domain's pgsize_bitmap that fits the remaining size and the
 * alignment of iova|paddr, and how many such pages to map before it is worth switching to the next
 * bigger size: if iova and paddr are congruent modulo the next size, stop at its boundary (when a whole
 * next-size page still fits after it) so that the next call can use the bigger page.
 *
 * Exact for every input the kernel's unsigned long / size_t can hold (page sizes up to 2^63, iova, paddr
 * and size up to 2^64 - 1, `offset + pgsize_next` reaching 2^64): `iommuPgsizeU64` computes on BigInts
 * reduced to the word width; `iommuPgsize` takes JS numbers (the model's addresses are below 2^48) and
 * computes on numbers only where every intermediate is an exact integer below 2^53, handing everything
 * else to the BigInt path. (Why not numbers throughout: `|` truncates to 32 bits, and a sum above 2^53
 * rounds — `2^64 - 4096 + 2^63` is not a double.)
 *
 * Simplification: the bitmap is a list of page sizes (powers of two, ascending) rather than a bit mask.
 * The word width is a parameter only for the boundary step's overflow check: the 32-bit word shows the bug
 * the check fixed (`bits: 32, checkedAdd: false`).
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

export interface Pgsize64 {
  readonly pgsize: bigint;
  readonly count: bigint;
}

const exact = (v: number): boolean => Number.isSafeInteger(v) && v >= 0;

function noFit(iova: bigint | number, paddr: bigint | number, size: bigint | number): RangeError {
  return new RangeError(
    `iommu_pgsize: no page size fits iova 0x${iova.toString(16)} paddr 0x${paddr.toString(16)} size 0x${size.toString(16)}`,
  );
}

/**
 * iommu_pgsize(domain, iova, paddr, size, &count) on the word's integers. `pgsizes` are ascending powers
 * of two below 2^bits; iova, paddr and size are taken modulo 2^bits (as the C arguments would be). Throws
 * where the kernel hits BUG_ON(!pgsizes) (no candidate size: the caller did not check alignment against
 * the smallest page).
 */
export function iommuPgsizeU64(
  pgsizes: readonly bigint[],
  iova: bigint,
  paddr: bigint,
  size: bigint,
  word: PgsizeWord = U64_CHECKED,
): Pgsize64 {
  const bits = BigInt(word.bits);
  iova = BigInt.asUintN(word.bits, iova);
  paddr = BigInt.asUintN(word.bits, paddr);
  size = BigInt.asUintN(word.bits, size);
  // Page sizes supported by the hardware and small enough for `size`, and aligned with iova|paddr:
  // a power of two divides (iova | paddr) exactly when it divides both.
  let pgsize = 0n;
  let next = 0n;
  for (const p of pgsizes) {
    if (p >> bits !== 0n) throw new RangeError(`iommu_pgsize: page size 0x${p.toString(16)} exceeds ${word.bits} bits`);
    if (p <= size && iova % p === 0n && paddr % p === 0n) pgsize = p;
  }
  if (pgsize === 0n) throw noFit(iova, paddr, size);
  for (const p of pgsizes)
    if (p > pgsize) {
      next = p;
      break;
    }
  // No bigger page size at all, or iova and paddr not congruent modulo it (never promotable).
  if (next === 0n || (iova ^ paddr) & (next - 1n)) return { pgsize, count: size / pgsize };
  // Distance to the next `next` boundary: next - (addr_merge & (next - 1)), in [1, next].
  const offset = next - ((iova | paddr) & (next - 1n));
  // If a whole next-size page still fits after the boundary, stop at the boundary.
  const sum = offset + next;
  const overflow = sum >> bits !== 0n;
  const end = BigInt.asUintN(word.bits, sum); // what the wrapping add leaves
  if ((word.checkedAdd ? !overflow : true) && end <= size) size = offset;
  return { pgsize, count: size / pgsize };
}

/**
 * iommu_pgsize on JS numbers: iova, paddr and size are non-negative safe integers, the page sizes powers
 * of two (any up to 2^63). Exact: on numbers where that is (64-bit word, checked add, size below 2^53),
 * else on the BigInt path.
 */
export function iommuPgsize(
  pgsizes: readonly number[],
  iova: number,
  paddr: number,
  size: number,
  word: PgsizeWord = U64_CHECKED,
): Pgsize {
  if (!(exact(iova) && exact(paddr) && exact(size))) {
    const [name, v] = !exact(iova) ? ['iova', iova] : !exact(paddr) ? ['paddr', paddr] : ['size', size];
    throw new RangeError(`iommu_pgsize: ${name} ${v} is not an exact non-negative integer (use iommuPgsizeU64)`);
  }
  if (word.bits !== 64 || !word.checkedAdd) {
    const r = iommuPgsizeU64(pgsizes.map(BigInt), BigInt(iova), BigInt(paddr), BigInt(size), word);
    return { pgsize: Number(r.pgsize), count: Number(r.count) };
  }
  let pgsize = 0;
  let next = 0;
  // p <= size < 2^53: every candidate is exact and `%` on exact integers is exact.
  for (const p of pgsizes) if (p <= size && iova % p === 0 && paddr % p === 0) pgsize = p;
  if (pgsize === 0) throw noFit(iova, paddr, size);
  for (const p of pgsizes)
    if (p > pgsize) {
      next = p;
      break;
    }
  // A next size above `size` can never fit after its boundary: offset_end >= next > size (or overflows),
  // so the kernel keeps `size` — and every number below stays under 2^53 when next <= size.
  if (next === 0 || next > size || iova % next !== paddr % next) return { pgsize, count: Math.floor(size / pgsize) };
  // Congruent modulo next, so (iova | paddr) & (next - 1) is iova % next: no `|` (32-bit on numbers).
  const offset = next - (iova % next);
  if (offset + next <= size) size = offset;
  return { pgsize, count: Math.floor(size / pgsize) };
}
