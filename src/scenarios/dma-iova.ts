/**
 * Scenario `dma-iova`: drivers using the two-step IOVA DMA API — kernel-model.md §7 — on a domain whose
 * driver needs the sync (map_pages only queues the MAP; iotlb_sync_map sends it, as virtio-iommu's
 * unkicked requests or s390's shadow tables), with the IOVA range cache of §2.3 underneath and an
 * IOTLB the device fills; §9 #16 (free while linked) and #17 (device use without sync) as variants.
 *
 * Each vCPU walks one dma_iova_state through its lifecycle, one API call per op: try_alloc, link the
 * range in pieces, sync, start the device on it (the device's DMA goes through the IOTLB and must land
 * on the linked pages), then either destroy, or unlink every piece and free.
 *
 * The model is built by `buildDmaIova(config)` from `config.variant.patch` (DmaIovaPatch: the class
 * implementing dma_iova_*; the known bugs are subclasses in model/dma/iova-api-variants.ts). The
 * lifecycle checks are the harness's, apart from the API code: the domain ops dispatch records which
 * IOVA pages are handed to map_pages (linked) and which vCPU has linked pages not yet covered by an
 * iotlb_sync_map; the IOVA allocator's hand-in (the free) must find none of its pages linked
 * (IOVA-FREE-LINKED), and the device must find no unsynced link when it starts (IOVA-USE-UNSYNCED).
 *
 * Simplifications: each CPU's queued MAPs sit on its own list and its sync sends only those (a per-CPU
 * deferred list, deferred.ts); the device's DMA runs on the vCPU that owns the state.
 *
 * With `bench=1` the program is the two-step API over `pages` separate pages (try_alloc, a link per
 * page, one sync, destroy); with `bench=2` a dma map per page (alloc + iommu_map, then unmap + free
 * each) — the comparison of §8's IOVA-API proposal.
 */
import type { InvariantDef } from '../check/invariant.js';
import type { Cpu, Op } from '../engine/cpu.js';
import { at, atCpu, defineLayout, region, type Memory, type Region } from '../engine/layout.js';
import { randInt, type RandomGenerator } from '../engine/rng.js';
import type { ModelConfig, ScenarioDef, ScenarioModel, VcpuProgram } from '../engine/scenario.js';
import { deferredListRegions, PerCpuDeferredListDriver } from '../model/core/deferred.js';
import type { DomainOps, DriverClass } from '../model/core/driver.js';
import { Hyp, hypRegions, NO_HOOKS } from '../model/core/hyp.js';
import { IommuCore } from '../model/core/iommu-map.js';
import { IOTLB_FLUSH_LOCK } from '../model/core/locks.js';
import type { IovaAllocator } from '../model/dma/dma-iommu.js';
import { DmaIovaApi, type DmaIovaApiClass, newIovaState, type DmaIovaState } from '../model/dma/iova-api.js';
import { FreeWhileLinkedApi, NoSyncApi } from '../model/dma/iova-api-variants.js';
import { Latency, latencyRegions, latencyStats } from '../model/dma/latency.js';
import { Iotlb, iotlbRegions } from '../model/iotlb.js';
import { newIovaDomain } from '../model/iova/checked-domain.js';
import { iovaDomainRegions, type IovaDomainOptions } from '../model/iova/iova-domain.js';
import { IOVA_INVARIANTS } from '../model/iova/invariants.js';
import { checkIovaDomain } from '../model/iova/quiescent.js';
import { PagePool, pagePoolRegions, PTES_PER_TABLE } from '../model/page-pool.js';
import { checkTablePages } from '../model/pt-accounting.js';
import { IoPgtable, SZ_4K } from '../model/pgtable.js';
import {
  ALL_CACHEABLE,
  DEFERRED_LIST_SITES,
  HYP_SITES,
  IOVA_DOMAIN_SITES,
  NO_1G_BLOCKS,
  NO_2M_BLOCKS,
  NO_MAGAZINE_FILL,
  PGTABLE_SITES,
  TABLE_INSTALL_RACE,
} from './sites.js';

