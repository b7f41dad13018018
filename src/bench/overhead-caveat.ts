/**
 * When the real-thread flush-queue numbers measure the model more than the design (issue 16 item 6): a
 * map+unmap pair of the model costs microseconds of JavaScript where the kernel's costs a few hundred
 * nanoseconds, so at a low flush cost the ratios between designs are ratios of model overhead. The yardstick
 * is the same design, the same number of CPUs and 0 ns flush run on the simulated-time executor under the
 * `bare-metal` profile (profiles/bare-metal.json: kernel-like nanosecond costs, no JS): a deterministic,
 * load-independent kernel-like cost per pair. A measured pair dearer than OVERHEAD_FACTOR times that gets
 * a caveat line in the text, Markdown and HTML reports.
 */
import type { ScenarioDef, VariantDef } from '../engine/scenario.js';
import type { FlushqPatch } from '../scenarios/flushq.js';
import { simFqBench, type SimSpeed } from '../sim/fq-sim.js';
import { loadProfile } from '../sim/profile.js';
import type { FqRow } from './fq-bench.js';

/** Above this multiple of the bare-metal cost per pair, the model's overhead dominates (issue 16's 10x). */
export const OVERHEAD_FACTOR = 10;

/** Ops per vCPU of the bare-metal yardstick runs: enough to span the queues' first flushes, and fast (ms). */
const YARDSTICK_OPS = 300;

export interface OverheadCheck {
  readonly mode: string;
  readonly workers: number;
  /** Measured wall ns per map+unmap pair on one worker (workers / pairs per second). */
  readonly measuredNs: number;
  /** The same on the bare-metal profile, simulated. */
  readonly bareMetalNs: number;
  readonly factor: number;
}

/** `mode/workers` -> simulated ns per pair per vCPU under bare-metal at 0 ns flush. */
export type BareMetalCosts = ReadonlyMap<string, number>;

const key = (mode: string, workers: number) => `${mode}/${workers}`;
const nsPerPair = (r: Pick<FqRow, 'workers' | 'throughput'>) => (r.workers * 1e9) / r.throughput;

/** Simulate every variant at every worker count of the 0 ns rows under bare-metal (deterministic, ms each). */
export function bareMetalCosts(
  rows: readonly FqRow[],
  variants: readonly VariantDef<FlushqPatch>[],
  scenario?: ScenarioDef<FlushqPatch>,
): Map<string, number> {
  const out = new Map<string, number>();
  const zero = rows.filter((r) => r.flushCostNs === 0 && r.throughput > 0);
  const profile = loadProfile('bare-metal');
  const speed: SimSpeed[] = [];
  for (const v of variants) {
    const cpus = [...new Set(zero.filter((r) => r.mode === v.name).map((r) => r.workers))];
    if (cpus.length === 0) continue;
    const sim = simFqBench(
      {
        variants: [v],
        scenario,
        cpus,
        flushCostsNs: [0],
        serial: false,
        transferNs: zero[0]!.transferNs,
        pages: zero[0]!.pages,
        opsPerCpu: YARDSTICK_OPS,
        seed: 1,
        profile,
      },
      () => {},
      speed,
    );
    for (const r of sim) if (r.throughput > 0) out.set(key(r.mode, r.workers), nsPerPair(r));
  }
  return out;
}

/** Each measured 0 ns row against its bare-metal yardstick. */
export function overheadChecks(rows: readonly FqRow[], bare: BareMetalCosts): OverheadCheck[] {
  return rows
    .filter((r) => r.flushCostNs === 0 && r.throughput > 0 && bare.has(key(r.mode, r.workers)))
    .map((r) => {
      const bareMetalNs = bare.get(key(r.mode, r.workers))!;
      const measuredNs = nsPerPair(r);
      return { mode: r.mode, workers: r.workers, measuredNs, bareMetalNs, factor: measuredNs / bareMetalNs };
    });
}

/** The caveat line, when some measured pair costs more than OVERHEAD_FACTOR x its bare-metal yardstick. */
export function overheadCaveat(checks: readonly OverheadCheck[]): string | undefined {
  const over = checks.filter((c) => c.factor > OVERHEAD_FACTOR);
  if (over.length === 0) return undefined;
  const worst = over.reduce((a, b) => (b.factor > a.factor ? b : a));
  const us = (ns: number) => (ns / 1000).toFixed(2);
  return (
    `model overhead dominates: at 0 ns flush a map+unmap pair costs ${us(worst.measuredNs)} µs per worker ` +
    `(${worst.mode}, ${worst.workers} worker(s)) against ${us(worst.bareMetalNs)} µs simulated on the bare-metal ` +
    `profile, ${worst.factor.toFixed(0)}x (over ${OVERHEAD_FACTOR}x in ${over.length} of ${checks.length} row(s)); ` +
    "ratios between designs at low flush costs measure the model's JavaScript, not the kernel — see bench --sim."
  );
}
