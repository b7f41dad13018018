/**
 * io-pgtable-arm (LPAE), 4 KiB granule, 48-bit IOVA — kernel-model.md §6 (PGT-NEW, PGT-SPLIT);
 * drivers/iommu/io-pgtable-arm.c: arm_lpae_map_pages, __arm_lpae_map, arm_lpae_init_pte,
 * arm_lpae_install_table, arm_lpae_unmap_pages, __arm_lpae_unmap, __arm_lpae_free_pgtable; the walk-cache
 * flush is io_pgtable_tlb_flush_walk (include/linux/io-pgtable.h) through the caller's flush ops.
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
 *  - no leaf IOTLB invalidation here (the gather; that is the flush-queue model's business). The walk-cache
 *    flush that must separate clearing a table entry from freeing the table (io_pgtable_tlb_flush_walk) is
 *    issued through PgtableOptions.tlb when the scenario models a walk cache (model/walk-cache.ts).
 *  - no prot bits, no ias/oas range checks, start level 0 always (48-bit IAS).
 *
 * Bugs and patches are subclasses (pgtable-variants.ts, or a user's scenario file); this file is the
 * kernel's code and the harness's instrumented PTE stores (setLeaf / clearPte), nothing else.
 * Lock classes: none — io-pgtable-arm takes no lock; a table install is a cmpxchg, leaves are plain
 * stores, and callers own disjoint IOVA ranges (§6 "Atomic vs not").
 */
import { cmpxchg_relaxed, dma_wmb, WRITE_ONCE } from '../engine/order.js';
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

/**
 * 1 / blockSize(lvl). Every block size is a power of two, so `iova * INV_BLOCK_SIZE[lvl]` is exactly
 * `iova / blockSize(lvl)`: a multiply instead of a divide on the walk's hot path.
 */
const INV_BLOCK_SIZE = BLOCK_SIZE.map((s) => 1 / s);

/**
 * Which block of level `lvl` holds `iova` (iova >> the level's shift). An iova has up to 48 bits, more than
 * a JS shift takes, hence the exact multiply and floor.
 */
export function blockIndex(iova: number, lvl: number): number {
  return Math.floor(iova * INV_BLOCK_SIZE[lvl]!);
}

/** `iova`'s offset within its level-`lvl` block (iova & (blockSize - 1)). */
export function blockOffset(iova: number, lvl: number): number {
  return iova - blockIndex(iova, lvl) * BLOCK_SIZE[lvl]!;
}

/**
 * Index of the entry for `iova` in a level's table (ARM_LPAE_LVL_IDX): the low 9 bits of its block index.
 * The `&` takes them exactly (ToInt32 keeps the low 32 bits, and 512 divides 2^32), where a `%` on a
 * number beyond int32 would be a floating-point remainder, several times the cost of the rest of a step.
 */
export function levelIndex(iova: number, lvl: number): number {
  return blockIndex(iova, lvl) & (PTES_PER_TABLE - 1);
}

export const isLeaf = (pte: number, lvl: number): boolean =>
  pte !== 0 && (lvl === LEVELS - 1 ? (pte & TYPE_MASK) === TYPE_TABLE_OR_PAGE : (pte & TYPE_MASK) === TYPE_BLOCK);
export const isTable = (pte: number, lvl: number): boolean =>
  lvl < LEVELS - 1 && (pte & TYPE_MASK) === TYPE_TABLE_OR_PAGE;
export const frameOf = (pte: number): number => pte >>> 2;
export const leafPte = (paddr: number, lvl: number): number =>
  ((paddr / SZ_4K) << 2) | (lvl === LEVELS - 1 ? TYPE_TABLE_OR_PAGE : TYPE_BLOCK);
/** The descriptor of a table held in pool page `page`. */
export const tablePte = (page: number): number => (page << 2) | TYPE_TABLE_OR_PAGE;

// Constant site labels per level: yielding a constant costs nothing, building one per step would.
const perLevel = (f: (l: number) => string): Site[] => [0, 1, 2, 3].map(f);
const READ = perLevel((l) => `L${l} pte read`);
const CAS = perLevel((l) => `L${l} install_table cmpxchg`);
const WRITE = perLevel((l) => `L${l} leaf write`);
const CLEAR = perLevel((l) => `L${l} pte clear`);

/**
 * What the harness sees of the page table's memory: called by the PTE store primitives (setLeaf,
 * clearPte) right before a leaf is written or an entry cleared, with the value found there. Checkers
 * hang here (the flush-queue's "leaf cleared" clock, a scenario's ownership shadow), never inside the
 * kernel functions a variant overrides.
 */
