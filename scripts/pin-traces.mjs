#!/usr/bin/env node
/**
 * Record test/fixtures/trace-pins.json: for every built-in variant, explored executions as replay tokens
 * with their trace hashes (see test/helpers/trace-pins.ts). Run after `npx tsc -b`, and only when a change
 * is meant to change what explore sees; the commit says why. Usage: node scripts/pin-traces.mjs [--only scen,...]
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { allPins } from '../dist/test/helpers/trace-pins.js';

const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const pins = allPins();
const file = path.join(root, 'test', 'fixtures', 'trace-pins.json');
writeFileSync(file, `${JSON.stringify(pins, null, 1)}\n`);
console.log(`${pins.length} pins -> ${path.relative(root, file)}`);
for (const p of pins)
  console.log(`  ${p.name.padEnd(58)} ${String(p.steps).padStart(6)} steps  ${p.traceHash}  ${p.violation ?? 'clean'}`);
