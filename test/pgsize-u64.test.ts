/**
 * iommu_pgsize at the u64 edges (kernel-model.md §5.1): page sizes up to 2^63, addresses up to 2^64 - 1,
 * `offset + pgsize_next` reaching 2^64. The model (src/model/core/pgsize.ts, a list of sizes) is checked
 * against a reference written here from the kernel function's own steps on a bit mask — GENMASK, __ffs,
 * __fls, check_add_overflow on 64-bit words — with fast-check over arbitrary u64 inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { iommuPgsize, iommuPgsizeU64, LPAE_PGSIZES } from '../src/model/core/pgsize.js';

const U64 = (1n << 64n) - 1n;
const genmask = (h: bigint): bigint => ((1n << (h + 1n)) - 1n) & U64;
const fls = (x: bigint): bigint => BigInt(x.toString(2).length - 1);
const ffs = (x: bigint): bigint => fls(x & -x);

/** The kernel's iommu_pgsize, step by step on a pgsize_bitmap (u64 unsigned long / size_t). */
function reference(bitmap: bigint, iova: bigint, paddr: bigint, size: bigint): { pgsize: bigint; count: bigint } {
  const merge = paddr | iova;
  let pgsizes = bitmap & genmask(fls(size));
  if (merge !== 0n) pgsizes &= genmask(ffs(merge));
  if (pgsizes === 0n) throw new Error('BUG_ON(!pgsizes)');
  const idx = fls(pgsizes);
  const pgsize = 1n << idx;
  pgsizes = bitmap & ~genmask(idx) & U64;
  if (pgsizes === 0n) return { pgsize, count: size >> idx };
  const next = 1n << ffs(pgsizes);
  if (((iova ^ paddr) & (next - 1n)) !== 0n) return { pgsize, count: size >> idx };
  const offset = next - (merge & (next - 1n));
  const end = offset + next; // check_add_overflow: the true sum, overflowing past U64
  if (end <= U64 && end <= size) size = offset;
  return { pgsize, count: size >> idx };
}

const sizesOf = (bitmap: bigint): bigint[] =>
  [...Array(64).keys()].filter((i) => (bitmap >> BigInt(i)) & 1n).map((i) => 1n << BigInt(i));

const u64 = fc.bigInt({ min: 0n, max: U64 });
/** A bitmap with 1..4 page sizes anywhere in 2^0..2^63, biased to the top bits. */
const bitmapArb = fc
  .array(fc.oneof(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 56, max: 63 })), { minLength: 1, maxLength: 4 })
  .map((bits) => bits.reduce((m, b) => m | (1n << BigInt(b)), 0n));
/** Addresses near the top of the space, or with few low bits set, or anything. */
const addrArb = fc.oneof(
  u64,
  u64.map((x) => U64 - (x & 0xffffn)),
  u64.map((x) => x & ~0xfffn),
);

/** Inputs the kernel accepts: iova, paddr, size all aligned to the smallest page, size non-zero. */
const accepted = fc.tuple(bitmapArb, addrArb, addrArb, addrArb).map(([bitmap, iova, paddr, size]) => {
  const min = bitmap & -bitmap;
  const a = (x: bigint) => x & ~(min - 1n);
  return { bitmap, iova: a(iova), paddr: a(paddr), size: a(size) || min };
});

