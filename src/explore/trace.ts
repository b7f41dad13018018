/**
 * The interleaving as one column per vCPU, Lincheck style: each row is one step, written in the column
 * of the vCPU (or timer) that took it; an op's start is shown as `> op` in its vCPU's column. This is
 * the picture a reviewer draws by hand on the mailing list.
 *
 * A step shows the values it read or wrote where the model notes them (Cpu.note): "read
 * dom0.nr_endpoints → 0". The two steps whose order made the violation are marked `*`, KCSAN style, and
 * named under the table ("racing pair: cpu0 write dom0.nr_endpoints @ step 21 / cpu2 read @ step 17").
 * In a long trace the steps of tasks outside the racing pair collapse into one row per run unless
 * `full` is asked for.
 */
import type { Violation } from '../check/invariant.js';
import type { NoteEvent, TraceEvent } from './execution.js';

const COL_MAX = 48;
/** A cell that says what a weak-memory choice did ("… not yet visible") may be this wide. */
const COL_MAX_WEAK = 100;
/** Traces longer than this many rows collapse the steps of tasks outside the racing pair (unless full). */
export const COLLAPSE_ROWS = 60;

export interface TraceView {
  /** Every row, however long (else the collapsing above applies). */
  readonly full?: boolean;
}

/** The two accesses whose order made the violation: `pivot` by the failing task, `other` by another one. */
export interface RacingPair {
  readonly other: NoteEvent;
  readonly pivot: NoteEvent;
}

export function noteText(n: NoteEvent): string {
  switch (n.access) {
    case 'read':
      return `read ${n.where} → ${n.value}${n.detail ? ` (${n.detail})` : ''}`;
    case 'write':
      return `write ${n.where} = ${n.value}${n.detail ? ` (${n.detail})` : ''}`;
    default:
      return `${n.access} ${n.where} ${n.old ?? '?'} → ${n.value}`;
  }
}

const conflicting = (a: NoteEvent, b: NoteEvent): boolean => a.access !== 'read' || b.access !== 'read';
const sameLocation = (a: NoteEvent, b: NoteEvent): boolean => a.index === b.index && a.where === b.where;

/**
 * The racing pair, derived from notes that name locations. The pivot is the failing task's last noted
 * access at or before the violation (a quiescent scan has no failing task: the last write stands in).
 * Its partner is another task's conflicting access (one of the two a write) to the same location:
 *  - a lost update (the pivot task read the location, another task wrote it, the pivot writes): that
 *    write and the pivot task's read;
 *  - else the first conflicting access after the pivot, up to the violation (a value read, then
 *    changed under the reader);
 *  - else the first one since the pivot task's previous access to the location (it decided on a value
 *    another task was about to change), else the last one before.
 * Undefined when the notes do not show one.
 */
export function racingPair(events: readonly TraceEvent[], violation: Violation | undefined): RacingPair | undefined {
  if (!violation) return undefined;
  const notes = events.filter((e): e is NoteEvent => e.kind === 'note' && e.step <= violation.step);
  for (let i = notes.length - 1; i >= 0; i--) {
    const pivot = notes[i]!;
    if (violation.vcpu >= 0 ? pivot.cpu !== violation.vcpu : pivot.access === 'read') continue;
    const other = (k: number) =>
      notes[k]!.cpu !== pivot.cpu && sameLocation(notes[k]!, pivot) && conflicting(notes[k]!, pivot);
    let prev = -1;
    for (let j = i - 1; j >= 0 && prev < 0; j--) {
      if (notes[j]!.cpu === pivot.cpu && sameLocation(notes[j]!, pivot)) prev = j;
    }
    if (prev >= 0 && pivot.access !== 'read' && notes[prev]!.access === 'read') {
      for (let k = prev + 1; k < i; k++) {
        if (other(k) && notes[k]!.access !== 'read') return { pivot: notes[prev]!, other: notes[k]! };
      }
    }
    for (let k = i + 1; k < notes.length; k++) if (other(k)) return { pivot, other: notes[k]! };
    for (let k = prev + 1; k < i; k++) if (other(k)) return { pivot, other: notes[k]! };
    for (let k = prev; k >= 0; k--) if (other(k)) return { pivot, other: notes[k]! };
  }
  return undefined;
}

export function racingPairText(p: RacingPair, taskNames: readonly string[]): string {
  return (
    `racing pair: ${taskNames[p.pivot.cpu]} ${p.pivot.access} ${p.pivot.where} @ step ${p.pivot.step}` +
    ` / ${taskNames[p.other.cpu]} ${p.other.access} @ step ${p.other.step}`
  );
}

/**
 * `maxRows` keeps the first and last rows of a long trace and says how many were left out in between
 * (reports embed traces; `replay --trace` prints them whole).
 */
