/**
 * The IOVA allocator under `iova_rbtree_lock` — kernel-model.md §2.1, §2.2 (IOVA-NEW, drivers/iommu/iova.c).
 *
 * Top-down, optionally size-aligned allocation below an exclusive limit; the search starts at the
 * cached node (`cachedNode`, or `cached32Node` when the limit is inside the 32-bit window), walks
 * predecessors, and when it runs out of room below the cached node makes a second pass between the
 * cached node and the limit (the RETRY pass); a failure records `max32AllocSize`, a hint that lets the
 * next 32-bit request of that size or larger fail without a walk. Free moves the cached nodes to the
 * freed node's successor; reserve merges with overlapping reserved ranges. An anchor node {~0, ~0} is
 * always in the tree, so every node has a successor and the search always has a place to start.
 *
 * Simplifications, each marked where it happens:
 *  - the rbtree is a pool of nodes linked in pfn order (prev/next indices) plus a pfn -> node map for
 *    the starting pfn of every node. Every operation the algorithm performs on the tree — predecessor,
 *    successor, insertion next to the node the search stopped at, lookup of a range by its first pfn —
 *    has the same result on a sorted list as on the rbtree, so the same requests get the same pfns.
 *  - pfns are unsigned longs (64-bit), stored sign-extended from 32 bits: a node's pfn_lo and pfn_hi are
 *    each one i32 word holding the low 32 bits of the 64-bit value, whose upper 32 bits are copies of bit
 *    31. That represents [0, 2^31) — every model range: spaces are below 2^31 granules — and the top of
 *    the u64 space, where the anchor's ~0UL is the word -1, exactly; setPfn refuses anything else. The
 *    algorithm reads a word as a JS number: a pfn below 2^31 as itself, the top values as the nearest
 *    double (~0UL as IOVA_ANCHOR = 2^64), which orders above every pfn as ~0UL does. The one unsigned wrap
 *    the allocator's correctness depends on — `retry_pfn = pfn_hi + 1` on the anchor, the bug of
 *    dcdb3ba7e2a8 — is computed exactly on the stored word (pfnHiPlusOne: -1 + 1 = 0). `high - size`
 *    wrapping is handled where it happens (a negative number here, a huge one in the kernel: the same
 *    outcome). Why not two i32 halves per pfn: every tree walk reads pfns, and a second load and test per
 *    read made the bare allocator 2x slower for values the model never produces.
 *  - node memory (alloc_iova_mem, a kmem_cache in the kernel) is a free list of pool nodes that is only
 *    touched under the tree lock; the pool is sized for the worst case (every pfn its own node), so it
 *    never fails, where kmem_cache_zalloc(GFP_ATOMIC) could.
 *  - the body of each critical section is one scheduling point: every access to the tree, in every
 *    variant, is made under `iova_rbtree_lock`, so no other vCPU can observe an intermediate state and
 *    finer points would only multiply schedules. `assertLocked` turns a future lock-free access into a
 *    model error instead of a silent race.
 */
import type { Cpu, LockRef, Op, Site } from '../../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';
import { LOCK_WORDS, lockHeld, lockRef, spinLock, spinUnlock } from '../../engine/sync.js';
import { RANK_RBTREE, RBTREE_LOCK_NAME } from './locks.js';

/**
 * IOVA_ANCHOR: the anchor's pfn, ~0UL, as the model reads a pfn word into a number: 2^64, the double
 * nearest to 2^64 - 1 (stored exactly, as the word -1; compares above every pfn, as ~0UL does).
 */
export const IOVA_ANCHOR = 2 ** 64;
export const NIL = -1;

/** A sign-extended pfn word with bit 31 set (the top of the u64 space) as a number: ~0UL is IOVA_ANCHOR. */
const topPfn = (word: number): number => 2 ** 64 + word;

