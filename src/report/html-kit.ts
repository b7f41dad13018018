/**
 * What every HTML report page shares: escaping, number formats, and the page shell — one inline
 * stylesheet (light and dark through prefers-color-scheme), no external resource of any kind, and a
 * few lines of optional script that only add "copy" buttons (the page reads the same without it).
 */
/** Fixed chart-furniture colours (charts.ts), so the dark-mode CSS below can recolour them by attribute. */
export const CHART_INK = { text: '#4a4c52', axis: '#6e7079', grid: '#e0e3e8' } as const;

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escape for HTML text and double- or single-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Compact, 3 significant digits: 3.45M, 284, 0.5, 12.3k. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  for (const [unit, div] of [
    ['G', 1e9],
    ['M', 1e6],
    ['k', 1e3],
  ] as const) {
    if (a >= div) return `${trim((v / div).toPrecision(3))}${unit}`;
  }
  if (Number.isInteger(v) || a === 0) return String(v);
  return trim(a >= 0.001 ? v.toPrecision(3) : v.toExponential(2));
}

const trim = (s: string): string => (s.includes('e') || !s.includes('.') ? s : s.replace(/\.?0+$/, ''));

/** Thousands separators, fixed locale so the page is the same everywhere. */
export const formatInt = (v: number): string => Math.round(v).toLocaleString('en-US');

export const formatMs = (ms: number): string =>
  ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;

/** jcstress-style frequency: enough digits to tell a one-in-a-million outcome from zero. */
export function formatFreq(samples: number, total: number): string {
  if (samples === 0 || total === 0) return '0%';
  const pct = (100 * samples) / total;
  if (pct >= 0.01) return `${pct.toFixed(2)}%`;
  return `${pct.toPrecision(2)}%`;
}

export interface Table {
  readonly columns: readonly { readonly label: string; readonly num?: boolean }[];
  /** Cells are already HTML (escape text with escapeHtml). */
  readonly rows: readonly { readonly cells: readonly string[]; readonly cls?: string; readonly id?: string }[];
  readonly cls?: string;
  readonly caption?: string;
}

export function renderTable(t: Table): string {
  const head = t.columns
    .map((c) => `<th${c.num ? ' class="num"' : ''} scope="col">${escapeHtml(c.label)}</th>`)
    .join('');
  const rows = t.rows.map((r) => {
    const cells = r.cells.map((c, i) => `<td${t.columns[i]?.num ? ' class="num"' : ''}>${c}</td>`).join('');
    return `<tr${r.cls ? ` class="${escapeHtml(r.cls)}"` : ''}${r.id ? ` id="${escapeHtml(r.id)}"` : ''}>${cells}</tr>`;
  });
  return (
    `<table${t.cls ? ` class="${escapeHtml(t.cls)}"` : ''}>${t.caption ? `<caption>${escapeHtml(t.caption)}</caption>` : ''}` +
    `<thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`
  );
}

/** A command line to paste: selectable in one click without script, plus a copy button with it. */
export function renderCommand(cmd: string): string {
  return `<div class="cmd"><code>${escapeHtml(cmd)}</code><button type="button" class="copy" hidden>copy</button></div>`;
}

/** An id usable in a URL fragment, from free text. */
export const slug = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

const CSS = `
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1d1f23; --muted: #5c6068; --line: #d9dce1; --panel: #f5f6f8;
  --pass: #1a7f37; --pass-bg: #dcf5e3; --fail: #b42318; --fail-bg: #fde4e1; --warn: #8a5a00; --warn-bg: #fdf1d2;
  --code: #f0f1f4; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15171b; --fg: #e4e6ea; --muted: #a0a5ae; --line: #343840; --panel: #1d2025;
    --pass: #5bd47c; --pass-bg: #173522; --fail: #ff8a7a; --fail-bg: #45201c; --warn: #f0c040; --warn-bg: #3d3213; --code: #22252b; }
  .chart svg text { fill: #c5c8cf; }
  .chart svg [stroke="${CHART_INK.axis}"] { stroke: #8d919a; }
  .chart svg [stroke="${CHART_INK.grid}"] { stroke: #30343b; }
  .chart svg [fill="#fff"] { fill: var(--bg); }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { margin-top: 2em; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { margin-top: 1.6em; } h4 { margin: 0 0 8px; }
.meta { color: var(--muted); margin: 0 0 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
thead th { background: var(--panel); }
td.num, th.num { text-align: right; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
code, pre { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
pre { background: var(--code); border: 1px solid var(--line); padding: 10px 12px; overflow-x: auto; margin: 6px 0 12px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 700; letter-spacing: .02em; vertical-align: 1px; }
.pass, .grade-ACCEPTABLE { color: var(--pass); background: var(--pass-bg); }
.fail, .grade-FORBIDDEN { color: var(--fail); background: var(--fail-bg); }
.grade-INTERESTING { color: var(--warn); background: var(--warn-bg); }
table.verdicts { font-size: 14px; } table.verdicts td, table.verdicts th { white-space: nowrap; padding: 4px 8px; }
.scroll { overflow-x: auto; max-width: 100%; }
table.verdicts tr.verdict-fail td:first-child { box-shadow: inset 4px 0 var(--fail); }
table.verdicts tr.verdict-pass td:first-child { box-shadow: inset 4px 0 var(--pass); }
.verdict-banner { display: inline-block; font-size: 1.1em; font-weight: 800; padding: 2px 12px; border-radius: 6px; }
.violation { border: 1px solid var(--line); border-left: 5px solid var(--fail); background: var(--panel); padding: 12px 16px; margin: 12px 0; border-radius: 4px; }
.violation.grade-INTERESTING { border-left-color: var(--warn); color: inherit; }
.violation.grade-FORBIDDEN { color: inherit; background: var(--panel); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0 0 8px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.cmd { display: flex; gap: 8px; align-items: flex-start; margin: 6px 0 4px; }
.cmd code { flex: 1; display: block; background: var(--code); border: 1px solid var(--line); padding: 6px 10px; user-select: all; overflow-wrap: anywhere; }
button.copy { font: inherit; font-size: 12px; padding: 4px 10px; border: 1px solid var(--line); background: var(--panel); color: var(--fg); border-radius: 4px; cursor: pointer; }
.note, .empty { color: var(--muted); font-size: 13px; margin: 4px 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; align-items: start; }
figure.chart { margin: 8px 0; padding: 10px 12px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); min-width: 0; }
figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
figure.chart svg { display: block; width: 100%; height: auto; max-width: 720px; }
figure.chart details { font-size: 13px; } figure.chart summary { color: var(--muted); cursor: pointer; }
table.data { font-size: 12px; }
nav.toc a { margin-right: 12px; }
a { color: #3b6fd4; } @media (prefers-color-scheme: dark) { a { color: #8ab4ff; } }
`;

// Progressive enhancement only: reveal the copy buttons and copy the command beside them.
const SCRIPT = `
for (const b of document.querySelectorAll('button.copy')) {
  b.hidden = false;
  b.addEventListener('click', async () => {
    const text = b.previousElementSibling.textContent;
    try { await navigator.clipboard.writeText(text); }
    catch { const r = document.createRange(); r.selectNodeContents(b.previousElementSibling); const s = getSelection(); s.removeAllRanges(); s.addRange(r); document.execCommand('copy'); }
    b.textContent = 'copied'; setTimeout(() => { b.textContent = 'copy'; }, 1500);
  });
}
`;

/** A whole self-contained document. `body` is HTML. */
export function renderPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
<script>${SCRIPT}</script>
</body>
</html>
`;
}
