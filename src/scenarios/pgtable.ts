/**
 * Scenario `pgtable`: vCPUs map and unmap their own IOVA ranges in one io-pgtable-arm table
 * (kernel-model.md §6), placed so that they share the upper-level tables and race to install them.
 *
 * Geometry, per arena (one L0 slot, 512 GiB) and vCPU c of N, j < slots:
 *   shared 4K   L1[0] L2[0] L3[c + N*j]      — every vCPU needs the same L1, L2 and L3 tables
 *   private 4K  L1[0] L2[1 + c + N*j] L3[m]  — m < 4; the L3 table is c's own
 *   2M block    L1[0] L2[1 + c + N*j]        — the same slot: mapping it frees c's empty L3 table there
 *   1G block    L1[1 + c + N*j]              — shares only the L1 table
 * Ranges are disjoint between vCPUs, as the core requires of its callers (§6 "Atomic vs not"), so the
 * correct table is race-free at the leaves and every race is a table install.
 *
 * The model is built by `buildPgtable(config)` from `config.variant.patch` (PgtablePatch: the page-table
 * class to use). The checkers are the harness's: each vCPU's shadow of what it mapped (kept by the op
 * program), the quiescent scan of the table and the pool, and PT-OVERWRITE at the instrumented leaf store.
 */
import type { InvariantDef } from '../check/invariant.js';
import type { Cpu, Op } from '../engine/cpu.js';
import { atCpu, defineLayout, region, type Memory, type Region } from '../engine/layout.js';
import { randInt, type RandomGenerator } from '../engine/rng.js';
import type { ModelConfig, ScenarioDef, ScenarioModel, VcpuProgram } from '../engine/scenario.js';
import { PagePool, pagePoolRegions } from '../model/page-pool.js';
import { ENOMEM, IoPgtable, type PgtableOptions, SZ_1G, SZ_2M, SZ_4K } from '../model/pgtable.js';
import { NoDmaWmbInstallPgtable, RacyInstallPgtable } from '../model/pgtable-variants.js';

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
  { id: 'PT-ENOMEM', meaning: 'the table-page pool ran dry and a map returned -ENOMEM', grade: 'ACCEPTABLE' },
];

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

/** Scenario pgtable's factory: the model with the page-table class of `config.variant.patch`. */
export function buildPgtable(config: ModelConfig<PgtablePatch>): ScenarioModel {
  const { cpus, params } = config;
  const Pgtable = config.variant.patch?.pgtable ?? IoPgtable;
  const arenas = params.arenas!;
  const slots = params.slots!;
  if (cpus * slots + 1 > 512) throw new RangeError(`pgtable: cpus x slots must be <= 511 (got ${cpus} x ${slots})`);
  const spotsPerCpu = arenas * slots * (3 + PRIVATE_PAGES);
  const pages = 1 + arenas * (3 + cpus * slots) + params.extraPages!;
  const layout = defineLayout(cpus, {
    ...pagePoolRegions(pages),
    // Checker state, not model state: the mapping each vCPU believes it has at each of its spots (pfn + 1).
    'pt.shadow': { kind: 'i32', count: spotsPerCpu, perCpu: true },
  });
  const pool = new PagePool(layout, pages);
  const pt = new Pgtable(pool);
  const shadow = region(layout, 'pt.shadow');
  const spots = Array.from({ length: cpus }, (_, c) => spotsOf(c, cpus, arenas, slots));

  return {
    layout,
    freshEachSlice: true,
    init(mem: Memory) {
      pool.init(mem, [IoPgtable.ROOT_PAGE]);
    },
    program: (cpu, rng) => new PgtableProgram(cpu, rng, pt, spots[cpu.id]!, shadow),
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
      for (const [iova, leaf] of leafAt) {
        report(
          'PT-TRANSLATE',
          `stray leaf at iova 0x${iova.toString(16)} -> 0x${leaf.phys.toString(16)} that no vCPU mapped`,
        );
      }
    },
  };
}

/** One vCPU's op stream: map a free spot of its own, unmap or check a live one. */
class PgtableProgram implements VcpuProgram {
  private lastOp: 'map' | 'unmap' | 'iova_to_phys' = 'map';
  private lastSpot = 0;
  private lastPhys = 0;
  private readonly base: number;

  constructor(
    private readonly cpu: Cpu,
    private readonly rng: RandomGenerator,
    private readonly pt: IoPgtable,
    private readonly spots: readonly Spot[],
    shadow: Region,
  ) {
    this.base = atCpu(shadow, cpu.id);
  }

  /** The pfn + 1 this vCPU mapped at spot k, or 0. Checker state; reading it is not a scheduling point. */
  private mapped(k: number): number {
    return Atomics.load(this.cpu.i32, this.base + k);
  }

