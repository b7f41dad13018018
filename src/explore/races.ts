/**
 * Race analysis for source-DPOR: P. Abdulla, S. Aronis, B. Jonsson, K. Sagonas, "Optimal Dynamic
 * Partial Order Reduction", POPL 2014 (Algorithm 1, source sets; as Nidhugg does it, after each
 * execution over the whole sequence).
 *
 * Happens-before is program order plus the order of dependent steps (footprint.ts), kept as vector
 * clocks. For every step j and every earlier step i of another task that j depends on directly (the
 * last writer of a word j touches; the readers since then of a word j writes or updates; the updaters
 * since then of a word j reads or writes — two updates commute; any step whose accesses are unknown) and that does not already happen before j's task's previous step, (i, j) is a race: the
 * execution that runs, just before i, the steps after i that do not depend on i and then j, is not
 * equivalent to this one. Its initials — the tasks whose first step there depends on nothing before it
 * — are what the decision before i must try; if none of them is in that decision's backtrack set, one
 * is added. (Taking "not before j's previous step" for "no other path" can see more races than there
 * are: that only adds branches, it never loses one.)
 */
import type { Footprint } from './footprint.js';

export interface Step {
  readonly task: number;
  readonly footprint: Footprint;
  /**
   * Untimed exploration (execution.ts): the word the step waited for, and whether it needed it 0 (a
   * lock, waitUntilZero) or not 0 (a timer's deadline: it fires once armed); `words` 2 for an i64.
   */
  readonly wait?: Wait;
  /** The words the step wrote that it left non-zero (for Wait). */
  readonly nonzero?: ReadonlySet<number>;
}

export interface Wait {
  readonly word: number;
  readonly words: 1 | 2;
  readonly zero: boolean;
}

/**
 * `steps` is one execution's scheduling steps in order; races whose later step is at index >= `from`
 * are reported (earlier ones were reported by the execution that first ran them) as
 * `race(i, initials)`: the decision before step i should try one of `initials`.
 */
