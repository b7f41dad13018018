/** The Markdown summary of a run: a verdict table, then each violation with its repro command. */
import type { RunReport } from './report.js';

export function summaryMarkdown(r: RunReport): string {
  const lines = [
    `# iommu-stress run ${r.runId}`,
    '',
    `\`${r.command}\` — verdict **${r.verdict.toUpperCase()}** (exit ${r.exitCode}), ${(r.durationMs / 1000).toFixed(1)} s, started ${r.startedAt}`,
    '',
    '| scenario | variant | expected | observed | verdict | ops | steps | stress ops/s | schedules | seed |',
    '|---|---|---|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const v of r.results) {
    lines.push(`| ${v.scenario} | ${v.variant} | ${v.expected} | ${v.observed} | ${v.verdict === 'pass' ? 'PASS' : '**FAIL**'} | ${v.ops} | ${v.steps} | `
      + `${v.stress ? Math.round(v.stress.opsPerSec) : '-'} | ${v.explore ? v.explore.schedules : '-'} | ${v.seed} |`);
  }
  for (const v of r.results) {
    if (v.violations.length === 0 && Object.keys(v.outcomes).length === 0) continue;
    lines.push('', `## ${v.scenario} / ${v.variant}`);
    for (const x of v.violations) {
      const who = x.vcpu >= 0 ? `cpu${x.vcpu}` : 'quiescent scan';
      lines.push('', `- **${x.invariant}** (${x.grade}, ${x.executor}) by ${who} at \`${x.site}\`: ${x.message}`, `  - reproduce: \`${x.command}\`${x.replayInvariant ? ` (the replay ends in ${x.replayInvariant})` : ''}`);
    }
    const outcomes = Object.entries(v.outcomes);
    if (outcomes.length > 0) {
      lines.push('', '| outcome | samples |', '|---|---:|', ...outcomes.map(([k, n]) => `| ${k} | ${n} |`));
    }
  }
  return `${lines.join('\n')}\n`;
}
