/**
 * The kernel's own page table (init_mm.pgd) with its direct map and a vmalloc area whose mappings come
 * and go — mm/vmalloc.c of the 6.17 tree (Kingxukai/linux): vmap_pages_range / vunmap_range_noflush,
 * alloc_vmap_area (with its overflow path reclaim_and_purge_vmap_areas), free_unmap_vmap_area,
 * free_vmap_area_noflush, __purge_vmap_area_lazy + purge_vmap_node, drain_vmap_area_work,
 * lazy_max_pages, vfree (remove_vm_area, then the pages freed at once). Reference: pasid.md.
 *
 * The point of the model is the kernel's *lazy* TLB flush for vmalloc space: vunmap clears the PTEs
 * without flushing (vunmap_range_noflush); the area goes on a lazy list (free_vmap_area_noflush) and
 * vfree frees the pages right away; only when more than lazy_max_pages() pages are lazy (or an
 * allocation finds no room) does __purge_vmap_area_lazy flush the CPU TLBs for the whole range
 * (flush_tlb_kernel_range) and give the addresses back for reuse. The CPU is fine with that — no kernel
 * code touches a vfree'd address, and the address is not reused before the flush — but a device that
 * walks this table (system PASID option 2, pasid.md) caches translations the kernel never tells it about
 * unless someone hooks the changes (KernelPtNotifier: "some way of doing an IOTLB flush", Woodhouse).
 *
 * Model geometry (simplifications): kernel VAs are page numbers in one small space — the direct map
 * maps kva pfn p to phys pfn p for every page of memory (PAGE_OFFSET = 0, 4 KiB leaves rather than the
 * kernel's 2 MiB / 1 GiB ones: exposure counts pages either way), then one unmapped guard pfn, then the
 * vmalloc area. The page-table format is io-pgtable's 4-level, 512-entry radix tree (pgtable.ts; x86-64
 * and arm64 kernel tables have the same shape). One vmap node; the free VA space is a per-page state
 * array under free_vmap_area_lock (first fit), not the augmented rbtree; every vmalloc area carries
 * the kernel's one guard page (no VM_NO_GUARD). CPU TLBs are not modelled: flush_tlb_kernel_range
 * matters here only as the point where others may hook in. The purge runs inline (no helper workers).
 */
