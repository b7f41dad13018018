/**
 * Scenario `mapsg`: many CPUs map scatterlists into one domain whose driver pays a hypercall per map
 * call, as pKVM's SMMUv3 driver does — kernel-model.md §5.3 (iommu_map_sg: sentinel pass, coalescing,
 * one sync), §5.2 (iommu_map_nosync, its alignment check and unwind), §5.4 (the deferred map_sg cookie
 * vs a per-domain deferred list), §9 #12 #13, §10 "Core map".
 *
 * Each vCPU owns `slots` IOVA windows (the IOVAs iommu_dma_map_sg would have allocated; disjoint, as
 * the core requires of its callers) and alternates map_sg of a random scatterlist into a free window
 * with iommu_unmap of a mapped one. Segments are physically contiguous with the previous one half of
 * the time (so runs coalesce), now and then misaligned (-EINVAL), now and then a 2 MiB block; planned
 * hypercall failures make the unwind paths run.
 *
 * The model is built by `buildMapsg(config)` from `config.variant.patch` (MapsgPatch: the driver
 * class — per-call, cookie, domain list, or a user's — and the core class, whose iommu_map_sg,
 * iommu_map, iommu_unmap, iommu_pgsize a patch may override).
 *
 * The checkers are the harness's, apart from the code under test. The op program records which map
 * call is in progress on each window; the hypervisor (hyp.ts) tags every PTE it commits with that call
 * (a shadow per IOVA page): a commit must come from the window's own call, in progress, and find the
 * page free (MAPSG-ONCE); an unmap must clear only its own call's pages and never meet a hole
 * (MAPSG-ERROR). The ops dispatch counts iotlb_sync_map calls (a successful map_sg syncs once,
 * MAPSG-SYNC); the program checks that a successful map_sg translates every page and a failed one
 * leaves nothing mapped; the cookie pool records who holds each cookie (released by the call that
 * allocated it, MAPSG-COOKIE).
 *
 * Simplification: the IOVA windows are fixed per vCPU instead of coming from the IOVA allocator (which
 * is not what this scenario studies; scenario `dma-iova` uses it).
 *
 * With `bench=1` the program is a map_sg / unmap loop over `segs` separate pages, with latencies.
 */
import type { InvariantDef } from '../check/invariant.js';
import type { Cpu, Op } from '../engine/cpu.js';
import { at, atCpu, defineLayout, region, type Memory } from '../engine/layout.js';
import { randInt, type RandomGenerator } from '../engine/rng.js';
import type { ModelConfig, ScenarioDef, ScenarioModel, VcpuProgram } from '../engine/scenario.js';
import { CookiePool, cookieRegions } from '../model/core/cookie-pool.js';
import {
  CookieDriver,
  DeferredListDriver,
  deferredListRegions,
  PerCpuDeferredListDriver,
} from '../model/core/deferred.js';
import { countSyncMaps, type DriverClass, PerCallDriver } from '../model/core/driver.js';
import { type CallCtx, Hyp, hypRegions } from '../model/core/hyp.js';
import { IommuCore, type IommuCoreClass, type SgEntry } from '../model/core/iommu-map.js';
import { CookieErrorLeakCore, DomainListUnlockedDriver, UnwindUnmappedCore } from '../model/core/variants.js';
import { Latency, latencyRegions, latencyStats } from '../model/dma/latency.js';
import { PagePool, pagePoolRegions } from '../model/page-pool.js';
import { checkTablePages } from '../model/pt-accounting.js';
import { IoPgtable, SZ_1G, SZ_2M, SZ_4K } from '../model/pgtable.js';
import {
  COOKIE_SITES,
  DEFERRED_LIST_LOCK,
  DEFERRED_LIST_SITES,
  DEFERRED_LIST_UNLOCKED_SITES,
  HYP_SITES,
  NO_1G_BLOCKS,
  PGTABLE_SITES,
} from './sites.js';

