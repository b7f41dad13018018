/**
 * Runs a parsed litmus test under `--memory weak` exhaustively: every scheduling and every weak-memory
 * choice, by a plain depth-first walk over the decision tree (each execution replays a prefix of
 * decisions and takes the first option after it; the next one bumps the deepest decision that has
 * options left). The test's processes run as the explore executor's vCPUs, one op each, through the
 * same order.ts primitives and spinlocks the models use, so a litmus test checks exactly the machine
 * that `explore --memory weak` runs (engine/weak-memory.ts).
 */
import { HarnessError } from '../errors.js';
import type { Cpu, Op } from '../engine/cpu.js';
import { allocateMemory, defineLayout, at, type Memory, type RegionSpec } from '../engine/layout.js';
import * as o from '../engine/order.js';
import type { ScenarioDef, ScenarioModel } from '../engine/scenario.js';
import { LOCK_WORDS, lockRef, spinLock, spinTryLock, spinUnlock } from '../engine/sync.js';
import type { LockRef } from '../engine/lock-ref.js';
import { runExecution } from '../explore/execution.js';
import type { Scheduler } from '../explore/scheduler.js';
import { LitmusError, type Cond, type Expr, type Litmus, type Stmt } from './parse.js';

/** Depth-first enumeration of every decision sequence (stateless: each execution re-runs from scratch). */
export class DepthFirst implements Scheduler {
  private readonly path: number[] = [];
  private readonly counts: number[] = [];
  private pos = 0;

  newExecution(): void {
    this.pos = 0;
  }

  nextCpu(runnable: readonly number[]): number {
    return runnable.length === 1 ? runnable[0]! : runnable[this.pick(runnable.length)]!;
  }

  nextChoice(count: number): number {
    return this.pick(count);
  }

  /** Go to the next unexplored branch; false once the whole tree has been walked. */
  advance(): boolean {
    this.path.length = this.pos;
    this.counts.length = this.pos;
    while (this.path.length > 0) {
      const i = this.path.length - 1;
      if (this.path[i]! + 1 < this.counts[i]!) {
        this.path[i]!++;
        return true;
      }
      this.path.pop();
      this.counts.pop();
    }
    return false;
  }

  private pick(count: number): number {
    const i = this.pos++;
    if (i < this.path.length) {
      if (this.counts[i] !== count)
        throw new HarnessError(`litmus: decision ${i} had ${this.counts[i]} options, now ${count}: nondeterminism`);
      return this.path[i]!;
    }
    this.path.push(0);
    this.counts.push(count);
    return 0;
  }
}

export interface LitmusOutcome {
  /** Final states: "0:r0=1; x=2;" → executions that end in it, and whether the condition's proposition holds. */
  readonly states: ReadonlyMap<string, { readonly count: number; readonly holds: boolean }>;
  readonly executions: number;
  /** Executions whose final state satisfies the proposition (herd7's Positive), and the others. */
  readonly positive: number;
  readonly negative: number;
  readonly observation: 'Never' | 'Sometimes' | 'Always';
  /** exists: some state satisfies it; ~exists: none does; forall: all do. */
  readonly ok: boolean;
  readonly ms: number;
}

/** An exhaustive run stops here rather than take forever (the tests this runs are litmus-sized). */
export const MAX_EXECUTIONS = 2_000_000;

export function runLitmus(lit: Litmus, maxExecutions = MAX_EXECUTIONS): LitmusOutcome {
  checkRegisters(lit);
  const t0 = performance.now();
  const { scenario, regs } = litmusScenario(lit);
  const model = scenario.build({ cpus: lit.procs.length, variant: scenario.variants[0]!, params: {} });
  const mem = allocateMemory(model.layout);
  const dfs = new DepthFirst();
  const states = new Map<string, { count: number; holds: boolean }>();
  let executions = 0;
  let positive = 0;
  for (;;) {
    const res = runExecution(
      {
        scenario,
        model,
        mem,
        opSeed: 0,
        opsPerCpu: lit.procs.map(() => 1),
        maxSteps: 100_000,
        memory: 'weak',
      },
      dfs,
    );
    if (res.violation) {
      throw new LitmusError(
        0,
        `${lit.name}: an execution ended in ${res.violation.invariant}: ${res.violation.message}`,
      );
    }
    const value = (key: string): number => {
      const m = /^(\d+):(\w+)$/.exec(key);
      return m ? (regs.current[Number(m[1])]!.get(m[2]!) ?? 0) : Atomics.load(mem.i32, locIndex(model, key));
    };
    const key = lit.shown.map((k) => `${k}=${value(k)};`).join(' ');
    const holds = evalCond(lit.cond, value);
    const s = states.get(key);
    if (s) s.count++;
    else states.set(key, { count: 1, holds });
    executions++;
    if (holds) positive++;
    if (!dfs.advance()) break;
    if (executions >= maxExecutions)
      throw new LitmusError(0, `${lit.name}: more than ${maxExecutions} executions; too big to enumerate`);
  }
  const negative = executions - positive;
  const observation = positive === 0 ? 'Never' : negative === 0 ? 'Always' : 'Sometimes';
  const ok =
    lit.quantifier === 'exists' ? positive > 0 : lit.quantifier === '~exists' ? positive === 0 : negative === 0;
  return { states, executions, positive, negative, observation, ok, ms: performance.now() - t0 };
}

