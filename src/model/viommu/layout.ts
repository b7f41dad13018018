/**
 * Shared-memory layout of the virtio-iommu model — kernel-model.md §4.1 (driver state and locks) and the
 * device side of §4.3 ("the device state machine").
 *
 * Three parties share one buffer, each in its own regions:
 *  - the driver (guest): per domain `nr_endpoints`, the viommu pointer (finalised or not), the mappings
 *    tree, `mappings_lock`, the ≤v6.7 finalise mutex and — `locked` variant only — the fix's per-domain
 *    lock; per endpoint its `vdomain` and its group's mutex (the core's group->mutex);
 *  - the request virtqueue between them: a ring of requests under `request_lock` (request-queue.ts);
 *  - the host (device): its own per-domain endpoint count and mappings, and each endpoint's domain.
 * A fourth, checker-only region records which mappings the callers have mapped *and synced*, so a
 * device DMA can tell a real fault from a buffer that is being unmapped.
 *
 * Simplification: the IOVA space is a row of fixed slots, one 4 KiB mapping each (slot s at IOVA
 * (s + 1) * 4 KiB), so the driver's interval tree and the host's mapping set are arrays indexed by slot,
 * and "overlapping MAP" means "MAP of an occupied slot". Every slot belongs to one vCPU (the DMA API
 * never hands one IOVA to two callers), which keeps map/unmap of one IOVA single-threaded as in the kernel.
 */
import { at, defineLayout, region, type Layout } from '../../engine/layout.js';
import { LOCK_WORDS } from '../../engine/sync.js';

export const SZ_4K = 0x1000;

/** One request in the virtqueue: ENTRY_WORDS i32 words. */
export const F_TYPE = 0;
export const F_DOMAIN = 1;
export const F_ENDPOINT = 2;
export const F_SLOT = 3;
export const F_PFN = 4;
export const F_STATUS = 5;
export const F_SEQ = 6;
/** The vCPU that queued it (for messages only). */
export const F_FROM = 7;
export const ENTRY_WORDS = 8;

export interface ViommuGeometry {
  readonly cpus: number;
  readonly domains: number;
  readonly endpoints: number;
  /** Slots each vCPU owns in each domain. */
  readonly slotsPerCpu: number;
  /** Requests the request virtqueue holds. */
  readonly ringSize: number;
}

/** Every index the model needs, computed once from the layout. */
export class ViommuLayout {
  readonly layout: Layout;
  readonly cpus: number;
  readonly domains: number;
  readonly endpoints: number;
  readonly slotsPerCpu: number;
  /** Slots per domain (all vCPUs). */
  readonly slots: number;
  readonly ringSize: number;

  // driver
  readonly nr: number;
  readonly viommu: number;
  readonly tree: number;
  readonly vdomain: number;
  readonly mutex: number;
  readonly mappingsLock: number;
  readonly domLock: number;
  readonly groupMutex: number;
  // request queue
  readonly rqLock: number;
  readonly rqHead: number;
  readonly rqTail: number;
  readonly ring: number;
  // host
  readonly hostRefs: number;
  readonly hostMap: number;
  readonly hostEp: number;
  readonly hostMaxDomains: number;
  readonly hostLive: number;
  // checker
  readonly shadowPfn: number;
  readonly shadowGen: number;

  constructor(g: ViommuGeometry) {
    const D = g.domains;
    const E = g.endpoints;
    const S = g.slotsPerCpu * g.cpus;
    this.cpus = g.cpus;
    this.domains = D;
    this.endpoints = E;
    this.slotsPerCpu = g.slotsPerCpu;
    this.slots = S;
    this.ringSize = g.ringSize;
    this.layout = defineLayout(g.cpus, {
      /** vdomain->nr_endpoints: "unsigned long, NO lock, NO atomic" (§4.1). */
      'vi.nr': { kind: 'i32', count: D },
      /** vdomain->viommu: 0 = NULL (not finalised yet), 1 = set. */
      'vi.viommu': { kind: 'i32', count: D },
      /** The mappings interval tree, per slot: pfn + 1, or 0. Under mappings_lock. */
      'vi.tree': { kind: 'i32', count: D * S },
      /** vdev->vdomain per endpoint: domain + 1, or 0. "Protected by group->mutex". */
      'vi.vdomain': { kind: 'i32', count: E },
      'vi.mutex': { kind: 'i32', count: D * LOCK_WORDS },
      'vi.mappingsLock': { kind: 'i32', count: D * LOCK_WORDS },
      'vi.domLock': { kind: 'i32', count: D * LOCK_WORDS },
      'vi.groupMutex': { kind: 'i32', count: E * LOCK_WORDS },
      'rq.lock': { kind: 'i32', count: LOCK_WORDS },
      /** [head, tail]: requests completed by the device / added by the driver, both ever-increasing. */
      'rq.ctl': { kind: 'i32', count: 2 },
      'rq.ring': { kind: 'i32', count: g.ringSize * ENTRY_WORDS },
      /** Host: endpoints attached per domain (the domain exists while > 0). */
      'host.refs': { kind: 'i32', count: D },
      /** Host: its mappings per domain and slot: pfn + 1, or 0. */
      'host.map': { kind: 'i32', count: D * S },
      /** Host: each endpoint's domain + 1, or 0. */
      'host.ep': { kind: 'i32', count: E },
      /** Host: [max live domains (0 = no limit), live domains]. */
      'host.cfg': { kind: 'i32', count: 2 },
      /** Checker: per domain and slot, the pfn + 1 its owner mapped and synced (0 while not), and a generation. */
      'chk.pfn': { kind: 'i32', count: D * S },
      'chk.gen': { kind: 'i32', count: D * S },
    });
    const idx = (name: string) => at(region(this.layout, name));
    this.nr = idx('vi.nr');
    this.viommu = idx('vi.viommu');
    this.tree = idx('vi.tree');
    this.vdomain = idx('vi.vdomain');
    this.mutex = idx('vi.mutex');
    this.mappingsLock = idx('vi.mappingsLock');
    this.domLock = idx('vi.domLock');
    this.groupMutex = idx('vi.groupMutex');
    this.rqLock = idx('rq.lock');
    this.rqHead = idx('rq.ctl');
    this.rqTail = this.rqHead + 1;
    this.ring = idx('rq.ring');
    this.hostRefs = idx('host.refs');
    this.hostMap = idx('host.map');
    this.hostEp = idx('host.ep');
    this.hostMaxDomains = idx('host.cfg');
    this.hostLive = this.hostMaxDomains + 1;
    this.shadowPfn = idx('chk.pfn');
    this.shadowGen = idx('chk.gen');
  }

  /** Index of (domain, slot) in the per-domain slot arrays. */
  slot(d: number, s: number): number {
    return d * this.slots + s;
  }

  /** The slot vCPU `cpu` owns as its k-th in every domain. */
  ownSlot(cpu: number, k: number): number {
    return cpu * this.slotsPerCpu + k;
  }

  /** i32 index of word `field` of ring entry `seq` (seq counts requests ever added). */
  entry(seq: number, field: number): number {
    return this.ring + (seq % this.ringSize) * ENTRY_WORDS + field;
  }
}

export const iovaOf = (s: number): number => (s + 1) * SZ_4K;
export const hex = (n: number): string => `0x${n.toString(16)}`;
