/**
 * Scenario `flushq`: lazy DMA unmapping end to end — dma map / unmap (kernel-model.md §3.3) through the
 * IOVA range cache (§2.3) and the I/O page table (§6), the flush queue (§3.4) in per-CPU or single
 * mode, an IOTLB that devices fill by doing DMA, and the FQ timer — with the flush-queue bugs of §9 #6
 * and #8 as variants.
 *
 * Each vCPU maps its own buffers, unmaps them, and plays a device doing DMA to any vCPU's buffers;
 * vCPU 0 now and then tears the flush queue down and starts it again (device hot-unplug, §9 #6), having
 * first stopped new DMA API calls and waited for those in flight.
 *
 * With `bench=1` the op program is dma_map_benchmark's loop instead (§8): map, optional transfer, unmap,
 * with the latencies recorded; `iommu-stress bench --fq …` drives it.
 */
import type { InvariantDef } from '../check/invariant.js';
import { judgedFor, judgedInvariants, type JudgedCount } from '../check/judged.js';
import type { Cpu, Op } from '../engine/cpu.js';
import { at, defineLayout, region, type Memory } from '../engine/layout.js';
import { pickWeighted, randInt, type RandomGenerator } from '../engine/rng.js';
import type { SiteExemption } from '../engine/coverage.js';
import type { Finding, ModelConfig, ScenarioDef, ScenarioModel, VcpuProgram } from '../engine/scenario.js';
import { timerRegions } from '../engine/timer.js';
import { Buffers, bufferRegions, FREE, LIVE, UNMAPPING } from '../model/dma/buffers.js';
import { DmaIommu, type DmaIommuClass } from '../model/dma/dma-iommu.js';
import { bucketOf, HIST_BUCKETS, Latency, latencyRegions, percentileNs, latencyStats } from '../model/dma/latency.js';
import {
  FlushQueue,
  PERCPU_FQ_SIZE,
  PERCPU_FQ_TIMEOUT_MS,
  SINGLE_FQ_SIZE,
  SINGLE_FQ_TIMEOUT_MS,
  type FlushQueueClass,
} from '../model/fq/flush-queue.js';
import { RANK_FQ, RANK_IOTLB_FLUSH } from '../model/fq/locks.js';
import {
  CheckedFlushQueue,
  FQ_ACCT_INVARIANTS,
  FqAccounting,
  fqAccountingRegions,
  watchFreedRings,
} from '../model/fq/accounting.js';
import { CheckedIovad, FlushOracle, flushOracleRegions, ObservedPgtable } from '../model/fq/oracle.js';
import { FLUSHQ_TIMER_COUNT, FQ_TIMER_ID } from '../model/fq/timers.js';
import {
  FinishCounterFq,
  FlushUntilRoomFq,
  LeCompareFq,
  NoFlushWhenFullFq,
  NoQueueMbFq,
  TimerTeardownFq,
} from '../model/fq/variants.js';
import { Iotlb, iotlbRegions, spend } from '../model/iotlb.js';
import {
  checkIovaHolders,
  drainIovaDomain,
  ENOMEM_COUNT,
  IOVA_ACCT_INVARIANTS,
  type HeldRange,
} from '../model/iova/accounting.js';
import { newIovaDomain } from '../model/iova/checked-domain.js';
import { iovaDomainRegions, type IovaDomainOptions } from '../model/iova/iova-domain.js';
import { IOVA_INVARIANTS } from '../model/iova/invariants.js';
import { checkIovaDomain } from '../model/iova/quiescent.js';
import { PagePool, pagePoolRegions, PTES_PER_TABLE } from '../model/page-pool.js';
import { checkTablePages } from '../model/pt-accounting.js';
import { IoPgtable, SZ_4K } from '../model/pgtable.js';
import { waitUntilZero } from '../engine/sync.js';
import { counterAdd } from '../engine/order.js';
import {
  ALL_CACHEABLE,
  DMA_BUFFER_SITES,
  FQ_FULL_EXPLORE_ONLY,
  FQ_PERCPU_LOCK,
  FQ_SINGLE_LOCK,
  FQ_SINGLE_TIMER_EXPLORE_ONLY,
  FQ_SITES,
  FQ_TEARDOWN_EXPLORE_ONLY,
  IOTLB_FLUSH_LOCK,
  IOTLB_SITES,
  IOVA_DOMAIN_SITES,
  NO_1G_BLOCKS,
  NO_2M_BLOCKS,
  NO_MAGAZINE_FILL,
  PGTABLE_SITES,
  TABLE_INSTALL_RACE,
} from './sites.js';