// Node fields (i32 words per node); pfn_lo and pfn_hi are sign-extended 64-bit values (file header).
const LO = 0;
const HI = 1;
const PREV = 2;
const NEXT = 3;
const NODE_WORDS = 4;

// Header words.
const H_CACHED = 0;
const H_CACHED32 = 1;
const H_MAX32 = 2;
const H_FREE = 3;
const H_LIVE = 4;
const HDR_WORDS = 5;

export const ANCHOR_NODE = 0;

/** Which pfn word of a node: pfn_lo or pfn_hi (for setPfn in a subclass). */
export const PFN_LO = LO;
export const PFN_HI = HI;
type PfnField = typeof LO | typeof HI;

export interface IovaGeometry {
  /** First allocatable pfn (dma-iommu uses base_pfn >= 1, so pfn 0 is never handed out). */
  readonly startPfn: number;
  /**
   * dma_32bit_pfn: 1 << (32 - iova_shift) in the kernel. Simplification: scaled down with the model's
   * small space, so that a 32-bit window (below it) and a high window (above it) both exist.
   */
  readonly dma32Pfn: number;
  /** pfns are < spacePfns; the widest limit_pfn a device has is spacePfns - 1. */
  readonly spacePfns: number;
}

export function iovaTreeRegions(g: IovaGeometry): Record<string, RegionSpec> {
  return {
    'iova.lock': { kind: 'i32', count: LOCK_WORDS },
    'iova.hdr': { kind: 'i32', count: HDR_WORDS },
    'iova.nodes': { kind: 'i32', count: maxNodes(g) * NODE_WORDS },
    /** node id + 1 of the node whose pfnLo is this pfn, else 0 (stands in for the rbtree search). */
    'iova.pfnNode': { kind: 'i32', count: g.spacePfns },
  };
}

/** Anchor + one node per pfn (the worst case: every range one granule) + one spare. */
function maxNodes(g: IovaGeometry): number {
  return g.spacePfns + 2;
}

const fls = (x: number): number => 32 - Math.clz32(x);

const SITE_ALLOC = 'rbtree alloc_iova';
/**
 * alloc_iova_fast's retry after the one-shot rcache flush: the same access, labelled apart so coverage
 * names the IOVA-space-full path (issue 13 item 2).
 */
export const SITE_ALLOC_RETRY = 'rbtree alloc_iova (retry after the rcache flush)';
const SITE_FREE = 'rbtree free_iova';
const SITE_RESERVE = 'rbtree reserve_iova';

export class IovaTree {
  readonly lock: LockRef;
  readonly maxNodes: number;
  protected readonly hdr: number;
  protected readonly nodes: number;
  protected readonly pfnNode: number;

  constructor(
    layout: Layout,
    readonly g: IovaGeometry,
  ) {
    if (!(g.startPfn >= 1 && g.startPfn < g.dma32Pfn && g.dma32Pfn <= g.spacePfns && g.spacePfns <= 2 ** 31)) {
      throw new RangeError(
        `iova: need 1 <= startPfn < dma32Pfn <= spacePfns (got ${g.startPfn}, ${g.dma32Pfn}, ${g.spacePfns})`,
      );
    }
    this.lock = lockRef(RBTREE_LOCK_NAME, at(region(layout, 'iova.lock')), RANK_RBTREE);
    this.hdr = at(region(layout, 'iova.hdr'));
    this.nodes = at(region(layout, 'iova.nodes'));
    this.pfnNode = at(region(layout, 'iova.pfnNode'));
    this.maxNodes = maxNodes(g);
  }

  // -------------------------------------------------------------------------------------------------
  // Node accessors (plain: callers hold the tree lock, or the model is quiescent).

