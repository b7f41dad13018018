/**
 * The virtio-iommu driver's domain operations — kernel-model.md §4.2 (VIOMMU-NEW, with the ≤v6.7
 * finalise-on-first-attach of VIOMMU-67), §4.1 for state and lock order.
 *
 * `nr_endpoints` is what §4.3 is about: a plain counter read without a lock by map, unmap and the syncs,
 * and changed by attach/detach under *different groups'* mutexes. Every read of it is a scheduling point
 * and every change a load, a scheduling point and a store (Counter32.plainAdd), so the explore scheduler
 * can put any other vCPU between the check and the action that depends on it.
 *
 * The driver here is upstream's and nothing else. The per-domain lock fix (`locked`), the v2 syncs
 * without the nr_endpoints check (`null-viommu-sync`) and any user's patch are subclasses in
 * variants.ts (or a user's scenario file) that override the kernel functions below.
 *
 * Lock order: locks.ts (group->mutex < domain mutex < domN.lock of the fix < mappings_lock < request_lock).
 *
 * Simplifications: one vIOMMU (so attach's `viommu != vdev->viommu` -EINVAL never happens); finalise only
 * sets the viommu pointer (the domain id is the domain's index; page sizes, geometry and identity domains
 * are not modelled); every mapping is READ|WRITE, which the device supports, so map_pages never returns
 * -EINVAL; one endpoint ID per endpoint (the ATTACH/DETACH loops over fwspec IDs send one request).
 */
