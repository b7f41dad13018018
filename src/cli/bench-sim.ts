/**
 * `bench --sim`: the benchmark suites on the simulated-time executor (src/sim/): `--cpus 1,2,…,256
 * --profile NAME|FILE` plus the suite's own axes, the same report files as the real-thread bench
 * (report.json, summary.md, bench.html) with simulated time labelled as such. `bench --calibrate` measures
 * this machine and writes the `this-machine` profile (src/sim/calibrate.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ScenarioDef, VariantDef } from '../engine/scenario.js';
import { BadInput, EXIT } from '../errors.js';
import { renderBenchHtml } from '../report/html.js';
import { newRunId, writeReportFiles } from '../report/report.js';
import { flushqScenario, type FlushqPatch } from '../scenarios/flushq.js';
import type { IovaPatch } from '../model/iova/patch.js';
import { iovaScenario } from '../scenarios/iova.js';
import { calibrate } from '../sim/calibrate.js';
import { SIM_MAX_CPUS } from '../sim/executor.js';
import { simFqBench, type SimSpeed } from '../sim/fq-sim.js';
import {
  IOVA_SHAPES,
  simIovaBench,
  simIovaMarkdown,
  simIovaSections,
  simIovaText,
  type IovaShape,
} from '../sim/iova-sim.js';
import { SIM_PASID_COSTS, simPasidBench, simPasidMarkdown, simPasidSections, simPasidText } from '../sim/pasid-sim.js';
import { loadProfile, profilesDir } from '../sim/profile.js';
import { simBanner, simFqMarkdown, simFqSections, simFqText, speedText } from '../sim/sim-report.js';
import { simStressRunner } from '../sim/sim-stress.js';
import {
  MAPSG_DESIGNS,
  mapsgBench,
  mapsgBenchMarkdown,
  mapsgBenchSections,
  mapsgBenchText,
} from '../bench/mapsg-bench.js';
import type { MapsgPatch } from '../scenarios/mapsg.js';
import { benchCommand, list, machine, variantTarget, type BenchFlags } from './bench-cmd.js';
import type { Io } from './io.js';
import { checkOutputDir, parseInteger, parseSeed } from './parse.js';

const FQ_MODES = ['percpu', 'single', 'strict'];
const SIM_SUITES = ['fq', 'iova', 'mapsg', 'pasid'];

/** `bench`: the simulated bench or --calibrate when asked for, the real-thread bench (bench-cmd.ts) otherwise. */
export async function benchOrSimCommand(f: BenchFlags, io: Io): Promise<number> {
  const sim = f.sim || f.calibrate || f.cpus !== undefined || f.profile !== undefined;
  if (!sim && [f.shape, f.depth, f.freers].some((x) => x !== undefined))
    throw new BadInput('--shape, --depth and --freers belong to the simulated iova bench: add --sim --suite iova');
  return sim && f.compare === undefined ? benchSimCommand(f, io) : benchCommand(f, io);
}

