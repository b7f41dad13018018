/**
 * The two ways to give in-kernel users of a PASID-capable device (DSA, IAX) a "system PASID" —
 * reference/pasid.md (Jacob Pan's options, LKML May 2021) — as three mechanisms the device's DMA goes
 * through:
 *
 *  - SeparateDomain (option 1): the PASID is attached to a DMA domain of its own, and every buffer goes
 *    through the DMA API: dma-iommu's map/unmap (model/dma/dma-iommu.ts: IOVA from the range cache, PTEs
 *    in the I/O page table, strict iotlb_sync or the flush queue). This is what upstream ended with:
 *    drivers/dma/idxd/init.c idxd_enable_system_pasid() attaches a reserved PASID to the device's own
 *    DMA domain (iommu_get_domain_for_dev + iommu_attach_device_pasid), so ENQCMDS work uses buffers
 *    mapped by the DMA API (pasid.md "Outcome").
 *  - IovaEqKva (option 1, IOVA == kernel VA): the same separate domain, but the IOVA of a page is its
 *    kernel address, so no IOVA allocator: two users handing the device the same page (a shared source
 *    page) map the same IOVA, and unmap must be reference-counted. No kernel code does this; the
 *    refcount under one lock is the obvious design, and the mapping is torn down strictly (a stale
 *    IOVA==KVA entry would outlive the page's owner: nothing to gain from a flush queue here).
 *  - SharedKernelTable (option 2): the PASID entry points at init_mm.pgd — the old idxd code bound with
 *    iommu_sva_bind_device(dev, NULL, SVM_FLAG_SUPERVISOR_MODE); in today's path that is
 *    iommu_sva_bind_device -> iommu_sva_domain_alloc -> intel_svm_domain_alloc (mmu_notifier_register
 *    on the mm) -> iommu_attach_device_pasid -> intel_svm_set_dev_pasid ->
 *    __domain_setup_first_level(..., __pa(mm->pgd), ...) (drivers/iommu/iommu-sva.c, intel/svm.c) with
 *    mm = &init_mm. No per-buffer work at all: the device uses
 *    kernel addresses. For a user mm the IOMMU hears of page-table changes through the mmu notifier
 *    (intel_arch_invalidate_secondary_tlbs -> cache_tag_flush_range); vunmap and
 *    flush_tlb_kernel_range call no mmu notifier for init_mm, so this class hooks the kernel's own
 *    page-table changes (KernelPtNotifier): an invalidation of the device TLB at every vunmap and at
 *    every flush_tlb_kernel_range (the lazy purge's).
 *
 * Costs (explicit, for the benchmark; 0 in race runs): IOVA allocation, a PTE write or clear, queueing
 * an unmap, charged through Costs (spend() of modelled nanoseconds); an IOTLB invalidation costs the
 * Iotlb's own flushCostNs.
 */
