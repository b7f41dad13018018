/**
 * Deferring map hypercalls — kernel-model.md §5.4 (MAPSG-RFC) and §9 #12 #13: the RFC's map_sg cookie
 * (alloc_cookie_sg / add_deferred_map_sg / consume_deferred_map_sg), and the alternative Robin
 * suggested, a per-domain deferred list that map_pages appends to and iotlb_sync_map commits.
 *
 * Cookie: one per map_sg, reachable only from that call, so it needs no lock; its buffer holds
 * `cookieEntries` runs and is flushed to the hypervisor early when full (the ANDROID driver's shared
 * buffer), and once more by consume, which also frees the cookie.
 * Simplification: the cookie's buffer lives in the allocating vCPU's memory (nobody else can reach a
 * cookie); only cookie allocation is shared state (cookie-pool.ts), which is what a leak shows up in.
 *
 * Domain list: iotlb_sync_map(D, iova, size) carries no cookie, so map_pages parks (iova, paddr, pg,
 * cnt) on a list reachable from D; the sync commits everything on it in one hypercall. Several CPUs map
 * into one domain, so the append races (a lost entry) and a sync by one CPU commits another's
 * half-built entries unless a domain lock covers every mapper's whole map -> sync window. An unmap of a
 * parked range cancels it. PerCpuDeferredListDriver gives each CPU its own list, which only that CPU
 * touches (no lock: the two-step API's user here syncs only its own).
 * Simplifications: the window lock is taken by the first driver op of a window and released by the
 * sync that leaves the list empty (in the kernel the driver would need exactly this odd pairing); a
 * parked block entry is cancelled only when the unmap covers it whole.
 *
 * No window explore cannot see (issue 13 item 3): an entry is four plain words (a C struct of iova,
 * paddr, pgsize, pgcount, written and read field by field). Under the domain lock nobody else can look
 * at the list between two of them, so a whole entry, and a whole read or rewrite of the list, is one
 * scheduling point; where nothing serialises the list (othersLook: the unlocked variant, a user's patch
 * that drops the window lock) every word read or written is a point of its own, as real threads
 * interleave there: two CPUs that read the same count both write that slot, word by word, and a sync
 * that read a count another CPU bumped reads the slot while it is written (a torn entry).
 *
 * Known bugs (the unlocked domain list) are subclasses in variants.ts; this file has no bug flags.
 */
import type { Cpu, LockRef, Op } from '../../engine/cpu.js';
import { at, atCpu, region, type Region, type RegionSpec } from '../../engine/layout.js';
import { lockHeld, lockRef, LOCK_WORDS, spinLock, spinUnlock } from '../../engine/sync.js';
import { ENOMEM, SZ_4K } from '../pgtable.js';
import type { CookiePool } from './cookie-pool.js';
import { type Cookie, type DomainOps, type DriverEnv, PerCallDriver } from './driver.js';
import type { Hyp, MapEntry } from './hyp.js';
import { DOMAIN_DEFERRED_LOCK } from './locks.js';

// ---------------------------------------------------------------------------------------------------
// The cookie (RFC v2 55/58)

/** The per-call driver plus the three cookie ops. */
export class CookieDriver extends PerCallDriver {
  protected readonly cookies: CookiePool;
  protected readonly cookieEntries: number;

  constructor(env: DriverEnv) {
    super(env);
    if (!env.cookies) throw new Error('CookieDriver: the model gives no cookie pool (cookieRegions / CookiePool)');
    this.cookies = env.cookies;
    this.cookieEntries = env.cookieEntries;
  }

  /** alloc_cookie_sg(iova, prot, nents, gfp): null when the pool is dry (-ENOMEM). */
  *allocCookieSg(cpu: Cpu, iova: number): Op<Cookie | null> {
    const id = yield* this.cookies.alloc(cpu);
    if (id < 0) return null;
    return { id, iova, entries: [], committed: 0, added: 0 };
  }

  /** add_deferred_map_sg(cookie, paddr, pgsize, pgcount): flushes early when the buffer is full. */
  *addDeferredMapSg(cpu: Cpu, c: Cookie, paddr: number, pgsize: number, pgcount: number): Op<number> {
    c.entries.push({ iova: c.iova, paddr, pgsize, pgcount });
    c.iova += pgsize * pgcount;
    c.added += pgsize * pgcount;
    if (c.entries.length < this.cookieEntries) return 0;
    return yield* this.flushCookie(cpu, c);
  }

