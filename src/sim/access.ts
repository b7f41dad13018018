/**
 * Which shared words a simulated step touches: the simulated-time executor (sim/executor.ts) swaps the
 * global Atomics functions for recording wrappers while it runs, so the unchanged model code reports
 * every Atomics access to the scenario's buffer — its 64-byte line and its kind — without a hook in any
 * model file. Trace notes (Cpu.note) were the other way in, but only a few primitives note their accesses
 * and only while tracing; every lock, counter and flush-queue word goes through Atomics.
 *
 * What is approximated: plain typed-array reads and writes (`i32[x]`, `fill`) are invisible — the iova
 * tree, magazines and depot use them under a lock, so their lines travel with the lock word, and the work
 * is charged per scheduling point (the profile's stepNs and siteNs). Float64 statistics (plain) likewise.
 *
 * The wrappers are installed for one simulated run at a time in this thread and always removed again
 * (try/finally in the executor); Atomics calls of the executor itself go to the originals (`raw`).
 */

/** Access kinds, as the cost profile prices them. */
export const LOAD = 0;
export const STORE = 1;
export const RMW = 2;
export const CAS = 3;
export type AccessKind = typeof LOAD | typeof STORE | typeof RMW | typeof CAS;

type AtomicsFns = Pick<
  typeof Atomics,
  'load' | 'store' | 'add' | 'sub' | 'and' | 'or' | 'xor' | 'exchange' | 'compareExchange'
>;

const A = Atomics as unknown as Record<string, unknown>;
/** The untouched Atomics functions, for the executor's own reads. */
export const raw: AtomicsFns = {
  load: Atomics.load,
  store: Atomics.store,
  add: Atomics.add,
  sub: Atomics.sub,
  and: Atomics.and,
  or: Atomics.or,
  xor: Atomics.xor,
  exchange: Atomics.exchange,
  compareExchange: Atomics.compareExchange,
};

/** The accesses of the step in progress: 64-byte line, i32 word index (for wake-ups), kind. */
export class AccessLog {
  line = new Int32Array(256);
  word = new Int32Array(256);
  kind = new Uint8Array(256);
  n = 0;
  /** Recording only while model code runs (not while the executor reads timers and lock words). */
  on = false;

  push(line: number, word: number, kind: AccessKind): void {
    if (this.n === this.line.length) {
      const grow = <T extends Int32Array | Uint8Array>(a: T, b: T): T => {
        b.set(a);
        return b;
      };
      this.line = grow(this.line, new Int32Array(this.n * 2));
      this.word = grow(this.word, new Int32Array(this.n * 2));
      this.kind = grow(this.kind, new Uint8Array(this.n * 2));
    }
    this.line[this.n] = line;
    this.word[this.n] = word;
    this.kind[this.n] = kind;
    this.n++;
  }
}

type View = Int32Array | BigInt64Array;

/**
 * Install recording wrappers for accesses to `buffer` (any view on it) into `log`; returns the function
 * that puts the originals back. Accesses to other buffers (a stress run's, a test's) pass straight through.
 */
export function instrumentAtomics(buffer: SharedArrayBuffer, log: AccessLog): () => void {
  // The scenario's own full-buffer views (what Cpu.i32 / Cpu.i64 are) are recognised by identity, which is
  // cheaper than the buffer getter; any other view on the buffer by its offset.
  let i32: View | undefined;
  let i64: View | undefined;
  const note = (ta: View, i: number, kind: AccessKind): void => {
    if (!log.on) return;
    let byte: number;
    if (ta === i32) byte = i << 2;
    else if (ta === i64) byte = i << 3;
    else {
      if (ta.buffer !== buffer) return;
      if (ta.byteOffset === 0 && ta.byteLength === buffer.byteLength) {
        if (ta instanceof Int32Array) i32 = ta;
        else i64 = ta;
      }
      byte = ta.byteOffset + i * ta.BYTES_PER_ELEMENT;
    }
    log.push(byte >> 6, byte >> 2, kind);
  };
  const wrap = (name: keyof AtomicsFns, kind: AccessKind): void => {
    const f = raw[name] as (ta: View, i: number, a?: unknown, b?: unknown) => unknown;
    A[name] = (ta: View, i: number, a?: unknown, b?: unknown) => {
      note(ta, i, kind);
      return f(ta, i, a, b);
    };
  };
  wrap('load', LOAD);
  wrap('store', STORE);
  for (const n of ['add', 'sub', 'and', 'or', 'xor', 'exchange'] as const) wrap(n, RMW);
  wrap('compareExchange', CAS);
  return () => {
    for (const [k, v] of Object.entries(raw)) A[k] = v;
  };
}
