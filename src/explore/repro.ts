/**
 * A repro: everything needed to re-run one explored execution exactly — scenario, variant, parameters,
 * op seed, ops per vCPU and the schedule. It serialises two ways:
 *  - a short printable token (`isr1.` + base64url of deflated compact JSON) for a one-line replay
 *    command, as shuttle prints its failing schedule string;
 *  - a readable JSON file, which also carries the violation and trace hash it reproduces.
 * The schedule is stored run-length encoded: [cpu, count, cpu, count, ...]. PCT and shrunk schedules
 * switch rarely, so this stays short.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Violation } from '../check/invariant.js';
import { BadInput } from '../errors.js';

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
}

export interface ReproFile extends Repro {
  readonly format: 'iommu-stress-repro';
  readonly version: 1;
  readonly token: string;
  readonly violation: Violation | null;
  readonly traceHash: string | null;
  readonly command: string;
}

const TOKEN_PREFIX = 'isr1.';

export function encodeSchedule(decisions: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < decisions.length; i++) {
    const c = decisions[i]!;
    if (out.length > 0 && out[out.length - 2] === c) out[out.length - 1]!++;
    else out.push(c, 1);
  }
  return out;
}

export function decodeSchedule(rle: readonly number[]): Uint8Array {
  let total = 0;
  for (let i = 1; i < rle.length; i += 2) total += rle[i]!;
  const out = new Uint8Array(total);
  let k = 0;
  for (let i = 0; i < rle.length; i += 2) out.fill(rle[i]!, k, (k += rle[i + 1]!));
  return out;
}

export function encodeToken(r: Repro): string {
  const compact = [r.scenario, r.variant, r.params, r.opSeed, r.opsPerCpu, r.schedule, r.maxSteps, r.timers, r.skip, r.stopOn];
  return TOKEN_PREFIX + deflateRawSync(Buffer.from(JSON.stringify(compact))).toString('base64url');
}

export function decodeToken(token: string): Repro {
  const t = token.trim();
  if (!t.startsWith(TOKEN_PREFIX)) {
    throw new BadInput(`--token: '${abbrev(t)}' is not an iommu-stress token (tokens start with '${TOKEN_PREFIX}')`);
  }
  let compact: unknown;
  try {
    compact = JSON.parse(inflateRawSync(Buffer.from(t.slice(TOKEN_PREFIX.length), 'base64url')).toString('utf8'));
  } catch {
    throw new BadInput(`--token: '${abbrev(t)}' is damaged (it does not decode); copy the whole token`);
  }
  if (!Array.isArray(compact) || compact.length !== 10) throw new BadInput(`--token: '${abbrev(t)}' has the wrong shape`);
  const [scenario, variant, params, opSeed, opsPerCpu, schedule, maxSteps, timers, skip, stopOn] = compact as unknown[];
  return validateRepro({ scenario, variant, params, opSeed, opsPerCpu, schedule, maxSteps, timers, skip, stopOn }, '--token');
}

/** Check the shape of a repro read from outside; `where` names the source in messages. */
export function validateRepro(x: Record<string, unknown>, where: string): Repro {
  const bad = (field: string, want: string): never => {
    throw new BadInput(`${where}: field '${field}' must be ${want}, got ${abbrev(JSON.stringify(x[field]) ?? 'nothing')}`);
  };
  const isInt = (v: unknown, lo: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo;
  if (typeof x.scenario !== 'string' || x.scenario === '') bad('scenario', 'a scenario name');
  if (typeof x.variant !== 'string' || x.variant === '') bad('variant', 'a variant name');
  const params = x.params;
  if (typeof params !== 'object' || params === null || Array.isArray(params)
    || !Object.values(params).every((v) => typeof v === 'number' && Number.isFinite(v))) {
    bad('params', 'an object of numbers');
  }
  if (!isInt(x.opSeed, -0x80000000) || (x.opSeed as number) > 0xffffffff) bad('opSeed', 'a 32-bit integer');
  const ops = x.opsPerCpu;
  if (!Array.isArray(ops) || ops.length < 1 || ops.length > 255 || !ops.every((v) => isInt(v, 0))) {
    bad('opsPerCpu', 'a list of 1..255 non-negative integers');
  }
  const stopOn = x.stopOn ?? [];
  if (!Array.isArray(stopOn) || !stopOn.every((id) => typeof id === 'string')) bad('stopOn', 'a list of outcome ids');
  const skip = x.skip ?? [];
  if (!Array.isArray(skip) || skip.length > (ops as number[]).length
    || !skip.every((l, c) => Array.isArray(l) && l.every((k) => isInt(k, 0) && k < (ops as number[])[c]!))) {
    bad('skip', 'per vCPU, a list of op indices below that vCPU\'s op count');
  }
  const timers = x.timers ?? 0;
  if (!isInt(timers, 0) || timers > 255) bad('timers', 'a count of timer tasks (0..255)');
  if (!isInt(x.maxSteps, 1)) bad('maxSteps', 'a positive integer');
  const sch = x.schedule;
  const tasks = (ops as number[]).length + (timers as number);
  if (!Array.isArray(sch) || sch.length % 2 !== 0
    || !sch.every((v, i) => (i % 2 === 0 ? isInt(v, 0) && v < tasks : isInt(v, 1)))) {
    bad('schedule', `a run-length list [task, count, ...] with task < ${tasks} (vCPUs + timers) and count >= 1`);
  }
  // The executor never records more decisions than maxSteps: a longer schedule is not ours.
  let total = 0;
  for (let i = 1; i < (sch as number[]).length; i += 2) total += (sch as number[])[i]!;
  if (total > (x.maxSteps as number)) bad('schedule', `at most maxSteps (${x.maxSteps as number}) decisions in all`);
  return {
    scenario: x.scenario as string, variant: x.variant as string,
    params: params as Record<string, number>, opSeed: x.opSeed as number,
    opsPerCpu: ops as number[], skip: skip as number[][], stopOn: stopOn as string[], timers: timers as number, schedule: sch as number[], maxSteps: x.maxSteps as number,
  };
}

function abbrev(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