export interface PteObserver {
  /** `cpu` is about to write leaf `pte` over `old` at the level-`lvl` entry for `iova`. */
  leafWrite?(cpu: Cpu, iova: number, lvl: number, old: number, pte: number): void;
  /** `cpu` is about to clear the level-`lvl` entry for `iova`, which holds `old` (a leaf or a table). */
  pteClear?(cpu: Cpu, iova: number, lvl: number, old: number): void;
}

/** The iommu_flush_ops a page table calls (io_pgtable_cfg.tlb); only the walk flush is modelled. */
export interface IoPgtableFlushOps {
  /** tlb_flush_walk: invalidate cached table walks (not leaves) for [iova, iova + size). */
  tlbFlushWalk(cpu: Cpu, iova: number, size: number): Op;
}

export interface PgtableOptions {
  /** Harness hooks on PTE stores (see PteObserver). PT-OVERWRITE is checked whatever is given. */
  readonly observer?: PteObserver;
  /** The IOMMU's flush ops; without them there is no walk cache to flush. */
  readonly tlb?: IoPgtableFlushOps;
  /**
   * Accepted for callers written before variants became subclasses; only `false` type-checks. The
   * racy-install bug is RacyInstallPgtable in scenarios/pgtable-variants.ts now.
   */
  readonly racyInstall?: false;
}

export type MapResult = { ret: number; mapped: number };

/**
 * The io-pgtable-arm ops, one method per kernel function a patch might change (arm_lpae_map_pages,
 * __arm_lpae_map, arm_lpae_install_table, arm_lpae_unmap_pages, __arm_lpae_unmap). Subclass it to
 * model a patch; a subclass writes PTEs through setLeaf / clearPte (the harness's instrumented stores,
 * as KCSAN instruments WRITE_ONCE) so the checkers keep seeing every store.
 */
export class IoPgtable {
  /** The L0 table is allocated once and never freed. */
  static readonly ROOT_PAGE = 0;

  protected readonly observer: PteObserver | undefined;
  protected readonly tlb: IoPgtableFlushOps | undefined;

  /**
   * Whether a partial unmap of a block splits it (v4.12..v6.12, arm_lpae_split_blk_unmap). The current
   * kernel refuses (PGT-SPLIT); SplitBlkPgtable (pgtable-split.ts) is the older code.
   */
  get splitsBlocks(): boolean {
    return false;
  }

  constructor(
    readonly pool: PagePool,
    opts: PgtableOptions = {},
  ) {
    this.observer = opts.observer;
    this.tlb = opts.tlb;
  }

  /** i32 index of the level-`lvl` entry for `iova` in table page `page`. */
  protected slot(page: number, iova: number, lvl: number): number {
    return this.pool.entry(page, levelIndex(iova, lvl));
  }

  /**
   * arm_lpae_map_pages: map `pgcount` pages of `pgsize` at iova -> paddr, all within one table (the
   * caller splits across tables as iommu_map does). Returns 0 or -EEXIST / -ENOMEM, and the bytes
   * mapped. (The kernel's wmb() at the end is implied: every access is an Atomics access.)
   */
  mapPages(cpu: Cpu, iova: number, paddr: number, pgsize: number, pgcount: number): Op<MapResult> {
    levelOf(pgsize);
    // The walk's own generator, returned rather than delegated to: one generator fewer on every step.
    return this.armLpaeMap(cpu, iova, paddr, pgsize, pgcount, 0, IoPgtable.ROOT_PAGE);
  }

  /**
   * __arm_lpae_map: at the level whose block size is `size`, write the leaves (arm_lpae_init_pte);
   * above it, read the entry, install a table if it is empty, and go down into the table. The kernel
   * recurses, one call per level, as a tail call; the loop takes the same steps without a nested
   * generator per level (each costs a step ~5x: issue 13).
   */
  protected *armLpaeMap(
    cpu: Cpu,
    iova: number,
    paddr: number,
    size: number,
    pgcount: number,
    lvl: number,
    table: number,
  ): Op<MapResult> {
    for (; size !== blockSize(lvl); lvl++) {
      const slot = this.slot(table, iova, lvl);
      yield READ[lvl]!;
      let pte = Atomics.load(cpu.i32, slot);
      cpu.note('read', 'pte', slot, pte >> 2);
      if (pte === 0) {
        const page = yield* this.pool.alloc(cpu);
        if (page < 0) return { ret: ENOMEM, mapped: 0 };
        const old = yield* this.armLpaeInstallTable(cpu, slot, page, lvl, 0);
        // Another CPU installed a table first: ours goes back, theirs is used.
        if (old !== 0) yield* this.pool.free(cpu, page);
        pte = old !== 0 ? old : tablePte(page);
      }
      // A leaf where a table is needed: the range is already mapped by a larger page.
      if (!isTable(pte, lvl)) return { ret: EEXIST, mapped: 0 };
      table = frameOf(pte);
    }
    return yield* this.armLpaeInitPte(cpu, iova, paddr, pgcount, lvl, table);
  }

