/**
 * `bench`: the benchmarks — the engine (`--suite engine`, the default), the IOVA allocator (`iova`), the
 * flush queues (`fq`, or any `--fq` flag: per-CPU vs single vs strict, kernel-model.md §3.5), map_sg
 * designs and the two-step IOVA API (`mapsg`, or --hypercall-cost / --segs: kernel-model.md §5.4, §7), the system-PASID
 * options (`pasid`: reference/pasid.md), or `all`.
 * `--scenario-file F --variant V[,V...]` (or `--scenario S`) runs the benchmark loop of the variants'
 * scenario on them; `--compare A B` prints what changed between two reports. Every suite runs
 * `--repeats` times: each mean comes with its min–max. Every number is measured in the same run as the
 * raw Atomics baseline, so ratios are what to quote. Results go to the terminal and to reports/<run-id>/
 * (report.json, summary.md, bench.html), or --report-dir.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { compareMeasurements, comparisonText, measurementsOf } from '../bench/compare.js';
import { engineBench } from '../bench/engine-bench.js';
import { benchText } from '../bench/engine-text.js';
import { FQ_MODES, fqBench, fqBenchVariants, fqMicro, type FqMode, type FqRow } from '../bench/fq-bench.js';
import { bareMetalCosts, OVERHEAD_FACTOR, overheadCaveat, overheadChecks } from '../bench/overhead-caveat.js';
import { fqBenchMarkdown, fqBenchSections, fqBenchText } from '../bench/fq-report.js';
import { iovaBench, iovaBenchText, type IovaBenchOptions, type IovaBench } from '../bench/iova-bench.js';
import {
  MAPSG_DESIGNS,
  mapsgBench,
  mapsgBenchMarkdown,
  mapsgBenchSections,
  mapsgBenchText,
  type IovaApiRow,
  type MapsgRow,
} from '../bench/mapsg-bench.js';
import { medianRows, range } from '../bench/spread.js';
import { spreadMarkdown, spreadTable, spreadText } from '../bench/spread-report.js';
import { variantBench, variantBenchMarkdown, variantBenchText } from '../bench/variant-bench.js';
import type { ScenarioDef, VariantDef } from '../engine/scenario.js';
import {
  pasidBench,
  pasidBenchMarkdown,
  pasidBenchOptions,
  pasidBenchSections,
  pasidBenchText,
} from '../bench/pasid-bench.js';
import { renderBenchHtml } from '../report/html.js';
import { newRunId, writeReportFiles } from '../report/report.js';
import { addedVariants, loadScenarioFile, scenarioModulePath, sourceFile } from '../scenarios/registry.js';
import { BadInput, EXIT } from '../errors.js';
import type { Io } from './io.js';
import { checkOutputDir, lookupScenario, lookupVariant, parseDuration, parseInteger, parseSeed } from './parse.js';
import type { FlushqPatch } from '../scenarios/flushq.js';
import type { IovaPatch } from '../model/iova/patch.js';
import type { MapsgPatch } from '../scenarios/mapsg.js';

export interface BenchFlags {
  time?: string;
  ops?: string;
  suite?: string;
  fq?: string;
  workers?: string;
  flushCost?: string;
  flush?: string;
  transfer?: string;
  granule?: string;
  hypercallCost?: string;
  segs?: string;
  seed?: string;
  json?: boolean;
  reportDir?: string;
  scenario?: string;
  scenarioFile?: string;
  variant?: string;
  repeats?: string;
  stressDetection?: boolean;
  detectionSeeds?: string;
  compare?: string[];
  /** Simulated time instead of real threads (src/sim/, src/cli/bench-sim.ts). */
  sim?: boolean;
  cpus?: string;
  profile?: string;
  calibrate?: boolean;
  /** sim iova: the op shape (src/sim/iova-sim.ts), the burst shape's queue depth, the IRQ vCPUs. */
  shape?: string;
  depth?: string;
  freers?: string;
}

const SUITES = ['engine', 'iova', 'fq', 'mapsg', 'pasid', 'variants', 'all'] as const;
type Suite = (typeof SUITES)[number];

/** Which suite's loop benchmarks a scenario's variants; any other scenario runs its stress op program (variants). */
const SUITE_OF: Readonly<Record<string, Suite>> = { flushq: 'fq', iova: 'iova', mapsg: 'mapsg', 'dma-iova': 'mapsg' };