const invariants: readonly InvariantDef[] = [
  {
    id: 'IOVA-FREE-LINKED',
    meaning: 'dma_iova_free only after every linked range was unlinked ("all regions must have been unmapped")',
    grade: 'FORBIDDEN',
  },
  {
    id: 'IOVA-USE-UNSYNCED',
    meaning: 'the device uses a state only after dma_iova_sync covered everything linked',
    grade: 'FORBIDDEN',
  },
  {
    id: 'DMA-FAULT',
    meaning: 'a device DMA to a linked and synced range translates (no IOMMU fault)',
    grade: 'FORBIDDEN',
  },
  { id: 'DMA-CORRUPT', meaning: 'a device DMA to a linked range lands on the page linked there', grade: 'FORBIDDEN' },
  {
    id: 'DMA-MAP',
    meaning:
      "linking and syncing a freshly allocated IOVA succeeds (-EEXIST: someone's PTEs are still there); unlink clears all it linked",
    grade: 'FORBIDDEN',
  },
  { id: 'PT-OVERWRITE', meaning: 'no leaf is overwritten without an unmap', grade: 'FORBIDDEN' },
  { id: 'PT-LEAK', meaning: 'no table page is freed twice', grade: 'FORBIDDEN' },
  { id: 'DMA-ENOMEM', meaning: 'dma_iova_try_alloc found no IOVA space', grade: 'ACCEPTABLE' },
  ...IOVA_INVARIANTS,
];

/** What a dma-iova variant may change. */
export interface DmaIovaPatch {
  /** The two-step API (dma_iova_try_alloc/link/sync/unlink/destroy/free): DmaIovaApi or a subclass. */
  readonly api?: DmaIovaApiClass;
  /** The IOMMU driver below it (default PerCpuDeferredListDriver: map_pages queues, iotlb_sync_map sends). */
  readonly driver?: DriverClass;
}

/** Each vCPU's buffer: physical pages from 1 GiB + cpu x 1 MiB (the benchmark links every other page). */
const PHYS_BASE = 0x40000000;
const PHYS_STRIDE = 0x100000;

export function dmaIovaParts(config: ModelConfig<DmaIovaPatch>) {
  const { cpus, params: p } = config;
  const Api = config.variant.patch?.api ?? DmaIovaApi;
  const spacePfns = p.spacePfns!;
  const iovaOpts: IovaDomainOptions = {
    cpus,
    startPfn: 1,
    dma32Pfn: spacePfns >> 1,
    spacePfns,
    depotDelayNs: 100e6,
    checks: p.checks === 1,
    resvPfns: 0,
    warm: false,
    warmDepot: 0,
  };
  const tablePages = 3 + Math.ceil(spacePfns / PTES_PER_TABLE) + 4;
  const listCapacity = Math.max(8, p.maxPages!);
  const layout = defineLayout(cpus, {
    ...iovaDomainRegions(iovaOpts),
    ...pagePoolRegions(tablePages),
    ...iotlbRegions(spacePfns),
    ...hypRegions(),
    ...deferredListRegions(listCapacity, listCapacity),
    ...latencyRegions(),
    // Checker state: per IOVA page, 1 while it is handed to the driver (linked) and not yet unmapped.
    'dma.linked': { kind: 'i32', count: spacePfns },
    // Checker state: per vCPU, pages it handed to map_pages since its last successful iotlb_sync_map.
    'dma.unsynced': { kind: 'i32', count: 1, perCpu: true },
  });
  const domain = newIovaDomain(layout, iovaOpts);
  const pool = new PagePool(layout, tablePages);
  const pt = new IoPgtable(pool);
  const iotlb = new Iotlb(layout, spacePfns, pt, {
    flushCostNs: p.flushCostNs!,
    serialFlush: false,
    flushLockRank: IOTLB_FLUSH_LOCK.rank,
  });
  const hyp = new Hyp(pt, region(layout, 'hyp.stats'), cpus, p.hypercallNs!, NO_HOOKS);
  const Driver = config.variant.patch?.driver ?? PerCpuDeferredListDriver;
  const list = new Driver({ layout, hyp, cpus, cookieEntries: 0, listCapacity });
  const lifecycle = new LifecycleShadow(
    at(region(layout, 'dma.linked')),
    region(layout, 'dma.unsynced'),
    p.lifecycleChecks === 1,
  );
  // The harness's ops dispatch: the driver's ops, the IOTLB invalidation a strict unmap's iotlb_sync
  // does, and the lifecycle shadow kept from what the core hands the driver.
  const ops: DomainOps = {
    *mapPages(cpu, iova, paddr, pg, n) {
      const r = yield* list.mapPages(cpu, iova, paddr, pg, n);
      lifecycle.linked(cpu, iova, r.mapped);
      return r;
    },
    *unmapPages(cpu, iova, pg, n) {
      const done = yield* list.unmapPages(cpu, iova, pg, n);
      lifecycle.unlinked(cpu, iova, done);
      return done;
    },
    *iotlbSyncMap(cpu, iova, size) {
      const ret = yield* list.iotlbSyncMap(cpu, iova, size);
      if (ret === 0) lifecycle.synced(cpu);
      return ret;
    },
    *iotlbSync(cpu, iova, size) {
      yield* list.iotlbSync(cpu, iova, size);
      if (size > 0) yield* iotlb.syncRange(cpu, iova / SZ_4K, size / SZ_4K);
    },
  };
  const core = new IommuCore(ops);
  // The allocator as the API sees it: the hand-in first checks that none of the pages is still linked.
  const iovad: IovaAllocator = {
    allocIovaFast: (cpu, pages, limit, flush) => domain.allocIovaFast(cpu, pages, limit, flush),
    *freeIovaFast(cpu, pfn, pages) {
      lifecycle.freeing(cpu, pfn, pages);
      yield* domain.freeIovaFast(cpu, pfn, pages);
    },
  };
  const api = new Api(core, iovad, iovaOpts.dma32Pfn - 1);
  const latency = new Latency(region(layout, 'lat.sum'), region(layout, 'lat.hist'), cpus);
  return { layout, domain, pool, pt, iotlb, hyp, list, core, api, lifecycle, latency };
}