  /** consume_deferred_map_sg: one hypercall for what is left, and the cookie is released. */
  *consumeDeferredMapSg(cpu: Cpu, c: Cookie): Op<number> {
    const ret = c.entries.length > 0 ? yield* this.flushCookie(cpu, c) : 0;
    yield* this.cookies.free(cpu, c.id);
    return ret;
  }

  /** The error path's release: drop what was never handed over, free the cookie; bytes committed. */
  *discardCookie(cpu: Cpu, c: Cookie): Op<number> {
    c.entries.length = 0;
    yield* this.cookies.free(cpu, c.id);
    return c.committed;
  }

  /** One hypercall for the runs in the cookie's buffer. */
  protected *flushCookie(cpu: Cpu, c: Cookie): Op<number> {
    const r = yield* this.hyp.map(cpu, c.entries);
    c.committed += r.bytes;
    // Entries the failing hypercall did not commit are dropped with the buffer: the caller unwinds.
    c.entries.length = 0;
    return r.ret;
  }
}

// ---------------------------------------------------------------------------------------------------
// The per-domain (or per-CPU) deferred list

// Entry words: iova pfn, paddr pfn, pgsize in 4K pages, pgcount.
const E_IOVA = 0;
const E_PADDR = 1;
const E_PG = 2;
const E_CNT = 3;
const E_WORDS = 4;

/**
 * The domain list and its lock, and the per-CPU lists: [count, entries...] each. `dl.open` is the
 * per-vCPU "holds the domain lock for a map -> sync window" flag: in shared memory, so nothing of a
 * window outlives an explored execution (a window left open by a cut execution would otherwise turn
 * the next execution's first map into an unlock of a lock nobody holds).
 */
export function deferredListRegions(capacity: number, perCpuCapacity = 64): Record<string, RegionSpec> {
  return {
    'dl.list': { kind: 'i32', count: 1 + capacity * E_WORDS },
    'dl.lock': { kind: 'i32', count: LOCK_WORDS },
    'dl.open': { kind: 'i32', count: 1, perCpu: true },
    'dl.pcpu': { kind: 'i32', count: 1 + perCpuCapacity * E_WORDS, perCpu: true },
  };
}

const SITE_READ_N = 'deferred list: read count';
const SITE_WRITE_E = 'deferred list: write entry';
/** The unlocked variant's point before each word of a list read (othersLook). */
export const SITE_READ_E = 'deferred list: read entry';
const SITE_WRITE_N = 'deferred list: write count';
const SITE_SCAN = 'deferred list: scan';

/**
 * There is no kernel code for it: the list is the one kernel-model.md §5.4 derives from Robin's suggestion
 * (drivers/iommu/iommu.c: iommu_map_sg calls ops->map_pages per run through iommu_map_nosync, then
 * iommu_sync_map -> ops->iotlb_sync_map(domain, iova, size) once; __iommu_unmap calls ops->unmap_pages;
 * iommu_unmap ends with iommu_iotlb_sync -> ops->iotlb_sync), so its code is written here as a driver
 * would, with plain loads and stores of the count and the entries.
 *
 * Robin's alternative (§5.4): map_pages parks every run on a per-domain list, iotlb_sync_map commits
 * the list in one hypercall, unmap_pages cancels parked runs it covers; a domain lock held from a CPU's
 * first map_pages to the sync that empties the list (its "window").
 */
export class DeferredListDriver implements DomainOps {
  protected readonly hyp: Hyp;
  protected readonly list: Region;
  protected readonly openFlag: Region;
  protected capacity: number;
  readonly lock: LockRef;

  constructor(protected readonly env: DriverEnv) {
    this.hyp = env.hyp;
    this.list = region(env.layout, 'dl.list');
    this.openFlag = region(env.layout, 'dl.open');
    this.capacity = Math.min(env.listCapacity, (this.list.count - 1) / E_WORDS);
    this.lock = lockRef(DOMAIN_DEFERRED_LOCK.name, at(region(env.layout, 'dl.lock')), DOMAIN_DEFERRED_LOCK.rank);
  }

  /** i32 index of the list `cpu` appends to: the domain's. */
  protected base(_cpu: Cpu): number {
    return at(this.list);
  }

  /** Does `cpu` hold the domain lock for an open window? (Its own per-CPU word: no scheduling point.) */
  protected windowOpen(cpu: Cpu): boolean {
    return Atomics.load(cpu.i32, atCpu(this.openFlag, cpu.id)) !== 0;
  }

  /** Start a map -> sync window: take the domain lock (once per window). */
  protected *openWindow(cpu: Cpu): Op {
    if (this.windowOpen(cpu)) return;
    yield* spinLock(cpu, this.lock);
    Atomics.store(cpu.i32, atCpu(this.openFlag, cpu.id), 1);
  }

