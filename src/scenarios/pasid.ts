/**
 * Scenario `pasid`: a system PASID for in-kernel DMA — option 1 (a separate DMA domain driven by the
 * DMA API, strict or lazy, or with IOVA == kernel VA) against option 2 (the device walks the kernel's
 * own page table, init_mm.pgd) — reference/pasid.md; kernel-model.md §3 (DMA layer, flush queue), §2.3
 * (IOVA range caches). The model: src/model/pasid/ (kernel-mm.ts: mm/vmalloc.c's vmap/vunmap/vfree and
 * lazy purge; system-pasid.ts: the three mechanisms; device.ts: the device, owner tags and exposure;
 * variants.ts: the bugs; parts.ts: the wiring).
 *
 * Each vCPU is a kernel user (a DSA/IAX client): it allocates a buffer — physically contiguous pages
 * from the direct map, or a vmalloc buffer — maybe with a shared read-only source page, hands it to the
 * device (option 1: dma map; option 2: nothing), waits while the device reads the source and writes
 * every page of the buffer, takes it back (dma unmap), and frees it; freed pages go to the next user.
 * Now and then the device writes to a random address of its own (the stray-DMA knob). Simplification:
 * the device's accesses for a user's job run on that user's vCPU, between its hand-over and its wait
 * returning — the user is blocked meanwhile, so this is the same interleaving as a separate engine.
 *
 * Exposure (the physical pages the device can reach: through its TLB, stale entries included, or the
 * table it walks) is sampled while a job's buffer is live and at every quiescent point, as EXPOSURE
 * outcome rows.
 */
import { Checker } from '../check/checker.js';
import type { InvariantDef } from '../check/invariant.js';
import { Cpu, runToEnd, type Op } from '../engine/cpu.js';
import type { Memory } from '../engine/layout.js';
import { pickWeighted, randInt, type RandomGenerator } from '../engine/rng.js';
import type { ModelConfig, ScenarioDef, ScenarioModel, VariantDef, VcpuProgram } from '../engine/scenario.js';
import type { SiteExemption } from '../engine/coverage.js';
import { IOVA_INVARIANTS } from '../model/iova/invariants.js';
import { checkIovaDomain } from '../model/iova/quiescent.js';
import { IoPgtable } from '../model/pgtable.js';
import { TAG_FREE, TAG_KERNEL, TAG_SHARED } from '../model/pasid/device.js';
import { pasidParts, type PasidParts, type PasidPatch } from '../model/pasid/parts.js';
import type { Segment } from '../model/pasid/system-pasid.js';
import { IovaEqKvaNoRefcount, SharedKernelTableLazyPurge, SharedKernelTableNoInval } from '../model/pasid/variants.js';
import {
  ALL_CACHEABLE,
  FQ_FULL_EXPLORE_ONLY,
  FQ_PERCPU_LOCK,
  FQ_SITES,
  IOVA_DOMAIN_SITES,
  NO_1G_BLOCKS,
  NO_2M_BLOCKS,
  NO_MAGAZINE_FILL,
  PASID_KVA_SITES,
  PASID_MM_SITES,
  PGTABLE_SITES,
  TABLE_INSTALL_RACE,
  STRICT_FLUSH_EXPLORE_ONLY,
  VMAP_DRAIN_EXPLORE_ONLY,
} from './sites.js';

/**
 * Exposure buckets, jcstress-style rows: the share of memory the device can reach (relative, so that the
 * explore phase's small memory and the stress phase's larger one land in the same rows).
 */
export const EXPOSURE_ROWS: readonly [number, string][] = [
  [0, 'EXPOSURE none'],
  [1 / 16, 'EXPOSURE <=1/16 of memory'],
  [1 / 8, 'EXPOSURE <=1/8 of memory'],
  [1 / 4, 'EXPOSURE <=1/4 of memory'],
  [1 / 2, 'EXPOSURE <=1/2 of memory'],
  [0.999_999, 'EXPOSURE <all memory'],
  [Infinity, 'EXPOSURE all memory'],
];

export function exposureRow(pages: number, memPages: number): string {
  const f = pages / memPages;
  for (const [limit, id] of EXPOSURE_ROWS) if (f <= limit) return id;
  return EXPOSURE_ROWS[EXPOSURE_ROWS.length - 1]![1];
}

const forbidden = (id: string, meaning: string): InvariantDef => ({ id, meaning, grade: 'FORBIDDEN' });
const interesting = (id: string, meaning: string): InvariantDef => ({ id, meaning, grade: 'INTERESTING' });