/** The machine the numbers come from, for the report (numbers mean nothing without it). */
export function machine(): string {
  return `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/** The same, as fields (report.json). */
export function host(): { cpu: string; cores: number; memGiB: number; node: string } {
  return {
    cpu: cpus()[0]?.model ?? 'unknown CPU',
    cores: availableParallelism(),
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** A comma-separated flag value, empty items refused (also for bench-sim.ts). */
export const list = (flag: string, text: string): string[] => {
  const items = text.split(',').map((t) => t.trim());
  if (items.some((t) => t === '')) throw new BadInput(`${flag}: '${text}' has an empty item`);
  return items;
};

/** The variants to bench (`--variant`, `--scenario`, `--scenario-file`), resolved before any work. */
export interface VariantTarget {
  readonly scenario: ScenarioDef;
  readonly variants: readonly VariantDef[];
  readonly suite: Suite;
  /** The compiled module of the scenario file, for the workers. */
  readonly modulePath: string | undefined;
}

export async function variantTarget(f: BenchFlags): Promise<VariantTarget | undefined> {
  if (f.scenarioFile === undefined && f.scenario === undefined && f.variant === undefined) return undefined;
  const modulePath = f.scenarioFile !== undefined ? scenarioModulePath(f.scenarioFile) : undefined;
  const fromFile = modulePath !== undefined ? await loadScenarioFile(modulePath, f.scenarioFile) : undefined;
  if (f.scenario === undefined && fromFile === undefined)
    throw new BadInput('--variant needs the scenario: --scenario NAME or --scenario-file FILE');
  const scenario = f.scenario !== undefined ? lookupScenario(f.scenario) : fromFile!;
  // By default: what the file added, next to the scenario's built-in variants expected clean (the baselines).
  const added = addedVariants(scenario.name);
  const variants =
    f.variant !== undefined
      ? [...new Set(list('--variant', f.variant))].map((n) => lookupVariant(scenario, n))
      : sourceFile(scenario.name) !== undefined && added.length === 0
        ? [...scenario.variants]
        : [...scenario.variants.filter((v) => v.expect === 'clean' && !added.includes(v)), ...added];
  const builtIn = sourceFile(scenario.name) === undefined || added.length > 0;
  const suite = (builtIn ? SUITE_OF[scenario.name] : undefined) ?? 'variants';
  if (f.suite !== undefined && f.suite !== suite) {
    throw new BadInput(
      `--suite ${f.suite}: the variants of ${scenario.name} are benchmarked by the ${suite} suite (leave --suite out)`,
    );
  }
  if (f.fq !== undefined)
    throw new BadInput(
      '--fq names flush-queue modes: with --variant, name variants instead (e.g. --scenario flushq --variant percpu,single)',
    );
  return { scenario, variants, suite, modulePath };
}

export async function benchCommand(f: BenchFlags, io: Io): Promise<number> {
  if (f.compare !== undefined) return compareCommand(f, io);
  const target = await variantTarget(f);
  const fqGiven = [f.fq, f.flushCost, f.flush, f.transfer, f.granule].some((x) => x !== undefined);
  const mapsgGiven = [f.hypercallCost, f.segs].some((x) => x !== undefined);
  const suite = (target?.suite ?? f.suite ?? (fqGiven ? 'fq' : mapsgGiven ? 'mapsg' : 'engine')) as Suite;
  if (!SUITES.includes(suite)) throw new BadInput(`--suite: '${f.suite}' is not one of ${SUITES.join(', ')}`);
  if (suite === 'variants' && !target)
    throw new BadInput('--suite variants needs --variant with --scenario NAME or --scenario-file FILE');
  if (fqGiven && suite !== 'fq' && suite !== 'all')
    throw new BadInput(
      `--fq, --flush-cost, --flush, --transfer and --granule belong to the fq suite, not --suite ${suite}`,
    );
  if (mapsgGiven && suite !== 'mapsg' && suite !== 'all')
    throw new BadInput(`--hypercall-cost and --segs belong to the mapsg suite, not --suite ${suite}`);
  const timeMs = parseDuration('--time', f.time ?? '2s');
  const repeats = f.repeats !== undefined ? parseInteger('--repeats', f.repeats, 1, 100) : 3;
  // The engine suite's detection table: PCT seeds per known-bug variant (20; barrier bugs under weak: 5).
  const detectionSeeds =
    f.detectionSeeds !== undefined ? parseInteger('--detection-seeds', f.detectionSeeds, 1, 100) : undefined;
  if (f.ops !== undefined && f.time !== undefined)
    throw new BadInput('--ops and --time exclude each other (--ops: a fixed amount of work per measurement)');
  const opBudget = f.ops !== undefined ? parseInteger('--ops', f.ops, 1, 1e9) : undefined;
  if (f.reportDir !== undefined) checkOutputDir('--report-dir', f.reportDir);
  const workers = (f.workers !== undefined ? list('--workers', f.workers) : ['1', '2']).map((w) =>
    parseInteger('--workers', w, 1, 64),
  );
  const seed = f.seed !== undefined ? parseSeed('--seed', f.seed) : 1;
  const fqOpts =
    suite === 'fq' || suite === 'all'
      ? {
          // SUITE_OF sent only flushq's variants here, so their patches are FlushqPatch.
          ...(target
            ? {
                variants: target.variants as readonly VariantDef<FlushqPatch>[],
                scenario: target.scenario as ScenarioDef<FlushqPatch>,
                scenarioFile: target.modulePath,
              }
            : {}),
          modes: (f.fq !== undefined ? list('--fq', f.fq) : [...FQ_MODES]).map((m) => {
            if (!(FQ_MODES as readonly string[]).includes(m))
              throw new BadInput(`--fq: '${m}' is not one of ${FQ_MODES.join(', ')}`);
            return m as FqMode;
          }),
          workers,
          flushCostsNs: (f.flushCost !== undefined ? list('--flush-cost', f.flushCost) : ['0', '10000', '100000']).map(
            (c) => parseInteger('--flush-cost', c, 0, 10_000_000),
          ),
          serial: (() => {
            const m = f.flush ?? 'parallel';
            if (m !== 'serial' && m !== 'parallel') throw new BadInput(`--flush: '${m}' is not serial or parallel`);
            return m === 'serial';
          })(),
          transferNs: f.transfer !== undefined ? parseInteger('--transfer', f.transfer, 0, 10_000_000) : 0,
          pages: f.granule !== undefined ? parseInteger('--granule', f.granule, 1, 64) : 1,
          timeMs,
          opBudget,
          seed,
        }
      : undefined;
  const mapsgOpts =
    suite === 'mapsg' || suite === 'all'
      ? {
          ...(target && target.scenario.name === 'mapsg'
            ? {
                variants: target.variants as readonly VariantDef<MapsgPatch>[],
                scenario: target.scenario as ScenarioDef<MapsgPatch>,
                scenarioFile: target.modulePath,
              }
            : {}),
          designs: target?.scenario.name === 'dma-iova' ? [] : MAPSG_DESIGNS,
          workers,
          hypercallNs: (f.hypercallCost !== undefined
            ? list('--hypercall-cost', f.hypercallCost)
            : ['0', '1000', '10000']
          ).map((c) => parseInteger('--hypercall-cost', c, 0, 10_000_000)),
          segs: (f.segs !== undefined ? list('--segs', f.segs) : ['4', '16']).map((c) =>
            parseInteger('--segs', c, 1, 64),
          ),
          timeMs,
          opBudget,
          seed,
        }
      : undefined;
  if (!fqOpts && !mapsgOpts && f.ops !== undefined)
    throw new BadInput('--ops belongs to the fq and mapsg suites (the engine and iova suites are timed)');
  if (!fqOpts && !mapsgOpts && suite !== 'variants' && suite !== 'iova' && f.seed !== undefined) {
    throw new BadInput(
      `--seed belongs to the fq, iova, mapsg and variants suites ` +
        `(the ${suite} suite runs its own fixed seeds, so the numbers compare across runs)`,
    );
  }
  if (!fqOpts && !mapsgOpts && suite !== 'variants' && f.workers !== undefined) {
    throw new BadInput(
      '--workers belongs to the fq, mapsg and variants suites (the engine and iova suites measure 1 and 2 workers themselves)',
    );
  }

  const startedAt = new Date();
  const engine =
    suite === 'engine' || suite === 'all'
      ? await engineBench(timeMs, io.progress, repeats, { stressDetection: f.stressDetection === true, detectionSeeds })
      : undefined;
  const iovaOpts: IovaBenchOptions =
    target && suite === 'iova'
      ? {
          scenario: target.scenario as ScenarioDef<IovaPatch>,
          variants: target.variants as readonly VariantDef<IovaPatch>[],
          scenarioFile: target.modulePath,
          seed,
        }
      : {};
  const iova =
    suite === 'iova' || suite === 'all' ? await repeatIova(timeMs, repeats, io.progress, iovaOpts) : undefined;
  const fqRows = fqOpts ? await repeatFq(fqOpts, repeats, io.progress) : undefined;
  const fq =
    fqOpts && fqRows
      ? {
          options: fqOpts,
          repeats,
          rows: fqRows,
          micro: await fqMicro(Math.min(timeMs, 1_000)),
          // The measured 0 ns pairs against the bare-metal profile, simulated (overhead-caveat.ts).
          overhead: {
            factorLimit: OVERHEAD_FACTOR,
            checks: overheadChecks(fqRows, bareMetalCosts(fqRows, fqBenchVariants(fqOpts), fqOpts.scenario)),
          },
        }
      : undefined;
  const caveats = fq ? [overheadCaveat(fq.overhead.checks)].filter((c): c is string => c !== undefined) : [];
  const mapsg = mapsgOpts
    ? { options: mapsgOpts, repeats, ...(await repeatMapsg(mapsgOpts, repeats, io.progress)) }
    : undefined;
  // The pasid suite is a cost model (explicit modelled costs), not a timed run: it has no repeats to take.
  const pasid = suite === 'pasid' || suite === 'all' ? pasidBench(pasidBenchOptions(timeMs), io.progress) : undefined;
  const variants =
    suite === 'variants' && target
      ? {
          scenario: target.scenario.name,
          repeats,
          workers,
          timeMs,
          rows: await variantBench(
            {
              scenario: target.scenario,
              variants: target.variants,
              workers,
              timeMs,
              seed,
              repeats,
              scenarioFile: target.modulePath,
              fileOf: (v) => sourceFile(target.scenario.name, v.name),
            },
            io.progress,
          ),
        }
      : undefined;

  const doc = {
    tool: 'iommu-stress',
    kind: 'bench',
    suite,
    command: io.commandLine,
    machine: machine(),
    host: host(),
    caveats,
    startedAt: startedAt.toISOString(),
    repeats,
    ...(target
      ? {
          scenario: target.scenario.name,
          benched: target.variants.map((v) => ({
            name: v.name,
            file: sourceFile(target.scenario.name, v.name) ?? null,
          })),
        }
      : {}),
    ...(engine ? { engine } : {}),
    ...(iova ? { iova } : {}),
    ...(fq ? { fq } : {}),
    ...(mapsg ? { mapsg } : {}),
    ...(pasid ? { pasid } : {}),
    ...(variants ? { variants } : {}),
  };
  // Suites whose own tables show one mean per combination get the spread table beside them.
  const spreads = measurementsOf(doc as unknown as Record<string, unknown>).filter(
    (m) => m.suite !== 'engine' && m.suite !== 'variants',
  );
  const text = [
    engine ? benchText(engine) : '',
    iova ? `${iovaBenchText(iova)}\n${iovaRatioSpread(iova)}` : '',
    fq ? fqBenchText(fq.rows, fq.micro) : '',
    mapsg ? mapsgBenchText(mapsg) : '',
    pasid ? pasidBenchText(pasid) : '',
    variants ? variantBenchText(variants.rows) : '',
    spreads.length > 0 ? spreadText(spreads, repeats) : '',
    ...caveats.map((c) => `caveat: ${c}`),
  ]
    .filter(Boolean)
    .join('\n\n');
  const summary = [
    `# iommu-stress bench (${suite})`,
    '',
    `\`${io.commandLine}\``,
    '',
    `Machine: ${machine()}; started ${startedAt.toISOString()}`,
    '',
    ...caveats.flatMap((c) => [`> **Caveat:** ${c}`, '']),
    ...(fq ? [fqBenchMarkdown(fq.rows)] : []),
    ...(mapsg ? [mapsgBenchMarkdown(mapsg)] : []),
    ...(pasid ? [pasidBenchMarkdown(pasid)] : []),
    ...(variants ? [variantBenchMarkdown(variants.rows)] : []),
    ...(spreads.length > 0 ? [spreadMarkdown(spreads, repeats)] : []),
    ...(engine || iova
      ? ['```', [engine ? benchText(engine) : '', iova ? iovaBenchText(iova) : ''].filter(Boolean).join('\n\n'), '```']
      : []),
  ].join('\n');
  const html = renderBenchHtml(engine ?? null, {
    command: io.commandLine,
    generatedAt: startedAt.toISOString(),
    machine: machine(),
    caveats,
    sections: [
      ...(fq ? fqBenchSections(fq.rows) : []),
      ...(mapsg ? mapsgBenchSections(mapsg) : []),
      ...(pasid ? pasidBenchSections(pasid) : []),
      ...(spreads.length > 0 || variants
        ? [
            {
              heading: 'Spread over repeats',
              text: `Each row is the median of ${repeats} run(s); min–max of each mean over them.`,
              charts: [],
              tables: [
                spreadTable(
                  measurementsOf(doc as unknown as Record<string, unknown>).filter((m) => m.suite !== 'engine'),
                  repeats,
                ),
              ],
            },
          ]
        : []),
    ],
  });
  const dirs = writeReportFiles(
    {
      'report.json': `${JSON.stringify(doc, null, 2)}\n`,
      'summary.md': `${summary}\n`,
      'bench.html': html,
    },
    `${newRunId(startedAt)}-bench`,
    f.reportDir,
  );
  if (f.json) {
    io.err(text); // the table for a human watching; stdout stays one JSON document
    io.out(JSON.stringify({ ...doc, reportDirs: dirs }, null, 2));
  } else {
    io.out(text);
    io.out(`\nreport: ${dirs[0]}`);
  }
  return EXIT.ok;
}

