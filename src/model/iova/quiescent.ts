/**
 * The global scan of an iova_domain at a quiescent point (no op in flight) — kernel-model.md §2.4, §10:
 *  I1  the tree is well formed: sorted, links consistent, non-overlapping, inside [startPfn, space);
 *      both cached nodes are live nodes; node accounting adds up.
 *  I2  every pfn in a magazine starts a live tree node.
 *  I3  bucket k holds only ranges of exactly 2^k granules.
 *  I4  the depot is consistent and its magazines full.
 *  I5  a range is in at most one place: no pfn in two magazines or in two magazine slots; the shadow
 *      map (what the harness handed out and got back) agrees with the magazines and the tree.
 *  IOVA-LEAK  nothing is lost: every tree node is in use, cached, or reserved, and every allocated
 *      magazine belongs to a CPU or the depot.
 */
import type { QuiescentReport } from '../../engine/scenario.js';
import type { CheckedIovaDomain } from './checked-domain.js';
import { ANCHOR_NODE, IOVA_ANCHOR, NIL } from './iova-tree.js';
import { IOVA_MAG_SIZE, IOVA_RANGE_CACHE_MAX_SIZE } from './magazine.js';
import { FREE, RESERVED, stateName } from './shadow.js';

const hex = (x: number): string => `0x${x.toString(16)}`;

export function checkIovaDomain(d: CheckedIovaDomain, i32: Int32Array, report: QuiescentReport): void {
  if (!checkTree(d, i32, report)) return; // the rest reads the tree
  checkCaches(d, i32, report);
}

/** I1. Returns false when the tree is too broken to look anything up in it. */
function checkTree(d: CheckedIovaDomain, i32: Int32Array, report: QuiescentReport): boolean {
  const t = d.tree;
  const g = t.g;
  if (
    t.lo(i32, ANCHOR_NODE) !== IOVA_ANCHOR ||
    t.hi(i32, ANCHOR_NODE) !== IOVA_ANCHOR ||
    t.next(i32, ANCHOR_NODE) !== NIL
  ) {
    report('I1', 'the anchor node is not {~0, ~0} at the top of the tree');
    return false;
  }
  const live = new Set<number>([ANCHOR_NODE]);
  let above = ANCHOR_NODE;
  for (let n = t.prev(i32, ANCHOR_NODE); n !== NIL; above = n, n = t.prev(i32, n)) {
    if (n < 0 || n >= t.maxNodes || live.has(n)) {
      report('I1', `the node list is corrupt at node ${n}`);
      return false;
    }
    live.add(n);
    const lo = t.lo(i32, n);
    const hi = t.hi(i32, n);
    if (t.next(i32, n) !== above) {
      report('I1', `node [${hex(lo)}, ${hex(hi)}]: its successor link is inconsistent`);
      return false;
    }
    if (lo > hi) report('I1', `node [${hex(lo)}, ${hex(hi)}] is empty`);
    if (hi >= t.lo(i32, above))
      report('I1', `nodes [${hex(lo)}, ${hex(hi)}] and [${hex(t.lo(i32, above))}, ${hex(t.hi(i32, above))}] overlap`);
    if (lo < g.startPfn || hi >= g.spacePfns)
      report('I1', `node [${hex(lo)}, ${hex(hi)}] lies outside [${hex(g.startPfn)}, ${hex(g.spacePfns - 1)}]`);
    if (t.nodeAt(i32, lo) !== n) report('I1', `node [${hex(lo)}, ${hex(hi)}] is not found by its first pfn`);
  }
  if (live.size !== t.liveNodes(i32)) report('I1', `the tree holds ${live.size} nodes but counts ${t.liveNodes(i32)}`);
  let free = 0;
  for (let n = t.freeHead(i32); n !== NIL && free <= t.maxNodes; n = t.next(i32, n)) free++;
  if (free + live.size !== t.maxNodes) report('I1', `node pool: ${free} free + ${live.size} live != ${t.maxNodes}`);
  for (const [name, n] of [
    ['cached_node', t.cachedNode(i32)],
    ['cached32_node', t.cached32Node(i32)],
  ] as const) {
    if (!live.has(n)) report('I1', `${name} points at node ${n}, which is not in the tree`);
  }
  return true;
}

