/**
 * The operations the scenario's vCPUs run, each a core call plus the online checks that judge it —
 * kernel-model.md §4.3 (what each interleaving breaks) and §10 (the virtio-iommu invariants):
 *  - map (iommu_map) checks V-INV1 for its own mapping once its iotlb_sync_map has drained the queue,
 *    and counts V-UNKICKED when it returns with its MAP still sitting in the virtqueue (V8);
 *  - unmap (strict) and the flush-queue flush check V-UNMAP: the host must no longer map what was
 *    unmapped once the covering sync is done (V6, and the lost UNMAP twin of V1);
 *  - device DMA checks V-DMA: an IOVA the driver mapped and synced must translate on the host.
 * The checker keeps its own record of which mappings their owners have mapped and synced (chk.pfn, with
 * a generation so a DMA racing an unmap of the same buffer is not mistaken for a fault); it is checker
 * state, so touching it is not a scheduling point.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { spinLock, spinUnlock } from '../../engine/sync.js';
import type { IommuCore } from './core.js';
import type { ViommuHost } from './host.js';
import { hex, iovaOf, type ViommuLayout } from './layout.js';

/** Op kinds (also the index into a role's weights). */
export const K = { Attach: 0, Detach: 1, Map: 2, Unmap: 3, Lazy: 4, Flush: 5, Dma: 6, Idle: 7 } as const;
export type Kind = (typeof K)[keyof typeof K];

/** One operation as a value: what a program draws, what a trace describes. */
export interface OpSpec {
  readonly kind: Kind;
  /** Endpoint (attach, detach, dma). */
  readonly e: number;
  /** Domain (attach, map, unmap, flush). */
  readonly d: number;
  /** Slot (map, unmap; dma: a fixed target, or -1 for any mapped-and-synced one). */
  readonly s: number;
  readonly pfn: number;
  /** Random choice resolved while the op runs (dma: which mapped slot). */
  readonly r: number;
  /** Flush: the slots this vCPU's flush queue holds for the domain. */
  readonly slots?: readonly number[];
}

export function describeOp(o: OpSpec): string {
  switch (o.kind) {
    case K.Attach:
      return `attach ep${o.e} -> dom${o.d}`;
    case K.Detach:
      return `detach ep${o.e}`;
    case K.Map:
      return `map ${hex(iovaOf(o.s))}+0x1000 in dom${o.d}`;
    case K.Unmap:
      return `unmap ${hex(iovaOf(o.s))}+0x1000 in dom${o.d}`;
    case K.Lazy:
      return `unmap (lazy) ${hex(iovaOf(o.s))} in dom${o.d}`;
    case K.Flush:
      return `flush_iotlb_all dom${o.d} (FQ timer)`;
    case K.Dma:
      return o.s >= 0 ? `dma ep${o.e} -> ${hex(iovaOf(o.s))}` : `dma ep${o.e}`;
    default:
      return 'idle';
  }
}

/** nr_endpoints is an unsigned long: show a wrapped count as the kernel would hold it. */
export function nrText(v: number): string {
  return v >= 0 ? String(v) : v === -1 ? 'ULONG_MAX' : `ULONG_MAX - ${-v - 1}`;
}

const ERRNO: Readonly<Record<number, string>> = { [-2]: '-ENOENT', [-5]: '-EIO', [-12]: '-ENOMEM', [-22]: '-EINVAL' };
const DMA = 'device DMA (host translates)';

export class ViommuOps {
  constructor(
    readonly L: ViommuLayout,
    readonly core: IommuCore,
    readonly host: ViommuHost,
  ) {}

  run(cpu: Cpu, o: OpSpec): Op {
    switch (o.kind) {
      case K.Attach:
        return this.attach(cpu, o.e, o.d);
      case K.Detach:
        return this.detach(cpu, o.e);
      case K.Map:
        return this.map(cpu, o.d, o.s, o.pfn);
      case K.Unmap:
        return this.unmap(cpu, o.d, o.s, false);
      case K.Lazy:
        return this.unmap(cpu, o.d, o.s, true);
      case K.Flush:
        return this.flush(cpu, o.d, o.slots ?? []);
      case K.Dma:
        return this.dma(cpu, o.e, o.r, o.s);
      default:
        return idle();
    }
  }

  *attach(cpu: Cpu, e: number, d: number): Op {
    const { ret, restored } = yield* this.core.attachGroup(cpu, e, d);
    if (ret !== 0) {
      const back =
        restored < 0
          ? ''
          : `; the core re-attached its previous domain (${restored === 0 ? 'ok' : (ERRNO[restored] ?? restored)})`;
      cpu.fail('V-ATTACH-ERR', `attach ep${e} -> dom${d} returned ${ERRNO[ret] ?? ret}${back}`);
    }
  }

  *detach(cpu: Cpu, e: number): Op {
    yield* this.core.releaseDevice(cpu, e);
  }

  *map(cpu: Cpu, d: number, s: number, pfn: number): Op {
    const seq = yield* this.core.iommuMap(cpu, d, s, pfn, (c) => {
      this.checkMapped(c, d, s, pfn);
    });
    if (seq >= 0 && this.core.drv.rq.completed(cpu.i32) <= seq) {
      cpu.fail(
        'V-UNKICKED',
        `iommu_map of ${hex(iovaOf(s))} in dom${d} returned with its MAP (request #${seq}) unkicked in the virtqueue`,
      );
    }
    this.setSynced(cpu.i32, d, s, pfn);
  }

