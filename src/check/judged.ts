/**
 * Judged counts: outcomes that are allowed one by one (ENOMEM after the one-shot flush, a DMA map
 * that finds no IOVA space, ...) but whose counts are part of correctness. A scenario declares, for
 * each, a relation or a bound that the checker evaluates, so that a change which silently stops an
 * outcome from happening, or makes it explode, fails the run like any FORBIDDEN invariant.
 *
 *  - a relation `count <= atMost` (sums of outcome counts) holds for every explored execution (judged
 *    at its end, after the quiescent scan and the final drain, so a break comes back with a replay
 *    token) and for every run's stress phase as a whole;
 *  - a rate bound `min <= count / ops <= max` is judged on a stress phase of at least `minOps` ops, and
 *    only when the run's parameters include `when` (the regime the bound was measured for): a floor
 *    catches an outcome that stopped happening, a ceiling one that exploded.
 * Each rule reports its own FORBIDDEN invariant id, declared in the scenario's catalogue
 * (judgedInvariants), so `list` shows it and a variant may expect it.
 */
import type { InvariantDef } from './invariant.js';

/** A run's parameters (engine/scenario.ts Params; not imported, so that scenario.ts may import this file). */
type Params = Readonly<Record<string, number>>;

export interface JudgedCount {
  /** The FORBIDDEN invariant a failed judgement reports. */
  readonly id: string;
  /** One line: what must hold, and why. */
  readonly meaning: string;
  /** The outcomes counted (their sum). */
  readonly count: readonly string[];
  /** Judge only when the run's parameters include these values (e.g. checks: 1, where the counts exist). */
  readonly when?: Params;
  /** Relation: the count is at most the sum of these outcomes' counts. */
  readonly atMost?: readonly string[];
  /** Rate bound per op, over a stress phase. */
  readonly perOp?: {
    readonly min?: number;
    readonly max?: number;
    /** Judge only phases with at least this many ops (a small sample says nothing). */
    readonly minOps: number;
    /** Judge only when the run's parameters include these values (the regime the bound holds in). */
    readonly when?: Params;
    /** Judge only with this many vCPUs (inclusive range): the regime the bound was measured for. */
    readonly cpus?: readonly [number, number];
  };
}

/** The catalogue entries of a scenario's judged counts. */
export function judgedInvariants(rules: readonly JudgedCount[]): InvariantDef[] {
  return rules.map((r) => ({ id: r.id, meaning: r.meaning, grade: 'FORBIDDEN' }));
}

type Counts = ReadonlyMap<string, number> | Readonly<Record<string, number>>;

function sum(counts: Counts, ids: readonly string[]): number {
  let n = 0;
  for (const id of ids) n += (counts instanceof Map ? counts.get(id) : (counts as Record<string, number>)[id]) ?? 0;
  return n;
}

const names = (ids: readonly string[]): string => ids.join(' + ');

const holds = (when: Params | undefined, params: Params): boolean =>
  !when || Object.entries(when).every(([k, v]) => params[k] === v);

/** The rules whose `when` holds for these parameters (what a built model judges: ScenarioModel.judged). */
export function judgedFor(rules: readonly JudgedCount[], params: Params): JudgedCount[] {
  return rules.filter((r) => holds(r.when, params));
}

/** The relations that fail on these counts (one explored execution, or a whole phase). */
export function judgeRelations(
  rules: readonly JudgedCount[],
  counts: Counts,
  /** The run's parameters; omitted: `rules` are already those that apply (judgedFor). */
  params?: Params,
): { id: string; message: string }[] {
  const out: { id: string; message: string }[] = [];
  for (const r of rules) {
    if (!r.atMost || (params && !holds(r.when, params))) continue;
    const n = sum(counts, r.count);
    const limit = sum(counts, r.atMost);
    if (n > limit) out.push({ id: r.id, message: `${names(r.count)} = ${n} exceeds ${names(r.atMost)} = ${limit}` });
  }
  return out;
}

/** The rate bounds that fail on a stress phase of `ops` ops run by `cpus` vCPUs with `params`. */
export function judgeRates(
  rules: readonly JudgedCount[],
  counts: Counts,
  ops: number,
  params: Params,
  cpus: number,
): { id: string; message: string }[] {
  const out: { id: string; message: string }[] = [];
  for (const r of rules) {
    const b = r.perOp;
    if (!b || ops < b.minOps || !holds(r.when, params) || !holds(b.when, params)) continue;
    if (b.cpus && (cpus < b.cpus[0] || cpus > b.cpus[1])) continue;
    const n = sum(counts, r.count);
    const rate = n / ops;
    if (b.min !== undefined && rate < b.min)
      out.push({
        id: r.id,
        message: `${names(r.count)} happened ${n} times in ${ops} ops (${rate.toExponential(2)} per op), fewer than ${b.min} per op: the outcome stopped happening`,
      });
    if (b.max !== undefined && rate > b.max)
      out.push({
        id: r.id,
        message: `${names(r.count)} happened ${n} times in ${ops} ops (${rate.toExponential(2)} per op), more than ${b.max} per op`,
      });
  }
  return out;
}
