/**
 * `--memory weak`: an operational subset of the Linux kernel memory model (tools/memory-model,
 * linux-kernel.cat) for the explore executor, behind the primitives of engine/order.ts.
 *
 * The machine. Every location that an order.ts primitive touches becomes *tracked*: it gets a history,
 * its coherence order (co) of committed stores, oldest first; the SharedArrayBuffer keeps holding the
 * newest committed value, so everything else (plain Atomics, checkers, the quiescent scan) reads what it
 * read before. Each vCPU has
 *  - a store buffer: a WRITE_ONCE may stay buffered (not yet visible to other CPUs) and is committed —
 *    appended to its location's co — later, not necessarily in program order (store→store reordering
 *    and store buffering); per location a CPU's stores commit in program order, and a CPU always reads
 *    its own newest buffered store to a location (store forwarding);
 *  - views (one timestamp per tracked location): `cur`, the oldest store of each location the CPU may
 *    still read (a load may return any committed store at or after it: load→load reordering and reads
 *    of stale values, never older than what the CPU already saw or wrote: per-location coherence);
 *    `acq`, what the stores it read carry (smp_rmb and acquire take it); `wv`, what its own stores carry
 *    (smp_wmb passes it on); `wfence`, what its next stores will carry.
 * A committed store carries a message view: what a CPU that reads it and then orders its later reads
 * (acquire, smp_rmb) can no longer miss. Stores are not multicopy-atomic: two CPUs may see two stores
 * to different locations in different orders (IRIW without barriers), as LKMM allows.
 *
 * The barriers, as LKMM orders these patterns:
 *  - smp_mb (and each side of a fully ordered RMW): drain the store buffer, then cur := cur ⊔ acq ⊔ G
 *    and G := cur, where G is a global view that every smp_mb joins — so of two CPUs' smp_mb() one comes
 *    second and sees what the first one saw (SB, R, IRIW and 2+2W with smp_mb are forbidden);
 *  - smp_wmb / dma_wmb: stores before it commit before stores after it, which carry what the earlier ones
 *    carry; smp_rmb / dma_rmb: cur := cur ⊔ acq (a device observer is one more task reading memory);
 *  - smp_store_release: every earlier store commits first, and it carries cur ⊔ acq (A-cumulative);
 *    smp_load_acquire: cur := cur ⊔ (what the store it read carries);
 *  - spin_unlock: a release; it does not drain the buffer (LKMM promises the stores before an unlock only
 *    to a CPU that reads the unlock, i.e. takes the lock next): the stores still buffered commit at the
 *    latest when another CPU acquires the lock; spin_lock: an acquire of what the last unlock of that
 *    lock carried (and of those stores), and, as LKMM's po-unlock-lock-po, a fence between this CPU's
 *    accesses before its previous unlock and after (its later stores commit after the earlier ones).
 * Relaxed RMWs (atomic_inc, cmpxchg_relaxed, ...) read the newest committed store and append theirs at
 * once, so they are atomic; they order nothing else.
 *
 * Every freedom is a scheduler decision (Scheduler.nextChoice, recorded in the decision list), and
 * choice 0 is always the sequentially consistent one: a store commits at once, a load reads the newest
 * store. All choices 0 is an SC execution, so PCT, random, replay and shrinking work unchanged.
 *
 * Not covered: load buffering (a load returning a store from its own future: LB), which needs
 * speculation this machine does not do; RCU; dependencies (addr/data/ctrl) order nothing here, which
 * only matters for LB-shaped tests. Two stores to one location are always committed in one co order
 * that all CPUs agree on, and writes commit in one global order, so 2+2W with smp_wmb (LKMM allows it,
 * no hardware does) is forbidden here: stronger than LKMM, never a false alarm.
 *
 * Plain Atomics accesses that model code has not converted (untracked accesses) stay sequentially
 * consistent and never break coherence: during a step the buffer shows the stepping CPU its own buffered
 * stores (so a plain read sees them, and a plain RMW acts on them), and after the step
 *  - a tracked location whose buffer word changed was written by a plain store: it commits after the
 *    CPU's buffered stores to that location, carrying everything the CPU knows (fully ordered);
 *  - a step that called no primitive at all (a plain access whose location we cannot know) is taken as
 *    fully ordered: the CPU's buffer drains and its view of every tracked location catches up with the
 *    newest store (as if it had read them all), so a later READ_ONCE cannot return something older
 *    than a plain load did.
 * So a store stays buffered, and a load can be stale, only across steps that use order.ts primitives.
 */
