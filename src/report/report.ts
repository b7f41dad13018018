/**
 * Run reports: reports/<run-id>/{report.json,summary.md,index.html,junit.xml}, mirrored to reports/latest/
 * (a symlink to the newest) — or exactly the directory given with --report-dir. A report directory is built
 * under a temporary name and renamed into place (publish.ts), so a crash or a kill never leaves a
 * half-written report, nor the files of two runs in one directory.
 */
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../paths.js';
import { renderRunHtml } from './html.js';
import { renderJunit } from './junit.js';
import { publishDir, switchLink } from './publish.js';
import { summaryMarkdown } from './summary.js';
import type { RunReport } from './types.js';

// The report's types live in types.ts (renderers import them from there, not from this writer).
export type { HistogramRow, ReportedViolation, RunReport, VariantReport } from './types.js';

export function newRunId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace('T', '-');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

export const defaultReportsRoot = (): string => path.join(projectRoot, 'reports');

/** Write the report; returns the directories written. */
export function writeReport(report: RunReport, reportDir?: string): string[] {
  return writeReportFiles(reportFiles(report), report.runId, reportDir);
}

/**
 * Write a report's files into reportDir, or into reports/<runId>/ with reports/latest pointing at it.
 * Each directory appears whole or not at all (publish.ts). Returns the directories written.
 */
export function writeReportFiles(files: Record<string, string>, runId: string, reportDir?: string): string[] {
  if (reportDir) {
    publishDir(reportDir, files);
    return [reportDir];
  }
  const root = defaultReportsRoot();
  const runDir = path.join(root, runId);
  publishDir(runDir, files);
  const latest = path.join(root, 'latest');
  switchLink(latest, runDir);
  return [runDir, latest];
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
