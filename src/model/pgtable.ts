/**
 * io-pgtable-arm (LPAE), 4 KiB granule, 48-bit IOVA — kernel-model.md §6 (PGT-NEW, PGT-SPLIT).
 *
 * Four levels L0..L3 of 512-entry tables; a leaf is a 4 KiB page at L3, a 2 MiB block at L2 or a
 * 1 GiB block at L1. A missing table is installed with compare-and-swap and the loser frees its page
 * and uses the winner's (install_table); leaf writes and clears are plain stores, and an occupied leaf
 * gives -EEXIST. Empty tables are not reclaimed when their last leaf goes; a block-sized map or unmap
 * that meets a table frees that table.
 *
 * Simplifications, each marked where it happens:
 *  - descriptors are 32-bit: (frame << 2) | type, where frame is a pool page number for a table and a
 *    pfn for a leaf (so physical addresses stay below 2^41). The type bits are LPAE's (0 invalid,
 *    1 block, 3 table/page). Nothing here depends on the other descriptor bits.
 *  - no cache maintenance / SW_SYNC bit: all accesses are Atomics (sequentially consistent), so a table's
 *    contents are always visible before its pointer, which is what dma_wmb() buys the kernel.
 *  - no IOTLB/walk-cache invalidation here (that is the flush-queue model's business).
 */
import type { Cpu, Op, Site } from '../engine/cpu.js';
import { PagePool, PTES_PER_TABLE } from './page-pool.js';

export const SZ_4K = 0x1000;
export const SZ_2M = 0x200000;
export const SZ_1G = 0x40000000;
export const LEVELS = 4;

const TYPE_MASK = 3;
const TYPE_BLOCK = 1;
/** Table descriptor at L0..L2, page descriptor at L3. */
const TYPE_TABLE_OR_PAGE = 3;

export const EEXIST = -17;
export const ENOMEM = -12;
export const EINVAL = -22;

const BLOCK_SIZE = [SZ_4K * 512 ** 3, SZ_1G, SZ_2M, SZ_4K];

/** Bytes covered by one entry at a level: L3 4 KiB, L2 2 MiB, L1 1 GiB, L0 512 GiB. */
export function blockSize(lvl: number): number {
  return BLOCK_SIZE[lvl]!;
}

export function levelOf(size: number): number {
  if (size === SZ_4K) return 3;
  if (size === SZ_2M) return 2;
  if (size === SZ_1G) return 1;
  throw new RangeError(`pgtable: page size ${size} is not 4K, 2M or 1G`);
}

/** Index of the entry for `iova` in a level's table (ARM_LPAE_LVL_IDX). */
export function levelIndex(iova: number, lvl: number): number {
  return Math.floor(iova / blockSize(lvl)) % PTES_PER_TABLE;
}

const isLeaf = (pte: number, lvl: number): boolean =>
  pte !== 0 && (lvl === LEVELS - 1 ? (pte & TYPE_MASK) === TYPE_TABLE_OR_PAGE : (pte & TYPE_MASK) === TYPE_BLOCK);
const isTable = (pte: number, lvl: number): boolean => lvl < LEVELS - 1 && (pte & TYPE_MASK) === TYPE_TABLE_OR_PAGE;
const frameOf = (pte: number): number => pte >>> 2;
const leafPte = (paddr: number, lvl: number): number =>
  ((paddr / SZ_4K) << 2) | (lvl === LEVELS - 1 ? TYPE_TABLE_OR_PAGE : TYPE_BLOCK);

// Constant site labels per level: yielding a constant costs nothing, building one per step would.
const perLevel = (f: (l: number) => string): Site[] => [0, 1, 2, 3].map(f);
const READ = perLevel((l) => `L${l} pte read`);
const CAS = perLevel((l) => `L${l} install_table cmpxchg`);
const RACY = perLevel((l) => `L${l} install_table store`);
const WRITE = perLevel((l) => `L${l} leaf write`);
const CLEAR = perLevel((l) => `L${l} pte clear`);

export interface PgtableOptions {
  /** The racy-install bug: install a missing table with a plain store instead of compare-and-swap. */
  readonly racyInstall: boolean;
}

