/**
 * The mixed op program of scenario `viommu` — the vCPU roles of kernel-model.md §4.3: attachers and
 * detachers of two or more endpoint groups sharing domains, mappers (iommu_map = map + sync_map),
 * unmappers (strict, or lazy through a flush queue), and device DMA through the host's mappings.
 *
 * With 3 vCPUs or fewer every vCPU mixes all roles by weight (a race needs an attacher and a mapper, or
 * two attachers, at once); with 4 or more, roles go by vCPU id (attacher, mapper, attacher, device, ...).
 * Each vCPU maps and unmaps only the slots it owns (the DMA API never hands one IOVA to two callers) and
 * remembers locally which of them it has mapped. next() draws the same six numbers every time and
 * touches no shared state (the shrinker may draw an op and skip it); the slot bookkeeping is updated by
 * the op itself when it runs. It reads whether a domain is finalised, as a caller knows whether it has
 * attached its domain yet. Simplification: no caller unmaps before its domain's first attach (the
 * kernel's callers do not; iotlb_sync has no nr_endpoints check and would dereference the NULL viommu,
 * §4.3 V5 [derived]); a vCPU with a mapping there does a DMA instead.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { pickWeighted, randInt, type RandomGenerator } from '../../engine/rng.js';
import type { VcpuProgram } from '../../engine/scenario.js';
import { describeOp, K, type Kind, type OpSpec, type ViommuOps } from './ops.js';

export type Role = 'mixed' | 'attacher' | 'mapper' | 'device';

/** Weights, indexed by kind: attach, detach, map, unmap, lazy unmap, flush, dma. */
const WEIGHTS: Readonly<Record<Role, readonly number[]>> = {
  mixed: [2, 1, 6, 2, 1, 1, 2],
  attacher: [5, 3, 1, 1, 0, 1, 2],
  mapper: [1, 1, 5, 3, 1, 2, 1],
  device: [1, 1, 3, 2, 1, 1, 4],
};
const BY_ID: readonly Role[] = ['attacher', 'mapper', 'attacher', 'device'];

export function roleOf(cpu: number, cpus: number): Role {
  return cpus <= 3 ? 'mixed' : BY_ID[cpu % BY_ID.length]!;
}

const FREE = 0;
const MAPPED = 1;
/** Unmapped lazily: its IOVA waits in this vCPU's flush queue and cannot be reused until the flush. */
const LAZY = 2;

const PFN_MAX = 0xfffff;

export class MixedProgram implements VcpuProgram {
  private readonly state: Uint8Array;
  private readonly weights: readonly number[];
  private last: OpSpec = { kind: K.Idle, e: 0, d: 0, s: -1, pfn: 0, r: 0 };

  constructor(
    private readonly ops: ViommuOps,
    private readonly cpu: Cpu,
    private readonly rng: RandomGenerator,
    role: Role,
  ) {
    this.state = new Uint8Array(ops.L.domains * ops.L.slotsPerCpu);
    this.weights = WEIGHTS[role];
  }

  next(): Op<unknown> {
    const L = this.ops.L;
    const rng = this.rng;
    const kind = pickWeighted(rng, this.weights) as Kind;
    const e = randInt(rng, 0, L.endpoints - 1);
    const d = randInt(rng, 0, L.domains - 1);
    const k = randInt(rng, 0, L.slotsPerCpu - 1);
    const pfn = randInt(rng, 1, PFN_MAX);
    const r = randInt(rng, 0, 0x7fffffff);
    const o = this.resolve(kind, e, d, k, pfn, r);
    this.last = o;
    return this.track(o);
  }

  describe(): string {
    return describeOp(this.last);
  }

  /** Turn a drawn kind into an op that fits the state of the vCPU's own slot k in d. */
  private resolve(kind: Kind, e: number, d: number, k: number, pfn: number, r: number): OpSpec {
    const L = this.ops.L;
    if (kind === K.Attach || kind === K.Detach || kind === K.Dma) return { kind, e, d, s: -1, pfn, r };
    const s = L.ownSlot(this.cpu.id, k);
    const st = this.state[d * L.slotsPerCpu + k]!;
    if (st === LAZY || kind === K.Flush) {
      const queued = this.queuedFor(d);
      if (queued.length > 0) return { kind: K.Flush, e, d, s: -1, pfn, r, slots: queued };
    }
    if (st === FREE) return { kind: K.Map, e, d, s, pfn, r };
    if (!this.ops.core.drv.finalised(this.cpu.i32, d)) return { kind: K.Dma, e, d, s: -1, pfn, r };
    return { kind: kind === K.Lazy ? K.Lazy : K.Unmap, e, d, s, pfn, r };
  }

  /** The vCPU's slots in d waiting in its flush queue. */
  private queuedFor(d: number): number[] {
    const L = this.ops.L;
    const out: number[] = [];
    for (let k = 0; k < L.slotsPerCpu; k++)
      if (this.state[d * L.slotsPerCpu + k] === LAZY) out.push(L.ownSlot(this.cpu.id, k));
    return out;
  }

  private *track(o: OpSpec): Op {
    yield* this.ops.run(this.cpu, o);
    const L = this.ops.L;
    const at = (s: number) => o.d * L.slotsPerCpu + (s - L.ownSlot(this.cpu.id, 0));
    switch (o.kind) {
      case K.Map:
        this.state[at(o.s)] = MAPPED;
        break;
      case K.Unmap:
        this.state[at(o.s)] = FREE;
        break;
      case K.Lazy:
        this.state[at(o.s)] = LAZY;
        break;
      case K.Flush:
        for (const s of o.slots ?? []) this.state[at(s)] = FREE;
        break;
      default:
        break;
    }
  }
}