  /**
   * arm_lpae_init_pte: check every entry first (a leaf is -EEXIST; a table is unmapped and freed),
   * then write the leaves (__arm_lpae_init_pte).
   */
  protected *armLpaeInitPte(
    cpu: Cpu,
    iova: number,
    paddr: number,
    pgcount: number,
    lvl: number,
    table: number,
  ): Op<MapResult> {
    const first = levelIndex(iova, lvl);
    const n = Math.min(pgcount, PTES_PER_TABLE - first);
    const base = this.pool.entry(table, first);
    const size = blockSize(lvl);
    for (let i = 0; i < n; i++) {
      yield READ[lvl]!;
      const pte = Atomics.load(cpu.i32, base + i);
      if (isLeaf(pte, lvl)) return { ret: EEXIST, mapped: 0 };
      // A table: unmap and free it before overwriting it with a block (through __arm_lpae_unmap, so the
      // walk cache is flushed before the table page is freed).
      if (isTable(pte, lvl) && (yield* this.armLpaeUnmap(cpu, iova + i * size, size, 1, lvl, table)) !== size)
        return { ret: EINVAL, mapped: 0 };
    }
    for (let i = 0; i < n; i++) {
      yield WRITE[lvl]!;
      this.setLeaf(cpu, base + i, iova + i * size, lvl, leafPte(paddr + i * size, lvl));
    }
    return { ret: 0, mapped: n * size };
  }

  /**
   * arm_lpae_install_table: dma_wmb() ("ensure the table itself is visible before its PTE can be"),
   * then cmpxchg64_relaxed the new table's descriptor into the entry if it still holds `curr`; returns
   * what was there (`curr` when ours went in). The caller frees its page when it lost. (32-bit entries
   * here: cmpxchg_relaxed.)
   */
  protected *armLpaeInstallTable(cpu: Cpu, slot: number, page: number, lvl: number, curr: number): Op<number> {
    yield CAS[lvl]!;
    dma_wmb(cpu);
    const old = cmpxchg_relaxed(cpu, slot, curr, tablePte(page));
    cpu.note(old === curr ? 'cmpxchg' : 'read', 'pte', slot, old === curr ? page : old >> 2, curr >> 2);
    return old;
  }

  /**
   * arm_lpae_unmap_pages: clear `pgcount` leaves of `pgsize` from iova; returns bytes unmapped (0 if
   * nothing was mapped there). A block-sized unmap that meets a table frees the table.
   */
  unmapPages(cpu: Cpu, iova: number, pgsize: number, pgcount: number): Op<number> {
    return this.armLpaeUnmap(cpu, iova, pgsize, pgcount, 0, IoPgtable.ROOT_PAGE);
  }

  /**
   * __arm_lpae_unmap: walk down to the level whose block size is `size` (a loop for the kernel's tail
   * recursion, as in armLpaeMap), then clear up to `pgcount` entries, stopping at the first empty one;
   * a table among them is freed with everything below it.
   */
  protected *armLpaeUnmap(
    cpu: Cpu,
    iova: number,
    size: number,
    pgcount: number,
    lvl: number,
    table: number,
  ): Op<number> {
    for (; size !== blockSize(lvl); lvl++) {
      yield READ[lvl]!;
      const pte = Atomics.load(cpu.i32, this.slot(table, iova, lvl));
      if (pte === 0) return 0;
      // A leaf above the unmap size: a partial unmap of a block (the current kernel WARNs and unmaps nothing).
      if (isLeaf(pte, lvl))
        return yield* this.armLpaeSplitBlkUnmap(cpu, iova, size, pte, lvl + 1, this.slot(table, iova, lvl), pgcount);
      table = frameOf(pte);
    }
    const first = levelIndex(iova, lvl);
    const n = Math.min(pgcount, PTES_PER_TABLE - first);
    const base = this.pool.entry(table, first);
    let i = 0;
    // Simplification: the kernel reads all entries, then clears them (__arm_lpae_clear_pte); here
    // each entry is read and cleared in turn — the same stores, with no other CPU's leaves in the range.
    for (; i < n; i++) {
      yield READ[lvl]!;
      const pte = Atomics.load(cpu.i32, base + i);
      if (pte === 0) break;
      yield CLEAR[lvl]!;
      this.clearPte(cpu, base + i, iova + i * size, lvl);
      if (isTable(pte, lvl)) {
        // "Also flush any partial walks": no walker may still hold the table when it is freed.
        yield* this.ioPgtableTlbFlushWalk(cpu, iova + i * size, size);
        yield* this.freeTable(cpu, frameOf(pte), lvl + 1);
      }
    }
    return i * size;
  }

