/**
 * Does the outcome a litmus test asks about need load buffering? A static check, run before the
 * exhaustive search (litmus-cmd.ts).
 *
 * `--memory weak` (engine/weak-memory.ts) executes each process's accesses in program order and a load
 * only ever reads a store that has already executed (from its CPU's store buffer or from memory): a load
 * never reads a store from its own future. So in every execution the model produces, program order (po)
 * plus reads-from (rf) is acyclic. LKMM allows some po ∪ rf cycles (LB+poonceonces: Sometimes), so for an
 * outcome that can only be reached through such a cycle, the model's "Never" comes from the model's own
 * restriction, not from the test's barriers or dependencies, and carries no information.
 *
 * The check, for a proposition P (the condition's, and its negation — see loadBufferingOf):
 *  - P is put in negation normal form and expanded into disjuncts of atoms (bounded: MAX_DISJUNCTS).
 *  - An atom `N:r=v` (or `~N:r=v`) ties register r of process N to the plain load (READ_ONCE,
 *    smp_load_acquire, atomic_read, atomic_read_acquire) that gives r its final value, when that is
 *    certain: the textually last assignment to r is `r = LOAD(x)` at the top level of the body (so it
 *    always runs and nothing after it changes r). The load must read a store to x writing v (≠ v for a
 *    negated atom): every store or RMW to x in any process whose written value is that constant or not a
 *    constant (unknown: could be anything), or the initial value (a write before everything: no edge).
 *    A register whose final value is a top-level constant decides its atom statically. Any other atom —
 *    a location's final value (x=2, a coherence fact, not reads-from), a register set by an RMW, inside
 *    an `if`, or by an expression — adds no constraint: ignoring an atom of a conjunction only enlarges
 *    the set of executions considered, which keeps the check sound.
 *  - A disjunct needs load buffering when it has at least one tied read and every choice of a source
 *    store for each tied read closes a cycle in po ∪ rf (po: textual order within a process; a choice
 *    taking two stores from the two arms of one `if` cannot happen at all, so counting it as a cycle
 *    is vacuous and sound). A disjunct with an atom no store can satisfy is unsatisfiable.
 *  - P needs load buffering when no disjunct is reachable without a cycle (each is unsatisfiable or
 *    needs load buffering) and at least one needs it. Bounded: more than MAX_CHOICES source choices in a
 *    disjunct and the check claims nothing.
 *
 * Sound, not complete: it claims "needs load buffering" only when the model cannot produce P; a cycle
 * through an RMW's read, a lock word or a dependency on a value computed from a load goes unnoticed (the
 * test then runs and may disagree, exit 1, as before).
 */
import type { Cond, Expr, Litmus, Stmt } from './parse.js';

/** Loads whose result is the value read (a register atom can be tied to one of these). */
const LOADS = new Set(['READ_ONCE', 'smp_load_acquire', 'atomic_read', 'atomic_read_acquire']);
/** Plain stores: [index of the value argument]. */
const STORES: Readonly<Record<string, number>> = {
  WRITE_ONCE: 1,
  smp_store_release: 1,
  smp_store_mb: 1,
  atomic_set: 1,
  atomic_set_release: 1,
};

export const MAX_DISJUNCTS = 256;
export const MAX_CHOICES = 4096;

interface Event {
  readonly id: number;
  readonly proc: number;
  /** Textual (= program) order within the process; arguments before their call, `if` condition first. */
  readonly seq: number;
  readonly line: number;
  readonly fn: string;
  readonly loc: string;
  readonly kind: 'load' | 'store';
  /** What a store writes, when it is a constant; undefined: not known statically (an RMW, a register). */
  readonly value?: number | undefined;
}

/** How a register gets its final value: from a load event, a constant, or unknown. */
type RegSource = { readonly k: 'load'; readonly ev: Event } | { readonly k: 'const'; readonly v: number } | null;

interface Facts {
  readonly events: readonly Event[];
  readonly regs: ReadonlyMap<string, RegSource>;
}

