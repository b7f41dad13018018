/**
 * The interleaving as one column per vCPU, Lincheck style: each row is one step, written in the column
 * of the vCPU (or timer) that took it; an op's start is shown as `> op` in its vCPU's column. This is
 * the picture a reviewer draws by hand on the mailing list.
 */
import type { Violation } from '../check/invariant.js';
import type { TraceEvent } from './execution.js';

const COL_MAX = 38;

export function formatTrace(events: readonly TraceEvent[], taskNames: readonly string[], violation?: Violation): string {
  const used = new Set<number>();
  for (const e of events) used.add(e.cpu);
  const cols = [...taskNames.keys()].filter((c) => used.has(c));
  const cell = (e: TraceEvent): string => clip(e.kind === 'op' ? `> ${e.text}` : `  ${e.site}`);
  const widths = cols.map((c) => Math.max(taskNames[c]!.length, ...events.filter((e) => e.cpu === c).map((e) => cell(e).length)));
  const stepW = Math.max(4, String(events.length ? events[events.length - 1]!.step : 0).length);
  const row = (label: string, cells: string[]): string =>
    `${label.padStart(stepW)} | ${cells.map((s, i) => s.padEnd(widths[i]!)).join(' | ')}`.trimEnd();
  const lines = [row('step', cols.map((c) => taskNames[c]!)), `${'-'.repeat(stepW)}-+-${widths.map((w) => '-'.repeat(w)).join('-+-')}`];
  for (const e of events) {
    lines.push(row(e.kind === 'step' ? String(e.step) : '', cols.map((c) => (c === e.cpu ? cell(e) : ''))));
  }
  if (violation) {
    const who = violation.vcpu >= 0 ? (taskNames[violation.vcpu] ?? `cpu${violation.vcpu}`) : 'quiescent scan';
    lines.push('', `violation ${violation.invariant} (${violation.grade}) by ${who} at '${violation.site}': ${violation.message}`);
  }
  return lines.join('\n');
}

function clip(s: string): string {
  return s.length > COL_MAX ? `${s.slice(0, COL_MAX - 1)}…` : s;
}
