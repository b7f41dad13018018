/**
 * The benchmark loop of a scenario without a suite of its own (viommu, counter, pgtable, a user's
 * scenario): its stress op program on real worker threads, ops/s and steps/s per variant and worker
 * count, `repeats` times each (the median run, with the min–max). The variants are resolved ones, so a
 * user's patch (`--scenario-file F --variant mine`) runs next to the built-in variants.
 *
 * A variant that breaks a FORBIDDEN invariant stops its run: its row says which, and its rate is not a
 * throughput (DESIGN.md: a run that stops at its first violation lasts milliseconds).
 */
import { withDefaults, type ScenarioDef, type VariantDef } from '../engine/scenario.js';
import { stress } from '../stress/stress.js';
import { medianRows, type WithSpread } from './spread.js';

export interface VariantBenchOptions {
  readonly scenario: ScenarioDef;
  readonly variants: readonly VariantDef[];
  readonly workers: readonly number[];
  readonly timeMs: number;
  readonly seed: number;
  readonly repeats: number;
  /** The compiled module of a user's scenario file, for the workers. */
  readonly scenarioFile?: string;
  /** The file each variant comes from, as given (for the report), or undefined for a built-in one. */
  readonly fileOf: (v: VariantDef) => string | undefined;
}

export interface VariantRate {
  readonly scenario: string;
  readonly variant: string;
  readonly file: string | null;
  readonly workers: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly stepsPerSec: number;
  /** The invariant that stopped the run, or null. */
  readonly stoppedBy: string | null;
}

export type VariantRow = VariantRate & WithSpread;

export async function variantBench(o: VariantBenchOptions, progress: (s: string) => void): Promise<VariantRow[]> {
  const runs: VariantRate[][] = [];
  for (let rep = 0; rep < o.repeats; rep++) {
    const rows: VariantRate[] = [];
    for (const variant of o.variants) {
      for (const workers of o.workers) {
        progress(
          `variant bench: ${o.scenario.name}/${variant.name}, ${workers} worker(s),` + ` run ${rep + 1}/${o.repeats}`,
        );
        const r = await stress({
          scenario: o.scenario,
          variant,
          params: withDefaults(o.scenario),
          workers,
          timeMs: o.timeMs,
          opBudget: Infinity,
          seed: o.seed + rep,
          sliceMs: 100,
          watchdogMs: 30_000,
          scenarioFile: o.scenarioFile,
        });
        const sec = Math.max(1e-6, r.durationMs / 1000);
        rows.push({
          scenario: o.scenario.name,
          variant: variant.name,
          file: o.fileOf(variant) ?? null,
          workers,
          ops: r.ops,
          opsPerSec: r.ops / sec,
          stepsPerSec: r.steps / sec,
          stoppedBy: r.violation?.invariant ?? null,
        });
      }
    }
    runs.push(rows);
  }
  return medianRows(
    runs,
    (r) => r.opsPerSec,
    ['opsPerSec', 'stepsPerSec'],
    (r) => r.ops > 0,
  );
}

const M = (x: number): string =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0);

export function variantBenchText(rows: readonly VariantRow[]): string {
  const head = ['variant', 'workers', 'ops/s (median [min–max])', 'steps/s', 'note'];
  const body = rows.map((r) => [
    `${r.scenario}/${r.variant}${r.file ? ` (${r.file})` : ''}`,
    String(r.workers),
    `${M(r.opsPerSec)} [${M(r.spread.opsPerSec!.min)}–${M(r.spread.opsPerSec!.max)}]`,
    `${M(r.stepsPerSec)} [${M(r.spread.stepsPerSec!.min)}–${M(r.spread.stepsPerSec!.max)}]`,
    r.stoppedBy ? `stopped by ${r.stoppedBy}: not a throughput` : '',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 || i === 4 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  const title = `stress op program, median of the runs that completed an op (of ${rows[0]?.runs ?? 0} each):`;
  return [title, line(head), ...body.map(line)].join('\n');
}

export function variantBenchMarkdown(rows: readonly VariantRow[]): string {
  return [
    '## Variants: the stress op program',
    '',
    '| variant | from | workers | ops/s (median) | min–max | steps/s | note |',
    '|---|---|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.scenario}/${r.variant} | ${r.file ?? 'built in'} | ${r.workers} | ` +
        `${Math.round(r.opsPerSec)} | ${Math.round(r.spread.opsPerSec!.min)}–${Math.round(r.spread.opsPerSec!.max)} | ` +
        `${Math.round(r.stepsPerSec)} | ` +
        `${r.stoppedBy ? `stopped by ${r.stoppedBy}` : ''} |`,
    ),
    '',
  ].join('\n');
}
