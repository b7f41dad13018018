/**
 * Memory for map_sg cookies (the RFC's alloc_cookie_sg allocates one per call; kernel-model.md §5.4):
 * a fixed pool in shared memory, and the harness's accounting of it. Every cookie slot records the
 * vCPU that holds it, so "map_sg released the cookie it allocated" is checked from the allocator's
 * side (owner words) — not from inside the driver's cookie ops, which a variant may override.
 *
 * Simplification: a bitmap pool taken with compare-and-swap (one scheduling point per call), like
 * page-pool.ts: an allocator that is concurrency-safe and not the object of study.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { at, type Layout, region, type RegionSpec } from '../../engine/layout.js';
import { FreeBitmap, freeBitmapRegion, RETRY } from '../free-bitmap.js';

export function cookieRegions(cookies: number): Record<string, RegionSpec> {
  return {
    'cookie.free': freeBitmapRegion(cookies),
    /** Checker state: per cookie, the vCPU holding it + 1 (0 free). */
    'cookie.owner': { kind: 'i32', count: cookies },
  };
}

const SITE_COOKIE_ALLOC = 'alloc_cookie_sg';
const SITE_COOKIE_FREE = 'free cookie';

export class CookiePool {
  private readonly pool: FreeBitmap;
  private readonly owner: number;

  constructor(
    layout: Layout,
    readonly cookies: number,
  ) {
    this.pool = new FreeBitmap(at(region(layout, 'cookie.free')), cookies);
    this.owner = at(region(layout, 'cookie.owner'));
  }

  init(i32: Int32Array): void {
    this.pool.init(i32);
  }

  /** kmalloc of a cookie: its slot, or -1 when the pool is dry (-ENOMEM). */
  *alloc(cpu: Cpu): Op<number> {
    for (;;) {
      yield SITE_COOKIE_ALLOC;
      const id = this.pool.tryTake(cpu.i32);
      if (id === RETRY) continue;
      if (id >= 0) Atomics.store(cpu.i32, this.owner + id, cpu.id + 1);
      return id;
    }
  }

  /** kfree of a cookie. A second free is reported (MAPSG-COOKIE), not thrown: the code under test did it. */
  *free(cpu: Cpu, id: number): Op {
    yield SITE_COOKIE_FREE;
    Atomics.store(cpu.i32, this.owner + id, 0);
    if (this.pool.give(cpu.i32, id))
      cpu.fail('MAPSG-COOKIE', `${cpu.name} frees map_sg cookie ${id}, which is already free`);
  }

  /** Cookies `cpu` holds now (checked when its map_sg has returned: it must hold none). */
  heldBy(i32: Int32Array, cpu: number): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.cookies; id++) if (Atomics.load(i32, this.owner + id) === cpu + 1) out.push(id);
    return out;
  }

  isFree(i32: Int32Array, id: number): boolean {
    return this.pool.isFree(i32, id);
  }

  freeCount(i32: Int32Array): number {
    return this.pool.freeSlots(i32).length;
  }
}