function facts(lit: Litmus): Facts {
  const events: Event[] = [];
  const regs = new Map<string, RegSource>();
  for (const p of lit.procs) {
    let seq = 0;
    const last = new Map<string, RegSource>();
    const call = (e: Expr & { k: 'call' }): Event | undefined => {
      for (const a of e.args) if (a.k !== 'loc') expr(a);
      const locArg = e.args.find((a) => a.k === 'loc');
      const s = seq++;
      if (!locArg || locArg.k !== 'loc' || e.fn.startsWith('spin_')) return undefined;
      const base = { id: events.length, proc: p.index, seq: s, line: e.line, fn: e.fn, loc: locArg.name };
      let ev: Event;
      if (LOADS.has(e.fn)) ev = { ...base, kind: 'load' };
      else {
        // A plain store's constant value; xchg's too. Every other RMW (cmpxchg, add, inc, …) writes a
        // value that depends on what it reads: unknown, a candidate source for any value.
        const vi = STORES[e.fn] ?? (/^(atomic_)?xchg/.test(e.fn) ? 1 : -1);
        const va = vi >= 0 ? e.args[vi] : undefined;
        ev = { ...base, kind: 'store', value: va && va.k === 'num' ? va.v : undefined };
      }
      events.push(ev);
      return ev;
    };
    const expr = (e: Expr): Event | undefined => {
      if (e.k === 'un') expr(e.e);
      else if (e.k === 'bin') {
        expr(e.a);
        expr(e.b);
      } else if (e.k === 'call') return call(e);
      return undefined;
    };
    const assign = (name: string, e: Expr | undefined, top: boolean) => {
      const ev = e === undefined ? undefined : expr(e);
      if (!top) last.set(name, null);
      else if (e === undefined || e.k === 'num') last.set(name, { k: 'const', v: e?.v ?? 0 });
      else if (ev && ev.kind === 'load' && e.k === 'call') last.set(name, { k: 'load', ev });
      else last.set(name, null);
    };
    const stmts = (ss: readonly Stmt[], top: boolean) => {
      for (const s of ss) {
        if (s.k === 'decl') assign(s.name, s.init, top);
        else if (s.k === 'assign') assign(s.name, s.e, top);
        else if (s.k === 'expr') expr(s.e);
        else {
          expr(s.cond);
          stmts(s.then, false);
          stmts(s.else, false);
        }
      }
    };
    stmts(p.body, true);
    for (const [r, src] of last) regs.set(`${p.index}:${r}`, src);
  }
  return { events, regs };
}

/** An atom after negations are pushed in: a state key equal (or not equal) to a value. */
type Atom = { readonly key: string; readonly v: number; readonly eq: boolean };
/** A disjunct: a conjunction of atoms; `false` if it contains `false`. */
type Conj = readonly Atom[] | false;

function dnf(c: Cond, neg: boolean): Conj[] | null {
  switch (c.k) {
    case 'not':
      return dnf(c.a, !neg);
    case 'true':
    case 'false':
      return (c.k === 'true') !== neg ? [[]] : [false];
    case 'eq':
      return [[{ key: c.key, v: c.v, eq: !neg }]];
    default: {
      const a = dnf(c.a, neg);
      const b = dnf(c.b, neg);
      if (!a || !b) return null;
      // and (or under a negation: De Morgan) is a product of the two sides' disjuncts.
      if ((c.k === 'and') !== neg) {
        if (a.length * b.length > MAX_DISJUNCTS) return null;
        return a.flatMap((x) => b.map((y): Conj => (x === false || y === false ? false : [...x, ...y])));
      }
      return a.length + b.length > MAX_DISJUNCTS ? null : [...a, ...b];
    }
  }
}

/** One tied read and the stores it may read (null: the initial value, no edge). */
interface Tie {
  readonly read: Event;
  readonly reg: string;
  readonly sources: readonly (Event | null)[];
}

type Verdict = { readonly k: 'unsat' } | { readonly k: 'free' } | { readonly k: 'lb'; readonly cycle: string };

function disjunct(lit: Litmus, f: Facts, conj: Conj): Verdict {
  if (conj === false) return { k: 'unsat' };
  const ties: Tie[] = [];
  for (const a of conj) {
    if (!/^\d+:/.test(a.key)) continue; // a location's final value: no reads-from constraint
    const src = f.regs.get(a.key);
    if (!src) continue;
    if (src.k === 'const') {
      if ((src.v === a.v) !== a.eq) return { k: 'unsat' };
      continue;
    }
    const read = src.ev;
    const fits = (v: number | undefined) => v === undefined || (v === a.v) === a.eq;
    const sources: (Event | null)[] = f.events.filter((e) => e.kind === 'store' && e.loc === read.loc && fits(e.value));
    if (fits(lit.init.get(read.loc) ?? 0)) sources.push(null);
    if (sources.length === 0) return { k: 'unsat' };
    ties.push({ read, reg: a.key, sources });
  }
  if (ties.length === 0) return { k: 'free' };
  let n = 1;
  for (const t of ties) {
    n *= t.sources.length;
    if (n > MAX_CHOICES) return { k: 'free' };
  }
  let first: string | undefined;
  const pick = new Array<Event | null>(ties.length);
  for (let c = 0; c < n; c++) {
    let k = c;
    for (let i = 0; i < ties.length; i++) {
      const t = ties[i]!;
      pick[i] = t.sources[k % t.sources.length]!;
      k = Math.floor(k / t.sources.length);
    }
    const cycle = findCycle(ties, pick);
    if (!cycle) return { k: 'free' };
    first ??= cycle;
  }
  return { k: 'lb', cycle: `${first!}${n > 1 ? ' (and so does every other store that could give those values)' : ''}` };
}

