/**
 * The system-PASID bug variants (reference/pasid.md "Races"), as subclasses of the mechanisms in
 * system-pasid.ts; the scenario's variant list (src/scenarios/pasid.ts) names them in its patches.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { SZ_4K, EEXIST } from '../pgtable.js';
import { COST_PTE, IovaEqKva, SharedKernelTable } from './system-pasid.js';

/**
 * iova-eq-kva-norefcount: IOVA == KVA without reference counts. A page two in-flight DMAs use (a shared
 * source page) is mapped once — the second map meets -EEXIST and takes it as "already mapped" — and the
 * first unmap clears the PTE and invalidates, under the other DMA's feet.
 */
export class IovaEqKvaNoRefcount extends IovaEqKva {
  protected override *iommuMapShared(cpu: Cpu, kva: number, phys: number): Op<number> {
    const { ret } = yield* this.pt.mapPages(cpu, kva * SZ_4K, phys * SZ_4K, SZ_4K, 1);
    if (ret === 0) this.costs.charge(cpu, COST_PTE, this.costs.m.pteNs);
    return ret === EEXIST ? 0 : ret;
  }

  protected override *iommuUnmapShared(cpu: Cpu, kva: number): Op<boolean> {
    yield* this.unmapPte(cpu, kva);
    return true;
  }
}

/**
 * shared-kernel-table-noinval: option 2 exactly as the supervisor-mode SVM bind allowed it — nothing
 * invalidates the device TLB when the kernel changes its own page table ("only usable for the static
 * 1:1 mapping", Woodhouse). After vfree and the lazy purge, the vmalloc address is reused for another
 * buffer while the device still translates it to the old page.
 */
export class SharedKernelTableNoInval extends SharedKernelTable {
  protected override *archInvalidateSecondaryTlbs(): Op {
    /* nobody tells the device */
  }
}

/**
 * shared-kernel-table-lazy-purge: the device TLB is invalidated only where the CPU flushes its own —
 * hooking flush_tlb_kernel_range (the "theoretically possible" hook), i.e. batched with the lazy vmap
 * purge — and not at vunmap. Between vfree and the purge the freed pages are reused while the device can
 * still reach them through the old vmalloc address: a window, like the flush queue's.
 */
export class SharedKernelTableLazyPurge extends SharedKernelTable {
  override *cleared(): Op {
    /* wait for the purge's flush_tlb_kernel_range */
  }
}