const invariants: readonly InvariantDef[] = [
  forbidden(
    'DMA-CORRUPT',
    "a device DMA for a buffer handed to it lands on that buffer's own page " + '(not on a page someone else owns now)',
  ),
  forbidden('DMA-FAULT', 'a device DMA for a buffer handed to it translates (no IOMMU fault)'),
  forbidden('DMA-MAP', 'mapping a buffer for the device succeeds on a free IOVA'),
  forbidden('F1', 'an IOVA is handed out again only after the device TLB dropped its old translation'),
  forbidden('PT-OVERWRITE', 'no map overwrites a live PTE (kernel vmap or I/O page table)'),
  forbidden('PT-LEAK', 'a page-table page is freed once'),
  forbidden('PAGE-LEAK', 'at a quiescent point every page is free or reserved at boot, and owner tags agree'),
  forbidden('VM-LAZY', 'at a quiescent point vmap_lazy_nr counts exactly the pages on the lazy list'),
  forbidden('KVA-REF', 'at a quiescent point no IOVA==KVA mapping is left (every refcount 0, no PTE)'),
  forbidden('F-RING', 'a flush-queue ring never holds more than size-1 entries'),
  forbidden('F-TIMER', 'fq_timer_on == 1 implies the fq timer is pending or running'),
  forbidden('FQ-UAF', 'no fq timer callback runs on freed flush queues'),
  interesting(
    'STALE-DEVTLB',
    'a page is freed while the device TLB still translates an address the table no ' +
      'longer maps to it (a lazy window)',
  ),
  interesting(
    'STRAY-CORRUPT',
    'a stray device write landed on a page (silently: kernel data, a free page, ' + "someone's buffer)",
  ),
  ...EXPOSURE_ROWS.map(([, id]) =>
    interesting(
      id,
      'share of physical memory the device can reach (through its TLB, ' +
        'stale entries included, or its table), sampled',
    ),
  ),
  { id: 'STRAY-FAULT', meaning: 'a stray device write faulted in the IOMMU', grade: 'ACCEPTABLE' },
  { id: 'ENOMEM', meaning: 'a user found no free pages, IOVA space or vmalloc space', grade: 'ACCEPTABLE' },
  ...IOVA_INVARIANTS,
];

/** Coverage (sites.ts): option 1 runs the io-pgtable and, unless IOVA == KVA, the IOVA domain. */
const OPTION1_SITES = [...PGTABLE_SITES, ...IOVA_DOMAIN_SITES];
const NO_FQ_TEARDOWN: SiteExemption = {
  sites: ['free fq rings', 'del_timer fq_timer', 'del_timer_sync fq_timer'],
  reason: 'the DMA domain lives for the whole run: its flush queue is never torn down',
};
const OPTION1_UNREACHED = [NO_1G_BLOCKS, NO_2M_BLOCKS, NO_MAGAZINE_FILL, ALL_CACHEABLE, TABLE_INSTALL_RACE];
/** Option 2 walks init_mm's tables, populated at init: nothing installs or frees a table. */
const OPTION2_UNREACHED: readonly SiteExemption[] = [
  NO_1G_BLOCKS,
  NO_2M_BLOCKS,
  {
    sites: [
      'L0 install_table cmpxchg',
      'L1 install_table cmpxchg',
      'L2 install_table cmpxchg',
      'alloc_page',
      'free_page',
    ],
    reason: "option 2 walks init_mm's page table, whose tables exist from init: no table is installed or freed",
  },
];