/** What a mapsg variant may change. */
export interface MapsgPatch {
  /** The driver under the core (default PerCallDriver): CookieDriver, DeferredListDriver, or a subclass. */
  readonly driver?: DriverClass;
  /** The IOMMU core (default IommuCore): a subclass overrides iommuMapSg, iommuMap, iommuUnmap, iommuPgsize... */
  readonly core?: IommuCoreClass;
}

const invariants: readonly InvariantDef[] = [
  {
    id: 'MAPSG-ONCE',
    meaning:
      'every run is committed exactly once, and only by its own map call; a successful map_sg translates every page it returned',
    grade: 'FORBIDDEN',
  },
  {
    id: 'MAPSG-ERROR',
    meaning:
      "after an error nothing of the call stays mapped, and an unmap clears only its own call's pages (never a hole, never another call's)",
    grade: 'FORBIDDEN',
  },
  {
    id: 'MAPSG-COOKIE',
    meaning: 'no cookie leaked: map_sg releases the cookie it allocated, on success and on error',
    grade: 'FORBIDDEN',
  },
  { id: 'MAPSG-SYNC', meaning: 'a successful map_sg issues exactly one iotlb_sync_map', grade: 'FORBIDDEN' },
  { id: 'PT-OVERWRITE', meaning: 'no leaf is overwritten without an unmap', grade: 'FORBIDDEN' },
  { id: 'PT-LEAK', meaning: 'no table page is freed twice', grade: 'FORBIDDEN' },
  { id: 'MAPSG-EINVAL', meaning: 'map_sg of a misaligned run returned -EINVAL', grade: 'ACCEPTABLE' },
  {
    id: 'MAPSG-EFAIL',
    meaning: 'map_sg failed because a map hypercall failed (injected) and unwound',
    grade: 'ACCEPTABLE',
  },
];

/** The IOVA windows start at 1 GiB (L1 entry 1), the physical buffers at 4 GiB. */
const IOVA_BASE = SZ_1G;
const PHYS_BASE = 4 * SZ_1G;
const PHYS_STRIDE = 8 * SZ_2M;

export interface MapsgGeometry {
  readonly cpus: number;
  readonly slots: number;
  /** Bytes per window (2 MiB aligned when blocks are mapped). */
  readonly window: number;
  readonly pages: number;
}

export function mapsgGeometry(cpus: number, p: Readonly<Record<string, number>>): MapsgGeometry {
  const small = Math.ceil((p.segs! * p.segPages! * SZ_4K) / (16 * SZ_4K)) * 16 * SZ_4K;
  const window = p.hugePermille! > 0 ? Math.max(2 * SZ_2M, small) : small;
  return { cpus, slots: p.slots!, window, pages: (cpus * p.slots! * window) / SZ_4K };
}