/** The lazy exposure window (unmap -> its IOVA back in the allocator), as jcstress-style outcome rows. */
const EXPOSURE: readonly [number, string][] = [
  [10, 'LAZY-EXPOSURE <10us'],
  [100, 'LAZY-EXPOSURE <100us'],
  [1_000, 'LAZY-EXPOSURE <1ms'],
  [10_000, 'LAZY-EXPOSURE <10ms'],
  [100_000, 'LAZY-EXPOSURE <100ms'],
  [1_000_000, 'LAZY-EXPOSURE <1s'],
  [Infinity, 'LAZY-EXPOSURE >=1s'],
];

/**
 * The counts judged (check/judged.ts): ENOMEM only after the one-shot flush, and a DMA map that fails
 * for want of IOVA space only when the allocator failed after that flush (with the shadow checks on,
 * which classify the allocator's failures).
 */
const judged: readonly JudgedCount[] = [
  ENOMEM_COUNT,
  {
    id: 'DMA-ENOMEM-COUNT',
    meaning:
      'DMA-ENOMEM <= ENOMEM + ENOMEM-SPURIOUS: a dma map fails for want of IOVA space only when alloc_iova_fast failed after its flush',
    count: ['DMA-ENOMEM'],
    atMost: ['ENOMEM', 'ENOMEM-SPURIOUS'],
    when: { checks: 1 },
  },
];

const invariants: readonly InvariantDef[] = [
  {
    id: 'F1',
    meaning:
      'an IOVA reaches the allocator only after a flush that started after its unmap finished: no IOTLB entry for it survives to its next hand-out',
    grade: 'FORBIDDEN',
  },
  {
    id: 'DMA-CORRUPT',
    meaning: "a device DMA to a live mapping lands on that mapping's own buffer",
    grade: 'FORBIDDEN',
  },
  { id: 'DMA-FAULT', meaning: 'a device DMA to a live mapping translates (no IOMMU fault)', grade: 'FORBIDDEN' },
  {
    id: 'DMA-MAP',
    meaning:
      'iommu_map of a freshly allocated IOVA succeeds, unmap clears all it mapped, and a live mapping translates to its buffer',
    grade: 'FORBIDDEN',
  },
  { id: 'FQ-UAF', meaning: 'no fq timer callback runs on flush queues that teardown freed', grade: 'FORBIDDEN' },
  { id: 'F-RING', meaning: 'a ring never holds more than size-1 entries', grade: 'FORBIDDEN' },
  { id: 'F-TIMER', meaning: 'fq_timer_on == 1 implies the fq timer is pending or running', grade: 'FORBIDDEN' },
  {
    id: 'LAZY-LATE-DMA',
    meaning: 'a device reached an unmapped buffer through the IOTLB before the covering flush (legal in lazy mode)',
    grade: 'INTERESTING',
  },
  ...EXPOSURE.map(([, id]): InvariantDef => ({
    id,
    meaning: "lazy exposure window: unmap to the IOVA's return to the allocator",
    grade: 'INTERESTING',
  })),
  { id: 'PT-LEAK', meaning: 'every table page is in the table once or free in the pool', grade: 'FORBIDDEN' },
  { id: 'DMA-ENOMEM', meaning: 'dma map found no IOVA space', grade: 'ACCEPTABLE' },
  ...IOVA_INVARIANTS,
  ...IOVA_ACCT_INVARIANTS,
  ...FQ_ACCT_INVARIANTS,
  ...judgedInvariants(judged),
];

/**
 * What a flush-queue patch may change (a variant's `patch`): the flush-queue class (a subclass of
 * FlushQueue overriding queueIova, fqRingFreeLocked, fqRingFull, fqFlushIotlb, fqFlushTimeout,
 * iommuDmaFreeFq, …), the DMA layer class (a DmaIommu subclass: __iommu_dma_unmap, iommu_dma_free_iova),
 * and the domain's options. No patch: the upstream per-CPU flush queue.
 */