function evalCond(c: Cond, value: (key: string) => number): boolean {
  switch (c.k) {
    case 'and':
      return evalCond(c.a, value) && evalCond(c.b, value);
    case 'or':
      return evalCond(c.a, value) || evalCond(c.b, value);
    case 'not':
      return !evalCond(c.a, value);
    case 'true':
      return true;
    case 'false':
      return false;
    default:
      return value(c.key) === c.v;
  }
}

/** Registers must be declared before use, and those the condition names must exist. */
function checkRegisters(lit: Litmus): void {
  for (const p of lit.procs) {
    const declared = new Set<string>();
    const expr = (e: Expr): void => {
      if (e.k === 'reg' && !declared.has(e.name))
        throw new LitmusError(e.line, `P${p.index}: '${e.name}' is not declared`);
      if (e.k === 'un') expr(e.e);
      if (e.k === 'bin') {
        expr(e.a);
        expr(e.b);
      }
      if (e.k === 'call') for (const a of e.args) if (a.k !== 'loc') expr(a);
    };
    const stmts = (ss: readonly Stmt[]): void => {
      for (const s of ss) {
        if (s.k === 'decl') {
          if (s.init) expr(s.init);
          declared.add(s.name);
        } else if (s.k === 'assign') {
          if (!declared.has(s.name)) throw new LitmusError(s.line, `P${p.index}: '${s.name}' is not declared`);
          expr(s.e);
        } else if (s.k === 'expr') expr(s.e);
        else {
          expr(s.cond);
          stmts(s.then);
          stmts(s.else);
        }
      }
    };
    stmts(p.body);
    for (const k of lit.shown) {
      const m = /^(\d+):(\w+)$/.exec(k);
      if (m && Number(m[1]) === p.index && !declared.has(m[2]!))
        throw new LitmusError(0, `${k}: P${p.index} has no register '${m[2]}'`);
    }
  }
}

function locIndex(model: ScenarioModel, name: string): number {
  return at(model.layout.regions[name]!);
}

/** The litmus test as a scenario of the explore executor: one vCPU per process, one op each. */
function litmusScenario(lit: Litmus): { scenario: ScenarioDef; regs: { current: Map<string, number>[] } } {
  const regs = { current: [] as Map<string, number>[] };
  const build = (): ScenarioModel => {
    const specs: Record<string, RegionSpec> = {};
    for (const l of lit.locations) specs[l] = { kind: 'i32', count: 1 };
    for (const l of lit.locks) specs[l] = { kind: 'i32', count: LOCK_WORDS };
    const layout = defineLayout(lit.procs.length, specs);
    const locks = new Map<string, LockRef>(lit.locks.map((l) => [l, lockRef(l, at(layout.regions[l]!))]));
    const index = (n: string) => at(layout.regions[n]!);
    return {
      layout,
      init(mem: Memory) {
        for (const [k, v] of lit.init) Atomics.store(mem.i32, index(k), v);
      },
      program(cpu: Cpu) {
        const proc = lit.procs[cpu.id]!;
        const env = new Map<string, number>();
        if (cpu.id === 0) regs.current = [];
        regs.current[cpu.id] = env;
        return {
          next: () => interpret(cpu, proc.body, env, index, locks),
          describe: () => `P${proc.index}`,
        };
      },
      quiescent() {},
    };
  };
  const scenario: ScenarioDef = {
    name: `litmus ${lit.name}`,
    summary: lit.name,
    follows: 'tools/memory-model',
    params: {},
    exploreCpus: lit.procs.length,
    exploreOps: 1,
    invariants: [],
    variants: [{ name: 'test', summary: lit.name, expect: 'clean' }],
    build,
  };
  return { scenario, regs };
}

