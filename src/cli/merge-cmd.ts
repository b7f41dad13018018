/**
 * `merge DIR...`: combine the reports of one seed campaign spread over machines (`run --shard i/n` on
 * each) into one report: per scenario and variant the counts add up, violations and histograms are
 * pooled, and the verdict is judged again on the pooled outcome.
 *
 * A campaign must add up: every shard 1..n exactly once, one campaign seed, one tool version, no report
 * that is itself partial. Otherwise merge prints what is wrong, writes nothing and exits 1 — unless
 * --allow-partial, which merges anyway and marks the merged report `partial` with the reasons.
 */
import { mergeCoverage } from '../engine/coverage.js';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Grade } from '../check/invariant.js';
import {
  newRunId,
  writeReport,
  type HistogramRow,
  type ReportedViolation,
  type RunReport,
  type VariantReport,
} from '../report/report.js';
import { BadInput, EXIT } from '../errors.js';
import type { Io } from './io.js';
import { checkOutputDir } from './parse.js';
import { VERSION } from './version.js';

export interface MergeFlags {
  json?: boolean;
  reportDir?: string;
  allowPartial?: boolean;
}

export function mergeCommand(inputs: readonly string[], f: MergeFlags, io: Io): number {
  if (inputs.length === 0) throw new BadInput('merge needs at least one report directory (or report.json)');
  if (f.reportDir !== undefined) checkOutputDir('--report-dir', f.reportDir);
  const reports = inputs.map(readReport);
  const notes = campaignProblems(reports, inputs);
  if (notes.length > 0 && !f.allowPartial) {
    // Pooled counts of a campaign that does not add up would read as a complete result: refuse.
    if (f.json)
      io.out(
        JSON.stringify(
          { tool: 'iommu-stress', kind: 'merge', verdict: 'incomplete', exitCode: EXIT.verdict, notes },
          null,
          2,
        ),
      );
    else {
      for (const n of notes) io.err(`merge: ${n}`);
      io.err('merge: the campaign does not add up; nothing written (--allow-partial merges anyway, marked partial)');
    }
    return EXIT.verdict;
  }
  const merged = { ...mergeReports(reports, io.commandLine), ...(notes.length > 0 ? { partial: notes } : {}) };
  const dirs = writeReport(merged, f.reportDir);
  if (f.json) io.out(JSON.stringify({ ...merged, notes, reportDirs: dirs }, null, 2));
  else {
    for (const n of notes) io.err(`merge: ${n}`);
    for (const r of merged.results) {
      io.out(
        `${r.verdict === 'pass' ? 'PASS' : 'FAIL'}  ${`${r.scenario}/${r.variant}`.padEnd(28)} expected ${r.expected.padEnd(22)} observed ${r.observed.padEnd(14)} ${r.ops} ops`,
      );
    }
    io.out(
      `verdict: ${merged.verdict.toUpperCase()}${notes.length > 0 ? ' (PARTIAL)' : ''} (${reports.length} reports)  report: ${dirs[0]}`,
    );
  }
  return merged.exitCode;
}

function readReport(input: string): RunReport {
  let file = input;
  try {
    if (statSync(input).isDirectory()) file = path.join(input, 'report.json');
  } catch {
    /* reported below */
  }
  let x: unknown;
  try {
    x = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new BadInput(`merge: cannot read a report from '${input}' (${why})`);
  }
  const r = x as Partial<RunReport>;
  if (r.tool !== 'iommu-stress' || !Array.isArray(r.results)) {
    throw new BadInput(`merge: '${file}' is not an iommu-stress run report (no "tool": "iommu-stress" with "results")`);
  }
  for (const v of r.results) {
    if (
      typeof v?.scenario !== 'string' ||
      typeof v.variant !== 'string' ||
      typeof v.ops !== 'number' ||
      !Array.isArray(v.violations)
    ) {
      throw new BadInput(`merge: '${file}' has a result without scenario/variant/ops/violations`);
    }
  }
  return r as RunReport;
}

export function mergeReports(reports: readonly RunReport[], command: string): RunReport {
  const byKey = new Map<string, VariantReport[]>();
  for (const rep of reports) {
    for (const v of rep.results) {
      const k = `${v.scenario}/${v.variant}`;
      byKey.set(k, [...(byKey.get(k) ?? []), v]);
    }
  }
  const results = [...byKey.values()].map(mergeVariant);
  const pass = results.every((r) => r.verdict === 'pass');
  const started = reports.map((r) => r.startedAt).sort()[0] ?? new Date().toISOString();
  return {
    tool: 'iommu-stress',
    version: VERSION,
    runId: newRunId(),
    command,
    startedAt: started,
    durationMs: Math.max(...reports.map((r) => r.durationMs)),
    seed: reports[0]!.seed,
    shard: null,
    verdict: pass ? 'pass' : 'fail',
    exitCode: pass ? EXIT.ok : EXIT.verdict,
    results,
  };
}

