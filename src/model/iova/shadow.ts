/**
 * The checker's ownership map of the IOVA space (kernel-model.md §2.4 I1, I3, I5) — checker state, not
 * model state: reading or writing it is never a scheduling point.
 *
 * One word per pfn says whose that granule is: the allocator's (free in the rbtree or cached in a
 * magazine: the harness does not look inside), reserved, or in use by the vCPU it was handed to. It is
 * driven only from the harness's wrappers around the allocator (CheckedIovaDomain): a range moves to
 * "in use" when alloc_iova_fast / alloc_iova returns it and back when the consumer calls
 * free_iova_fast / free_iova, with a compare-and-swap per pfn, so a pfn handed out twice is caught at
 * the second hand-out on the vCPU that gets it, whatever code the variant runs inside. A second word
 * per range start records the extent handed out, which the hand-in checks the free against.
 */
import type { Cpu } from '../../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';

/** The allocator's: free in the rbtree or cached. */
export const FREE = 0;
export const RESERVED = -1;
/** In use: 1 + the vCPU it was handed to (a hand-off to another vCPU keeps the value). */
export const inUse = (cpu: number): number => cpu + 1;

export function shadowRegions(spacePfns: number): Record<string, RegionSpec> {
  return {
    'shadow.state': { kind: 'i32', count: spacePfns },
    'shadow.len': { kind: 'i32', count: spacePfns },
  };
}

export function stateName(v: number): string {
  if (v === FREE) return "the allocator's (free or cached)";
  if (v === RESERVED) return 'reserved';
  return `in use (handed to cpu${v - 1})`;
}

const hex = (x: number): string => `0x${x.toString(16)}`;

export class Shadow {
  private readonly state: number;
  private readonly len: number;

  constructor(
    layout: Layout,
    readonly spacePfns: number,
    readonly enabled: boolean,
  ) {
    this.state = at(region(layout, 'shadow.state'));
    this.len = at(region(layout, 'shadow.len'));
  }

  stateOf(i32: Int32Array, pfn: number): number {
    return Atomics.load(i32, this.state + pfn);
  }
  lenOf(i32: Int32Array, pfn: number): number {
    return Atomics.load(i32, this.len + pfn);
  }

  /** Setup: mark a range without checks. */
  mark(i32: Int32Array, lo: number, size: number, v: number): void {
    for (let p = lo; p < lo + size && p < this.spacePfns; p++) i32[this.state + p] = v;
    if (lo < this.spacePfns) i32[this.len + lo] = size;
  }

  /** The allocator handed [lo, lo + size) to `cpu`: every pfn must have been the allocator's (I5). */
  handOut(cpu: Cpu, lo: number, size: number, what: () => string): void {
    if (lo >= 0 && lo < this.spacePfns) Atomics.store(cpu.i32, this.len + lo, size);
    this.move(cpu, lo, size, FREE, inUse(cpu.id), what);
  }

  /** `cpu` gives [lo, lo + size) back: every pfn must be in use (I5: not freed twice). */
  handIn(cpu: Cpu, lo: number, size: number, what: () => string): void {
    this.move(cpu, lo, size, 'inuse', FREE, what);
  }

  /**
   * Move every pfn of the range from `from` ('inuse' = any vCPU's) to `to`; report the first pfn found
   * elsewhere as I5 (it is then in two places: where it was found and where the range is going).
   */
  private move(cpu: Cpu, lo: number, size: number, from: number | 'inuse', to: number, what: () => string): void {
    const i32 = cpu.i32;
    let reported = false;
    for (let p = lo; p < lo + size; p++) {
      if (p < 0 || p >= this.spacePfns) {
        if (!reported) {
          cpu.fail('I1', `${what()}: pfn ${hex(p)} lies outside the IOVA space`);
          reported = true;
        }
        continue;
      }
      for (;;) {
        const v = Atomics.load(i32, this.state + p);
        const ok = from === 'inuse' ? v > 0 : v === from;
        if (!ok) {
          if (!reported) {
            cpu.fail('I5', `${what()}, but pfn ${hex(p)} is ${stateName(v)}`);
            reported = true;
          }
          break;
        }
        if (Atomics.compareExchange(i32, this.state + p, v, to) === v) break;
      }
    }
  }
}