/**
 * The lifecycle rules of the two-step API (§7, §10 "Two-step API"), kept from harness hooks: what the
 * core hands the driver and what the allocator takes back. Not a scheduling point anywhere: checker
 * state in shared memory, updated in the same step as the access it shadows.
 */
class LifecycleShadow {
  constructor(
    private readonly linkedBase: number,
    private readonly unsynced: Region,
    private readonly report: boolean,
  ) {}

  linked(cpu: Cpu, iova: number, bytes: number): void {
    for (let k = 0; k < bytes / SZ_4K; k++) Atomics.store(cpu.i32, this.linkedBase + iova / SZ_4K + k, 1);
    Atomics.add(cpu.i32, atCpu(this.unsynced, cpu.id), bytes / SZ_4K);
  }

  unlinked(cpu: Cpu, iova: number, bytes: number): void {
    for (let k = 0; k < bytes / SZ_4K; k++) Atomics.store(cpu.i32, this.linkedBase + iova / SZ_4K + k, 0);
  }

  synced(cpu: Cpu): void {
    Atomics.store(cpu.i32, atCpu(this.unsynced, cpu.id), 0);
  }

  /** The allocator is about to take [pfn, pfn+pages) back: "all regions must have been unmapped". */
  freeing(cpu: Cpu, pfn: number, pages: number): void {
    let live = 0;
    for (let k = 0; k < pages; k++) live += Atomics.load(cpu.i32, this.linkedBase + pfn + k);
    if (live > 0 && this.report) {
      cpu.fail(
        'IOVA-FREE-LINKED',
        `${cpu.name} frees iova 0x${(pfn * SZ_4K).toString(16)} (${pages} pages) with ${live} pages still linked`,
      );
    }
  }

  /** The device is about to use `cpu`'s state: the doc's "sync before the device uses it". */
  deviceUse(cpu: Cpu, iova: number): void {
    const n = Atomics.load(cpu.i32, atCpu(this.unsynced, cpu.id));
    if (n > 0 && this.report) {
      cpu.fail(
        'IOVA-USE-UNSYNCED',
        `${cpu.name} starts the device on iova 0x${iova.toString(16)} with ${n * SZ_4K} linked bytes never synced (dma_iova_sync missing)`,
      );
    }
  }
}

type Parts = ReturnType<typeof dmaIovaParts>;

