/**
 * `bench --sim --suite pasid`: the system-PASID benchmark (bench/pasid-bench.ts, reference/pasid.md "Cost
 * per DMA") on the simulated-time executor — the pasid scenario's benchmark loop (bench=1: allocate a
 * buffer, hand it to the device, transfer, take it back, free) on 1 to 256 vCPUs at once, every vCPU a
 * kernel user of the same device, for option 1 (own DMA domain: strict, lazy, IOVA==KVA) and option 2
 * (the kernel's own page table).
 *
 * What the real-thread suite charges as explicit inputs and the simulator sees itself is left to the
 * simulator: the IOVA allocation, the PTE writes and queue_iova are model code whose every access the
 * profile prices (their CostModel inputs are 0 here, so nothing is counted twice). What the simulator
 * cannot see stays explicit, as in bench/pasid-bench.ts's DEFAULT_COSTS: the device's translation miss
 * (walkNs), the transfer (bandwidth, per-job descriptor) and the device-TLB invalidation (the axis, 1 and
 * 4 µs as the real-thread suite). Simplifications: the device's own accesses (its TLB lookups and the
 * page-table walk on a miss) run on the submitting vCPU in the model; their lines are charged to it
 * (the device TLB and the owner tags are untimed: device state and a checker); a 2 MiB buffer per vCPU
 * does not fit the model's memory (4096 pages) beyond a few vCPUs, so a combination whose buffers do not
 * fit is left out with a note.
 */
import { variantOf, withDefaults, type ModelConfig } from '../engine/scenario.js';
import { DEFAULT_COSTS, NOTABLE_PCT, PASID_PATHS, type PasidPath } from '../bench/pasid-bench.js';
import type { PasidPatch } from '../model/pasid/parts.js';
import { COST_NAMES, type CostModel } from '../model/pasid/system-pasid.js';
import type { ChartSection } from '../report/html.js';
import { escapeHtml } from '../report/html-kit.js';
import { pasidScenario } from '../scenarios/pasid.js';
import { runSim } from './executor.js';
import { FLUSHQ_UNTIMED, simInfo, type SimRunInfo, type SimSpeed } from './fq-sim.js';
import type { LoadedProfile } from './profile.js';
import { simBanner, waitsText } from './sim-report.js';

/** The model's memory ceiling (the pasid scenario's memPages maximum). */
const MAX_MEM_PAGES = 4096;

export interface SimPasidOptions {
  readonly cpus: readonly number[];
  readonly sizesPages: readonly number[];
  readonly invCostsNs: readonly number[];
  readonly opsPerCpu: number;
  readonly seed: number;
  readonly profile: LoadedProfile;
}

export interface SimPasidRow {
  readonly path: PasidPath;
  readonly pages: number;
  readonly invCostNs: number;
  readonly cpus: number;
  /** DMAs per simulated second, all vCPUs, while every vCPU still runs. */
  readonly dmasPerSec: number;
  /** Simulated µs per DMA on one vCPU (vCPUs / rate). */
  readonly perDmaUs: number;
  /** The explicit (device-side) costs per DMA, ns: walk, transfer, inval. */
  readonly explicitNs: Readonly<Record<string, number>>;
  readonly invalidationsPerDma: number;
  readonly sim: SimRunInfo;
}

export interface SimPasidResult {
  readonly rows: SimPasidRow[];
  /** Combinations left out, and why. */
  readonly skipped: string[];
}

/** The CPU-side inputs are the simulator's; the device-side ones stay (DEFAULT_COSTS). */
export const SIM_PASID_COSTS: CostModel = { ...DEFAULT_COSTS, allocNs: 0, pteNs: 0, queueNs: 0 };

/** The model's memory for `cpus` users of `pages`-page buffers: three times what is in flight (a quarter of it is kernel data), 64 at least. */
export function pasidMemPages(cpus: number, pages: number): number {
  return Math.max(64, 3 * cpus * pages + 64);
}

