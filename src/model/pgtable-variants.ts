/**
 * Variants of the io-pgtable model (pgtable.ts): known bugs as subclasses, so the faithful model
 * carries no bug flags. Scenario `pgtable` lists them (src/scenarios/pgtable.ts).
 */
import type { Cpu, Op, Site } from '../engine/cpu.js';
import { PTES_PER_TABLE } from './page-pool.js';
import { SplitBlkPgtable } from './pgtable-split.js';
import { blockSize, frameOf, IoPgtable, isLeaf, isTable, levelIndex, tablePte } from './pgtable.js';
import { cmpxchg_relaxed } from '../engine/order.js';

const RACY: readonly Site[] = [0, 1, 2, 3].map((l) => `L${l} install_table store`);

/**
 * racy-install (kernel-model.md §6, §9 #14, the CAS this removes): arm_lpae_install_table with a plain
 * store. Two vCPUs that both saw the entry empty both install, both believe they won, and the first
 * table — with whatever was mapped into it meanwhile — is lost.
 */
export class RacyInstallPgtable extends IoPgtable {
  protected override *armLpaeInstallTable(cpu: Cpu, slot: number, page: number, lvl: number, curr: number): Op<number> {
    yield RACY[lvl]!;
    Atomics.store(cpu.i32, slot, tablePte(page));
    cpu.note('write', 'pte', slot, page);
    return curr;
  }
}

/**
 * split-blk-race: arm_lpae_split_blk_unmap before 85c7a0f1ef62 "iommu/io-pgtable-arm: Fix race handling in
 * split_blk_unmap()" (v4.12-rc, with 2c3d273eabe8's lockless operation). The fallback for the loser of
 * the cmpxchg tests only `unmap_idx < 0`, so a loser at the last level — its hole is at the split level —
 * frees its table, looks up the winner's, and returns the size without clearing its page there: its
 * "unmapped" page stays mapped.
 */
export class SplitBlkRacePgtable extends SplitBlkPgtable {
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
    if (split.page < 0) return 0;
    let table = split.page;
    const pte = yield* this.armLpaeInstallTable(cpu, slot, split.page, lvl - 1, blkPte);
    if (pte !== blkPte) {
      yield* this.pool.free(cpu, split.page);
      if (!isTable(pte, lvl - 1)) return 0;
      table = frameOf(pte);
    }
    if (split.unmapIdx < 0) return yield* this.armLpaeUnmap(cpu, iova, size, pgcount, lvl, table);
    return split.entries * size;
  }
}

const UNMAP_READ: readonly Site[] = [0, 1, 2, 3].map((l) => `L${l} pte read`);
const UNMAP_CLEAR: readonly Site[] = [0, 1, 2, 3].map((l) => `L${l} pte clear`);

/**
 * free-before-walk-flush [derived]: __arm_lpae_unmap frees a cleared table before it flushes the walk
 * cache (io_pgtable_tlb_flush_walk after __arm_lpae_free_pgtable, the reverse of the kernel's order). A
 * walker whose walk cache still holds the table reads a page the allocator may already have reused.
 */
export class FreeBeforeWalkFlushPgtable extends IoPgtable {
  protected override *armLpaeUnmap(
    cpu: Cpu,
    iova: number,
    size: number,
    pgcount: number,
    lvl: number,
    table: number,
  ): Op<number> {
    if (size !== blockSize(lvl)) {
      yield UNMAP_READ[lvl]!;
      const pte = Atomics.load(cpu.i32, this.slot(table, iova, lvl));
      if (pte === 0) return 0;
      if (isLeaf(pte, lvl))
        return yield* this.armLpaeSplitBlkUnmap(cpu, iova, size, pte, lvl + 1, this.slot(table, iova, lvl), pgcount);
      return yield* this.armLpaeUnmap(cpu, iova, size, pgcount, lvl + 1, frameOf(pte));
    }
    const first = levelIndex(iova, lvl);
    const n = Math.min(pgcount, PTES_PER_TABLE - first);
    const base = this.pool.entry(table, first);
    let i = 0;
    for (; i < n; i++) {
      yield UNMAP_READ[lvl]!;
      const pte = Atomics.load(cpu.i32, base + i);
      if (pte === 0) break;
      yield UNMAP_CLEAR[lvl]!;
      this.clearPte(cpu, base + i, iova + i * size, lvl);
      if (isTable(pte, lvl)) {
        yield* this.freeTable(cpu, frameOf(pte), lvl + 1);
        yield* this.ioPgtableTlbFlushWalk(cpu, iova + i * size, size);
      }
    }
    return i * size;
  }
}

const CAS: readonly Site[] = [0, 1, 2, 3].map((l) => `L${l} install_table cmpxchg`);

/**
 * no-dma-wmb (issue 14; the riscv driver's fix "iommu/riscv: add dma_wmb before cmpxchg_relaxed" is this
 * bug in a sibling): arm_lpae_install_table without its dma_wmb(). The relaxed cmpxchg can make the new
 * table's descriptor visible before the stores that zeroed the page, so a walker that follows it finds
 * the page's stale entries. Only a weak memory can do this (explore --memory weak); under sc it is clean.
 */
export class NoDmaWmbInstallPgtable extends IoPgtable {
  protected override *armLpaeInstallTable(cpu: Cpu, slot: number, page: number, lvl: number, curr: number): Op<number> {
    yield CAS[lvl]!;
    const old = cmpxchg_relaxed(cpu, slot, curr, tablePte(page));
    cpu.note(old === curr ? 'cmpxchg' : 'read', 'pte', slot, old === curr ? page : old >> 2, curr >> 2);
    return old;
  }
}
