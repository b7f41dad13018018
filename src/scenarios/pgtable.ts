/**
 * Scenario `pgtable`: vCPUs map and unmap their own IOVA ranges in one io-pgtable-arm table
 * (kernel-model.md §6), placed so that they share the upper-level tables and race to install them.
 *
 * Geometry, per arena (one L0 slot, 512 GiB) and vCPU c of N, j < slots:
 *   shared 4K   L1[0] L2[0] L3[c + N*j]      — every vCPU needs the same L1, L2 and L3 tables
 *   private 4K  L1[0] L2[1 + c + N*j] L3[m]  — m < 4; the L3 table is c's own
 *   2M block    L1[0] L2[1 + c + N*j]        — the same slot: mapping it frees c's empty L3 table there
 *   1G block    L1[1 + c + N*j]              — shares only the L1 table
 *   split 2M    L1[0] L2[1 + N*slots + j]    — one 2M block per arena and j, split by partial unmaps
 * Ranges are disjoint between vCPUs, as the core requires of its callers (§6 "Atomic vs not"), so the
 * correct table is race-free at the leaves and every race is a table install.
 *
 * The split block (only with a page table that splits, v4.12..v6.12: SplitBlkPgtable): vCPU 0 maps it when
 * no part of it is live, after which each vCPU c owns its 4K page c of it and may unmap that page — a
 * partial unmap of the block, so two vCPUs race to split the same block entry (85c7a0f1ef62). When every
 * vCPU's page is gone, vCPU 0 unmaps the remaining 2M (which frees the split table). The shared state
 * word per block (checker memory) says which parts are live; a vCPU checks with iova_to_phys that its
 * unmapped page no longer translates.
 *
 * The device: a vCPU's `dma` op translates one of its live mappings through the IOMMU's walk cache
 * (model/walk-cache.ts), which keeps the tables the walk passed; the page table flushes it through
 * io_pgtable_tlb_flush_walk before freeing a table, and PT-WALK-UAF catches a table freed while the walk
 * cache may still point at it.
 *
 * The model is built by `buildPgtable(config)` from `config.variant.patch` (PgtablePatch: the page-table
 * class to use). The checkers are the harness's: each vCPU's shadow of what it mapped (kept by the op
 * program), the quiescent scan of the table and the pool, and PT-OVERWRITE at the instrumented leaf store.
 */
import type { InvariantDef } from '../check/invariant.js';
import type { Cpu, Op } from '../engine/cpu.js';
import { at, atCpu, defineLayout, region, type Memory, type Region } from '../engine/layout.js';
import { randInt, type RandomGenerator } from '../engine/rng.js';
import { andThen } from '../engine/step-op.js';
import type { ModelConfig, ScenarioDef, ScenarioModel, VcpuProgram } from '../engine/scenario.js';
import { PagePool, pagePoolRegions } from '../model/page-pool.js';
import { ENOMEM, IoPgtable, type MapResult, type PgtableOptions, SZ_1G, SZ_2M, SZ_4K } from '../model/pgtable.js';
import { PGTABLE_RACY_SITES, PGTABLE_SITES } from './sites.js';
import { SplitBlkPgtable } from '../model/pgtable-split.js';
import {
  FreeBeforeWalkFlushPgtable,
  NoDmaWmbInstallPgtable,
  RacyInstallPgtable,
  SplitBlkRacePgtable,
} from '../model/pgtable-variants.js';
import { WalkCache, walkCacheRegions } from '../model/walk-cache.js';

/** A page-table class: IoPgtable or a subclass of it (a patch). */
export type PgtableClass = new (pool: PagePool, opts?: PgtableOptions) => IoPgtable;

/** What a pgtable variant may change. */
export interface PgtablePatch {
  /** The io-pgtable-arm implementation (default IoPgtable, the kernel's). */
  readonly pgtable?: PgtableClass;
}

const ARENA = 512 * SZ_1G;
const PRIVATE_PAGES = 4;
/** Physical addresses stay below 2^41 (32-bit descriptors, see model/pgtable.ts). */
const PHYS_LIMIT = 2 ** 41;