export interface FlushqPatch {
  /** The flush queue to build (default FlushQueue). */
  readonly flushQueue?: FlushQueueClass;
  /** The DMA layer to build (default DmaIommu). */
  readonly dmaIommu?: DmaIommuClass;
  /** IOMMU_DOMAIN_DMA: no flush queue; unmap syncs the IOTLB and frees at once. */
  readonly strict?: boolean;
  /** IOMMU_DMA_OPTS_SINGLE_QUEUE: one global ring (32768 entries, 1 s) instead of per-CPU rings. */
  readonly single?: boolean;
}

/** Everything the op programs share. */
interface Model {
  readonly cpus: number;
  readonly dma: DmaIommu;
  readonly fq: FlushQueue | null;
  readonly iotlb: Iotlb;
  readonly buffers: Buffers;
  readonly latency: Latency;
  readonly users: number;
  readonly dying: number;
  readonly expHist: number;
  readonly p: Readonly<Record<string, number>>;
}

/**
 * The wired-up components of a flushq model for `config.variant.patch` (the scenario's model; also what
 * the component micro-benchmarks and the unit tests drive). The harness side — the F1 oracle, the
 * checked allocator, the observed page table, the IOTLB — is built here, not by the patch.
 */
export function flushqParts(config: ModelConfig<FlushqPatch>) {
  const { cpus, params: p } = config;
  const patch = config.variant.patch ?? {};
  const FQ = patch.flushQueue ?? FlushQueue;
  const Dma = patch.dmaIommu ?? DmaIommu;
  const lazy = patch.strict !== true;
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
  const single = patch.single === true;
  const size = p.fqSize! > 0 ? p.fqSize! : single ? SINGLE_FQ_SIZE : PERCPU_FQ_SIZE;
  // The IOVA window lives under one L2 table: pfn -> iova = pfn * 4 KiB, so spacePfns / 512 L3 tables.
  const tablePages = 3 + Math.ceil(spacePfns / PTES_PER_TABLE) + 4;
  const layout = defineLayout(cpus, {
    ...iovaDomainRegions(iovaOpts),
    ...pagePoolRegions(tablePages),
    ...iotlbRegions(spacePfns),
    ...flushOracleRegions(spacePfns),
    ...(lazy ? FQ.regions(cpus, { single, size }) : {}),
    ...fqAccountingRegions(spacePfns),
    // One timer region for all: the rcache's depot work first, then the fq timer (timers.ts).
    ...timerRegions(FLUSHQ_TIMER_COUNT),
    ...bufferRegions(cpus, p.buffers!, p.maxPages!),
    ...latencyRegions(),
    // Hot-unplug coordination (harness state): DMA API calls in flight, and "no new ones".
    'fq.users': { kind: 'i32', count: 1 },
    'fq.dying': { kind: 'i32', count: 1 },
    'fq.expHist': { kind: 'i32', count: HIST_BUCKETS },
  });
  const domain = newIovaDomain(layout, iovaOpts);
  const pool = new PagePool(layout, tablePages);
  const pt = new IoPgtable(pool, { racyInstall: false });
  const oracle = new FlushOracle(layout, p.checks === 1);
  const iotlb = new Iotlb(layout, spacePfns, pt, {
    flushCostNs: p.flushCostNs!,
    serialFlush: p.serialFlush === 1,
    flushLockRank: RANK_IOTLB_FLUSH,
    observer: oracle,
  });
  const expHist = at(region(layout, 'fq.expHist'));
  const exposure = (cpu: Cpu, us: number): void => {
    Atomics.add(cpu.i32, expHist + bucketOf(us * 1000), 1);
    for (const [limit, id] of EXPOSURE)
      if (us < limit) {
        cpu.fail(id, '');
        break;
      }
  };
  // The allocator as the code under test sees it: hand-out and hand-in checked by the harness.
  const iovad = new CheckedIovad(domain, iotlb, oracle, lazy ? exposure : null);
  // Every entry the queue is given and gives back is accounted (FQ-ACCT), outside the queue's code.
  const acct = new FqAccounting(layout, spacePfns, p.checks === 1);
  const fqFree = (cpu: Cpu, pfn: number, pages: number) => {
    acct.freed(cpu, pfn, pages);
    return iovad.freeIovaFast(cpu, pfn, pages);
  };
  const fq = lazy
    ? new FQ(layout, cpus, iotlb, fqFree, {
        single,
        size,
        timeoutMs: p.timeoutMs! > 0 ? p.timeoutMs! : single ? SINGLE_FQ_TIMEOUT_MS : PERCPU_FQ_TIMEOUT_MS,
        lockRank: RANK_FQ,
        timerId: FQ_TIMER_ID,
      })
    : null;
  const buffers = new Buffers(layout, cpus, p.buffers!, p.maxPages!);
  // The queue as the DMA layer sees it: queue_iova watched by the accounting.
  const checkedFq = fq ? new CheckedFlushQueue(fq, acct) : null;
  const m: Model = {
    cpus,
    fq,
    iotlb,
    buffers,
    p,
    expHist,
    latency: new Latency(region(layout, 'lat.sum'), region(layout, 'lat.hist'), cpus),
    users: at(region(layout, 'fq.users')),
    dying: at(region(layout, 'fq.dying')),
    dma: new Dma(new ObservedPgtable(pt, oracle), iotlb, iovad, checkedFq, iovaOpts.dma32Pfn - 1),
  };
  return { layout, domain, iovad, pool, pt, iotlb, oracle, fq, checkedFq, acct, buffers, m, expHist };
}

