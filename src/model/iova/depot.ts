/**
 * The memory of one size bucket's depot — kernel-model.md §2.1 "Rcache", §2.3 (v6.7+ list depot).
 *
 * `rcache->depot` is a stack of full magazines linked through the magazine's own first word (the union
 * of `size` and `next` in struct iova_magazine), with `rcache->depot_size` beside it; both under the
 * bucket's `iova_rcache.lock` (the caller holds it). This class is the storage and its list
 * primitives, not kernel functions: iova_depot_push / iova_depot_pop are IovaRcaches methods that call
 * `link` / `unlink`, so a patch changes them there. The pre-6.7 fixed array depot is a subclass in
 * variants.ts (its array is a region the patch adds).
 *
 * `pop` of an empty depot is the NULL dereference of §9 #2 (`mag->next` with mag == NULL). The
 * storage reports it as DEPOT-POP — a memory fault the harness sees whatever the calling code is — and
 * returns -1, so that a stress run ends with a verdict rather than a crashed worker. `push` and `pop`
 * also assert that the caller holds the bucket's lock (lockdep_assert_held, DEPOT-LOCK): the model
 * makes each depot update one scheduling point, so a patch that drops the lock would otherwise race
 * only at a granularity the model does not have.
 */
import type { Cpu } from '../../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';
import { LOCK_WORDS, lockHeldAt } from '../../engine/sync.js';
import { IOVA_MAG_SIZE, IOVA_RANGE_CACHE_MAX_SIZE, type MagazinePool } from './magazine.js';

// Per-bucket words: lock (LOCK_WORDS), depot head (magazine + 1, 0 = NULL), depot size.
const D_HEAD = LOCK_WORDS;
const D_SIZE = LOCK_WORDS + 1;
export const D_WORDS = LOCK_WORDS + 2;

export function depotRegions(): Record<string, RegionSpec> {
  return { 'rc.depot': { kind: 'i32', count: IOVA_RANGE_CACHE_MAX_SIZE * D_WORDS } };
}

export class Depot {
  protected readonly base: number;

  constructor(
    layout: Layout,
    protected readonly pool: MagazinePool,
  ) {
    this.base = at(region(layout, 'rc.depot'));
  }

  /** i32 index of bucket k's iova_rcache.lock word. */
  lockIndex(k: number): number {
    return this.base + k * D_WORDS;
  }
  /** rcache->depot_size. */
  size(i32: Int32Array, k: number): number {
    return i32[this.base + k * D_WORDS + D_SIZE]!;
  }
  protected setSize(i32: Int32Array, k: number, n: number): void {
    i32[this.base + k * D_WORDS + D_SIZE] = n;
  }

  /** `if (rcache->depot)`. */
  nonEmpty(i32: Int32Array, k: number): boolean {
    return i32[this.base + k * D_WORDS + D_HEAD]! !== 0;
  }

  /** A kernel function pushes magazine m (the caller holds iova_rcache.lock); see link. */
  push(cpu: Cpu, k: number, m: number): boolean {
    this.assertHeld(cpu, k, 'pushes to');
    return this.link(cpu.i32, k, m);
  }

  /** A kernel function pops a magazine (the caller holds iova_rcache.lock); see unlink. */
  pop(cpu: Cpu, k: number): number {
    this.assertHeld(cpu, k, 'pops');
    return this.unlink(cpu, k);
  }

  /** lockdep_assert_held(&rcache->lock): a check of the storage, not of the code that calls it. */
  protected assertHeld(cpu: Cpu, k: number, what: string): void {
    const lock = this.lockIndex(k);
    if (!lockHeldAt(cpu, lock)) {
      cpu.fail('DEPOT-LOCK', `${cpu.name} ${what} the bucket-${k} depot without rcache[${k}].lock`);
    }
  }

  /*
   * link and unlink write two to four words in one scheduling point (the caller's). No other vCPU can
   * observe a state in between (issue 13): every access to the depot head, the count and a depot
   * magazine's link word is made under this bucket's iova_rcache.lock — push and pop assert it
   * (DEPOT-LOCK), free_global_cached_iovas and the depot work pop under it — except two reads of ONE word
   * each: a variant's unlocked `if (rcache->depot)` (depot-pop-empty) reads the head, which each of these
   * writes once, so it sees it before or after, as explore shows it; and an unlocked remote drain
   * (unlocked-remote-drain) reads the count word of a CPU's loaded magazine, which link writes once (the
   * link overwrites the count) and unlink touches only before that magazine is any CPU's loaded again.
   * Quiescent scans and checkers read at quiescent points or in the failing vCPU's own step.
   */

  /**
   * `mag->next = rcache->depot; rcache->depot = mag; rcache->depot_size++` (setup code links directly).
   * Returns whether the depot
   * took the magazine (the list always does; the fixed depot refuses when full).
   */
  link(i32: Int32Array, k: number, m: number): boolean {
    const b = this.base + k * D_WORDS;
    i32[this.pool.head(m)] = i32[b + D_HEAD]!; // mag->next = depot: the count is overwritten
    i32[b + D_HEAD] = m + 1;
    i32[b + D_SIZE] = i32[b + D_SIZE]! + 1;
    return true;
  }

  /** `mag = rcache->depot; rcache->depot = mag->next; mag->size = IOVA_MAG_SIZE; depot_size--`. */
  unlink(cpu: Cpu, k: number): number {
    const i32 = cpu.i32;
    const b = this.base + k * D_WORDS;
    const head = i32[b + D_HEAD]!;
    if (head === 0) return this.nullPop(cpu, k);
    const m = head - 1;
    i32[b + D_HEAD] = i32[this.pool.head(m)]!; // depot = mag->next
    i32[this.pool.head(m)] = IOVA_MAG_SIZE; // mag->size = IOVA_MAG_SIZE: the link overwrote the count
    i32[b + D_SIZE] = i32[b + D_SIZE]! - 1;
    return m;
  }

  /** The kernel oopses on `mag->next` here; the model reports the fault and returns NULL. */
  protected nullPop(cpu: Cpu, k: number): -1 {
    cpu.fail('DEPOT-POP', `${cpu.name} pops the bucket-${k} depot, which is empty (iova_depot_pop on NULL)`);
    return -1;
  }

  /**
   * How many pfns depot magazine m holds, for checker reads. A list-depot magazine's count word holds
   * the link, and only full magazines go there: IOVA_MAG_SIZE.
   */
  magCount(_i32: Int32Array, _m: number): number {
    return IOVA_MAG_SIZE;
  }

  /** The depot's magazines, top first (quiescent scans). `bad` is set if the list is cyclic or corrupt. */
  contents(i32: Int32Array, k: number): { mags: number[]; bad: string | undefined } {
    const n = this.size(i32, k);
    const mags: number[] = [];
    for (let h = i32[this.base + k * D_WORDS + D_HEAD]!; h !== 0; h = i32[this.pool.head(h - 1)]!) {
      if (!this.pool.valid(h - 1) || mags.length > this.pool.count) {
        return { mags, bad: `depot list is corrupt at link ${h}` };
      }
      mags.push(h - 1);
    }
    return { mags, bad: mags.length !== n ? `depot_size ${n} but the list holds ${mags.length} magazines` : undefined };
  }
}