const enum Kind {
  Shared4K,
  Private4K,
  Block2M,
  Block1G,
}
const KIND_NAME = ['4K', '4K', '2M', '1G'];

interface Spot {
  readonly kind: Kind;
  readonly iova: number;
  readonly size: number;
  /** the 2M slot it shares (private 4K / 2M), else -1 */ readonly group: number;
}

const invariants: readonly InvariantDef[] = [
  {
    id: 'PT-TRANSLATE',
    meaning: 'every live mapping translates to its physical address, and every leaf belongs to a live mapping',
    grade: 'FORBIDDEN',
  },
  {
    id: 'PT-ONE-TABLE',
    meaning: 'at most one table per slot: each table page is referenced from exactly one entry',
    grade: 'FORBIDDEN',
  },
  {
    id: 'PT-LEAK',
    meaning: 'no table page lost or leaked: free pages + tables in use = all pages',
    grade: 'FORBIDDEN',
  },
  { id: 'PT-OVERWRITE', meaning: 'no leaf is overwritten without an unmap', grade: 'FORBIDDEN' },
  {
    id: 'PT-MAP',
    meaning: 'mapping a free range a vCPU owns succeeds (-EEXIST there means a foreign entry)',
    grade: 'FORBIDDEN',
  },
  {
    id: 'PT-WALK-UAF',
    meaning: 'no table page is freed while the walk cache may still point at it (flush_walk before the free)',
    grade: 'FORBIDDEN',
  },
  { id: 'PT-ENOMEM', meaning: 'the table-page pool ran dry and a map returned -ENOMEM', grade: 'ACCEPTABLE' },
];

/**
 * Per spot, the spots of the other kind in its group, in order: a 2M block and the private 4K pages of
 * the same slot exclude each other (a group holds only those two kinds). Computed once per model.
 */
function conflictsOf(spots: readonly Spot[]): number[][] {
  // Plain loops: explore builds a fresh model for its nondeterminism check every 64 executions.
  return spots.map((s) => {
    const out: number[] = [];
    if (s.group >= 0)
      for (let i = 0; i < spots.length; i++) if (spots[i]!.group === s.group && spots[i]!.kind !== s.kind) out.push(i);
    return out;
  });
}

function spotsOf(cpu: number, cpus: number, arenas: number, slots: number): Spot[] {
  const spots: Spot[] = [];
  for (let a = 0; a < arenas; a++) {
    const base = a * ARENA;
    for (let j = 0; j < slots; j++) {
      const x = 1 + cpu + cpus * j;
      const group = a * slots + j;
      spots.push({ kind: Kind.Shared4K, iova: base + (cpu + cpus * j) * SZ_4K, size: SZ_4K, group: -1 });
      for (let m = 0; m < PRIVATE_PAGES; m++)
        spots.push({ kind: Kind.Private4K, iova: base + x * SZ_2M + m * SZ_4K, size: SZ_4K, group });
      spots.push({ kind: Kind.Block2M, iova: base + x * SZ_2M, size: SZ_2M, group });
      spots.push({ kind: Kind.Block1G, iova: base + x * SZ_1G, size: SZ_1G, group: -1 });
    }
  }
  return spots;
}

/** Split-block state words (checker memory), per block: [live parts mask | BUSY, block pfn + 1 or 0]. */
const SPLIT_WORDS = 2;
/** vCPU 0 is mapping or unmapping the whole block: no part is live. */
const BUSY = 1 << 30;

