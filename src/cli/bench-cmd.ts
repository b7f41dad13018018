/**
 * `bench`: the benchmarks — the engine (`--suite engine`, the default), the IOVA allocator (`iova`), the
 * flush queues (`fq`, or any `--fq` flag: per-CPU vs single vs strict, kernel-model.md §3.5), map_sg
 * designs and the two-step IOVA API (`mapsg`, or --hypercall-cost / --segs: kernel-model.md §5.4, §7), or `all`.
 * Every number is measured in the same run as the raw Atomics baseline, so ratios are what to quote.
 * Results go to the terminal and to reports/<run-id>/ (report.json, summary.md, bench.html), or
 * --report-dir.
 */
import { availableParallelism, cpus, totalmem } from 'node:os';
import { engineBench } from '../bench/engine-bench.js';
import { benchText } from '../bench/engine-text.js';
import { FQ_MODES, fqBench, fqMicro, type FqMode } from '../bench/fq-bench.js';
import { fqBenchMarkdown, fqBenchSections, fqBenchText } from '../bench/fq-report.js';
import { iovaBench, iovaBenchText } from '../bench/iova-bench.js';
import { MAPSG_DESIGNS, mapsgBench, mapsgBenchMarkdown, mapsgBenchSections, mapsgBenchText } from '../bench/mapsg-bench.js';
import { renderBenchHtml } from '../report/html.js';
import { newRunId, writeReportFiles } from '../report/report.js';
import { BadInput, EXIT } from '../errors.js';
import type { Io } from './io.js';
import { checkOutputDir, parseDuration, parseInteger, parseSeed } from './parse.js';

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
}

const SUITES = ['engine', 'iova', 'fq', 'mapsg', 'all'] as const;
type Suite = (typeof SUITES)[number];

