/**
 * Footprints for partial-order reduction: which words of the shared buffer one explored step read,
 * wrote and updated. The dfs strategy (dfs.ts) asks two steps of different tasks "do you commute?", and
 * answers it from these sets: they do when neither writes a word the other touches and neither updates
 * a word the other reads or writes. An update is an atomic add whose old value the model does not read
 * (order.ts counterAdd: atomic_inc/dec/add/sub and harness counters): two of them commute — the same
 * value in either order, and neither step's own behaviour depends on it (Godefroid 1996 §3.1
 * "independent transitions": both orders enabled and ending in the same state) — so a counter that
 * every op bumps couples nothing; a read of the counter still depends on every add.
 *
 * How the accesses are seen, soundly. Model code reaches shared state only through the buffer's views
 * (cpu.i32 / cpu.i64 / cpu.mem.f64, plain indexing or Atomics; DESIGN.md "All shared state lives in the
 * SharedArrayBuffer"). For a dfs campaign the executor is handed a Memory whose three views are Proxies
 * that log every indexed get/set, and the global Atomics functions are swapped, for the duration of the
 * campaign, for wrappers that log the access and forward it to the real view behind the proxy. So every
 * access is logged, whatever the model file: no site or note needs declaring. What the buffer cannot
 * show is marked unknown (`all`), which makes the step dependent with every other step:
 *  - anything a caller declares so with markUnknown() (e.g. a weak-memory visibility choice whose
 *    buffers do not live in the buffer).
 * The virtual clock is not an access: dfs runs untimed (explore/execution.ts ExecutionSpec.untimed), where
 * a timer is runnable once armed, so the deadline mod_timer computes from cpu.clock.now() is only ever
 * compared with 0 (timer.ts, the models' timer_pending), and every other read of the clock is a
 * statistic (a latency). Under deadlines, where a step's position decided when a timer fell due, a
 * clock read had to be dependent with every step.
 * Words are i32 words of the whole buffer; an i64/f64 element is its two i32 words, so mixed-width
 * accesses to one location still meet.
 */
import type { Memory } from '../engine/layout.js';
import { counterAdd } from '../engine/order.js';

/** What one step touched. `all`: unknown — dependent with everything. */
export interface Footprint {
  readonly reads: ReadonlySet<number>;
  readonly writes: ReadonlySet<number>;
  /** Commuting updates (counterAdd); a word both updated and written or read is in those sets too. */
  readonly updates: ReadonlySet<number>;
  readonly all: boolean;
  /**
   * Under --memory weak, the reads that are not a plain step's catch-up (weak-memory.ts WeakLog
   * catchUp); undefined: all of `reads`.
   */
  readonly seen?: ReadonlySet<number>;
}

export const UNKNOWN: Footprint = { reads: new Set(), writes: new Set(), updates: new Set(), all: true };

/**
 * Two steps of different tasks commute when neither writes what the other reads, writes or updates,
 * and neither updates what the other reads.
 */
export function independent(a: Footprint, b: Footprint): boolean {
  if (a.all || b.all) return false;
  for (const w of a.writes) if (b.writes.has(w) || b.reads.has(w) || b.updates.has(w)) return false;
  for (const w of b.writes) if (a.reads.has(w) || a.updates.has(w)) return false;
  for (const w of a.updates) if (b.reads.has(w)) return false;
  for (const w of b.updates) if (a.reads.has(w)) return false;
  return true;
}

/** The union of two footprints (a task's step explored under several weak-memory choices). */
export function union(a: Footprint | undefined, b: Footprint): Footprint {
  if (!a) return b;
  if (a.all || b.all) return UNKNOWN;
  return {
    reads: new Set([...a.reads, ...b.reads]),
    writes: new Set([...a.writes, ...b.writes]),
    updates: new Set([...a.updates, ...b.updates]),
    all: false,
    ...(a.seen || b.seen ? { seen: new Set([...(a.seen ?? a.reads), ...(b.seen ?? b.reads)]) } : {}),
  };
}

/** Collects the accesses of the step in progress while `on`. */
export class Recorder {
  on = false;
  private reads: number[] = [];
  private writes: number[] = [];
  private updates: number[] = [];
  private catchUps: number[] = [];
  private unknown = false;

  read(word: number, words: number): void {
    if (this.on) add(this.reads, word, words);
  }
  write(word: number, words: number): void {
    if (this.on) add(this.writes, word, words);
  }
  update(word: number, words: number): void {
    if (this.on) add(this.updates, word, words);
  }
  /** A weak plain step's catch-up read (see Footprint.seen). */
  catchUp(word: number, words: number): void {
    if (this.on) add(this.catchUps, word, words);
  }
  markUnknown(): void {
    if (this.on) this.unknown = true;
  }
  /** Start a step's footprint. */
  begin(): void {
    this.reads.length = 0;
    this.writes.length = 0;
    this.updates.length = 0;
    this.catchUps.length = 0;
    this.unknown = false;
    this.on = true;
  }
  /** End the step: what it touched. */
  end(): Footprint {
    this.on = false;
    if (this.unknown) return UNKNOWN;
    const reads = new Set(this.reads);
    const base = { writes: new Set(this.writes), updates: new Set(this.updates), all: false };
    if (this.catchUps.length === 0) return { reads, ...base };
    return { reads: new Set([...this.reads, ...this.catchUps]), seen: reads, ...base };
  }
}