  lo(i32: Int32Array, n: number): number {
    const w = i32[this.nodes + n * NODE_WORDS + LO]!;
    return w >= 0 ? w : topPfn(w);
  }
  hi(i32: Int32Array, n: number): number {
    const w = i32[this.nodes + n * NODE_WORDS + HI]!;
    return w >= 0 ? w : topPfn(w);
  }
  /** pfn_hi + 1 in unsigned long arithmetic, exactly (from the stored word): ~0UL + 1 wraps to 0. */
  protected pfnHiPlusOne(i32: Int32Array, n: number): number {
    const w = i32[this.nodes + n * NODE_WORDS + HI]! + 1;
    return w >= 0 ? w : topPfn(w);
  }
  prev(i32: Int32Array, n: number): number {
    return i32[this.nodes + n * NODE_WORDS + PREV]!;
  }
  next(i32: Int32Array, n: number): number {
    return i32[this.nodes + n * NODE_WORDS + NEXT]!;
  }
  cachedNode(i32: Int32Array): number {
    return i32[this.hdr + H_CACHED]!;
  }
  cached32Node(i32: Int32Array): number {
    return i32[this.hdr + H_CACHED32]!;
  }
  max32AllocSize(i32: Int32Array): number {
    return i32[this.hdr + H_MAX32]!;
  }
  liveNodes(i32: Int32Array): number {
    return i32[this.hdr + H_LIVE]!;
  }
  freeHead(i32: Int32Array): number {
    return i32[this.hdr + H_FREE]!;
  }
  /** The node whose pfnLo is `pfn`, or NIL (from the pfn map; quiescent checks compare it to the list). */
  nodeAt(i32: Int32Array, pfn: number): number {
    return pfn >= 0 && pfn < this.g.spacePfns ? i32[this.pfnNode + pfn]! - 1 : NIL;
  }

  protected set(i32: Int32Array, n: number, field: number, v: number): void {
    i32[this.nodes + n * NODE_WORDS + field] = v;
  }
  /** Store a pfn (an exact integer, or IOVA_ANCHOR for ~0UL) into a 64-bit pfn word (LO or HI). */
  protected setPfn(i32: Int32Array, n: number, field: PfnField, v: number): void {
    let w: number;
    if (v >= 0 && v <= 0x7fff_ffff) w = v;
    else if (v === IOVA_ANCHOR) w = -1;
    else throw new RangeError(`iova model: pfn ${v} is outside the pfns the model stores ([0, 2^31) and ~0UL)`);
    i32[this.nodes + n * NODE_WORDS + field] = w;
  }
  protected setCachedNode(i32: Int32Array, n: number): void {
    i32[this.hdr + H_CACHED] = n;
  }
  protected setCached32Node(i32: Int32Array, n: number): void {
    i32[this.hdr + H_CACHED32] = n;
  }
  protected setMax32AllocSize(i32: Int32Array, size: number): void {
    i32[this.hdr + H_MAX32] = size;
  }

  /** init_iova_domain: only the anchor; both cached nodes at the anchor; max32AllocSize = dma32Pfn. */
  init(i32: Int32Array): void {
    const n0 = this.nodes;
    this.setPfn(i32, ANCHOR_NODE, LO, IOVA_ANCHOR);
    this.setPfn(i32, ANCHOR_NODE, HI, IOVA_ANCHOR);
    i32[n0 + PREV] = NIL;
    i32[n0 + NEXT] = NIL;
    for (let n = 1; n < this.maxNodes; n++) this.set(i32, n, NEXT, n + 1 < this.maxNodes ? n + 1 : NIL);
    i32[this.hdr + H_FREE] = this.maxNodes > 1 ? 1 : NIL;
    i32[this.hdr + H_CACHED] = ANCHOR_NODE;
    i32[this.hdr + H_CACHED32] = ANCHOR_NODE;
    i32[this.hdr + H_MAX32] = this.g.dma32Pfn;
    i32[this.hdr + H_LIVE] = 1;
    i32.fill(0, this.pfnNode, this.pfnNode + this.g.spacePfns);
  }

  // -------------------------------------------------------------------------------------------------
  // The algorithm (plain functions; the caller holds iova_rbtree_lock).