function* interpret(
  cpu: Cpu,
  body: readonly Stmt[],
  env: Map<string, number>,
  index: (n: string) => number,
  locks: ReadonlyMap<string, LockRef>,
): Op<void> {
  const run = function* (ss: readonly Stmt[]): Op<void> {
    for (const s of ss) {
      if (s.k === 'if') {
        if ((yield* ev(s.cond)) !== 0) yield* run(s.then);
        else yield* run(s.else);
        continue;
      }
      const e = s.k === 'decl' ? s.init : s.e;
      let v = 0;
      if (e !== undefined && isSimple(e)) {
        // The common statement, `r0 = READ_ONCE(*x);` or `WRITE_ONCE(*x, 1);`: no nested generators.
        const vals = e.args.map((a) => (a.k === 'num' ? a.v : a.k === 'reg' ? (env.get(a.name) ?? 0) : 0));
        const loc = e.args.find((a) => a.k === 'loc');
        if (!LOCAL_FENCES.has(e.fn)) yield siteOf(e);
        v = access(
          cpu,
          e.fn,
          loc && loc.k === 'loc' ? index(loc.name) : -1,
          vals.filter((_, i) => e.args[i]!.k !== 'loc'),
        );
      } else if (e !== undefined) v = yield* ev(e);
      if (s.k !== 'expr') env.set(s.name, v);
    }
  };
  const ev = function* (e: Expr): Op<number> {
    switch (e.k) {
      case 'num':
        return e.v;
      case 'reg':
        return env.get(e.name) ?? 0;
      case 'un': {
        const v = yield* ev(e.e);
        return e.op === '!' ? (v === 0 ? 1 : 0) : e.op === '-' ? -v | 0 : ~v;
      }
      case 'bin': {
        if (e.op === '&&') return (yield* ev(e.a)) !== 0 && (yield* ev(e.b)) !== 0 ? 1 : 0;
        if (e.op === '||') return (yield* ev(e.a)) !== 0 || (yield* ev(e.b)) !== 0 ? 1 : 0;
        return binary(e.op, yield* ev(e.a), yield* ev(e.b));
      }
      default:
        return yield* call(e);
    }
  };
  const call = function* (e: Expr & { k: 'call' }): Op<number> {
    // Value arguments first (they may read shared memory themselves), then this call's own access.
    const vals: number[] = [];
    let loc = '';
    for (const a of e.args) {
      if (a.k === 'loc') loc = a.name;
      else vals.push(yield* ev(a));
    }
    const fn = e.fn;
    if (fn === 'spin_lock') {
      yield* spinLock(cpu, locks.get(loc)!);
      return 0;
    }
    if (fn === 'spin_unlock') {
      yield* spinUnlock(cpu, locks.get(loc)!);
      return 0;
    }
    if (fn === 'spin_trylock') return (yield* spinTryLock(cpu, locks.get(loc)!)) ? 1 : 0;
    // smp_rmb/smp_wmb (and the dma_ forms) only order this CPU's own accesses, so whether another CPU
    // acts between one and the next access changes nothing: they run in the step before, which keeps the
    // tree small. smp_mb() joins a global view and is a step of its own.
    if (!LOCAL_FENCES.has(fn)) yield siteOf(e);
    return access(cpu, fn, loc ? index(loc) : -1, vals);
  };
  yield* run(body);
}

const LOCAL_FENCES = new Set(['smp_rmb', 'smp_wmb', 'dma_rmb', 'dma_wmb']);

/** A call whose arguments are locations, numbers and registers, and that is not a lock operation. */
function isSimple(e: Expr): e is Expr & { k: 'call' } {
  return (
    e.k === 'call' && !e.fn.startsWith('spin_') && e.args.every((a) => a.k === 'loc' || a.k === 'num' || a.k === 'reg')
  );
}

const sites = new WeakMap<Expr, string>();
/** The scheduling-point label of a call: "READ_ONCE x", "smp_mb". */
function siteOf(e: Expr & { k: 'call' }): string {
  let s = sites.get(e);
  if (s === undefined) {
    const loc = e.args.find((a) => a.k === 'loc');
    s = loc && loc.k === 'loc' ? `${e.fn} ${loc.name}` : e.fn;
    sites.set(e, s);
  }
  return s;
}

