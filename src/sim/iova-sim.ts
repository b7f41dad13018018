/**
 * `bench --sim --suite iova`: kernel-model.md §9 #3 / §2.5 (ZZK-DEPOT) on the simulated-time executor —
 * IOVAs allocated on most vCPUs and freed by `freers` IRQ vCPUs (the iova scenario's bench shape 3), for
 * each variant benched (by default the list depot, `correct`, against the fixed 32-magazine depot,
 * `fixed-depot`). The IRQ vCPUs fill magazines the allocating vCPUs need; whatever the depot cannot hold
 * goes back to the rbtree and comes out of it again under iova_rbtree_lock — the contention to show.
 */
import { withDefaults, type ScenarioDef, type VariantDef } from '../engine/scenario.js';
import type { IovaPatch } from '../model/iova/patch.js';
import type { ChartSection } from '../report/html.js';
import { escapeHtml } from '../report/html-kit.js';
import { iovaScenario } from '../scenarios/iova.js';
import { runSim, type SimResult } from './executor.js';
import { buildIovaBurst } from './iova-burst.js';
import { simInfo, type SimRunInfo, type SimSpeed } from './fq-sim.js';
import type { LoadedProfile } from './profile.js';
import { simBanner, waitsText } from './sim-report.js';

export interface SimIovaOptions {
  readonly variants: readonly VariantDef<IovaPatch>[];
  readonly scenario?: ScenarioDef<IovaPatch>;
  readonly cpus: readonly number[];
  /** IRQ vCPUs (at most half of the vCPUs of a run). */
  readonly freers: number;
  readonly opsPerCpu: number;
  readonly seed: number;
  readonly profile: LoadedProfile;
  /**
   * The op shape: `irq` = the iova scenario's bench shape 3 (one range in flight per allocating vCPU,
   * mixed sizes); `burst` = deep queues freed in bursts (iova-burst.ts), the published report's shape.
   */
  readonly shape: IovaShape;
  /** burst: mappings per burst (queue depth of an allocating vCPU). */
  readonly depth: number;
}

export type IovaShape = 'irq' | 'burst';
export const IOVA_SHAPES: readonly IovaShape[] = ['irq', 'burst'];

/** How the range caches were used over a run (bucket 0..5 summed): the depot's traffic and the rbtree's. */
export interface DepotTraffic {
  /** Full magazines pushed to a depot (iova_depot_push, or the fixed depot's depot[depot_size++]). */
  readonly pushes: number;
  /** Depot pop tries: a vCPU whose loaded and prev were empty looked at the depot (a hit, or a miss that goes on to the rbtree). */
  readonly pops: number;
  /** Magazines whose ranges went back to the rbtree (fixed depot full; the list depot's trim work). */
  readonly magsToTree: number;
  /** alloc_iova calls on the rbtree (a range-cache miss). */
  readonly treeAllocs: number;
}

export interface SimIovaRow {
  readonly variant: string;
  readonly cpus: number;
  readonly freers: number;
  readonly allocating: number;
  /**
   * Allocations (each later freed by an IRQ vCPU) per simulated second, all allocating vCPUs, from the
   * time half of them were done until the first allocating vCPU finished (steadyRate): the first half
   * fills the empty caches through the rbtree (a cold start).
   */
  readonly allocsPerSec: number;
  /** The same over the whole run, cold start included. */
  readonly allocsPerSecAll: number;
  /** Share of all vCPU time spent waiting for iova_rbtree_lock. */
  readonly rbtreeLockShare: number;
  readonly traffic: DepotTraffic;
  readonly sim: SimRunInfo;
}

// The space is large enough that the caches of 256 vCPUs (per bucket, 2 magazines of 127 ranges of up to 32
// granules each) cannot exhaust it: with 2^20 granules the list depot's 256-vCPU run ran out and spent its
// time in the flush-all path (free_cpu_cached_iovas of every CPU) — the geometry's effect, not the depot's.
const PARAMS = { spacePfns: 1 << 22, dma32Pfn: 1 << 21, resvPfns: 0, warm: 0, warmDepot: 0, checks: 0, bench: 3 };

/**
 * Allocations per simulated second past the cold start and before the first allocating vCPU finished:
 * from the time half of all allocations were done to the first finish (or to the end, when the first
 * finish came earlier).
 */
function steadyRate(r: SimResult): number {
  const half = Math.ceil(r.ops / 2);
  if (r.windowNs > r.halfNs && r.windowOps > half) return (r.windowOps - half) / ((r.windowNs - r.halfNs) / 1e9);
  return r.makespanNs > r.halfNs ? (r.ops - half) / ((r.makespanNs - r.halfNs) / 1e9) : 0;
}