const variants: readonly VariantDef<PasidPatch>[] = [
  {
    name: 'separate-domain',
    expect: 'clean',
    patch: { option: 'separate-domain', lazy: true },
    sites: [...OPTION1_SITES, ...FQ_SITES, ...FQ_PERCPU_LOCK, 'flush_iotlb_all'],
    unreached: [
      ...OPTION1_UNREACHED,
      { sites: ['iotlb_sync range'], reason: 'lazy unmap never syncs a range: the flush queue flushes all' },
      NO_FQ_TEARDOWN,
      FQ_FULL_EXPLORE_ONLY,
    ],
    summary: 'option 1: the PASID on its own DMA domain, DMA API per buffer, lazy unmap through the flush queue',
    source: 'pasid.md option 1; kernel-model.md §3.3, §3.4',
  },
  {
    name: 'separate-domain-strict',
    expect: 'clean',
    patch: { option: 'separate-domain', lazy: false },
    sites: OPTION1_SITES,
    unreached: [...OPTION1_UNREACHED, STRICT_FLUSH_EXPLORE_ONLY],
    summary: 'option 1, strict: every dma unmap invalidates the device TLB before the IOVA is freed',
    source: 'pasid.md option 1; kernel-model.md §3.3',
  },
  {
    name: 'iova-eq-kva',
    expect: 'clean',
    patch: { option: 'iova-eq-kva' },
    sites: [...PGTABLE_SITES, ...PASID_KVA_SITES],
    unreached: [NO_1G_BLOCKS, NO_2M_BLOCKS, TABLE_INSTALL_RACE],
    summary:
      'option 1 with IOVA == kernel VA: no IOVA allocator; a page mapped by two in-flight DMAs is ' +
      'reference-counted',
    source: 'pasid.md option 1 ("should IOVA == kernel VA")',
  },
  {
    name: 'iova-eq-kva-norefcount',
    expect: ['DMA-FAULT', 'DMA-CORRUPT'],
    patch: { option: 'iova-eq-kva', IovaEqKva: IovaEqKvaNoRefcount },
    sites: PGTABLE_SITES,
    summary:
      "IOVA == KVA without refcounts: one user's unmap drops the shared page's translation under another " +
      'in-flight DMA',
    source: 'pasid.md "Races" (several mappings of one page share one IOVA) [derived]',
  },
  {
    name: 'shared-kernel-table',
    expect: 'clean',
    patch: { option: 'shared-kernel-table' },
    sites: PGTABLE_SITES,
    unreached: OPTION2_UNREACHED,
    summary:
      'option 2: the PASID walks init_mm.pgd; the device TLB is invalidated at every kernel PTE clear ' +
      '(vunmap) and every flush_tlb_kernel_range',
    source:
      'pasid.md option 2; drivers/iommu/intel/svm.c (intel_svm_set_dev_pasid, ' +
      'intel_arch_invalidate_secondary_tlbs)',
  },
  {
    name: 'shared-kernel-table-noinval',
    expect: ['DMA-CORRUPT'],
    patch: { option: 'shared-kernel-table', SharedKernelTable: SharedKernelTableNoInval },
    sites: PGTABLE_SITES,
    unreached: OPTION2_UNREACHED,
    summary:
      'option 2 with no device-TLB invalidation: after vfree and the lazy purge, a reused vmalloc address ' +
      'still translates to the old page',
    source:
      'pasid.md (Woodhouse: "any access to vmalloc or module regions will require some way of doing an ' +
      'IOTLB flush")',
  },
  {
    name: 'shared-kernel-table-lazy-purge',
    expect: 'clean',
    patch: { option: 'shared-kernel-table', SharedKernelTable: SharedKernelTableLazyPurge },
    sites: PGTABLE_SITES,
    unreached: OPTION2_UNREACHED,
    summary:
      'option 2, device TLB invalidated only with the lazy vmap purge (hooked flush_tlb_kernel_range): ' +
      'INTERESTING, not FORBIDDEN — freed vmalloc pages stay reachable until the purge (STALE-DEVTLB), but the ' +
      'address is reused only after it, so no handed-over DMA goes astray',
    source: 'pasid.md "Races"; mm/vmalloc.c free_vmap_area_noflush / __purge_vmap_area_lazy',
  },
];

interface Model {
  readonly parts: PasidParts;
  readonly p: Readonly<Record<string, number>>;
}