function mergeVariant(parts: readonly VariantReport[]): VariantReport {
  const first = parts[0]!;
  const expected = first.expected;
  if (parts.some((p) => p.expected !== expected)) {
    throw new BadInput(
      `merge: ${first.scenario}/${first.variant} expects '${expected}' in one report and '${parts.find((p) => p.expected !== expected)!.expected}' in another (different versions?)`,
    );
  }
  const violations: ReportedViolation[] = parts.flatMap((p) => p.violations);
  const observed = violations[0]?.invariant ?? 'clean';
  const verdict = expected === 'clean' ? observed === 'clean' : expected.split('|').includes(observed);
  const outcomes: Record<string, number> = {};
  for (const p of parts) for (const [k, n] of Object.entries(p.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + n;
  const hist = new Map<string, { samples: number; expect: Grade }>();
  for (const p of parts) {
    for (const h of p.histogram ?? []) {
      const cur = hist.get(h.result);
      hist.set(h.result, { samples: (cur?.samples ?? 0) + h.samples, expect: h.expect });
    }
  }
  const sum = (f: (p: VariantReport) => number) => parts.reduce((a, p) => a + f(p), 0);
  const stressParts = parts.flatMap((p) => (p.stress ? [p.stress] : []));
  const exploreParts = parts.flatMap((p) => (p.explore ? [p.explore] : []));
  const histogram: HistogramRow[] = [...hist].map(([result, h]) => ({ result, samples: h.samples, expect: h.expect }));
  // Coverage adds up over the shards: a site any shard reached is reached.
  const covered = parts.flatMap((p) => (p.coverage ? [p.coverage] : []));
  const coverage = covered.length === parts.length ? covered.reduce(mergeCoverage) : undefined;
  const incomplete = verdict && expected === 'clean' && coverage ? coverage.neverReached.length : 0;
  return {
    scenario: first.scenario,
    variant: first.variant,
    expected,
    observed,
    verdict: verdict ? 'pass' : 'fail',
    ops: sum((p) => p.ops),
    steps: sum((p) => p.steps),
    durationMs: sum((p) => p.durationMs),
    seed: first.seed,
    params: first.params,
    violations,
    outcomes,
    histogram,
    stress:
      stressParts.length === 0
        ? null
        : {
            workers: stressParts.reduce((a, s) => a + s.workers, 0),
            ops: stressParts.reduce((a, s) => a + s.ops, 0),
            steps: stressParts.reduce((a, s) => a + s.steps, 0),
            slices: stressParts.reduce((a, s) => a + s.slices, 0),
            durationMs: Math.max(...stressParts.map((s) => s.durationMs)),
            opsPerSec: stressParts.reduce((a, s) => a + s.opsPerSec, 0),
          },
    explore:
      exploreParts.length === 0
        ? null
        : {
            schedules: exploreParts.reduce((a, e) => a + e.schedules, 0),
            steps: exploreParts.reduce((a, e) => a + e.steps, 0),
            strategy: exploreParts[0]!.strategy,
            durationMs: Math.max(...exploreParts.map((e) => e.durationMs)),
          },
    ...(coverage ? { coverage, incompleteCoverage: incomplete } : {}),
    ...(first.regimes ? { regimes: first.regimes } : {}),
  };
}

/** Why a set of reports is not one whole campaign: missing, repeated or foreign shards, partial reports. */
export function campaignProblems(reports: readonly RunReport[], inputs: readonly string[]): string[] {
  const notes: string[] = [];
  const seeds = new Set(reports.map((r) => r.seed));
  if (seeds.size > 1) notes.push(`the reports come from different campaign seeds (${[...seeds].join(', ')})`);
  const versions = new Set(reports.map((r) => r.version));
  if (versions.size > 1)
    notes.push(`the reports come from different versions of iommu-stress (${[...versions].join(', ')})`);
  const runIds = reports.map((r) => r.runId);
  const sameRun = inputs.filter((_, k) => runIds.indexOf(runIds[k]!) !== k);
  if (sameRun.length > 0) notes.push(`the same run is given more than once (${sameRun.join(', ')})`);
  reports.forEach((r, k) => {
    if (r.partial) notes.push(`'${inputs[k]}' is itself partial (${r.partial.join('; ')})`);
  });
  const shards = reports.flatMap((r) => (r.shard ? [r.shard] : []));
  const whole = reports.length - shards.length;
  if (shards.length === 0) {
    if (whole > 1 && seeds.size === 1)
      notes.push(`${whole} whole (unsharded) runs of one seed: the same campaign repeated`);
    return notes;
  }
  if (whole > 0) notes.push(`${whole} whole (unsharded) run(s) mixed with shards`);
  const counts = new Set(shards.map((s) => s.count));
  if (counts.size > 1) notes.push(`shards of different campaign sizes: ${[...counts].join(', ')}`);
  const n = Math.max(...counts);
  const seen = shards.map((s) => s.index);
  const dup = seen.filter((i, k) => seen.indexOf(i) !== k);
  if (dup.length > 0) notes.push(`shard(s) ${[...new Set(dup)].join(', ')} appear more than once`);
  const missing = Array.from({ length: n }, (_, i) => i + 1).filter((i) => !seen.includes(i));
  if (missing.length > 0) notes.push(`shard(s) ${missing.join(', ')} of ${n} are missing`);
  return notes;
}