/**
 * The depot's and the rbtree's traffic, from the steps taken at their sites (one step per call there:
 * each of these sites is yielded once per push, pop, magazine free or tree allocation).
 */
function depotTraffic(steps: ReadonlyMap<string, number>): DepotTraffic {
  const sum = (pred: (site: string) => boolean) => {
    let n = 0;
    for (const [site, k] of steps) if (pred(site)) n += k;
    return n;
  };
  return {
    pushes: sum((x) => x.endsWith('iova_depot_push')),
    pops: sum((x) => x.endsWith('iova_depot_pop')),
    magsToTree: sum((x) => x.endsWith('magazine_free_pfns (rbtree erase)')),
    treeAllocs: sum((x) => x === 'rbtree alloc_iova'),
  };
}

/** IRQ vCPUs of a run: the requested number, but never more than half of the vCPUs (at least 1). */
export function freersOf(cpus: number, freers: number): number {
  return Math.max(1, Math.min(freers, Math.floor(cpus / 2)));
}

export function simIovaBench(o: SimIovaOptions, progress: (s: string) => void, speed: SimSpeed[]): SimIovaRow[] {
  const s = o.scenario ?? iovaScenario;
  const rows: SimIovaRow[] = [];
  for (const variant of o.variants) {
    for (const cpus of o.cpus) {
      if (cpus < 2) continue; // one vCPU cannot both allocate and free on another
      const freers = freersOf(cpus, o.freers);
      progress(
        `iova sim (${o.shape}): ${variant.name}, ${cpus} vCPUs (${freers} freeing), ${o.opsPerCpu} allocations each`,
      );
      const burst = o.shape === 'burst';
      // A burst op allocates `depth` ranges: the allocating vCPUs run opsPerCpu / depth of them.
      const perOp = burst ? o.depth : 1;
      const model = burst
        ? buildIovaBurst({ cpus, variant, params: {} }, { freers, depth: o.depth, spacePfns: PARAMS.spacePfns })
        : s.build({ cpus, variant, params: withDefaults(s, { ...PARAMS, freers }) });
      const t0 = performance.now();
      const r = runSim({
        scenario: s as ScenarioDef,
        model,
        opSeed: o.seed,
        opsPerCpu: Array.from({ length: cpus }, (_, c) => (c < freers ? 0 : Math.ceil(o.opsPerCpu / perOp))),
        endless: Array.from({ length: cpus }, (_, c) => c < freers),
        profile: o.profile.profile,
        variant: variant.name,
        untimed: ['shadow.*'],
        countSites: true,
      });
      speed.push({ steps: r.steps, wallMs: performance.now() - t0 });
      const total = r.makespanNs * cpus;
      const rb = r.lockWaits.filter((w) => w.site.includes('rbtree')).reduce((a, w) => a + w.waitNs, 0);
      rows.push({
        variant: variant.name,
        cpus,
        freers,
        allocating: cpus - freers,
        allocsPerSec: perOp * steadyRate(r),
        allocsPerSecAll: r.makespanNs > 0 ? (perOp * r.ops) / (r.makespanNs / 1e9) : 0,
        rbtreeLockShare: total > 0 ? rb / total : 0,
        traffic: depotTraffic(r.siteSteps!),
        sim: simInfo(r, cpus),
      });
    }
  }
  return rows;
}

const k = (x: number) =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function vsFirst(rows: readonly SimIovaRow[], r: SimIovaRow): string {
  const b = rows.find((x) => x.cpus === r.cpus && x.variant === rows[0]!.variant);
  return b && b.allocsPerSec > 0 ? `${(r.allocsPerSec / b.allocsPerSec).toFixed(2)}x` : '-';
}

/** pushes / pops / magazines back to the rbtree / rbtree allocations. */
const trafficText = (t: DepotTraffic) => `${t.pushes} / ${t.pops} / ${t.magsToTree} / ${t.treeAllocs}`;
const TRAFFIC_HEAD = 'depot pushes / pop tries / mags to rbtree / rbtree allocs';

/** What the run's op shape is, in one sentence. */
function shapeText(o: Pick<SimIovaOptions, 'shape' | 'depth' | 'freers'>): string {
  return o.shape === 'burst'
    ? `Burst shape (kernel-model.md §9 #3): every vCPU but the first ${o.freers} (at most half) maps bursts of ${o.depth} x 4 KiB (bucket 0), submits them and waits for their completion; those IRQ vCPUs free each burst range by range.`
    : `IOVAs allocated on every vCPU but the first ${o.freers} (at most half), freed by those (kernel-model.md §9 #3); one range in flight per allocating vCPU, mixed sizes.`;
}

