/**
 * DMA buffers and the devices that use them — the checking side of kernel-model.md §3.4 and §10 (F1).
 *
 * Every vCPU owns a few buffers (fixed physical pages). Mapping one publishes a handle
 * {state, seq, iova, pages, tag} that devices read; every physical page carries the tag of the mapping
 * it currently belongs to. A device DMA goes through the IOTLB (iotlb.ts), like hardware: a stale
 * IOTLB entry sends it to whatever page the old translation named. So:
 *  - a DMA for a *live* mapping must land on a page tagged with that mapping (else DMA-CORRUPT: a
 *    device wrote into someone else's buffer — what a broken flush-queue counter leads to);
 *  - a DMA for a mapping being or already unmapped may still reach its old buffer through the IOTLB
 *    until the covering flush: legal in lazy mode (the exposure window), counted as LAZY-LATE-DMA.
 * The handle's seq moves at every state change, so a device can tell a DMA that raced an unmap
 * (not judged) from one that happened while the mapping was live (judged), seqlock style.
 *
 * This is checker and harness state (what the kernel calls the driver's DMA handles and the device's
 * behaviour), not kernel state; every access is still a scheduling point, because a device races the
 * CPUs like anyone else.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { at, atCpu, region, type Layout, type Region, type RegionSpec } from '../../engine/layout.js';
import type { Iotlb } from '../iotlb.js';
import { SZ_4K } from '../pgtable.js';

export const FREE = 0;
export const LIVE = 1;
export const UNMAPPING = 2;

// Handle words.
const H_STATE = 0;
const H_SEQ = 1;
const H_IOVA = 2;
const H_PAGES = 3;
const H_TAG = 4;
const H_WORDS = 5;

export function bufferRegions(cpus: number, buffers: number, maxPages: number): Record<string, RegionSpec> {
  return {
    'buf.handle': { kind: 'i32', count: buffers * H_WORDS, perCpu: true },
    /** Per physical page (pfn 1..): the tag of the mapping it belongs to. */
    'buf.tag': { kind: 'i32', count: 1 + cpus * buffers * maxPages },
  };
}

export interface Handle {
  readonly state: number;
  readonly seq: number;
  readonly iovaPfn: number;
  readonly pages: number;
  readonly tag: number;
}

export class Buffers {
  private readonly handles: Region;
  private readonly tags: number;

  constructor(
    layout: Layout,
    readonly cpus: number,
    readonly buffers: number,
    readonly maxPages: number,
  ) {
    this.handles = region(layout, 'buf.handle');
    this.tags = at(region(layout, 'buf.tag'));
  }

  /** Physical pfn of page 0 of buffer b of vCPU c (pfn 0 is never used). */
  physPfn(c: number, b: number): number {
    return 1 + (c * this.buffers + b) * this.maxPages;
  }

  private h(c: number, b: number, w: number): number {
    return atCpu(this.handles, c, b * H_WORDS + w);
  }

  /** Owner side: read its own handle (its own words; not a scheduling point). */
  own(i32: Int32Array, c: number, b: number): Handle {
    return {
      state: Atomics.load(i32, this.h(c, b, H_STATE)),
      seq: Atomics.load(i32, this.h(c, b, H_SEQ)),
      iovaPfn: Atomics.load(i32, this.h(c, b, H_IOVA)),
      pages: Atomics.load(i32, this.h(c, b, H_PAGES)),
      tag: Atomics.load(i32, this.h(c, b, H_TAG)),
    };
  }

  /** The buffer's pages now belong to mapping `tag` (before the map, so no device can see it early). */
  *claim(cpu: Cpu, b: number, pages: number, tag: number): Op {
    yield 'buffer claim';
    const p = this.physPfn(cpu.id, b);
    for (let k = 0; k < pages; k++) Atomics.store(cpu.i32, this.tags + p + k, tag);
  }

  /**
   * Publish a state change of one of this vCPU's handles, seqlock style: seq is odd while the words
   * change, so a device on another thread that reads them mid-update sees an odd or moved seq and does
   * not judge what it read. (One step in explore mode, but truly concurrent in stress mode.)
   */
  *publish(cpu: Cpu, b: number, state: number, iovaPfn: number, pages: number, tag: number): Op {
    yield 'dma handle publish';
    const i32 = cpu.i32;
    Atomics.add(i32, this.h(cpu.id, b, H_SEQ), 1);
    Atomics.store(i32, this.h(cpu.id, b, H_IOVA), iovaPfn);
    Atomics.store(i32, this.h(cpu.id, b, H_PAGES), pages);
    Atomics.store(i32, this.h(cpu.id, b, H_TAG), tag);
    Atomics.store(i32, this.h(cpu.id, b, H_STATE), state);
    Atomics.add(i32, this.h(cpu.id, b, H_SEQ), 1);
  }

  /**
   * A device does DMA to page `page` of buffer b of vCPU c, through the IOTLB. Returns the outcome for
   * the caller's bookkeeping; violations are reported here.
   */
  *deviceDma(cpu: Cpu, iotlb: Iotlb, c: number, b: number, page: number): Op<'live' | 'late' | 'raced' | 'idle'> {
    const i32 = cpu.i32;
    yield 'device reads dma handle';
    const seq = Atomics.load(i32, this.h(c, b, H_SEQ));
    const state = Atomics.load(i32, this.h(c, b, H_STATE));
    const iovaPfn = Atomics.load(i32, this.h(c, b, H_IOVA));
    const pages = Atomics.load(i32, this.h(c, b, H_PAGES));
    const tag = Atomics.load(i32, this.h(c, b, H_TAG));
    if (seq & 1) return 'raced';
    if (pages === 0) return 'idle';
    const p = page % pages;
    const phys = yield* iotlb.translate(cpu, iovaPfn + p);
    // The DMA lands (reads the page's owner) before the handle is checked again: read after the check,
    // a remap between the two would look like a live mapping landing on a foreign page.
    const landed = phys < 0 ? -1 : Atomics.load(i32, this.tags + phys / SZ_4K);
    yield 'device rechecks dma handle';
    if (Atomics.load(i32, this.h(c, b, H_SEQ)) !== seq) return 'raced';
    if (state === LIVE) {
      if (phys < 0) {
        cpu.fail(
          'DMA-FAULT',
          `device DMA to cpu${c}'s live buffer ${b} at iova page 0x${(iovaPfn + p).toString(16)} faults: no translation`,
        );
      } else if (landed !== tag) {
        cpu.fail(
          'DMA-CORRUPT',
          `device DMA to cpu${c}'s live buffer ${b} (iova page 0x${(iovaPfn + p).toString(16)}) lands on phys page 0x${(phys / SZ_4K).toString(16)}, ` +
            `which belongs to another mapping: a stale IOTLB entry outlived the IOVA's reuse`,
        );
      }
      return 'live';
    }
    // Unmapped (or being unmapped): reaching the old buffer is the lazy exposure; anything else is the
    // device's own use-after-unmap, which no kernel code can prevent.
    if (phys >= 0 && landed === tag) {
      const at = `iova page 0x${(iovaPfn + p).toString(16)}`;
      cpu.fail(
        'LAZY-LATE-DMA',
        `device DMA reached cpu${c}'s unmapped buffer ${b} (${at}) through the IOTLB before the covering flush`,
      );
    }
    return 'late';
  }
}