/** Scenario pgtable's factory: the model with the page-table class of `config.variant.patch`. */
export function buildPgtable(config: ModelConfig<PgtablePatch>): ScenarioModel {
  const { cpus, params } = config;
  const Pgtable = config.variant.patch?.pgtable ?? IoPgtable;
  const arenas = params.arenas!;
  const slots = params.slots!;
  if ((cpus + 1) * slots + 1 > 512)
    throw new RangeError(`pgtable: (cpus + 1) x slots must be <= 511 (got (${cpus} + 1) x ${slots})`);
  if (cpus > 30) throw new RangeError(`pgtable: at most 30 vCPUs (one bit each in a block's parts mask), got ${cpus}`);
  const spotsPerCpu = arenas * slots * (3 + PRIVATE_PAGES);
  // Tables: the root; per arena L1, L2, the shared L3 and the split block's table; each vCPU's private
  // L3s; and one table in flight per vCPU (an install or split loser's, before it frees it).
  const pages = 1 + arenas * (4 + (cpus + 1) * slots) + cpus + params.extraPages!;
  const blocks = Array.from({ length: arenas * slots }, (_, g) => {
    const a = Math.floor(g / slots);
    return a * ARENA + (1 + cpus * slots + (g % slots)) * SZ_2M;
  });
  const layout = defineLayout(cpus, {
    ...pagePoolRegions(pages),
    ...walkCacheRegions(),
    // Checker state, not model state: the mapping each vCPU believes it has at each of its spots (pfn + 1).
    'pt.shadow': { kind: 'i32', count: spotsPerCpu, perCpu: true },
    'pt.split': { kind: 'i32', count: blocks.length * SPLIT_WORDS },
  });
  // The pool's free hook asks the walk cache (built right after: the hook runs only once ops do).
  const pool = new PagePool(layout, pages, {
    pageFree(cpu, page) {
      const held = walk.holding(cpu.i32, page);
      if (held) {
        cpu.fail(
          'PT-WALK-UAF',
          `${cpu.name} frees table page ${page} while the walk cache still holds it as the L${held.lvl} table ` +
            `for iova 0x${held.iova.toString(16)} (freed before io_pgtable_tlb_flush_walk)`,
        );
      }
    },
  });
  const walk = new WalkCache(layout, pool);
  const pt = new Pgtable(pool, { tlb: walk });
  const shadow = region(layout, 'pt.shadow');
  const splitAt = at(region(layout, 'pt.split'));
  const spots = Array.from({ length: cpus }, (_, c) => spotsOf(c, cpus, arenas, slots));
  const split: SplitBlocks = { blocks, at: splitAt, all: 2 ** cpus - 1 };
  const conflicts = spots.map(conflictsOf);

  return {
    layout,
    freshEachSlice: true,
    init(mem: Memory) {
      pool.init(mem, [IoPgtable.ROOT_PAGE]);
    },
    program: (cpu, rng) => new PgtableProgram(cpu, rng, pt, walk, spots[cpu.id]!, conflicts[cpu.id]!, shadow, split),
    quiescent(mem, report) {
      const i32 = mem.i32;
      const { tableRefs, badRefs, leaves } = pt.scan(i32);
      const free = pool.freePages(i32);
      const freeSet = new Set(free);
      for (const iova of badRefs)
        report('PT-ONE-TABLE', `entry for iova 0x${iova.toString(16)} is not a valid table descriptor`);
      for (const [page, refs] of tableRefs) {
        if (refs > 1) report('PT-ONE-TABLE', `table page ${page} is referenced from ${refs} entries`);
        if (freeSet.has(page)) report('PT-LEAK', `table page ${page} is in use and also in the free pool`);
      }
      const lost = [];
      for (let p = 0; p < pages; p++) if (!tableRefs.has(p) && !freeSet.has(p)) lost.push(p);
      if (lost.length > 0 || free.length !== freeSet.size) {
        report(
          'PT-LEAK',
          `${lost.length} table page(s) neither free nor reachable: ${lost.slice(0, 8).join(', ')}${lost.length > 8 ? ', ...' : ''}` +
            ` (free ${free.length} + in use ${tableRefs.size} of ${pages})`,
        );
      }
      const leafAt = new Map(leaves.map(([iova, size, phys]) => [iova, { size, phys }]));
      for (let c = 0; c < cpus; c++) {
        spots[c]!.forEach((s, k) => {
          const want = i32[atCpu(shadow, c, k)]!;
          if (want === 0) return;
          const leaf = leafAt.get(s.iova);
          const phys = (want - 1) * SZ_4K;
          if (!leaf || leaf.size !== s.size || leaf.phys !== phys) {
            report(
              'PT-TRANSLATE',
              `cpu${c}'s ${KIND_NAME[s.kind]} mapping iova 0x${s.iova.toString(16)} -> 0x${phys.toString(16)} ` +
                (leaf ? `finds ${leaf.size / SZ_4K} page(s) -> 0x${leaf.phys.toString(16)}` : 'is gone from the table'),
            );
          }
          leafAt.delete(s.iova);
        });
      }
      checkSplitBlocks(i32, split, cpus, leafAt, report);
      for (const [iova, leaf] of leafAt) {
        report(
          'PT-TRANSLATE',
          `stray leaf at iova 0x${iova.toString(16)} -> 0x${leaf.phys.toString(16)} that no vCPU mapped`,
        );
      }
    },
  };
}