  /**
   * __alloc_and_insert_iova_range with alloc_iova's node allocation: insert a range of `size` below the
   * exclusive limit `limitExcl` (= limit_pfn + 1) and return its pfnLo, or -1 (-ENOMEM).
   */
  allocRange(i32: Int32Array, size: number, limitExcl: number, sizeAligned: boolean): number {
    // alloc_iova_mem before the search, freed again if the search fails (as alloc_iova does).
    const node = this.allocNode(i32);
    if (node === NIL) return -1;
    const g = this.g;
    // align to roundup_pow_of_two(size): ~0UL << fls_long(size - 1). pfns are < 2^31, so 32-bit ops do.
    const alignMask = sizeAligned ? -1 << fls(size - 1) : -1;
    let high = limitExcl;
    let low = g.startPfn;
    if (limitExcl <= g.dma32Pfn && size >= i32[this.hdr + H_MAX32]!) return this.freeNode(i32, node);
    let curr = limitExcl <= g.dma32Pfn ? i32[this.hdr + H_CACHED32]! : i32[this.hdr + H_CACHED]!;
    // retry_pfn = curr_iova->pfn_hi (dcdb3ba7e2a8: pfn_hi + 1 wrapped to 0 on the anchor, see variants.ts)
    const retryPfn = this.hi(i32, curr);
    let prev: number;
    let newPfn: number;
    for (;;) {
      // The kernel's pfns are unsigned: high - size may wrap to a huge value there and go negative
      // here; both end the walk and fail the `high < size` test below, so the outcome is the same.
      do {
        high = Math.min(high, this.lo(i32, curr));
        newPfn = (high - size) & alignMask;
        prev = curr;
        curr = this.prev(i32, curr);
      } while (curr !== NIL && newPfn <= this.hi(i32, curr) && newPfn >= low);
      if (high < size || newPfn < low) {
        // The RETRY pass: the gap may be above the cached node, between it and the limit.
        if (low === g.startPfn && retryPfn < limitExcl) {
          high = limitExcl;
          low = retryPfn + 1;
          curr = this.findLimit(i32, limitExcl);
          continue;
        }
        i32[this.hdr + H_MAX32] = size; // unconditionally, as the kernel does (even for a 64-bit limit)
        return this.freeNode(i32, node);
      }
      break;
    }
    // The new range lies between curr (its predecessor, maybe none) and prev: link it in there, which
    // is where iova_insert_rbtree(..., prev) puts it in the rbtree.
    this.setPfn(i32, node, LO, newPfn);
    this.setPfn(i32, node, HI, newPfn + size - 1);
    this.linkBefore(i32, node, prev);
    // __cached_rbnode_insert_update
    if (newPfn + size - 1 < g.dma32Pfn) i32[this.hdr + H_CACHED32] = node;
    else i32[this.hdr + H_CACHED] = node;
    return newPfn;
  }

  /**
   * iova_find_limit: where the retry pass starts. The anchor for a limit above the 32-bit window, else
   * the lowest node with pfnLo >= limit (the kernel's rbtree descent may stop at a higher node with
   * pfnLo >= limit, or at one straddling it; from any of those the walk reaches the same gap).
   */
  protected findLimit(i32: Int32Array, limitExcl: number): number {
    if (limitExcl > this.g.dma32Pfn) return ANCHOR_NODE;
    let n = ANCHOR_NODE;
    for (let p = this.prev(i32, n); p !== NIL && this.lo(i32, p) >= limitExcl; p = this.prev(i32, p)) n = p;
    return n;
  }

  /** private_find_iova: the node containing pfn, or NIL. */
  find(i32: Int32Array, pfn: number): number {
    // Simplification: the rbtree descent is a lookup in the pfn -> node map (same answer for a range start).
    const exact = this.nodeAt(i32, pfn);
    if (exact !== NIL) return exact;
    // Not a range start: walk down from the anchor (callers in this model always pass range starts).
    for (let n = this.prev(i32, ANCHOR_NODE); n !== NIL; n = this.prev(i32, n)) {
      if (this.lo(i32, n) <= pfn) return this.hi(i32, n) >= pfn ? n : NIL;
    }
    return NIL;
  }