/** A cycle in po ∪ rf over the tied reads and their chosen sources, described; undefined if acyclic. */
function findCycle(ties: readonly Tie[], pick: readonly (Event | null)[]): string | undefined {
  const nodes = new Map<number, Event>();
  const rf = new Map<number, Event[]>(); // store id -> reads that read it
  const reg = new Map<number, string>();
  ties.forEach((t, i) => {
    nodes.set(t.read.id, t.read);
    reg.set(t.read.id, t.reg);
    const s = pick[i];
    if (s) {
      nodes.set(s.id, s);
      rf.set(s.id, [...(rf.get(s.id) ?? []), t.read]);
    }
  });
  const succ = (e: Event): Event[] => [
    ...[...nodes.values()].filter((b) => b.proc === e.proc && b.seq > e.seq),
    ...(rf.get(e.id) ?? []),
  ];
  // The shortest cycle through each node (BFS); po is transitive here, so a shortest cycle alternates
  // read -po-> store -rf-> read.
  let best: Event[] | undefined;
  for (const start of nodes.values()) {
    const prev = new Map<number, Event>();
    const queue = [start];
    let found: Event | undefined;
    for (let qi = 0; qi < queue.length && !found; qi++) {
      const u = queue[qi]!;
      for (const v of succ(u)) {
        if (v.id === start.id) {
          found = u;
          break;
        }
        if (!prev.has(v.id)) {
          prev.set(v.id, u);
          queue.push(v);
        }
      }
    }
    if (!found) continue;
    const path = [found];
    while (path[0]!.id !== start.id) path.unshift(prev.get(path[0]!.id)!);
    if (!best || path.length < best.length) best = path;
  }
  if (!best) return undefined;
  return describe(best, reg);
}

/**
 * "P0's READ_ONCE of x into r0 (line 15) must read P1's WRITE_ONCE to x (line 23), which follows P1's …".
 * The cycle alternates read -po-> store -rf-> read (a shortest one does: po here is transitive), so it
 * is told backwards from a read: the store it reads, then the read that store follows, and so on.
 */
function describe(cycle: readonly Event[], reg: ReadonlyMap<number, string>): string {
  const n = cycle.length;
  let i = cycle.findIndex((e) => e.kind === 'load');
  for (let j = 0; j < n; j++) {
    const e = cycle[j]!;
    if (e.kind === 'load' && (e.proc < cycle[i]!.proc || (e.proc === cycle[i]!.proc && e.seq < cycle[i]!.seq))) i = j;
  }
  const read = (r: Event) => `P${r.proc}'s ${r.fn} of ${r.loc} into ${reg.get(r.id)!.split(':')[1]!}`;
  const parts: string[] = [];
  for (let k = 0; k < n; k += 2) {
    const r = cycle[(i - k + n) % n]!;
    const s = cycle[(i - k - 1 + 2 * n) % n]!;
    parts.push(
      `${k === 0 ? '' : 'which follows '}${read(r)} (line ${r.line}), which must read ` +
        `P${s.proc}'s ${s.fn} to ${s.loc} (line ${s.line})`,
    );
  }
  return `${parts.join(', ')}, which follows ${read(cycle[i]!)}: a cycle of program order and reads-from`;
}

/**
 * Why the test's Observation cannot be trusted because its outcome needs load buffering, or null.
 * The model counts executions where the condition's proposition P holds (positive) and those where it
 * does not: if P needs load buffering, positive is 0 whatever the barriers say (Never); if ~P needs it,
 * negative is 0 (Always). Either way the Observation is the model's restriction, not the test's answer.
 */
export function loadBufferingOf(lit: Litmus): string | null {
  const f = facts(lit);
  for (const neg of [false, true]) {
    const ds = dnf(lit.cond, neg);
    if (!ds) continue;
    const vs = ds.map((d) => disjunct(lit, f, d));
    if (vs.some((v) => v.k === 'free')) continue;
    const lb = vs.filter((v): v is Verdict & { k: 'lb' } => v.k === 'lb');
    if (lb.length === 0) continue;
    const what = neg ? 'the outcome where the condition fails' : 'the outcome';
    const each =
      ds.length === 1
        ? `: ${lb[0]!.cycle}`
        : lb.length === ds.length
          ? ` (each of the ${ds.length} disjuncts needs it; the first: ${lb[0]!.cycle})`
          : ` (${lb.length} of the ${ds.length} disjuncts need it and no store can give the others their` +
            ` values; the first: ${lb[0]!.cycle})`;
    return `${what} needs load buffering, which --memory weak does not model${each}`;
  }
  return null;
}
