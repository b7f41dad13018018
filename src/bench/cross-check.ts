/**
 * The simulator cross-checked against real threads (issue 16 item 4): with the `this-machine` cost profile
 * (bench --calibrate) at 1 and 2 vCPUs, do the simulator's ratios between designs agree with the
 * real-thread bench's medians? The ratios: per-CPU over single flush queue, lazy (per-CPU, single) over
 * strict at each flush cost (the fq suite's loop), and the list depot over the fixed 32-magazine depot
 * (the iova suite's `local` and `handoff` shapes, through the range cache). A cell agrees when the
 * simulated ratio is within ±AGREE of the real one. Last, the time of one map+unmap pair per CPU of each
 * design at the first flush cost, real and simulated: where the profile's model cost is off, it shows
 * there first. Run by scripts/cross-check.mjs.
 */
import { withDefaults, variantOf } from '../engine/scenario.js';
import { flushqScenario } from '../scenarios/flushq.js';
import { iovaScenario } from '../scenarios/iova.js';
import { runSim } from '../sim/executor.js';
import { simFqBench, type SimSpeed } from '../sim/fq-sim.js';
import { loadProfile, type LoadedProfile } from '../sim/profile.js';
import { fqBench, type FqRow } from './fq-bench.js';
import { IOVA_BENCH_PARAMS, iovaBench, type IovaRate } from './iova-bench.js';
import { medianRows, range, type Range } from './spread.js';

/** A simulated ratio within ±25% of the real one agrees (the issue's bound). */
export const AGREE = 0.25;

export const CPUS = [1, 2] as const;

export interface CrossCheckOptions {
  readonly flushCostsNs: readonly number[];
  readonly serial: boolean;
  /** Real threads: time per measurement and repeats (the median is compared). */
  readonly timeMs: number;
  readonly repeats: number;
  /** Simulated ops per vCPU (a simulated run is deterministic: one run). */
  readonly simOps: number;
  readonly seed: number;
  /** Default: the built-in this-machine profile. */
  readonly profile?: LoadedProfile;
}

/** Throughput (pairs/s) per design and combination, from one side (real or simulated). */
export interface Side {
  /** fq: `${mode}/${cpus}/${flushCostNs}` -> map+unmap pairs/s. */
  readonly fq: ReadonlyMap<string, number>;
  /** iova: `${variant}/${shape}/${cpus}` -> alloc+free pairs/s. */
  readonly iova: ReadonlyMap<string, number>;
  /** Min–max of each real ratio over the repeats (the real side only). */
  readonly spread?: ReadonlyMap<string, Range>;
}

export interface Cell {
  readonly ratio: string;
  readonly cpus: number;
  /** The flush cost (fq ratios) or the iova shape. */
  readonly at: string;
  readonly real: number;
  readonly realRange?: Range;
  readonly sim: number;
  /** sim / real - 1 */
  readonly diff: number;
  readonly agree: boolean;
  /** The simulated value lies within the real runs' min–max: a difference the real side's noise covers. */
  readonly noiseBound: boolean;
}

/** The ratios the table shows: numerator and denominator designs. */
const FQ_RATIOS = [
  { name: 'percpu/single', a: 'percpu', b: 'single' },
  { name: 'lazy percpu/strict', a: 'percpu', b: 'strict' },
  { name: 'lazy single/strict', a: 'single', b: 'strict' },
] as const;
const IOVA_SHAPES = ['local', 'handoff'] as const;
const FQ_MODES_SHOWN = ['percpu', 'single', 'strict'] as const;

const fqKey = (mode: string, cpus: number, cost: number) => `${mode}/${cpus}/${cost}`;
const iovaKey = (variant: string, shape: string, cpus: number) => `${variant}/${shape}/${cpus}`;
const ratioKey = (ratio: string, cpus: number, at: string) => `${ratio}@${cpus}@${at}`;