  next(): Op<unknown> {
    const k = randInt(this.rng, 0, this.spots.length - 1);
    const s = this.spots[k]!;
    if (this.mapped(k) !== 0) return randInt(this.rng, 0, 3) === 0 ? this.verify(k) : this.unmap(k);
    // A 2M block and the private 4K pages of the same slot exclude each other: unmap the other first
    // (mapping a block over live pages would unmap them behind this vCPU's back).
    if (s.group >= 0) {
      // A group holds only private 4K pages and the 2M block, so "the other kind" is the conflict.
      const other = this.spots.findIndex((o, i) => o.group === s.group && o.kind !== s.kind && this.mapped(i) !== 0);
      if (other >= 0) return this.unmap(other);
    }
    const phys = s.size * randInt(this.rng, 1, PHYS_LIMIT / s.size - 1);
    return this.map(k, phys);
  }

  describe(): string {
    const s = this.spots[this.lastSpot]!;
    const where = `${KIND_NAME[s.kind]} 0x${s.iova.toString(16)}`;
    return this.lastOp === 'map' ? `map ${where}->0x${this.lastPhys.toString(16)}` : `${this.lastOp} ${where}`;
  }

  // Ops record what they are when created; describe() turns that into text only when a trace asks.
  private map(k: number, phys: number): Op<void> {
    this.lastOp = 'map';
    this.lastSpot = k;
    this.lastPhys = phys;
    return this.doMap(this.spots[k]!, k, phys);
  }

  private *doMap(s: Spot, k: number, phys: number): Op<void> {
    const { ret } = yield* this.pt.mapPages(this.cpu, s.iova, phys, s.size, 1);
    if (ret === 0) Atomics.store(this.cpu.i32, this.base + k, phys / SZ_4K + 1);
    else if (ret === ENOMEM)
      this.cpu.fail('PT-ENOMEM', `cpu${this.cpu.id}: no table page for iova 0x${s.iova.toString(16)}`);
    else
      this.cpu.fail(
        'PT-MAP',
        `cpu${this.cpu.id}: map ${KIND_NAME[s.kind]} at its own free iova 0x${s.iova.toString(16)} returned ${ret}`,
      );
  }

  private unmap(k: number): Op<void> {
    this.lastOp = 'unmap';
    this.lastSpot = k;
    return this.doUnmap(this.spots[k]!, k);
  }

  private *doUnmap(s: Spot, k: number): Op<void> {
    const n = yield* this.pt.unmapPages(this.cpu, s.iova, s.size, 1);
    Atomics.store(this.cpu.i32, this.base + k, 0);
    if (n !== s.size) {
      this.cpu.fail(
        'PT-TRANSLATE',
        `cpu${this.cpu.id}: unmap of its live ${KIND_NAME[s.kind]} mapping at 0x${s.iova.toString(16)} found ${n} bytes mapped: the mapping was lost`,
      );
    }
  }

  private verify(k: number): Op<void> {
    this.lastOp = 'iova_to_phys';
    this.lastSpot = k;
    return this.doVerify(this.spots[k]!, (this.mapped(k) - 1) * SZ_4K);
  }

  private *doVerify(s: Spot, want: number): Op<void> {
    const got = yield* this.pt.iovaToPhys(this.cpu, s.iova);
    if (got !== want) {
      this.cpu.fail(
        'PT-TRANSLATE',
        `cpu${this.cpu.id}: iova 0x${s.iova.toString(16)} translates to ${got < 0 ? 'nothing' : `0x${got.toString(16)}`}, mapped to 0x${want.toString(16)}`,
      );
    }
  }
}

export const pgtableScenario: ScenarioDef<PgtablePatch> = {
  name: 'pgtable',
  summary: 'io-pgtable-arm: concurrent map/unmap with mixed page sizes racing to install shared tables',
  follows: 'kernel-model.md §6 (PGT-NEW, PGT-SPLIT); §9 #14',
  params: {
    arenas: { default: 2, min: 1, max: 8, help: 'L0 slots (512 GiB each) the vCPUs work in' },
    slots: { default: 2, min: 1, max: 64, help: 'spots of each kind per vCPU per arena' },
    extraPages: { default: 8, min: 0, max: 4096, help: 'table pages beyond what the geometry can use' },
  },
  exploreCpus: 3,
  exploreOps: 8,
  invariants,
  variants: [
    { name: 'correct', summary: 'install_table by compare-and-swap, the loser frees its page', expect: 'clean' },
    {
      name: 'racy-install',
      summary: 'install_table with a plain store: two installers both win and one table is lost',
      expect: ['PT-LEAK', 'PT-TRANSLATE'],
      source: 'kernel-model.md §6, §9 #14 (the CAS this variant removes)',
      patch: { pgtable: RacyInstallPgtable },
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