/** The split blocks: their iovas, where their state words are, and the mask with every vCPU's part live. */
interface SplitBlocks {
  readonly blocks: readonly number[];
  readonly at: number;
  readonly all: number;
}

/**
 * The split blocks on a quiescent model: a block vCPU 0 mapped translates, page by page, to the block's
 * physical page — except each vCPU's own page once that vCPU has unmapped it. Consumes the leaves it
 * checks from `leafAt` (what is left there is stray).
 */
function checkSplitBlocks(
  i32: Int32Array,
  split: SplitBlocks,
  cpus: number,
  leafAt: Map<number, { size: number; phys: number }>,
  report: (id: string, message: string) => void,
): void {
  split.blocks.forEach((base, g) => {
    const mask = i32[split.at + g * SPLIT_WORDS]!;
    const pfn1 = i32[split.at + g * SPLIT_WORDS + 1]!;
    if (pfn1 === 0 || (mask & BUSY) !== 0) return;
    const phys = (pfn1 - 1) * SZ_4K;
    const block = leafAt.get(base);
    if (block && block.size === SZ_2M) {
      leafAt.delete(base);
      if (block.phys !== phys)
        report(
          'PT-TRANSLATE',
          `split block 0x${base.toString(16)} maps 0x${block.phys.toString(16)}, not 0x${phys.toString(16)}`,
        );
      if (mask !== split.all)
        report(
          'PT-TRANSLATE',
          `split block 0x${base.toString(16)} is whole, but parts ${(split.all & ~mask).toString(2)} were unmapped`,
        );
      return;
    }
    for (let p = 0; p < 512; p++) {
      const iova = base + p * SZ_4K;
      const leaf = leafAt.get(iova);
      leafAt.delete(iova);
      const live = p >= cpus || (mask & (1 << p)) !== 0;
      const want = phys + p * SZ_4K;
      if (live && (!leaf || leaf.size !== SZ_4K || leaf.phys !== want)) {
        report(
          'PT-TRANSLATE',
          `page ${p} of split block 0x${base.toString(16)} should map 0x${want.toString(16)}: ${leaf ? `maps 0x${leaf.phys.toString(16)}` : 'gone'}`,
        );
      } else if (!live && leaf) {
        report(
          'PT-TRANSLATE',
          `cpu${p} unmapped its page 0x${iova.toString(16)} of split block 0x${base.toString(16)}, but it still maps 0x${leaf.phys.toString(16)}`,
        );
      }
    }
  });
}

/** One vCPU's op stream: map a free spot of its own, unmap or check a live one. */
class PgtableProgram implements VcpuProgram {
  private lastOp: 'map' | 'unmap' | 'iova_to_phys' | 'dma' | 'split map' | 'split unmap' | 'split unmap part' = 'map';
  private lastSpot = 0;
  private lastPhys = 0;
  /** The running op's expected translation (iova_to_phys, dma) and the device op's iova, for its check. */
  private opWant = 0;
  private opIova = 0;
  private readonly base: number;
  /**
   * dmaOp's candidates: scratch, filled afresh before each use (so no state survives an op in it), to
   * spare a growing array per device op.
   */
  private readonly live: Int32Array;
  /** How many of its spots this vCPU has mapped (its shadow's non-zero entries), kept by setMapped. */
  private liveSpots = 0;