import type { Layout, Memory } from './layout.js';
import { Fence, Ord, Rmw, type MemoryOrder } from './memory-order.js';

type Value = number | bigint;
/** Per tracked location (slot): a timestamp (index into its history); a hole means 0. */
type View = number[];

/**
 * Who chooses: the executor asks its scheduler and records the answer (explore/execution.ts). `loc` is the
 * location's number in this execution (first-touch order), `older` for a read how many of the options
 * after 0 are older committed values (the rest commit another CPU's buffered store): a choice policy may
 * use them (explore/weak-policy.ts); the decision recorded is the option alone.
 */
export type Chooser = (count: number, kind: string, loc: number, older: number) => number;
/** Trace notes of weak choices (a store kept buffered, a stale value read): the executor's note sink. */
export type WeakNote = (
  task: number,
  access: 'read' | 'write',
  where: string,
  index: number,
  value: Value,
  detail: string,
) => void;

/**
 * Where a weak memory reports, for explore's dfs (explore/footprint.ts), what a step touches of the
 * machine's own state, so that partial-order reduction stays on under `--memory weak`. Words are i32
 * words of the buffer for a location's coherence history (the same word a plain access of it logs),
 * and negative ids (weakWord) for what lives outside the buffer: each CPU's views, each CPU's buffered
 * stores to each location, the global smp_mb view. The machine's own bookkeeping on the buffer (showing
 * a CPU its buffered stores, noticing plain stores) goes through `raw`, unlogged: it is not an access
 * of the model.
 */
export interface WeakLog {
  readonly raw: Memory;
  read(word: number, words: number): void;
  write(word: number, words: number): void;
  /**
   * A plain (fully ordered) step's catch-up: its CPU now sees the newest store of the location. A read
   * for the dependences, but not an observation of a store's visibility by itself (see dfs.ts
   * markObserved): only a later access of the location can tell what the catch-up saw.
   */
  catchUp(word: number, words: number): void;
  /** The next choice is a store's "visible now or buffered" (kind 'store'), to the location at `word`. */
  storeChoice(word: number): void;
}

/** The ids of the machine state outside the buffer, as WeakLog words (negative: never a buffer word). */
export const weakWord = {
  /** G, the view every smp_mb joins. */
  global: -1,
  /** CPU c's views (cur, acq, wv, wfence, the smp_wmb set, its last unlock): c < 255. */
  views: (c: number): number => -2 - c,
  /** CPU c's buffered stores to the location at i32 word w. */
  buffered: (c: number, w: number): number => -1000 - (w * 256 + c),
};

interface Msg {
  readonly value: Value;
  /** Writer (a vCPU), or -1 for the value the location had when it was first tracked. */
  readonly cpu: number;
  readonly view: View;
}

interface Pending {
  readonly slot: number;
  readonly value: Value;
  readonly cpu: number;
  /** What the store carries besides what its prerequisites carry. */
  readonly base: View;
  /** This CPU's stores that must commit first (per-location order, smp_wmb, release). */
  readonly prereqs: readonly Pending[];
  /** Committed: its index in the location's history; -1 while buffered. */
  ts: number;
  /** Being committed (its prerequisites or another CPU's store go first): not a candidate meanwhile. */
  busy: boolean;
}

interface Loc {
  readonly wide: boolean;
  readonly idx: number;
  readonly hist: Msg[];
  /** The value this memory last put in (or found in) the buffer word. */
  shown: Value;
  name: string | undefined;
}

/** A spin_unlock: what it carries, and the stores before it that were still buffered. */
interface Unlock {
  readonly view: View;
  readonly before: readonly Pending[];
}

