/**
 * The C litmus format of the kernel's tools/memory-model (as herd7 reads it; tools/memory-model/
 * litmus-tests/README): a `C NAME` line, comments `(* … *)` and `// …`, an init block `{ … }`, process
 * bodies `P0(int *x, spinlock_t *s) { … }`, an optional `locations [ … ]` list and a final condition
 * `exists|~exists|forall ( … )` built from `P:reg=value` and `location=value` with /\ \/ ~ and brackets.
 *
 * The subset parsed here: int locals, assignments, `if`/`else`, C integer expressions over locals, and
 * the calls in CALLS below (marked accesses, acquire/release, barriers, atomics, spinlocks). Anything
 * else — plain C accesses to shared memory (`*x = 1`), pointers to pointers, RCU, spin_is_locked — is
 * named with its line as unsupported (LitmusError, exit 2), never guessed at.
 */

export class LitmusError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'LitmusError';
  }
}

export type Expr =
  | { readonly k: 'num'; readonly v: number }
  | { readonly k: 'reg'; readonly name: string; readonly line: number }
  | { readonly k: 'un'; readonly op: string; readonly e: Expr }
  | { readonly k: 'bin'; readonly op: string; readonly a: Expr; readonly b: Expr }
  | { readonly k: 'call'; readonly fn: string; readonly args: readonly Arg[]; readonly line: number };

/** A call's argument: a shared location (`x` or `*x`, a parameter of the process) or a value. */
export type Arg = { readonly k: 'loc'; readonly name: string; readonly deref: boolean } | Expr;

export type Stmt =
  | { readonly k: 'decl'; readonly name: string; readonly init: Expr | undefined; readonly line: number }
  | { readonly k: 'assign'; readonly name: string; readonly e: Expr; readonly line: number }
  | { readonly k: 'expr'; readonly e: Expr; readonly line: number }
  | { readonly k: 'if'; readonly cond: Expr; readonly then: readonly Stmt[]; readonly else: readonly Stmt[] };

export interface Proc {
  readonly index: number;
  /** Parameter names that are shared int (or atomic_t) locations, and those that are spinlocks. */
  readonly params: readonly string[];
  readonly locks: readonly string[];
  readonly body: readonly Stmt[];
}

export type Cond =
  | { readonly k: 'and' | 'or'; readonly a: Cond; readonly b: Cond }
  | { readonly k: 'not'; readonly a: Cond }
  | { readonly k: 'true' | 'false' }
  | { readonly k: 'eq'; readonly key: string; readonly v: number };

export interface Litmus {
  readonly name: string;
  /** "Never" / "Sometimes" / "Always" from a `Result:` line in a comment, if any. */
  readonly result: 'Never' | 'Sometimes' | 'Always' | undefined;
  /** Initial values of locations (absent: 0) and locks declared. */
  readonly init: ReadonlyMap<string, number>;
  readonly procs: readonly Proc[];
  /** Every shared int location (init block and parameters), in order of appearance. */
  readonly locations: readonly string[];
  readonly locks: readonly string[];
  readonly quantifier: 'exists' | '~exists' | 'forall';
  readonly cond: Cond;
  /** What the final states show: `locations [...]` first, then what the condition names. */
  readonly shown: readonly string[];
}

