/**
 * A repro: everything needed to re-run one explored execution exactly — scenario, variant, parameters,
 * op seed, ops per vCPU and the schedule. It serialises two ways:
 *  - a short printable token for a one-line replay command, as shuttle prints its failing schedule;
 *  - a readable JSON file, which also carries the violation and trace hash it reproduces.
 * The schedule is stored run-length encoded: [cpu, count, cpu, count, ...]. PCT and shrunk schedules
 * switch rarely, so this stays short.
 *
 * Token format, version 2: `isr2.<payload>.<check>`.
 *  - payload: base64url of raw-deflated JSON, an object keyed by the short names of FIELDS below plus
 *    `tv` (tool version) and `mh` (model hash, stamp.ts). A field missing from an older token takes its
 *    `absent` value, so a new field is one line in FIELDS and old isr2 tokens keep decoding.
 *  - check: base64url of the first 6 bytes of SHA-256 over the text `isr2.<payload>`. Taken over the
 *    text, not the decoded bytes, so that every changed character is caught (base64 decoders ignore
 *    stray characters and the spare bits of the last one).
 * Version 1, `isr1.<payload>`, is a positional JSON array without checksum or stamp; it grew from 7 to 10
 * fields without changing its prefix. All four shapes still decode (ISR1_ORDER).
 */
import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Violation } from '../check/invariant.js';
import { BadInput } from '../errors.js';
import { preview } from '../preview.js';
import { currentStamp, type Stamp } from './stamp.js';
import { MEMORY_MODES, type MemoryMode } from '../engine/memory-order.js';

export interface Repro {
  readonly scenario: string;
  readonly variant: string;
  /** Non-default scenario parameters. */
  readonly params: Readonly<Record<string, number>>;
  readonly opSeed: number;
  readonly opsPerCpu: readonly number[];
  /** Per vCPU, drawn ops that are not run (see ExecutionSpec.skip); [] when none. */
  readonly skip: readonly (readonly number[])[];
  /** Timer tasks the model has: the schedule names tasks 0..vCPUs+timers-1 (engine/timer.ts). */
  readonly timers: number;
  /** Run-length encoded decisions. */
  readonly schedule: readonly number[];
  readonly maxSteps: number;
  /** Outcomes that ended the execution besides FORBIDDEN ones (explore --stop-on); [] when none. */
  readonly stopOn: readonly string[];
  /**
   * `--memory weak`: the schedule also holds weak-memory choices (engine/weak-memory.ts). Absent means
   * sc, as in every token recorded before the field existed (and sc tokens still leave it out).
   */
  readonly memory?: MemoryMode;
  /**
   * Recorded by `--strategy dfs`: the execution ran untimed (execution.ts ExecutionSpec.untimed: timers
   * runnable once armed, no failed lock attempts). Absent means timed, as in every other token.
   */
  readonly untimed?: boolean;
}

export interface ReproFile extends Repro, Stamp {
  readonly format: 'iommu-stress-repro';
  /** 2: carries toolVersion and modelHash (version 1 files, without them, still replay). */
  readonly version: 2;
  readonly token: string;
  readonly violation: Violation | null;
  readonly traceHash: string | null;
  readonly command: string;
}

/** A decoded token or repro file: the execution, and what it was recorded with (null: an isr1 token or v1 file). */
export interface DecodedRepro {
  readonly repro: Repro;
  readonly stamp: Stamp | null;
  /** 'isr2', 'isr1 (N fields)', 'repro file v1', 'repro file v2': for messages. */
  readonly format: string;
  /** False for the oldest isr1 tokens (7 fields), recorded before repros carried the timer count. */
  readonly timersKnown: boolean;
}

/**
 * The token's fields, in isr1's positional order (which is frozen: see ISR1_ORDER). To add a field: add
 * it to Repro, validate it in validateRepro, and add one line here with the value older tokens mean.
 */
