/**
 * What a run report holds (report.json), apart from the code that writes it (report.ts) and the code
 * that renders it (summary.ts, junit.ts, html.ts): every one of them imports these types from here, so
 * the report modules form no import cycle.
 */
import type { Grade, Violation } from '../check/invariant.js';
import type { CoverageReport } from '../engine/coverage.js';

export interface ReportedViolation extends Violation {
  readonly executor: 'stress' | 'explore';
  /** Replay token of a deterministic repro, when one exists. */
  readonly token?: string;
  /** The one-line command that reproduces it. */
  readonly command: string;
  /**
   * A stress failure's deterministic replay is the headline (the fields above); when it ends in another
   * invariant or on another vCPU, this is what the real threads saw ("stress saw: …; replay shows: …").
   */
  readonly stressSaw?: Violation;
  /** A stress failure without a token: why, and the shortest failing op programs (the command explores them). */
  readonly noRepro?: string;
  /** The shrunk interleaving, one column per vCPU, when a deterministic repro exists. */
  readonly trace?: string;
}

/** One row of a jcstress-style outcome table: RESULT, SAMPLES, (FREQ = samples / total), EXPECT. */
export interface HistogramRow {
  readonly result: string;
  readonly samples: number;
  readonly expect: Grade;
}

export interface VariantReport {
  readonly scenario: string;
  readonly variant: string;
  readonly expected: string;
  /**
   * Set when the variant is a finding (upstream code as it is that trips a FORBIDDEN invariant,
   * VariantDef.finding): the upstream code, what goes wrong, and the fixed sibling variant.
   */
  readonly finding?: { readonly upstream: string; readonly what: string; readonly fixedBy: string };
  /** 'clean' or the id of the first FORBIDDEN invariant seen. */
  readonly observed: string;
  readonly verdict: 'pass' | 'fail';
  readonly ops: number;
  readonly steps: number;
  readonly durationMs: number;
  readonly seed: number;
  readonly params: Readonly<Record<string, number>>;
  readonly violations: readonly ReportedViolation[];
  /** INTERESTING / ACCEPTABLE outcomes and their sample counts. */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Every op's outcome: 'ok' (nothing to report), each outcome id, each violation (jcstress RESULT/SAMPLES/EXPECT). */
  readonly histogram: readonly HistogramRow[];
  readonly stress: {
    readonly workers: number;
    readonly ops: number;
    readonly steps: number;
    readonly slices: number;
    readonly durationMs: number;
    readonly opsPerSec: number;
  } | null;
  readonly explore: {
    readonly schedules: number;
    readonly steps: number;
    readonly strategy: string;
    readonly durationMs: number;
  } | null;
  /** Site coverage over both executors and every parameter set (engine/coverage.ts); absent in old reports. */
  readonly coverage?: CoverageReport;
  /**
   * Declared-reachable sites a clean pass never reached (0 when complete, or the variant expects a bug):
   * the table's `PASS (incomplete coverage: N sites never reached)`.
   */
  readonly incompleteCoverage?: number;
  /** The scenario's regimes this variant also ran with (ScenarioDef.regimes), and what each sets. */
  readonly regimes?: readonly { readonly name: string; readonly params: Readonly<Record<string, number>> }[];
}

export interface RunReport {
  readonly tool: 'iommu-stress';
  readonly version: string;
  readonly runId: string;
  readonly command: string;
  readonly startedAt: string;
  readonly durationMs: number;
  /** The campaign seed; with a shard, each variant's `seed` is the shard's own stress seed. */
  readonly seed: number;
  /** Shard i of n (1-based), or null for a whole campaign. Reports of one campaign combine with `merge`. */
  readonly shard: { readonly index: number; readonly count: number } | null;
  readonly verdict: 'pass' | 'fail';
  readonly exitCode: number;
  readonly results: readonly VariantReport[];
  /**
   * Present when the report does not cover what was asked: why (a run stopped by SIGINT keeps what it had
   * measured; `merge --allow-partial` of an incomplete or mixed campaign). Absent in a complete report.
   */
  readonly partial?: readonly string[];
}
