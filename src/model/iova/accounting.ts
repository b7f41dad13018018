/**
 * Complete accounting of an iova_domain's ranges — kernel-model.md §2.4 (I5: a pfn is in one place at a
 * time) extended to the consumers of the allocator, and §10 ("every object is somewhere, exactly once").
 *
 * Harness code only: it reads the shadow map (what CheckedIovaDomain handed out and got back), the
 * rbtree, the magazines and what the scenario says its consumers hold, and drives the final drain
 * through the same checked hand-in every consumer uses. Nothing here runs inside a method a variant
 * may override, except the drain, which calls the kernel's own flush-all functions on purpose: giving
 * every range back is what they are for, and the shadow map judges what they give back.
 *
 *  IOVA-ACCT  at a quiescent point every range the allocator handed out is held by exactly one of the
 *             scenario's holders (a live buffer, a flush-queue entry, a mailbox slot): one held by
 *             nobody is lost (a ring dropped it), one held twice will be freed twice, one held but the
 *             allocator's (free or cached) was freed while still in use. quiescent.ts already judges the
 *             allocator's side: a range is free in the tree or in exactly one magazine slot (I5, I2,
 *             IOVA-LEAK).
 *  IOVA-DRAIN after the final drain — the holders give their ranges back through the checked hand-in,
 *             every CPU's magazines and every depot are flushed (free_cpu_cached_iovas,
 *             free_global_cached_iovas) — the allocator has every range back exactly once: the tree holds
 *             nothing but the anchor and the reserved window, no magazine holds a pfn, and the shadow
 *             says no pfn is in use (a range given back twice is I5 at its second hand-in).
 */
import type { InvariantDef } from '../../check/invariant.js';
import type { JudgedCount } from '../../check/judged.js';
import { Checker } from '../../check/checker.js';
import { Cpu, type Op } from '../../engine/cpu.js';
import type { Memory } from '../../engine/layout.js';
import type { QuiescentReport } from '../../engine/scenario.js';
import type { CheckedIovaDomain } from './checked-domain.js';
import { ANCHOR_NODE, NIL } from './iova-tree.js';
import { IOVA_RANGE_CACHE_MAX_SIZE } from './magazine.js';
import { RESERVED, stateName } from './shadow.js';

export const IOVA_ACCT_INVARIANTS: readonly InvariantDef[] = [
  {
    id: 'IOVA-ACCT',
    meaning:
      'at a quiescent point every IOVA range handed out is held by exactly one consumer (a live buffer, a flush-queue entry, ...): none lost, none held twice, none held after its free',
    grade: 'FORBIDDEN',
  },
  {
    id: 'IOVA-DRAIN',
    meaning:
      'after the final drain (consumers give back, every magazine and depot flushed) every range is back in the rbtree allocator, exactly once',
    grade: 'FORBIDDEN',
  },
];

/**
 * ENOMEM after the one-shot flush, judged (issue 13 item 4): every allocation that fails with
 * flush_rcache set has flushed every CPU's magazines and the depots first, so the failures the harness
 * classifies (ENOMEM, ENOMEM-SPURIOUS, counted only with the shadow checks on) never outnumber the
 * flushes (IOVA-FLUSH). A change that fails without flushing breaks it at the end of the execution.
 */
export const ENOMEM_COUNT: JudgedCount = {
  id: 'ENOMEM-COUNT',
  meaning:
    'ENOMEM + ENOMEM-SPURIOUS <= IOVA-FLUSH: an allocation fails after the one-shot flush only, never instead of it',
  count: ['ENOMEM', 'ENOMEM-SPURIOUS'],
  atMost: ['IOVA-FLUSH'],
  when: { checks: 1 },
};

/** A range some consumer holds at a quiescent point: who (for messages), its first pfn, its size in granules. */
export interface HeldRange {
  readonly who: string;
  readonly pfn: number;
  readonly pages: number;
}

const hex = (x: number): string => `0x${x.toString(16)}`;

/**
 * IOVA-ACCT on a quiescent model: `held` must be exactly the ranges the shadow says are in use — each
 * once. `complete`: the holders are all there are (else only "held twice" and "held but free" are judged).
 */
