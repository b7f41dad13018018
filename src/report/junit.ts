/**
 * `junit.xml` of a run, for CI test-result viewers: one <testsuite> per scenario, one <testcase> per
 * variant (classname = scenario, name = variant, time in seconds), and a <failure> carrying the invariant,
 * its message and the replay command when the variant missed its expectation.
 */
import type { RunReport, VariantReport } from './types.js';

const XML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\n': '&#10;',
  '\r': '&#13;',
  '\t': '&#9;',
};

/** Characters XML 1.0 cannot carry at all (C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/F). */
const INVALID_XML =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** For attribute values: newlines and tabs survive attribute-value normalisation as character references. */
export function xmlAttr(s: string): string {
  return s.replace(INVALID_XML, '\uFFFD').replace(/[&<>"'\n\r\t]/g, (c) => XML_ESCAPES[c]!);
}

/** For element text. */
export function xmlText(s: string): string {
  return s.replace(INVALID_XML, '\uFFFD').replace(/[&<>]/g, (c) => XML_ESCAPES[c]!);
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

export function renderJunit(r: RunReport): string {
  const scenarios = [...new Set(r.results.map((v) => v.scenario))];
  const failures = r.results.filter((v) => v.verdict === 'fail').length;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="iommu-stress" tests="${r.results.length}" failures="${failures}" errors="0" skipped="0" time="${seconds(r.durationMs)}">`,
  ];
  for (const s of scenarios) {
    const vs = r.results.filter((v) => v.scenario === s);
    const time = vs.reduce((a, v) => a + v.durationMs, 0);
    lines.push(
      `  <testsuite name="${xmlAttr(s)}" tests="${vs.length}" failures="${vs.filter((v) => v.verdict === 'fail').length}" errors="0" skipped="0"` +
        ` time="${seconds(time)}" timestamp="${xmlAttr(r.startedAt.replace(/Z$/, ''))}" hostname="localhost">`,
    );
    lines.push(
      '    <properties>',
      `      <property name="runId" value="${xmlAttr(r.runId)}"/>`,
      `      <property name="command" value="${xmlAttr(r.command)}"/>`,
      `      <property name="seed" value="${r.seed}"/>`,
      ...(r.shard ? [`      <property name="shard" value="${r.shard.index}/${r.shard.count}"/>`] : []),
      '    </properties>',
    );
    for (const v of vs) lines.push(...testcase(v));
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}

function testcase(v: VariantReport): string[] {
  const head = `    <testcase classname="${xmlAttr(v.scenario)}" name="${xmlAttr(v.variant)}" time="${seconds(v.durationMs)}"`;
  const out = [
    `expected ${v.expected}, observed ${v.observed}; ${v.ops} ops, ${v.steps} steps, seed ${v.seed}`,
    ...(v.stress
      ? [`stress: ${v.stress.ops} ops on ${v.stress.workers} workers, ${Math.round(v.stress.opsPerSec)} ops/s`]
      : []),
    ...(v.explore ? [`explore (${v.explore.strategy}): ${v.explore.schedules} schedules`] : []),
    ...v.violations.map((x) => `${x.invariant} (${x.grade}): ${x.message}\n  reproduce: ${x.command}`),
  ].join('\n');
  const systemOut = `      <system-out>${xmlText(out)}</system-out>`;
  if (v.verdict === 'pass') return [`${head}>`, systemOut, '    </testcase>'];
  const x = v.violations[0];
  // A failing variant either broke an invariant it must keep, or (a known-bug variant) was not caught.
  const message = x
    ? `${x.invariant}: ${x.message} — reproduce: ${x.command}`
    : `expected ${v.expected}, observed ${v.observed}: the known bug was not caught in this budget`;
  const body = x
    ? [
        `invariant: ${x.invariant} (${x.grade})`,
        `message: ${x.message}`,
        `vcpu: ${x.vcpu >= 0 ? `cpu${x.vcpu}` : 'quiescent scan'}`,
        `site: ${x.site}`,
        `expected: ${v.expected}`,
        `observed: ${v.observed}`,
        `reproduce: ${x.command}`,
        ...(x.stressSaw ? [`(stress saw: ${x.stressSaw.invariant} ${x.stressSaw.message})`] : []),
        ...(x.trace ? ['', x.trace] : []),
      ].join('\n')
    : `expected: ${v.expected}\nobserved: ${v.observed}\nseed: ${v.seed}`;
  return [
    `${head}>`,
    `      <failure message="${xmlAttr(message)}" type="${xmlAttr(x?.invariant ?? 'NOT-CAUGHT')}">${xmlText(body)}</failure>`,
    systemOut,
    '    </testcase>',
  ];
}