  /** The caller stops using the buffer, then unmaps it: strictly (iotlb_sync), or lazily (flush queue). */
  *unmap(cpu: Cpu, d: number, s: number, lazy: boolean): Op {
    this.clearSynced(cpu.i32, d, s);
    if (lazy) {
      yield* this.core.iommuUnmapFast(cpu, d, s);
      return;
    }
    yield* this.core.iommuUnmap(cpu, d, s);
    this.checkUnmapped(cpu, d, s, 'iotlb_sync');
  }

  /** The flush-queue timer: flush_iotlb_all, after which the queued IOVAs are freed for reuse. */
  *flush(cpu: Cpu, d: number, slots: readonly number[]): Op {
    yield* this.core.fqFlush(cpu, d);
    for (const s of slots) this.checkUnmapped(cpu, d, s, 'flush_iotlb_all (the flush queue frees it now)');
  }

  /**
   * Endpoint e's device DMAs to a mapping of its domain. Simplification: the op holds e's group mutex,
   * standing in for "a bound driver's device keeps its domain while it does DMA"; so a fault here is
   * never a device racing its own domain change.
   */
  *dma(cpu: Cpu, e: number, r: number, fixed: number): Op {
    const g = this.core.groupMutex[e]!;
    yield* spinLock(cpu, g);
    const d = this.core.drv.vdomain(cpu.i32, e);
    if (d >= 0) {
      yield DMA;
      const s = fixed >= 0 ? fixed : this.pickSynced(cpu.i32, d, r);
      if (s >= 0) this.checkDma(cpu, e, d, s);
    }
    yield* spinUnlock(cpu, g);
  }

  /**
   * V-INV1 for the mapping a map op made, right after its iotlb_sync_map drained the queue. It runs under
   * request_lock, so the device's state is settled; and it only judges a domain the device has with
   * nr_endpoints > 0 — the window where DETACH has destroyed the domain but the decrement has not run
   * yet is how detach is written, not a lost MAP.
   */
  private checkMapped(cpu: Cpu, d: number, s: number, pfn: number): void {
    const L = this.L;
    const i32 = cpu.i32;
    const nr = Atomics.load(i32, L.nr + d);
    if (nr === 0 || !this.host.alive(i32, d)) return;
    if (Atomics.load(i32, L.tree + L.slot(d, s)) !== pfn + 1 || this.host.mapping(i32, d, s) === pfn + 1) return;
    cpu.fail(
      'V-INV1',
      `after iotlb_sync_map: dom${d}.nr_endpoints = ${nrText(nr)} and the driver's tree maps ${hex(iovaOf(s))} -> pfn ${hex(pfn)}, ` +
        'but the host does not: the MAP was lost',
    );
  }

  private checkUnmapped(cpu: Cpu, d: number, s: number, how: string): void {
    const got = this.host.mapping(cpu.i32, d, s);
    if (got === 0) return;
    cpu.fail(
      'V-UNMAP',
      `after ${how} the host still maps ${hex(iovaOf(s))} -> pfn ${hex(got - 1)} in dom${d}, which the driver unmapped: the device can reach the freed buffer`,
    );
  }

  private checkDma(cpu: Cpu, e: number, d: number, s: number): void {
    const L = this.L;
    const i32 = cpu.i32;
    const k = L.slot(d, s);
    const g1 = Atomics.load(i32, L.shadowGen + k);
    const want = Atomics.load(i32, L.shadowPfn + k);
    if (want === 0) return;
    const got = this.host.translate(i32, e, s);
    // The owner clears the record before it starts unmapping: an unchanged generation means the mapping
    // was live and synced across the translation.
    if (got === want || Atomics.load(i32, L.shadowGen + k) !== g1) return;
    const hd = this.host.endpointDomain(i32, e);
    const where =
      hd < 0 ? `has ep${e} in no domain` : hd === d ? `has no such mapping in dom${d}` : `has ep${e} in dom${hd}`;
    cpu.fail(
      'V-DMA',
      `ep${e} DMA to ${hex(iovaOf(s))} ${got === 0 ? 'faults' : `reaches pfn ${hex(got - 1)}`}: the driver mapped and synced it in dom${d} ` +
        `-> pfn ${hex(want - 1)} (cpu${Math.floor(s / L.slotsPerCpu)}'s mapping), but the host ${where}`,
    );
  }

  /** The r-th (mod count) mapped-and-synced slot of d, or -1. */
  private pickSynced(i32: Int32Array, d: number, r: number): number {
    const L = this.L;
    const base = L.shadowPfn + L.slot(d, 0);
    let n = 0;
    for (let s = 0; s < L.slots; s++) if (Atomics.load(i32, base + s) !== 0) n++;
    if (n === 0) return -1;
    let want = r % n;
    for (let s = 0; s < L.slots; s++) if (Atomics.load(i32, base + s) !== 0 && want-- === 0) return s;
    return -1;
  }

  /** Checker record: the owner's mapping of (d, s) is mapped and synced (what the caller now relies on). */
  setSynced(i32: Int32Array, d: number, s: number, pfn: number): void {
    const k = this.L.slot(d, s);
    Atomics.store(i32, this.L.shadowPfn + k, pfn + 1);
    Atomics.add(i32, this.L.shadowGen + k, 1);
  }

  private clearSynced(i32: Int32Array, d: number, s: number): void {
    const k = this.L.slot(d, s);
    Atomics.store(i32, this.L.shadowPfn + k, 0);
    Atomics.add(i32, this.L.shadowGen + k, 1);
  }
}

function* idle(): Op {
  /* a vCPU with no part in a focused program */
}