  /** remove_iova + free_iova_mem: move the cached nodes off the node, unlink it, return it to the pool. */
  remove(i32: Int32Array, n: number): void {
    const g = this.g;
    const lo = this.lo(i32, n);
    const hi = this.hi(i32, n);
    // __cached_rbnode_delete_update
    const c32 = i32[this.hdr + H_CACHED32]!;
    if (n === c32 || (hi < g.dma32Pfn && lo >= this.lo(i32, c32))) i32[this.hdr + H_CACHED32] = this.next(i32, n);
    if (lo < g.dma32Pfn) i32[this.hdr + H_MAX32] = g.dma32Pfn;
    const c = i32[this.hdr + H_CACHED]!;
    if (lo >= this.lo(i32, c)) i32[this.hdr + H_CACHED] = this.next(i32, n);
    // rb_erase
    const p = this.prev(i32, n);
    const x = this.next(i32, n);
    if (p !== NIL) this.set(i32, p, NEXT, x);
    if (x !== NIL) this.set(i32, x, PREV, p);
    if (this.nodeAt(i32, lo) === n) i32[this.pfnNode + lo] = 0;
    this.freeNode(i32, n);
  }

  /** free_iova(pfn): returns the removed range as [lo, hi], or undefined when no node holds pfn. */
  freePfn(i32: Int32Array, pfn: number): readonly [number, number] | undefined {
    const n = this.find(i32, pfn);
    if (n === NIL || n === ANCHOR_NODE) return undefined;
    const r = [this.lo(i32, n), this.hi(i32, n)] as const;
    this.remove(i32, n);
    return r;
  }

  /**
   * reserve_iova: merge with every overlapping node in pfn order (extending a node down, clipping the
   * request above it), then insert what is left. Returns the node holding the end of the range, or NIL.
   */
  reserveRange(i32: Int32Array, pfnLo: number, pfnHi: number): number {
    let lo = pfnLo;
    const hi = pfnHi;
    let overlap = false;
    for (let n = this.first(i32); n !== NIL; n = this.next(i32, n)) {
      if (lo <= this.hi(i32, n) && hi >= this.lo(i32, n)) {
        // __adjust_overlap_range
        if (lo < this.lo(i32, n)) this.moveLo(i32, n, lo);
        if (hi > this.hi(i32, n)) lo = this.hi(i32, n) + 1;
        if (lo >= this.lo(i32, n) && hi <= this.hi(i32, n)) return n;
        overlap = true;
      } else if (overlap) break;
    }
    const node = this.allocNode(i32);
    if (node === NIL) return NIL;
    this.setPfn(i32, node, LO, lo);
    this.setPfn(i32, node, HI, hi);
    // iova_insert_rbtree from the root: before the first node with a higher pfnLo.
    let at = ANCHOR_NODE;
    for (let p = this.prev(i32, at); p !== NIL && this.lo(i32, p) > lo; p = this.prev(i32, p)) at = p;
    const before = this.prev(i32, at);
    if (before !== NIL && this.lo(i32, before) === lo) {
      this.freeNode(i32, node);
      return NIL;
    } // the kernel's WARN_ON(1)
    this.linkBefore(i32, node, at);
    return node;
  }

  /** rb_first. */
  first(i32: Int32Array): number {
    let n = ANCHOR_NODE;
    for (let p = this.prev(i32, n); p !== NIL; p = this.prev(i32, p)) n = p;
    return n;
  }