/** Everything a mapsg model is made of (the scenario's; also the tests' and the benchmark's). */
export function mapsgParts(config: ModelConfig<MapsgPatch>) {
  const { cpus, params: p } = config;
  const patch = config.variant.patch ?? {};
  const g = mapsgGeometry(cpus, p);
  const cookieCount = 4 * cpus;
  const listCapacity = 64 * cpus;
  const tablePages = 3 + Math.ceil((cpus * g.slots * g.window) / SZ_2M) + 8;
  const windows = cpus * g.slots;
  const layout = defineLayout(cpus, {
    ...pagePoolRegions(tablePages),
    ...hypRegions(),
    ...cookieRegions(cookieCount),
    ...deferredListRegions(listCapacity),
    ...latencyRegions(),
    // Checker state: per IOVA page of the windows, the tag of the map call whose PTE is there (0 none).
    'mapsg.tag': { kind: 'i32', count: g.pages },
    // Checker state: per window, the tag of the map_sg in progress on it (0 none), set by the op program.
    'mapsg.call': { kind: 'i32', count: windows },
    // Checker state: per vCPU and window, the live mapping [tag, bytes].
    'mapsg.live': { kind: 'i32', count: 2 * g.slots, perCpu: true },
  });
  const pool = new PagePool(layout, tablePages);
  const pt = new IoPgtable(pool);
  const tagBase = at(region(layout, 'mapsg.tag'));
  const callBase = at(region(layout, 'mapsg.call'));
  const checks = p.checks === 1;
  const pageOf = (iova: number): number => (iova - IOVA_BASE) / SZ_4K;
  const windowOf = (k: number): number => Math.floor((k * SZ_4K) / g.window);
  const owner = (tag: number): string => `cpu${(tag >>> 20) - 1}'s call #${tag & 0xfffff}`;
  const hyp = new Hyp(pt, region(layout, 'hyp.stats'), cpus, p.hypercallNs!, {
    committing(cpu: Cpu, ctx: CallCtx, iova: number, bytes: number) {
      if (!checks) return;
      for (let k = pageOf(iova); k < pageOf(iova + bytes); k++) {
        const tag = k >= 0 && k < g.pages ? Atomics.load(cpu.i32, callBase + windowOf(k)) : 0;
        if (tag !== ctx.tag) {
          cpu.fail(
            'MAPSG-ONCE',
            `${cpu.name} (call #${ctx.tag & 0xfffff}) commits a run at iova 0x${(IOVA_BASE + k * SZ_4K).toString(16)}, ` +
              `${tag === 0 ? 'which no map call is mapping now' : `of ${owner(tag)}`}: committed by a foreign map call`,
          );
          return;
        }
        const old = Atomics.compareExchange(cpu.i32, tagBase + k, 0, tag);
        if (old !== 0) {
          cpu.fail(
            'MAPSG-ONCE',
            `${cpu.name} commits iova 0x${(IOVA_BASE + k * SZ_4K).toString(16)} for ${owner(tag)}, already committed by ${owner(old)}: committed twice`,
          );
          return;
        }
      }
    },
    cleared(cpu: Cpu, ctx: CallCtx, iova: number, bytes: number, requested: number) {
      if (!checks) return;
      for (let k = pageOf(iova); k < pageOf(iova + bytes); k++) {
        const old = Atomics.exchange(cpu.i32, tagBase + k, 0);
        if (old !== ctx.tag) {
          cpu.fail(
            'MAPSG-ERROR',
            `${cpu.name} (call #${ctx.tag & 0xfffff}) unmaps iova 0x${(IOVA_BASE + k * SZ_4K).toString(16)}, which ${old === 0 ? 'nobody committed' : `belongs to ${owner(old)}`}`,
          );
          return;
        }
      }
      if (bytes < requested) {
        cpu.fail(
          'MAPSG-ERROR',
          `${cpu.name} (call #${ctx.tag & 0xfffff}) unmaps iova 0x${(iova + bytes).toString(16)}, which was never mapped: the unwind unmaps what this call did not map`,
        );
      }
    },
  });
  const cookies = new CookiePool(layout, cookieCount);
  const Driver = patch.driver ?? PerCallDriver;
  const driver = new Driver({ layout, hyp, cpus, cookieEntries: p.cookieEntries!, cookies, listCapacity });
  const Core = patch.core ?? IommuCore;
  const core = new Core(countSyncMaps(driver, hyp.ctx));
  const list = driver instanceof DeferredListDriver ? driver : null;
  const latency = new Latency(region(layout, 'lat.sum'), region(layout, 'lat.hist'), cpus);
  return {
    layout,
    g,
    pool,
    pt,
    hyp,
    core,
    driver,
    cookies,
    list,
    tagBase,
    callBase,
    latency,
    live: region(layout, 'mapsg.live'),
  };
}

type Parts = ReturnType<typeof mapsgParts>;

export function windowIova(g: MapsgGeometry, cpu: number, slot: number): number {
  return IOVA_BASE + (cpu * g.slots + slot) * g.window;
}

export function windowPhys(g: MapsgGeometry, cpu: number, slot: number): number {
  return PHYS_BASE + (cpu * g.slots + slot) * PHYS_STRIDE;
}