  /**
   * The partial unmap of a block entry `blkPte` (at level lvl - 1, i32 index `slot`). The current kernel
   * WARNs "Unmap of a partial large IOPTE is not allowed" and unmaps nothing (PGT-SPLIT, 33729a5fc0ca);
   * v4.12..v6.12 called arm_lpae_split_blk_unmap here (SplitBlkPgtable overrides this).
   */
  protected *armLpaeSplitBlkUnmap(
    _cpu: Cpu,
    _iova: number,
    _size: number,
    _blkPte: number,
    _lvl: number,
    _slot: number,
    _pgcount: number,
  ): Op<number> {
    return 0;
  }

  /** io_pgtable_tlb_flush_walk: the driver's tlb_flush_walk, when the IOMMU has a walk cache to flush. */
  protected *ioPgtableTlbFlushWalk(cpu: Cpu, iova: number, size: number): Op {
    if (this.tlb) yield* this.tlb.tlbFlushWalk(cpu, iova, size);
  }

  /**
   * The store of a leaf (one descriptor of __arm_lpae_init_pte), as the harness sees it: the
   * observer first, then the PT-OVERWRITE check (a leaf written over a live entry), then the store.
   * Not a kernel function to override; a variant stores leaves through it.
   */
  protected setLeaf(cpu: Cpu, index: number, iova: number, lvl: number, pte: number): void {
    const old = Atomics.load(cpu.i32, index);
    this.observer?.leafWrite?.(cpu, iova, lvl, old, pte);
    if (old !== 0) {
      const where = `at iova 0x${iova.toString(16)}`;
      cpu.fail('PT-OVERWRITE', `cpu${cpu.id} overwrites live L${lvl} entry 0x${old.toString(16)} ${where}`);
    }
    Atomics.store(cpu.i32, index, pte);
  }

  /** The store that clears an entry (__arm_lpae_clear_pte), as the harness sees it. */
  protected clearPte(cpu: Cpu, index: number, iova: number, lvl: number): void {
    if (this.observer?.pteClear) this.observer.pteClear(cpu, iova, lvl, Atomics.load(cpu.i32, index));
    // __arm_lpae_clear_pte: a plain store, ordered by nothing (a caller that needs it ordered has a barrier).
    WRITE_ONCE(cpu, index, 0);
  }

  /** iova_to_phys: walk; -1 if not mapped. */
  *iovaToPhys(cpu: Cpu, iova: number): Op<number> {
    let table = IoPgtable.ROOT_PAGE;
    for (let lvl = 0; lvl < LEVELS; lvl++) {
      yield READ[lvl]!;
      const pte = Atomics.load(cpu.i32, this.slot(table, iova, lvl));
      if (pte === 0) return -1;
      if (isLeaf(pte, lvl)) return frameOf(pte) * SZ_4K + blockOffset(iova, lvl);
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
      if (isLeaf(pte, lvl)) return frameOf(pte) * SZ_4K + blockOffset(iova, lvl);
      table = frameOf(pte);
    }
    return -1;
  }

  /** __arm_lpae_free_pgtable: free a table and every table below it (its entries are no longer reachable). */
  protected *freeTable(cpu: Cpu, page: number, lvl: number): Op {
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
      const at = this.pool.entry(page);
      for (let i = 0; i < PTES_PER_TABLE; i++) {
        const pte = i32[at + i]!;
        if (pte === 0) continue;
        const iova = base + i * blockSize(lvl);
        if (isLeaf(pte, lvl)) {
          leaves.push([iova, blockSize(lvl), frameOf(pte) * SZ_4K]);
          continue;
        }
        if (!isTable(pte, lvl)) {
          badRefs.push(iova);
          continue;
        }
        const child = frameOf(pte);
        if (child >= this.pool.pages) {
          badRefs.push(iova);
          continue;
        }
        const seen = tableRefs.get(child) ?? 0;
        tableRefs.set(child, seen + 1);
        if (seen === 0) walk(child, lvl + 1, iova);
      }
    };
    walk(IoPgtable.ROOT_PAGE, 0, 0);
    return { tableRefs, badRefs, leaves };
  }
}
