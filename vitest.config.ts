import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'], // tsc also emits dist/test/*.test.js; never collect those
    globalSetup: ['./test/global-setup.ts'],
    pool: 'forks',
    // Two test files at a time on this 2-core machine: every test is bounded by ops or schedules, not the clock.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
