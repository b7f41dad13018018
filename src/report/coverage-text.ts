/**
 * How reports word site coverage (engine/coverage.ts): the verdict with its coverage note, and per
 * variant the sites reached, never reached, and exempt (with the model's reason).
 */
import type { SiteCoverage } from '../engine/coverage.js';
import type { VariantReport } from './types.js';

/** `PASS`, `FAIL`, or either with `(incomplete coverage: N sites never reached)`. */
export function verdictText(v: VariantReport): string {
  const base = v.verdict === 'pass' ? 'PASS' : 'FAIL';
  const n = v.incompleteCoverage ?? 0;
  return n > 0 ? `${base} (incomplete coverage: ${n} ${n === 1 ? 'site' : 'sites'} never reached)` : base;
}

export type SiteStatus = 'reached' | 'never reached' | 'exempt';

export function siteStatus(s: SiteCoverage): SiteStatus {
  return s.stress + s.explore > 0 ? 'reached' : s.exempt !== undefined ? 'exempt' : 'never reached';
}

/** Markdown lines of one variant's coverage. */
export function coverageMarkdown(v: VariantReport): string[] {
  const c = v.coverage;
  if (!c) return [];
  const lines = [
    '',
    `### ${v.scenario} / ${v.variant}`,
    '',
    c.declared
      ? `${c.reached} of ${c.sites.length} declared sites reached` +
        (v.regimes && v.regimes.length > 0 ? ` (with regimes ${v.regimes.map((r) => `@${r.name}`).join(', ')})` : '') +
        '.'
      : 'The scenario declares no sites: nothing is judged.',
  ];
  const of = (st: SiteStatus) => c.sites.filter((s) => siteStatus(s) === st);
  const never = of('never reached');
  if (never.length > 0)
    lines.push(`- **never reached** (${never.length}): ${never.map((s) => `\`${s.site}\``).join(', ')}`);
  const reached = of('reached');
  if (reached.length > 0) {
    lines.push(
      `- reached (${reached.length}; steps stress/explore): ` +
        reached.map((s) => `\`${s.site}\` ${s.stress}/${s.explore}`).join(', '),
    );
  }
  // Exempt sites by reason: one line per reason the model gave.
  const byReason = new Map<string, string[]>();
  for (const s of of('exempt')) byReason.set(s.exempt!, [...(byReason.get(s.exempt!) ?? []), s.site]);
  for (const [why, sites] of byReason)
    lines.push(`- not reached, exempt: ${sites.map((x) => `\`${x}\``).join(', ')} — ${why}`);
  const undeclared = Object.keys(c.undeclared);
  if (undeclared.length > 0) {
    lines.push(`- **undeclared** (a model error): ${undeclared.map((s) => `\`${s}\``).join(', ')}`);
  }
  return lines;
}
