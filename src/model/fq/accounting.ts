/**
 * Complete accounting of flush-queue entries — kernel-model.md §3.4 (a ring holds size-1 entries and
 * frees each, oldest first, once a covering flush has finished) and §10 ("every object is somewhere,
 * exactly once").
 *
 * Harness code, apart from the code under test: the DMA layer queues through CheckedFlushQueue (a
 * wrapper around whatever FlushQueue class the variant builds), and the queue frees through the free
 * callback the harness hands it (`freed`). One checker word per IOVA pfn says "queued": set when
 * queue_iova is called for the range, cleared when the queue gives it back. So
 *  - online: a range queued while already queued, or freed by the queue while not queued (freed twice,
 *    or an entry the ring made up), is FQ-ACCT at that step;
 *  - at a quiescent point: the rings hold exactly the queued ranges, each once — a queued range missing
 *    from every ring was dropped or overwritten (it will never be freed: a leak), one in a ring twice
 *    will be freed twice.
 */
import type { InvariantDef } from '../../check/invariant.js';
import type { Cpu, Op } from '../../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';
import type { QuiescentReport } from '../../engine/scenario.js';
import type { HeldRange } from '../iova/accounting.js';
import type { IovaFlushQueue } from './flush-queue.js';

export const FQ_ACCT_INVARIANTS: readonly InvariantDef[] = [
  {
    id: 'FQ-ACCT',
    meaning:
      'every flush-queue entry added is freed exactly once or is still queued: a ring never drops, overwrites or duplicates an unfreed entry',
    grade: 'FORBIDDEN',
  },
];

export function fqAccountingRegions(spacePfns: number): Record<string, RegionSpec> {
  // Checker state, not model state: 1 at a range's first pfn while the range is queued.
  return { 'fq.acct': { kind: 'i32', count: spacePfns } };
}

/** What the accounting needs to read of a flush queue on a quiescent model (FlushQueue has it). */
export interface QueuedEntries {
  entries(i32: Int32Array): [number, number][];
}

const hex = (x: number): string => `0x${x.toString(16)}`;

export class FqAccounting {
  private readonly queuedAt: number;

  constructor(
    layout: Layout,
    private readonly spacePfns: number,
    readonly enabled: boolean,
  ) {
    this.queuedAt = at(region(layout, 'fq.acct'));
  }

  private word(pfn: number): number {
    return pfn >= 0 && pfn < this.spacePfns ? this.queuedAt + pfn : -1;
  }

  /** queue_iova was called for [pfn, +pages). */
  queued(cpu: Cpu, pfn: number, pages: number): void {
    if (!this.enabled) return;
    const w = this.word(pfn);
    if (w < 0 || Atomics.compareExchange(cpu.i32, w, 0, 1) !== 0)
      cpu.fail('FQ-ACCT', `${cpu.name} queues IOVA ${hex(pfn)} (+${pages}), which is already queued`);
  }

  /** The flush queue gives [pfn, +pages) back to the allocator. */
  freed(cpu: Cpu, pfn: number, pages: number): void {
    if (!this.enabled) return;
    const w = this.word(pfn);
    if (w < 0 || Atomics.compareExchange(cpu.i32, w, 1, 0) !== 1)
      cpu.fail(
        'FQ-ACCT',
        `${cpu.name}: the flush queue frees IOVA ${hex(pfn)} (+${pages}), which is not queued: ` +
          'an entry freed twice, or one the ring never had',
      );
  }

  /** Quiescent: the rings hold exactly the queued ranges, each once. */
  check(i32: Int32Array, fq: QueuedEntries, report: QuiescentReport): void {
    if (!this.enabled) return;
    let reports = 0;
    const say = (msg: string): void => {
      if (reports++ < 8) report('FQ-ACCT', msg);
    };
    const inRing = new Set<number>();
    for (const [pfn, pages] of fq.entries(i32)) {
      if (inRing.has(pfn)) say(`IOVA ${hex(pfn)} (+${pages}) is in the flush queue twice: it will be freed twice`);
      inRing.add(pfn);
      const w = this.word(pfn);
      if (w < 0 || Atomics.load(i32, w) !== 1)
        say(`a ring entry holds IOVA ${hex(pfn)} (+${pages}), which was never queued or was freed already`);
    }
    for (let p = 0; p < this.spacePfns; p++) {
      if (Atomics.load(i32, this.queuedAt + p) === 1 && !inRing.has(p))
        say(`IOVA ${hex(p)} was queued and never freed, but no ring holds it: the ring dropped or overwrote it`);
    }
  }

  /** The queued ranges as holders (IOVA-ACCT), read from the rings. */
  static held(i32: Int32Array, fq: QueuedEntries): HeldRange[] {
    return fq.entries(i32).map(([pfn, pages]) => ({ who: 'a flush-queue entry', pfn, pages }));
  }
}

/** What the use-after-free watch needs of a flush queue (FlushQueue has it). */
export interface FreeableRings {
  ringsGeneration(i32: Int32Array): number;
  ringSites(): ReadonlySet<string>;
}

/**
 * FQ-UAF (FQ-TEARDOWN, kernel-model.md §9 #6), judged outside the code under test: the fq timer's
 * callback runs wrapped in this, which notes the rings' memory generation when the callback starts and,
 * before each step of it that touches ring memory, checks that teardown has not freed the rings since
 * (vfree / free_percpu: any access after it is the use-after-free). The step does not run then.
 */
export function* watchFreedRings(fq: FreeableRings, cpu: Cpu, op: Op): Op {
  const gen = fq.ringsGeneration(cpu.i32);
  const ring = fq.ringSites();
  for (let r = op.next(); !r.done; r = op.next()) {
    yield r.value;
    if (ring.has(r.value) && fq.ringsGeneration(cpu.i32) !== gen) {
      cpu.fail('FQ-UAF', `${cpu.name} touches the flush queues ('${r.value}') after teardown freed them`);
      return;
    }
  }
}

/** The flush queue as the DMA layer sees it: queue_iova, watched by the accounting. */
export class CheckedFlushQueue implements IovaFlushQueue {
  constructor(
    private readonly fq: IovaFlushQueue,
    private readonly acct: FqAccounting,
  ) {}

  *queueIova(cpu: Cpu, iovaPfn: number, pages: number): Op {
    this.acct.queued(cpu, iovaPfn, pages);
    yield* this.fq.queueIova(cpu, iovaPfn, pages);
  }
}