export function formatTrace(
  events: readonly TraceEvent[],
  taskNames: readonly string[],
  violation?: Violation,
  maxRows = Infinity,
  view: TraceView = {},
): string {
  const pair = racingPair(events, violation);
  // Rows: op starts, and steps with the notes taken during them.
  interface Row {
    readonly cpu: number;
    readonly step: number | undefined;
    readonly text: string;
  }
  const all: Row[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.kind === 'note') continue;
    if (e.kind === 'op') {
      all.push({ cpu: e.cpu, step: undefined, text: `> ${e.text}` });
      continue;
    }
    const notes: NoteEvent[] = [];
    for (let j = i + 1; j < events.length && events[j]!.kind === 'note'; j++) notes.push(events[j] as NoteEvent);
    const marked = pair !== undefined && (pair.other.step === e.step || pair.pivot.step === e.step);
    all.push({ cpu: e.cpu, step: e.step, text: `${marked ? '* ' : '  '}${stepText(e.site, notes)}` });
  }
  let rows: (Row | { readonly collapsed: number; readonly tasks: string })[] = all;
  if (pair && !view.full && all.length > COLLAPSE_ROWS) {
    const keep = new Set([pair.other.cpu, pair.pivot.cpu]);
    rows = [];
    let run: Row[] = [];
    const flush = () => {
      if (run.length === 0) return;
      const tasks = [...new Set(run.map((r) => taskNames[r.cpu]!))].join(', ');
      rows.push({ collapsed: run.filter((r) => r.step !== undefined).length, tasks });
      run = [];
    };
    for (const r of all) {
      if (keep.has(r.cpu)) {
        flush();
        rows.push(r);
      } else run.push(r);
    }
    flush();
  }

  const widths = new Map<number, number>();
  for (const r of rows) {
    if ('cpu' in r) widths.set(r.cpu, Math.max(widths.get(r.cpu) ?? taskNames[r.cpu]!.length, clip(r.text).length));
  }
  const cols = [...taskNames.keys()].filter((c) => widths.has(c));
  let lastStep = 0;
  for (const e of events) if (e.kind === 'step') lastStep = e.step;
  const stepW = Math.max(4, String(lastStep).length);
  const line = (label: string, c: number, text: string): string =>
    `${label.padStart(stepW)} | ${cols.map((k) => (k === c ? text : '').padEnd(widths.get(k)!)).join(' | ')}`.trimEnd();
  const lines = [
    `${'step'.padStart(stepW)} | ${cols.map((k) => taskNames[k]!.padEnd(widths.get(k)!)).join(' | ')}`.trimEnd(),
    `${'-'.repeat(stepW)}-+-${cols.map((k) => '-'.repeat(widths.get(k)!)).join('-+-')}`,
  ];
  const head = rows.length > maxRows ? Math.floor(maxRows / 5) : rows.length;
  const tailFrom = rows.length > maxRows ? rows.length - (maxRows - head) : rows.length;
  rows.forEach((r, i) => {
    if (i === head && tailFrom > head)
      lines.push(`${''.padStart(stepW)} | ... ${tailFrom - head} rows left out; replay --trace prints them all ...`);
    if (i >= head && i < tailFrom) return;
    if ('collapsed' in r) {
      const text = `... ${r.collapsed} step(s) of ${r.tasks} (not in the racing pair; --full shows them) ...`;
      lines.push(`${''.padStart(stepW)} | ${text}`);
    } else lines.push(line(r.step !== undefined ? String(r.step) : '', r.cpu, clip(r.text)));
  });
  if (violation) {
    lines.push('');
    if (pair) lines.push(racingPairText(pair, taskNames));
    const who = violation.vcpu >= 0 ? (taskNames[violation.vcpu] ?? `cpu${violation.vcpu}`) : 'quiescent scan';
    lines.push(
      `violation ${violation.invariant} (${violation.grade}) by ${who} at '${violation.site}': ${violation.message}`,
    );
  }
  return lines.join('\n');
}

/** A step's cell: its site, with what it read or wrote ("read x" + a note on x becomes "read x → 0"). */
function stepText(site: string, all: readonly NoteEvent[]): string {
  if (all.length === 0) return site;
  // Under --memory weak an access may be noted twice: by the weak memory (with what its choice did)
  // and by the model; the first says more.
  const same = (a: NoteEvent, b: NoteEvent) => a.access === b.access && a.where === b.where && a.value === b.value;
  const notes = all.filter((n) => n.detail !== undefined || !all.some((m) => m.detail !== undefined && same(m, n)));
  const texts = notes.map(noteText);
  if (texts.length === 1 && texts[0]!.startsWith(site)) return texts[0]!;
  return `${site}: ${texts.join(', ')}`;
}

function clip(s: string): string {
  const max = s.includes(' visible') ? COL_MAX_WEAK : COL_MAX;
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