  constructor(
    private readonly cpu: Cpu,
    private readonly rng: RandomGenerator,
    private readonly pt: IoPgtable,
    private readonly walk: WalkCache,
    private readonly spots: readonly Spot[],
    /** Per spot, the spots that exclude it (conflictsOf). */
    private readonly conflicts: readonly (readonly number[])[],
    shadow: Region,
    private readonly split: SplitBlocks,
  ) {
    this.base = atCpu(shadow, cpu.id);
    this.live = new Int32Array(spots.length + split.blocks.length);
    for (let k = 0; k < spots.length; k++) if (this.mapped(k) !== 0) this.liveSpots++;
  }

  private splitMask(g: number): number {
    return Atomics.load(this.cpu.i32, this.split.at + g * SPLIT_WORDS);
  }

  private splitPfn1(g: number): number {
    return Atomics.load(this.cpu.i32, this.split.at + g * SPLIT_WORDS + 1);
  }

  /** A split-block op if one is possible for this vCPU on a random block: its part, or vCPU 0's whole. */
  private splitOp(): Op<void> | null {
    const g = randInt(this.rng, 0, this.split.blocks.length - 1);
    const mask = this.splitMask(g);
    const bit = 1 << this.cpu.id;
    if ((mask & BUSY) === 0 && (mask & bit) !== 0) {
      this.lastOp = 'split unmap part';
      this.lastSpot = g;
      return this.doSplitUnmapPart(g, this.split.blocks[g]! + this.cpu.id * SZ_4K);
    }
    if (this.cpu.id !== 0 || mask !== 0) return null;
    this.lastSpot = g;
    if (this.splitPfn1(g) !== 0) {
      this.lastOp = 'split unmap';
      return this.doSplitUnmapRest(g);
    }
    this.lastOp = 'split map';
    this.lastPhys = SZ_2M * randInt(this.rng, 1, PHYS_LIMIT / SZ_2M - 1);
    return this.doSplitMap(g, this.lastPhys);
  }

  /** vCPU 0 maps the whole block (no part is live, so nobody else touches it). */
  private *doSplitMap(g: number, phys: number): Op<void> {
    const i32 = this.cpu.i32;
    const w = this.split.at + g * SPLIT_WORDS;
    Atomics.store(i32, w, BUSY);
    const { ret } = yield* this.pt.mapPages(this.cpu, this.split.blocks[g]!, phys, SZ_2M, 1);
    if (ret === 0) {
      Atomics.store(i32, w + 1, phys / SZ_4K + 1);
      Atomics.store(i32, w, this.split.all);
      return;
    }
    Atomics.store(i32, w, 0);
    if (ret === ENOMEM)
      this.cpu.fail('PT-ENOMEM', `cpu0: no table page for split block 0x${this.split.blocks[g]!.toString(16)}`);
    else
      this.cpu.fail('PT-MAP', `cpu0: map of free split block 0x${this.split.blocks[g]!.toString(16)} returned ${ret}`);
  }

  /** vCPU 0 unmaps what is left of the block once every part is gone: 2M, a block or the split table. */
  private *doSplitUnmapRest(g: number): Op<void> {
    const i32 = this.cpu.i32;
    const w = this.split.at + g * SPLIT_WORDS;
    Atomics.store(i32, w, BUSY);
    const n = yield* this.pt.unmapPages(this.cpu, this.split.blocks[g]!, SZ_2M, 1);
    Atomics.store(i32, w + 1, 0);
    Atomics.store(i32, w, 0);
    if (n !== SZ_2M)
      this.cpu.fail(
        'PT-TRANSLATE',
        `cpu0: unmap of split block 0x${this.split.blocks[g]!.toString(16)} found ${n} bytes mapped`,
      );
  }