const TRAFFIC_NOTE =
  'Depot pushes count every full magazine a freeing CPU handed on (the fixed depot counts the attempts that found it full too); pop tries count every look at the depot by a vCPU whose loaded and prev were empty, hit or miss; mags to rbtree = magazines whose 127 ranges went back to the rbtree under iova_rbtree_lock (fixed depot full, or the list depot trim work); rbtree allocs = range-cache misses.';

type TextOpts = Pick<SimIovaOptions, 'profile' | 'opsPerCpu' | 'seed' | 'shape' | 'depth' | 'freers'>;

export function simIovaText(rows: readonly SimIovaRow[], o: TextOpts): string {
  const head = [
    'variant',
    'vCPUs',
    'freeing',
    'allocs/s (sim, steady)',
    'whole run',
    `vs ${rows[0]?.variant ?? '-'}`,
    'rbtree lock wait (whole run)',
    TRAFFIC_HEAD,
    'waited at (share of vCPU time)',
  ];
  const body = rows.map((r) => [
    r.variant,
    String(r.cpus),
    String(r.freers),
    k(r.allocsPerSec),
    k(r.allocsPerSecAll),
    vsFirst(rows, r),
    pct(r.rbtreeLockShare),
    trafficText(r.traffic),
    waitsText(r.sim),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 || i === 8 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [
    simBanner(o.profile, o.opsPerCpu, o.seed),
    shapeText(o),
    '',
    line(head),
    ...body.map(line),
    '',
    TRAFFIC_NOTE,
  ].join('\n');
}

export function simIovaMarkdown(rows: readonly SimIovaRow[], o: TextOpts): string {
  return [
    `**${simBanner(o.profile, o.opsPerCpu, o.seed).replace('\n', '** ')}`,
    '',
    `## IOVA depot, ${o.shape} shape, ${o.freers} IRQ vCPUs freeing (simulated)`,
    '',
    shapeText(o),
    '',
    `| variant | vCPUs | freeing | allocs/s (sim, 2nd half) | whole run | vs ${rows[0]?.variant ?? '-'} | rbtree lock wait (whole run) | ${TRAFFIC_HEAD} | waited at |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.variant} | ${r.cpus} | ${r.freers} | ${Math.round(r.allocsPerSec)} | ${Math.round(r.allocsPerSecAll)} | ${vsFirst(rows, r)} | ${pct(r.rbtreeLockShare)} | ${trafficText(r.traffic)} | ${waitsText(r.sim)} |`,
    ),
    '',
    TRAFFIC_NOTE,
    '',
  ].join('\n');
}

export function simIovaSections(rows: readonly SimIovaRow[], o: TextOpts): ChartSection[] {
  const variants = [...new Set(rows.map((r) => r.variant))];
  const p = o.profile;
  return [
    {
      heading: `IOVA depot, ${o.shape} shape, simulated (profile ${p.profile.name})`,
      text: `${simBanner(p, o.opsPerCpu, o.seed)} ${shapeText(o)} ${TRAFFIC_NOTE} Profile: ${p.profile.comment}`,
      tables: [
        {
          caption: 'Simulated runs',
          columns: [
            { label: 'variant' },
            { label: 'vCPUs', num: true },
            { label: 'freeing', num: true },
            { label: 'allocs/s (sim, 2nd half)', num: true },
            { label: 'whole run', num: true },
            { label: 'rbtree lock wait (whole run)', num: true },
            { label: TRAFFIC_HEAD, num: true },
            { label: 'waited at (share of vCPU time)' },
          ],
          rows: rows.map((r) => ({
            cells: [
              escapeHtml(r.variant),
              String(r.cpus),
              String(r.freers),
              String(Math.round(r.allocsPerSec)),
              String(Math.round(r.allocsPerSecAll)),
              pct(r.rbtreeLockShare),
              trafficText(r.traffic),
              escapeHtml(waitsText(r.sim)),
            ],
          })),
        },
      ],
      charts: [
        {
          kind: 'line',
          title: 'Simulated allocations/s vs vCPUs',
          xLabel: 'vCPUs (log)',
          yLabel: 'allocations/s (simulated)',
          xLog: true,
          yLog: true,
          series: variants.map((v) => ({
            name: v,
            points: rows
              .filter((r) => r.variant === v && r.allocsPerSec > 0)
              .map((r) => [r.cpus, r.allocsPerSec] as const),
          })),
        },
        {
          kind: 'line',
          title: 'Share of vCPU time waiting for iova_rbtree_lock',
          xLabel: 'vCPUs (log)',
          yLabel: '% of vCPU time',
          xLog: true,
          series: variants.map((v) => ({
            name: v,
            points: rows.filter((r) => r.variant === v).map((r) => [r.cpus, 100 * r.rbtreeLockShare] as const),
          })),
        },
      ],
    },
  ];
}