function configFor(path: PasidPath, cpus: number, pages: number, invCostNs: number): ModelConfig<PasidPatch> {
  const s = pasidScenario;
  return {
    cpus,
    variant: variantOf(s, path),
    params: withDefaults(s, {
      bench: 1,
      checks: 0,
      maxPages: pages,
      vmallocPermille: 0,
      sampleEvery: 1 << 20,
      strayPermille: 0,
      sharedPermille: 0,
      memPages: pasidMemPages(cpus, pages),
      vmallocPages: 1024,
      spacePfns: 1 << 18,
      invCostNs,
      ...SIM_PASID_COSTS,
    }),
  };
}

/** Harness bookkeeping and device state: the owner tags (a checker), the cost sums, the device TLB. */
const PASID_UNTIMED = [...FLUSHQ_UNTIMED, 'owner.tag', 'cost.ns', 'iotlb.entry', 'iotlb.raw', 'fq.acct'];

export function simPasidBench(o: SimPasidOptions, progress: (s: string) => void, speed: SimSpeed[]): SimPasidResult {
  const rows: SimPasidRow[] = [];
  const skipped: string[] = [];
  for (const pages of o.sizesPages) {
    for (const cpus of o.cpus) {
      if (pasidMemPages(cpus, pages) > MAX_MEM_PAGES) {
        skipped.push(
          `${size(pages)} at ${cpus} vCPUs: ${cpus} buffers of ${pages} pages need ${pasidMemPages(cpus, pages)} pages of model memory (at most ${MAX_MEM_PAGES})`,
        );
        continue;
      }
      for (const path of PASID_PATHS) {
        for (const inv of o.invCostsNs) {
          progress(`pasid sim: ${path}, ${size(pages)}, ${cpus} vCPU(s), invalidation ${inv} ns`);
          const config = configFor(path, cpus, pages, inv);
          const model = pasidScenario.build(config);
          const t0 = performance.now();
          const r = runSim({
            scenario: pasidScenario,
            model,
            opSeed: o.seed,
            opsPerCpu: Array(cpus).fill(o.opsPerCpu),
            profile: o.profile.profile,
            untimed: PASID_UNTIMED,
          });
          speed.push({ steps: r.steps, wallMs: performance.now() - t0 });
          const st = r.stats!;
          const costs = st.costNs as readonly number[];
          const inval = st.invalidations as number;
          const per = (x: number) => (r.ops > 0 ? x / r.ops : 0);
          const rate = r.windowNs > 0 ? r.windowOps / (r.windowNs / 1e9) : 0;
          rows.push({
            path,
            pages,
            invCostNs: inv,
            cpus,
            dmasPerSec: rate,
            perDmaUs: rate > 0 ? (cpus / rate) * 1e6 : 0,
            explicitNs: {
              walk: per(costs[COST_NAMES.indexOf('walk')]!),
              transfer: per(costs[COST_NAMES.indexOf('transfer')]!),
              inval: per(inval * inv),
            },
            invalidationsPerDma: per(inval),
            sim: simInfo(r, cpus),
          });
        }
      }
    }
  }
  return { rows, skipped };
}

const size = (pages: number) => (pages * 4 >= 1024 ? `${(pages * 4) / 1024} MiB` : `${pages * 4} KiB`);
const k = (x: number) =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0);
const us = (ns: number) => (ns / 1000).toFixed(2);

/** Option 2 against option 1 at each size, invalidation cost and vCPU count: the saving per DMA. */
export function simPasidVerdicts(rows: readonly SimPasidRow[]): string[] {
  const out: string[] = [];
  for (const r of rows.filter((x) => x.path === 'shared-kernel-table')) {
    for (const against of ['separate-domain-strict', 'separate-domain'] as const) {
      const o1 = rows.find(
        (x) => x.path === against && x.pages === r.pages && x.invCostNs === r.invCostNs && x.cpus === r.cpus,
      );
      if (!o1 || o1.perDmaUs <= 0) continue;
      const pct = (100 * (o1.perDmaUs - r.perDmaUs)) / o1.perDmaUs;
      out.push(
        `${size(r.pages)}, ${r.cpus} vCPU(s), invalidation ${r.invCostNs} ns: option 2 saves ` +
          `${(o1.perDmaUs - r.perDmaUs).toFixed(2)} us per DMA against ${against} = ${pct.toFixed(1)}%: ` +
          `${pct >= NOTABLE_PCT ? 'NOTABLE' : 'not notable'} (threshold ${NOTABLE_PCT}%)`,
      );
    }
  }
  return out;
}

