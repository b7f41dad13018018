/**
 * Collects what the online checks (inside model ops) and the quiescent scans find.
 *
 * One Checker per vCPU in stress mode (each worker owns its own; the main thread owns the one used for
 * barrier scans) and one per execution in explore mode. Only the first FORBIDDEN violation stops a run;
 * INTERESTING and ACCEPTABLE outcomes are tallied into a histogram (jcstress's RESULT/SAMPLES table).
 */
import type { Grade, InvariantDef, Violation } from './invariant.js';
import { ENGINE_INVARIANTS } from './invariant.js';

export class Checker {
  readonly violations: Violation[] = [];
  /** Outcome id -> samples, for INTERESTING / ACCEPTABLE outcomes. */
  readonly outcomes = new Map<string, number>();
  failed = false;
  private readonly grades = new Map<string, Grade>();

  /**
   * `stopOn`: outcomes that end the run as a FORBIDDEN one does, whatever their grade — how explore
   * hunts down an INTERESTING outcome (a duplicate MAP, a spurious ENOMEM) to get a replay token for it.
   */
  constructor(
    invariants: readonly InvariantDef[],
    private readonly stopOn: ReadonlySet<string> = new Set(),
  ) {
    for (const inv of [...ENGINE_INVARIANTS, ...invariants]) this.grades.set(inv.id, inv.grade);
  }

  gradeOf(id: string): Grade {
    const g = this.grades.get(id);
    // A check that names an undeclared invariant is a bug in the scenario, not in the model under test.
    if (g === undefined) throw new Error(`checker: invariant '${id}' is not declared by this scenario`);
    return g;
  }

  /** Report an outcome; returns true when it is FORBIDDEN (the caller should stop). */
  report(invariant: string, message: string, vcpu: number, step: number, site: string): boolean {
    const grade = this.gradeOf(invariant);
    if (grade !== 'FORBIDDEN' && !this.stopOn.has(invariant)) {
      this.outcomes.set(invariant, (this.outcomes.get(invariant) ?? 0) + 1);
      return false;
    }
    // Keep only a bounded number: after the first the run is being stopped anyway.
    if (this.violations.length < 16) this.violations.push({ invariant, grade, message, vcpu, step, site });
    this.failed = true;
    return true;
  }

  /** Tally a non-failing outcome without a message (cheap; used on hot paths). */
  count(outcome: string, n = 1): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + n);
  }

  reset(): void {
    this.violations.length = 0;
    this.outcomes.clear();
    this.failed = false;
  }
}

export function mergeOutcomes(
  into: Record<string, number>,
  from: ReadonlyMap<string, number> | Record<string, number>,
): void {
  const entries = from instanceof Map ? from.entries() : Object.entries(from);
  for (const [k, v] of entries) into[k] = (into[k] ?? 0) + v;
}
