/**
 * The checker's ownership map of the IOVA space (kernel-model.md §2.4 I3, I5) — checker state, not
 * model state: reading or writing it is never a scheduling point.
 *
 * One word per pfn says where that granule is: free in the tree, reserved, cached in a magazine, or in
 * use (by the vCPU that allocated it). The model moves a range between these states at the very step
 * where the kernel moves it — the rbtree insert or erase, the magazine push or pop — with a
 * compare-and-swap per pfn, so a pfn handed out twice is caught at the second hand-out, on the vCPU
 * that does it, and a range that goes back to the tree while someone still uses it is caught there.
 * A second word per range start records the length the tree gave the range, so a free into the wrong
 * size bucket (I3) is caught at the push.
 */
import type { Cpu } from '../../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';

export const FREE = 0;
export const RESERVED = -1;
export const CACHED = -2;
/** In use: 1 + the vCPU that allocated it (a hand-off to another vCPU keeps the value). */
export const inUse = (cpu: number): number => cpu + 1;

export function shadowRegions(spacePfns: number): Record<string, RegionSpec> {
  return {
    'shadow.state': { kind: 'i32', count: spacePfns },
    'shadow.len': { kind: 'i32', count: spacePfns },
  };
}

export function stateName(v: number): string {
  if (v === FREE) return 'free in the rbtree';
  if (v === RESERVED) return 'reserved';
  if (v === CACHED) return 'cached in a magazine';
  return `in use (allocated by cpu${v - 1})`;
}

const hex = (x: number): string => `0x${x.toString(16)}`;

export class Shadow {
  private readonly state: number;
  private readonly len: number;

  constructor(layout: Layout, readonly spacePfns: number, readonly enabled: boolean) {
    this.state = at(region(layout, 'shadow.state'));
    this.len = at(region(layout, 'shadow.len'));
  }

  stateOf(i32: Int32Array, pfn: number): number { return Atomics.load(i32, this.state + pfn); }
  lenOf(i32: Int32Array, pfn: number): number { return Atomics.load(i32, this.len + pfn); }

  /** Setup: mark a range without checks. */
  mark(i32: Int32Array, lo: number, size: number, v: number): void {
    for (let p = lo; p < lo + size && p < this.spacePfns; p++) i32[this.state + p] = v;
    if (lo < this.spacePfns) i32[this.len + lo] = size;
  }

  /** The tree handed out [lo, lo + size) to `cpu`: every pfn must have been free (I5). */
  fromTree(cpu: Cpu, lo: number, size: number): void {
    if (!this.enabled) return;
    Atomics.store(cpu.i32, this.len + lo, size);
    this.move(cpu, lo, size, FREE, inUse(cpu.id), () => `alloc_iova gives cpu${cpu.id} [${hex(lo)}, +${size}]`);
  }

  /** A magazine of bucket k handed out pfn to `cpu`: all 2^k granules must have been cached (I5). */
  fromCache(cpu: Cpu, pfn: number, k: number): void {
    if (!this.enabled) return;
    this.move(cpu, pfn, 1 << k, CACHED, inUse(cpu.id), () => `cpu${cpu.id} pops ${hex(pfn)} from its bucket-${k} magazine (${1 << k} granules)`);
  }

  /** `cpu` frees pfn into a bucket-k magazine: the range must be exactly 2^k granules (I3) and in use. */
  toCache(cpu: Cpu, pfn: number, k: number): void {
    if (!this.enabled) return;
    const n = Atomics.load(cpu.i32, this.len + pfn);
    if (n !== 1 << k) {
      cpu.fail('I3', `cpu${cpu.id} frees the ${n}-granule range at ${hex(pfn)} into bucket ${k}, which holds only ${1 << k}-granule ranges`);
    }
    this.move(cpu, pfn, n > 0 ? n : 1 << k, 'inuse', CACHED, () => `cpu${cpu.id} frees [${hex(pfn)}, +${n}] into its bucket-${k} magazine`);
  }

  /** free_iova returned the in-use range [lo, hi] to the tree. */
  inUseToTree(cpu: Cpu, lo: number, hi: number): void {
    if (!this.enabled) return;
    this.move(cpu, lo, hi - lo + 1, 'inuse', FREE, () => `cpu${cpu.id} frees [${hex(lo)}, ${hex(hi)}] to the rbtree`);
  }

  /** iova_magazine_free_pfns returned the cached range [lo, hi] to the tree. */
  cachedToTree(cpu: Cpu, lo: number, hi: number, whose: string): void {
    if (!this.enabled) return;
    this.move(cpu, lo, hi - lo + 1, CACHED, FREE, () => `cpu${cpu.id} returns ${hex(lo)} from ${whose} to the rbtree`);
  }

  /**
   * Move every pfn of the range from `from` ('inuse' = any vCPU's) to `to`; report the first pfn found
   * elsewhere as I5 (it is then in two places: where it was found and where the model is putting it).
   */
  private move(cpu: Cpu, lo: number, size: number, from: number | 'inuse', to: number, what: () => string): void {
    const i32 = cpu.i32;
    let reported = false;
    for (let p = lo; p < lo + size; p++) {
      if (p < 0 || p >= this.spacePfns) {
        if (!reported) { cpu.fail('I1', `${what()}: pfn ${hex(p)} lies outside the IOVA space`); reported = true; }
        continue;
      }
      for (;;) {
        const v = Atomics.load(i32, this.state + p);
        const ok = from === 'inuse' ? v > 0 : v === from;
        if (!ok) {
          if (!reported) { cpu.fail('I5', `${what()}, but pfn ${hex(p)} is ${stateName(v)}`); reported = true; }
          break;
        }
        if (Atomics.compareExchange(i32, this.state + p, v, to) === v) break;
      }
    }
  }
}
