/**
 * What explore sees does not change under an engine change meant to be invisible: every pinned token
 * (test/fixtures/trace-pins.json, made by scripts/pin-traces.mjs from fixed seeds: every built-in variant
 * under the random scheduler, and each bug variant's PCT-found violation) replays to its recorded trace
 * hash — the same sites, the same decisions, the same outcome — whatever model hash it now carries.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCENARIOS } from '../src/scenarios/index.js';
import { replayPin, type TracePin } from './helpers/trace-pins.js';

const FILE = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'trace-pins.json');
const pins = JSON.parse(readFileSync(FILE, 'utf8')) as TracePin[];

describe('trace pins', () => {
  it('pin every built-in variant, and a found violation of every bug variant', () => {
    const names = new Set(pins.map((p) => p.name));
    for (const s of SCENARIOS) {
      for (const v of s.variants) {
        expect(names).toContain(`${s.name}/${v.name}#random-1`);
        expect(names).toContain(`${s.name}/${v.name}#random-3-x4`);
        if (v.expect !== 'clean') expect(names).toContain(`${s.name}/${v.name}#found-1`);
      }
    }
  });

  it.each(pins.map((p) => [p.name, p] as const))('%s replays to its pinned trace hash', (_name, pin) => {
    const got = replayPin(pin.token);
    expect(got).toEqual({ traceHash: pin.traceHash, steps: pin.steps, violation: pin.violation });
  });
});