  protected moveLo(i32: Int32Array, n: number, lo: number): void {
    const old = this.lo(i32, n);
    if (this.nodeAt(i32, old) === n) i32[this.pfnNode + old] = 0;
    this.setPfn(i32, n, LO, lo);
    if (lo >= 0 && lo < this.g.spacePfns) i32[this.pfnNode + lo] = n + 1;
  }

  protected linkBefore(i32: Int32Array, node: number, succ: number): void {
    const p = this.prev(i32, succ);
    this.set(i32, node, PREV, p);
    this.set(i32, node, NEXT, succ);
    this.set(i32, succ, PREV, node);
    if (p !== NIL) this.set(i32, p, NEXT, node);
    const lo = this.lo(i32, node);
    if (lo >= 0 && lo < this.g.spacePfns) i32[this.pfnNode + lo] = node + 1;
  }

  /** Simplification: alloc_iova_mem is a pop from the node free list (under the tree lock; never fails here). */
  protected allocNode(i32: Int32Array): number {
    const n = i32[this.hdr + H_FREE]!;
    if (n === NIL) return NIL;
    i32[this.hdr + H_FREE] = this.next(i32, n);
    i32[this.hdr + H_LIVE]!++;
    return n;
  }

  /** Returns -1 so that a failing allocRange can `return this.freeNode(...)`. */
  protected freeNode(i32: Int32Array, n: number): -1 {
    this.set(i32, n, PREV, NIL);
    this.set(i32, n, NEXT, i32[this.hdr + H_FREE]!);
    i32[this.hdr + H_FREE] = n;
    i32[this.hdr + H_LIVE]!--;
    return -1;
  }

  // -------------------------------------------------------------------------------------------------
  // The locked entry points, as model operations.

  /**
   * alloc_iova(size, limit_pfn, size_aligned): pfnLo, or -1 (-ENOMEM). Overridable: a patch to the
   * rbtree allocator subclasses IovaTree (IovaPatch.tree); the checker watches the hand-out, not this.
   */
  *allocIova(cpu: Cpu, size: number, limitPfn: number, sizeAligned: boolean, site: Site = SITE_ALLOC): Op<number> {
    yield* spinLock(cpu, this.lock);
    // Simplification: the whole critical section is one scheduling point (see the file header).
    yield site;
    const pfn = this.allocRange(cpu.i32, size, limitPfn + 1, sizeAligned);
    yield* spinUnlock(cpu, this.lock);
    return pfn;
  }

  /** free_iova(pfn). Returns whether a node was found and removed. */
  *freeIova(cpu: Cpu, pfn: number): Op<boolean> {
    yield* spinLock(cpu, this.lock);
    yield SITE_FREE;
    const r = this.freePfn(cpu.i32, pfn);
    yield* spinUnlock(cpu, this.lock);
    return r !== undefined;
  }

  /** reserve_iova(pfn_lo, pfn_hi). Returns whether a node covers the range afterwards. */
  *reserveIova(cpu: Cpu, pfnLo: number, pfnHi: number): Op<boolean> {
    yield* spinLock(cpu, this.lock);
    yield SITE_RESERVE;
    const n = this.reserveRange(cpu.i32, pfnLo, pfnHi);
    yield* spinUnlock(cpu, this.lock);
    return n !== NIL;
  }

  /** assert_spin_locked: model code that reaches the tree without the lock is a bug in the model. */
  assertLocked(cpu: Cpu): void {
    if (!lockHeld(cpu, this.lock))
      throw new Error(`iova model: cpu${cpu.id} touches the rbtree without iova_rbtree_lock`);
  }

  /** The nodes in pfn order (anchor excluded) as [lo, hi], walking from the anchor down. Quiescent only. */
  ranges(i32: Int32Array): [number, number][] {
    const out: [number, number][] = [];
    let guard = this.maxNodes;
    for (let n = this.prev(i32, ANCHOR_NODE); n !== NIL && guard-- > 0; n = this.prev(i32, n))
      out.push([this.lo(i32, n), this.hi(i32, n)]);
    return out.reverse();
  }
}