/** The calls a process body may make: how many arguments, which are locations, what it returns. */
export const CALLS: Readonly<Record<string, { readonly locs: readonly number[]; readonly arity: number }>> = {
  READ_ONCE: { locs: [0], arity: 1 },
  WRITE_ONCE: { locs: [0], arity: 2 },
  smp_load_acquire: { locs: [0], arity: 1 },
  smp_store_release: { locs: [0], arity: 2 },
  smp_store_mb: { locs: [0], arity: 2 },
  smp_mb: { locs: [], arity: 0 },
  smp_wmb: { locs: [], arity: 0 },
  smp_rmb: { locs: [], arity: 0 },
  dma_wmb: { locs: [], arity: 0 },
  dma_rmb: { locs: [], arity: 0 },
  smp_mb__before_atomic: { locs: [], arity: 0 },
  smp_mb__after_atomic: { locs: [], arity: 0 },
  smp_mb__after_spinlock: { locs: [], arity: 0 },
  spin_lock: { locs: [0], arity: 1 },
  spin_unlock: { locs: [0], arity: 1 },
  spin_trylock: { locs: [0], arity: 1 },
  atomic_read: { locs: [0], arity: 1 },
  atomic_set: { locs: [0], arity: 2 },
  atomic_read_acquire: { locs: [0], arity: 1 },
  atomic_set_release: { locs: [0], arity: 2 },
  atomic_inc: { locs: [0], arity: 1 },
  atomic_dec: { locs: [0], arity: 1 },
  atomic_add: { locs: [1], arity: 2 },
  atomic_sub: { locs: [1], arity: 2 },
  xchg: { locs: [0], arity: 2 },
  xchg_relaxed: { locs: [0], arity: 2 },
  xchg_acquire: { locs: [0], arity: 2 },
  xchg_release: { locs: [0], arity: 2 },
  atomic_xchg: { locs: [0], arity: 2 },
  atomic_xchg_relaxed: { locs: [0], arity: 2 },
  atomic_xchg_acquire: { locs: [0], arity: 2 },
  atomic_xchg_release: { locs: [0], arity: 2 },
  cmpxchg: { locs: [0], arity: 3 },
  cmpxchg_relaxed: { locs: [0], arity: 3 },
  cmpxchg_acquire: { locs: [0], arity: 3 },
  cmpxchg_release: { locs: [0], arity: 3 },
  atomic_cmpxchg: { locs: [0], arity: 3 },
  atomic_cmpxchg_relaxed: { locs: [0], arity: 3 },
  atomic_cmpxchg_acquire: { locs: [0], arity: 3 },
  atomic_cmpxchg_release: { locs: [0], arity: 3 },
  atomic_add_return: { locs: [1], arity: 2 },
  atomic_add_return_relaxed: { locs: [1], arity: 2 },
  atomic_add_return_acquire: { locs: [1], arity: 2 },
  atomic_add_return_release: { locs: [1], arity: 2 },
  atomic_sub_return: { locs: [1], arity: 2 },
  atomic_sub_return_relaxed: { locs: [1], arity: 2 },
  atomic_inc_return: { locs: [0], arity: 1 },
  atomic_inc_return_relaxed: { locs: [0], arity: 1 },
  atomic_dec_return: { locs: [0], arity: 1 },
  atomic_dec_return_relaxed: { locs: [0], arity: 1 },
  atomic_fetch_add: { locs: [1], arity: 2 },
  atomic_fetch_add_relaxed: { locs: [1], arity: 2 },
  atomic_fetch_add_acquire: { locs: [1], arity: 2 },
  atomic_fetch_add_release: { locs: [1], arity: 2 },
  atomic_fetch_inc: { locs: [0], arity: 1 },
  atomic_fetch_inc_relaxed: { locs: [0], arity: 1 },
};