class CpuState {
  cur: View = [];
  acq: View = [];
  wv: View = [];
  wfence: View = [];
  /** Buffered stores, program order. */
  readonly buf: Pending[] = [];
  /** Stores buffered at the last smp_wmb: every later store commits after them. */
  wmbSet: Pending[] = [];
  /** This CPU's last spin_unlock (po-unlock-lock-po). */
  lastUnlock: Unlock | undefined;
  constructor(readonly id: number) {}
}

function join(into: View, from: View): View {
  for (let i = 0; i < from.length; i++) {
    const v = from[i];
    if (v !== undefined && !(into[i]! >= v)) into[i] = v;
  }
  return into;
}

/** The weak memory of one explored execution (state lives only as long as the execution). */
export class WeakMemory {
  private readonly locs: Loc[] = [];
  private readonly slotOf = new Map<number, number>();
  private readonly cpus: CpuState[];
  /** Per lock: its last unlock. */
  private readonly lockViews = new Map<number, Unlock>();
  /** The global view that every smp_mb() joins. */
  private g: View = [];
  /** The CPU whose step is running (its buffered stores are shown in the buffer), or undefined. */
  private active: CpuState | undefined;
  /** Primitive calls so far: a step that made none was a plain (untracked) step. */
  private calls = 0;
  private callsAtStep = 0;

  constructor(
    private readonly mem: Memory,
    cpus: number,
    private readonly choose: Chooser,
    private readonly note: WeakNote | undefined,
    private readonly log?: WeakLog,
  ) {
    this.cpus = Array.from({ length: cpus }, (_, c) => new CpuState(c));
    this.raw = log?.raw ?? mem;
  }

  /** The buffer's views for the machine's own bookkeeping (unlogged under dfs: see WeakLog). */
  private readonly raw: Memory;

  // ---- footprint reporting (WeakLog) ----------------------------------------------------------------

  /** The i32 word of a location, and its width in words. */
  private wordOf(s: number): number {
    const loc = this.locs[s]!;
    return loc.wide ? loc.idx * 2 : loc.idx;
  }
  private widthOf(s: number): number {
    return this.locs[s]!.wide ? 2 : 1;
  }
  /** A step reads location s's history (which stores are committed, in what order). */
  private logRead(s: number): void {
    this.log?.read(this.wordOf(s), this.widthOf(s));
  }
  private logWrite(s: number): void {
    this.log?.write(this.wordOf(s), this.widthOf(s));
  }
  /** CPU c's own views change (every primitive of c's tasks reads and writes them). */
  private logViews(cs: CpuState): void {
    this.log?.write(weakWord.views(cs.id), 1);
  }
  /** Which CPUs have stores to s still buffered: what a load or a coherence choice on s looks at. */
  private logBuffersOf(s: number): void {
    if (!this.log) return;
    const w = this.wordOf(s);
    for (const o of this.cpus) this.log.read(weakWord.buffered(o.id, w), 1);
  }
  /** CPU cs's buffered stores (all of them: a barrier or a store's prerequisites look at the list). */
  private logOwnBuffer(cs: CpuState): void {
    if (!this.log) return;
    for (const p of cs.buf) this.log.read(weakWord.buffered(cs.id, this.wordOf(p.slot)), 1);
  }

  /** The order.ts handle of task `task`, which runs on vCPU `cpu` (a timer shares its CPU's buffer). */
  handle(task: number, cpu: number): MemoryOrder {
    return new WeakCpu(this, this.cpus[cpu]!, task);
  }

  // ---- the executor's step hooks --------------------------------------------------------------------

  /** Task's step begins: show its CPU's buffered stores in the buffer. */
  beginStep(cpu: number): void {
    const cs = this.cpus[cpu]!;
    this.active = cs;
    this.callsAtStep = this.calls;
    // The step sees its CPU's buffered stores (a timer shares them with its CPU's vCPU).
    this.logViews(cs);
    this.logOwnBuffer(cs);
    for (const p of cs.buf) this.show(p.slot, p.value);
  }