import type { Cpu, LockRef, Op } from '../../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';
import { assertSpinLocked } from '../../engine/assert-locked.js';
import { lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../../engine/sync.js';
import type { TimerRef } from '../../engine/timer.js';
import { pagePoolRegions } from '../page-pool.js';
import { type IoPgtable, SZ_4K } from '../pgtable.js';

/** lazy_max_pages(): fls(num_online_cpus()) * (32 MiB / PAGE_SIZE). */
export function lazyMaxPages(onlineCpus: number): number {
  return (32 - Math.clz32(onlineCpus)) * ((32 * 1024 * 1024) / SZ_4K);
}

export interface KernelGeometry {
  /** Pages of memory, all in the direct map: kva pfn p -> phys pfn p, p = 1..memPages. */
  readonly memPages: number;
  readonly vmallocStart: number;
  readonly vmallocPages: number;
  /** Kernel VA pfns in all (the device's address space under option 2). */
  readonly kvaPfns: number;
}

export function kernelGeometry(memPages: number, vmallocPages: number): KernelGeometry {
  const vmallocStart = memPages + 2; // pfn memPages + 1 is a hole between the direct map and VMALLOC_START
  return { memPages, vmallocStart, vmallocPages, kvaPfns: vmallocStart + vmallocPages };
}

/** Table pages the kernel page table needs (root, one table per level above the leaves, the leaf tables). */
export function kernelTablePages(g: KernelGeometry): number {
  return 4 + Math.ceil(g.kvaPfns / 512) + 2;
}

// vmap area states, per vmalloc page.
const VA_FREE = 0;
const VA_BUSY = 1;
const VA_LAZY = 2;
const VA_PURGING = 3;

export function kernelMmRegions(g: KernelGeometry): Record<string, RegionSpec> {
  const pool = pagePoolRegions(kernelTablePages(g));
  return {
    'kpt.pages': pool['pool.pages']!,
    'kpt.free': pool['pool.free']!,
    /** Per vmalloc page: VA_FREE / VA_BUSY / VA_LAZY / VA_PURGING. */
    'vm.state': { kind: 'i32', count: g.vmallocPages },
    /** At an area's first page: its size in pages, guard page included. */
    'vm.len': { kind: 'i32', count: g.vmallocPages },
    /** vm_struct->pages: the phys pfn behind each mapped vmalloc page. */
    'vm.pages': { kind: 'i32', count: g.vmallocPages },
    /** vmap_lazy_nr. */
    'vm.lazyNr': { kind: 'i32', count: 1 },
    'vm.locks': { kind: 'i32', count: 3 * LOCK_WORDS },
    /** Statistics: kernel page-table changes (vmap and vunmap calls). */
    'vm.changes': { kind: 'i32', count: 1, perCpu: true },
  };
}

/** The kernel page table's page pool under the names PagePool expects (one wiring spot: a second pool). */
export function kernelPoolLayout(layout: Layout): Layout {
  const pool = { 'pool.pages': region(layout, 'kpt.pages'), 'pool.free': region(layout, 'kpt.free') };
  const regions = { ...layout.regions, ...pool };
  return { ...layout, regions };
}

/**
 * Who else must hear about kernel page-table changes: nobody in the kernel (option 1), or the system
 * PASID's device TLB when the device walks init_mm.pgd (option 2, system-pasid.ts).
 */
export interface KernelPtNotifier {
  /** vunmap_range_noflush cleared the PTEs of [vaPfn, vaPfn + pages); the pages are freed next. */
  cleared(cpu: Cpu, vaPfn: number, pages: number): Op;
  /** flush_tlb_kernel_range(start, end): the CPUs' TLB flush (the lazy purge's, for vmalloc space). */
  tlbFlushed(cpu: Cpu, startPfn: number, endPfn: number): Op;
}

export const NO_NOTIFIER: KernelPtNotifier = {
  *cleared() {
    /* option 1: the kernel table is the CPU's alone */
  },
  *tlbFlushed() {
    /* likewise */
  },
};

/** Lock ranks: vmap_purge_lock (a mutex) is taken before the lazy and free locks, never inside them. */
export const RANK_PURGE = 20;
const RANK_LAZY = 21;
const RANK_FREE = 22;

export interface KernelMmOptions {
  readonly geometry: KernelGeometry;
  /** The purge threshold in pages (lazy_max_pages(), or smaller to purge within a short run). */
  readonly lazyMax: number;
  /** drain_vmap_work, scheduled when vmap_lazy_nr passes lazyMax (a work item: fires with no delay). */
  readonly drainWork: TimerRef;
}

export class KernelMm {
  readonly g: KernelGeometry;
  private readonly state: number;
  private readonly len: number;
  private readonly pages: number;
  private readonly lazyNr: number;
  private readonly changes: Region32;
  readonly purgeLock: LockRef;
  readonly lazyLock: LockRef;
  readonly freeLock: LockRef;

  constructor(
    layout: Layout,
    readonly pt: IoPgtable,
    public notifier: KernelPtNotifier,
    readonly o: KernelMmOptions,
  ) {
    this.g = o.geometry;
    this.state = at(region(layout, 'vm.state'));
    this.len = at(region(layout, 'vm.len'));
    this.pages = at(region(layout, 'vm.pages'));
    this.lazyNr = at(region(layout, 'vm.lazyNr'));
    const r = region(layout, 'vm.changes');
    this.changes = { base: r.base, stride: r.stride };
    const locks = at(region(layout, 'vm.locks'));
    this.purgeLock = lockRef('vmap_purge_lock', locks, RANK_PURGE);
    this.lazyLock = lockRef('vn->lazy.lock', locks + LOCK_WORDS, RANK_LAZY);
    this.freeLock = lockRef('free_vmap_area_lock', locks + 2 * LOCK_WORDS, RANK_FREE);
  }

  /** Boot: map the direct map (all of memory). Runs on a setup Cpu before any vCPU. */
  *mapDirectMap(cpu: Cpu): Op {
    for (let p = 1; p <= this.g.memPages;) {
      const { ret, mapped } = yield* this.pt.mapPages(cpu, p * SZ_4K, p * SZ_4K, SZ_4K, this.g.memPages - p + 1);
      if (ret !== 0) throw new Error(`pasid: direct map at pfn ${p} failed (${ret})`);
      p += mapped / SZ_4K;
    }
  }

  /** The phys pfn behind vmalloc page `va` (vmalloc_to_page), for the device's owner of a buffer. */
  vmallocToPfn(i32: Int32Array, va: number): number {
    return Atomics.load(i32, this.pages + va - this.g.vmallocStart);
  }

  /**
   * vmap(pages, count): a vmalloc area for the given phys pages, mapped (vmap_pages_range). Returns the
   * first VA pfn, or 0 when the vmalloc space is full even after a purge.
   */
  *vmap(cpu: Cpu, phys: readonly number[]): Op<number> {
    const va = yield* this.allocVmapArea(cpu, phys.length + 1);
    if (va === 0) return 0;
    for (let k = 0; k < phys.length; k++) {
      // No scheduling point of its own (issue 13): the area is this vCPU's, handed out under
      // free_vmap_area_lock just before; nobody reads its pages[] until it is vunmapped.
      Atomics.store(cpu.i32, this.pages + va + k - this.g.vmallocStart, phys[k]!);
      const { ret } = yield* this.pt.mapPages(cpu, (va + k) * SZ_4K, phys[k]! * SZ_4K, SZ_4K, 1);
      // vmap_pages_pte_range WARNs on a present PTE (-EBUSY): the area was handed out twice.
      if (ret !== 0)
        cpu.fail('PT-OVERWRITE', `${cpu.name}: vmap of kva page 0x${(va + k).toString(16)} finds it mapped (${ret})`);
    }
    this.countChange(cpu);
    return va;
  }

  /**
   * vfree: remove_vm_area (unmap without a TLB flush, the area onto the lazy list), then free every page
   * at once — the kernel relies on nobody touching the address and on the address not being reused
   * before the lazy purge flushes. `freePage` is the page allocator's __free_page.
   */
  *vfree(cpu: Cpu, va: number, freePage: (cpu: Cpu, pfn: number) => Op): Op {
    const n = Atomics.load(cpu.i32, this.len + va - this.g.vmallocStart) - 1;
    const phys: number[] = [];
    for (let k = 0; k < n; k++) phys.push(this.vmallocToPfn(cpu.i32, va + k));
    yield* this.freeUnmapVmapArea(cpu, va, n);
    for (const p of phys) yield* freePage(cpu, p);
  }

  /** free_unmap_vmap_area: unmap (no flush), then free_vmap_area_noflush. */
  protected *freeUnmapVmapArea(cpu: Cpu, va: number, pages: number): Op {
    yield* this.vunmapRangeNoflush(cpu, va, pages);
    yield* this.freeVmapAreaNoflush(cpu, va);
  }

  /** vunmap_range_noflush: clear the PTEs; the caller flushes later (here: the lazy purge). */
  protected *vunmapRangeNoflush(cpu: Cpu, va: number, pages: number): Op {
    for (let done = 0; done < pages;) {
      const n = yield* this.pt.unmapPages(cpu, (va + done) * SZ_4K, SZ_4K, pages - done);
      if (n === 0) break;
      done += n / SZ_4K;
    }
    this.countChange(cpu);
    yield* this.notifier.cleared(cpu, va, pages);
  }

  /** free_vmap_area_noflush: onto the lazy list; schedule the drain once more than lazy_max_pages are lazy. */
  protected *freeVmapAreaNoflush(cpu: Cpu, va: number): Op {
    const i32 = cpu.i32;
    const i = va - this.g.vmallocStart;
    const size = Atomics.load(i32, this.len + i);
    yield 'atomic_long_add_return vmap_lazy_nr';
    const nrLazy = Atomics.add(i32, this.lazyNr, size) + size;
    yield* spinLock(cpu, this.lazyLock);
    yield 'insert_vmap_area lazy';
    // The area's state words in one point (a collapsed loop; issue 13 item 3): BUSY -> LAZY is seen only
    // by the purge's scan for LAZY, which holds vn->lazy.lock as we do; the allocator (under
    // free_vmap_area_lock) looks for FREE, which neither state is.
    assertSpinLocked(cpu, this.lazyLock, 'inserts into the lazy list');
    for (let k = 0; k < size; k++) Atomics.store(i32, this.state + i + k, VA_LAZY);
    yield* spinUnlock(cpu, this.lazyLock);
    if (nrLazy > this.o.lazyMax) yield* this.o.drainWork.schedule(cpu, 0, 'schedule_work drain_vmap_work');
  }

  /** drain_vmap_area_work (and reclaim_and_purge_vmap_areas): purge under vmap_purge_lock. */
  *drainVmapAreaWork(cpu: Cpu): Op<boolean> {
    yield* spinLock(cpu, this.purgeLock);
    const purged = yield* this.purgeVmapAreaLazy(cpu);
    yield* spinUnlock(cpu, this.purgeLock);
    return purged;
  }

  /**
   * __purge_vmap_area_lazy: take the whole lazy list, flush the CPU TLBs over its range once, then
   * give the areas back to the free space (purge_vmap_node, reclaim_list_global). Holds vmap_purge_lock.
   */
  protected *purgeVmapAreaLazy(cpu: Cpu): Op<boolean> {
    const i32 = cpu.i32;
    yield* spinLock(cpu, this.lazyLock);
    yield 'list_replace_init lazy -> purge_list';
    // LAZY -> PURGING of every lazy area in one point (__purge_vmap_area_lazy's list_replace_init under
    // vn->lazy.lock, mm/vmalloc.c): only holders of that lock look for LAZY; FREE-seekers see neither.
    assertSpinLocked(cpu, this.lazyLock, 'takes the lazy list');
    let start = Infinity;
    let end = 0;
    let nr = 0;
    for (let k = 0; k < this.g.vmallocPages; k++) {
      if (Atomics.load(i32, this.state + k) !== VA_LAZY) continue;
      Atomics.store(i32, this.state + k, VA_PURGING);
      start = Math.min(start, k);
      end = k + 1;
      nr++;
    }
    yield* spinUnlock(cpu, this.lazyLock);
    if (nr === 0) return false;
    const base = this.g.vmallocStart;
    yield* this.flushTlbKernelRange(cpu, base + start, base + end);
    yield 'atomic_long_sub vmap_lazy_nr';
    Atomics.sub(i32, this.lazyNr, nr);
    yield* spinLock(cpu, this.freeLock);
    yield 'reclaim_list_global';
    // PURGING -> FREE of the purged areas in one point: reclaim_list_global (mm/vmalloc.c) merges the whole
    // purge list back under free_vmap_area_lock, and FREE is read only by the allocator under the same
    // lock; the lazy side looks for LAZY, which neither state is (issue 13 item 3).
    assertSpinLocked(cpu, this.freeLock, 'reclaim_list_global');
    for (let k = start; k < end; k++) {
      if (Atomics.load(i32, this.state + k) === VA_PURGING) Atomics.store(i32, this.state + k, VA_FREE);
    }
    yield* spinUnlock(cpu, this.freeLock);
    return true;
  }

  /** flush_tlb_kernel_range: the CPUs' TLBs (not modelled), and whoever hooks it. */
  protected *flushTlbKernelRange(cpu: Cpu, startPfn: number, endPfn: number): Op {
    yield 'flush_tlb_kernel_range';
    yield* this.notifier.tlbFlushed(cpu, startPfn, endPfn);
  }

  /**
   * alloc_vmap_area: first fit in the free VA space; on overflow, purge the lazy areas once and retry
   * (reclaim_and_purge_vmap_areas). Returns the first VA pfn, or 0 (-EBUSY: "vmalloc_node_range failed").
   */
  protected *allocVmapArea(cpu: Cpu, size: number): Op<number> {
    const i32 = cpu.i32;
    for (let purged = false; ; purged = true) {
      yield* spinLock(cpu, this.freeLock);
      yield '__alloc_vmap_area';
      let found = -1;
      for (let k = 0, run = 0; k < this.g.vmallocPages; k++) {
        run = Atomics.load(i32, this.state + k) === VA_FREE ? run + 1 : 0;
        if (run === size) {
          found = k - size + 1;
          break;
        }
      }
      if (found >= 0) {
        for (let k = 0; k < size; k++) Atomics.store(i32, this.state + found + k, VA_BUSY);
        Atomics.store(i32, this.len + found, size);
      }
      yield* spinUnlock(cpu, this.freeLock);
      if (found >= 0) return this.g.vmallocStart + found;
      if (purged) return 0;
      yield* this.drainVmapAreaWork(cpu);
    }
  }

  private countChange(cpu: Cpu): void {
    const k = this.changes.base + cpu.thisCpu * this.changes.stride;
    Atomics.add(cpu.i32, k, 1);
  }

  /** Kernel page-table changes so far (vmap + vunmap calls; statistics). */
  changeCount(i32: Int32Array, cpus: number): number {
    let n = 0;
    for (let c = 0; c < cpus; c++) n += Atomics.load(i32, this.changes.base + c * this.changes.stride);
    return n;
  }

  /** vmalloc pages in each state (quiescent checks): [free, busy, lazy, purging]. */
  areaStates(i32: Int32Array): number[] {
    const out = [0, 0, 0, 0];
    for (let k = 0; k < this.g.vmallocPages; k++) out[Atomics.load(i32, this.state + k)]!++;
    return out;
  }

  lazyCount(i32: Int32Array): number {
    return Atomics.load(i32, this.lazyNr);
  }
}

interface Region32 {
  readonly base: number;
  readonly stride: number;
}
