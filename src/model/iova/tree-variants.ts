/**
 * Variants of the IOVA rbtree allocator (iova-tree.ts) — kernel-model.md §2.2 (rbtree allocation; the
 * RETRY off-by-one note): patches to __alloc_and_insert_iova_range as subclasses of IovaTree
 * (IovaPatch.tree). Listed in variants.ts.
 */
import { IovaTree, NIL, PFN_HI, PFN_LO } from './iova-tree.js';

/**
 * alloc-overflow: __alloc_and_insert_iova_range before dcdb3ba7e2a8 "iommu/iova: Fix alloc iova overflows
 * issue" (Yunfei Wang, v6.2-rc4, stable). retry_pfn was `curr_iova->pfn_hi + 1` and the retry pass's low
 * bound `retry_pfn`: when the search starts at the anchor (cached node = anchor, pfn_hi = ~0UL), retry_pfn
 * wraps to 0, so `retry_pfn < limit_pfn` holds, and the retry pass searches down to pfn 0 — below
 * start_pfn — instead of failing. The fix keeps retry_pfn = pfn_hi and sets low_pfn = retry_pfn + 1.
 */
export class AllocOverflowTree extends IovaTree {
  override allocRange(i32: Int32Array, size: number, limitExcl: number, sizeAligned: boolean): number {
    const node = this.allocNode(i32);
    if (node === NIL) return -1;
    const g = this.g;
    const alignMask = sizeAligned ? -1 << (32 - Math.clz32(size - 1)) : -1;
    let high = limitExcl;
    let low = g.startPfn;
    if (limitExcl <= g.dma32Pfn && size >= this.max32AllocSize(i32)) return this.freeNode(i32, node);
    let curr = limitExcl <= g.dma32Pfn ? this.cached32Node(i32) : this.cachedNode(i32);
    // The bug: pfn_hi + 1 in unsigned long, which is 0 on the anchor.
    const retryPfn = this.pfnHiPlusOne(i32, curr);
    let prev: number;
    let newPfn: number;
    for (;;) {
      do {
        high = Math.min(high, this.lo(i32, curr));
        newPfn = (high - size) & alignMask;
        prev = curr;
        curr = this.prev(i32, curr);
      } while (curr !== NIL && newPfn <= this.hi(i32, curr) && newPfn >= low);
      if (high < size || newPfn < low) {
        if (low === g.startPfn && retryPfn < limitExcl) {
          high = limitExcl;
          low = retryPfn;
          curr = this.findLimit(i32, limitExcl);
          continue;
        }
        this.setMax32AllocSize(i32, size);
        return this.freeNode(i32, node);
      }
      break;
    }
    this.setPfn(i32, node, PFN_LO, newPfn);
    this.setPfn(i32, node, PFN_HI, newPfn + size - 1);
    this.linkBefore(i32, node, prev);
    if (newPfn + size - 1 < g.dma32Pfn) this.setCached32Node(i32, node);
    else this.setCachedNode(i32, node);
    return newPfn;
  }
}