  /** vCPU c unmaps its own page of a live block (a partial unmap: splits the block if still whole). */
  private *doSplitUnmapPart(g: number, iova: number): Op<void> {
    const n = yield* this.pt.unmapPages(this.cpu, iova, SZ_4K, 1);
    // The part stays this vCPU's until its check is done: once its bit is clear, vCPU 0 may unmap and map
    // the whole block again, and the check would see that new block.
    const release = () => Atomics.and(this.cpu.i32, this.split.at + g * SPLIT_WORDS, ~(1 << this.cpu.id));
    if (n !== SZ_4K) {
      release();
      this.cpu.fail(
        'PT-TRANSLATE',
        `cpu${this.cpu.id}: unmap of its page 0x${iova.toString(16)} of a live block returned ${n}`,
      );
      return;
    }
    const left = yield* this.pt.iovaToPhys(this.cpu, iova);
    release();
    if (left >= 0)
      this.cpu.fail(
        'PT-TRANSLATE',
        `cpu${this.cpu.id}: its page 0x${iova.toString(16)} of split block 0x${this.split.blocks[g]!.toString(16)} ` +
          `still translates to 0x${left.toString(16)} after its unmap returned 4K`,
      );
  }

  /** The device: translate a live mapping of this vCPU's (a spot, or its page of a split block) through the walk cache. */
  private dmaOp(): Op<void> | null {
    // The candidates are the live spots in order, then the live split parts: only the parts are listed
    // (in `live`); the draw's spot is found by counting live spots up to it.
    const live = this.live;
    let n = this.liveSpots;
    const bit = 1 << this.cpu.id;
    // A page table that does not split blocks never has a split block mapped (splitOp never runs).
    const blocks = this.pt.splitsBlocks ? this.split.blocks.length : 0;
    for (let g = 0; g < blocks; g++) {
      const mask = this.splitMask(g);
      if ((mask & BUSY) === 0 && (mask & bit) !== 0) live[n++] = -1 - g;
    }
    if (n === 0) return null;
    const draw = randInt(this.rng, 0, n - 1);
    const k = draw < this.liveSpots ? this.nthLiveSpot(draw) : live[draw]!;
    this.lastOp = 'dma';
    this.lastSpot = k;
    if (k >= 0) return this.doDma(this.spots[k]!.iova, (this.mapped(k) - 1) * SZ_4K);
    const g = -1 - k;
    return this.doDma(this.split.blocks[g]! + this.cpu.id * SZ_4K, (this.splitPfn1(g) - 1 + this.cpu.id) * SZ_4K);
  }

  private doDma(iova: number, want: number): Op<void> {
    this.opIova = iova;
    this.opWant = want;
    return andThen(this.walk.translate(this.cpu, iova), this.dmaDone);
  }

  private readonly dmaDone = (got: number): void => {
    const iova = this.opIova;
    const want = this.opWant;
    if (got !== want)
      this.cpu.fail(
        'PT-TRANSLATE',
        `cpu${this.cpu.id}: the device translates 0x${iova.toString(16)} to ${got < 0 ? 'nothing' : `0x${got.toString(16)}`}, mapped to 0x${want.toString(16)}`,
      );
  };

  /**
   * The pfn + 1 this vCPU mapped at spot k, or 0. Checker state; reading it is not a scheduling point.
   * Plain accesses (here and in setMapped): only this vCPU writes its shadow slot while a slice runs, and
   * the main thread reads or clears it only at a barrier, whose Atomics hand-off orders them. An
   * Atomics.load costs ~6x a plain one here, and dmaOp reads every spot.
   */
  private mapped(k: number): number {
    return this.cpu.i32[this.base + k]!;
  }

  private setMapped(k: number, pfn1: number): void {
    this.liveSpots += (pfn1 !== 0 ? 1 : 0) - (this.mapped(k) !== 0 ? 1 : 0);
    this.cpu.i32[this.base + k] = pfn1;
  }

  /** The index of this vCPU's `n`th live spot (from 0), n < liveSpots. */
  private nthLiveSpot(n: number): number {
    for (let k = 0; ; k++) if (this.mapped(k) !== 0 && n-- === 0) return k;
  }