/** Scenario mapsg's factory: the model with the driver and core classes of `config.variant.patch`. */
export function buildMapsg(config: ModelConfig<MapsgPatch>): ScenarioModel {
  const { cpus, params: p } = config;
  const parts = mapsgParts(config);
  const { layout, g, pool, pt, hyp, cookies, list, tagBase, latency, live } = parts;
  return {
    layout,
    init(mem: Memory) {
      pool.init(mem, [IoPgtable.ROOT_PAGE]);
      cookies.init(mem.i32);
    },
    program: (cpu, rng) => (p.bench === 1 ? new BenchProgram(cpu, parts, p) : new MapsgProgram(cpu, rng, parts, p)),
    quiescent(mem, report) {
      const i32 = mem.i32;
      checkTablePages(pt, pool, i32, report);
      for (let c = 0; c < cpus; c++) {
        for (let s = 0; s < g.slots; s++) {
          const tag = i32[atCpu(live, c, 2 * s)]!;
          const bytes = i32[atCpu(live, c, 2 * s + 1)]!;
          const iova = windowIova(g, c, s);
          for (let off = 0; off < g.window; off += SZ_4K) {
            const k = (iova + off - IOVA_BASE) / SZ_4K;
            const t = i32[tagBase + k]!;
            const mapped = pt.walk(i32, iova + off) >= 0;
            if (off < bytes) {
              if (t !== tag || !mapped) {
                report(
                  'MAPSG-ONCE',
                  `cpu${c}'s live mapping in window ${s} lost iova 0x${(iova + off).toString(16)} (${mapped ? 'tagged by another call' : 'not mapped'})`,
                );
                return;
              }
            } else if (t !== 0 || mapped) {
              report(
                'MAPSG-ERROR',
                `iova 0x${(iova + off).toString(16)} in cpu${c}'s window ${s} is still mapped${t ? ` by call #${t & 0xfffff}` : ''} after every call returned`,
              );
              return;
            }
          }
        }
      }
      if (list) {
        const lists = list instanceof PerCpuDeferredListDriver ? cpus : 1;
        let parked = 0;
        for (let c = 0; c < lists; c++) parked += list.parked(i32, c);
        if (parked !== 0)
          report(
            'MAPSG-ONCE',
            `${parked} entries still parked on the deferred list after every map_sg returned: never committed`,
          );
      }
      if (cookies.freeCount(i32) !== cookies.cookies)
        report(
          'MAPSG-COOKIE',
          `${cookies.cookies - cookies.freeCount(i32)} map_sg cookies allocated after every map_sg returned: leaked`,
        );
    },
    stats(mem) {
      const lat = latency.total(mem.f64, mem.i32);
      const [maps, unmaps, failed] = hyp.counts(mem.i32, cpus);
      return {
        ...latencyStats(lat),
        mapHypercalls: maps,
        unmapHypercalls: unmaps,
        failedHypercalls: failed,
      };
    },
  };
}

/** Draw "the k-th map hypercall of this op fails" with failPermille per hypercall (first 16 calls). */
export function drawFailAt(rng: RandomGenerator, failPermille: number): number {
  if (failPermille <= 0) return -1;
  for (let k = 0; k < 16; k++) if (randInt(rng, 0, 999) < failPermille) return k;
  return -1;
}

interface Planned {
  readonly slot: number;
  readonly sg: SgEntry[];
  readonly failAt: number;
  readonly aligned: boolean;
}

class MapsgProgram implements VcpuProgram {
  private last = '';
  private seq = 0;
  /** Bytes mapped in each window (vCPU-local mirror of mapsg.live; 0 = free). */
  private readonly bytes: number[];
  private readonly tags: number[];

  constructor(
    private readonly cpu: Cpu,
    private readonly rng: RandomGenerator,
    private readonly m: Parts,
    private readonly p: Readonly<Record<string, number>>,
  ) {
    this.bytes = Array<number>(m.g.slots).fill(0);
    this.tags = Array<number>(m.g.slots).fill(0);
  }

  next(): Op<unknown> {
    const slot = randInt(this.rng, 0, this.m.g.slots - 1);
    if (this.bytes[slot]! > 0) {
      this.last = `iommu_unmap window ${slot}`;
      return this.unmap(slot);
    }
    const plan = this.plan(slot);
    this.last = `map_sg window ${slot}`;
    return this.mapSg(plan);
  }