export function buildPasid(config: ModelConfig<PasidPatch>): ScenarioModel {
  const parts = pasidParts(config);
  const { layout, phys, kernelPool, mm, device, domain, fq, domainPool, iovaEqKva, g } = parts;
  const m: Model = { parts, p: config.params };
  const reserved = (pfn: number) => pfn <= parts.kernelPages + parts.sharedPages;
  return {
    layout,
    init(mem: Memory) {
      phys.init(mem.i32, reserved);
      for (let pfn = 1; pfn <= g.memPages; pfn++) {
        device.setTag(mem.i32, pfn, pfn <= parts.kernelPages ? TAG_KERNEL : reserved(pfn) ? TAG_SHARED : TAG_FREE);
      }
      kernelPool.init(mem, [IoPgtable.ROOT_PAGE]);
      domainPool?.init(mem, [IoPgtable.ROOT_PAGE]);
      domain?.init(mem.i32);
      const boot = new Cpu(0, 'explore', mem, new Checker(invariants));
      runToEnd(mm.mapDirectMap(boot));
    },
    program: (cpu, rng) => (config.params.bench === 1 ? new BenchProgram(cpu, m) : new PasidProgram(cpu, rng, m)),
    quiescent(mem, report) {
      const i32 = mem.i32;
      report(exposureRow(device.reachable(i32), g.memPages), '');
      if (domain) checkIovaDomain(domain, i32, report);
      if (fq) fq.checkQuiescent(mem, report);
      const [, busy, lazy, purging] = mm.areaStates(i32);
      if (busy !== 0 || purging !== 0)
        report('PAGE-LEAK', `${busy} vmalloc pages busy and ${purging} purging with no user`);
      if (mm.lazyCount(i32) !== lazy)
        report('VM-LAZY', `vmap_lazy_nr is ${mm.lazyCount(i32)}, the lazy list holds ${lazy} pages`);
      const free = phys.freeCount(i32);
      const expectFree = g.memPages - parts.kernelPages - parts.sharedPages;
      if (free !== expectFree) report('PAGE-LEAK', `${free} pages free, ${expectFree} expected (no buffer is live)`);
      for (let pfn = parts.kernelPages + parts.sharedPages + 1; pfn <= g.memPages; pfn++) {
        if (device.tag(i32, pfn) !== TAG_FREE) {
          report('PAGE-LEAK', `page 0x${pfn.toString(16)} is free but still tagged ${device.tag(i32, pfn)}`);
          break;
        }
      }
      if (iovaEqKva && parts.domainPt) {
        const leaves = parts.domainPt.scan(i32).leaves.length;
        if (leaves !== 0) report('KVA-REF', `${leaves} IOVA==KVA mappings left with no DMA in flight`);
      }
    },
    timers: parts.timers,
    // 10 µs of virtual time per step: the 10 ms fq timer fires 1,000 steps after it is armed (explore's
    // parameters shorten it).
    nsPerStep: 10_000,
    stats(mem) {
      const costs = parts.costs.totals(mem.f64, config.cpus);
      return {
        changes: mm.changeCount(mem.i32, config.cpus),
        invalidations: parts.iotlb.flushCount(mem.i32),
        reachable: device.reachable(mem.i32),
        costNs: costs,
      };
    },
  };
}

/** The hand-out / hand-in wrappers around the page allocator: owner tags, and the stale-TLB check at free. */
function* allocTagged(cpu: Cpu, m: Model, n: number, tag: number): Op<number> {
  const pfn = yield* m.parts.phys.allocPages(cpu, n);
  for (let k = 0; pfn !== 0 && k < n; k++) m.parts.device.setTag(cpu.i32, pfn + k, tag);
  return pfn;
}

function* freeTagged(cpu: Cpu, m: Model, pfn: number, n: number): Op {
  const { device } = m.parts;
  for (let k = 0; k < n; k++) {
    if (m.p.checks === 1) {
      const a = device.staleTo(cpu.i32, pfn + k);
      if (a >= 0)
        cpu.fail(
          'STALE-DEVTLB',
          `${cpu.name} frees page 0x${(pfn + k).toString(16)} while the device TLB still sends ` +
            `0x${a.toString(16)} to it`,
        );
    }
    device.setTag(cpu.i32, pfn + k, TAG_FREE);
  }
  yield* m.parts.phys.freePages(cpu, pfn, n);
}