export class IoPgtable {
  /** The L0 table is allocated once and never freed. */
  static readonly ROOT_PAGE = 0;

  constructor(readonly pool: PagePool, private readonly opts: PgtableOptions) {}

  private slot(page: number, iova: number, lvl: number): number {
    return this.pool.entry(page, levelIndex(iova, lvl));
  }

  /**
   * map_pages: map `pgcount` pages of `pgsize` at iova -> paddr, all within one table (the caller splits
   * across tables as iommu_map does). Returns 0 or -EEXIST / -ENOMEM, and the bytes mapped.
   */
  *mapPages(cpu: Cpu, iova: number, paddr: number, pgsize: number, pgcount: number): Op<{ ret: number; mapped: number }> {
    const target = levelOf(pgsize);
    let table = IoPgtable.ROOT_PAGE;
    for (let lvl = 0; lvl < target; lvl++) {
      const slot = this.slot(table, iova, lvl);
      yield READ[lvl]!;
      let pte = Atomics.load(cpu.i32, slot);
      cpu.note('read', 'pte', slot, pte >> 2);
      if (pte === 0) {
        const page = yield* this.pool.alloc(cpu);
        if (page < 0) return { ret: ENOMEM, mapped: 0 };
        pte = yield* this.installTable(cpu, slot, page, lvl);
      }
      // A leaf where a table is needed: the range is already mapped by a larger page.
      if (!isTable(pte, lvl)) return { ret: EEXIST, mapped: 0 };
      table = frameOf(pte);
    }
    const first = levelIndex(iova, target);
    const n = Math.min(pgcount, PTES_PER_TABLE - first);
    const base = this.pool.entry(table, first);
    // arm_lpae_init_pte: check every entry first (a leaf is -EEXIST; a table is unmapped and freed), then write.
    for (let i = 0; i < n; i++) {
      yield READ[target]!;
      const pte = Atomics.load(cpu.i32, base + i);
      if (isLeaf(pte, target)) return { ret: EEXIST, mapped: 0 };
      if (isTable(pte, target)) {
        yield CLEAR[target]!;
        Atomics.store(cpu.i32, base + i, 0);
        yield* this.freeTable(cpu, frameOf(pte), target + 1);
      }
    }
    for (let i = 0; i < n; i++) {
      yield WRITE[target]!;
      // Online check (not kernel code): the entry read free above must still be free at the store.
      const before = Atomics.load(cpu.i32, base + i);
      if (before !== 0) {
        cpu.fail('PT-OVERWRITE', `cpu${cpu.id} overwrites live L${target} entry 0x${before.toString(16)} at iova 0x${(iova + i * pgsize).toString(16)}`);
      }
      Atomics.store(cpu.i32, base + i, leafPte(paddr + i * pgsize, target));
    }
    return { ret: 0, mapped: n * pgsize };
  }

  /** install_table: CAS the new table into an empty slot; the loser frees its page and uses the winner's. */
  private *installTable(cpu: Cpu, slot: number, page: number, lvl: number): Op<number> {
    const pte = (page << 2) | TYPE_TABLE_OR_PAGE;
    if (this.opts.racyInstall) {
      // BUG (variant racy-install): a plain store, so two vCPUs that both saw the slot empty both install,
      // and the first table — with whatever was mapped into it meanwhile — is lost.
      yield RACY[lvl]!;
      Atomics.store(cpu.i32, slot, pte);
      cpu.note('write', 'pte', slot, page);
      return pte;
    }
    yield CAS[lvl]!;
    const old = Atomics.compareExchange(cpu.i32, slot, 0, pte);
    cpu.note(old === 0 ? 'cmpxchg' : 'read', 'pte', slot, old === 0 ? page : old >> 2, 0);
    if (old === 0) return pte;
    yield* this.pool.free(cpu, page);
    return old;
  }