async function repeatFq(
  o: Parameters<typeof fqBench>[0],
  repeats: number,
  progress: (s: string) => void,
): Promise<(FqRow & { repeats: number })[]> {
  const runs: FqRow[][] = [];
  for (let k = 0; k < repeats; k++)
    runs.push(await fqBench({ ...o, seed: o.seed + k }, (s) => progress(`${s} (run ${k + 1} of ${repeats})`)));
  return medianRows(
    runs,
    (r) => r.throughput,
    ['throughput', 'mapAvgUs', 'unmapAvgUs', 'flushesPer1kUnmaps'],
    (r) => r.loops > 0,
  );
}

async function repeatMapsg(
  o: Parameters<typeof mapsgBench>[0],
  repeats: number,
  progress: (s: string) => void,
): Promise<{ rows: MapsgRow[]; iova: IovaApiRow[] }> {
  const runs: { rows: MapsgRow[]; iova: IovaApiRow[] }[] = [];
  for (let k = 0; k < repeats; k++)
    runs.push(await mapsgBench({ ...o, seed: o.seed + k }, (s) => progress(`${s} (run ${k + 1} of ${repeats})`)));
  return {
    rows: medianRows(
      runs.map((r) => r.rows),
      (r) => r.throughput,
      ['throughput', 'mapAvgUs', 'unmapAvgUs', 'mapHypercallsPerCall'],
      (r) => r.loops > 0,
    ),
    iova: medianRows(
      runs.map((r) => r.iova),
      (r) => r.throughput,
      ['throughput', 'mapAvgUs', 'unmapAvgUs'],
      (r) => r.loops > 0,
    ),
  };
}