  /**
   * The step ended: take in plain stores to tracked locations, treat a plain step as fully ordered.
   * `blocked`: the step was a failed attempt at a lock or a wait (it read a lock word and blocked),
   * which is not a plain access to model data.
   */
  endStep(blocked: boolean): void {
    const cs = this.active;
    if (cs === undefined) return;
    for (let s = 0; s < this.locs.length; s++) this.sync(cs, s);
    if (!blocked && this.calls === this.callsAtStep && this.locs.length > 0) {
      this.mb(cs);
      for (let s = 0; s < this.locs.length; s++) {
        this.log?.catchUp(this.wordOf(s), this.widthOf(s));
        cs.cur[s] = this.locs[s]!.hist.length - 1;
      }
    }
    this.active = undefined;
    for (const p of cs.buf) this.refresh(p.slot);
  }

  /**
   * The execution is over: every buffered store commits (the final state is the newest of each
   * location). A vCPU whose program is done keeps its buffered stores until then (or until a load or
   * another store to their location takes them in), as a store buffer drains on its own time.
   */
  finish(): void {
    this.active = undefined;
    for (const cs of this.cpus) this.drain(cs);
  }

  // ---- the primitives ------------------------------------------------------------------------------

  load(cs: CpuState, task: number, wide: boolean, idx: number, ord: Ord): Value {
    this.calls++;
    const s = this.slot(cs, wide, idx);
    this.logViews(cs);
    this.logBuffersOf(s);
    const own = this.newestOwn(cs, s);
    if (own !== undefined) return own.value;
    this.logRead(s);
    const loc = this.locs[s]!;
    const last = loc.hist.length - 1;
    const cands = this.othersOldest(cs, s);
    const committed = Math.min(last - (cs.cur[s] ?? 0) + 1, 256 - cands.length);
    const k = this.choose(committed + cands.length, 'read', s, committed - 1);
    let ts: number;
    if (k < committed) ts = last - k;
    else {
      const p = cands[k - committed]!;
      this.commit(p);
      ts = p.ts;
    }
    const m = loc.hist[ts]!;
    if (!(cs.cur[s]! >= ts)) cs.cur[s] = ts;
    join(cs.acq, m.view);
    if (ord === Ord.ACQUIRE) join(cs.cur, m.view);
    if (k > 0 && this.note) {
      const newest = loc.hist[last]!;
      const detail =
        k < committed
          ? `${who(newest.cpu)}'s store of ${newest.value} not yet visible`
          : `cpu${m.cpu}'s buffered store becomes visible`;
      this.note(task, 'read', this.nameOf(loc), idx, m.value, detail);
    }
    return m.value;
  }

  store(cs: CpuState, task: number, wide: boolean, idx: number, v: Value, ord: Ord): void {
    this.calls++;
    const s = this.slot(cs, wide, idx);
    this.logViews(cs);
    this.logOwnBuffer(cs);
    this.log?.write(weakWord.buffered(cs.id, this.wordOf(s)), 1);
    const prereqs = cs.wmbSet.filter((p) => p.ts < 0);
    if (ord === Ord.RELEASE) for (const p of cs.buf) if (!prereqs.includes(p)) prereqs.push(p);
    const own = this.newestOwn(cs, s);
    if (own !== undefined && !prereqs.includes(own)) prereqs.push(own);
    const base = ord === Ord.RELEASE ? this.releaseView(cs) : cs.wfence.slice();
    const p: Pending = { slot: s, value: v, cpu: cs.id, base, prereqs, ts: -1, busy: false };
    cs.buf.push(p);
    this.refresh(s);
    this.log?.storeChoice(this.wordOf(s));
    if (this.choose(2, 'store', s, 0) === 0) this.commit(p);
    else if (this.note) {
      this.note(task, 'write', this.nameOf(this.locs[s]!), idx, v, 'buffered: not yet visible to other CPUs');
    }
  }