  next(): Op<unknown> {
    const r = randInt(this.rng, 0, 7);
    if (r === 0) {
      const op = this.dmaOp();
      if (op) return op;
    } else if (r <= 2 && this.pt.splitsBlocks) {
      const op = this.splitOp();
      if (op) return op;
    }
    const k = randInt(this.rng, 0, this.spots.length - 1);
    const s = this.spots[k]!;
    if (this.mapped(k) !== 0) return randInt(this.rng, 0, 3) === 0 ? this.verify(k) : this.unmap(k);
    // A 2M block and the private 4K pages of the same slot exclude each other: unmap the other first
    // (mapping a block over live pages would unmap them behind this vCPU's back).
    for (const other of this.conflicts[k]!) if (this.mapped(other) !== 0) return this.unmap(other);
    const phys = s.size * randInt(this.rng, 1, PHYS_LIMIT / s.size - 1);
    return this.map(k, phys);
  }

  describe(): string {
    if (this.lastOp === 'dma' && this.lastSpot < 0)
      return `dma 4K 0x${(this.split.blocks[-1 - this.lastSpot]! + this.cpu.id * SZ_4K).toString(16)} (part of a split block)`;
    if (this.lastOp.startsWith('split')) {
      const base = this.split.blocks[this.lastSpot]!;
      const what =
        this.lastOp === 'split unmap part'
          ? `unmap 4K 0x${(base + this.cpu.id * SZ_4K).toString(16)} (part of the block)`
          : this.lastOp === 'split map'
            ? `map 2M 0x${base.toString(16)}->0x${this.lastPhys.toString(16)} (split block)`
            : `unmap 2M 0x${base.toString(16)} (split block)`;
      return what;
    }
    const s = this.spots[this.lastSpot]!;
    const where = `${KIND_NAME[s.kind]} 0x${s.iova.toString(16)}`;
    return this.lastOp === 'map' ? `map ${where}->0x${this.lastPhys.toString(16)}` : `${this.lastOp} ${where}`;
  }

  // Ops record what they are when created; describe() turns that into text only when a trace asks.
  private map(k: number, phys: number): Op<void> {
    this.lastOp = 'map';
    this.lastSpot = k;
    this.lastPhys = phys;
    const s = this.spots[k]!;
    return andThen(this.pt.mapPages(this.cpu, s.iova, phys, s.size, 1), this.mapDone);
  }

  // Each op is the model call with its check after it (andThen: no generator of the program's own
  // around every step of the walk). The checks are made once per program and read the op's arguments
  // from the fields the op set (lastSpot, lastPhys, opWant, opIova): a vCPU's program makes its next op
  // only once the last one has run to its end, check included, so no closure per op is needed.
  private readonly mapDone = ({ ret }: MapResult): void => {
    const k = this.lastSpot;
    const s = this.spots[k]!;
    if (ret === 0) this.setMapped(k, this.lastPhys / SZ_4K + 1);
    else if (ret === ENOMEM)
      this.cpu.fail('PT-ENOMEM', `cpu${this.cpu.id}: no table page for iova 0x${s.iova.toString(16)}`);
    else
      this.cpu.fail(
        'PT-MAP',
        `cpu${this.cpu.id}: map ${KIND_NAME[s.kind]} at its own free iova 0x${s.iova.toString(16)} returned ${ret}`,
      );
  };

  private unmap(k: number): Op<void> {
    this.lastOp = 'unmap';
    this.lastSpot = k;
    const s = this.spots[k]!;
    return andThen(this.pt.unmapPages(this.cpu, s.iova, s.size, 1), this.unmapDone);
  }

  private readonly unmapDone = (n: number): void => {
    const k = this.lastSpot;
    const s = this.spots[k]!;
    this.setMapped(k, 0);
    if (n !== s.size) {
      this.cpu.fail(
        'PT-TRANSLATE',
        `cpu${this.cpu.id}: unmap of its live ${KIND_NAME[s.kind]} mapping at 0x${s.iova.toString(16)} found ${n} bytes mapped: the mapping was lost`,
      );
    }
  };

