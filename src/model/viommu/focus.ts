/**
 * Focused configurations, one per interleaving V1..V8 of kernel-model.md §4.3 (scenario parameter
 * `focus=N`): a setup, run sequentially on the fresh model with the model's own operations, and a short
 * op list per vCPU that the race needs — nothing else. The lists loop, so stress mode retries the race
 * for as long as a slice lasts; explore needs only the first round. vCPUs a configuration does not use
 * stay idle.
 *
 *   V1 lost MAP / V2 duplicate MAP: the first endpoint attaches (ATTACH, replay, nr++) while a mapper maps.
 *   V3 lost update: two groups attach to the same empty domain at once.
 *   V4 stale UNMAP: an unmap races the last endpoint's detach.
 *   V5 sync on a detached domain: iotlb_sync_map races the last detach (and, before it, a mapping made
 *      on a never-attached domain: a sync on a NULL viommu where the nr_endpoints check is missing).
 *   V6 deferred-flush no-op: a lazy unmap and the flush-queue flush race an attach that moves the only
 *      endpoint away ((a) drops the old count before the device is told).
 *   V7 error-path drift (sequential): the device refuses ATTACH to a second domain, the core restores the
 *      first, nr_endpoints wraps and comes back as 0 with the endpoint still attached; a map is then never
 *      sent and the endpoint's DMA faults.
 *   V8 unkicked MAP: a map races an attach that moves the only endpoint away, and iotlb_sync_map sees 0.
 */
import { Checker } from '../../check/checker.js';
import type { InvariantDef } from '../../check/invariant.js';
import { Cpu, runToEnd, type Op } from '../../engine/cpu.js';
import type { Memory } from '../../engine/layout.js';
import type { VcpuProgram } from '../../engine/scenario.js';
import type { ViommuLayout } from './layout.js';
import { describeOp, K, type OpSpec, type ViommuOps } from './ops.js';

export const FOCUS_COUNT = 8;

interface CpuList {
  /** Ops run once, first. */
  readonly prefix?: readonly OpSpec[];
  /** Ops run round and round after the prefix. */
  readonly cycle: readonly OpSpec[];
}

export interface FocusDef {
  readonly setup: readonly OpSpec[];
  /** The device's domain limit once the setup has run (V7). */
  readonly hostMaxDomains?: number;
  /** Per vCPU, from cpu0. */
  readonly programs: readonly CpuList[];
}

const op = (kind: OpSpec['kind'], o: Partial<OpSpec>): OpSpec => ({ kind, e: 0, d: 0, s: -1, pfn: 0, r: 0, ...o });
const attach = (e: number, d: number) => op(K.Attach, { e, d });
const detach = (e: number) => op(K.Detach, { e });
const map = (d: number, s: number) => op(K.Map, { d, s, pfn: 0x100 + s });
const unmap = (d: number, s: number) => op(K.Unmap, { d, s });
const lazy = (d: number, s: number) => op(K.Lazy, { d, s });
const flush = (d: number, slots: readonly number[]) => op(K.Flush, { d, slots });
const dma = (e: number, s: number) => op(K.Dma, { e, s });
const IDLE = op(K.Idle, {});

export function focusDef(n: number, L: ViommuLayout): FocusDef {
  const x0 = L.ownSlot(0, 0); // cpu0's first slot (0x1000)
  const y0 = L.ownSlot(0, 1); // cpu0's second slot (0x2000)
  const x1 = L.ownSlot(1, 0); // cpu1's first slot
  // dom0 finalised (attached once), no endpoint left: the next attach is a first attach with replay.
  const usedOnce = [attach(0, 0), detach(0)];
  switch (n) {
    case 1:
    case 2:
      return {
        setup: usedOnce,
        programs: [{ cycle: [attach(0, 0), detach(0)] }, { cycle: [map(0, x1), unmap(0, x1)] }],
      };
    case 3:
      return {
        setup: usedOnce,
        programs: [{ cycle: [attach(0, 0), detach(0)] }, { cycle: [attach(1, 0), detach(1)] }],
      };
    case 4:
      return {
        setup: [attach(0, 0), map(0, x0)],
        programs: [{ cycle: [unmap(0, x0), map(0, x0)] }, { cycle: [detach(0), attach(0, 0)] }],
      };
    case 5:
      return {
        setup: [attach(0, 0)],
        programs: [{ prefix: [map(1, y0)], cycle: [map(0, x0), unmap(0, x0)] }, { cycle: [detach(0), attach(0, 0)] }],
      };
    case 6:
      return {
        setup: [attach(0, 0), map(0, x0)],
        programs: [{ cycle: [lazy(0, x0), flush(0, [x0]), map(0, x0)] }, { cycle: [attach(0, 1), attach(0, 0)] }],
      };
    case 7:
      return {
        setup: [attach(0, 0), map(0, x0)],
        hostMaxDomains: 1,
        programs: [{ cycle: [attach(0, 1), map(0, y0), dma(0, y0), unmap(0, y0)] }],
      };
    case 8:
      return {
        setup: [attach(0, 0)],
        programs: [{ cycle: [map(0, x0), unmap(0, x0)] }, { cycle: [attach(0, 1), attach(0, 0)] }],
      };
    default:
      throw new RangeError(`viommu: focus must be 1..${FOCUS_COUNT}, got ${n}`);
  }
}

/** Run a configuration's setup on a fresh model (as cpu0, sequentially, with the model's own operations). */
export function runFocusSetup(def: FocusDef, ops: ViommuOps, mem: Memory, invariants: readonly InvariantDef[]): void {
  const checker = new Checker(invariants);
  const cpu = new Cpu(0, 'explore', mem, checker);
  for (const o of def.setup) runToEnd(ops.run(cpu, o));
  if (checker.failed)
    throw new Error(`viommu focus setup broke ${checker.violations[0]!.invariant}: ${checker.violations[0]!.message}`);
  if (def.hostMaxDomains !== undefined) Atomics.store(mem.i32, ops.L.hostMaxDomains, def.hostMaxDomains);
}

export class FocusProgram implements VcpuProgram {
  private i = 0;
  private last: OpSpec = IDLE;
  private readonly prefix: readonly OpSpec[];
  private readonly cycle: readonly OpSpec[];

  constructor(
    private readonly ops: ViommuOps,
    private readonly cpu: Cpu,
    list: CpuList | undefined,
  ) {
    this.prefix = list?.prefix ?? [];
    this.cycle = list?.cycle ?? [IDLE];
  }

  next(): Op<unknown> {
    const i = this.i++;
    const o = i < this.prefix.length ? this.prefix[i]! : this.cycle[(i - this.prefix.length) % this.cycle.length]!;
    this.last = o;
    return this.ops.run(this.cpu, o);
  }

  describe(): string {
    return describeOp(this.last);
  }
}