function binary(op: string, a: number, b: number): number {
  switch (op) {
    case '|':
      return a | b;
    case '^':
      return a ^ b;
    case '&':
      return a & b;
    case '==':
      return a === b ? 1 : 0;
    case '!=':
      return a !== b ? 1 : 0;
    case '<':
      return a < b ? 1 : 0;
    case '<=':
      return a <= b ? 1 : 0;
    case '>':
      return a > b ? 1 : 0;
    case '>=':
      return a >= b ? 1 : 0;
    case '<<':
      return a << b;
    case '>>':
      return a >> b;
    case '+':
      return (a + b) | 0;
    case '-':
      return (a - b) | 0;
    case '*':
      return Math.imul(a, b);
    case '/':
      return b === 0 ? 0 : (a / b) | 0;
    default:
      return b === 0 ? 0 : a % b;
  }
}

/** One call of CALLS (parse.ts) on the word `i`, by way of engine/order.ts. */
function access(cpu: Cpu, fn: string, i: number, v: readonly number[]): number {
  switch (fn) {
    case 'READ_ONCE':
    case 'atomic_read':
      return o.READ_ONCE(cpu, i);
    case 'smp_load_acquire':
    case 'atomic_read_acquire':
      return o.smp_load_acquire(cpu, i);
    case 'WRITE_ONCE':
    case 'atomic_set':
      o.WRITE_ONCE(cpu, i, v[0]!);
      return 0;
    case 'smp_store_release':
    case 'atomic_set_release':
      o.smp_store_release(cpu, i, v[0]!);
      return 0;
    case 'smp_store_mb':
      o.WRITE_ONCE(cpu, i, v[0]!);
      o.smp_mb(cpu);
      return 0;
    case 'smp_mb':
    case 'smp_mb__before_atomic':
    case 'smp_mb__after_atomic':
    case 'smp_mb__after_spinlock':
      o.smp_mb(cpu);
      return 0;
    case 'smp_wmb':
      o.smp_wmb(cpu);
      return 0;
    case 'smp_rmb':
      o.smp_rmb(cpu);
      return 0;
    case 'dma_wmb':
      o.dma_wmb(cpu);
      return 0;
    case 'dma_rmb':
      o.dma_rmb(cpu);
      return 0;
    case 'atomic_inc':
      o.atomic_inc(cpu, i);
      return 0;
    case 'atomic_dec':
      o.atomic_dec(cpu, i);
      return 0;
    case 'atomic_add':
      o.atomic_add(cpu, i, v[0]!);
      return 0;
    case 'atomic_sub':
      o.atomic_sub(cpu, i, v[0]!);
      return 0;
  }
  // Value-returning RMWs: the ordering from the suffix (none: fully ordered).
  const ord = fn.endsWith('_relaxed')
    ? o.Ord.ONCE
    : fn.endsWith('_acquire')
      ? o.Ord.ACQUIRE
      : fn.endsWith('_release')
        ? o.Ord.RELEASE
        : o.Ord.FULL;
  const base = fn.replace(/_(relaxed|acquire|release)$/, '').replace(/^atomic_/, '');
  const w = cpu.weak!;
  switch (base) {
    case 'xchg':
      return w.rmw(false, i, o.Rmw.XCHG, v[0]!, 0, ord) as number;
    case 'cmpxchg':
      return w.rmw(false, i, o.Rmw.CMPXCHG, v[0]!, v[1]!, ord) as number;
    case 'add_return':
      return ((w.rmw(false, i, o.Rmw.ADD, v[0]!, 0, ord) as number) + v[0]!) | 0;
    case 'sub_return':
      return ((w.rmw(false, i, o.Rmw.ADD, -v[0]! | 0, 0, ord) as number) - v[0]!) | 0;
    case 'inc_return':
      return ((w.rmw(false, i, o.Rmw.ADD, 1, 0, ord) as number) + 1) | 0;
    case 'dec_return':
      return ((w.rmw(false, i, o.Rmw.ADD, -1, 0, ord) as number) - 1) | 0;
    case 'fetch_add':
      return w.rmw(false, i, o.Rmw.ADD, v[0]!, 0, ord) as number;
    case 'fetch_inc':
      return w.rmw(false, i, o.Rmw.ADD, 1, 0, ord) as number;
    default:
      throw new LitmusError(0, `${fn}: not implemented`);
  }
}
