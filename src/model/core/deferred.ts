/**
 * Deferring map hypercalls — kernel-model.md §5.4 (MAPSG-RFC) and §9 #12 #13: the RFC's map_sg cookie
 * (alloc_cookie_sg / add_deferred_map_sg / consume_deferred_map_sg), and the alternative Robin
 * suggested, a per-domain deferred list that map_pages appends to and iotlb_sync_map commits.
 *
 * Cookie: one per map_sg, reachable only from that call, so it needs no lock; its buffer holds
 * `cookieEntries` runs and is flushed to the hypervisor early when full (the ANDROID driver's shared
 * buffer), and once more by consume, which also frees the cookie.
 * Simplification: the cookie's buffer lives in the allocating vCPU's memory (nobody else can reach a
 * cookie); only cookie allocation is shared state (a pool), which is what a leak shows up in.
 *
 * Domain list: iotlb_sync_map(D, iova, size) carries no cookie, so map_pages parks (iova, paddr, pg,
 * cnt) on a list reachable from D; the sync commits everything on it in one hypercall. Several CPUs map
 * into one domain, so the append races (a lost entry) and a sync by one CPU commits another's
 * half-built entries unless a domain lock covers every mapper's whole map -> sync window (`locked`).
 * An unmap of a parked range cancels it. `perCpu` gives each CPU its own list (the append race goes,
 * the cross-CPU commit stays — unless, as the two-step API's user here, each CPU syncs only its own).
 * Simplifications: the window lock is taken by the first driver op of a window and released by the
 * sync that leaves the list empty (in the kernel the driver would need exactly this odd pairing); a
 * parked block entry is cancelled only when the unmap covers it whole.
 */
