/**
 * A hand-built RunReport for the report-rendering tests: two scenarios, a clean variant, a known-bug
 * variant that was caught (pass), a correct variant that broke an invariant (fail) and a known-bug
 * variant that was not caught (fail) — with text that needs escaping everywhere it can appear.
 */
import type { RunReport, VariantReport } from '../src/report/report.js';

/** Every character XML and HTML must escape, a newline, a tab and a C0 control XML 1.0 cannot carry. */
export const NASTY = `<b>&"quoted" 'single'</b>\n\tline2 \u0001 ]]> <script>alert(1)</script>`;

const base = {
  ops: 1000,
  steps: 8000,
  durationMs: 1500,
  seed: 7,
  params: { arenas: 2 },
  outcomes: {},
  stress: { workers: 2, ops: 900, steps: 7000, slices: 10, durationMs: 1000, opsPerSec: 900 },
  explore: { schedules: 40, steps: 1000, strategy: 'pct', durationMs: 500 },
} as const;

export function fixtureReport(): RunReport {
  const results: VariantReport[] = [
    {
      ...base,
      scenario: 'pgtable',
      variant: 'correct',
      expected: 'clean',
      observed: 'clean',
      verdict: 'pass',
      violations: [],
      histogram: [{ result: 'ok', samples: 1000, expect: 'ACCEPTABLE' }],
    },
    {
      ...base,
      scenario: 'pgtable',
      variant: 'racy-install',
      expected: 'PT-LEAK|PT-TRANSLATE',
      observed: 'PT-LEAK',
      verdict: 'pass',
      stress: { ...base.stress, opsPerSec: 3_400_000 },
      violations: [
        {
          invariant: 'PT-LEAK',
          grade: 'FORBIDDEN',
          message: '2 table page(s) neither free nor reachable',
          vcpu: -1,
          step: 10,
          site: 'quiescent',
          executor: 'explore',
          token: 'isr1.AAAA',
          command: 'npx iommu-stress replay --token isr1.AAAA --trace',
          trace:
            'step | cpu0          | cpu1\n-----+---------------+------\n   0 |   L0 pte read |\n   1 |               |   alloc_page',
        },
      ],
      outcomes: { ENOMEM: 3 },
      histogram: [
        { result: 'ok', samples: 996, expect: 'ACCEPTABLE' },
        { result: 'ENOMEM', samples: 3, expect: 'INTERESTING' },
        { result: 'PT-LEAK', samples: 1, expect: 'FORBIDDEN' },
      ],
    },
    {
      ...base,
      scenario: 'flushq<&>',
      variant: `broken${NASTY}`,
      expected: 'clean',
      observed: 'F1',
      verdict: 'fail',
      violations: [
        {
          invariant: 'F1',
          grade: 'FORBIDDEN',
          message: `freed IOVA reused before flush ${NASTY}`,
          vcpu: 1,
          step: 42,
          site: 'queue_iova store',
          executor: 'stress',
          command: `npx iommu-stress explore flushq --variant broken --ops '1,2' # ${NASTY}`,
        },
      ],
      histogram: [
        { result: 'ok', samples: 999, expect: 'ACCEPTABLE' },
        { result: 'F1', samples: 1, expect: 'FORBIDDEN' },
      ],
    },
    {
      ...base,
      scenario: 'flushq<&>',
      variant: 'racy-flush',
      expected: 'F1',
      observed: 'clean',
      verdict: 'fail',
      violations: [],
      histogram: [{ result: 'ok', samples: 1000, expect: 'ACCEPTABLE' }],
      explore: null,
    },
  ];
  return {
    tool: 'iommu-stress',
    version: '0.1.0',
    runId: '20260101-000000Z-abcd',
    command: `iommu-stress run --all-variants ${NASTY}`,
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 6000,
    seed: 7,
    shard: { index: 2, count: 4 },
    verdict: 'fail',
    exitCode: 1,
    results,
  };
}
