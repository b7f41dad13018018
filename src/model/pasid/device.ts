/**
 * The PASID-capable device and the harness's view of memory — the checking side of the system-PASID
 * model (reference/pasid.md), independent of the mechanisms under test (system-pasid.ts, kernel-mm.ts
 * and their variants):
 *
 *  - owner tags: every physical page carries the tag of whoever owns it now (a kernel user's buffer,
 *    boot-time kernel data, the shared read-only pages, or free), set and cleared by the hand-out /
 *    hand-in wrappers the scenario puts around the page allocator;
 *  - the device's DMA goes through the device TLB (model/iotlb.ts: IOTLB and ATS cache in one), like
 *    hardware: a stale translation sends it wherever the old translation pointed. A DMA for a buffer a
 *    user handed to the device must land on a page with that buffer's tag (else DMA-CORRUPT) and must
 *    translate (else DMA-FAULT);
 *  - a stray DMA (a buggy device writing to a random address of its address space) faults under option 1
 *    unless it hits something mapped, and lands silently under option 2, where nearly everything is;
 *  - exposure: how many pages of its address space the device can reach right now — those the table it
 *    walks maps, plus stale device-TLB entries — read on the model without scheduling points.
 *
 * Reading the Iotlb's entries directly (region 'iotlb.entry': phys pfn + 1 per address pfn) is the one
 * place this file knows the IOTLB model's layout.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { at, region, type Layout, type RegionSpec } from '../../engine/layout.js';
import type { Iotlb } from '../iotlb.js';
import { SZ_4K } from '../pgtable.js';
import type { PgsizeTable } from './pgsize-table.js';
import { COST_TRANSFER, COST_WALK, type Costs } from './system-pasid.js';

export const TAG_FREE = 0;
export const TAG_KERNEL = -1;
export const TAG_SHARED = -2;

export function ownerRegions(memPages: number): Record<string, RegionSpec> {
  return { 'owner.tag': { kind: 'i32', count: memPages + 1 } };
}

export function ownerName(tag: number): string {
  if (tag === TAG_FREE) return 'a free page';
  if (tag === TAG_KERNEL) return 'kernel data';
  if (tag === TAG_SHARED) return 'a shared read-only page';
  return `cpu${(tag >>> 20) - 1}'s buffer #${tag & 0xfffff}`;
}

const hex = (x: number): string => `0x${x.toString(16)}`;

export class Device {
  private readonly tags: number;
  private readonly entries: number;

  constructor(
    layout: Layout,
    private readonly iotlb: Iotlb,
    private readonly pt: PgsizeTable,
    /** Address pfns the device can name: [1, space). */
    readonly space: number,
    private readonly memPages: number,
    private readonly costs: Costs,
  ) {
    this.tags = at(region(layout, 'owner.tag'));
    this.entries = at(region(layout, 'iotlb.entry'));
  }

  tag(i32: Int32Array, pfn: number): number {
    return Atomics.load(i32, this.tags + pfn);
  }
  setTag(i32: Int32Array, pfn: number, tag: number): void {
    Atomics.store(i32, this.tags + pfn, tag);
  }

  /** One DMA access to device address `addr` (a pfn) for a buffer whose pages carry `expect`. */
  *access(cpu: Cpu, addr: number, expect: number, what: string): Op {
    const miss = this.costs.m.walkNs > 0 && this.leafMiss(cpu.i32, addr);
    const phys = yield* this.iotlb.translate(cpu, addr);
    if (miss) this.costs.charge(cpu, COST_WALK, this.costs.m.walkNs);
    if (phys < 0) {
      cpu.fail('DMA-FAULT', `device ${what} at ${hex(addr)}, handed to it by ${cpu.name}, faults: no translation`);
      return;
    }
    const landed = Atomics.load(cpu.i32, this.tags + phys / SZ_4K);
    if (landed !== expect) {
      cpu.fail(
        'DMA-CORRUPT',
        `device ${what} at ${hex(addr)} (${ownerName(expect)}) lands on phys page ${hex(phys / SZ_4K)}, ` +
          `which is ${ownerName(landed)}: a stale device-TLB translation`,
      );
    }
  }

  /**
   * Cost model: does this access miss the device TLB? The Iotlb model keeps one entry per 4 KiB page; a
   * real one holds one entry per leaf, so a page of a 2 MiB block whose block another page already
   * brought in is a hit.
   */
  private leafMiss(i32: Int32Array, addr: number): boolean {
    if (Atomics.load(i32, this.entries + addr) !== 0) return false;
    const pages = this.pt.leafSize(i32, addr * SZ_4K) / SZ_4K;
    if (pages <= 1) return true;
    const first = addr - (addr % pages);
    for (let a = first; a < first + pages; a++) if (Atomics.load(i32, this.entries + a) !== 0) return false;
    return true;
  }

  /** The job on the device: its fixed time plus `pages` pages at the modelled bandwidth. */
  transfer(cpu: Cpu, pages: number): void {
    const bw = this.costs.m.bandwidthMBps;
    this.costs.charge(cpu, COST_TRANSFER, this.costs.m.descNs + (bw > 0 ? (pages * SZ_4K * 1000) / bw : 0));
  }

  /** A stray write to address pfn `addr`: a fault, or silent corruption of whatever page is there. */
  *stray(cpu: Cpu, addr: number): Op {
    const phys = yield* this.iotlb.translate(cpu, addr);
    if (phys < 0) {
      cpu.fail('STRAY-FAULT', '');
      return;
    }
    const landed = Atomics.load(cpu.i32, this.tags + phys / SZ_4K);
    cpu.fail(
      'STRAY-CORRUPT',
      `a stray device write to ${hex(addr)} lands on phys page ${hex(phys / SZ_4K)}: ${ownerName(landed)}`,
    );
  }

  /**
   * Exposure: the physical pages the device can reach now, each counted once — through its TLB where it
   * holds an entry (a stale one included: that is where a DMA would go), else through the table it walks.
   * Under option 2 that is all of memory, whatever the TLB holds; under option 1 the mapped buffers plus
   * the pages stale entries still lead to (the lazy window).
   */
  reachable(i32: Int32Array): number {
    const seen = new Uint8Array(this.memPages + 1);
    let n = 0;
    for (let a = 1; a < this.space; a++) {
      const e = Atomics.load(i32, this.entries + a);
      const phys = e !== 0 ? (e - 1) * SZ_4K : this.pt.walk(i32, a * SZ_4K);
      if (phys < 0) continue;
      const pfn = phys / SZ_4K;
      if (pfn <= this.memPages && seen[pfn] === 0) {
        seen[pfn] = 1;
        n++;
      }
    }
    return n;
  }

  /** A device-TLB entry that still sends some address to `pfn` although the table no longer does, or -1. */
  staleTo(i32: Int32Array, pfn: number): number {
    for (let a = 1; a < this.space; a++) {
      if (Atomics.load(i32, this.entries + a) !== pfn + 1) continue;
      if (this.pt.walk(i32, a * SZ_4K) !== pfn * SZ_4K) return a;
    }
    return -1;
  }
}