/** The iova suite `repeats` times: median rates with their min–max, and each ratio's median and min–max. */
type ScalarIovaRatio = Exclude<keyof IovaBench['ratios'], 'vsBaseline'>;

async function repeatIova(
  timeMs: number,
  repeats: number,
  progress: (s: string) => void,
  opts: IovaBenchOptions,
): Promise<IovaBench & { repeats: number; ratioSpread: Record<string, { min: number; max: number }> }> {
  const runs: IovaBench[] = [];
  for (let k = 0; k < repeats; k++) {
    const seed = opts.seed !== undefined ? opts.seed + k : undefined;
    runs.push(
      await iovaBench(timeMs, (s) => progress(`${s} (run ${k + 1} of ${repeats})`), {
        ...opts,
        ...(seed !== undefined ? { seed } : {}),
      }),
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  // The scalar ratios get a median and a min–max; vsBaseline (one entry per variant) is taken from the median run.
  const keys = (Object.keys(runs[0]!.ratios) as (keyof IovaBench['ratios'])[]).filter(
    (k) => k !== 'vsBaseline',
  ) as ScalarIovaRatio[];
  const scalar = Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r.ratios[k]))]));
  const ratioSpread = Object.fromEntries(keys.map((k) => [k, range(runs.map((r) => r.ratios[k]))]));
  const mid = [...runs].sort((a, b) => a.ratios.cacheOverTree1 - b.ratios.cacheOverTree1)[
    Math.floor((runs.length - 1) / 2)
  ]!;
  const ratios = { ...scalar, vsBaseline: mid.ratios.vsBaseline } as IovaBench['ratios'];
  return {
    atomicsAddNs: median(runs.map((r) => r.atomicsAddNs)),
    stepNs: median(runs.map((r) => r.stepNs)),
    variants: runs[0]!.variants,
    rates: medianRows(
      runs.map((r) => r.rates),
      (r) => r.pairsPerSec,
      ['pairsPerSec', 'nsPerPair'],
      (r) => r.pairsPerSec > 0,
    ),
    ratios,
    repeats,
    ratioSpread,
  };
}