/** One kernel user's job: allocate, hand to the device, wait, take back, free. */
function* job(cpu: Cpu, m: Model, tag: number, pages: number, vmalloc: boolean, shared: number, sample: boolean): Op {
  const { parts } = m;
  const { path, device, mm } = parts;
  let seg: Segment;
  if (!vmalloc) {
    const pfn = yield* allocTagged(cpu, m, pages, tag);
    if (pfn === 0) {
      cpu.fail('ENOMEM', '');
      return;
    }
    seg = { kva: pfn, phys: Array.from({ length: pages }, (_, k) => pfn + k), contiguous: true };
  } else {
    // __vmalloc_area_node: order-0 pages one by one, then vmap them.
    const pfns: number[] = [];
    for (let k = 0; k < pages; k++) {
      const pfn = yield* allocTagged(cpu, m, 1, tag);
      if (pfn === 0) break;
      pfns.push(pfn);
    }
    const va = pfns.length === pages ? yield* mm.vmap(cpu, pfns) : 0;
    if (va === 0) {
      for (const pfn of pfns) yield* freeTagged(cpu, m, pfn, 1);
      cpu.fail('ENOMEM', '');
      return;
    }
    seg = { kva: va, phys: pfns, contiguous: false };
  }
  const src: Segment | null = shared > 0 ? { kva: shared, phys: [shared], contiguous: true } : null;
  const srcAddrs = src ? yield* path.mapForDevice(cpu, src) : null;
  const addrs = src && !srcAddrs ? null : yield* path.mapForDevice(cpu, seg);
  if (addrs) {
    if (srcAddrs) yield* device.access(cpu, srcAddrs[0]!, TAG_SHARED, 'read of the shared source page');
    for (const a of addrs)
      yield* device.access(cpu, a, tag, `write to ${cpu.name}'s ${vmalloc ? 'vmalloc' : 'direct-map'} buffer`);
    device.transfer(cpu, pages);
    if (sample) cpu.fail(exposureRow(device.reachable(cpu.i32), parts.g.memPages), '');
    yield* path.unmapForDevice(cpu, seg, addrs);
  } else {
    cpu.fail('ENOMEM', '');
  }
  if (src && srcAddrs) yield* path.unmapForDevice(cpu, src, srcAddrs);
  if (!vmalloc) yield* freeTagged(cpu, m, seg.kva, pages);
  else yield* mm.vfree(cpu, seg.kva, (c, pfn) => freeTagged(c, m, pfn, 1));
}

class PasidProgram implements VcpuProgram {
  private last = '';
  private seq = 0;
  private jobs = 0;
  private readonly weights: number[];

  constructor(
    private readonly cpu: Cpu,
    private readonly rng: RandomGenerator,
    private readonly m: Model,
  ) {
    const stray = m.p.strayPermille!;
    const vm = m.p.vmallocPermille! / 1000;
    // direct-map job, vmalloc job, stray DMA (per mille)
    this.weights = [(1000 - stray) * (1 - vm), (1000 - stray) * vm, stray];
  }

  next(): Op<unknown> {
    const { p, parts } = this.m;
    const kind = pickWeighted(this.rng, this.weights);
    if (kind === 2) {
      const addr = randInt(this.rng, 1, parts.device.space - 1);
      this.last = `stray device write to 0x${addr.toString(16)}`;
      return parts.device.stray(this.cpu, addr);
    }
    const pages = randInt(this.rng, 1, p.maxPages!);
    const shared =
      parts.sharedPages > 0 && randInt(this.rng, 0, 999) < p.sharedPermille!
        ? parts.kernelPages + randInt(this.rng, 1, parts.sharedPages)
        : 0;
    const tag = ((this.cpu.id + 1) << 20) | (++this.seq & 0xfffff);
    const sample = ++this.jobs % p.sampleEvery! === 0;
    const src = shared ? ` + shared page 0x${shared.toString(16)}` : '';
    this.last =
      `${kind === 1 ? 'vmalloc' : 'alloc_pages'} ${pages} page${pages > 1 ? 's' : ''}${src}` +
      ', hand to device, wait, free';
    return job(this.cpu, this.m, tag, pages, kind === 1, shared, sample);
  }

  describe(): string {
    return this.last;
  }
}

/** The benchmark loop (bench=1): a buffer of exactly maxPages pages, handed over, transferred, freed. */
class BenchProgram implements VcpuProgram {
  private seq = 0;
  private n = 0;
  constructor(
    private readonly cpu: Cpu,
    private readonly m: Model,
  ) {}

  next(): Op<unknown> {
    const permille = this.m.p.vmallocPermille!;
    const vm = permille > 0 && (this.n++ * permille) % 1000 < permille;
    const tag = ((this.cpu.id + 1) << 20) | (++this.seq & 0xfffff);
    return job(this.cpu, this.m, tag, this.m.p.maxPages!, vm, 0, false);
  }

  describe(): string {
    return 'bench: allocate, hand to device, transfer, free';
  }
}

