/**
 * Test files in order of expected duration, longest first (longest-processing-time scheduling): with two
 * files at a time, the suite's wall time is at least its longest file, and a long file started last
 * runs alone on a core at the end. Vitest's own order uses the durations of the last local run
 * (node_modules/.vite/vitest), and a fresh clone (CI) has none: it then falls back to file size, which
 * started readme.test.ts (66 s) as the 14th file. So where vitest has no duration for a file, the figure
 * below stands in: seconds per file of a whole-suite run on the shared (loaded) 2-core machine, 2026-12-07,
 * after the scenario-file commands went in-process and isolation off. Only the order matters; a file
 * missing here runs after these, largest first.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import path from 'node:path';

const EXPECTED_S: Readonly<Record<string, number>> = {
  'readme.test.ts': 87,
  'exits.test.ts': 36,
  'pasid-cli.test.ts': 22,
  'report-html.test.ts': 19,
  'fq-example.test.ts': 16,
  'report-safety.test.ts': 16,
  'mapsg.test.ts': 14,
  'bench.test.ts': 13,
  'fuzz-cli.test.ts': 13,
  'flushq-user-variants.test.ts': 11,
  'flushq.test.ts': 9,
  'pasid.test.ts': 9,
  'iova-explore.test.ts': 9,
  'coverage.test.ts': 9,
  'cli.test.ts': 8,
  'iova-example.test.ts': 6,
  'user-scenario.test.ts': 6,
  'sim.test.ts': 5,
  'explore.test.ts': 5,
  'stress.test.ts': 5,
  'viommu-explore.test.ts': 4,
  'sim-suites.test.ts': 4,
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