/** Every cell: the same ratio from both sides at each CPU count and flush cost (or iova shape). */
export function crossCheckCells(real: Side, sim: Side, flushCostsNs: readonly number[]): Cell[] {
  const cells: Cell[] = [];
  const push = (ratio: string, cpus: number, at: string, r: number, s: number) => {
    if (!(r > 0) || !(s > 0) || !Number.isFinite(r) || !Number.isFinite(s)) return;
    const diff = s / r - 1;
    const realRange = real.spread?.get(ratioKey(ratio, cpus, at));
    cells.push({
      ratio,
      cpus,
      at,
      real: r,
      realRange,
      sim: s,
      diff,
      agree: Math.abs(diff) <= AGREE,
      noiseBound: realRange !== undefined && s >= realRange.min && s <= realRange.max,
    });
  };
  for (const q of FQ_RATIOS)
    for (const cpus of CPUS)
      for (const c of flushCostsNs) {
        const ratio = (side: Side) => side.fq.get(fqKey(q.a, cpus, c))! / side.fq.get(fqKey(q.b, cpus, c))!;
        push(q.name, cpus, `${c} ns`, ratio(real), ratio(sim));
      }
  for (const shape of IOVA_SHAPES)
    for (const cpus of CPUS) {
      const ratio = (side: Side) =>
        side.iova.get(iovaKey('correct', shape, cpus))! / side.iova.get(iovaKey('fixed-depot', shape, cpus))!;
      push('list/fixed depot', cpus, shape, ratio(real), ratio(sim));
    }
  // Not a ratio: the time of one map+unmap pair per CPU at the first flush cost — whether the profile's
  // model cost (bench --calibrate) is this machine's at all, before any ratio can agree.
  const c0 = flushCostsNs[0];
  if (c0 !== undefined)
    for (const m of FQ_MODES_SHOWN)
      for (const cpus of CPUS) {
        const us = (side: Side) => (1e6 * cpus) / side.fq.get(fqKey(m, cpus, c0))!;
        push(`µs per ${m} pair`, cpus, `${c0} ns`, us(real), us(sim));
      }
  return cells;
}