const FIELDS: readonly {
  readonly key: keyof Repro;
  readonly short: string;
  readonly absent?: unknown;
  /** Left out of a token when it has its `absent` value (so such tokens are the same as before it existed). */
  readonly omitAbsent?: boolean;
}[] = [
  { key: 'scenario', short: 's' },
  { key: 'variant', short: 'v' },
  { key: 'params', short: 'p', absent: {} },
  { key: 'opSeed', short: 'o' },
  { key: 'opsPerCpu', short: 'n' },
  { key: 'schedule', short: 'd' },
  { key: 'maxSteps', short: 'x' },
  { key: 'timers', short: 't', absent: 0 },
  { key: 'skip', short: 'k', absent: [] },
  { key: 'stopOn', short: 'h', absent: [] },
  { key: 'memory', short: 'm', absent: 'sc', omitAbsent: true },
  { key: 'untimed', short: 'u', absent: false, omitAbsent: true },
];
/** isr1 tokens were arrays in this order, of 7 (no timers), 8, 9 (skip) or 10 (stopOn) elements. */
const ISR1_ORDER = [
  'scenario',
  'variant',
  'params',
  'opSeed',
  'opsPerCpu',
  'schedule',
  'maxSteps',
  'timers',
  'skip',
  'stopOn',
] as const;
const ISR1_MIN_FIELDS = 7;

const PREFIX_V2 = 'isr2.';
const PREFIX_V1 = 'isr1.';
const CHECK_BYTES = 6;
const B64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Upper bounds on what a token or repro file may ask for, checked before anything is allocated or run
 * (a crafted schedule of 2^45 decisions would otherwise ask for a 35 TB Uint8Array). Each is far above
 * what explore records: --cpus, --ops and --max-steps have the same limits.
 */
export const REPRO_LIMITS = {
  tokenChars: 1 << 20,
  /** Inflated JSON: a deflate bomb stops here. */
  jsonBytes: 8 << 20,
  fileBytes: 16 << 20,
  vcpus: 255,
  opsPerCpu: 100_000_000,
  maxSteps: 1_000_000_000,
  /** Decisions in the schedule: one byte each when replayed. */
  decisions: 100_000_000,
  timers: 255,
  stopOn: 64,
  params: 64,
  nameChars: 64,
} as const;

export function encodeSchedule(decisions: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < decisions.length; i++) {
    const c = decisions[i]!;
    if (out.length > 0 && out[out.length - 2] === c) out[out.length - 1]!++;
    else out.push(c, 1);
  }
  return out;
}

/** Only for a schedule that passed validateRepro (its total is bounded) or one recorded here. */
export function decodeSchedule(rle: readonly number[]): Uint8Array {
  let total = 0;
  for (let i = 1; i < rle.length; i += 2) total += rle[i]!;
  const out = new Uint8Array(total);
  let k = 0;
  for (let i = 0; i < rle.length; i += 2) out.fill(rle[i]!, k, (k += rle[i + 1]!));
  return out;
}

const checkOf = (text: string): string =>
  createHash('sha256').update(text).digest().subarray(0, CHECK_BYTES).toString('base64url');

/** The current token format, stamped with today's tool version and model hash unless told otherwise. */
export function encodeToken(r: Repro, stamp: Stamp = currentStamp(r.scenario)): string {
  const o: Record<string, unknown> = { tv: stamp.toolVersion, mh: stamp.modelHash };
  for (const f of FIELDS) {
    const v = r[f.key] ?? f.absent;
    if (!(f.omitAbsent && v === f.absent)) o[f.short] = v;
  }
  const body = PREFIX_V2 + deflateRawSync(Buffer.from(JSON.stringify(o))).toString('base64url');
  return `${body}.${checkOf(body)}`;
}

/** Decode and validate a token of any version; BadInput (exit 2) naming the problem otherwise. */
export function decodeToken(token: string): Repro {
  return readToken(token).repro;
}