/** The iova suite's ratios are medians over the repeats: their min–max. */
function iovaRatioSpread(b: {
  repeats: number;
  ratios: IovaBench['ratios'];
  ratioSpread: Record<string, { min: number; max: number }>;
}): string {
  const parts = Object.entries(b.ratios)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([k, v]) => {
      const r = b.ratioSpread[k];
      return `${k} ${v.toFixed(2)}x${r ? ` [${r.min.toFixed(2)}–${r.max.toFixed(2)}]` : ''}`;
    });
  return `  ratios, median [min–max] over ${b.repeats} run(s): ${parts.join(', ')}`;
}

/** `bench --compare A B`: B against A, per combination, with spreads. Reads two reports; writes nothing. */
function compareCommand(f: BenchFlags, io: Io): number {
  const files = f.compare!;
  if (files.length !== 2)
    throw new BadInput(`--compare: give two reports, A then B (got ${files.length}: ${files.join(' ') || 'none'})`);
  const other = Object.entries(f)
    .filter(([k, v]) => v !== undefined && k !== 'compare' && k !== 'json')
    .map(([k]) => k);
  if (other.length > 0)
    throw new BadInput(
      `--compare reads two reports and runs nothing: it takes no other flag (got --${other.map(kebab).join(', --')})`,
    );
  const [a, b] = files.map(readBenchReport) as [ReturnType<typeof readBenchReport>, ReturnType<typeof readBenchReport>];
  const c = compareMeasurements(a.measurements, b.measurements);
  if (c.differences.length === 0) {
    const suites = (x: typeof a) => [...new Set(x.measurements.map((m) => m.suite))].join(', ');
    throw new BadInput(
      `--compare: '${a.file}' (${suites(a)}) and '${b.file}' (${suites(b)}) measure no combination in common`,
    );
  }
  if (f.json) {
    io.out(
      JSON.stringify(
        {
          a: a.file,
          b: b.file,
          acrossVariants: c.acrossVariants ?? null,
          onlyA: c.onlyA,
          onlyB: c.onlyB,
          differences: c.differences,
        },
        null,
        2,
      ),
    );
  } else {
    io.out(comparisonText(c, a.file, b.file));
  }
  return EXIT.ok;
}

const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function readBenchReport(input: string): { file: string; measurements: ReturnType<typeof measurementsOf> } {
  let file = input;
  try {
    if (statSync(input).isDirectory()) file = path.join(input, 'report.json');
  } catch {
    /* reported below */
  }
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new BadInput(`--compare: cannot read a bench report from '${input}' (${why})`);
  }
  const d = doc as Record<string, unknown> | null;
  if (typeof d !== 'object' || d === null || d.tool !== 'iommu-stress' || d.kind !== 'bench') {
    throw new BadInput(
      `--compare: '${file}' is not an iommu-stress bench report (no "tool": "iommu-stress" with "kind": "bench")`,
    );
  }
  const measurements = measurementsOf(d);
  if (measurements.length === 0) throw new BadInput(`--compare: '${file}' holds no benchmark measurements`);
  return { file, measurements };
}