export async function benchSimCommand(f: BenchFlags, io: Io): Promise<number> {
  if (f.calibrate) return calibrateCommand(f, io);
  const target = await variantTarget(f);
  if (!f.sim) throw new BadInput('--cpus and --profile belong to the simulated bench: add --sim');
  if (f.time !== undefined) throw new BadInput('--time: a simulated bench runs a fixed number of ops (--ops)');
  if (f.workers !== undefined) throw new BadInput('--workers: a simulated bench takes --cpus instead');
  if (f.repeats !== undefined)
    throw new BadInput('--repeats: a simulated run repeats bit for bit; change --seed to see another draw');
  const fqGiven = [f.fq, f.flushCost, f.flush, f.transfer, f.granule].some((x) => x !== undefined);
  const mapsgGiven = f.hypercallCost !== undefined || f.segs !== undefined;
  const suite = target?.suite ?? f.suite ?? (mapsgGiven ? 'mapsg' : 'fq');
  if (!SIM_SUITES.includes(suite))
    throw new BadInput(
      `--sim --suite ${suite}: the simulated bench runs ${SIM_SUITES.join(', ')} (and their --scenario-file variants)`,
    );
  if (suite === 'pasid' && target !== undefined)
    throw new BadInput(
      '--sim --suite pasid benches the four system-PASID paths; --scenario-file/--variant do not apply',
    );
  if (fqGiven && suite !== 'fq')
    throw new BadInput(`--fq, --flush-cost, --flush, --transfer and --granule belong to the fq suite`);
  if ((f.hypercallCost !== undefined || f.segs !== undefined) && suite !== 'mapsg')
    throw new BadInput('--hypercall-cost and --segs belong to the mapsg suite');
  if ([f.shape, f.depth, f.freers].some((x) => x !== undefined) && suite !== 'iova')
    throw new BadInput('--shape, --depth and --freers belong to the iova suite');
  const shape = (f.shape ?? 'irq') as IovaShape;
  if (!IOVA_SHAPES.includes(shape)) throw new BadInput(`--shape: '${f.shape}' is not one of ${IOVA_SHAPES.join(', ')}`);
  if (f.depth !== undefined && shape !== 'burst') throw new BadInput('--depth belongs to --shape burst');
  const depth = f.depth !== undefined ? parseInteger('--depth', f.depth, 1, 1024) : 32;
  const freers = f.freers !== undefined ? parseInteger('--freers', f.freers, 1, SIM_MAX_CPUS / 2) : 16;
  const profile = loadProfile(f.profile ?? 'this-machine');
  const cpus = [
    ...new Set(list('--cpus', f.cpus ?? '1,4,16,64').map((c) => parseInteger('--cpus', c, 1, SIM_MAX_CPUS))),
  ];
  // A pasid op is a whole DMA (a buffer allocated, mapped, transferred, unmapped, freed): fewer by default.
  const ops = f.ops !== undefined ? parseInteger('--ops', f.ops, 1, 1e7) : suite === 'pasid' ? 200 : 2_000;
  const seed = f.seed !== undefined ? parseSeed('--seed', f.seed) : 1;
  if (f.reportDir !== undefined) checkOutputDir('--report-dir', f.reportDir);
  const startedAt = new Date();
  const speed: SimSpeed[] = [];
  let doc: Record<string, unknown>;
  let text: string;
  let summary: string;
  let sections;
  if (suite === 'fq') {
    const variants: VariantDef<FlushqPatch>[] = target
      ? (target.variants as VariantDef<FlushqPatch>[])
      : (f.fq !== undefined ? list('--fq', f.fq) : FQ_MODES).map((m) => {
          if (!FQ_MODES.includes(m)) throw new BadInput(`--fq: '${m}' is not one of ${FQ_MODES.join(', ')}`);
          return flushqScenario.variants.find((v) => v.name === m)!;
        });
    const serial = (() => {
      if (f.flush === undefined) return profile.profile.serialFlush;
      if (f.flush !== 'serial' && f.flush !== 'parallel')
        throw new BadInput(`--flush: '${f.flush}' is not serial or parallel`);
      return f.flush === 'serial';
    })();
    const o = {
      variants,
      scenario: (target?.scenario as ScenarioDef<FlushqPatch> | undefined) ?? flushqScenario,
      cpus,
      flushCostsNs:
        f.flushCost !== undefined
          ? list('--flush-cost', f.flushCost).map((c) => parseInteger('--flush-cost', c, 0, 10_000_000))
          : [profile.profile.flushCostNs],
      serial,
      transferNs:
        f.transfer !== undefined ? parseInteger('--transfer', f.transfer, 0, 10_000_000) : profile.profile.transferNs,
      pages: f.granule !== undefined ? parseInteger('--granule', f.granule, 1, 64) : 1,
      opsPerCpu: ops,
      seed,
      profile,
    };
    const rows = simFqBench(o, io.progress, speed);
    const { variants: _v, scenario: _s, profile: _p, ...options } = o;
    doc = { fq: { options: { ...options, variants: variants.map((v) => v.name) }, rows } };
    text = simFqText(rows, profile, ops, seed);
    summary = simFqMarkdown(rows, profile, ops, seed);
    sections = simFqSections(rows, profile, ops, seed);
  } else if (suite === 'mapsg') {
    const o = {
      ...(target && target.scenario.name === 'mapsg'
        ? {
            variants: target.variants as readonly VariantDef<MapsgPatch>[],
            scenario: target.scenario as ScenarioDef<MapsgPatch>,
          }
        : {}),
      designs: target?.scenario.name === 'dma-iova' ? [] : MAPSG_DESIGNS,
      workers: cpus,
      hypercallNs:
        f.hypercallCost !== undefined
          ? list('--hypercall-cost', f.hypercallCost).map((c) => parseInteger('--hypercall-cost', c, 0, 10_000_000))
          : [profile.profile.hypercallNs],
      segs: (f.segs !== undefined ? list('--segs', f.segs) : ['4', '16']).map((c) => parseInteger('--segs', c, 1, 64)),
      timeMs: Infinity,
      opBudget: ops,
      seed,
      runner: simStressRunner(profile.profile, speed),
    };
    const res = await mapsgBench(o, (s) => io.progress(`${s} (simulated)`));
    const { runner: _r, variants: _v, scenario: _s, ...options } = o;
    doc = { mapsg: { options, ...res } };
    const relabel = (t: string) => t.replace(/\bworkers\b/g, 'vCPUs');
    text = `${simBanner(profile, ops, seed)}\n\n${relabel(mapsgBenchText(res))}`;
    summary = `**${simBanner(profile, ops, seed).replace('\n', '** ')}\n\n${relabel(mapsgBenchMarkdown(res))}`;
    sections = mapsgBenchSections(res).map((sec) => ({
      ...sec,
      heading: `${sec.heading} (simulated, profile ${profile.profile.name})`,
      text: `${simBanner(profile, ops, seed)} ${sec.text ?? ''}`,
    }));
  } else if (suite === 'pasid') {
    const o = { cpus, sizesPages: [1, 16, 512], invCostsNs: [1000, 4000], opsPerCpu: ops, seed, profile };
    const res = simPasidBench(o, io.progress, speed);
    const { profile: _p, ...options } = o;
    doc = { pasid: { options: { ...options, costs: SIM_PASID_COSTS }, ...res } };
    text = simPasidText(res, o);
    summary = simPasidMarkdown(res, o);
    sections = simPasidSections(res, o);
  } else {
    const variants = target
      ? (target.variants as VariantDef<IovaPatch>[])
      : ['correct', 'fixed-depot'].map((n) => iovaScenario.variants.find((v) => v.name === n)!);
    const o = {
      variants,
      scenario: (target?.scenario as ScenarioDef<IovaPatch> | undefined) ?? iovaScenario,
      cpus,
      freers,
      opsPerCpu: ops,
      seed,
      profile,
      shape,
      depth,
    };
    const rows = simIovaBench(o, io.progress, speed);
    const { variants: _v, scenario: _s, profile: _p, ...options } = o;
    doc = { iova: { options: { ...options, variants: variants.map((v) => v.name) }, rows } };
    text = simIovaText(rows, o);
    summary = simIovaMarkdown(rows, o);
    sections = simIovaSections(rows, o);
  }
  const speedLine = speedText(speed);
  const full = {
    tool: 'iommu-stress',
    kind: 'bench',
    suite,
    simulated: true,
    profile: { name: profile.profile.name, hash: profile.hash, source: profile.source, costs: profile.profile },
    command: io.commandLine,
    machine: machine(),
    startedAt: startedAt.toISOString(),
    ...doc,
    simulator: {
      steps: speed.reduce((a, s) => a + s.steps, 0),
      wallMs: speed.reduce((a, s) => a + s.wallMs, 0),
      note: 'wall time of the simulator on this machine: the only non-simulated numbers in this report',
    },
  };
  const html = renderBenchHtml(null, {
    title: `iommu-stress simulated benchmark (${suite}, profile ${profile.profile.name})`,
    command: io.commandLine,
    generatedAt: startedAt.toISOString(),
    sections,
  });
  const md = [
    `# iommu-stress bench --sim (${suite}), profile ${profile.profile.name}`,
    '',
    `\`${io.commandLine}\``,
    '',
    `Simulated on: ${machine()}; started ${startedAt.toISOString()}. ${speedLine}`,
    '',
    summary,
  ].join('\n');
  const dirs = writeReportFiles(
    { 'report.json': `${JSON.stringify(full, null, 2)}\n`, 'summary.md': `${md}\n`, 'bench.html': html },
    `${newRunId(startedAt)}-bench-sim`,
    f.reportDir,
  );
  if (f.json) {
    io.err(`${text}\n\n${speedLine}`);
    io.out(JSON.stringify({ ...full, reportDirs: dirs }, null, 2));
  } else {
    io.out(`${text}\n\n${speedLine}\nreport: ${dirs[0]}`);
  }
  return EXIT.ok;
}

async function calibrateCommand(f: BenchFlags, io: Io): Promise<number> {
  const other = ['sim', 'cpus', 'profile', 'fq', 'suite', 'ops', 'time'].filter(
    (k) => (f as Record<string, unknown>)[k] !== undefined,
  );
  if (other.length > 0) throw new BadInput(`--calibrate measures this machine and takes no --${other.join(', --')}`);
  if (f.reportDir !== undefined) checkOutputDir('--report-dir', f.reportDir);
  const profile = await calibrate(io.progress);
  const file = path.join(f.reportDir ?? profilesDir, 'this-machine.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(profile, null, 2)}\n`);
  if (f.json) io.out(JSON.stringify({ file, profile }, null, 2));
  else io.out(`${JSON.stringify(profile, null, 2)}\nprofile: ${file}`);
  return EXIT.ok;
}