import type { Cpu, LockRef, Op } from '../../engine/cpu.js';
import { at, atCpu, region, type Layout, type Region, type RegionSpec } from '../../engine/layout.js';
import { lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../../engine/sync.js';
import { FreeBitmap, freeBitmapRegion, RETRY } from '../free-bitmap.js';
import { ENOMEM, SZ_4K } from '../pgtable.js';
import { type DomainOps, type Hyp, type MapEntry, PerCallDriver } from './driver.js';

// ---------------------------------------------------------------------------------------------------
// The cookie (RFC v2 55/58)

export function cookieRegions(cookies: number): Record<string, RegionSpec> {
  return { 'cookie.free': freeBitmapRegion(cookies) };
}

/** A map_sg cookie: its pool slot and the runs not yet handed to the hypervisor. */
export interface Cookie {
  readonly id: number;
  /** Next IOVA the cookie will place a run at (runs arrive in IOVA order). */
  iova: number;
  readonly entries: MapEntry[];
  /** Bytes the hypervisor has committed so far (early flushes, and consume). */
  committed: number;
  /** Bytes added (committed or not). */
  added: number;
  /** Checker: consumed or discarded (the pool slot may already serve another call). */
  released: boolean;
}

const SITE_COOKIE_ALLOC = 'alloc_cookie_sg';
const SITE_COOKIE_FREE = 'free cookie';

/** The per-call driver plus the three cookie ops. */
export class CookieDriver extends PerCallDriver {
  private readonly pool: FreeBitmap;

  constructor(layout: Layout, hyp: Hyp, readonly cookies: number, readonly cookieEntries: number) {
    super(hyp);
    this.pool = new FreeBitmap(at(region(layout, 'cookie.free')), cookies);
  }

  init(i32: Int32Array): void { this.pool.init(i32); }

  /** alloc_cookie_sg(iova, prot, nents, gfp): null when the pool is dry (-ENOMEM). */
  *allocCookieSg(cpu: Cpu, iova: number): Op<Cookie | null> {
    for (;;) {
      yield SITE_COOKIE_ALLOC;
      const id = this.pool.tryTake(cpu.i32);
      if (id === RETRY) continue;
      if (id < 0) return null;
      return { id, iova, entries: [], committed: 0, added: 0, released: false };
    }
  }

  /** add_deferred_map_sg(cookie, paddr, pgsize, pgcount): flushes early when the buffer is full. */
  *addDeferredMapSg(cpu: Cpu, c: Cookie, paddr: number, pgsize: number, pgcount: number): Op<number> {
    c.entries.push({ iova: c.iova, paddr, pgsize, pgcount, tag: this.hyp.ctx[cpu.id]!.tag });
    c.iova += pgsize * pgcount;
    c.added += pgsize * pgcount;
    if (c.entries.length < this.cookieEntries) return 0;
    return yield* this.flush(cpu, c);
  }

  /** consume_deferred_map_sg: one hypercall for what is left, and the cookie is released. */
  *consumeDeferredMapSg(cpu: Cpu, c: Cookie): Op<number> {
    const ret = c.entries.length > 0 ? yield* this.flush(cpu, c) : 0;
    yield* this.freeCookie(cpu, c);
    return ret;
  }

  /** The error path's release: drop what was never handed over, free the cookie; bytes committed. */
  *discardCookie(cpu: Cpu, c: Cookie): Op<number> {
    c.entries.length = 0;
    yield* this.freeCookie(cpu, c);
    return c.committed;
  }

  isFree(i32: Int32Array, id: number): boolean { return this.pool.isFree(i32, id); }

  freeCount(i32: Int32Array): number { return this.pool.freeSlots(i32).length; }

  private *flush(cpu: Cpu, c: Cookie): Op<number> {
    const r = yield* this.hyp.map(cpu, c.entries);
    c.committed += r.bytes;
    // Entries the failing hypercall did not commit are dropped with the buffer: the caller unwinds.
    c.entries.length = 0;
    return r.ret;
  }

  private *freeCookie(cpu: Cpu, c: Cookie): Op {
    yield SITE_COOKIE_FREE;
    c.released = true;
    if (this.pool.give(cpu.i32, c.id)) throw new Error(`${cpu.name} frees map_sg cookie ${c.id} twice`);
  }
}

// ---------------------------------------------------------------------------------------------------
// The per-domain (or per-CPU) deferred list

// Entry words: iova pfn, paddr pfn, pgsize in 4K pages, pgcount, tag.
const E_IOVA = 0;
const E_PADDR = 1;
const E_PG = 2;
const E_CNT = 3;
const E_TAG = 4;
const E_WORDS = 5;

export interface DeferredListOptions {
  readonly perCpu: boolean;
  readonly locked: boolean;
  /** Entries a list holds; an append to a full list is -ENOMEM. */
  readonly capacity: number;
}

export function deferredListRegions(o: DeferredListOptions): Record<string, RegionSpec> {
  return {
    /** [count, entries...] per list. */
    'dl.list': { kind: 'i32', count: 1 + o.capacity * E_WORDS, perCpu: o.perCpu },
    'dl.lock': { kind: 'i32', count: LOCK_WORDS },
  };
}

const SITE_READ_N = 'deferred list: read count';
const SITE_WRITE_E = 'deferred list: write entry';
const SITE_WRITE_N = 'deferred list: write count';
const SITE_SCAN = 'deferred list: scan';

export class DeferredListDriver implements DomainOps {
  private readonly list: Region;
  readonly lock: LockRef;
  /** Per vCPU: holds the domain lock for a map -> sync window (vCPU-local). */
  private readonly open: boolean[];

  constructor(layout: Layout, readonly hyp: Hyp, private readonly o: DeferredListOptions, cpus: number, lockRank = 0) {
    this.list = region(layout, 'dl.list');
    this.lock = lockRef('domain_deferred_lock', at(region(layout, 'dl.lock')), lockRank);
    this.open = Array<boolean>(cpus).fill(false);
  }

  private base(cpu: Cpu): number {
    return this.o.perCpu ? atCpu(this.list, cpu.thisCpu) : at(this.list);
  }

  private *openWindow(cpu: Cpu): Op {
    if (!this.o.locked || this.open[cpu.id]) return;
    yield* spinLock(cpu, this.lock);
    this.open[cpu.id] = true;
  }

  private *closeWindow(cpu: Cpu): Op {
    if (!this.o.locked || !this.open[cpu.id]) return;
    this.open[cpu.id] = false;
    yield* spinUnlock(cpu, this.lock);
  }

  /** map_pages: park the run; a plain count load, entry store, count store (the append race). */
  *mapPages(cpu: Cpu, iova: number, paddr: number, pgsize: number, pgcount: number): Op<{ ret: number; mapped: number }> {
    yield* this.openWindow(cpu);
    const b = this.base(cpu);
    const i32 = cpu.i32;
    yield SITE_READ_N;
    const n = Atomics.load(i32, b);
    if (n >= this.o.capacity) return { ret: ENOMEM, mapped: 0 };
    yield SITE_WRITE_E;
    const e = b + 1 + n * E_WORDS;
    Atomics.store(i32, e + E_IOVA, iova / SZ_4K);
    Atomics.store(i32, e + E_PADDR, paddr / SZ_4K);
    Atomics.store(i32, e + E_PG, pgsize / SZ_4K);
    Atomics.store(i32, e + E_CNT, pgcount);
    Atomics.store(i32, e + E_TAG, this.hyp.ctx[cpu.id]!.tag);
    yield SITE_WRITE_N;
    Atomics.store(i32, b, n + 1);
    return { ret: 0, mapped: pgsize * pgcount };
  }

  /**
   * iotlb_sync_map: commit every parked entry in one hypercall. On failure the uncommitted rest stays
   * parked (the caller's unwind cancels it) and the window stays open.
   */
  *iotlbSyncMap(cpu: Cpu): Op<number> {
    this.hyp.ctx[cpu.id]!.syncMaps++;
    yield* this.openWindow(cpu);
    const b = this.base(cpu);
    const i32 = cpu.i32;
    yield SITE_READ_N;
    const n = Atomics.load(i32, b);
    if (n === 0) { yield* this.closeWindow(cpu); return 0; }
    const entries = this.readEntries(i32, b, n);
    const r = yield* this.hyp.map(cpu, entries);
    yield SITE_WRITE_N;
    if (r.ret === 0) {
      // Everything read is committed. A plain store: entries appended since our read are lost.
      Atomics.store(i32, b, 0);
      yield* this.closeWindow(cpu);
      return 0;
    }
    // Keep what the failing hypercall left (hyp.map updated the entries in place), in order.
    const left = entries.filter((e) => e.pgcount > 0);
    this.writeEntries(i32, b, left);
    Atomics.store(i32, b, left.length);
    return r.ret;
  }

  /** unmap_pages: cancel parked runs inside the range, unmap (hypercall) the committed rest. */
  *unmapPages(cpu: Cpu, iova: number, pgsize: number, pgcount: number): Op<number> {
    yield* this.openWindow(cpu);
    const b = this.base(cpu);
    const i32 = cpu.i32;
    const lo = iova;
    const hi = iova + pgsize * pgcount;
    yield SITE_SCAN;
    const n = Atomics.load(i32, b);
    const entries = this.readEntries(i32, b, n);
    const keep: MapEntry[] = [];
    // Pages of the range covered by cancelled entries (sorted ranges, for the holes left to unmap).
    const cancelled: [number, number][] = [];
    for (const e of entries) {
      const elo = e.iova;
      const ehi = e.iova + e.pgsize * e.pgcount;
      if (ehi <= lo || elo >= hi) { keep.push(e); continue; }
      if (elo >= lo && ehi <= hi) { cancelled.push([elo, ehi]); continue; }
      if (e.pgsize !== SZ_4K) { keep.push(e); continue; } // Simplification: blocks cancelled only whole
      const clo = Math.max(lo, elo);
      const chi = Math.min(hi, ehi);
      cancelled.push([clo, chi]);
      if (elo < clo) keep.push({ ...e, pgcount: (clo - elo) / SZ_4K });
      if (chi < ehi) keep.push({ ...e, iova: chi, paddr: e.paddr + (chi - elo), pgcount: (ehi - chi) / SZ_4K });
    }
    let done = 0;
    if (cancelled.length > 0) {
      yield SITE_WRITE_N;
      this.writeEntries(i32, b, keep);
      Atomics.store(i32, b, keep.length);
      cancelled.sort((x, y) => x[0] - y[0]);
    }
    // The committed parts: the gaps between cancelled ranges, each one unmap hypercall.
    let at_ = lo;
    for (const [clo, chi] of [...cancelled, [hi, hi] as [number, number]]) {
      if (clo > at_) {
        const got = yield* this.hyp.unmap(cpu, at_, pgsize === SZ_4K || (clo - at_) % pgsize !== 0 ? SZ_4K : pgsize, clo - at_);
        done += got;
        if (got < clo - at_) return done;
      }
      done += chi - clo;
      at_ = Math.max(at_, chi);
    }
    return done;
  }

  /** iotlb_sync after an unmap: ends the window once nothing of ours is parked any more. */
  *iotlbSync(cpu: Cpu): Op {
    if (!this.o.locked || !this.open[cpu.id]) return;
    yield SITE_READ_N;
    if (Atomics.load(cpu.i32, this.base(cpu)) === 0) yield* this.closeWindow(cpu);
  }

  /** Entries parked on list `l` (0 for the domain list, else the CPU), read on a quiescent model. */
  parked(i32: Int32Array, l: number): number {
    return Atomics.load(i32, this.o.perCpu ? atCpu(this.list, l) : at(this.list));
  }

  private readEntries(i32: Int32Array, b: number, n: number): MapEntry[] {
    const out: MapEntry[] = [];
    for (let k = 0; k < Math.min(n, this.o.capacity); k++) {
      const e = b + 1 + k * E_WORDS;
      out.push({
        iova: Atomics.load(i32, e + E_IOVA) * SZ_4K, paddr: Atomics.load(i32, e + E_PADDR) * SZ_4K,
        pgsize: Atomics.load(i32, e + E_PG) * SZ_4K, pgcount: Atomics.load(i32, e + E_CNT), tag: Atomics.load(i32, e + E_TAG),
      });
    }
    return out;
  }

  private writeEntries(i32: Int32Array, b: number, entries: readonly MapEntry[]): void {
    entries.forEach((x, k) => {
      const e = b + 1 + k * E_WORDS;
      Atomics.store(i32, e + E_IOVA, x.iova / SZ_4K);
      Atomics.store(i32, e + E_PADDR, x.paddr / SZ_4K);
      Atomics.store(i32, e + E_PG, x.pgsize / SZ_4K);
      Atomics.store(i32, e + E_CNT, x.pgcount);
      Atomics.store(i32, e + E_TAG, x.tag);
    });
  }
}
