/**
 * Run reports: reports/<run-id>/{report.json,summary.md,index.html,junit.xml}, mirrored to reports/latest/
 * — or exactly the directory given with --report-dir. Every file is written to a temporary name and renamed
 * into place, and a run directory appears whole or not at all, so a crash never leaves a half-written report.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Grade, Violation } from '../check/invariant.js';
import { projectRoot } from '../paths.js';
import { renderRunHtml } from './html.js';
import { renderJunit } from './junit.js';
import { summaryMarkdown } from './summary.js';

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
  readonly stress: { readonly workers: number; readonly ops: number; readonly steps: number; readonly slices: number; readonly durationMs: number; readonly opsPerSec: number } | null;
  readonly explore: { readonly schedules: number; readonly steps: number; readonly strategy: string; readonly durationMs: number } | null;
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
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

export const defaultReportsRoot = (): string => path.join(projectRoot, 'reports');

/** Write the report; returns the directories written. */
export function writeReport(report: RunReport, reportDir?: string): string[] {
  return writeReportFiles(reportFiles(report), report.runId, reportDir);
}

/**
 * Write a report's files into reportDir, or into reports/<runId>/ and reports/latest/. Returns the
 * directories written.
 */
export function writeReportFiles(files: Record<string, string>, runId: string, reportDir?: string): string[] {
  if (reportDir) {
    mkdirSync(reportDir, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeAtomically(path.join(reportDir, name), text);
    return [reportDir];
  }
  const root = defaultReportsRoot();
  const runDir = path.join(root, runId);
  publishDir(root, runDir, files);
  publishDir(root, path.join(root, 'latest'), files);
  return [runDir, path.join(root, 'latest')];
}

function reportFiles(report: RunReport): Record<string, string> {
  return {
    'report.json': `${JSON.stringify(report, null, 2)}\n`,
    'summary.md': summaryMarkdown(report),
    'index.html': renderRunHtml(report),
    'junit.xml': renderJunit(report),
  };
}

export function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Build a directory under a temporary name, then swap it in. */
function publishDir(root: string, dir: string, files: Record<string, string>): void {
  mkdirSync(root, { recursive: true });
  const tmp = path.join(root, `.tmp-${path.basename(dir)}-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(tmp);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(tmp, name), text);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}