describe('iommu_pgsize on u64 words', () => {
  it('agrees with the kernel-step reference for every accepted u64 input', () => {
    fc.assert(
      fc.property(accepted, ({ bitmap, iova, paddr, size }) => {
        const got = iommuPgsizeU64(sizesOf(bitmap), iova, paddr, size);
        expect(got).toEqual(reference(bitmap, iova, paddr, size));
      }),
      { numRuns: 3000, seed: 12 },
    );
  });

  it('the number entry point agrees with the reference wherever its inputs are exact (safe integers)', () => {
    const safe = fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) });
    fc.assert(
      fc.property(bitmapArb, safe, safe, safe, (bitmap, i, p, s) => {
        const min = bitmap & -bitmap;
        if (min > BigInt(Number.MAX_SAFE_INTEGER)) return;
        const a = (x: bigint) => x & ~(min - 1n);
        const [iova, paddr, size] = [a(i), a(p), a(s) || min];
        const want = reference(bitmap, iova, paddr, size);
        const got = iommuPgsize(sizesOf(bitmap).map(Number), Number(iova), Number(paddr), Number(size));
        expect({ pgsize: BigInt(got.pgsize), count: BigInt(got.count) }).toEqual(want);
      }),
      { numRuns: 3000, seed: 13 },
    );
  });

  it('2^63 pages: a 2^63-aligned 2^63 maps one; 4K below 2^63 stops at the 2^63 boundary', () => {
    const top = 1n << 63n;
    expect(iommuPgsizeU64([0x1000n, top], top, top, top)).toEqual({ pgsize: top, count: 1n });
    // offset = 2^63 - 4K, offset + 2^63 = 2^64 - 4K still fits in the word and in size: stop at 2^63.
    const size = U64 - 0xfffn;
    expect(iommuPgsizeU64([0x1000n, top], 0x1000n, 0x1000n, size)).toEqual({
      pgsize: 0x1000n,
      count: (top - 0x1000n) >> 12n,
    });
  });

  it('offset + 2^63 reaching exactly 2^64: the wrapping add counts 2 pages of a 1-page request, the checked add 1', () => {
    const [p62, p63] = [1n << 62n, 1n << 63n];
    const wrapping = { bits: 64 as const, checkedAdd: false };
    expect(iommuPgsizeU64([p62, p63], 0n, 0n, p62, wrapping)).toEqual({ pgsize: p62, count: 2n });
    expect(iommuPgsizeU64([p62, p63], 0n, 0n, p62)).toEqual({ pgsize: p62, count: 1n });
    expect(reference(p62 | p63, 0n, 0n, p62)).toEqual({ pgsize: p62, count: 1n });
  });

  it('the last page of the space: iova 2^64 - 4K maps one 4K page', () => {
    expect(iommuPgsizeU64([0x1000n, 0x200000n], U64 - 0xfffn, 0x1000n, 0x1000n)).toEqual({
      pgsize: 0x1000n,
      count: 1n,
    });
  });

  it('offsets above 2^31 (where | on numbers truncates): 8G next size, iova 4G below its boundary', () => {
    const G = 2 ** 30;
    // iova = paddr = 4G (mod 8G): offset = 4G; 4G + 8G <= 16G: stop after 4G of 4K pages.
    expect(iommuPgsize([0x1000, 8 * G], 4 * G, 12 * G, 16 * G)).toEqual({ pgsize: 0x1000, count: (4 * G) / 0x1000 });
    expect(iommuPgsizeU64([0x1000n, 8n << 30n], 4n << 30n, 12n << 30n, 16n << 30n).count).toBe((4n << 30n) / 0x1000n);
  });

  it('a sum past 2^53 on numbers: a 2^52 next size and a size just below 2^53 stay exact', () => {
    const p52 = 2 ** 52;
    const size = Number.MAX_SAFE_INTEGER - 0xfff; // 4K-aligned, below 2^53
    const want = reference(0x1000n | (1n << 52n), 0x1000n, 0x1000n, BigInt(size));
    expect(iommuPgsize([0x1000, p52], 0x1000, 0x1000, size)).toEqual({
      pgsize: Number(want.pgsize),
      count: Number(want.count),
    });
  });

  it('refuses inexact numbers, naming the value', () => {
    expect(() => iommuPgsize(LPAE_PGSIZES, 2 ** 60, 0, 0x1000)).toThrow(/iova .* not an exact/);
    expect(() => iommuPgsize(LPAE_PGSIZES, 0, -4096, 0x1000)).toThrow(/paddr -4096/);
  });
});