/** Scenario dma-iova's factory: the model with the API class of `config.variant.patch`. */
export function buildDmaIova(config: ModelConfig<DmaIovaPatch>): ScenarioModel {
  const { cpus, params: p } = config;
  const parts = dmaIovaParts(config);
  const { layout, domain, pool, pt, hyp, latency } = parts;
  return {
    layout,
    // The lifecycle programs' rare paths are start-of-life: the first table installs, and, in a small
    // space, the allocator filling up. A vCPU holds one state at a time and frees on the CPU that
    // allocated, so after its first few allocations of each size class (1, 2, 4, 8 pages) its rcache
    // holds one range per class and alloc_iova_fast never reaches the rbtree again: a 32-page space
    // either runs out (the one-shot flush_rcache retry) within a run's first dozen allocations or never.
    // So every slice starts anew (as jcstress rounds do) and that fill-up recurs ~100 times a second.
    // Not the benchmark's loops: their latency and hypercall counts add up over the whole run.
    freshEachSlice: p.bench === 0,
    init(mem: Memory) {
      domain.init(mem.i32);
      pool.init(mem, [IoPgtable.ROOT_PAGE]);
    },
    program: (cpu, rng) => (p.bench! > 0 ? new BenchProgram(cpu, parts, p) : new LifecycleProgram(cpu, rng, parts, p)),
    quiescent(mem, report) {
      checkIovaDomain(domain, mem.i32, report);
      checkTablePages(pt, pool, mem.i32, report);
    },
    timers: [...domain.rcache.timerSpecs()],
    stats(mem) {
      const lat = latency.total(mem.f64, mem.i32);
      const [maps, unmaps] = hyp.counts(mem.i32, cpus);
      return {
        ...latencyStats(lat),
        mapHypercalls: maps,
        unmapHypercalls: unmaps,
      };
    },
  };
}

const enum Phase {
  Idle,
  Linking,
  Linked,
  Synced,
  Unlinking,
}
const enum Kind {
  Alloc,
  Link,
  Sync,
  Use,
  Destroy,
  Unlink,
  Free,
}
const KIND_NAME = [
  'dma_iova_try_alloc',
  'dma_iova_link',
  'dma_iova_sync',
  'device DMA',
  'dma_iova_destroy',
  'dma_iova_unlink',
  'dma_iova_free',
];

class LifecycleProgram implements VcpuProgram {
  private last = Kind.Alloc;
  private phase = Phase.Idle;
  private readonly st: DmaIovaState = newIovaState();
  /** Linked pieces [offset, bytes], in order. */
  private readonly links: [number, number][] = [];
  private pages = 0;
  private linkedBytes = 0;
  private uses = 0;
  private readonly phys: number;

  constructor(
    private readonly cpu: Cpu,
    private readonly rng: RandomGenerator,
    private readonly m: Parts,
    private readonly p: Readonly<Record<string, number>>,
  ) {
    this.phys = PHYS_BASE + cpu.id * PHYS_STRIDE;
  }

  next(): Op<unknown> {
    const rng = this.rng;
    switch (this.phase) {
      case Phase.Idle:
        return this.op(Kind.Alloc, this.alloc(randInt(rng, 1, this.p.maxPages!)));
      case Phase.Linking:
        return this.op(Kind.Link, this.link(randInt(rng, 1, this.pages - this.linkedBytes / SZ_4K)));
      case Phase.Linked:
        return this.op(Kind.Sync, this.sync());
      case Phase.Synced: {
        const r = randInt(rng, 0, 2);
        if (r === 0 && this.uses < 2) return this.op(Kind.Use, this.use());
        return r === 1 ? this.op(Kind.Destroy, this.destroy()) : this.op(Kind.Unlink, this.unlink());
      }
      default:
        return this.links.length > 0 ? this.op(Kind.Unlink, this.unlink()) : this.op(Kind.Free, this.free());
    }
  }

  describe(): string {
    return KIND_NAME[this.last]!;
  }

  private op(k: Kind, body: Op): Op {
    this.last = k;
    return body;
  }

  private *alloc(pages: number): Op {
    const ok = yield* this.m.api.dmaIovaTryAlloc(this.cpu, this.st, this.phys, pages * SZ_4K);
    if (!ok) {
      this.cpu.fail('DMA-ENOMEM', '');
      return;
    }
    this.pages = pages;
    this.linkedBytes = 0;
    this.links.length = 0;
    this.uses = 0;
    this.phase = Phase.Linking;
  }

  /** Every link after the first starts on the granule and all but the last have a granule-sized length. */
  private *link(pages: number): Op {
    const off = this.linkedBytes;
    const ret = yield* this.m.api.dmaIovaLink(this.cpu, this.st, this.phys + off, off, pages * SZ_4K);
    if (ret !== 0) {
      this.cpu.fail('DMA-MAP', `${this.cpu.name}: dma_iova_link at +0x${off.toString(16)} returns ${ret}`);
      return;
    }
    this.links.push([off, pages * SZ_4K]);
    this.linkedBytes += pages * SZ_4K;
    if (this.linkedBytes === this.pages * SZ_4K) this.phase = Phase.Linked;
  }