/** The flushq scenario's factory: the model for `config.variant.patch` (see FlushqPatch). */
export function buildFlushq(config: ModelConfig<FlushqPatch>): ScenarioModel {
  const { cpus, params: p } = config;
  const { layout, domain, pool, pt, iotlb, fq, acct, buffers, m, expHist } = flushqParts(config);
  const timers = [...domain.rcache.timerSpecs()];
  // The timer's callback, watched for a walk of rings that teardown freed (FQ-UAF), outside its code.
  if (fq) timers.push({ ref: fq.timer, callback: (cpu) => watchFreedRings(fq, cpu, fq.fqFlushTimeout(cpu)) });
  /** Who holds which IOVA range at a quiescent point: live buffers and queued entries (IOVA-ACCT). */
  const held = (i32: Int32Array): HeldRange[] => {
    const out: HeldRange[] = fq ? FqAccounting.held(i32, fq) : [];
    for (let c = 0; c < cpus; c++) {
      for (let b = 0; b < p.buffers!; b++) {
        const h = buffers.own(i32, c, b);
        if (h.state !== FREE) out.push({ who: `cpu${c}'s buffer ${b}`, pfn: h.iovaPfn, pages: h.pages });
      }
    }
    return out;
  };

  return {
    layout,
    init(mem: Memory) {
      domain.init(mem.i32);
      pool.init(mem, [IoPgtable.ROOT_PAGE]);
    },
    program: (cpu, rng) => (p.bench === 1 ? new BenchProgram(cpu, m) : new FlushqProgram(cpu, rng, m)),
    quiescent(mem, report) {
      if (fq) {
        fq.checkQuiescent(mem, report);
        acct.check(mem.i32, fq, report);
      }
      checkIovaDomain(domain, mem.i32, report);
      checkIovaHolders(domain, mem.i32, held(mem.i32), report);
      checkTablePages(pt, pool, mem.i32, report);
      for (let c = 0; c < cpus; c++) {
        for (let b = 0; b < p.buffers!; b++) {
          const h = buffers.own(mem.i32, c, b);
          if (h.state !== LIVE) continue;
          for (let k = 0; k < h.pages; k++) {
            const phys = pt.walk(mem.i32, (h.iovaPfn + k) * SZ_4K);
            if (phys !== (buffers.physPfn(c, b) + k) * SZ_4K) {
              report(
                'DMA-MAP',
                `cpu${c}'s live buffer ${b}: iova page 0x${(h.iovaPfn + k).toString(16)} translates to ${phys < 0 ? 'nothing' : `0x${phys.toString(16)}`}`,
              );
            }
          }
        }
      }
    },
    // The final drain: queued entries and live buffers give their ranges back (no IOTLB flush: the
    // drain judges the accounting, not F1, and leaves the flush statistics alone), then every magazine
    // and depot is flushed; every range must be back in the rbtree exactly once. Off with checks=0.
    drain:
      p.checks === 1
        ? (mem, report) => {
            const give = held(mem.i32);
            drainIovaDomain(
              domain,
              mem,
              invariants,
              function* (cpu) {
                for (const h of give) {
                  if (h.who === 'a flush-queue entry') acct.freed(cpu, h.pfn, h.pages);
                  yield* domain.freeIovaFast(cpu, h.pfn, h.pages);
                }
              },
              report,
            );
          }
        : undefined,
    timers,
    judged: judgedFor(judged, p),
    // A step stands for 10 µs of virtual time in explore mode: the 10 ms per-CPU fq timer fires 1,000
    // steps after it is armed (explore's own parameters shorten it, see exploreParams).
    nsPerStep: 10_000,
    stats(mem) {
      const lat = m.latency.total(mem.f64, mem.i32);
      const exp = Array.from(mem.i32.subarray(expHist, expHist + HIST_BUCKETS));
      return {
        ...latencyStats(lat),
        flushes: iotlb.flushCount(mem.i32),
        peakQueued: fq ? fq.peakHeld(mem.i32) : 0,
        exposureP50Ns: percentileNs(exp, 0.5),
        exposureP99Ns: percentileNs(exp, 0.99),
        exposureSamples: exp.reduce((a, b) => a + b, 0),
        exposureHist: exp,
        mapHist: lat.mapHist,
        unmapHist: lat.unmapHist,
      };
    },
  };
}