  /** End the window: drop the domain lock. */
  protected *closeWindow(cpu: Cpu): Op {
    if (!this.windowOpen(cpu)) return;
    Atomics.store(cpu.i32, atCpu(this.openFlag, cpu.id), 0);
    yield* spinUnlock(cpu, this.lock);
  }

  /** map_pages: park the run; a plain count load, entry store, count store (the append race). */
  *mapPages(
    cpu: Cpu,
    iova: number,
    paddr: number,
    pgsize: number,
    pgcount: number,
  ): Op<{ ret: number; mapped: number }> {
    yield* this.openWindow(cpu);
    const b = this.base(cpu);
    const i32 = cpu.i32;
    yield SITE_READ_N;
    const n = Atomics.load(i32, b);
    if (n >= this.capacity) return { ret: ENOMEM, mapped: 0 };
    yield SITE_WRITE_E;
    // The entry's four words: one point under the lock, a point each without it (othersLook).
    const racy = this.othersLook(cpu);
    const e = b + 1 + n * E_WORDS;
    Atomics.store(i32, e + E_IOVA, iova / SZ_4K);
    if (racy) yield SITE_WRITE_E;
    Atomics.store(i32, e + E_PADDR, paddr / SZ_4K);
    if (racy) yield SITE_WRITE_E;
    Atomics.store(i32, e + E_PG, pgsize / SZ_4K);
    if (racy) yield SITE_WRITE_E;
    Atomics.store(i32, e + E_CNT, pgcount);
    yield SITE_WRITE_N;
    Atomics.store(i32, b, n + 1);
    return { ret: 0, mapped: pgsize * pgcount };
  }

  /**
   * iotlb_sync_map: commit every parked entry in one hypercall. On failure the uncommitted rest stays
   * parked (the caller's unwind cancels it) and the window stays open.
   */
  *iotlbSyncMap(cpu: Cpu, _iova?: number, _size?: number): Op<number> {
    yield* this.openWindow(cpu);
    const b = this.base(cpu);
    const i32 = cpu.i32;
    yield SITE_READ_N;
    const n = Atomics.load(i32, b);
    if (n === 0) {
      yield* this.closeWindow(cpu);
      return 0;
    }
    const entries = yield* this.readEntries(cpu, b, n);
    const r = yield* this.hyp.map(cpu, entries);
    if (r.ret === 0) {
      yield SITE_WRITE_N;
      // Everything read is committed. A plain store: entries appended since our read are lost. The
      // window flag closeWindow clears in the same step is this vCPU's own word (nobody else reads it).
      Atomics.store(i32, b, 0);
      yield* this.closeWindow(cpu);
      return 0;
    }
    // Keep what the failing hypercall left (hyp.map updated the entries in place), in order: the
    // entries, then the count, each its own point (an append racing in between is what the unlocked
    // variant loses).
    const left = entries.filter((e) => e.pgcount > 0);
    yield SITE_WRITE_E;
    yield* this.writeEntries(cpu, b, left);
    yield SITE_WRITE_N;
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
    const entries = yield* this.readEntries(cpu, b, n);
    const keep: MapEntry[] = [];
    // Pages of the range covered by cancelled entries (sorted ranges, for the holes left to unmap).
    const cancelled: [number, number][] = [];
    for (const e of entries) {
      const elo = e.iova;
      const ehi = e.iova + e.pgsize * e.pgcount;
      if (ehi <= lo || elo >= hi) {
        keep.push(e);
        continue;
      }
      if (elo >= lo && ehi <= hi) {
        cancelled.push([elo, ehi]);
        continue;
      }
      if (e.pgsize !== SZ_4K) {
        keep.push(e);
        continue;
      } // Simplification: blocks cancelled only whole
      const clo = Math.max(lo, elo);
      const chi = Math.min(hi, ehi);
      cancelled.push([clo, chi]);
      if (elo < clo) keep.push({ ...e, pgcount: (clo - elo) / SZ_4K });
      if (chi < ehi) keep.push({ ...e, iova: chi, paddr: e.paddr + (chi - elo), pgcount: (ehi - chi) / SZ_4K });
    }
    let done = 0;
    if (cancelled.length > 0) {
      yield SITE_WRITE_E;
      yield* this.writeEntries(cpu, b, keep);
      yield SITE_WRITE_N;
      Atomics.store(i32, b, keep.length);
      cancelled.sort((x, y) => x[0] - y[0]);
    }
    // The committed parts: the gaps between cancelled ranges, each one unmap hypercall.
    let at_ = lo;
    for (const [clo, chi] of [...cancelled, [hi, hi] as [number, number]]) {
      if (clo > at_) {
        const got = yield* this.hyp.unmap(
          cpu,
          at_,
          pgsize === SZ_4K || (clo - at_) % pgsize !== 0 ? SZ_4K : pgsize,
          clo - at_,
        );
        done += got;
        if (got < clo - at_) return done;
      }
      done += chi - clo;
      at_ = Math.max(at_, chi);
    }
    return done;
  }