  private *sync(): Op {
    const ret = yield* this.m.api.dmaIovaSync(this.cpu, this.st, 0, this.linkedBytes);
    if (ret !== 0) {
      this.cpu.fail(
        'DMA-MAP',
        `${this.cpu.name}: dma_iova_sync of freshly allocated iova 0x${this.st.addr.toString(16)} returns ${ret}${ret === -17 ? " (-EEXIST: someone's PTEs are still there)" : ''}`,
      );
      return;
    }
    this.phase = Phase.Synced;
  }

  /** The device DMAs to every linked page through the IOTLB. */
  private *use(): Op {
    const { lifecycle, iotlb } = this.m;
    lifecycle.deviceUse(this.cpu, this.st.addr);
    const pfn = this.st.addr / SZ_4K;
    for (let k = 0; k < this.linkedBytes / SZ_4K; k++) {
      const phys = yield* iotlb.translate(this.cpu, pfn + k);
      if (phys < 0) {
        this.cpu.fail(
          'DMA-FAULT',
          `device DMA to ${this.cpu.name}'s linked iova 0x${((pfn + k) * SZ_4K).toString(16)} faults: no translation`,
        );
        return;
      }
      if (phys !== this.phys + k * SZ_4K) {
        this.cpu.fail(
          'DMA-CORRUPT',
          `device DMA to ${this.cpu.name}'s iova 0x${((pfn + k) * SZ_4K).toString(16)} lands on 0x${phys.toString(16)}, not its page`,
        );
        return;
      }
    }
    this.uses++;
    this.phase = Phase.Synced;
  }

  private *destroy(): Op {
    const n = yield* this.m.api.dmaIovaDestroy(this.cpu, this.st, this.linkedBytes);
    if (n !== this.linkedBytes)
      this.cpu.fail('DMA-MAP', `${this.cpu.name}: dma_iova_destroy unmapped ${n} of ${this.linkedBytes} bytes`);
    this.phase = Phase.Idle;
  }

  private *unlink(): Op {
    const [off, bytes] = this.links[0]!;
    const n = yield* this.m.api.dmaIovaUnlink(this.cpu, this.st, off, bytes);
    if (n !== bytes)
      this.cpu.fail(
        'DMA-MAP',
        `${this.cpu.name}: dma_iova_unlink of +0x${off.toString(16)} unmapped ${n} of ${bytes} bytes`,
      );
    this.links.shift();
    this.phase = Phase.Unlinking;
  }

  private *free(): Op {
    yield* this.m.api.dmaIovaFree(this.cpu, this.st);
    this.phase = Phase.Idle;
  }
}

/** bench=1: the two-step API over `pages` separate pages; bench=2: a dma map (alloc + iommu_map) per page. */
class BenchProgram implements VcpuProgram {
  private readonly st: DmaIovaState = newIovaState();
  private readonly phys: number;
  private readonly pfns: number[] = [];

  constructor(
    private readonly cpu: Cpu,
    private readonly m: Parts,
    private readonly p: Readonly<Record<string, number>>,
  ) {
    this.phys = PHYS_BASE + cpu.id * PHYS_STRIDE;
  }

  next(): Op<unknown> {
    return this.p.bench === 1 ? this.twoStep() : this.perPage();
  }
  describe(): string {
    return this.p.bench === 1 ? 'try_alloc, link per page, sync, destroy' : 'dma map per page, dma unmap per page';
  }

  private *twoStep(): Op {
    const { cpu, m } = this;
    const n = this.p.maxPages!;
    const t0 = cpu.clock.now();
    if (!(yield* m.api.dmaIovaTryAlloc(cpu, this.st, this.phys, n * SZ_4K)))
      throw new Error('dma-iova bench: no IOVA space');
    // A driver linking n discontiguous pages (every other page of its buffer).
    for (let k = 0; k < n; k++) yield* m.api.dmaIovaLink(cpu, this.st, this.phys + 2 * k * SZ_4K, k * SZ_4K, SZ_4K);
    if ((yield* m.api.dmaIovaSync(cpu, this.st, 0, n * SZ_4K)) !== 0) throw new Error('dma-iova bench: sync failed');
    const t1 = cpu.clock.now();
    yield* m.api.dmaIovaDestroy(cpu, this.st, n * SZ_4K);
    m.latency.record(cpu.mem.f64, cpu.i32, cpu.id, t1 - t0, cpu.clock.now() - t1);
  }