/** The table as text, with the verdict per cell and a count. */
export function crossCheckText(cells: readonly Cell[], header: readonly string[], simOnly = false): string {
  const f2 = (x: number) => x.toFixed(2);
  const all = ['ratio', 'CPUs', 'at', 'real (median [min–max])', 'sim', 'sim/real', `±${AGREE * 100}%`];
  // Without real threads there is nothing to compare: the simulated ratios alone.
  const pick = (cs: string[]) => (simOnly ? [cs[0]!, cs[1]!, cs[2]!, cs[4]!] : cs);
  const head = pick(all);
  const body = cells.map((c) =>
    pick([
      c.ratio,
      String(c.cpus),
      c.at,
      `${f2(c.real)}${c.realRange ? ` [${f2(c.realRange.min)}–${f2(c.realRange.max)}]` : ''}`,
      f2(c.sim),
      `${c.diff >= 0 ? '+' : ''}${(100 * c.diff).toFixed(0)}%`,
      c.agree ? 'agree' : c.noiseBound ? 'DIFFER*' : 'DIFFER',
    ]),
  );
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cs: readonly string[]) =>
    cs
      .map((x, i) => (i >= 3 ? x.padStart(w[i]!) : x.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  const ratios = cells.filter((c) => !c.ratio.startsWith('µs per'));
  const times = cells.filter((c) => c.ratio.startsWith('µs per'));
  const n = ratios.filter((c) => c.agree).length;
  const noisy = ratios.filter((c) => !c.agree && c.noiseBound).length;
  return [
    ...header,
    line(head),
    ...body.map(line),
    ...(simOnly
      ? []
      : [
          `${n} of ${ratios.length} ratio cell(s) agree within ±${AGREE * 100}%` +
            (times.length > 0 ? `; ${times.filter((c) => c.agree).length} of ${times.length} pair time(s)` : ''),
          ...(cells.some((c) => !c.agree && c.noiseBound)
            ? [
                `DIFFER*: the simulated value lies within the real runs' min–max (noise-bound)` +
                  (noisy > 0 ? `: ${noisy} of the differing ratio cells` : ''),
              ]
            : []),
        ]),
  ].join('\n');
}

/** The simulated side: fq and iova designs at 1 and 2 vCPUs under the profile (deterministic). */
export function simSide(o: CrossCheckOptions, progress: (s: string) => void): Side {
  const profile = o.profile ?? loadProfile('this-machine');
  const speed: SimSpeed[] = [];
  const fq = new Map<string, number>();
  const rows = simFqBench(
    {
      variants: ['percpu', 'single', 'strict'].map((m) => variantOf(flushqScenario, m)),
      cpus: CPUS,
      flushCostsNs: o.flushCostsNs,
      serial: o.serial,
      transferNs: 0,
      pages: 1,
      opsPerCpu: o.simOps,
      seed: o.seed,
      profile,
    },
    progress,
    speed,
  );
  for (const r of rows) fq.set(fqKey(r.mode, r.workers, r.flushCostNs), r.throughput);
  const iova = new Map<string, number>();
  for (const name of ['correct', 'fixed-depot'])
    for (const shape of IOVA_SHAPES)
      for (const cpus of CPUS) {
        progress(`cross-check sim: iova ${name} ${shape}, ${cpus} vCPU(s), ${o.simOps} ops each`);
        const variant = variantOf(iovaScenario, name);
        const params = withDefaults(iovaScenario, {
          ...IOVA_BENCH_PARAMS,
          bench: shape === 'local' ? 1 : 2,
          treeOnly: 0,
        });
        const r = runSim({
          scenario: iovaScenario,
          model: iovaScenario.build({ cpus, variant, params }),
          opSeed: o.seed,
          opsPerCpu: Array(cpus).fill(o.simOps),
          profile: profile.profile,
          variant: name,
          untimed: ['shadow.*'],
        });
        iova.set(iovaKey(name, shape, cpus), r.makespanNs > 0 ? r.ops / (r.makespanNs / 1e9) : 0);
      }
  return { fq, iova };
}

/** The real side: the fq and iova suites on worker threads, `repeats` times, medians and their spread. */
export async function realSide(o: CrossCheckOptions, progress: (s: string) => void): Promise<Side> {
  const fqRuns: FqRow[][] = [];
  const iovaRuns: (readonly IovaRate[])[] = [];
  for (let k = 0; k < o.repeats; k++) {
    const p = (s: string) => progress(`${s} (run ${k + 1} of ${o.repeats})`);
    fqRuns.push(
      await fqBench(
        {
          modes: ['percpu', 'single', 'strict'],
          workers: CPUS,
          flushCostsNs: o.flushCostsNs,
          serial: o.serial,
          transferNs: 0,
          pages: 1,
          timeMs: o.timeMs,
          // One stress slice per measurement: a slice barrier's quiescent scan (15-30 ms for the single
          // queue's full ring, ~1 ms for the others, every 100 ms by default) is the harness's time, not
          // the model's, and the simulator does not run it.
          sliceMs: o.timeMs,
          seed: o.seed + k,
        },
        p,
      ),
    );
    iovaRuns.push((await iovaBench(o.timeMs, p, { workers: CPUS, seed: o.seed + k, microMs: 200 })).rates);
  }
  const fq = new Map<string, number>();
  for (const r of medianRows(
    fqRuns,
    (x) => x.throughput,
    ['throughput'],
    (x) => x.loops > 0,
  ))
    fq.set(fqKey(r.mode, r.workers, r.flushCostNs), r.throughput);
  const rcache = (rs: readonly IovaRate[]) => rs.filter((r) => r.path === 'rcache');
  const iova = new Map<string, number>();
  for (const r of medianRows(
    iovaRuns.map(rcache),
    (x) => x.pairsPerSec,
    ['pairsPerSec'],
    (x) => x.pairsPerSec > 0,
  ))
    iova.set(iovaKey(r.variant, r.shape, r.workers), r.pairsPerSec);
  // The spread of each ratio: the ratio within each run, min–max over the runs.
  const spread = new Map<string, Range>();
  const perRun = fqRuns.map((rows, k) => {
    const m = new Map<string, number>();
    for (const r of rows) m.set(fqKey(r.mode, r.workers, r.flushCostNs), r.throughput);
    const i = new Map<string, number>();
    for (const r of rcache(iovaRuns[k]!)) i.set(iovaKey(r.variant, r.shape, r.workers), r.pairsPerSec);
    return crossCheckCells({ fq: m, iova: i }, { fq: m, iova: i }, o.flushCostsNs);
  });
  for (const c of perRun[0] ?? []) {
    const key = ratioKey(c.ratio, c.cpus, c.at);
    const vals = perRun.map((cells) => cells.find((x) => ratioKey(x.ratio, x.cpus, x.at) === key)?.real ?? NaN);
    const ok = vals.filter(Number.isFinite);
    if (ok.length > 0) spread.set(key, range(ok));
  }
  return { fq, iova, spread };
}
