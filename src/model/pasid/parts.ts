/**
 * Wiring of the system-PASID model: the one place that constructs the shared components (IovaDomain,
 * FlushQueue, Iotlb, DmaIommu, IoPgtable, PagePool) — kernel-model.md §2.3 (IOVA range caches), §3
 * (the DMA layer and the flush queue) — around this folder's own mechanisms, from the variant's patch.
 */
import { watchFreedRings } from '../fq/accounting.js';
import { defineLayout, type Layout, type RegionSpec } from '../../engine/layout.js';
import type { ModelConfig } from '../../engine/scenario.js';
import { TimerRef, timerRegions, type TimerSpec } from '../../engine/timer.js';
import { DmaIommu } from '../dma/dma-iommu.js';
import { FlushQueue, PERCPU_FQ_SIZE, PERCPU_FQ_TIMEOUT_MS } from '../fq/flush-queue.js';
import { CheckedIovad, FlushOracle, flushOracleRegions, ObservedPgtable } from '../fq/oracle.js';
import { RANK_FQ } from '../fq/locks.js';
import { FLUSHQ_TIMER_COUNT, FQ_TIMER_ID } from '../fq/timers.js';
import { Iotlb, iotlbRegions } from '../iotlb.js';
import { newIovaDomain, type CheckedIovaDomain } from '../iova/checked-domain.js';
import { iovaDomainRegions, type IovaDomainOptions } from '../iova/iova-domain.js';
import { PagePool, pagePoolRegions } from '../page-pool.js';
import { Device, ownerRegions } from './device.js';
import {
  kernelGeometry,
  KernelMm,
  kernelMmRegions,
  kernelPoolLayout,
  kernelTablePages,
  lazyMaxPages,
  NO_NOTIFIER,
  type KernelGeometry,
} from './kernel-mm.js';
import { PgsizeTable } from './pgsize-table.js';
import { PhysPages, physRegions } from './phys.js';
import {
  Costs,
  costRegions,
  IovaEqKva,
  iovaEqKvaRegions,
  SeparateDomain,
  SharedKernelTable,
  type CostModel,
  type SystemPasid,
} from './system-pasid.js';

/** What a pasid variant chooses: the option, and the mechanism classes (a bug variant's subclass). */
export interface PasidPatch {
  readonly option: 'separate-domain' | 'iova-eq-kva' | 'shared-kernel-table';
  /** separate-domain: unmap through the flush queue (IOMMU_DOMAIN_DMA_FQ) rather than strictly. */
  readonly lazy?: boolean;
  readonly IovaEqKva?: typeof IovaEqKva;
  readonly SharedKernelTable?: typeof SharedKernelTable;
  readonly KernelMm?: typeof KernelMm;
}

/** Lock ranks: the vmalloc locks (20..22) are below the flush lock; the fq ring lock below the IOVA locks. */
const RANK_KVA_MAP = 5;
const RANK_FLUSH = 30;
/** The timers: the rcache's depot works and the fq timer as in flushq (fq/timers.ts), then vmalloc's drain work. */
const TIMER_DRAIN = FLUSHQ_TIMER_COUNT;

export interface PasidParts {
  readonly layout: Layout;
  readonly patch: PasidPatch;
  readonly g: KernelGeometry;
  readonly phys: PhysPages;
  readonly kernelPool: PagePool;
  readonly kernelPt: PgsizeTable;
  readonly mm: KernelMm;
  readonly iotlb: Iotlb;
  readonly device: Device;
  readonly costs: Costs;
  readonly path: SystemPasid;
  /** Option 1 only. */
  readonly domain: CheckedIovaDomain | null;
  readonly fq: FlushQueue | null;
  readonly domainPool: PagePool | null;
  readonly domainPt: PgsizeTable | null;
  readonly iovaEqKva: IovaEqKva | null;
  readonly timers: readonly TimerSpec[];
  /** Page frames reserved at boot: kernel data, then the shared read-only pages. */
  readonly kernelPages: number;
  readonly sharedPages: number;
}

