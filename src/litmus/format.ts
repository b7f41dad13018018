/**
 * herd7-style output of a litmus run: the test line, the reachable final states, the verdict (Ok/No),
 * the witnesses, the condition and the Observation line that the kernel's scripts compare with a test's
 * `Result:` line (tools/memory-model/scripts/judgelitmus.sh).
 *
 * Positive and Negative count our explored executions (interleavings × weak-memory choices), not
 * herd7's candidate executions, so the numbers differ from herd7's; Never/Sometimes/Always do not.
 */
import type { Cond, Litmus } from './parse.js';
import type { LitmusOutcome } from './run.js';

export function condText(c: Cond, top = true): string {
  switch (c.k) {
    case 'eq':
      return `${c.key}=${c.v}`;
    case 'true':
    case 'false':
      return c.k;
    case 'not':
      return `~${condText(c.a, false)}`;
    default: {
      const s = `${condText(c.a, false)} ${c.k === 'and' ? '/\\' : '\\/'} ${condText(c.b, false)}`;
      return top ? s : `(${s})`;
    }
  }
}

export function herdText(lit: Litmus, r: LitmusOutcome): string {
  const kind = lit.quantifier === 'exists' ? 'Allowed' : lit.quantifier === 'forall' ? 'Required' : 'Forbidden';
  const states = [...r.states.keys()].sort();
  return [
    `Test ${lit.name} ${kind}`,
    `States ${states.length}`,
    ...states,
    r.ok ? 'Ok' : 'No',
    'Witnesses',
    `Positive: ${r.positive} Negative: ${r.negative}`,
    `Condition ${lit.quantifier} (${condText(lit.cond)})`,
    `Observation ${lit.name} ${r.observation} ${r.positive} ${r.negative}`,
    `Time ${lit.name} ${(r.ms / 1000).toFixed(2)}`,
  ].join('\n');
}