import type { Cpu, LockRef, Op } from '../../engine/cpu.js';
import { at, atCpu, region, type Layout, type Region, type RegionSpec } from '../../engine/layout.js';
import { lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../../engine/sync.js';
import type { DmaIommu } from '../dma/dma-iommu.js';
import { spend, type Iotlb } from '../iotlb.js';
import { type IoPgtable, SZ_4K } from '../pgtable.js';
import type { KernelPtNotifier } from './kernel-mm.js';
import { PgsizeTable } from './pgsize-table.js';

/** A run of pages handed to the device: its kernel address and the phys pages behind it. */
export interface Segment {
  /** Kernel VA pfn of the first page (direct map: = phys pfn; vmalloc: the vmap address). */
  readonly kva: number;
  /** Phys pfn of each page. */
  readonly phys: readonly number[];
  /** Physically contiguous (a direct-map buffer): one dma_map_single covers it. */
  readonly contiguous: boolean;
}

/** How in-kernel DMA reaches the device through the system PASID. */
export interface SystemPasid {
  /** Map a segment for the device; the device address (pfn) of each page, or null (-ENOMEM). */
  mapForDevice(cpu: Cpu, seg: Segment): Op<number[] | null>;
  /** Undo mapForDevice once the device is done with the segment. */
  unmapForDevice(cpu: Cpu, seg: Segment, addrs: readonly number[]): Op;
}

// ---------------------------------------------------------------------------------------------------
// Explicit costs

export const COST_ALLOC = 0;
export const COST_PTE = 1;
export const COST_QUEUE = 2;
export const COST_WALK = 3;
export const COST_TRANSFER = 4;
export const COST_NAMES = ['alloc', 'pte', 'queue', 'walk', 'transfer'] as const;

export interface CostModel {
  /** An IOVA allocation and its later free (alloc_iova_fast + free_iova_fast), ns. */
  readonly allocNs: number;
  /** One PTE write or clear in an I/O page table, ns. */
  readonly pteNs: number;
  /** queue_iova of a lazy unmap, ns. */
  readonly queueNs: number;
  /** A device-TLB miss: the ATS translation request and the IOMMU's walk, ns. */
  readonly walkNs: number;
  /** Transfer bandwidth, MB/s (0 = transfers take no time). */
  readonly bandwidthMBps: number;
  /** The device's fixed time per job (descriptor submission, completion record), ns. */
  readonly descNs: number;
}

export function costRegions(): Record<string, RegionSpec> {
  return { 'cost.ns': { kind: 'f64', count: COST_NAMES.length, perCpu: true } };
}

/** Modelled time, charged with spend() and summed per category in the vCPU's own slot (statistics). */
export class Costs {
  private readonly r: Region;
  constructor(
    layout: Layout,
    readonly m: CostModel,
  ) {
    this.r = region(layout, 'cost.ns');
  }

  charge(cpu: Cpu, what: number, ns: number): void {
    if (ns <= 0) return;
    spend(cpu, ns);
    cpu.mem.f64[atCpu(this.r, cpu.thisCpu, what)]! += ns;
  }

  totals(f64: Float64Array, cpus: number): number[] {
    return COST_NAMES.map((_, k) => {
      let s = 0;
      for (let c = 0; c < cpus; c++) s += f64[atCpu(this.r, c, k)]!;
      return s;
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// Option 1: a separate DMA domain, driven by the DMA API

export class SeparateDomain implements SystemPasid {
  constructor(
    protected readonly dma: DmaIommu,
    protected readonly costs: Costs,
  ) {}

  /** dma_map_single for a contiguous buffer; dma_map_page per page for a vmalloc one. */
  *mapForDevice(cpu: Cpu, seg: Segment): Op<number[] | null> {
    const runs = seg.contiguous ? [[seg.phys[0]!, seg.phys.length]] : seg.phys.map((p) => [p, 1]);
    const addrs: number[] = [];
    for (const [phys, n] of runs) {
      const iova = yield* this.dma.iommuDmaMap(cpu, phys! * SZ_4K, n!);
      if (iova === 0) {
        yield* this.unmapForDevice(cpu, { ...seg, phys: seg.phys.slice(0, addrs.length) }, addrs);
        return null;
      }
      this.costs.charge(cpu, COST_ALLOC, this.costs.m.allocNs);
      this.costs.charge(cpu, COST_PTE, PgsizeTable.leaves(iova * SZ_4K, phys! * SZ_4K, n!) * this.costs.m.pteNs);
      for (let k = 0; k < n!; k++) addrs.push(iova + k);
    }
    return addrs;
  }

  *unmapForDevice(cpu: Cpu, seg: Segment, addrs: readonly number[]): Op {
    const step = seg.contiguous ? addrs.length : 1;
    for (let k = 0; k < addrs.length; k += step) {
      yield* this.dma.iommuDmaUnmap(cpu, addrs[k]!, step);
      const leaves = PgsizeTable.leaves(addrs[k]! * SZ_4K, addrs[k]! * SZ_4K, step);
      this.costs.charge(cpu, COST_PTE, leaves * this.costs.m.pteNs);
      if (this.dma.lazy) this.costs.charge(cpu, COST_QUEUE, this.costs.m.queueNs);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Option 1 with IOVA == KVA: a separate domain, no IOVA allocator, mappings shared by reference count

export function iovaEqKvaRegions(kvaPfns: number): Record<string, RegionSpec> {
  return {
    /** Per kernel VA pfn: how many in-flight DMAs use the domain's IOVA == KVA mapping of it. */
    'kva.ref': { kind: 'i32', count: kvaPfns },
    'kva.lock': { kind: 'i32', count: LOCK_WORDS },
  };
}

export class IovaEqKva implements SystemPasid {
  protected readonly refs: number;
  protected readonly lock: LockRef;

  constructor(
    layout: Layout,
    protected readonly pt: IoPgtable,
    protected readonly iotlb: Iotlb,
    protected readonly costs: Costs,
    lockRank: number,
  ) {
    this.refs = at(region(layout, 'kva.ref'));
    this.lock = lockRef('kva_map_lock', at(region(layout, 'kva.lock')), lockRank);
  }

  *mapForDevice(cpu: Cpu, seg: Segment): Op<number[] | null> {
    const addrs: number[] = [];
    for (let k = 0; k < seg.phys.length; k++) {
      const ret = yield* this.iommuMapShared(cpu, seg.kva + k, seg.phys[k]!);
      if (ret !== 0)
        cpu.fail('DMA-MAP', `${cpu.name}: iommu_map of IOVA==KVA 0x${(seg.kva + k).toString(16)} returns ${ret}`);
      addrs.push(seg.kva + k);
    }
    return addrs;
  }

  /** Drop every page's user; one iotlb_sync over the range of those whose last user this was (a gather). */
  *unmapForDevice(cpu: Cpu, _seg: Segment, addrs: readonly number[]): Op {
    let lo = Infinity;
    let hi = -1;
    for (const a of addrs) {
      if (!(yield* this.iommuUnmapShared(cpu, a))) continue;
      lo = Math.min(lo, a);
      hi = Math.max(hi, a);
    }
    // Before returning: the caller frees (and vfree reuses) only after the device TLB forgot the range.
    if (hi >= 0) yield* this.iotlb.syncRange(cpu, lo, hi - lo + 1);
  }

  /**
   * Map IOVA kva -> phys unless another in-flight DMA already did; count the user either way. Returns 0 or
   * iommu_map's errno.
   */
  protected *iommuMapShared(cpu: Cpu, kva: number, phys: number): Op<number> {
    yield* spinLock(cpu, this.lock);
    yield 'read kva refcount';
    const ref = Atomics.load(cpu.i32, this.refs + kva);
    let ret = 0;
    if (ref === 0) {
      ret = (yield* this.pt.mapPages(cpu, kva * SZ_4K, phys * SZ_4K, SZ_4K, 1)).ret;
      this.costs.charge(cpu, COST_PTE, this.costs.m.pteNs);
    }
    yield 'write kva refcount';
    Atomics.store(cpu.i32, this.refs + kva, ref + 1);
    yield* spinUnlock(cpu, this.lock);
    return ret;
  }

  /** Drop one user; the last one clears the PTE (the caller syncs the IOTLB). Returns whether it cleared. */
  protected *iommuUnmapShared(cpu: Cpu, kva: number): Op<boolean> {
    yield* spinLock(cpu, this.lock);
    yield 'read kva refcount';
    const ref = Atomics.load(cpu.i32, this.refs + kva) - 1;
    yield 'write kva refcount';
    Atomics.store(cpu.i32, this.refs + kva, ref);
    if (ref === 0) yield* this.unmapPte(cpu, kva);
    yield* spinUnlock(cpu, this.lock);
    return ref === 0;
  }

  protected *unmapPte(cpu: Cpu, kva: number): Op {
    yield* this.pt.unmapPages(cpu, kva * SZ_4K, SZ_4K, 1);
    this.costs.charge(cpu, COST_PTE, this.costs.m.pteNs);
  }
}

// ---------------------------------------------------------------------------------------------------
// Option 2: the device walks the kernel's own page table

export class SharedKernelTable implements SystemPasid, KernelPtNotifier {
  constructor(protected readonly iotlb: Iotlb) {}

  /** No DMA API: the device uses the kernel address itself. */
  *mapForDevice(_cpu: Cpu, seg: Segment): Op<number[] | null> {
    return seg.phys.map((_, k) => seg.kva + k);
  }

  *unmapForDevice(): Op {
    /* nothing to undo */
  }

  /** Every kernel PTE clear: invalidate the device TLB before the pages are freed. */
  *cleared(cpu: Cpu, vaPfn: number, pages: number): Op {
    yield* this.archInvalidateSecondaryTlbs(cpu, vaPfn, vaPfn + pages);
  }

  /** The kernel's TLB flush (the lazy vmap purge): invalidate the device TLB over the same range. */
  *tlbFlushed(cpu: Cpu, startPfn: number, endPfn: number): Op {
    yield* this.archInvalidateSecondaryTlbs(cpu, startPfn, endPfn);
  }

  /** What intel_arch_invalidate_secondary_tlbs does for a user mm: flush the range from the device's caches. */
  protected *archInvalidateSecondaryTlbs(cpu: Cpu, startPfn: number, endPfn: number): Op {
    yield* this.iotlb.syncRange(cpu, startPfn, endPfn - startPfn);
  }
}
