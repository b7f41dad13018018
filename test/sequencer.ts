/**
 * Test files in order of expected duration, longest first (longest-processing-time scheduling): with two
 * files at a time, the suite's wall time is at least its longest file, and a long file started last
 * runs alone on a core at the end. Vitest's own order uses the durations of the last local run
 * (node_modules/.vite/vitest), and a fresh clone (CI) has none: it then falls back to file size, which
 * started readme.test.ts (66 s) as the 14th file. So where vitest has no duration for a file, the figure
 * below stands in: seconds on an idle 2-core machine (the CI run of 2026-12-06, less the cuts made since
 * where a file was made faster: estimates). Only the order matters; a file missing here runs after
 * these, largest first.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import path from 'node:path';

const EXPECTED_S: Readonly<Record<string, number>> = {
  'readme.test.ts': 70,
  'pasid-cli.test.ts': 33,
  'exits.test.ts': 29,
  'mapsg-example.test.ts': 23,
  'fq-example.test.ts': 17,
  'bench-variants.test.ts': 17,
  'report-safety.test.ts': 16,
  'scenario-file.test.ts': 16,
  'cli.test.ts': 15,
  'report-html.test.ts': 15,
  'mapsg.test.ts': 11,
  'bench.test.ts': 10,
  'pasid.test.ts': 10,
  'coverage.test.ts': 10,
  'user-scenario.test.ts': 10,
  'fuzz-cli.test.ts': 10,
  'iova-example.test.ts': 9,
  'flushq-user-variants.test.ts': 9,
  'campaign.test.ts': 8,
  'iova-explore.test.ts': 8,
  'flushq.test.ts': 7,
};

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const cache = this.ctx.cache;
    const key = (f: TestSpecification) => `${f.project.name}:${path.relative(root, f.moduleId)}`;
    const expectedMs = (f: TestSpecification): number =>
      cache.getFileTestResults(key(f))?.duration ?? (EXPECTED_S[path.basename(f.moduleId)] ?? 0) * 1000;
    const size = (f: TestSpecification): number => cache.getFileStats(key(f))?.size ?? 0;
    return [...files].sort((a, b) => expectedMs(b) - expectedMs(a) || size(b) - size(a));
  }
}
