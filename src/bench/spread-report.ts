/**
 * The spread of a benchmark's means over its repeats, as text, Markdown and an HTML table: every
 * measurement of the report (compare.ts reads them) with its median and min–max.
 */
import { escapeHtml, type Table } from '../report/html-kit.js';
import { fmt, type Measurement } from './compare.js';

const cells = (m: Measurement): string[] => [
  m.suite,
  m.variant,
  m.config,
  m.metric,
  fmt(m.value),
  m.range ? `${fmt(m.range.min)}–${fmt(m.range.max)}` : '-',
];
const HEAD = ['suite', 'variant', 'combination', 'metric', 'median', 'min–max'];

export function spreadText(ms: readonly Measurement[], repeats: number): string {
  const body = ms.map(cells);
  const w = HEAD.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: readonly string[]) =>
    c
      .map((x, i) => (i >= 4 ? x.padStart(w[i]!) : x.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [
    `spread over ${repeats} run(s) (the median run's figures above; min–max of each mean;` +
      ' a run that completed no op is left out):',
    line(HEAD),
    ...body.map(line),
  ].join('\n');
}

export function spreadMarkdown(ms: readonly Measurement[], repeats: number): string {
  return [
    `## Spread over ${repeats} run(s)`,
    '',
    `| ${HEAD.join(' | ')} |`,
    '|---|---|---|---|---:|---:|',
    ...ms.map((m) => `| ${cells(m).join(' | ')} |`),
    '',
  ].join('\n');
}

export function spreadTable(ms: readonly Measurement[], repeats: number): Table {
  return {
    caption: `median and min–max over ${repeats} run(s)`,
    columns: HEAD.map((label, i) => ({ label, num: i >= 4 })),
    rows: ms.map((m) => ({ cells: cells(m).map(escapeHtml) })),
  };
}