  describe(): string {
    return this.last;
  }

  private plan(slot: number): Planned {
    const { p, m } = this;
    const failAt = drawFailAt(this.rng, p.failPermille!);
    let phys = windowPhys(m.g, this.cpu.id, slot);
    const sg: SgEntry[] = [];
    if (randInt(this.rng, 0, 999) < p.hugePermille!) {
      // A 2 MiB block plus one page: iommu_pgsize gives 2M x 1, then 4K x 1.
      sg.push({ phys, length: SZ_2M }, { phys: phys + SZ_2M, length: SZ_4K });
      return { slot, sg, failAt, aligned: true };
    }
    const n = randInt(this.rng, 1, p.segs!);
    const bad = randInt(this.rng, 0, 999) < p.badAlignPermille! ? randInt(this.rng, 0, n - 1) : -1;
    for (let j = 0; j < n; j++) {
      const len = randInt(this.rng, 1, p.segPages!) * SZ_4K - (j === bad ? SZ_4K / 2 : 0);
      // Contiguous with the previous segment (the run grows) or one page further on (a new run);
      // the segment after a misaligned one never continues it.
      if (j > 0 && (j - 1 === bad || randInt(this.rng, 0, 99) >= p.contigPercent!)) phys += SZ_4K;
      sg.push({ phys, length: len });
      phys += len;
    }
    return { slot, sg, failAt, aligned: bad < 0 };
  }

  private *mapSg(plan: Planned): Op {
    const { cpu, m } = this;
    const ctx = m.hyp.ctx[cpu.id]!;
    const tag = ((cpu.id + 1) << 20) | (++this.seq & 0xfffff);
    ctx.begin(tag, plan.failAt);
    const iova = windowIova(m.g, cpu.id, plan.slot);
    // Checker state, not a scheduling point: this window's map call is in progress (hyp.ts tags its commits).
    const call = m.callBase + cpu.id * m.g.slots + plan.slot;
    Atomics.store(cpu.i32, call, tag);
    const ret = yield* m.core.iommuMapSg(cpu, iova, plan.sg);
    Atomics.store(cpu.i32, call, 0);
    yield 'map_sg returned: check';
    const i32 = cpu.i32;
    const held = m.cookies.heldBy(i32, cpu.id);
    if (held.length > 0) {
      cpu.fail(
        'MAPSG-COOKIE',
        `${cpu.name}'s map_sg (call #${tag & 0xfffff}) returned ${ret} without releasing its cookie ${held[0]}`,
      );
      return;
    }
    if (ret >= 0) {
      if (ctx.syncMaps !== 1)
        cpu.fail('MAPSG-SYNC', `${cpu.name}'s map_sg succeeded after ${ctx.syncMaps} iotlb_sync_map calls`);
      const total = plan.sg.reduce((a, s) => a + s.length, 0);
      if (ret !== total)
        cpu.fail('MAPSG-ONCE', `${cpu.name}'s map_sg of ${total} bytes returned ${ret}: a run was never mapped`);
      let off = 0;
      for (const s of plan.sg) {
        for (let b = 0; b < s.length; b += SZ_4K, off += SZ_4K) {
          const phys = m.pt.walk(i32, iova + off);
          const t = Atomics.load(i32, m.tagBase + (iova + off - IOVA_BASE) / SZ_4K);
          if (phys !== s.phys + b || t !== tag) {
            cpu.fail(
              'MAPSG-ONCE',
              `${cpu.name}'s map_sg (call #${tag & 0xfffff}) succeeded, but iova 0x${(iova + off).toString(16)} ${phys < 0 ? 'is not mapped: its run was lost' : `maps 0x${phys.toString(16)} for call #${t & 0xfffff}`}`,
            );
            return;
          }
        }
      }
      yield 'publish live mapping';
      Atomics.store(i32, atCpu(m.live, cpu.id, 2 * plan.slot), tag);
      Atomics.store(i32, atCpu(m.live, cpu.id, 2 * plan.slot + 1), ret);
      this.bytes[plan.slot] = ret;
      this.tags[plan.slot] = tag;
      return;
    }
    cpu.fail(plan.aligned ? 'MAPSG-EFAIL' : 'MAPSG-EINVAL', '');
    for (let off = 0; off < m.g.window; off += SZ_4K) {
      const t = Atomics.load(i32, m.tagBase + (iova + off - IOVA_BASE) / SZ_4K);
      if (t === tag || m.pt.walk(i32, iova + off) >= 0) {
        cpu.fail(
          'MAPSG-ERROR',
          `${cpu.name}'s map_sg (call #${tag & 0xfffff}) failed with ${ret} but left iova 0x${(iova + off).toString(16)} mapped`,
        );
        return;
      }
    }
  }

