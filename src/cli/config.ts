/**
 * `--config file.json`: the same settings as the flags, in a file, validated with a schema (zod). Every
 * bad field is reported with its path and what was expected, and nothing runs or is written. Flags given
 * on the command line win over the file.
 */
import { z } from 'zod';
import { BadInput } from '../errors.js';
import { preview } from '../preview.js';
import { readBoundedFile } from './io.js';

/** A config file is a few lines of settings; anything bigger is not one (and /dev/zero never ends). */
const CONFIG_MAX_BYTES = 1 << 20;
import { STRATEGIES } from '../explore/strategies.js';
import { MEMORY_MODES } from '../engine/memory-order.js';

const duration = z
  .string()
  .regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$/, 'expected a duration such as "500ms", "10s", "2m"');
const seed = z.number().int().min(-0x80000000).max(0xffffffff);
const shard = z.string().regex(/^\d+\/\d+$/, 'expected "i/n", e.g. "2/8"');
const params = z.record(z.string(), z.number().int());

const runSchema = z
  .object({
    scenarios: z.array(z.string()).optional(),
    variant: z.string().optional(),
    allVariants: z.boolean().optional(),
    workers: z.number().int().min(1).max(64).optional(),
    time: duration.optional(),
    ops: z.number().int().positive().optional(),
    schedules: z.number().int().positive().optional(),
    seed: seed.optional(),
    mode: z.enum(['mixed', 'stress', 'explore']).optional(),
    slice: duration.optional(),
    watchdog: duration.optional(),
    params: params.optional(),
    reportDir: z.string().optional(),
    shard: shard.optional(),
    memory: z.enum(MEMORY_MODES).optional(),
  })
  .strict();

const exploreSchema = z
  .object({
    scenario: z.string().optional(),
    variant: z.string().optional(),
    strategy: z.enum(STRATEGIES).optional(),
    depth: z.number().int().min(1).max(64).optional(),
    schedules: z.number().int().positive().optional(),
    time: duration.optional(),
    seed: seed.optional(),
    cpus: z.number().int().min(1).max(255).optional(),
    ops: z.union([z.number().int().min(0), z.array(z.number().int().min(0))]).optional(),
    opSeed: seed.optional(),
    maxSteps: z.number().int().positive().optional(),
    shrink: z.boolean().optional(),
    params: params.optional(),
    reproFile: z.string().optional(),
    shard: shard.optional(),
    stopOn: z.array(z.string()).optional(),
    memory: z.enum(MEMORY_MODES).optional(),
  })
  .strict();

export type RunConfig = z.infer<typeof runSchema>;
export type ExploreConfig = z.infer<typeof exploreSchema>;

const SCHEMAS = { run: runSchema, explore: exploreSchema } as const;

export function loadConfig(file: string, command: 'run'): RunConfig;
export function loadConfig(file: string, command: 'explore'): ExploreConfig;
export function loadConfig(file: string, command: keyof typeof SCHEMAS): RunConfig | ExploreConfig {
  const text = readBoundedFile(file, CONFIG_MAX_BYTES, 'the config file', '--config');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    // A RangeError here is nesting too deep for the parser: bad input like any other unreadable JSON.
    throw new BadInput(`--config ${file}: not JSON (${(e as Error).message})`);
  }
  const r = SCHEMAS[command].safeParse(json);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    const where = i.path.length > 0 ? i.path.map(String).join('.').slice(0, 80) : '(top level)';
    const got = i.path.length > 0 ? valueAt(json, i.path) : undefined;
    const shown = got !== undefined && i.code !== 'unrecognized_keys' ? ` (got ${preview(got)})` : '';
    return `  ${where}: ${i.message}${shown}`;
  });
  throw new BadInput(`--config ${file}: ${r.error.issues.length} bad field(s) for '${command}':\n${lines.join('\n')}`);
}

function valueAt(x: unknown, path: readonly PropertyKey[]): unknown {
  let v = x;
  for (const k of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** Settings from the file as flag strings, under the flags actually given (those win). */
export function underFlags<F extends object>(fromFile: Record<string, unknown>, flags: F): F {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fromFile)) {
    if (k === 'params' || k === 'scenarios' || k === 'scenario') continue;
    out[k] = typeof v === 'number' || Array.isArray(v) ? (Array.isArray(v) ? v.join(',') : String(v)) : v;
  }
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) out[k] = v;
  // Parameters: the file's first, then any --param given on the command line.
  const fileParams = Object.entries((fromFile.params ?? {}) as Record<string, number>).map(([k, v]) => `${k}=${v}`);
  out.param = [...fileParams, ...((flags as { param?: string[] }).param ?? [])];
  return out as F;
}