/** The machine the numbers come from, for the report (numbers mean nothing without it). */
export function machine(): string {
  return `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

const list = (flag: string, text: string): string[] => {
  const items = text.split(',').map((t) => t.trim());
  if (items.some((t) => t === '')) throw new BadInput(`${flag}: '${text}' has an empty item`);
  return items;
};

export async function benchCommand(f: BenchFlags, io: Io): Promise<number> {
  const fqGiven = [f.fq, f.flushCost, f.flush, f.transfer, f.granule].some((x) => x !== undefined);
  const mapsgGiven = [f.hypercallCost, f.segs].some((x) => x !== undefined);
  const suite = (f.suite ?? (fqGiven ? 'fq' : mapsgGiven ? 'mapsg' : 'engine')) as Suite;
  if (!SUITES.includes(suite)) throw new BadInput(`--suite: '${f.suite}' is not one of ${SUITES.join(', ')}`);
  if (fqGiven && suite !== 'fq' && suite !== 'all') throw new BadInput(`--fq, --flush-cost, --flush, --transfer and --granule belong to the fq suite, not --suite ${suite}`);
  if (mapsgGiven && suite !== 'mapsg' && suite !== 'all') throw new BadInput(`--hypercall-cost and --segs belong to the mapsg suite, not --suite ${suite}`);
  const timeMs = parseDuration('--time', f.time ?? '2s');
  if (f.ops !== undefined && f.time !== undefined) throw new BadInput('--ops and --time exclude each other (--ops: a fixed amount of work per measurement)');
  const opBudget = f.ops !== undefined ? parseInteger('--ops', f.ops, 1, 1e9) : undefined;
  if (f.reportDir !== undefined) checkOutputDir('--report-dir', f.reportDir);
  const fqOpts = suite === 'fq' || suite === 'all' ? {
    modes: (f.fq !== undefined ? list('--fq', f.fq) : [...FQ_MODES]).map((m) => {
      if (!(FQ_MODES as readonly string[]).includes(m)) throw new BadInput(`--fq: '${m}' is not one of ${FQ_MODES.join(', ')}`);
      return m as FqMode;
    }),
    workers: (f.workers !== undefined ? list('--workers', f.workers) : ['1', '2']).map((w) => parseInteger('--workers', w, 1, 64)),
    flushCostsNs: (f.flushCost !== undefined ? list('--flush-cost', f.flushCost) : ['0', '10000', '100000'])
      .map((c) => parseInteger('--flush-cost', c, 0, 10_000_000)),
    serial: (() => {
      const m = f.flush ?? 'parallel';
      if (m !== 'serial' && m !== 'parallel') throw new BadInput(`--flush: '${m}' is not serial or parallel`);
      return m === 'serial';
    })(),
    transferNs: f.transfer !== undefined ? parseInteger('--transfer', f.transfer, 0, 10_000_000) : 0,
    pages: f.granule !== undefined ? parseInteger('--granule', f.granule, 1, 64) : 1,
    timeMs,
    opBudget,
    seed: f.seed !== undefined ? parseSeed('--seed', f.seed) : 1,
  } : undefined;
  const mapsgOpts = suite === 'mapsg' || suite === 'all' ? {
    designs: MAPSG_DESIGNS,
    workers: (f.workers !== undefined ? list('--workers', f.workers) : ['1', '2']).map((w) => parseInteger('--workers', w, 1, 64)),
    hypercallNs: (f.hypercallCost !== undefined ? list('--hypercall-cost', f.hypercallCost) : ['0', '1000', '10000'])
      .map((c) => parseInteger('--hypercall-cost', c, 0, 10_000_000)),
    segs: (f.segs !== undefined ? list('--segs', f.segs) : ['4', '16']).map((c) => parseInteger('--segs', c, 1, 64)),
    timeMs,
    opBudget,
    seed: f.seed !== undefined ? parseSeed('--seed', f.seed) : 1,
  } : undefined;
  if (!fqOpts && !mapsgOpts && f.ops !== undefined) throw new BadInput('--ops belongs to the fq and mapsg suites (the engine and iova suites are timed)');
  if (!fqOpts && !mapsgOpts && f.workers !== undefined) throw new BadInput('--workers belongs to the fq and mapsg suites (the engine suite measures 1 and 2 workers itself)');

  const startedAt = new Date();
  const engine = suite === 'engine' || suite === 'all' ? await engineBench(timeMs, io.progress) : undefined;
  const iova = suite === 'iova' || suite === 'all' ? await iovaBench(timeMs, io.progress) : undefined;
  const fq = fqOpts ? { options: fqOpts, rows: await fqBench(fqOpts, io.progress), micro: await fqMicro(Math.min(timeMs, 1_000)) } : undefined;
  const mapsg = mapsgOpts ? { options: mapsgOpts, ...(await mapsgBench(mapsgOpts, io.progress)) } : undefined;

  const doc = {
    tool: 'iommu-stress', kind: 'bench', suite, command: io.commandLine, machine: machine(), startedAt: startedAt.toISOString(),
    ...(engine ? { engine } : {}), ...(iova ? { iova } : {}), ...(fq ? { fq } : {}), ...(mapsg ? { mapsg } : {}),
  };
  const text = [engine ? benchText(engine) : '', iova ? iovaBenchText(iova) : '', fq ? fqBenchText(fq.rows, fq.micro) : '', mapsg ? mapsgBenchText(mapsg) : ''].filter(Boolean).join('\n\n');
  const summary = [
    `# iommu-stress bench (${suite})`, '', `\`${io.commandLine}\``, '', `Machine: ${machine()}; started ${startedAt.toISOString()}`, '',
    ...(fq ? [fqBenchMarkdown(fq.rows)] : []),
    ...(mapsg ? [mapsgBenchMarkdown(mapsg)] : []),
    ...(engine || iova ? ['```', [engine ? benchText(engine) : '', iova ? iovaBenchText(iova) : ''].filter(Boolean).join('\n\n'), '```'] : []),
  ].join('\n');
  const html = renderBenchHtml(engine ?? null, {
    command: io.commandLine, generatedAt: startedAt.toISOString(), sections: [...(fq ? fqBenchSections(fq.rows) : []), ...(mapsg ? mapsgBenchSections(mapsg) : [])],
  });
  const dirs = writeReportFiles({
    'report.json': `${JSON.stringify(doc, null, 2)}\n`, 'summary.md': `${summary}\n`, 'bench.html': html,
  }, `${newRunId(startedAt)}-bench`, f.reportDir);
  if (f.json) {
    io.err(text); // the table for a human watching; stdout stays one JSON document
    io.out(JSON.stringify({ ...doc, reportDirs: dirs }, null, 2));
  } else {
    io.out(text);
    io.out(`\nreport: ${dirs[0]}`);
  }
  return EXIT.ok;
}
