/**
 * The interleaving as one column per vCPU, Lincheck style: each row is one step, written in the column
 * of the vCPU (or timer) that took it; an op's start is shown as `> op` in its vCPU's column. This is
 * the picture a reviewer draws by hand on the mailing list.
 */
import type { Violation } from '../check/invariant.js';
import type { TraceEvent } from './execution.js';

const COL_MAX = 38;

/**
 * `maxRows` keeps the first and last rows of a long trace and says how many were left out in between
 * (reports embed traces; `replay --trace` prints them whole).
 */
export function formatTrace(events: readonly TraceEvent[], taskNames: readonly string[], violation?: Violation, maxRows = Infinity): string {
  const cell = (e: TraceEvent): string => clip(e.kind === 'op' ? `> ${e.text}` : `  ${e.site}`);
  const widths = new Map<number, number>();
  for (const e of events) widths.set(e.cpu, Math.max(widths.get(e.cpu) ?? taskNames[e.cpu]!.length, cell(e).length));
  const cols = [...taskNames.keys()].filter((c) => widths.has(c));
  let lastStep = 0;
  for (const e of events) if (e.kind === 'step') lastStep = e.step;
  const stepW = Math.max(4, String(lastStep).length);
  const row = (label: string, c: number, text: string): string =>
    `${label.padStart(stepW)} | ${cols.map((k) => (k === c ? text : '').padEnd(widths.get(k)!)).join(' | ')}`.trimEnd();
  const lines = [
    `${'step'.padStart(stepW)} | ${cols.map((k) => taskNames[k]!.padEnd(widths.get(k)!)).join(' | ')}`.trimEnd(),
    `${'-'.repeat(stepW)}-+-${cols.map((k) => '-'.repeat(widths.get(k)!)).join('-+-')}`,
  ];
  const head = events.length > maxRows ? Math.floor(maxRows / 5) : events.length;
  const tailFrom = events.length > maxRows ? events.length - (maxRows - head) : events.length;
  events.forEach((e, i) => {
    if (i === head && tailFrom > head) lines.push(`${''.padStart(stepW)} | ... ${tailFrom - head} rows left out; replay --trace prints them all ...`);
    if (i >= head && i < tailFrom) return;
    lines.push(row(e.kind === 'step' ? String(e.step) : '', e.cpu, cell(e)));
  });
  if (violation) {
    const who = violation.vcpu >= 0 ? (taskNames[violation.vcpu] ?? `cpu${violation.vcpu}`) : 'quiescent scan';
    lines.push('', `violation ${violation.invariant} (${violation.grade}) by ${who} at '${violation.site}': ${violation.message}`);
  }
  return lines.join('\n');
}

function clip(s: string): string {
  return s.length > COL_MAX ? `${s.slice(0, COL_MAX - 1)}…` : s;
}