/** The mixed op program: map, unmap, device DMA, and (vCPU 0) the occasional flush-queue teardown. */
class FlushqProgram implements VcpuProgram {
  private last = '';
  private tagSeq = 0;
  private readonly weights: number[];

  constructor(
    private readonly cpu: Cpu,
    private readonly rng: RandomGenerator,
    private readonly m: Model,
  ) {
    const dev = m.p.deviceWeight!;
    const teardown = cpu.id === 0 && m.fq ? m.p.teardownPermille! : 0;
    // map, unmap, device DMA, teardown (per mille)
    this.weights = [
      ((1000 - teardown) * (100 - dev)) / 200,
      ((1000 - teardown) * (100 - dev)) / 200,
      ((1000 - teardown) * dev) / 100,
      teardown,
    ];
  }

  next(): Op<unknown> {
    const kind = pickWeighted(this.rng, this.weights);
    const b = randInt(this.rng, 0, this.m.p.buffers! - 1);
    const live = this.m.buffers.own(this.cpu.i32, this.cpu.id, b).state === LIVE;
    if (kind === 3) {
      this.last = 'fq teardown';
      return this.teardown();
    }
    if (kind === 2) {
      const c = randInt(this.rng, 0, this.m.cpus - 1);
      const ob = randInt(this.rng, 0, this.m.p.buffers! - 1);
      const page = randInt(this.rng, 0, this.m.p.maxPages! - 1);
      this.last = `device DMA to cpu${c} buffer ${ob}`;
      return this.deviceDma(c, ob, page);
    }
    if (live) {
      this.last = `dma unmap buffer ${b}`;
      return this.apiCall(this.unmap(b));
    }
    const pages = randInt(this.rng, 1, this.m.p.maxPages!);
    this.last = `dma map buffer ${b} (${pages} page${pages > 1 ? 's' : ''})`;
    return this.apiCall(this.map(b, pages));
  }

  describe(): string {
    return this.last;
  }

  /** A DMA API call: counted in flight, skipped while vCPU 0 tears the flush queue down. */
  private *apiCall(body: Op): Op {
    const { users, dying } = this.m;
    if (this.m.p.teardownPermille === 0 || !this.m.fq) return yield* body;
    yield 'dma api enter';
    // counterAdd: plain Atomics.add whose old value is not read; two calls in flight commute (dfs).
    counterAdd.i32(this.cpu.i32, users, 1);
    if (Atomics.load(this.cpu.i32, dying) !== 0) {
      counterAdd.i32(this.cpu.i32, users, -1);
      return;
    }
    yield* body;
    yield 'dma api exit';
    counterAdd.i32(this.cpu.i32, users, -1);
  }

  private *map(b: number, pages: number): Op {
    const { buffers, dma } = this.m;
    const tag = ((this.cpu.id + 1) << 22) | (++this.tagSeq & 0x3fffff);
    yield* buffers.claim(this.cpu, b, pages, tag);
    const pfn = yield* dma.iommuDmaMap(this.cpu, buffers.physPfn(this.cpu.id, b) * SZ_4K, pages);
    if (pfn === 0) {
      this.cpu.fail('DMA-ENOMEM', '');
      return;
    }
    yield* buffers.publish(this.cpu, b, LIVE, pfn, pages, tag);
  }

