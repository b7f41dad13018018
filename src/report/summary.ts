/** The Markdown summary of a run: a verdict table, then each violation with its repro command. */
import { coverageMarkdown, verdictText } from './coverage-text.js';
import type { RunReport } from './types.js';

export function summaryMarkdown(r: RunReport): string {
  const lines = [
    `# iommu-stress run ${r.runId}`,
    '',
    `\`${r.command}\` — verdict **${r.verdict.toUpperCase()}** (exit ${r.exitCode}), ${(r.durationMs / 1000).toFixed(1)} s, started ${r.startedAt}`,
    '',
    ...(r.partial ? [`**Partial report**: ${r.partial.join('; ')}.`, ''] : []),
    '| scenario | variant | expected | observed | verdict | ops | steps | stress ops/s | schedules | seed |',
    '|---|---|---|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const v of r.results) {
    lines.push(
      `| ${v.scenario} | ${v.variant} | ${v.expected} | ${v.observed} | ${v.verdict === 'pass' ? verdictText(v) : `**${verdictText(v)}**`}${v.finding ? ' (finding)' : ''} | ${v.ops} | ${v.steps} | ` +
        `${v.stress ? Math.round(v.stress.opsPerSec) : '-'} | ${v.explore ? v.explore.schedules : '-'} | ${v.seed} |`,
    );
  }
  for (const v of r.results) {
    if (v.violations.length === 0 && v.histogram.length <= 1) continue;
    lines.push('', `## ${v.scenario} / ${v.variant}`);
    for (const x of v.violations) {
      const who = x.vcpu >= 0 ? `cpu${x.vcpu}` : 'quiescent scan';
      lines.push(
        '',
        `- **${x.invariant}** (${x.grade}, ${x.executor}) by ${who} at \`${x.site}\`: ${x.message}`,
        `  - reproduce: \`${x.command}\`${x.stressSaw ? ` (replay shows ${x.invariant}; stress saw: ${x.stressSaw.invariant} ${x.stressSaw.message})` : ''}`,
      );
    }
    for (const x of v.violations) if (x.trace) lines.push('', '```', x.trace, '```');
    const total = v.histogram.reduce((a, r) => a + r.samples, 0);
    if (v.histogram.length > 1) {
      lines.push(
        '',
        '| RESULT | SAMPLES | FREQ | EXPECT |',
        '|---|---:|---:|---|',
        ...v.histogram.map(
          (r) =>
            `| ${r.result} | ${r.samples} | ${((100 * r.samples) / Math.max(1, total)).toFixed(3)}% | ${r.expect} |`,
        ),
      );
    }
  }
  const covered = r.results.filter((v) => v.coverage);
  if (covered.length > 0) {
    lines.push(
      '',
      '## Coverage',
      '',
      'Scheduling points (sites) each variant reached, over both executors and its regimes.',
    );
    for (const v of covered) lines.push(...coverageMarkdown(v));
  }
  return `${lines.join('\n')}\n`;
}