  private *perPage(): Op {
    const { cpu, m } = this;
    const n = this.p.maxPages!;
    const limit = (this.p.spacePfns! >> 1) - 1;
    const t0 = cpu.clock.now();
    for (let k = 0; k < n; k++) {
      const pfn = yield* m.domain.allocIovaFast(cpu, 1, limit, true);
      if (pfn === 0) throw new Error('dma-iova bench: no IOVA space');
      if ((yield* m.core.iommuMap(cpu, pfn * SZ_4K, this.phys + 2 * k * SZ_4K, SZ_4K)) !== 0)
        throw new Error('dma-iova bench: iommu_map failed');
      this.pfns[k] = pfn;
    }
    const t1 = cpu.clock.now();
    for (let k = 0; k < n; k++) {
      yield* m.core.iommuUnmap(cpu, this.pfns[k]! * SZ_4K, SZ_4K);
      yield* m.domain.freeIovaFast(cpu, this.pfns[k]!, 1);
    }
    m.latency.record(cpu.mem.f64, cpu.i32, cpu.id, t1 - t0, cpu.clock.now() - t1);
  }
}

export const dmaIovaScenario: ScenarioDef<DmaIovaPatch> = {
  name: 'dma-iova',
  summary:
    'the two-step DMA API (dma_iova_try_alloc/link/sync/unlink/destroy/free) on a driver that needs the sync, per-state lifecycle checks',
  follows:
    'kernel-model.md §7 (DMA-IOMMU-25, IOVA-API-DOC, NOSYNC); §2.3 (the range cache); §9 #16 #17; §10 "Two-step API"',
  params: {
    spacePfns: { default: 4096, min: 64, max: 1 << 20, help: 'IOVA space in 4 KiB pages (limit = spacePfns / 2)' },
    maxPages: { default: 8, min: 1, max: 64, help: 'pages per dma_iova_state at most (bench: exactly)' },
    hypercallNs: {
      default: 1_000,
      min: 0,
      max: 10_000_000,
      help: 'cost of one driver call into the host (busy ns in stress, virtual ns in explore)',
    },
    flushCostNs: { default: 0, min: 0, max: 10_000_000, help: 'cost of one IOTLB range sync' },
    lifecycleChecks: {
      default: 1,
      min: 0,
      max: 1,
      help: '0: no lifecycle oracle: a misuse shows only through what it breaks (-EEXIST, DMA faults)',
    },
    bench: {
      default: 0,
      min: 0,
      max: 2,
      help: '1: two-step API loop over maxPages separate pages; 2: dma map per page',
    },
    checks: { default: 1, min: 0, max: 1, help: '0: no online IOVA shadow checks (benchmarks)' },
  },
  exploreCpus: 2,
  exploreOps: 10,
  exploreParams: { spacePfns: 512, maxPages: 3 },
  invariants,
  regimes: [
    {
      name: 'small-space',
      summary: 'a 32-page IOVA space and states of up to 8 pages: allocations fail, flush every CPU cache (one-shot)',
      params: { spacePfns: 64 },
      exploreParams: { spacePfns: 64, maxPages: 8 },
    },
  ],
  // No flush queue here, so no flush_iotlb_all: unlink syncs its range.
  sites: [
    ...PGTABLE_SITES,
    ...IOVA_DOMAIN_SITES,
    'iotlb lookup',
    'iotlb_sync range',
    ...HYP_SITES,
    ...DEFERRED_LIST_SITES,
  ],
  unreached: [NO_1G_BLOCKS, NO_2M_BLOCKS, NO_MAGAZINE_FILL, ALL_CACHEABLE, TABLE_INSTALL_RACE],
  variants: [
    { name: 'correct', summary: 'link* -> sync -> device use -> (unlink* -> free | destroy)', expect: 'clean' },
    {
      name: 'free-while-linked',
      summary: 'dma_iova_destroy frees with ranges still linked: the IOVA returns to the range cache with live PTEs',
      expect: ['IOVA-FREE-LINKED', 'DMA-MAP'],
      source: 'kernel-model.md §9 #16 (IOVA-API-DOC rule)',
      patch: { api: FreeWhileLinkedApi },
    },
    {
      name: 'no-sync',
      summary: 'dma_iova_sync does nothing: the device uses linked ranges whose MAP was never sent',
      expect: ['IOVA-USE-UNSYNCED', 'DMA-FAULT'],
      source: 'kernel-model.md §9 #17',
      patch: { api: NoSyncApi },
    },
  ],
  build: buildDmaIova,
};
