import { DOMParser, type Element } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { renderJunit, xmlAttr, xmlText } from '../src/report/junit.js';
import { fixtureReport, NASTY } from './report-fixture.js';

/**
 * Parse strictly: any error or fatal error from the parser fails the test, and so does any warning but
 * the one about U+FFFD, which is how renderJunit replaces what XML cannot carry.
 */
function parse(xml: string) {
  return new DOMParser({
    onError: (level, msg) => {
      if (level !== 'warning' || !/replacement character/.test(msg)) throw new Error(`${level}: ${msg}`);
    },
  }).parseFromString(xml, 'text/xml');
}

const all = (
  root: { getElementsByTagName(n: string): { length: number; item(i: number): Element | null } },
  tag: string,
): Element[] => {
  const list = root.getElementsByTagName(tag);
  return Array.from({ length: list.length }, (_, i) => list.item(i)!);
};

describe('junit.xml', () => {
  const report = fixtureReport();
  const xml = renderJunit(report);
  const doc = parse(xml);

  it('is well-formed, one testsuite per scenario and one testcase per variant', () => {
    const root = doc.documentElement!;
    expect(root.tagName).toBe('testsuites');
    expect(root.getAttribute('tests')).toBe('4');
    expect(root.getAttribute('failures')).toBe('2');
    const suites = all(doc, 'testsuite');
    expect(suites.map((s) => s.getAttribute('name'))).toEqual(['pgtable', 'flushq<&>']);
    expect(suites.map((s) => s.getAttribute('tests'))).toEqual(['2', '2']);
    expect(suites.map((s) => s.getAttribute('failures'))).toEqual(['0', '2']);
    const cases = all(doc, 'testcase');
    expect(cases).toHaveLength(4);
    expect(cases.map((c) => `${c.getAttribute('classname')}/${c.getAttribute('name')}`)).toEqual(
      report.results.map((v) => `${v.scenario}/${v.variant.replaceAll('\u0001', '\uFFFD')}`),
    );
    expect(cases.every((c) => c.getAttribute('time') === '1.500')).toBe(true);
  });

  it('has a failure element exactly for the failing variants, with the invariant, message and replay command', () => {
    const cases = all(doc, 'testcase');
    const failures = cases.map((c) => all(c, 'failure'));
    expect(failures.map((f) => f.length)).toEqual([0, 0, 1, 1]);
    const f = failures[2]![0]!;
    expect(f.getAttribute('type')).toBe('F1');
    const bad = report.results[2]!.violations[0]!;
    // The attribute round-trips exactly (newline and tab included); only the control character XML cannot carry is replaced.
    expect(f.getAttribute('message')).toBe(
      `F1: ${bad.message} — reproduce: ${bad.command}`.replaceAll('\u0001', '\uFFFD'),
    );
    expect(f.textContent).toContain('invariant: F1 (FORBIDDEN)');
    expect(f.textContent).toContain(`reproduce: ${bad.command.replaceAll('\u0001', '\uFFFD')}`);
    expect(f.textContent).toContain('vcpu: cpu1');
    const notCaught = failures[3]![0]!;
    expect(notCaught.getAttribute('type')).toBe('NOT-CAUGHT');
    expect(notCaught.getAttribute('message')).toContain('expected F1, observed clean');
    // A passing known-bug variant keeps its repro in system-out.
    expect(all(cases[1]!, 'system-out')[0]!.textContent).toContain('npx iommu-stress replay --token isr1.AAAA --trace');
  });

  it('escapes text and attributes so that no markup leaks', () => {
    expect(xml).not.toContain('<script>');
    expect(xml).not.toContain('<b>');
    expect(xmlAttr(NASTY)).not.toMatch(/[<>"'\n\t\u0001]/);
    expect(xmlText('a]]>b<c&d')).toBe('a]]&gt;b&lt;c&amp;d');
    expect(xmlText('\uD800x \uD83D\uDE00')).toBe('\uFFFDx \uD83D\uDE00'); // a lone surrogate goes, a pair stays
    expect(() => parse(`<a t="${xmlAttr(NASTY)}">${xmlText(NASTY)}</a>`)).not.toThrow();
    expect(() => parse('<a t="<">x</a>')).toThrow(); // the parser is strict enough to catch a bad escape
  });
});