  rmw(cs: CpuState, wide: boolean, idx: number, op: Rmw, a: Value, b: Value, ord: Ord): Value {
    this.calls++;
    const s = this.slot(cs, wide, idx);
    this.logViews(cs);
    this.logOwnBuffer(cs);
    this.logBuffersOf(s);
    this.logWrite(s);
    if (ord === Ord.FULL) this.mb(cs);
    else if (ord === Ord.RELEASE) this.drain(cs);
    for (const p of cs.wmbSet) this.commit(p);
    for (const p of cs.buf.filter((q) => q.slot === s)) this.commit(p);
    this.othersFirst(cs, s);
    const loc = this.locs[s]!;
    const ts0 = loc.hist.length - 1;
    const m = loc.hist[ts0]!;
    const old = m.value;
    let v: Value | undefined;
    if (op === Rmw.ADD)
      v = wide ? BigInt.asIntN(64, (old as bigint) + (a as bigint)) : ((old as number) + (a as number)) | 0;
    else if (op === Rmw.XCHG) v = a;
    else if (old === a) v = b;
    if (!(cs.cur[s]! >= ts0)) cs.cur[s] = ts0;
    join(cs.acq, m.view);
    if (v !== undefined) {
      const view = ord === Ord.ONCE || ord === Ord.ACQUIRE ? cs.wfence.slice() : this.releaseView(cs);
      // An RMW continues the chain of the store it read (LKMM's rmw-sequence).
      join(view, m.view);
      this.append(cs, s, v, view);
    }
    if (ord === Ord.ACQUIRE) join(cs.cur, m.view);
    if (ord === Ord.FULL) this.mb(cs);
    return old;
  }

  fence(cs: CpuState, f: Fence): void {
    this.calls++;
    this.logViews(cs);
    this.logOwnBuffer(cs);
    switch (f) {
      case Fence.MB:
        this.mb(cs);
        break;
      case Fence.WMB:
      case Fence.DMA_WMB:
        cs.wmbSet = cs.buf.slice();
        join(cs.wfence, cs.wv);
        break;
      default:
        join(cs.cur, cs.acq);
    }
  }

  lockAcquired(cs: CpuState, idx: number): void {
    this.calls++;
    this.choose(1, 'lock', -1, 0); // nothing to choose: the scheduler may count it (Scheduler.weakAccess)
    // What the lock's last unlock carried is kept per lock word: the word stands for the view; the stores
    // it left buffered are read (and committed) through their own footprint words.
    this.logViews(cs);
    this.logOwnBuffer(cs);
    this.log?.read(idx, 1);
    const rel = this.lockViews.get(idx);
    if (rel !== undefined) {
      // The acquire reads the last unlock of this lock: the stores before that unlock are visible to us
      // now (they commit here if they are still buffered), with what they carry.
      const lv = rel.view.slice();
      for (const p of rel.before) {
        this.log?.read(weakWord.buffered(p.cpu, this.wordOf(p.slot)), 1);
        if (p.ts < 0 && p.cpu !== cs.id) this.commit(p);
        if (p.ts >= 0) {
          this.logRead(p.slot);
          join(lv, this.locs[p.slot]!.hist[p.ts]!.view);
        }
      }
      join(cs.cur, lv);
      join(cs.acq, lv);
      join(cs.wfence, lv);
    }
    if (cs.lastUnlock !== undefined) {
      // po-unlock-lock-po: this CPU's stores after this lock commit after its stores before its last unlock.
      join(cs.cur, cs.lastUnlock.view);
      join(cs.wfence, cs.lastUnlock.view);
      const before = cs.lastUnlock.before.filter((p) => p.ts < 0 && !cs.wmbSet.includes(p));
      if (before.length > 0) cs.wmbSet = [...cs.wmbSet, ...before];
    }
  }