interface Viewed {
  readonly target: Int32Array | BigInt64Array | Float64Array;
  /** i32 words per element: 1 or 2. */
  readonly words: 1 | 2;
}

/** Proxy → the real view behind it (for the Atomics wrappers). */
const behind = new WeakMap<object, Viewed>();

function indexOf(key: string | symbol): number {
  if (typeof key !== 'string') return -1;
  const c = key.charCodeAt(0);
  return c >= 48 && c <= 57 ? Number(key) : -1;
}

function logged<T extends Int32Array | BigInt64Array | Float64Array>(target: T, words: 1 | 2, rec: Recorder): T {
  const bound = new Map<string | symbol, unknown>();
  const p = new Proxy(target, {
    get(t, key) {
      const i = indexOf(key);
      if (i >= 0) {
        rec.read(i * words, words);
        return t[i];
      }
      const v: unknown = Reflect.get(t, key, t);
      if (typeof v !== 'function') return v;
      // Typed-array methods (fill, subarray, ...) must run on the real view, not on the proxy.
      let b = bound.get(key);
      if (!b) bound.set(key, (b = (v as (...a: unknown[]) => unknown).bind(t)));
      return b;
    },
    set(t, key, value) {
      const i = indexOf(key);
      if (i >= 0) {
        rec.write(i * words, words);
        (t as unknown as unknown[])[i] = value;
        return true;
      }
      return Reflect.set(t, key, value, t);
    },
  });
  behind.set(p, { target, words });
  return p;
}

/** The same buffer, seen through logging views (the layout and the buffer itself are shared). */
export function loggedMemory(mem: Memory, rec: Recorder): Memory {
  return {
    ...mem,
    i32: logged(mem.i32, 1, rec),
    i64: logged(mem.i64, 2, rec),
    f64: logged(mem.f64, 2, rec),
  };
}

type AtomicsFn = (...a: unknown[]) => unknown;
const READS = ['load', 'wait', 'notify'] as const;
const WRITES = ['store', 'add', 'sub', 'and', 'or', 'xor', 'exchange'] as const;

/**
 * Swap the global Atomics functions (and the virtual clock's now()) for logging ones until the returned
 * function is called. Arguments that are not logged views go straight to the real function, so code
 * outside the campaign that runs meanwhile (none: a campaign is synchronous) would be unaffected.
 */
export function installLogging(rec: Recorder): () => void {
  const A = Atomics as unknown as Record<string, AtomicsFn>;
  const saved = new Map<string, AtomicsFn>();
  const wrap = (name: string, make: (orig: AtomicsFn) => AtomicsFn): void => {
    const orig = A[name]!;
    saved.set(name, orig);
    A[name] = make(orig);
  };
  for (const name of READS) {
    wrap(name, (orig) => (a, i, x, y) => {
      const v = behind.get(a as object);
      if (!v) return orig(a, i, x, y);
      rec.read((i as number) * v.words, v.words);
      return orig(v.target, i, x, y);
    });
  }
  for (const name of WRITES) {
    wrap(name, (orig) => (a, i, x) => {
      const v = behind.get(a as object);
      if (!v) return orig(a, i, x);
      rec.write((i as number) * v.words, v.words);
      return orig(v.target, i, x);
    });
  }
  // A failed compare-exchange wrote nothing: only a read (a spinning trylock commutes with a reader).
  wrap('compareExchange', (orig) => (a, i, expected, replacement) => {
    const v = behind.get(a as object);
    if (!v) return orig(a, i, expected, replacement);
    const old = orig(v.target, i, expected, replacement);
    const want = v.words === 1 ? Number(expected) | 0 : BigInt.asIntN(64, expected as bigint);
    if (old === want) rec.write((i as number) * v.words, v.words);
    else rec.read((i as number) * v.words, v.words);
    return old;
  });
  // A counter add whose result is dropped: an update (see the top), on the real view.
  const { i32: add32, i64: add64 } = counterAdd;
  counterAdd.i32 = (a, i, d) => {
    const v = behind.get(a);
    if (!v) return add32(a, i, d);
    rec.update(i, 1);
    Atomics.add(v.target as Int32Array, i, d);
  };
  counterAdd.i64 = (a, i, d) => {
    const v = behind.get(a);
    if (!v) return add64(a, i, d);
    rec.update(i * 2, 2);
    Atomics.add(v.target as BigInt64Array, i, d);
  };
  return () => {
    for (const [name, fn] of saved) A[name] = fn;
    counterAdd.i32 = add32;
    counterAdd.i64 = add64;
  };
}

/** A one- or two-word access (an i32 or an i64 word pair) into a footprint list. */
function add(list: number[], word: number, words: number): void {
  list.push(word);
  if (words === 2) list.push(word + 1);
}