export function findRaces(
  steps: readonly Step[],
  tasks: number,
  from: number,
  race: (i: number, initials: readonly number[], j: number) => void,
  /** The buffer as init left it (i32 words), for a waited-for word no step before wrote. */
  initial?: Int32Array,
): void {
  const n = steps.length;
  const vc: Int32Array[] = [];
  const clock = new Int32Array(n);
  const last = new Int32Array(tasks).fill(-1);
  const lastWrite = new Map<number, number>();
  /** Every step that wrote each word, in order (for the walk past a step j's task could not run beside). */
  const writers = new Map<number, number[]>();
  const readsSince = new Map<number, number[]>();
  const updatesSince = new Map<number, number[]>();
  const unknown: number[] = [];
  for (let j = 0; j < n; j++) {
    const { task: t, footprint: f } = steps[j]!;
    const prev = last[t]! >= 0 ? vc[last[t]!]! : undefined;
    const v = prev ? prev.slice() : new Int32Array(tasks);
    v[t] = v[t]! + 1;
    clock[j] = v[t]!;
    const direct = new Set<number>(unknown);
    if (f.all) for (let i = 0; i < j; i++) direct.add(i);
    else {
      for (const w of f.reads) {
        const lw = lastWrite.get(w);
        if (lw !== undefined) direct.add(lw);
        for (const u of updatesSince.get(w) ?? []) direct.add(u);
      }
      for (const w of f.writes) {
        const lw = lastWrite.get(w);
        if (lw !== undefined) direct.add(lw);
        for (const r of readsSince.get(w) ?? []) direct.add(r);
        for (const u of updatesSince.get(w) ?? []) direct.add(u);
      }
      for (const w of f.updates) {
        const lw = lastWrite.get(w);
        if (lw !== undefined) direct.add(lw);
        for (const r of readsSince.get(w) ?? []) direct.add(r);
      }
    }
    for (const i of direct) {
      const vi = vc[i]!;
      for (let k = 0; k < tasks; k++) if (vi[k]! > v[k]!) v[k] = vi[k]!;
    }
    vc.push(v);
    if (j >= from) {
      const reported = new Set<number>();
      const wait = steps[j]!.wait;
      /** The last step before i that wrote the waited-for location, or -1. */
      const previousWriter = (i: number, w: Wait): number => {
        let best = -1;
        for (let x = 0; x < w.words; x++) {
          const ws = writers.get(w.word + x) ?? [];
          for (let k = ws.length - 1; k >= 0; k--) {
            if (ws[k]! < i) {
              if (ws[k]! > best) best = ws[k]!;
              break;
            }
          }
        }
        return best;
      };
      const consider = (i: number): void => {
        const ti = steps[i]!.task;
        if (ti === t || reported.has(i) || (prev && prev[ti]! >= clock[i]!)) return;
        reported.add(i);
        // Not co-enabled (Flanagan & Godefroid, "Dynamic partial-order reduction", POPL 2005: the race
        // is with the last dependent step that may be co-enabled with j). Step j waited for its word
        // (a lock's word to read 0, a timer's deadline to be set) and i wrote it; if the write before i
        // left it the way j cannot run with (the lock taken, the timer not armed), j cannot run before
        // i, which only gave it what it waited for (the unlock after that lock). The reversal that
        // exists puts j before that earlier write: the race is with it (for a lock: the previous
        // holder's spin_lock, the one its spin_unlock ends). Without an earlier write, the word as init
        // left it decides: if j could not run with it (a timer's deadline 0), there is no race at all.
        if (wait && writes(steps[i]!.footprint, wait)) {
          const k = previousWriter(i, wait);
          if (k >= 0 && setTo(steps[k]!, wait) !== wait.zero) {
            if (steps[k]!.task !== t) consider(k);
            return;
          }
          if (k < 0 && initial && initiallyZero(initial, wait) !== wait.zero) return;
        }
        race(i, initials(steps, vc, clock, i, j), j);
      };
      for (const i of direct) consider(i);
    }
    last[t] = j;
    if (f.all) unknown.push(j);
    else {
      for (const w of f.writes) {
        lastWrite.set(w, j);
        (writers.get(w) ?? setNew(writers, w)).push(j);
        readsSince.set(w, []);
        updatesSince.set(w, []);
      }
      for (const w of f.reads) if (!f.writes.has(w)) (readsSince.get(w) ?? setNew(readsSince, w)).push(j);
      for (const w of f.updates) if (!f.writes.has(w)) (updatesSince.get(w) ?? setNew(updatesSince, w)).push(j);
    }
  }
}

function writes(f: Footprint, w: Wait): boolean {
  return !f.all && (f.writes.has(w.word) || (w.words === 2 && f.writes.has(w.word + 1)));
}

function initiallyZero(initial: Int32Array, w: Wait): boolean {
  return initial[w.word] === 0 && (w.words === 1 || initial[w.word + 1] === 0);
}

/** Did the step leave the waited-for location 0 (true) or not? */
function setTo(s: Step, w: Wait): boolean {
  const nz = s.nonzero;
  return !(nz?.has(w.word) || (w.words === 2 && nz?.has(w.word + 1)));
}

function setNew(m: Map<number, number[]>, w: number): number[] {
  const a: number[] = [];
  m.set(w, a);
  return a;
}

/**
 * The tasks that can start v = (the steps in (i, j) that do not happen after i) . j: those whose first
 * step in v has no predecessor in v. For a true race every step that happens before a step of v and
 * after i is itself in v, so the vector clocks of the whole execution decide it exactly.
 */
function initials(
  steps: readonly Step[],
  vc: readonly Int32Array[],
  clock: Int32Array,
  i: number,
  j: number,
): number[] {
  const ti = steps[i]!.task;
  const ci = clock[i]!;
  const firstOf = new Map<number, number>();
  const out: number[] = [];
  for (let k = i + 1; k <= j; k++) {
    if (k < j && vc[k]![ti]! >= ci) continue; // happens after i: not in v
    const tk = steps[k]!.task;
    if (firstOf.has(tk)) continue;
    let free = true;
    for (const [tq, q] of firstOf) {
      if (vc[k]![tq]! >= clock[q]!) {
        free = false;
        break;
      }
    }
    firstOf.set(tk, k);
    if (free) out.push(tk);
  }
  return out;
}
