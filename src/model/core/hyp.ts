/**
 * The hypervisor under pKVM's SMMUv3 driver — kernel-model.md §5.4 (MAPSG-RFC: "every iommu_map is a
 * hypercall"). It owns the real I/O page table (pgtable.ts); driver code reaches it only through map
 * and unmap hypercalls. This is the harness's side of the driver boundary: the checkers of scenarios
 * mapsg and dma-iova hang on its commit / clear hooks, so a driver variant (a user's patch) cannot
 * silence them by overriding a driver method.
 *
 * Every hypercall costs `hypercallNs` (spend(): busy work in stress, virtual time in explore), whatever
 * it carries; a batch of runs in one hypercall is what the cookie and the deferred list buy. A planned
 * share of map hypercalls fail (-ENOMEM, as a hypervisor out of page-table memory) after committing the
 * first half of the leaves they carry, so that the core's unwind paths really run.
 *
 * Simplifications: failures are planned per op by the vCPU's program (CallCtx.failAt: "the k-th map
 * hypercall of this op fails"), so explored executions stay deterministic and skipping an op while
 * shrinking changes no other op; unmap hypercalls never fail; the hypervisor's unmap loops across
 * tables itself; TLB invalidation is part of the unmap hypercall (no IOTLB in this model).
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { atCpu, type Region, type RegionSpec } from '../../engine/layout.js';
import { spend } from '../iotlb.js';
import { ENOMEM, type IoPgtable } from '../pgtable.js';

/** One run to map: `pgcount` leaves of `pgsize` (the arguments of map_pages). */
export interface MapEntry {
  iova: number;
  paddr: number;
  pgsize: number;
  pgcount: number;
}

/**
 * What one vCPU's current op is, as the harness knows it (set by the op program, vCPU-local, reset by
 * begin() at the start of every op, so nothing of it outlives an op).
 */
export class CallCtx {
  /** The op's tag (checker: which map call a PTE belongs to); for an unmap, the mapping's tag. */
  tag = 0;
  /** Index of the map hypercall of this op that fails, or -1. */
  failAt = -1;
  /** Map hypercalls made so far in this op. */
  mapCalls = 0;
  /** iotlb_sync_map calls made so far in this op (counted by the harness's ops dispatch, countSyncMaps). */
  syncMaps = 0;

  begin(tag: number, failAt: number): void {
    this.tag = tag;
    this.failAt = failAt;
    this.mapCalls = 0;
    this.syncMaps = 0;
  }
}

/** The checker's view of what the hypervisor commits and clears. */
export interface HypHooks {
  /** `cpu` is about to commit [iova, iova+bytes) to the page table. */
  committing(cpu: Cpu, ctx: CallCtx, iova: number, bytes: number): void;
  /** `cpu` cleared [iova, iova+bytes); `requested` bytes were asked for (fewer: a hole). */
  cleared(cpu: Cpu, ctx: CallCtx, iova: number, bytes: number, requested: number): void;
}

export const NO_HOOKS: HypHooks = {
  committing() {
    /* no checks */
  },
  cleared() {
    /* no checks */
  },
};

export function hypRegions(): Record<string, RegionSpec> {
  return {
    /** Per vCPU: map hypercalls, unmap hypercalls, failed map hypercalls (statistics). */
    'hyp.stats': { kind: 'i32', count: 3, perCpu: true },
  };
}

const SITE_MAP = 'hypercall map';
const SITE_UNMAP = 'hypercall unmap';

export class Hyp {
  /** Per vCPU (indexed by cpu.id): the op in progress. */
  readonly ctx: CallCtx[];

  constructor(
    readonly pt: IoPgtable,
    private readonly stats: Region,
    cpus: number,
    readonly hypercallNs: number,
    private readonly hooks: HypHooks,
  ) {
    this.ctx = Array.from({ length: cpus }, () => new CallCtx());
  }

  /**
   * One map hypercall carrying `entries`, committed in order. A failing one commits the first half of
   * the leaves and returns -ENOMEM; the entries are updated to what is left uncommitted. Returns the
   * bytes committed.
   */
  *map(cpu: Cpu, entries: MapEntry[]): Op<{ ret: number; bytes: number }> {
    const ctx = this.ctx[cpu.id]!;
    // One point for the hypercall's entry (issue 13 item 3): the words it writes before the page table's
    // own points are this vCPU's statistics slot (hyp.stats, read only on a quiescent model) and what the
    // harness's committing hook records (checker state, judged atomically); every page-table access is a
    // point of its own inside pt.mapPages, and the entries are the caller's private copy.
    yield SITE_MAP;
    spend(cpu, this.hypercallNs);
    const st = atCpu(this.stats, cpu.id);
    Atomics.add(cpu.i32, st, 1);
    const fails = ctx.mapCalls++ === ctx.failAt;
    let leaves = 0;
    for (const e of entries) leaves += e.pgcount;
    let budget = fails ? Math.floor(leaves / 2) : leaves;
    let bytes = 0;
    for (const e of entries) {
      if (budget === 0) break;
      const n = Math.min(budget, e.pgcount);
      this.hooks.committing(cpu, ctx, e.iova, n * e.pgsize);
      let done = 0;
      while (done < n * e.pgsize) {
        const r = yield* this.pt.mapPages(cpu, e.iova + done, e.paddr + done, e.pgsize, n - done / e.pgsize);
        done += r.mapped;
        if (r.ret !== 0) {
          // The page table refused (a live leaf: -EEXIST): the hypercall fails with what it did.
          e.iova += done;
          e.paddr += done;
          e.pgcount -= done / e.pgsize;
          return { ret: r.ret, bytes: bytes + done };
        }
      }
      bytes += done;
      budget -= n;
      e.iova += done;
      e.paddr += done;
      e.pgcount -= n;
    }
    if (fails) Atomics.add(cpu.i32, st + 2, 1);
    return { ret: fails ? ENOMEM : 0, bytes };
  }

  /** One unmap hypercall: clear [iova, iova+bytes), stopping at the first hole; returns bytes cleared. */
  *unmap(cpu: Cpu, iova: number, pgsize: number, bytes: number): Op<number> {
    yield SITE_UNMAP;
    spend(cpu, this.hypercallNs);
    Atomics.add(cpu.i32, atCpu(this.stats, cpu.id) + 1, 1);
    let done = 0;
    while (done < bytes) {
      const n = yield* this.pt.unmapPages(cpu, iova + done, pgsize, (bytes - done) / pgsize);
      if (n === 0) break;
      done += n;
    }
    this.hooks.cleared(cpu, this.ctx[cpu.id]!, iova, done, bytes);
    return done;
  }

  /** Map hypercalls, unmap hypercalls, failed map hypercalls, all vCPUs (quiescent). */
  counts(i32: Int32Array, cpus: number): [number, number, number] {
    const out: [number, number, number] = [0, 0, 0];
    for (let c = 0; c < cpus; c++) for (let k = 0; k < 3; k++) out[k] = out[k]! + i32[atCpu(this.stats, c) + k]!;
    return out;
  }
}