export function readToken(token: string): DecodedRepro {
  const t = token.trim();
  if (t.length > REPRO_LIMITS.tokenChars) {
    throw new BadInput(
      `--token: '${abbrev(t)}' is ${t.length} characters long, ` + `over the limit of ${REPRO_LIMITS.tokenChars}`,
    );
  }
  if (t.startsWith(PREFIX_V2)) return readV2(t);
  if (t.startsWith(PREFIX_V1)) return readV1(t);
  throw new BadInput(
    `--token: '${abbrev(t)}' is not an iommu-stress token ` +
      `(tokens start with '${PREFIX_V2}', or '${PREFIX_V1}' for older ones)`,
  );
}

function readV2(t: string): DecodedRepro {
  const dot = t.lastIndexOf('.');
  const body = t.slice(0, dot);
  const check = t.slice(dot + 1);
  const intact =
    dot >= PREFIX_V2.length &&
    B64URL.test(body.slice(PREFIX_V2.length)) &&
    B64URL.test(check) &&
    checkOf(body) === check;
  if (!intact) {
    throw new BadInput(
      `--token: token checksum mismatch in '${abbrev(t)}': ` + 'the token was damaged or cut (copy the whole token)',
    );
  }
  const o = inflateJson(body.slice(PREFIX_V2.length), t);
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new BadInput(`--token: '${abbrev(t)}' has the wrong shape`);
  }
  const x = o as Record<string, unknown>;
  const fields: Record<string, unknown> = {};
  for (const f of FIELDS) fields[f.key] = f.short in x ? x[f.short] : f.absent;
  if (typeof x.tv !== 'string' || typeof x.mh !== 'string' || x.tv.length > 64 || x.mh.length > 64) {
    throw new BadInput(`--token: '${abbrev(t)}' has no tool version and model hash`);
  }
  const stamp = { toolVersion: x.tv, modelHash: x.mh };
  return { repro: validateRepro(fields, '--token'), stamp, format: 'isr2', timersKnown: true };
}

function readV1(t: string): DecodedRepro {
  const payload = t.slice(PREFIX_V1.length);
  if (!B64URL.test(payload)) {
    throw new BadInput(`--token: '${abbrev(t)}' is damaged (characters outside base64url); copy the whole token`);
  }
  const a = inflateJson(payload, t);
  if (!Array.isArray(a) || a.length < ISR1_MIN_FIELDS || a.length > ISR1_ORDER.length) {
    throw new BadInput(
      `--token: '${abbrev(t)}' has the wrong shape ` +
        `(an isr1 token is a list of ${ISR1_MIN_FIELDS} to ${ISR1_ORDER.length} fields)`,
    );
  }
  const fields: Record<string, unknown> = {};
  ISR1_ORDER.forEach((k, i) => {
    fields[k] = i < a.length ? a[i] : FIELDS.find((f) => f.key === k)!.absent;
  });
  const format = `isr1 (${a.length} fields)`;
  return { repro: validateRepro(fields, '--token'), stamp: null, format, timersKnown: a.length > ISR1_MIN_FIELDS };
}

