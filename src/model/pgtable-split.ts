/**
 * io-pgtable-arm with block splitting on partial unmap, as in v4.12..v6.12 — kernel-model.md §6
 * "Partial unmap of a block" (PGT-SPLIT); drivers/iommu/io-pgtable-arm.c (≤ v6.12):
 * arm_lpae_split_blk_unmap, called from __arm_lpae_unmap when the entry at a level above the unmap size
 * is a leaf. Written after 85c7a0f1ef62 "iommu/io-pgtable-arm: Fix race handling in split_blk_unmap()"
 * (R. Murphy, 2017, stable 4.19 and older); the code before that fix is SplitBlkRacePgtable in
 * pgtable-variants.ts.
 *
 * The split builds a private next-level table that maps the whole block minus the hole, then swaps it in
 * for the block with the same cmpxchg as arm_lpae_install_table (expected value: the block). A loser —
 * someone else split the block first — frees its table and, if the winner installed a table, unmaps its
 * part through that table ("we may race against someone unmapping another part of this block"). The
 * winner whose hole is at the split level is done; one that split a larger block than one step (a 1 GiB
 * block for a 4 KiB unmap: a full table of 2 MiB blocks) recurses into its new table.
 *
 * Simplifications: the new table is filled with plain stores before anything can see it (it is private
 * until the cmpxchg; the kernel's dma_wmb is implied by Atomics); the leaf TLB invalidation of the hole
 * (io_pgtable_tlb_add_page into the gather) is not modelled, as in pgtable.ts. Replacing a live block by a
 * table without break-before-make (§9 #15, illegal on SMMUv3) is not judged: the model's walker is atomic.
 */
import type { Cpu, Op } from '../engine/cpu.js';
import { PTES_PER_TABLE } from './page-pool.js';
import { blockSize, frameOf, IoPgtable, isTable, leafPte, levelIndex, SZ_4K } from './pgtable.js';

export class SplitBlkPgtable extends IoPgtable {
  override get splitsBlocks(): boolean {
    return true;
  }

  /**
   * arm_lpae_split_blk_unmap(iova, size, blk_pte, lvl, ptep, pgcount): `lvl` is the level of the new
   * table, `slot` the i32 index of the block entry one level up. Returns the bytes unmapped.
   */
  protected override *armLpaeSplitBlkUnmap(
    cpu: Cpu,
    iova: number,
    size: number,
    blkPte: number,
    lvl: number,
    slot: number,
    pgcount: number,
  ): Op<number> {
    const split = yield* this.buildSplitTable(cpu, iova, size, blkPte, lvl, pgcount);
    if (split.page < 0) return 0; // no page for the table: bytes unmapped 0
    let table = split.page;
    const pte = yield* this.armLpaeInstallTable(cpu, slot, split.page, lvl - 1, blkPte);
    if (pte !== blkPte) {
      yield* this.pool.free(cpu, split.page);
      // We may race against someone unmapping another part of this block; anything else is invalid.
      if (!isTable(pte, lvl - 1)) return 0;
      table = frameOf(pte);
    } else if (split.unmapIdx >= 0) {
      // Ours went in with the hole already punched (io_pgtable_tlb_add_page for it: not modelled).
      return split.entries * size;
    }
    return yield* this.armLpaeUnmap(cpu, iova, size, pgcount, lvl, table);
  }

  /**
   * The first half of arm_lpae_split_blk_unmap: allocate the next-level table and fill it with the block's
   * translation in next-level leaves, minus [unmapIdx, unmapIdx + entries) when the unmap size is the
   * next level's (unmapIdx -1 otherwise: a full table, the unmap recurses into it).
   */
  protected *buildSplitTable(
    cpu: Cpu,
    iova: number,
    size: number,
    blkPte: number,
    lvl: number,
    pgcount: number,
  ): Op<{ page: number; unmapIdx: number; entries: number }> {
    const splitSz = blockSize(lvl);
    const page = yield* this.pool.alloc(cpu);
    if (page < 0) return { page, unmapIdx: -1, entries: 0 };
    let unmapIdx = -1;
    let entries = 0;
    if (size === splitSz) {
      unmapIdx = levelIndex(iova, lvl);
      entries = Math.min(pgcount, PTES_PER_TABLE - unmapIdx);
    }
    // The table is private until installed: its stores are not scheduling points.
    const blkPaddr = frameOf(blkPte) * SZ_4K;
    const base = this.pool.entry(page);
    for (let i = 0; i < PTES_PER_TABLE; i++) {
      if (i >= unmapIdx && i < unmapIdx + entries) continue; // Unmap!
      Atomics.store(cpu.i32, base + i, leafPte(blkPaddr + i * splitSz, lvl));
    }
    return { page, unmapIdx, entries };
  }
}