export function pasidParts(config: ModelConfig<PasidPatch>): PasidParts {
  const { cpus, params: p } = config;
  const patch = config.variant.patch;
  if (!patch) throw new Error(`pasid: variant ${config.variant.name} has no patch (which option?)`);
  const g = kernelGeometry(p.memPages!, p.vmallocPages!);
  const kernelPages = Math.max(1, Math.floor(p.memPages! / 4));
  const sharedPages = p.sharedPages!;
  const separate = patch.option === 'separate-domain';
  const eqKva = patch.option === 'iova-eq-kva';
  const lazy = separate && patch.lazy === true;
  const spacePfns = p.spacePfns!;
  // The device's address space: IOVAs of its own domain, or kernel VAs (IOVA == KVA and option 2).
  const space = separate ? spacePfns : g.kvaPfns;
  const domainTables = 4 + Math.ceil(space / 512) + 2;
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
  const fqSize = p.fqSize! > 0 ? p.fqSize! : PERCPU_FQ_SIZE;
  const specs: Record<string, RegionSpec> = {
    ...physRegions(g.memPages),
    ...ownerRegions(g.memPages),
    ...kernelMmRegions(g),
    ...costRegions(),
    ...(separate ? iovaDomainRegions(iovaOpts) : {}),
    ...(separate || eqKva ? pagePoolRegions(domainTables) : {}),
    ...(eqKva ? iovaEqKvaRegions(g.kvaPfns) : {}),
    ...(lazy ? FlushQueue.regions(cpus, { single: false, size: fqSize }) : {}),
    ...(separate ? flushOracleRegions(space) : {}),
    ...iotlbRegions(space),
    ...timerRegions(TIMER_DRAIN + 1),
  };
  const layout = defineLayout(cpus, specs);
  const costModel: CostModel = {
    allocNs: p.allocNs!,
    pteNs: p.pteNs!,
    queueNs: p.queueNs!,
    walkNs: p.walkNs!,
    bandwidthMBps: p.bandwidthMBps!,
    descNs: p.descNs!,
  };
  const costs = new Costs(layout, costModel);
  const phys = new PhysPages(layout, g.memPages);
  const kernelPool = new PagePool(kernelPoolLayout(layout), kernelTablePages(g));
  const kernelPt = new PgsizeTable(kernelPool, { racyInstall: false });
  const domainPool = separate || eqKva ? new PagePool(layout, domainTables) : null;
  const domainPt = domainPool ? new PgsizeTable(domainPool, { racyInstall: false }) : null;
  // Option 1's allocator and flush queue are checked as flushq checks them (F1 at hand-out and hand-in,
  // flushes stamped by the IOTLB itself): the oracle sits in harness-owned wrappers, not in the code.
  const oracle = separate ? new FlushOracle(layout, p.checks === 1) : undefined;
  const iotlbOpts = {
    flushCostNs: p.invCostNs!,
    serialFlush: false,
    flushLockRank: RANK_FLUSH,
    ...(oracle ? { observer: oracle } : {}),
  };
  const iotlb = new Iotlb(layout, space, domainPt ?? kernelPt, iotlbOpts);
  const lazyMax = p.lazyMaxPages! > 0 ? p.lazyMaxPages! : lazyMaxPages(cpus);
  const MmClass = patch.KernelMm ?? KernelMm;
  const drainWork = new TimerRef(layout, TIMER_DRAIN, 'drain_vmap_work');
  const mm = new MmClass(layout, kernelPt, NO_NOTIFIER, { geometry: g, lazyMax, drainWork });
  const timers: TimerSpec[] = [{ ref: drainWork, callback: (cpu) => mm.drainVmapAreaWork(cpu) }];

  let domain: CheckedIovaDomain | null = null;
  let fq: FlushQueue | null = null;
  let iovaEqKva: IovaEqKva | null = null;
  let path: SystemPasid;
  if (separate) {
    const dom = newIovaDomain(layout, iovaOpts);
    domain = dom;
    // The lazy window is measured as exposure (device.reachable), not as a time: no exposure hook.
    const iovad = new CheckedIovad(dom, iotlb, oracle!, null);
    fq = lazy
      ? new FlushQueue(layout, cpus, iotlb, (cpu, pfn, pages) => iovad.freeIovaFast(cpu, pfn, pages), {
          single: false,
          size: fqSize,
          timeoutMs: p.fqTimeoutMs! > 0 ? p.fqTimeoutMs! : PERCPU_FQ_TIMEOUT_MS,
          lockRank: RANK_FQ,
          timerId: FQ_TIMER_ID,
        })
      : null;
    const dma = new DmaIommu(new ObservedPgtable(domainPt!, oracle!), iotlb, iovad, fq, iovaOpts.dma32Pfn - 1);
    path = new SeparateDomain(dma, costs);
    timers.push(...dom.rcache.timerSpecs());
    if (fq) timers.push({ ref: fq.timer, callback: (cpu) => watchFreedRings(fq!, cpu, fq!.fqFlushTimeout(cpu)) });
  } else if (eqKva) {
    const Cls = patch.IovaEqKva ?? IovaEqKva;
    iovaEqKva = new Cls(layout, domainPt!, iotlb, costs, RANK_KVA_MAP);
    path = iovaEqKva;
  } else {
    const Cls = patch.SharedKernelTable ?? SharedKernelTable;
    const shared = new Cls(iotlb);
    mm.notifier = shared;
    path = shared;
  }
  const device = new Device(layout, iotlb, domainPt ?? kernelPt, space, g.memPages, costs);
  return {
    layout,
    patch,
    g,
    phys,
    kernelPool,
    kernelPt,
    mm,
    iotlb,
    device,
    costs,
    path,
    domain,
    fq,
    domainPool,
    domainPt,
    iovaEqKva,
    timers,
    kernelPages,
    sharedPages,
  };
}
