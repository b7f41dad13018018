/**
 * `bench --sim --suite fq`: the flush-queue benchmark (bench/fq-bench.ts) on the simulated-time executor
 * instead of real threads — the same dma_map_benchmark loop of the flushq scenario, the same rows, but
 * every number is simulated time under a cost profile, for 1 to 256 vCPUs. Each combination is one run
 * (a run is deterministic: repeats would repeat it bit for bit).
 */
import type { ScenarioDef, VariantDef } from '../engine/scenario.js';
import { fqBenchParams, type FqRow } from '../bench/fq-bench.js';
import { flushqScenario, type FlushqPatch } from '../scenarios/flushq.js';
import { runSim, type LockWait, type SimResult } from './executor.js';
import type { LoadedProfile } from './profile.js';

export interface SimFqOptions {
  readonly variants: readonly VariantDef<FlushqPatch>[];
  readonly scenario?: ScenarioDef<FlushqPatch>;
  readonly cpus: readonly number[];
  readonly flushCostsNs: readonly number[];
  readonly serial: boolean;
  readonly transferNs: number;
  readonly pages: number;
  readonly opsPerCpu: number;
  readonly seed: number;
  readonly profile: LoadedProfile;
}

/** What the simulator adds to a row: how it ran (wall time is not part of the simulated numbers). */
export interface SimRunInfo {
  readonly steps: number;
  readonly simNs: number;
  readonly lineTransfers: number;
  /** The three sites where tasks waited longest, with their share of all vCPU time. */
  readonly topWaits: readonly (LockWait & { readonly share: number })[];
  readonly timerFires: number;
}

export type SimFqRow = FqRow & { readonly sim: SimRunInfo };

export interface SimSpeed {
  readonly steps: number;
  readonly wallMs: number;
}

export function simInfo(r: SimResult, cpus: number): SimRunInfo {
  const total = r.makespanNs * cpus;
  return {
    steps: r.steps,
    simNs: r.makespanNs,
    lineTransfers: r.lineTransfers,
    topWaits: r.lockWaits.slice(0, 3).map((w) => ({ ...w, share: total > 0 ? w.waitNs / total : 0 })),
    timerFires: r.timerFires,
  };
}

/**
 * The flushq model's harness bookkeeping, which costs nothing in simulated time: latency sums and
 * histograms, flush and peak statistics, the F1 oracle, the shadow ownership map, the benchmark's buffers.
 */
export const FLUSHQ_UNTIMED = [
  'lat.*',
  'iotlb.flushes',
  'fq.peak',
  'fq.expHist',
  'fq.oracle',
  'fq.clearAt',
  'fq.syncAt',
  'fq.unmapUs',
  'shadow.*',
  'buf.*',
  'fq.users',
  'fq.dying',
];
/** struct iova_fq_entry { unsigned long iova_pfn, pages; struct list_head freelist; u64 counter; }: 40 bytes. */
export const FLUSHQ_STRUCTS = [{ regions: ['fq.pfn', 'fq.pages', 'fq.counter'], structBytes: 40 }];

export function simFqBench(o: SimFqOptions, progress: (s: string) => void, speed: SimSpeed[]): SimFqRow[] {
  const s = o.scenario ?? flushqScenario;
  const rows: SimFqRow[] = [];
  const flush = o.serial ? 'serial' : 'parallel';
  for (const variant of o.variants) {
    for (const cpus of o.cpus) {
      for (const flushCostNs of o.flushCostsNs) {
        progress(`fq sim: ${variant.name}, ${cpus} vCPU(s), flush ${flushCostNs} ns ${flush}, ${o.opsPerCpu} ops each`);
        const params = fqBenchParams(s, o, flushCostNs);
        const model = s.build({ cpus, variant, params });
        const t0 = performance.now();
        const r = runSim({
          scenario: s as ScenarioDef,
          model,
          opSeed: o.seed,
          opsPerCpu: Array(cpus).fill(o.opsPerCpu),
          profile: o.profile.profile,
          variant: variant.name,
          untimed: FLUSHQ_UNTIMED,
          structs: FLUSHQ_STRUCTS,
        });
        speed.push({ steps: r.steps, wallMs: performance.now() - t0 });
        const st = r.stats!;
        const n = (k: string) => st[k] as number;
        const seconds = r.makespanNs / 1e9;
        rows.push({
          mode: variant.name,
          workers: cpus,
          flushCostNs,
          flush,
          transferNs: o.transferNs,
          pages: o.pages,
          seconds,
          mapAvgUs: n('mapAvgUs'),
          mapStddevUs: n('mapStddevUs'),
          unmapAvgUs: n('unmapAvgUs'),
          unmapStddevUs: n('unmapStddevUs'),
          loops: n('loops'),
          // While every vCPU still runs (SimResult.windowNs): not dragged down by the last straggler.
          throughput: r.windowNs > 0 ? r.windowOps / (r.windowNs / 1e9) : 0,
          mapP50Us: n('mapP50Ns') / 1000,
          mapP99Us: n('mapP99Ns') / 1000,
          unmapP50Us: n('unmapP50Ns') / 1000,
          unmapP99Us: n('unmapP99Ns') / 1000,
          flushesPer1kUnmaps: n('loops') > 0 ? (1000 * n('flushes')) / n('loops') : 0,
          peakQueued: n('peakQueued'),
          exposureP50Us: n('exposureP50Ns') / 1000,
          exposureP99Us: n('exposureP99Ns') / 1000,
          exposureHist: st.exposureHist as readonly number[],
          sim: simInfo(r, cpus),
        });
      }
    }
  }
  return rows;
}