  private *unmap(b: number): Op {
    const { buffers, dma } = this.m;
    const h = buffers.own(this.cpu.i32, this.cpu.id, b);
    yield* buffers.publish(this.cpu, b, UNMAPPING, h.iovaPfn, h.pages, h.tag);
    const n = yield* dma.iommuDmaUnmap(this.cpu, h.iovaPfn, h.pages);
    if (n !== h.pages * SZ_4K)
      this.cpu.fail('DMA-MAP', `cpu${this.cpu.id}: unmap of buffer ${b} cleared ${n} of ${h.pages * SZ_4K} bytes`);
    yield* buffers.publish(this.cpu, b, FREE, h.iovaPfn, h.pages, h.tag);
  }

  private *deviceDma(c: number, b: number, page: number): Op {
    yield* this.m.buffers.deviceDma(this.cpu, this.m.iotlb, c, b, page);
  }

  /** Hot-unplug: no new DMA API calls, wait for those in flight, tear the queues down, resume. */
  private *teardown(): Op {
    const { users, dying, fq } = this.m;
    const i32 = this.cpu.i32;
    yield 'teardown: stop new dma calls';
    Atomics.store(i32, dying, 1);
    yield* waitUntilZero(this.cpu, users, 'teardown: wait for dma calls in flight');
    yield* fq!.iommuDmaFreeFq(this.cpu);
    yield 'teardown: resume dma calls';
    Atomics.store(i32, dying, 0);
  }
}

/** dma_map_benchmark's loop (§8): map a buffer, hold it for transferNs, unmap it; latencies recorded. */
class BenchProgram implements VcpuProgram {
  constructor(
    private readonly cpu: Cpu,
    private readonly m: Model,
  ) {}

  next(): Op<unknown> {
    return this.loop();
  }
  describe(): string {
    return 'map, transfer, unmap';
  }

  private *loop(): Op {
    const { dma, buffers, p } = this.m;
    const cpu = this.cpu;
    const pages = p.maxPages!;
    const t0 = cpu.clock.now();
    const pfn = yield* dma.iommuDmaMap(cpu, buffers.physPfn(cpu.id, 0) * SZ_4K, pages);
    const t1 = cpu.clock.now();
    if (pfn === 0) {
      cpu.fail('DMA-ENOMEM', '');
      return;
    }
    spend(cpu, p.transferNs!);
    const t2 = cpu.clock.now();
    yield* dma.iommuDmaUnmap(cpu, pfn, pages);
    const t3 = cpu.clock.now();
    this.m.latency.record(cpu.mem.f64, cpu.i32, cpu.id, t1 - t0, t3 - t2);
  }
}

/** Coverage: what each queue mode never runs (sites.ts). */
const LAZY_SYNC: SiteExemption = {
  sites: ['iotlb_sync range'],
  reason: 'lazy unmap never syncs a range: the flush queue flushes the whole IOTLB',
};
const PERCPU_ONLY: readonly SiteExemption[] = [
  { sites: FQ_SINGLE_LOCK, reason: 'per-CPU rings: no global ring lock' },
  LAZY_SYNC,
];
const SINGLE_ONLY: readonly SiteExemption[] = [
  { sites: FQ_PERCPU_LOCK, reason: 'one global ring: no per-CPU ring locks' },
  LAZY_SYNC,
];
const STRICT_ONLY: readonly SiteExemption[] = [
  {
    sites: [
      ...FQ_SITES,
      ...FQ_PERCPU_LOCK,
      ...FQ_SINGLE_LOCK,
      'flush_iotlb_all',
      'dma api enter',
      'dma api exit',
      'teardown: stop new dma calls',
      'teardown: resume dma calls',
      'teardown: wait for dma calls in flight',
    ],
    reason: 'strict mode has no flush queue: no rings, no fq timer, no flush-all, no queue teardown',
  },
];
/**
 * The finding in upstream queue_iova (notes/acct-readme.md "Findings"): a full ring is flushed, but
 * fq_ring_free_locked frees only entries older than fq_flush_finish_cnt; while a flush that started
 * before the oldest entry was queued is still running elsewhere, that frees nothing, and fq_ring_add
 * then moves the tail onto the head — the ring reads as empty and every queued IOVA is lost.
 */