export const pasidScenario: ScenarioDef<PasidPatch> = {
  name: 'pasid',
  summary:
    "system PASID for in-kernel DMA: own DMA domain (strict, lazy, IOVA==KVA) vs the kernel's own page " +
    "table, with vmalloc's lazy purge",
  follows: 'reference/pasid.md; kernel-model.md §3 (DMA layer, flush queue), §2.3 (IOVA range caches); mm/vmalloc.c',
  params: {
    memPages: {
      default: 64,
      min: 8,
      max: 4096,
      help: 'pages of memory, all in the direct map (a quarter are kernel data)',
    },
    sharedPages: {
      default: 1,
      min: 0,
      max: 8,
      help: 'shared read-only pages (a ZERO_PAGE-like DMA source several users map at once)',
    },
    vmallocPages: { default: 64, min: 4, max: 4096, help: 'pages of vmalloc address space' },
    lazyMaxPages: {
      default: 0,
      min: 0,
      max: 1 << 20,
      help: "lazy vmap purge threshold in pages; 0 = the kernel's lazy_max_pages() (fls(cpus) * 32 MiB)",
    },
    maxPages: { default: 4, min: 1, max: 512, help: 'pages per buffer at most (bench: exactly)' },
    vmallocPermille: {
      default: 500,
      min: 0,
      max: 1000,
      help: 'per mille of buffers that are vmalloc buffers (the rest: direct-map pages)',
    },
    sharedPermille: { default: 300, min: 0, max: 1000, help: 'per mille of jobs that also read a shared source page' },
    strayPermille: {
      default: 5,
      min: 0,
      max: 1000,
      help: 'per mille of ops that are a stray device write to a random address of its address space',
    },
    sampleEvery: {
      default: 16,
      min: 1,
      max: 1 << 20,
      help: 'sample the exposure every N-th job (while its buffer is live)',
    },
    spacePfns: { default: 4096, min: 64, max: 1 << 20, help: "option 1: the DMA domain's IOVA space in pages" },
    fqSize: {
      default: 0,
      min: 0,
      max: 65536,
      help: "option 1 lazy: flush-queue ring size, a power of two; 0 = the kernel's 256",
    },
    fqTimeoutMs: { default: 0, min: 0, max: 10_000, help: "option 1 lazy: fq timer period; 0 = the kernel's 10 ms" },
    invCostNs: { default: 0, min: 0, max: 10_000_000, help: 'cost of one device-TLB invalidation (IOTLB + ATS), ns' },
    allocNs: { default: 0, min: 0, max: 1_000_000, help: 'cost model: an IOVA alloc + free, ns' },
    pteNs: { default: 0, min: 0, max: 1_000_000, help: 'cost model: one I/O PTE write or clear, ns' },
    queueNs: { default: 0, min: 0, max: 1_000_000, help: 'cost model: queue_iova of a lazy unmap, ns' },
    walkNs: { default: 0, min: 0, max: 1_000_000, help: 'cost model: a device-TLB miss (ATS translation + walk), ns' },
    bandwidthMBps: {
      default: 0,
      min: 0,
      max: 1_000_000,
      help: 'cost model: transfer bandwidth, MB/s; 0 = transfers take no time',
    },
    descNs: {
      default: 0,
      min: 0,
      max: 1_000_000,
      help: "cost model: the device's fixed time per job (descriptor submission, completion), ns",
    },
    checks: { default: 1, min: 0, max: 1, help: '0: no online shadow/stale checks (benchmarks)' },
    bench: {
      default: 0,
      min: 0,
      max: 1,
      help: '1: the benchmark loop (one buffer of maxPages pages per op, no shared page, no stray)',
    },
  },
  exploreCpus: 3,
  exploreOps: 4,
  // Small memory, a small vmalloc space purged after a few pages, tiny rings and a short fq timer, a
  // shared page in half the jobs: reuse and purges happen within a short explored execution.
  exploreParams: {
    memPages: 16,
    vmallocPages: 12,
    lazyMaxPages: 4,
    maxPages: 2,
    spacePfns: 512,
    fqSize: 4,
    fqTimeoutMs: 1,
    sharedPermille: 500,
    strayPermille: 50,
    sampleEvery: 4,
  },
  invariants,
  regimes: [
    {
      name: 'small-space',
      summary: 'option 1 with a 32-page IOVA space: allocations fail and flush every CPU cache (one-shot)',
      params: { spacePfns: 64 },
      exploreParams: { spacePfns: 64, maxPages: 4 },
    },
  ],
  // Every option: vmalloc, the page allocator, the device TLB. The variants add the parts they build.
  sites: [...PASID_MM_SITES, 'iotlb lookup', 'iotlb_sync range'],
  unreached: [VMAP_DRAIN_EXPLORE_ONLY],
  variants,
  build: buildPasid,
};