function checkCaches(d: CheckedIovaDomain, i32: Int32Array, report: QuiescentReport): void {
  const { pool, depot } = d.rcache;
  const t = d.tree;
  const owner = new Map<number, string>(); // magazine -> where it is
  const cachedAt = new Map<number, string>(); // pfn (range start) -> which magazine slot
  const claim = (m: number, where: string): boolean => {
    if (!pool.valid(m)) {
      report('I5', `${where} is magazine ${m}, which does not exist`);
      return false;
    }
    const other = owner.get(m);
    if (other !== undefined) {
      report('I5', `magazine ${m} is both ${other} and ${where}`);
      return false;
    }
    if (pool.isFree(i32, m)) report('I5', `${where} is magazine ${m}, which is free in the pool`);
    owner.set(m, where);
    return true;
  };
  const entries = (m: number, n: number, k: number, where: string): void => {
    for (let j = 0; j < n; j++) {
      const pfn = i32[pool.slot(m, j)]!;
      const slot = `${where}[${j}]`;
      const again = cachedAt.get(pfn);
      if (again !== undefined) report('I5', `pfn ${hex(pfn)} is cached twice: ${again} and ${slot}`);
      cachedAt.set(pfn, slot);
      const node = t.nodeAt(i32, pfn);
      if (node === NIL) {
        report('I2', `${slot} holds ${hex(pfn)}, which starts no rbtree node`);
        continue;
      }
      const len = t.hi(i32, node) - t.lo(i32, node) + 1;
      if (len !== 1 << k)
        report('I3', `${slot} holds the ${len}-granule range at ${hex(pfn)} in bucket ${k} (${1 << k} granules)`);
    }
  };
  for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
    for (let c = 0; c < d.rcache.cpus; c++) {
      for (const [what, m] of [
        ['loaded', d.rcache.loaded(i32, c, k)],
        ['prev', d.rcache.prev(i32, c, k)],
      ] as const) {
        const where = `cpu${c} bucket-${k} ${what}`;
        if (!claim(m, where)) continue;
        const n = pool.size(i32, m);
        if (n < 0 || n > IOVA_MAG_SIZE) {
          report('I4', `${where} counts ${n} pfns`);
          continue;
        }
        entries(m, n, k, where);
      }
    }
    const { mags, bad } = depot.contents(i32, k);
    if (bad) report('I4', `bucket-${k} depot: ${bad}`);
    mags.forEach((m, j) => {
      const where = `bucket-${k} depot magazine ${j}`;
      if (!claim(m, where)) return;
      const n = depot.magCount(i32, m);
      if (n !== IOVA_MAG_SIZE) report('I4', `${where} holds ${n} pfns, not ${IOVA_MAG_SIZE}`);
      entries(m, Math.min(Math.max(n, 0), IOVA_MAG_SIZE), k, where);
    });
  }
  for (let m = 0; m < pool.count; m++) {
    if (!pool.isFree(i32, m) && !owner.has(m))
      report('IOVA-LEAK', `magazine ${m} is allocated but belongs to no CPU and is not in the depot`);
  }
  if (d.shadow.enabled) checkShadow(d, i32, cachedAt, report);
}

/** The shadow map against the tree and the magazines (I2, I5, IOVA-LEAK). */
function checkShadow(
  d: CheckedIovaDomain,
  i32: Int32Array,
  cachedAt: ReadonlyMap<number, string>,
  report: QuiescentReport,
): void {
  const t = d.tree;
  const sh = d.shadow;
  const space = t.g.spacePfns;
  // Which pfns the magazines cover (a cached range is its tree node's extent).
  const covered = new Uint8Array(space);
  for (const pfn of cachedAt.keys()) {
    const node = t.nodeAt(i32, pfn);
    if (node === NIL) continue;
    for (let p = pfn; p <= t.hi(i32, node) && p < space; p++) covered[p] = 1;
  }
  const inTree = new Uint8Array(space);
  for (const [lo, hi] of t.ranges(i32)) for (let p = Math.max(lo, 0); p <= hi && p < space; p++) inTree[p] = 1;
  let reports = 0;
  const say = (inv: string, msg: string): void => {
    if (reports++ < 8) report(inv, msg);
  };
  for (let p = 0; p < space; p++) {
    const v = sh.stateOf(i32, p);
    if (!inTree[p]) {
      if (v > 0) say('I5', `pfn ${hex(p)} is ${stateName(v)} but free in the rbtree`);
      else if (v === RESERVED) say('I1', `reserved pfn ${hex(p)} has no rbtree node`);
      continue;
    }
    if (covered[p] && v !== FREE) say('I5', `pfn ${hex(p)} sits in a magazine but is ${stateName(v)}`);
    else if (!covered[p] && v === FREE)
      say('IOVA-LEAK', `pfn ${hex(p)} has an rbtree node but nobody holds it and no magazine caches it: lost`);
  }
}
