/**
 * Parsing and validating command-line values. Every rejection is a BadInput (exit 2) whose message
 * names the flag and the bad value, and says what would have been accepted.
 */
import { findVariant, type ScenarioDef, type VariantDef } from '../engine/scenario.js';
import { allScenarios, scenarioNamed } from '../scenarios/registry.js';
import { BadInput } from '../errors.js';
import { MEMORY_MODES, type MemoryMode } from '../engine/memory-order.js';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

const WEEK_MS = 7 * 24 * 3_600_000;

/**
 * The range each duration flag accepts, and why its floor is there. Above a week a budget is a typo
 * (and Node's timers wrap past 2^31 ms, firing at once).
 */
const DURATION_BOUNDS: Readonly<Record<string, { min: number; max: number; why: string }>> = {
  '--time': { min: 100, max: WEEK_MS, why: 'a shorter budget measures nothing but start-up' },
  '--slice': { min: 1, max: 60_000, why: 'barrier scans run between slices' },
  '--watchdog': {
    min: 1_000,
    max: WEEK_MS,
    why: 'a worker is silent for a slice plus a barrier scan: a shorter watchdog reports false hangs',
  },
};
const DEFAULT_BOUNDS = { min: 1, max: WEEK_MS, why: '' };

/** '10s', '2m', '500ms', '1.5h' -> milliseconds. A bare number is seconds. Bounded per flag (DURATION_BOUNDS). */
export function parseDuration(flag: string, text: string): number {
  const m = /^\s*(\d{1,12}(?:\.\d{1,9})?)\s*(ms|s|m|h)?\s*$/.exec(text);
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 's']! : NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new BadInput(`${flag}: '${text}' is not a duration (use e.g. 500ms, 10s, 2m, 1h)`);
  }
  const b = DURATION_BOUNDS[flag] ?? DEFAULT_BOUNDS;
  if (ms < b.min || ms > b.max) {
    const why = ms < b.min && b.why ? ` (${b.why})` : '';
    throw new BadInput(`${flag}: '${text}' is outside ${showMs(b.min)} to ${showMs(b.max)}${why}`);
  }
  return ms;
}

function showMs(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** `--memory sc|weak` (absent: sc). */
export function parseMemory(text: string | undefined, mode?: string): MemoryMode {
  const m = text ?? 'sc';
  if (!(MEMORY_MODES as readonly string[]).includes(m))
    throw new BadInput(`--memory: '${text}' is not one of ${MEMORY_MODES.join(', ')}`);
  if (m === 'weak' && mode === 'stress') {
    throw new BadInput(
      '--memory weak belongs to the explore phase: stress mode runs on real threads, whose JavaScript Atomics are sequentially consistent',
    );
  }
  return m as MemoryMode;
}

export function parseInteger(flag: string, text: string, min: number, max: number): number {
  const t = text.trim();
  const v = /^-?\d+$/.test(t) ? Number(t) : /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t, 16) : NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new BadInput(`${flag}: '${text}' is not an integer from ${min} to ${max}`);
  }
  return v;
}

/** A seed: any 32-bit integer (decimal or 0x hex), stored as a signed 32-bit value. */
export function parseSeed(flag: string, text: string): number {
  return parseInteger(flag, text, -0x80000000, 0xffffffff) | 0;
}

export function randomSeed(): number {
  return (Math.random() * 0x7fffffff) | 0;
}

/** `--ops 8` (every vCPU) or `--ops 12,9` (one count per vCPU). */
export function parseOpsList(flag: string, text: string): number[] {
  const parts = text.split(',');
  if (parts.length === 1) return [parseInteger(flag, text, 0, 100_000_000)];
  return parts.map((p, i) => {
    try {
      return parseInteger(flag, p, 0, 100_000_000);
    } catch {
      throw new BadInput(`${flag}: '${text}': item ${i + 1} ('${p}') is not an integer from 0 to 100000000`);
    }
  });
}

export function lookupScenario(name: string): ScenarioDef {
  const s = scenarioNamed(name);
  if (!s)
    throw new BadInput(
      `unknown scenario '${name}' (known: ${allScenarios()
        .map((x) => x.name)
        .join(', ')})`,
    );
  return s;
}

export function lookupVariant(s: ScenarioDef, name: string): VariantDef {
  const v = findVariant(s, name);
  if (!v)
    throw new BadInput(
      `--variant: scenario ${s.name} has no variant '${name}' (it has: ${s.variants.map((x) => x.name).join(', ')})`,
    );
  return v;
}

/** `--param key=value` (repeatable), checked against the scenario's parameter specs. */
export function parseParams(s: ScenarioDef, given: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kv of given) {
    const m = /^([A-Za-z][\w-]*)=(.+)$/.exec(kv);
    if (!m) throw new BadInput(`--param: '${kv}' is not key=value`);
    const spec = Object.hasOwn(s.params, m[1]!) ? s.params[m[1]!] : undefined;
    if (!spec) {
      const known = Object.keys(s.params);
      throw new BadInput(
        `--param: scenario ${s.name} has no parameter '${m[1]}' (it has: ${known.join(', ') || 'none'})`,
      );
    }
    out[m[1]!] = parseInteger(`--param ${m[1]}`, m[2]!, spec.min, spec.max);
  }
  return out;
}

/**
 * Build the model once up front, so that parameters that fit their ranges but not each other (a
 * geometry too small for the vCPUs) are bad input before anything runs, not a harness failure later.
 */
export function checkBuild(
  s: ScenarioDef,
  cpus: number,
  variant: VariantDef,
  params: Readonly<Record<string, number>>,
): void {
  try {
    s.build({ cpus, variant, params });
  } catch (e) {
    if (e instanceof BadInput) throw e;
    throw new BadInput(
      `scenario ${s.name} cannot be built for ${cpus} vCPU(s) with ${Object.entries(params)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}: ${(e as Error).message}`,
    );
  }
}

/** Validate parameters that came from a file (repro) rather than flags. */
export function checkParams(s: ScenarioDef, given: Readonly<Record<string, number>>, where: string): void {
  for (const [k, v] of Object.entries(given)) {
    const spec = Object.hasOwn(s.params, k) ? s.params[k] : undefined;
    if (!spec) throw new BadInput(`${where}: scenario ${s.name} has no parameter '${k.slice(0, 64)}'`);
    if (!Number.isInteger(v) || v < spec.min || v > spec.max) {
      throw new BadInput(`${where}: parameter ${k}=${v} is outside ${spec.min}..${spec.max}`);
    }
  }
}

/** `--shard i/n` (1-based on the command line) -> 0-based index and count. */
export function parseShard(flag: string, text: string): { index: number; count: number } {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const i = m ? Number(m[1]) : NaN;
  const n = m ? Number(m[2]) : NaN;
  if (!m || n < 1 || n > 1_000_000 || i < 1 || i > n)
    throw new BadInput(`${flag}: '${text}' is not i/n with 1 <= i <= n (e.g. 3/8)`);
  return { index: i - 1, count: n };
}

/** A --report-dir: writable, and absent, empty or a previous report (report/output-path.ts). */
export { checkReportDir as checkOutputDir } from '../report/output-path.js';