/** Constructs we know and do not model: named as such (with why) rather than as a syntax error. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  rcu_read_lock: 'RCU is not modelled',
  rcu_read_unlock: 'RCU is not modelled',
  rcu_dereference: 'RCU is not modelled',
  rcu_assign_pointer: 'RCU is not modelled',
  synchronize_rcu: 'RCU is not modelled',
  srcu_read_lock: 'SRCU is not modelled',
  srcu_read_unlock: 'SRCU is not modelled',
  synchronize_srcu: 'SRCU is not modelled',
  spin_is_locked: 'spin_is_locked() is not modelled (lock.cat semantics of a lock read)',
  smp_mb__after_unlock_lock: 'smp_mb__after_unlock_lock() is not modelled',
};

interface Tok {
  readonly t: string;
  readonly line: number;
}

const PUNCT = ['/\\', '\\/', '<<', '>>', '<=', '>=', '==', '!=', '&&', '||', '->'];

function tokenize(src: string, from: number, line0: number): Tok[] {
  const out: Tok[] = [];
  let line = line0;
  let i = from;
  // `(* … *)` is a comment only outside braces: inside a body, `WRITE_ONCE(*x, 1)` is code.
  let depth = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) i++;
    else if (depth === 0 && src.startsWith('(*', i)) {
      const end = src.indexOf('*)', i + 2);
      if (end < 0) throw new LitmusError(line, 'unterminated comment (* …');
      for (let k = i; k < end; k++) if (src[k] === '\n') line++;
      i = end + 2;
    } else if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new LitmusError(line, 'unterminated comment /* …');
      for (let k = i; k < end; k++) if (src[k] === '\n') line++;
      i = end + 2;
    } else if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_]/.test(src[j]!)) j++;
      out.push({ t: src.slice(i, j), line });
      i = j;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[0-9A-Za-z_:]/.test(src[j]!)) j++;
      out.push({ t: src.slice(i, j), line });
      i = j;
    } else {
      const p = PUNCT.find((q) => src.startsWith(q, i));
      if (c === '{') depth++;
      else if (c === '}') depth--;
      out.push({ t: p ?? c, line });
      i += p ? p.length : 1;
    }
  }
  return out;
}

class Parser {
  private pos = 0;
  constructor(private readonly toks: readonly Tok[]) {}
  peek(k = 0): string | undefined {
    return this.toks[this.pos + k]?.t;
  }
  line(): number {
    return this.toks[Math.min(this.pos, this.toks.length - 1)]?.line ?? 1;
  }
  next(): Tok {
    const t = this.toks[this.pos++];
    if (!t) throw new LitmusError(this.toks[this.toks.length - 1]?.line ?? 1, 'unexpected end of file');
    return t;
  }
  eat(t: string): boolean {
    if (this.peek() === t) {
      this.pos++;
      return true;
    }
    return false;
  }
  expect(t: string): Tok {
    const got = this.next();
    if (got.t !== t) throw new LitmusError(got.line, `expected '${t}', found '${got.t}'`);
    return got;
  }
  ident(): Tok {
    const got = this.next();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(got.t)) throw new LitmusError(got.line, `expected a name, found '${got.t}'`);
    return got;
  }
  atEnd(): boolean {
    return this.pos >= this.toks.length;
  }
}

export function parseLitmus(src: string): Litmus {
  const text = src.replace(/\r\n?/g, '\n');
  const head = /^\s*C\s+(\S+)/.exec(text);
  if (!head) {
    const arch = /^\s*(\S+)/.exec(text)?.[1];
    throw new LitmusError(1, `not a C litmus test (the first line must be 'C NAME'${arch ? `, found '${arch}'` : ''})`);
  }
  const name = head[1]!;
  const result = /Result:\s*(Never|Sometimes|Always)/.exec(text)?.[1] as Litmus['result'];
  const headEnd = head.index + head[0].length;
  const line0 = text.slice(0, headEnd).split('\n').length;
  const p = new Parser(tokenize(text, headEnd, line0));

  // Init block.
  const init = new Map<string, number>();
  const locations: string[] = [];
  const locks: string[] = [];
  const addLoc = (n: string) => {
    if (!locations.includes(n) && !locks.includes(n)) locations.push(n);
  };
  p.expect('{');
  while (!p.eat('}')) {
    const line = p.line();
    let type: string | undefined;
    if (['int', 'atomic_t', 'spinlock_t', 'unsigned', 'long'].includes(p.peek()!)) {
      type = p.next().t;
      while (p.peek() === 'int' || p.peek() === 'long') p.next();
    }
    if (p.peek() === '*') throw new LitmusError(line, 'pointer variables in the init block are not supported');
    const first = p.next().t;
    let key = first;
    if (/^\d+$/.test(first) && p.peek() === ':') {
      throw new LitmusError(line, 'initial register values (P:reg=…) are not supported');
    }
    if (!/^[A-Za-z_]\w*$/.test(key)) throw new LitmusError(line, `unexpected '${key}' in the init block`);
    let value = 0;
    if (p.eat('=')) {
      const v = p.next();
      if (v.t === '-' && /^\d+$/.test(p.peek() ?? '')) value = -Number(p.next().t);
      else if (/^\d+$/.test(v.t)) value = Number(v.t);
      else if (v.t === 'ATOMIC_INIT') {
        p.expect('(');
        value = Number(p.next().t);
        p.expect(')');
      } else throw new LitmusError(v.line, `initial value '${v.t}' is not an integer (pointers are not supported)`);
    }
    p.eat(';');
    if (type === 'spinlock_t') {
      if (!locks.includes(key)) locks.push(key);
    } else {
      addLoc(key);
      init.set(key, value);
    }
    key = '';
  }

  // Processes.
  const procs: Proc[] = [];
  while (/^P\d+$/.test(p.peek() ?? '')) {
    const t = p.next();
    const index = Number(t.t.slice(1));
    if (index !== procs.length) throw new LitmusError(t.line, `expected P${procs.length}, found ${t.t}`);
    p.expect('(');
    const params: string[] = [];
    const plocks: string[] = [];
    while (!p.eat(')')) {
      const line = p.line();
      const type = p.next().t;
      if (type === 'volatile' || type === 'const') continue;
      let stars = 0;
      while (p.eat('*')) stars++;
      const n = p.ident().t;
      if (stars !== 1)
        throw new LitmusError(
          line,
          `parameter ${n}: only 'int *', 'atomic_t *' and 'spinlock_t *' parameters are supported`,
        );
      if (type === 'spinlock_t') {
        plocks.push(n);
        if (!locks.includes(n)) locks.push(n);
      } else if (type === 'int' || type === 'atomic_t') {
        params.push(n);
        addLoc(n);
      } else throw new LitmusError(line, `parameter ${n}: type '${type}' is not supported`);
      p.eat(',');
    }
    const body = block(p, new Set(params), new Set(plocks));
    procs.push({ index, params, locks: plocks, body });
  }
  if (procs.length === 0) throw new LitmusError(p.line(), 'no process P0(…) { … }');

  // locations [ … ] and the condition.
  const shown: string[] = [];
  if (p.peek() === 'locations') {
    p.next();
    p.expect('[');
    while (!p.eat(']')) {
      shown.push(stateKey(p));
      p.eat(';');
    }
    p.eat(';');
  }
  const qline = p.line();
  let quantifier: Litmus['quantifier'];
  if (p.eat('exists')) quantifier = 'exists';
  else if (p.eat('forall')) quantifier = 'forall';
  else if (p.peek() === '~' && p.peek(1) === 'exists') {
    p.next();
    p.next();
    quantifier = '~exists';
  } else throw new LitmusError(qline, `expected exists, ~exists or forall, found '${p.peek() ?? 'end of file'}'`);
  const cond = condition(p, shown);
  if (!p.atEnd()) throw new LitmusError(p.line(), `unexpected '${p.peek()}' after the condition`);
  for (const key of shown) {
    const m = /^(\d+):(\w+)$/.exec(key);
    if (m) {
      if (Number(m[1]) >= procs.length) throw new LitmusError(qline, `${key}: there is no process P${m[1]}`);
    } else if (!locations.includes(key)) throw new LitmusError(qline, `${key} is not a location of this test`);
  }
  return { name, result, init, procs, locations, locks, quantifier, cond, shown };
}

function stateKey(p: Parser): string {
  const t = p.next();
  if (/^\d+:\w+$/.test(t.t)) return t.t;
  if (/^\d+$/.test(t.t) && p.peek() === ':') {
    p.next();
    return `${t.t}:${p.ident().t}`;
  }
  if (/^[A-Za-z_]\w*$/.test(t.t)) return t.t;
  throw new LitmusError(t.line, `expected P:register or a location, found '${t.t}'`);
}

function condition(p: Parser, shown: string[]): Cond {
  const orC = (): Cond => {
    let a = andC();
    while (p.eat('\\/')) a = { k: 'or', a, b: andC() };
    return a;
  };
  const andC = (): Cond => {
    let a = atom();
    while (p.eat('/\\')) a = { k: 'and', a, b: atom() };
    return a;
  };
  const atom = (): Cond => {
    if (p.eat('~')) return { k: 'not', a: atom() };
    if (p.eat('(')) {
      const c = orC();
      p.expect(')');
      return c;
    }
    if (p.eat('true')) return { k: 'true' };
    if (p.eat('false')) return { k: 'false' };
    const line = p.line();
    const key = stateKey(p);
    p.expect('=');
    const neg = p.eat('-');
    const v = p.next();
    if (!/^\d+$/.test(v.t))
      throw new LitmusError(line, `${key}=${v.t}: only integer values are supported in conditions`);
    if (!shown.includes(key)) shown.push(key);
    return { k: 'eq', key, v: neg ? -Number(v.t) : Number(v.t) };
  };
  return orC();
}

function block(p: Parser, locs: ReadonlySet<string>, locks: ReadonlySet<string>): Stmt[] {
  p.expect('{');
  const out: Stmt[] = [];
  while (!p.eat('}')) out.push(...statement(p, locs, locks));
  return out;
}

function statement(p: Parser, locs: ReadonlySet<string>, locks: ReadonlySet<string>): Stmt[] {
  const line = p.line();
  const t = p.peek();
  if (t === '{') return block(p, locs, locks);
  if (t === ';') {
    p.next();
    return [];
  }
  if (t === 'if') {
    p.next();
    p.expect('(');
    const cond = expr(p, locs, locks);
    p.expect(')');
    const then = statement(p, locs, locks);
    const els = p.eat('else') ? statement(p, locs, locks) : [];
    return [{ k: 'if', cond, then, else: els }];
  }
  if (t === 'while' || t === 'for' || t === 'do' || t === 'goto' || t === 'return')
    throw new LitmusError(line, `'${t}' is not supported (only straight-line code and if/else)`);
  if (t === 'int' || t === 'unsigned' || t === 'long') {
    while (p.peek() === 'int' || p.peek() === 'unsigned' || p.peek() === 'long') p.next();
    if (p.peek() === '*') throw new LitmusError(line, 'pointer locals are not supported');
    const out: Stmt[] = [];
    for (;;) {
      const n = p.ident().t;
      out.push({ k: 'decl', name: n, init: p.eat('=') ? expr(p, locs, locks) : undefined, line });
      if (!p.eat(',')) break;
    }
    p.expect(';');
    return out;
  }
  if (t === '*')
    throw new LitmusError(
      line,
      'plain (unmarked) accesses to shared memory are not supported: use READ_ONCE/WRITE_ONCE',
    );
  if (/^[A-Za-z_]\w*$/.test(t ?? '') && p.peek(1) === '=' && !locs.has(t!)) {
    const n = p.next().t;
    p.next();
    const e = expr(p, locs, locks);
    p.expect(';');
    return [{ k: 'assign', name: n, e, line }];
  }
  if (t !== undefined && locs.has(t) && p.peek(1) === '=')
    throw new LitmusError(line, `'${t} = …' assigns to a pointer parameter: not supported`);
  const e = expr(p, locs, locks);
  p.expect(';');
  if (e.k !== 'call') throw new LitmusError(line, 'a statement must be a call, an assignment or a declaration');
  return [{ k: 'expr', e, line }];
}

const BIN: readonly (readonly string[])[] = [
  ['||'],
  ['&&'],
  ['|'],
  ['^'],
  ['&'],
  ['==', '!='],
  ['<', '<=', '>', '>='],
  ['<<', '>>'],
  ['+', '-'],
  ['*', '/', '%'],
];

function expr(p: Parser, locs: ReadonlySet<string>, locks: ReadonlySet<string>, level = 0): Expr {
  if (level === BIN.length) return unary(p, locs, locks);
  let a = expr(p, locs, locks, level + 1);
  while (BIN[level]!.includes(p.peek() ?? '')) {
    const op = p.next().t;
    a = { k: 'bin', op, a, b: expr(p, locs, locks, level + 1) };
  }
  return a;
}

function unary(p: Parser, locs: ReadonlySet<string>, locks: ReadonlySet<string>): Expr {
  const line = p.line();
  const t = p.next();
  if (t.t === '!' || t.t === '-' || t.t === '~') return { k: 'un', op: t.t, e: unary(p, locs, locks) };
  if (t.t === '(') {
    const e = expr(p, locs, locks);
    p.expect(')');
    return e;
  }
  if (/^\d+$/.test(t.t)) return { k: 'num', v: Number(t.t) };
  if (/^0x[0-9a-fA-F]+$/.test(t.t)) return { k: 'num', v: Number(t.t) };
  if (t.t === '*')
    throw new LitmusError(
      line,
      'plain (unmarked) accesses to shared memory are not supported: use READ_ONCE/WRITE_ONCE',
    );
  if (!/^[A-Za-z_]\w*$/.test(t.t)) throw new LitmusError(line, `unexpected '${t.t}'`);
  if (p.peek() !== '(') {
    if (locs.has(t.t) || locks.has(t.t))
      throw new LitmusError(line, `'${t.t}' is a pointer: pass it to a primitive (plain accesses are not supported)`);
    return { k: 'reg', name: t.t, line };
  }
  const why = UNSUPPORTED[t.t];
  if (why) throw new LitmusError(line, `${t.t}(): unsupported: ${why}`);
  const spec = CALLS[t.t];
  if (!spec)
    throw new LitmusError(line, `${t.t}(): unsupported call (see iommu-stress litmus --help for the supported ones)`);
  p.expect('(');
  const args: Arg[] = [];
  while (!p.eat(')')) {
    const i = args.length;
    if (spec.locs.includes(i)) {
      const deref = p.eat('*');
      const n = p.ident();
      const isLock = t.t.startsWith('spin_');
      if (isLock ? !locks.has(n.t) : !locs.has(n.t)) {
        throw new LitmusError(
          n.line,
          `${t.t}(): '${n.t}' is not a ${isLock ? 'spinlock_t *' : 'shared int'} parameter of this process`,
        );
      }
      const needDeref = t.t === 'READ_ONCE' || t.t === 'WRITE_ONCE';
      if (deref !== needDeref)
        throw new LitmusError(n.line, `${t.t}(): write ${needDeref ? `*${n.t}` : n.t} (as the kernel's API takes it)`);
      args.push({ k: 'loc', name: n.t, deref });
    } else args.push(expr(p, locs, locks));
    if (!p.eat(',') && p.peek() !== ')') throw new LitmusError(p.line(), `expected ',' or ')' in ${t.t}()`);
  }
  if (args.length !== spec.arity)
    throw new LitmusError(line, `${t.t}() takes ${spec.arity} argument(s), got ${args.length}`);
  return { k: 'call', fn: t.t, args, line };
}