  private *unmap(slot: number): Op {
    const { cpu, m } = this;
    const bytes = this.bytes[slot]!;
    m.hyp.ctx[cpu.id]!.begin(this.tags[slot]!, -1);
    const iova = windowIova(m.g, cpu.id, slot);
    const n = yield* m.core.iommuUnmap(cpu, iova, bytes);
    if (n !== bytes)
      cpu.fail(
        'MAPSG-ONCE',
        `${cpu.name}: iommu_unmap of its ${bytes}-byte mapping in window ${slot} unmapped ${n}: part of it was never committed`,
      );
    yield 'publish unmapped';
    Atomics.store(cpu.i32, atCpu(m.live, cpu.id, 2 * slot), 0);
    Atomics.store(cpu.i32, atCpu(m.live, cpu.id, 2 * slot + 1), 0);
    this.bytes[slot] = 0;
    this.tags[slot] = 0;
  }
}

/** The benchmark loop: map_sg of `segs` separate pages (one run each), then unmap; latencies recorded. */
class BenchProgram implements VcpuProgram {
  private readonly sg: SgEntry[];
  private seq = 0;

  constructor(
    private readonly cpu: Cpu,
    private readonly m: Parts,
    p: Readonly<Record<string, number>>,
  ) {
    const phys = windowPhys(m.g, cpu.id, 0);
    this.sg = Array.from({ length: p.segs! }, (_, j) => ({ phys: phys + 2 * j * SZ_4K, length: SZ_4K }));
  }

  next(): Op<unknown> {
    return this.loop();
  }
  describe(): string {
    return 'map_sg, unmap';
  }

  private *loop(): Op {
    const { cpu, m } = this;
    const ctx = m.hyp.ctx[cpu.id]!;
    const iova = windowIova(m.g, cpu.id, 0);
    ctx.begin(((cpu.id + 1) << 20) | (++this.seq & 0xfffff), -1);
    const t0 = cpu.clock.now();
    const ret = yield* m.core.iommuMapSg(cpu, iova, this.sg);
    const t1 = cpu.clock.now();
    if (ret < 0) throw new Error(`mapsg bench: map_sg failed with ${ret}`);
    const n = yield* m.core.iommuUnmap(cpu, iova, ret);
    const t2 = cpu.clock.now();
    if (n !== ret) throw new Error(`mapsg bench: unmap cleared ${n} of ${ret} bytes`);
    m.latency.record(cpu.mem.f64, cpu.i32, cpu.id, t1 - t0, t2 - t1);
  }
}