  private verify(k: number): Op<void> {
    this.lastOp = 'iova_to_phys';
    this.lastSpot = k;
    this.opWant = (this.mapped(k) - 1) * SZ_4K;
    return andThen(this.pt.iovaToPhys(this.cpu, this.spots[k]!.iova), this.verifyDone);
  }

  private readonly verifyDone = (got: number): void => {
    const s = this.spots[this.lastSpot]!;
    const want = this.opWant;
    if (got !== want) {
      this.cpu.fail(
        'PT-TRANSLATE',
        `cpu${this.cpu.id}: iova 0x${s.iova.toString(16)} translates to ${got < 0 ? 'nothing' : `0x${got.toString(16)}`}, mapped to 0x${want.toString(16)}`,
      );
    }
  };
}

export const pgtableScenario: ScenarioDef<PgtablePatch> = {
  name: 'pgtable',
  summary: 'io-pgtable-arm: concurrent map/unmap with mixed page sizes racing to install shared tables',
  follows: 'kernel-model.md §6 (PGT-NEW, PGT-SPLIT); §9 #14; 85c7a0f1ef62 (split_blk_unmap race)',
  params: {
    arenas: { default: 2, min: 1, max: 8, help: 'L0 slots (512 GiB each) the vCPUs work in' },
    slots: { default: 2, min: 1, max: 64, help: 'spots of each kind per vCPU per arena' },
    extraPages: { default: 8, min: 0, max: 4096, help: 'table pages beyond what the geometry can use' },
  },
  exploreCpus: 3,
  exploreOps: 8,
  invariants,
  sites: [...PGTABLE_SITES, 'smmu table walk', 'tlb_flush_walk'],
  variants: [
    { name: 'correct', summary: 'install_table by compare-and-swap, the loser frees its page', expect: 'clean' },
    {
      name: 'split-blk',
      summary: 'v4.12..v6.12: a partial unmap splits the block; the split loser unmaps through the winner table',
      expect: 'clean',
      source: 'drivers/iommu/io-pgtable-arm.c arm_lpae_split_blk_unmap (<= v6.12) after 85c7a0f1ef62',
      patch: { pgtable: SplitBlkPgtable },
    },
    {
      name: 'split-blk-race',
      summary: 'before 85c7a0f1ef62: the split loser at the last level returns without unmapping its page',
      expect: ['PT-TRANSLATE'],
      source: '85c7a0f1ef62 "iommu/io-pgtable-arm: Fix race handling in split_blk_unmap()" (the code before it)',
      patch: { pgtable: SplitBlkRacePgtable },
    },
    {
      name: 'free-before-walk-flush',
      summary: '__arm_lpae_unmap frees a cleared table before io_pgtable_tlb_flush_walk: walk-cache use-after-free',
      expect: ['PT-WALK-UAF'],
      source: 'kernel-model.md §6 Unmap (flush the walk cache, then free the subtable) — derived: the order reversed',
      patch: { pgtable: FreeBeforeWalkFlushPgtable },
    },
    {
      name: 'racy-install',
      summary: 'install_table with a plain store: two installers both win and one table is lost',
      expect: ['PT-LEAK', 'PT-TRANSLATE'],
      source: 'kernel-model.md §6, §9 #14 (the CAS this variant removes)',
      patch: { pgtable: RacyInstallPgtable },
      sites: PGTABLE_RACY_SITES,
    },
    {
      name: 'no-dma-wmb',
      summary: 'install_table without dma_wmb(): a walker sees the new table before its zeroing (weak memory only)',
      expect: ['PT-TRANSLATE', 'PT-MAP', 'PT-ONE-TABLE', 'PT-LEAK', 'PT-OVERWRITE'],
      memory: 'weak',
      source: 'io-pgtable-arm.c arm_lpae_install_table; riscv: "add dma_wmb before cmpxchg_relaxed"',
      patch: { pgtable: NoDmaWmbInstallPgtable },
    },
  ],
  build: buildPgtable,
};
