/**
 * Latency bookkeeping for the DMA benchmark, kept where dma_map_benchmark keeps it (kernel-model.md §8):
 * per-vCPU sums of the latency in units of 100 ns, truncated, and of its square — so the average and
 * standard deviation come out exactly as the kernel tool computes them — plus a log-scale histogram
 * (quarter octaves) for the percentiles that tool lacks. Each vCPU writes only its own slot; the totals
 * are read on the quiescent model after the run.
 */
import { atCpu, type Region, type RegionSpec } from '../../engine/layout.js';

/** Quarter-octave buckets of nanoseconds: bucket k holds [2^(k/4), 2^((k+1)/4)) - 1. */
export const HIST_BUCKETS = 128;

export function bucketOf(ns: number): number {
  return Math.min(HIST_BUCKETS - 1, Math.floor(4 * Math.log2(1 + Math.max(0, ns))));
}

export function bucketUpperNs(k: number): number {
  return 2 ** ((k + 1) / 4) - 1;
}

/** The latency below which a fraction q of the samples fall (bucket upper bound), in ns. */
export function percentileNs(hist: readonly number[], q: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  let seen = 0;
  for (let k = 0; k < hist.length; k++) {
    seen += hist[k]!;
    if (seen >= q * total) return bucketUpperNs(k);
  }
  return bucketUpperNs(hist.length - 1);
}

// f64 words per vCPU: loops, map sum, map sum of squares, unmap sum, unmap sum of squares (100 ns units).
const LOOPS = 0;
const MAP = 1;
const MAP_SQ = 2;
const UNMAP = 3;
const UNMAP_SQ = 4;

export function latencyRegions(): Record<string, RegionSpec> {
  return {
    'lat.sum': { kind: 'f64', count: 5, perCpu: true },
    'lat.hist': { kind: 'i32', count: 2 * HIST_BUCKETS, perCpu: true },
  };
}

export interface MapUnmapLatency {
  readonly loops: number;
  /** dma_map_benchmark's figures, in µs with its truncation: avg and stddev of map and unmap. */
  readonly mapAvgUs: number;
  readonly mapStddevUs: number;
  readonly unmapAvgUs: number;
  readonly unmapStddevUs: number;
  readonly mapHist: readonly number[];
  readonly unmapHist: readonly number[];
}

/** The statistics every dma_map_benchmark-style scenario reports: the benchmark's figures and p50/p99 (ns). */
export function latencyStats(lat: MapUnmapLatency) {
  return {
    loops: lat.loops,
    mapAvgUs: lat.mapAvgUs,
    mapStddevUs: lat.mapStddevUs,
    unmapAvgUs: lat.unmapAvgUs,
    unmapStddevUs: lat.unmapStddevUs,
    mapP50Ns: percentileNs(lat.mapHist, 0.5),
    mapP99Ns: percentileNs(lat.mapHist, 0.99),
    unmapP50Ns: percentileNs(lat.unmapHist, 0.5),
    unmapP99Ns: percentileNs(lat.unmapHist, 0.99),
  };
}

export class Latency {
  constructor(
    private readonly sums: Region,
    private readonly hist: Region,
    private readonly cpus: number,
  ) {}

  /** Record one map/unmap pair of the vCPU `cpu` (plain stores: the slot is this vCPU's alone). */
  record(f64: Float64Array, i32: Int32Array, cpu: number, mapNs: number, unmapNs: number): void {
    const s = atCpu(this.sums, cpu);
    const m = Math.floor(mapNs / 100);
    const u = Math.floor(unmapNs / 100);
    f64[s + LOOPS]! += 1;
    f64[s + MAP]! += m;
    f64[s + MAP_SQ]! += m * m;
    f64[s + UNMAP]! += u;
    f64[s + UNMAP_SQ]! += u * u;
    const h = atCpu(this.hist, cpu);
    i32[h + bucketOf(mapNs)]! += 1;
    i32[h + HIST_BUCKETS + bucketOf(unmapNs)]! += 1;
  }

  /** All vCPUs together, as dma_map_benchmark sums its threads (read on a quiescent model). */
  total(f64: Float64Array, i32: Int32Array): MapUnmapLatency {
    let loops = 0;
    let map = 0;
    let mapSq = 0;
    let unmap = 0;
    let unmapSq = 0;
    const mapHist = Array<number>(HIST_BUCKETS).fill(0);
    const unmapHist = Array<number>(HIST_BUCKETS).fill(0);
    for (let c = 0; c < this.cpus; c++) {
      const s = atCpu(this.sums, c);
      loops += f64[s + LOOPS]!;
      map += f64[s + MAP]!;
      mapSq += f64[s + MAP_SQ]!;
      unmap += f64[s + UNMAP]!;
      unmapSq += f64[s + UNMAP_SQ]!;
      const h = atCpu(this.hist, c);
      for (let k = 0; k < HIST_BUCKETS; k++) {
        mapHist[k]! += i32[h + k]!;
        unmapHist[k]! += i32[h + HIST_BUCKETS + k]!;
      }
    }
    // kernel/dma/map_benchmark.c: avg = sum / loops, stddev = int_sqrt(sum_sq / loops - avg^2), integers.
    const avg = (sum: number) => (loops > 0 ? Math.floor(sum / loops) : 0);
    const sd = (sum: number, sq: number) =>
      loops > 0 ? Math.floor(Math.sqrt(Math.max(0, Math.floor(sq / loops) - avg(sum) ** 2))) : 0;
    return {
      loops,
      mapAvgUs: avg(map) / 10,
      mapStddevUs: sd(map, mapSq) / 10,
      unmapAvgUs: avg(unmap) / 10,
      unmapStddevUs: sd(unmap, unmapSq) / 10,
      mapHist,
      unmapHist,
    };
  }
}
