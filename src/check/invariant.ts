/**
 * Named checks, graded the way jcstress grades outcomes:
 * FORBIDDEN fails the run, INTERESTING is allowed but counted and shown (a lazy-mode exposure window,
 * a spurious ENOMEM), ACCEPTABLE is counted only.
 */

export type Grade = 'FORBIDDEN' | 'INTERESTING' | 'ACCEPTABLE';

export interface InvariantDef {
  /** Short stable id used in reports, expectations and repro files: I1, F1, PT-LEAK, LOCKDEP... */
  readonly id: string;
  /** One line: what must hold. */
  readonly meaning: string;
  readonly grade: Grade;
}

export interface Violation {
  readonly invariant: string;
  readonly grade: Grade;
  readonly message: string;
  /** The vCPU whose step broke it, or -1 for a global scan at a quiescent point. */
  readonly vcpu: number;
  /** That vCPU's step count (explore: the global step) when it was seen. */
  readonly step: number;
  /** The scheduling-point label the vCPU was at, or 'quiescent'. */
  readonly site: string;
}

/** Invariants every scenario gets from the engine itself. */
export const ENGINE_INVARIANTS: readonly InvariantDef[] = [
  { id: 'DEADLOCK', meaning: 'some vCPU can always run until every op program has finished', grade: 'FORBIDDEN' },
  { id: 'LOCKDEP', meaning: 'locks are taken in their declared class order, never reversed', grade: 'FORBIDDEN' },
  { id: 'STEP-BOUND', meaning: 'an execution finishes within the step bound (no livelock)', grade: 'FORBIDDEN' },
  {
    id: 'EXCEPTION',
    meaning: 'model code never throws (explore: a vCPU that throws is a finding with a replay token)',
    grade: 'FORBIDDEN',
  },
];
