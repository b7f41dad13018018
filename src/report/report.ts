/**
 * Run reports: reports/<run-id>/{report.json,summary.md,index.html,junit.xml}, mirrored to reports/latest/
 * — or exactly the directory given with --report-dir. Every file is written to a temporary name and renamed
 * into place, and a run directory appears whole or not at all, so a crash never leaves a half-written report.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../paths.js';
import { renderRunHtml } from './html.js';
import { renderJunit } from './junit.js';
import { summaryMarkdown } from './summary.js';
import type { RunReport } from './types.js';

// The report's types live in types.ts (renderers import them from there, not from this writer).
export type { HistogramRow, ReportedViolation, RunReport, VariantReport } from './types.js';

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