  /**
   * spin_unlock is a release (LKMM, explanation.txt "ACQUIRE AND RELEASE" / "LOCKING"): every earlier
   * store is visible to a CPU that reads the unlock, that is, that takes this lock next, before that
   * CPU's critical section; a CPU that does not take the lock is promised nothing. So the store buffer is
   * not drained here (the lock word itself is a plain Atomics word, not a buffered store): the stores
   * before the unlock are remembered and commit, at the latest, when another CPU acquires the lock.
   */
  lockReleasing(cs: CpuState, idx: number): void {
    this.calls++;
    this.logViews(cs);
    this.logOwnBuffer(cs);
    this.log?.write(idx, 1);
    const rel: Unlock = { view: this.releaseView(cs), before: cs.buf.slice() };
    this.lockViews.set(idx, rel);
    cs.lastUnlock = rel;
  }

  // ---- the machine ---------------------------------------------------------------------------------

  private releaseView(cs: CpuState): View {
    return join(join(join(cs.cur.slice(), cs.acq), cs.wv), cs.wfence);
  }

  private mb(cs: CpuState): void {
    this.drain(cs);
    join(join(join(cs.cur, cs.acq), cs.wv), this.g);
    // Every smp_mb reads G; it writes G only when G grows (then a later smp_mb sees more). Two that
    // leave G as it was commute: as footprints, a write of the value already there is only a read.
    this.log?.read(weakWord.global, 1);
    if (this.log !== undefined && !sameView(this.g, cs.cur)) this.log.write(weakWord.global, 1);
    this.g = cs.cur.slice();
    cs.wfence = cs.cur.slice();
    cs.wmbSet = [];
  }

  private drain(cs: CpuState): void {
    while (cs.buf.length > 0) this.commit(cs.buf[0]!);
  }

  /** Commit a buffered store: its prerequisites first, maybe another CPU's store to the location first. */
  private commit(p: Pending): void {
    if (p.ts >= 0 || p.busy) return;
    p.busy = true;
    for (const q of p.prereqs) this.commit(q);
    const cs = this.cpus[p.cpu]!;
    this.log?.write(weakWord.buffered(cs.id, this.wordOf(p.slot)), 1);
    this.logWrite(p.slot);
    this.othersFirst(cs, p.slot);
    const view = p.base.slice();
    for (const q of p.prereqs) join(view, this.locs[q.slot]!.hist[q.ts]!.view);
    const k = cs.buf.indexOf(p);
    cs.buf.splice(k, 1);
    p.ts = this.append(cs, p.slot, p.value, view);
  }

  /** Another CPU's buffered store to `slot` may land first in coherence order (a recorded choice). */
  private othersFirst(cs: CpuState, s: number): void {
    this.logBuffersOf(s);
    const cands = this.othersOldest(cs, s);
    if (cands.length === 0) return;
    const k = this.choose(cands.length + 1, 'order', s, 0);
    if (k > 0) this.commit(cands[k - 1]!);
  }

  private append(cs: CpuState, s: number, v: Value, view: View): number {
    this.logWrite(s);
    const loc = this.locs[s]!;
    const ts = loc.hist.length;
    view[s] = ts;
    loc.hist.push({ value: v, cpu: cs.id, view });
    if (!(cs.cur[s]! >= ts)) cs.cur[s] = ts;
    join(cs.wv, view);
    this.refresh(s);
    return ts;
  }

  /**
   * Other CPUs' oldest buffered store to `slot`, one per CPU, in CPU order: those that can commit now,
   * that is, none of whose prerequisites is being committed further up (that would be a cycle in the
   * commit order, such as 2+2W with smp_wmb() asks for).
   */
  private othersOldest(cs: CpuState, s: number): Pending[] {
    const out: Pending[] = [];
    for (const o of this.cpus) {
      if (o === cs) continue;
      const p = o.buf.find((q) => q.slot === s);
      if (p !== undefined && canCommit(p)) out.push(p);
    }
    return out;
  }

  private newestOwn(cs: CpuState, s: number): Pending | undefined {
    for (let i = cs.buf.length - 1; i >= 0; i--) if (cs.buf[i]!.slot === s) return cs.buf[i];
    return undefined;
  }

