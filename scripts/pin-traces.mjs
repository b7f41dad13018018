#!/usr/bin/env node
/**
 * Trace pins (test/helpers/trace-pins.ts): record every built-in variant's pinned executions again from
 * their fixed seeds on today's code and compare them with test/fixtures/trace-pins.json (same trace hash,
 * steps and outcome), or with --write replace the fixture. Write only when a change is meant to change
 * what explore sees, and say why in the commit. Usage (after npx tsc -b): node scripts/pin-traces.mjs [--write]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { allPins } from '../dist/test/helpers/trace-pins.js';

const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const file = path.join(root, 'test', 'fixtures', 'trace-pins.json');
const pins = allPins();
if (process.argv.includes('--write')) {
  writeFileSync(file, `${JSON.stringify(pins, null, 1)}\n`);
  console.log(`${pins.length} pins -> ${path.relative(root, file)}`);
} else {
  const old = new Map(JSON.parse(readFileSync(file, 'utf8')).map((p) => [p.name, p]));
  let same = 0;
  for (const p of pins) {
    const o = old.get(p.name);
    if (o && o.traceHash === p.traceHash && o.steps === p.steps && o.violation === p.violation) same++;
    else console.log(`differs: ${p.name} ${o ? `${o.traceHash} -> ${p.traceHash}` : '(new)'}`);
  }
  console.log(`${same} of ${pins.length} pins recorded again from their seeds with the pinned trace hash`);
  process.exitCode = same === pins.length && old.size === pins.length ? 0 : 1;
}