function inflateJson(b64: string, t: string): unknown {
  try {
    const bytes = inflateRawSync(Buffer.from(b64, 'base64url'), { maxOutputLength: REPRO_LIMITS.jsonBytes });
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    const why =
      (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
        ? `it inflates to more than ${REPRO_LIMITS.jsonBytes} bytes`
        : 'it does not decode';
    throw new BadInput(`--token: '${abbrev(t)}' is damaged (${why}); copy the whole token`);
  }
}

/** Check the shape and bounds of a repro read from outside; `where` names the source in messages. */
export function validateRepro(x: Record<string, unknown>, where: string): Repro {
  const L = REPRO_LIMITS;
  const bad = (field: string, want: string): never => {
    throw new BadInput(`${where}: field '${field}' must be ${want}, got ${preview(x[field])}`);
  };
  const isInt = (v: unknown, lo: number, hi = Number.MAX_SAFE_INTEGER): v is number =>
    typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  const isName = (v: unknown): v is string => typeof v === 'string' && v !== '' && v.length <= L.nameChars;
  if (!isName(x.scenario)) bad('scenario', `a scenario name (1..${L.nameChars} characters)`);
  if (!isName(x.variant)) bad('variant', `a variant name (1..${L.nameChars} characters)`);
  const params = x.params;
  if (
    typeof params !== 'object' ||
    params === null ||
    Array.isArray(params) ||
    Object.keys(params).length > L.params ||
    !Object.values(params).every((v) => typeof v === 'number' && Number.isFinite(v))
  ) {
    bad('params', `an object of at most ${L.params} numbers`);
  }
  if (!isInt(x.opSeed, -0x80000000, 0xffffffff)) bad('opSeed', 'a 32-bit integer');
  const ops = x.opsPerCpu;
  if (!Array.isArray(ops) || ops.length < 1 || ops.length > L.vcpus || !ops.every((v) => isInt(v, 0, L.opsPerCpu))) {
    bad('opsPerCpu', `a list of 1..${L.vcpus} op counts, each 0..${L.opsPerCpu}`);
  }
  const nOps = ops as number[];
  const stopOn = x.stopOn ?? [];
  if (!Array.isArray(stopOn) || stopOn.length > L.stopOn || !stopOn.every(isName)) {
    bad('stopOn', `a list of at most ${L.stopOn} outcome ids`);
  }
  const skip = x.skip ?? [];
  if (
    !Array.isArray(skip) ||
    skip.length > nOps.length ||
    !skip.every((l, c) => Array.isArray(l) && l.length <= nOps[c]! && l.every((k) => isInt(k, 0) && k < nOps[c]!))
  ) {
    bad('skip', "per vCPU, a list of op indices below that vCPU's op count");
  }
  const memory = x.memory ?? 'sc';
  if (!(MEMORY_MODES as readonly unknown[]).includes(memory)) bad('memory', `one of ${MEMORY_MODES.join(', ')}`);
  const weak = memory === 'weak';
  const untimed = x.untimed ?? false;
  if (typeof untimed !== 'boolean') bad('untimed', 'true or false');
  const timers = x.timers ?? 0;
  if (!isInt(timers, 0, L.timers)) bad('timers', `a count of timer tasks (0..${L.timers})`);
  if (!isInt(x.maxSteps, 1, L.maxSteps)) bad('maxSteps', `an integer from 1 to ${L.maxSteps}`);
  const sch = x.schedule;
  const tasks = nOps.length + (timers as number);
  if (
    !Array.isArray(sch) ||
    sch.length % 2 !== 0 ||
    sch.length > 2 * L.decisions ||
    !sch.every((v, i) => (i % 2 === 0 ? isInt(v, 0, weak ? 255 : tasks - 1) : isInt(v, 1, L.decisions)))
  ) {
    bad(
      'schedule',
      weak
        ? 'a run-length list [decision, count, ...] with decisions 0..255 and count >= 1'
        : `a run-length list [task, count, ...] with task < ${tasks} (vCPUs + timers) and count >= 1`,
    );
  }
  // The executor never records more decisions than maxSteps: a longer schedule is not ours. Summed
  // before decodeSchedule allocates a byte per decision.
  let total = 0;
  for (let i = 1; i < (sch as number[]).length; i += 2) total += (sch as number[])[i]!;
  // Under weak memory a step may also make choices: then only the overall limit applies.
  if (!weak && total > (x.maxSteps as number))
    bad('schedule', `at most maxSteps (${x.maxSteps as number}) decisions in all`);
  if (total > L.decisions) bad('schedule', `at most ${L.decisions} decisions in all`);
  return {
    scenario: x.scenario as string,
    variant: x.variant as string,
    params: params as Record<string, number>,
    opSeed: x.opSeed as number,
    opsPerCpu: nOps,
    skip: skip as number[][],
    stopOn: stopOn as string[],
    timers: timers as number,
    schedule: sch as number[],
    maxSteps: x.maxSteps as number,
    ...(weak ? { memory: 'weak' as const } : {}),
    ...(untimed ? { untimed: true } : {}),
  };
}

function abbrev(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