export function checkIovaHolders(
  d: CheckedIovaDomain,
  i32: Int32Array,
  held: Iterable<HeldRange>,
  report: QuiescentReport,
  complete = true,
): void {
  if (!d.shadow.enabled) return;
  const sh = d.shadow;
  const space = sh.spacePfns;
  const byPfn = new Map<number, string>();
  let reports = 0;
  const say = (msg: string): void => {
    if (reports++ < 8) report('IOVA-ACCT', msg);
  };
  for (const h of held) {
    const other = byPfn.get(h.pfn);
    if (other !== undefined) {
      say(`IOVA ${hex(h.pfn)} (+${h.pages}) is held twice: by ${other} and by ${h.who}; it will be freed twice`);
      continue;
    }
    byPfn.set(h.pfn, h.who);
    const v = h.pfn >= 0 && h.pfn < space ? sh.stateOf(i32, h.pfn) : 0;
    if (v <= 0)
      say(`${h.who} holds IOVA ${hex(h.pfn)} (+${h.pages}), which is ${stateName(v)}: freed while still held`);
  }
  if (!complete) return;
  // Every rbtree range the shadow says is in use must be held by someone (reserved ones are nobody's).
  const t = d.tree;
  for (const [lo, hi] of t.ranges(i32)) {
    if (lo < 0 || lo >= space) continue;
    const v = sh.stateOf(i32, lo);
    if (v > 0 && !byPfn.has(lo))
      say(
        `IOVA [${hex(lo)}, ${hex(hi)}] is ${stateName(v)} but no buffer or queue entry holds it: lost ` +
          '(it will never be freed)',
      );
  }
}

/** Steps the drain may take before it is judged stuck (a lock left held, a loop that never ends). */
const DRAIN_STEP_LIMIT = 5_000_000;

/**
 * The final drain on a quiescent model, then IOVA-DRAIN. `giveBack` returns every range the consumers
 * hold through the checked hand-in (it may flush an IOTLB first); then every CPU's magazines and every
 * depot are flushed with the kernel's own functions. It changes `mem`: the executors call it at the end
 * of an execution or slice (or on a copy). The drain's own checks (I5 on a range given back twice, DEPOT-*)
 * are reported too. `complete` false: some consumers' ranges are out of the harness's reach (a vCPU
 * program's own list), so a range the shadow says is in use may stay in the tree.
 */
export function drainIovaDomain(
  d: CheckedIovaDomain,
  mem: Memory,
  invariants: readonly InvariantDef[],
  giveBack: (cpu: Cpu) => Op,
  report: QuiescentReport,
  complete = true,
): void {
  const checker = new Checker(invariants);
  const cpu = new Cpu(0, 'explore', mem, checker);
  cpu.name = 'drain';
  const body = function* (): Op {
    yield* giveBack(cpu);
    for (let c = 0; c < d.rcache.cpus; c++) yield* d.rcache.freeCpuCachedIovas(cpu, c);
    yield* d.rcache.freeGlobalCachedIovas(cpu);
  };
  const op = body();
  let steps = 0;
  for (let r = op.next(); !r.done; r = op.next()) {
    if (++steps > DRAIN_STEP_LIMIT || checker.failed) {
      if (!checker.failed) report('IOVA-DRAIN', `the final drain did not finish within ${DRAIN_STEP_LIMIT} steps`);
      break;
    }
  }
  for (const v of checker.violations) report(v.invariant, `final drain: ${v.message}`);
  if (checker.failed) return;
  const i32 = mem.i32;
  const t = d.tree;
  const sh = d.shadow;
  let reports = 0;
  const say = (msg: string): void => {
    if (reports++ < 8) report('IOVA-DRAIN', msg);
  };
  for (let n = t.prev(i32, ANCHOR_NODE), guard = t.maxNodes; n !== NIL && guard-- > 0; n = t.prev(i32, n)) {
    const lo = t.lo(i32, n);
    const hi = t.hi(i32, n);
    const v = lo >= 0 && lo < sh.spacePfns ? sh.stateOf(i32, lo) : 0;
    if (v === RESERVED || (v > 0 && !complete)) continue;
    say(
      `after the final drain the rbtree still holds [${hex(lo)}, ${hex(hi)}] (${stateName(v)}): ` +
        (v > 0 ? 'a consumer never gave it back' : 'it never came back to the allocator'),
    );
  }
  const { pool, depot } = d.rcache;
  for (let k = 0; k < IOVA_RANGE_CACHE_MAX_SIZE; k++) {
    for (let c = 0; c < d.rcache.cpus; c++) {
      for (const m of [d.rcache.loaded(i32, c, k), d.rcache.prev(i32, c, k)]) {
        if (pool.valid(m) && pool.size(i32, m) !== 0)
          say(`after the final drain cpu${c}'s bucket-${k} magazine ${m} still holds ${pool.size(i32, m)} pfn(s)`);
      }
    }
    const n = depot.contents(i32, k).mags.length;
    if (n > 0) say(`after the final drain the bucket-${k} depot still holds ${n} magazine(s)`);
  }
}