  /**
   * unmap_pages: clear `pgcount` leaves of `pgsize` from iova; returns bytes unmapped (0 if nothing was
   * mapped there). A block-sized unmap that meets a table frees the table.
   */
  *unmapPages(cpu: Cpu, iova: number, pgsize: number, pgcount: number): Op<number> {
    const target = levelOf(pgsize);
    let table = IoPgtable.ROOT_PAGE;
    for (let lvl = 0; lvl < target; lvl++) {
      yield READ[lvl]!;
      const pte = Atomics.load(cpu.i32, this.slot(table, iova, lvl));
      if (pte === 0) return 0;
      // Current kernel (after PGT-SPLIT): a partial unmap of a larger leaf WARNs and unmaps nothing.
      if (isLeaf(pte, lvl)) return 0;
      table = frameOf(pte);
    }
    const first = levelIndex(iova, target);
    const n = Math.min(pgcount, PTES_PER_TABLE - first);
    const base = this.pool.entry(table, first);
    let i = 0;
    for (; i < n; i++) {
      yield READ[target]!;
      const pte = Atomics.load(cpu.i32, base + i);
      if (pte === 0) break;
      yield CLEAR[target]!;
      Atomics.store(cpu.i32, base + i, 0);
      if (isTable(pte, target)) yield* this.freeTable(cpu, frameOf(pte), target + 1);
    }
    return i * pgsize;
  }

  /** iova_to_phys: walk; -1 if not mapped. */
  *iovaToPhys(cpu: Cpu, iova: number): Op<number> {
    let table = IoPgtable.ROOT_PAGE;
    for (let lvl = 0; lvl < LEVELS; lvl++) {
      yield READ[lvl]!;
      const pte = Atomics.load(cpu.i32, this.slot(table, iova, lvl));
      if (pte === 0) return -1;
      if (isLeaf(pte, lvl)) return frameOf(pte) * SZ_4K + (iova % blockSize(lvl));
      table = frameOf(pte);
    }
    return -1;
  }

  /**
   * The IOMMU's own table walk (hardware, not a CPU): no scheduling points. Callers make it atomic with
   * respect to invalidation (see iotlb.ts). -1 if not mapped.
   */
  walk(i32: Int32Array, iova: number): number {
    let table = IoPgtable.ROOT_PAGE;
    for (let lvl = 0; lvl < LEVELS; lvl++) {
      const pte = Atomics.load(i32, this.slot(table, iova, lvl));
      if (pte === 0) return -1;
      if (isLeaf(pte, lvl)) return frameOf(pte) * SZ_4K + (iova % blockSize(lvl));
      table = frameOf(pte);
    }
    return -1;
  }

  /** __arm_lpae_free_pgtable: free a table and every table below it (its entries are no longer reachable). */
  private *freeTable(cpu: Cpu, page: number, lvl: number): Op {
    if (lvl < LEVELS - 1) {
      for (let i = 0; i < PTES_PER_TABLE; i++) {
        const pte = Atomics.load(cpu.i32, this.pool.entry(page, i));
        if (isTable(pte, lvl)) yield* this.freeTable(cpu, frameOf(pte), lvl + 1);
      }
    }
    yield* this.pool.free(cpu, page);
  }

  /**
   * Walk the whole table on a quiescent model: every table page reached (with how often it is
   * referenced) and every leaf as [iova, size, phys].
   */
  scan(i32: Int32Array): { tableRefs: Map<number, number>; badRefs: number[]; leaves: [number, number, number][] } {
    const tableRefs = new Map<number, number>([[IoPgtable.ROOT_PAGE, 1]]);
    const badRefs: number[] = [];
    const leaves: [number, number, number][] = [];
    const walk = (page: number, lvl: number, base: number): void => {
      for (let i = 0; i < PTES_PER_TABLE; i++) {
        const pte = i32[this.pool.entry(page, i)]!;
        if (pte === 0) continue;
        const iova = base + i * blockSize(lvl);
        if (isLeaf(pte, lvl)) { leaves.push([iova, blockSize(lvl), frameOf(pte) * SZ_4K]); continue; }
        if (!isTable(pte, lvl)) { badRefs.push(iova); continue; }
        const child = frameOf(pte);
        if (child >= this.pool.pages) { badRefs.push(iova); continue; }
        const seen = tableRefs.get(child) ?? 0;
        tableRefs.set(child, seen + 1);
        if (seen === 0) walk(child, lvl + 1, iova);
      }
    };
    walk(IoPgtable.ROOT_PAGE, 0, 0);
    return { tableRefs, badRefs, leaves };
  }
}