const RING_OVERWRITE: Finding = {
  upstream: 'drivers/iommu/dma-iommu.c: queue_iova (fq_full -> fq_flush_iotlb -> fq_ring_free_locked -> fq_ring_add)',
  what:
    'a full ring whose flush frees nothing (an older flush still in flight elsewhere) is overwritten: ' +
    'every queued IOVA leaks',
  fixedBy: 'percpu-fixed',
};

export const flushqScenario: ScenarioDef<FlushqPatch> = {
  name: 'flushq',
  summary: 'lazy DMA unmap: per-CPU / single flush queues, IOTLB, devices doing DMA, the FQ timer and teardown',
  follows: 'kernel-model.md §3.3, §3.4, §3.5 (DMA-IOMMU); §2.3 (the range cache it frees into); §9 #6, #8; §10 F1',
  params: {
    spacePfns: {
      default: 4096,
      min: 64,
      max: 1 << 20,
      help: 'IOVA space in 4 KiB pages (devices are 32-bit: limit = spacePfns / 2)',
    },
    buffers: { default: 4, min: 1, max: 64, help: 'DMA buffers per vCPU' },
    maxPages: { default: 4, min: 1, max: 64, help: 'pages per mapping at most (bench: exactly, like its granule)' },
    fqSize: {
      default: 0,
      min: 0,
      max: 65536,
      help: "ring size, a power of two; 0 = the kernel's (256 per-CPU, 32768 single)",
    },
    timeoutMs: {
      default: 0,
      min: 0,
      max: 10_000,
      help: "fq timer period; 0 = the kernel's (10 ms per-CPU, 1000 ms single)",
    },
    flushCostNs: {
      default: 1_000,
      min: 0,
      max: 10_000_000,
      help: 'cost of one IOTLB flush (busy ns in stress, virtual ns in explore)',
    },
    serialFlush: {
      default: 0,
      min: 0,
      max: 1,
      help: '1: flushes serialised by a global lock (s390 shadow tables); 0: parallel (virtio-like)',
    },
    deviceWeight: { default: 30, min: 0, max: 100, help: 'percent of ops that are device DMA' },
    teardownPermille: {
      default: 2,
      min: 0,
      max: 1000,
      help: 'vCPU 0: per-mille of ops that tear the flush queue down and restart it',
    },
    bench: { default: 0, min: 0, max: 1, help: '1: dma_map_benchmark loop (map, transfer, unmap) with latencies' },
    transferNs: { default: 0, min: 0, max: 10_000_000, help: 'bench: simulated transfer between map and unmap (ns)' },
    checks: { default: 1, min: 0, max: 1, help: '0: no online IOVA shadow checks (benchmarks)' },
  },
  exploreCpus: 3,
  exploreOps: 10,
  // Small rings, a short timer and frequent teardowns, so that a ring fills, the timer fires and a
  // teardown meets it within an explored execution of a few hundred steps.
  exploreParams: { spacePfns: 512, fqSize: 2, timeoutMs: 1, teardownPermille: 100, maxPages: 2, buffers: 2 },
  invariants,
  regimes: [
    {
      name: 'small-space',
      summary:
        'a 64-page IOVA space (32 in explore): allocations fail, flush every CPU cache (one-shot), ranges move between CPUs',
      params: { spacePfns: 128, buffers: 8 },
      exploreParams: { spacePfns: 64, buffers: 4, maxPages: 4 },
    },
  ],
  sites: [
    ...PGTABLE_SITES,
    ...IOVA_DOMAIN_SITES,
    ...FQ_SITES,
    ...FQ_PERCPU_LOCK,
    ...FQ_SINGLE_LOCK,
    ...IOTLB_SITES,
    ...IOTLB_FLUSH_LOCK,
    ...DMA_BUFFER_SITES,
    'dma api enter',
    'dma api exit',
    'teardown: stop new dma calls',
    'teardown: resume dma calls',
    'teardown: wait for dma calls in flight',
  ],
  unreached: [
    NO_1G_BLOCKS,
    NO_2M_BLOCKS,
    NO_MAGAZINE_FILL,
    ALL_CACHEABLE,
    TABLE_INSTALL_RACE,
    { sites: IOTLB_FLUSH_LOCK, reason: 'flushes are serialised only with --param serialFlush=1 (s390 shadow tables)' },
    FQ_FULL_EXPLORE_ONLY,
    FQ_TEARDOWN_EXPLORE_ONLY,
  ],
  judged,
  variants: [
    {
      name: 'percpu',
      summary: 'per-CPU rings (256, 10 ms), start counter, < compare: upstream as it is (FINDING: ring overwrite)',
      expect: ['FQ-ACCT', 'IOVA-ACCT'],
      source: 'drivers/iommu/dma-iommu.c: queue_iova, fq_ring_free_locked, fq_ring_add (v6.17)',
      finding: RING_OVERWRITE,
      patch: {},
      unreached: PERCPU_ONLY,
    },
    {
      name: 'percpu-fixed',
      summary: 'percpu with the fix: a full ring is flushed until its oldest entry is covered and there is room',
      expect: 'clean',
      source: 'fix of the percpu finding (notes: Findings)',
      patch: { flushQueue: FlushUntilRoomFq },
      unreached: PERCPU_ONLY,
    },
    {
      name: 'single',
      summary: 'one global ring (32768, 1 s), as s390 paged guests use: upstream (FINDING: ring overwrite)',
      expect: ['FQ-ACCT', 'IOVA-ACCT'],
      source: 'drivers/iommu/dma-iommu.c: queue_iova, fq_flush_timeout, fq_ring_add (v6.17)',
      finding: { ...RING_OVERWRITE, fixedBy: 'single-fixed' },
      patch: { single: true },
      unreached: SINGLE_ONLY,
    },
    {
      name: 'single-fixed',
      summary: 'single with the fix: a full ring is flushed until its oldest entry is covered and there is room',
      expect: 'clean',
      source: 'fix of the single finding (notes: Findings)',
      patch: { single: true, flushQueue: FlushUntilRoomFq },
      unreached: [...SINGLE_ONLY, FQ_SINGLE_TIMER_EXPLORE_ONLY],
    },
    {
      name: 'strict',
      summary: 'no flush queue: unmap syncs the IOTLB and frees at once',
      expect: 'clean',
      patch: { strict: true },
      unreached: STRICT_ONLY,
    },
    {
      name: 'finish-counter',
      summary: 'entries record the finish counter: a flush in flight seems to cover them',
      expect: ['F1', 'DMA-CORRUPT'],
      source: 'kernel-model.md §3.4 "Tests to mutate", §9 #8',
      patch: { flushQueue: FinishCounterFq },
      unreached: PERCPU_ONLY,
    },
    {
      name: 'le-compare',
      summary: 'entries freed when counter <= finish: before any covering flush',
      expect: ['F1', 'DMA-CORRUPT'],
      source: 'kernel-model.md §3.4 "Tests to mutate", §9 #8',
      patch: { flushQueue: LeCompareFq },
      unreached: PERCPU_ONLY,
    },
    {
      name: 'no-flush-when-full',
      summary: 'a full ring frees its oldest entry without flushing',
      expect: ['F1', 'DMA-CORRUPT'],
      source: 'kernel-model.md §3.4 (flush while holding fq.lock when full) [derived mutation]',
      patch: { flushQueue: NoFlushWhenFullFq },
      unreached: PERCPU_ONLY,
    },
    {
      name: 'no-queue-mb',
      summary: 'queue_iova without smp_mb(): the PTE clear can be seen after the start count (weak memory only)',
      expect: ['F1', 'DMA-CORRUPT'],
      memory: 'weak',
      source: 'kernel-model.md §3.4 "Tests to mutate: drop the smp_mb"; dma-iommu.c queue_iova',
      patch: { flushQueue: NoQueueMbFq },
      unreached: PERCPU_ONLY,
    },
    {
      // The running timer either drains a ring after it was freed (FQ-UAF), or frees an entry that the
      // teardown freed too, at the same moment, which the IOVA checker sees as a double free (I5).
      name: 'timer-teardown',
      summary: 'teardown uses del_timer, not del_timer_sync: a running timer walks freed rings',
      expect: ['FQ-UAF', 'I5', 'FQ-ACCT'],
      source: 'kernel-model.md §9 #6 (FQ-TEARDOWN, d7061627d701)',
      patch: { flushQueue: TimerTeardownFq },
      unreached: PERCPU_ONLY,
    },
  ],
  build: buildFlushq,
};