  /** iotlb_sync after an unmap: ends the window once nothing of ours is parked any more. */
  *iotlbSync(cpu: Cpu, _iova?: number, _size?: number): Op {
    if (!this.windowOpen(cpu)) return;
    yield SITE_READ_N;
    if (Atomics.load(cpu.i32, this.base(cpu)) === 0) yield* this.closeWindow(cpu);
  }

  /** Entries parked on the domain list, read on a quiescent model. */
  parked(i32: Int32Array, _cpu = 0): number {
    return Atomics.load(i32, at(this.list));
  }

  /**
   * The first n entries, right after the caller's point that read the count: under the lock all in that
   * point; without it a point before every word (othersLook), the first one included, since the slot may
   * be rewritten between the count read and the entry read.
   */
  protected *readEntries(cpu: Cpu, b: number, n: number): Op<MapEntry[]> {
    const i32 = cpu.i32;
    const racy = this.othersLook(cpu);
    const out: MapEntry[] = [];
    const w = [0, 0, 0, 0];
    for (let k = 0; k < Math.min(n, this.capacity); k++) {
      const e = b + 1 + k * E_WORDS;
      for (let f = 0; f < E_WORDS; f++) {
        if (racy) yield SITE_READ_E;
        w[f] = Atomics.load(i32, e + f);
      }
      out.push({ iova: w[E_IOVA]! * SZ_4K, paddr: w[E_PADDR]! * SZ_4K, pgsize: w[E_PG]! * SZ_4K, pgcount: w[E_CNT]! });
    }
    return out;
  }

  /**
   * Rewrite the list's first entries, from the caller's point (SITE_WRITE_E): under the lock all in that
   * point; without it every word after the first is a point of its own (othersLook).
   */
  protected *writeEntries(cpu: Cpu, b: number, entries: readonly MapEntry[]): Op {
    const i32 = cpu.i32;
    const racy = this.othersLook(cpu);
    for (let k = 0; k < entries.length; k++) {
      const x = entries[k]!;
      const e = b + 1 + k * E_WORDS;
      const w = [x.iova / SZ_4K, x.paddr / SZ_4K, x.pgsize / SZ_4K, x.pgcount];
      for (let f = 0; f < E_WORDS; f++) {
        if (racy && (k > 0 || f > 0)) yield SITE_WRITE_E;
        Atomics.store(i32, e + f, w[f]!);
      }
    }
  }

  /**
   * Can another CPU look at the list between two of this CPU's accesses to it? Not under the domain lock:
   * every access to the domain list (the append, the sync's read, the unmap's scan and rewrite) is made
   * in a window that holds it (openWindow), so a read or rewrite of the list, and an entry, stays in the
   * caller's point; without it (the unlocked variant, a user's patch that drops the window lock) yes,
   * and every word of an entry is a point of its own, as real threads interleave there.
   */
  protected othersLook(cpu: Cpu): boolean {
    return !lockHeld(cpu, this.lock);
  }
}

/**
 * Each CPU parks its runs on its own list and its sync commits only those (the two-step API's user in
 * scenario dma-iova): nobody else touches a CPU's list, so there is no lock and no window.
 */
export class PerCpuDeferredListDriver extends DeferredListDriver {
  protected readonly pcpu: Region;

  constructor(env: DriverEnv) {
    super(env);
    this.pcpu = region(env.layout, 'dl.pcpu');
    this.capacity = Math.min(env.listCapacity, (this.pcpu.count - 1) / E_WORDS);
  }

  protected override base(cpu: Cpu): number {
    return atCpu(this.pcpu, cpu.thisCpu);
  }

  // eslint-disable-next-line require-yield
  protected override *openWindow(): Op {
    /* the list is this CPU's own */
  }

  // eslint-disable-next-line require-yield
  protected override *closeWindow(): Op {
    /* no lock taken */
  }

  /** The list is base(cpu): this CPU's own slot, which no other vCPU reads or writes: no point. */
  protected override othersLook(): boolean {
    return false;
  }

  override parked(i32: Int32Array, cpu = 0): number {
    return Atomics.load(i32, atCpu(this.pcpu, cpu));
  }
}