import type { Cpu, LockRef, Op, Site } from '../../engine/cpu.js';
import { Counter32, lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../../engine/sync.js';
import { T_ATTACH, T_DETACH, T_MAP, T_UNMAP, type ViommuHost } from './host.js';
import { SZ_4K, type ViommuLayout } from './layout.js';
import { RANK_DOMAIN_MUTEX, RANK_MAPPINGS_LOCK, RANK_REQUEST_LOCK } from './locks.js';
import { RequestQueue } from './request-queue.js';

/** A driver class: upstream's, a variant of variants.ts, or a user's subclass. */
export type ViommuDriverClass = new (L: ViommuLayout, host: ViommuHost) => ViommuDriver;

export const ATTACH_SEND = 'ATTACH send';
const TREE_INSERT = 'tree insert';
const TREE_DELETE = 'tree delete';
const REPLAY_SNAPSHOT = 'replay snapshot';
const DETACH_SEND = 'DETACH send';
const REPLAY_MAP_SEND = 'replay: MAP send';
const MAP_QUEUE = 'MAP queue';
const UNMAP_QUEUE = 'UNMAP queue';
// Trace markers: the decision just taken on the value read at the previous point, written where a
// reviewer would annotate the interleaving. A scheduling point with no shared access behind it adds no
// behaviour (running another vCPU here is the same as running it right after).
const NO_MAP = 'nr_endpoints == 0: no MAP';
const NO_UNMAP = 'nr_endpoints == 0: no UNMAP';
const NO_SYNC = 'nr_endpoints == 0: no sync';

export class ViommuDriver {
  readonly rq: RequestQueue;
  readonly nr: readonly Counter32[];
  private readonly mutex: readonly LockRef[];
  private readonly mappingsLock: readonly LockRef[];
  private readonly finaliseSite: readonly Site[];
  private readonly viommuSite: readonly Site[];

  constructor(
    readonly L: ViommuLayout,
    readonly host: ViommuHost,
  ) {
    const ds = Array.from({ length: L.domains }, (_, d) => d);
    this.rq = this.makeRequestQueue(L, host);
    this.nr = ds.map((d) => this.makeCounter(L.nr + d, `dom${d}.nr_endpoints`));
    this.mutex = ds.map((d) => lockRef(`dom${d}.mutex`, L.mutex + d * LOCK_WORDS, RANK_DOMAIN_MUTEX));
    this.mappingsLock = ds.map((d) =>
      lockRef(`dom${d}.mappings_lock`, L.mappingsLock + d * LOCK_WORDS, RANK_MAPPINGS_LOCK),
    );
    this.finaliseSite = ds.map((d) => `finalise dom${d} (viommu NULL?)`);
    this.viommuSite = ds.map((d) => `read dom${d}.viommu`);
  }

  /** The request virtqueue (viommu_add_req / viommu_sync_req): a variant may bring its own. */
  protected makeRequestQueue(L: ViommuLayout, host: ViommuHost): RequestQueue {
    return new RequestQueue(L, host, RANK_REQUEST_LOCK);
  }

  /**
   * How nr_endpoints is kept: a plain counter (load, scheduling point, store), as upstream. A variant of
   * the driver can override this — examples/viommu-atomic-count.ts makes it an atomic_t.
   */
  protected makeCounter(index: number, name: string): Counter32 {
    return new Counter32(index, name);
  }

  /** Has the domain been finalised (vdomain->viommu set)? Not a scheduling point: for programs and checks. */
  finalised(i32: Int32Array, d: number): boolean {
    return Atomics.load(i32, this.L.viommu + d) !== 0;
  }

  /** vdev->vdomain of endpoint e, or -1. Protected by the endpoint's group->mutex. */
  vdomain(i32: Int32Array, e: number): number {
    return Atomics.load(i32, this.L.vdomain + e) - 1;
  }

  /** viommu_attach_dev. The core holds e's group->mutex (and nothing that serialises other groups). */
  *attachDev(cpu: Cpu, d: number, e: number): Op<number> {
    yield* this.finalise(cpu, d);
    // vdev->vdomain is protected by group->mutex, which the caller holds: no scheduling point needed.
    const old = this.vdomain(cpu.i32, e);
    const attach = { type: T_ATTACH, domain: d, endpoint: e, slot: 0, pfn: 0, from: cpu.id };
    if (old >= 0) yield* this.nr[old]!.plainAdd(cpu, -1); // (a) the old domain, before the device is told
    const ret = yield* this.rq.sendReqSync(cpu, attach, ATTACH_SEND);
    if (ret !== 0) return ret; // (a) is NOT undone
    if ((yield* this.nr[d]!.load(cpu)) === 0) {
      // (b) first endpoint: replay the tree
      const r = yield* this.replay(cpu, d);
      if (r !== 0) return r;
    }
    yield* this.nr[d]!.plainAdd(cpu, 1); // (c)
    Atomics.store(cpu.i32, this.L.vdomain + e, d + 1);
    return 0;
  }

  /** ≤v6.7: `mutex_lock(&vdomain->mutex); if (!vdomain->viommu) viommu_domain_finalise(...)`. */
  protected *finalise(cpu: Cpu, d: number): Op {
    yield* spinLock(cpu, this.mutex[d]!);
    yield this.finaliseSite[d]!;
    if (Atomics.load(cpu.i32, this.L.viommu + d) === 0) Atomics.store(cpu.i32, this.L.viommu + d, 1);
    yield* spinUnlock(cpu, this.mutex[d]!);
  }

  /**
   * viommu_replay_mappings: a synchronous MAP for every tree entry, with mappings_lock held throughout
   * (so the tree read at 'replay snapshot' stays what is replayed). Returns the first error.
   */
  protected *replay(cpu: Cpu, d: number): Op<number> {
    const L = this.L;
    yield* spinLock(cpu, this.mappingsLock[d]!);
    yield REPLAY_SNAPSHOT;
    const base = L.tree + L.slot(d, 0);
    const live: number[] = [];
    for (let s = 0; s < L.slots; s++) if (Atomics.load(cpu.i32, base + s) !== 0) live.push(s);
    let ret = 0;
    for (const s of live) {
      const pfn = Atomics.load(cpu.i32, base + s) - 1;
      ret = yield* this.rq.sendReqSync(
        cpu,
        { type: T_MAP, domain: d, endpoint: -1, slot: s, pfn, from: cpu.id },
        REPLAY_MAP_SEND,
      );
      if (ret !== 0) break;
    }
    yield* spinUnlock(cpu, this.mappingsLock[d]!);
    return ret;
  }

  /** viommu_detach_dev (from release_device): DETACH (WARN on error), then the decrement. Returns the DETACH status. */
  *detachDev(cpu: Cpu, e: number): Op<number> {
    const d = this.vdomain(cpu.i32, e);
    if (d < 0) return 0;
    const ret = yield* this.rq.sendReqSync(
      cpu,
      { type: T_DETACH, domain: d, endpoint: e, slot: 0, pfn: 0, from: cpu.id },
      DETACH_SEND,
    );
    yield* this.nr[d]!.plainAdd(cpu, -1);
    Atomics.store(cpu.i32, this.L.vdomain + e, 0);
    return ret;
  }

  /**
   * viommu_map_pages for one slot: tree insert under mappings_lock, then — mappings_lock released — a
   * MAP queued without a kick if nr_endpoints (read without a lock) is non-zero. Returns the MAP's place
   * in the FIFO, or -1 when no MAP was queued.
   */
  *mapPages(cpu: Cpu, d: number, s: number, pfn: number): Op<number> {
    const L = this.L;
    yield* spinLock(cpu, this.mappingsLock[d]!);
    yield TREE_INSERT;
    Atomics.store(cpu.i32, L.tree + L.slot(d, s), pfn + 1);
    yield* spinUnlock(cpu, this.mappingsLock[d]!);
    let seq = -1;
    if ((yield* this.nr[d]!.load(cpu)) !== 0) {
      // (m)
      // Simplification: addReq cannot fail here, so the error path (tree delete) is not modelled.
      seq = yield* this.rq.addReq(cpu, { type: T_MAP, domain: d, endpoint: -1, slot: s, pfn, from: cpu.id }, MAP_QUEUE);
    } else {
      yield NO_MAP;
    }
    return seq;
  }

  /**
   * viommu_unmap_pages for one slot: delete it from the tree (0 bytes if it was not there), then an
   * UNMAP queued without a kick unless nr_endpoints is 0 ("device already removed all mappings").
   */
  *unmapPages(cpu: Cpu, d: number, s: number): Op<number> {
    const L = this.L;
    yield* spinLock(cpu, this.mappingsLock[d]!);
    yield TREE_DELETE;
    const had = Atomics.exchange(cpu.i32, L.tree + L.slot(d, s), 0);
    yield* spinUnlock(cpu, this.mappingsLock[d]!);
    let unmapped = 0;
    if (had !== 0) {
      unmapped = SZ_4K;
      if ((yield* this.nr[d]!.load(cpu)) === 0)
        yield NO_UNMAP; // (u)
      else
        yield* this.rq.addReq(
          cpu,
          { type: T_UNMAP, domain: d, endpoint: -1, slot: s, pfn: 0, from: cpu.id },
          UNMAP_QUEUE,
        );
    }
    return unmapped;
  }

  /** viommu_iotlb_sync: unconditional. */
  *iotlbSync(cpu: Cpu, d: number, onDrained?: (cpu: Cpu) => void): Op<boolean> {
    return yield* this.syncDomain(cpu, d, onDrained);
  }

  /** viommu_iotlb_sync_map: `if (!nr_endpoints) return 0;` then sync. Returns whether it synced. */
  *iotlbSyncMap(cpu: Cpu, d: number, onDrained?: (cpu: Cpu) => void): Op<boolean> {
    return yield* this.checkedSync(cpu, d, onDrained);
  }

  /** viommu_flush_iotlb_all (v6.7+, the flush queue's flush): `if (!nr_endpoints) return;` then sync. */
  *flushIotlbAll(cpu: Cpu, d: number): Op<boolean> {
    return yield* this.checkedSync(cpu, d);
  }

  private *checkedSync(cpu: Cpu, d: number, onDrained?: (cpu: Cpu) => void): Op<boolean> {
    let synced = false;
    if ((yield* this.nr[d]!.load(cpu)) === 0) {
      yield NO_SYNC;
    } else {
      synced = yield* this.syncDomain(cpu, d, (c) => {
        // §4.3 V5: the nr_endpoints check passed, but by the kick the device no longer has the domain.
        if (!this.host.alive(c.i32, d)) {
          c.fail(
            'V-SYNC-DETACHED',
            `a sync for dom${d} ran after its last endpoint was detached: the check of nr_endpoints was stale`,
          );
        }
        onDrained?.(c);
      });
    }
    return synced;
  }

  /** viommu_sync_req(vdomain->viommu): the pointer is NULL until the domain's first attach finalises it. */
  protected *syncDomain(cpu: Cpu, d: number, onDrained?: (cpu: Cpu) => void): Op<boolean> {
    yield this.viommuSite[d]!;
    if (!this.finalised(cpu.i32, d)) {
      cpu.fail(
        'V-NOFIN',
        `sync on dom${d} before its first attach: vdomain->viommu is NULL, viommu_sync_req would dereference it`,
      );
      return false;
    }
    yield* this.rq.syncReq(cpu, onDrained);
    return true;
  }
}