const HEAD = [
  'path',
  'size',
  'inval ns',
  'vCPUs',
  'DMAs/s (sim)',
  'us/DMA per vCPU',
  'walk',
  'transfer',
  'inval',
  'inv/DMA',
  'waited at (share of vCPU time)',
];

function cells(r: SimPasidRow): string[] {
  return [
    r.path,
    size(r.pages),
    String(r.invCostNs),
    String(r.cpus),
    k(r.dmasPerSec),
    r.perDmaUs.toFixed(2),
    us(r.explicitNs.walk!),
    us(r.explicitNs.transfer!),
    us(r.explicitNs.inval!),
    r.invalidationsPerDma.toFixed(3),
    waitsText(r.sim),
  ];
}

function intro(o: Pick<SimPasidOptions, 'profile' | 'opsPerCpu' | 'seed'>): string[] {
  const c = SIM_PASID_COSTS;
  return [
    simBanner(o.profile, o.opsPerCpu, o.seed),
    'System PASID (reference/pasid.md): option 1 (own DMA domain: strict, lazy, IOVA==KVA) vs option 2 (kernel page ' +
      'table), every vCPU a kernel user of one device. IOVA allocation, PTE writes and queue_iova are priced by the ' +
      `profile; device-side inputs as the real-thread suite: translation miss ${c.walkNs} ns, ${c.bandwidthMBps} MB/s + ` +
      `${c.descNs} ns per job; columns walk..inval in us per DMA.`,
  ];
}

export function simPasidText(res: SimPasidResult, o: SimPasidOptions): string {
  const body = res.rows.map(cells);
  const w = HEAD.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: readonly string[]) =>
    c
      .map((x, i) => (i < 2 || i === 10 ? x.padEnd(w[i]!) : x.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [
    ...intro(o),
    '',
    line(HEAD),
    ...body.map(line),
    '',
    ...simPasidVerdicts(res.rows),
    ...res.skipped.map((s) => `left out: ${s}`),
  ].join('\n');
}

export function simPasidMarkdown(res: SimPasidResult, o: SimPasidOptions): string {
  const [banner, text] = intro(o);
  return [
    `**${banner!.replace('\n', '** ')}`,
    '',
    '## System PASID (simulated)',
    '',
    text!,
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map(() => '---').join('|')}|`,
    ...res.rows.map((r) => `| ${cells(r).join(' | ')} |`),
    '',
    ...simPasidVerdicts(res.rows).map((l) => `- ${l}`),
    ...res.skipped.map((s) => `- left out: ${s}`),
    '',
  ].join('\n');
}

/** bench.html: per-DMA time against vCPUs (log axes), per path, at the highest invalidation cost and each size. */
export function simPasidSections(res: SimPasidResult, o: SimPasidOptions): ChartSection[] {
  const inv = Math.max(...res.rows.map((r) => r.invCostNs));
  const sizes = [...new Set(res.rows.map((r) => r.pages))];
  const [banner, text] = intro(o);
  return [
    {
      heading: `System PASID, simulated (profile ${o.profile.profile.name})`,
      text: `${banner} ${text} ${simPasidVerdicts(res.rows).join(' ')} Profile: ${o.profile.profile.comment}`,
      tables: [
        {
          caption: 'Simulated runs',
          columns: HEAD.map((label, i) => ({ label, num: i >= 2 && i < 10 })),
          rows: res.rows.map((r) => ({ cells: cells(r).map(escapeHtml) })),
        },
      ],
      charts: sizes.map((p) => ({
        kind: 'line' as const,
        title: `Simulated µs per DMA per vCPU vs vCPUs, ${size(p)}, invalidation ${inv} ns`,
        xLabel: 'vCPUs (log)',
        yLabel: 'µs per DMA (simulated)',
        xLog: true,
        yLog: true,
        series: PASID_PATHS.map((path) => ({
          name: path,
          points: res.rows
            .filter((r) => r.path === path && r.pages === p && r.invCostNs === inv && r.perDmaUs > 0)
            .map((r) => [r.cpus, r.perDmaUs] as const),
        })),
      })),
    },
  ];
}
