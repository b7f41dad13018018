/**
 * Shared-memory layout: one SharedArrayBuffer carved into named regions.
 *
 * A layout is a plain, JSON-serialisable description (sizes derived from scenario parameters), so a
 * worker rebuilds views identical to the main thread's from (buffer, layout) alone — the way piscina
 * names its shared slots with constants instead of passing offsets around.
 *
 * Every region starts on a 64-byte boundary. A per-CPU region gives each vCPU its own slot padded to a
 * multiple of 64 bytes, so two vCPUs never write the same cache line (false sharing cost 4x on this
 * machine, see reference/toolchain.md).
 */

export const CACHE_LINE = 64;

/**
 * i32 and i64 are accessed with Atomics. f64 cannot be (Atomics has no Float64Array): use it only for
 * statistics a vCPU writes in its own per-CPU slot and others read at a quiescent point.
 */
export type ElemKind = 'i32' | 'i64' | 'f64';

export interface RegionSpec {
  kind: ElemKind;
  /** Elements in the region, or in each vCPU's slot when perCpu. */
  count: number;
  perCpu?: boolean;
}

export interface Region {
  readonly name: string;
  readonly kind: ElemKind;
  readonly count: number;
  readonly perCpu: boolean;
  /** Index of element 0 in the whole-buffer view of this kind (Int32Array, BigInt64Array, Float64Array). */
  readonly base: number;
  /** Elements from one vCPU's slot to the next (per-CPU regions), else 0. */
  readonly stride: number;
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface Layout {
  readonly cpus: number;
  readonly bytes: number;
  readonly regions: Readonly<Record<string, Region>>;
}

const ELEM_BYTES: Record<ElemKind, number> = { i32: 4, i64: 8, f64: 8 };

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

export function defineLayout(cpus: number, specs: Readonly<Record<string, RegionSpec>>): Layout {
  if (!Number.isInteger(cpus) || cpus < 1) throw new RangeError(`layout: cpus must be a positive integer, got ${cpus}`);
  const regions: Record<string, Region> = {};
  let offset = 0;
  for (const [name, spec] of Object.entries(specs)) {
    if (!Number.isInteger(spec.count) || spec.count < 0)
      throw new RangeError(`layout: region ${name} has bad count ${spec.count}`);
    const eb = ELEM_BYTES[spec.kind];
    const perCpu = spec.perCpu === true;
    const slotBytes = perCpu ? roundUp(Math.max(1, spec.count) * eb, CACHE_LINE) : spec.count * eb;
    const byteLength = roundUp(perCpu ? slotBytes * cpus : slotBytes, CACHE_LINE);
    regions[name] = {
      name,
      kind: spec.kind,
      count: spec.count,
      perCpu,
      base: offset / eb,
      stride: perCpu ? slotBytes / eb : 0,
      byteOffset: offset,
      byteLength,
    };
    offset += byteLength;
  }
  return { cpus, bytes: Math.max(offset, CACHE_LINE), regions };
}

/** Whole-buffer views; every model index is an index into one of these. */
export interface Memory {
  readonly sab: SharedArrayBuffer;
  readonly layout: Layout;
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
  readonly f64: Float64Array;
}

export function allocateMemory(layout: Layout): Memory {
  return mapMemory(new SharedArrayBuffer(layout.bytes), layout);
}

/** Rebuild the views in a worker (or anywhere) from the buffer and the layout description. */
export function mapMemory(sab: SharedArrayBuffer, layout: Layout): Memory {
  if (sab.byteLength < layout.bytes) {
    throw new RangeError(`layout needs ${layout.bytes} bytes, buffer has ${sab.byteLength}`);
  }
  return {
    sab,
    layout,
    i32: new Int32Array(sab, 0, layout.bytes >> 2),
    i64: new BigInt64Array(sab, 0, layout.bytes >> 3),
    f64: new Float64Array(sab, 0, layout.bytes >> 3),
  };
}

export function region(layout: Layout, name: string): Region {
  const r = layout.regions[name];
  if (!r) throw new Error(`layout has no region '${name}' (has: ${Object.keys(layout.regions).join(', ')})`);
  return r;
}

/** Index of element i of a shared region. */
export function at(r: Region, i = 0): number {
  return r.base + i;
}

/** Index of element i in vCPU cpu's slot of a per-CPU region. */
export function atCpu(r: Region, cpu: number, i = 0): number {
  return r.base + cpu * r.stride + i;
}

/** Zero the whole buffer (a fresh model for the next explored execution). */
export function zeroMemory(mem: Memory): void {
  // By 64-bit words: a fill of a shared buffer stores element by element, so half the elements is half
  // the time (once per explored execution). A layout is a whole number of cache lines, so i64 covers it.
  mem.i64.fill(0n);
  if ((mem.i32.length & 1) !== 0) mem.i32[mem.i32.length - 1] = 0;
}
