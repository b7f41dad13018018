import { defineConfig } from 'vitest/config';
import LongestFirst from './test/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'], // tsc also emits dist/test/*.test.js; never collect those
    globalSetup: ['./test/global-setup.ts'],
    pool: 'forks',
    // The two forks each run their share of the files one after another in one module graph: a file no
    // longer pays its own load of src/ (through vite) and a cold JIT (~1 s each, ~60 s of the suite's CPU).
    // No test mocks a module or changes the process (env, cwd, timers); files that share a place on disk
    // take turns (test/helpers/reports-lock.ts); the CLI's main() resets its own per-run state.
    isolate: false,
    // Two test files at a time on this 2-core machine: every test is bounded by ops or schedules, not the clock.
    maxWorkers: 2,
    // Longest files first, so that no long file runs alone at the end (test/sequencer.ts).
    sequence: { sequencer: LongestFirst },
    reporters: ['default', './test/summary-reporter.ts'],
    // dist/ loads natively, never through vitest's module runner: test/helpers/in-process-dist.ts runs the
    // compiled CLI in-process, and a --scenario-file's own import() of dist/ must meet the very same modules.
    server: { deps: { external: [/\/dist\//] } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