export const mapsgScenario: ScenarioDef<MapsgPatch> = {
  name: 'mapsg',
  summary:
    'map_sg into one domain with a hypercall per map: per-call vs deferred cookie vs per-domain deferred list; unwinds on injected failures',
  follows: 'kernel-model.md §5.1-§5.4 (IOMMU-C, NOSYNC, MAPSG-RFC); §9 #12 #13 #18; §10 "Core map"',
  params: {
    segs: {
      default: 8,
      min: 1,
      max: 64,
      help: 'scatterlist elements per map_sg at most (bench: exactly, one page each)',
    },
    segPages: { default: 4, min: 1, max: 64, help: 'pages per element at most' },
    slots: { default: 2, min: 1, max: 16, help: 'IOVA windows per vCPU' },
    contigPercent: {
      default: 50,
      min: 0,
      max: 100,
      help: 'percent of elements physically contiguous with the previous one (coalesced into its run)',
    },
    hypercallNs: {
      default: 1_000,
      min: 0,
      max: 10_000_000,
      help: 'cost of one driver map/unmap call (busy ns in stress, virtual ns in explore)',
    },
    failPermille: {
      default: 20,
      min: 0,
      max: 1000,
      help: 'per-mille of map hypercalls that fail (-ENOMEM after committing half their leaves)',
    },
    badAlignPermille: {
      default: 20,
      min: 0,
      max: 1000,
      help: 'per-mille of map_sg calls with one misaligned element (-EINVAL)',
    },
    hugePermille: {
      default: 50,
      min: 0,
      max: 1000,
      help: 'per-mille of map_sg calls that map a 2 MiB block plus a page',
    },
    cookieEntries: {
      default: 4,
      min: 1,
      max: 1024,
      help: 'cookie: runs its buffer holds before an early flush to the hypervisor',
    },
    bench: {
      default: 0,
      min: 0,
      max: 1,
      help: '1: benchmark loop (map_sg of segs separate pages, unmap) with latencies',
    },
    checks: { default: 1, min: 0, max: 1, help: '0: no per-page checker tags (benchmarks)' },
  },
  exploreCpus: 2,
  exploreOps: 4,
  exploreParams: {
    segs: 3,
    segPages: 2,
    slots: 1,
    failPermille: 150,
    badAlignPermille: 100,
    hugePermille: 0,
    cookieEntries: 2,
  },
  invariants,
  regimes: [
    {
      name: 'huge',
      summary: 'a quarter of the map_sg calls map a 2 MiB block (the block path in explore too)',
      params: { hugePermille: 250 },
    },
  ],
  // The drivers add their own: the cookie pool, the per-domain deferred list.
  sites: [...PGTABLE_SITES, ...HYP_SITES, 'map_sg returned: check', 'publish live mapping', 'publish unmapped'],
  unreached: [NO_1G_BLOCKS],
  variants: [
    {
      name: 'per-call',
      summary: 'iommu_map_nosync per coalesced run: one hypercall per map_pages, as today',
      expect: 'clean',
      patch: { driver: PerCallDriver },
    },
    {
      name: 'cookie',
      summary: 'alloc_cookie_sg / add_deferred_map_sg / consume_deferred_map_sg, with a correct error path',
      expect: 'clean',
      patch: { driver: CookieDriver },
      sites: COOKIE_SITES,
    },
    {
      name: 'domain-list-locked',
      summary: 'map_pages parks runs on a per-domain list under a domain lock held map -> sync; iotlb_sync_map commits',
      expect: 'clean',
      patch: { driver: DeferredListDriver },
      sites: [...DEFERRED_LIST_SITES, ...DEFERRED_LIST_LOCK],
    },
    {
      name: 'domain-list-unlocked',
      summary: 'the per-domain deferred list without the lock: lost appends, foreign commits, commit during cancel',
      expect: ['MAPSG-ONCE', 'MAPSG-ERROR'],
      source: 'kernel-model.md §9 #13, §5.4',
      patch: { driver: DomainListUnlockedDriver },
      sites: [...DEFERRED_LIST_SITES, ...DEFERRED_LIST_UNLOCKED_SITES],
    },
    {
      name: 'cookie-error-leak',
      summary: 'RFC v2: the error path never consumes or frees the cookie',
      expect: ['MAPSG-COOKIE'],
      source: 'kernel-model.md §9 #12, §5.4',
      patch: { driver: CookieDriver, core: CookieErrorLeakCore },
      sites: COOKIE_SITES,
    },
    {
      name: 'unwind-unmapped',
      summary: 'RFC v2: the error path unmaps `mapped`, which counts runs only added to the cookie',
      expect: ['MAPSG-ERROR'],
      source: 'kernel-model.md §9 #12, §5.4',
      patch: { driver: CookieDriver, core: UnwindUnmappedCore },
      sites: COOKIE_SITES,
    },
  ],
  build: buildMapsg,
};