  private slot(cs: CpuState, wide: boolean, idx: number): number {
    const key = wide ? -1 - idx : idx;
    let s = this.slotOf.get(key);
    if (s === undefined) {
      s = this.locs.length;
      const value = this.read(wide, idx);
      this.locs.push({ wide, idx, hist: [{ value, cpu: -1, view: [] }], shown: value, name: undefined });
      this.slotOf.set(key, s);
      this.logRead(s);
    } else this.sync(cs, s);
    return s;
  }

  /** A plain store changed a tracked location's buffer word: commit it, fully ordered, after the CPU's own. */
  private sync(cs: CpuState, s: number): void {
    const loc = this.locs[s]!;
    const v = this.read(loc.wide, loc.idx);
    if (v === loc.shown) return;
    // No other CPU's buffered store may land in between: a plain RMW must stay atomic with what it read.
    for (const p of cs.buf.filter((q) => q.slot === s)) this.commit(p);
    this.append(cs, s, v, this.releaseView(cs));
  }

  /** Put in the buffer word what the running CPU sees of `slot`: its own newest buffered store, else the newest. */
  private refresh(s: number): void {
    const own = this.active !== undefined ? this.newestOwn(this.active, s) : undefined;
    const loc = this.locs[s]!;
    this.show(s, own !== undefined ? own.value : loc.hist[loc.hist.length - 1]!.value);
  }

  private show(s: number, v: Value): void {
    const loc = this.locs[s]!;
    loc.shown = v;
    if (loc.wide) Atomics.store(this.raw.i64, loc.idx, v as bigint);
    else Atomics.store(this.raw.i32, loc.idx, v as number);
  }

  private read(wide: boolean, idx: number): Value {
    return wide ? Atomics.load(this.raw.i64, idx) : Atomics.load(this.raw.i32, idx);
  }

  private nameOf(loc: Loc): string {
    loc.name ??= locationName(this.mem.layout, loc.wide, loc.idx);
    return loc.name;
  }
}

/** Equal views (a hole is timestamp 0). */
function sameView(a: View, b: View): boolean {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return false;
  return true;
}

function canCommit(p: Pending): boolean {
  return p.ts >= 0 || (!p.busy && p.prereqs.every(canCommit));
}

function who(cpu: number): string {
  return cpu < 0 ? 'the initial' : `cpu${cpu}`;
}

/** "fq_domain", "pt.pages[12]" or "counters[cpu1][0]" for a word of the buffer (trace notes). */
export function locationName(layout: Layout, wide: boolean, idx: number): string {
  const byte = idx * (wide ? 8 : 4);
  for (const r of Object.values(layout.regions)) {
    if (byte < r.byteOffset || byte >= r.byteOffset + r.byteLength) continue;
    const eb = r.kind === 'i32' ? 4 : 8;
    const i = Math.floor((byte - r.byteOffset) / eb);
    if (r.perCpu && r.stride > 0) {
      const c = Math.floor(i / r.stride);
      return `${r.name}[cpu${c}]${r.count > 1 ? `[${i - c * r.stride}]` : ''}`;
    }
    return r.count > 1 ? `${r.name}[${i}]` : r.name;
  }
  return `${wide ? 'i64' : 'i32'}[${idx}]`;
}

/** One task's handle (Cpu.weak): the primitives of engine/order.ts land here. */
class WeakCpu implements MemoryOrder {
  constructor(
    private readonly m: WeakMemory,
    private readonly cs: CpuState,
    private readonly task: number,
  ) {}
  load(wide: boolean, idx: number, ord: Ord): Value {
    return this.m.load(this.cs, this.task, wide, idx, ord);
  }
  store(wide: boolean, idx: number, v: Value, ord: Ord): void {
    this.m.store(this.cs, this.task, wide, idx, v, ord);
  }
  rmw(wide: boolean, idx: number, op: Rmw, a: Value, b: Value, ord: Ord): Value {
    return this.m.rmw(this.cs, wide, idx, op, a, b, ord);
  }
  fence(f: Fence): void {
    this.m.fence(this.cs, f);
  }
  lockAcquired(idx: number): void {
    this.m.lockAcquired(this.cs, idx);
  }
  lockReleasing(idx: number): void {
    this.m.lockReleasing(this.cs, idx);
  }
}
