/**
 * `bench`: the engine benchmark and/or the IOVA allocator benchmark (`--suite engine|iova|all`) — every
 * number measured in the same run as the raw Atomics baseline, so the ratios are what to quote
 * (DESIGN.md "Performance targets").
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { engineBench, type EngineBench } from '../bench/engine-bench.js';
import { iovaBench, iovaBenchText } from '../bench/iova-bench.js';
import { writeAtomically } from '../report/report.js';
import { BadInput, EXIT } from './errors.js';
import type { Io } from './io.js';
import { checkOutputDir, parseDuration } from './parse.js';

export interface BenchFlags { time?: string; suite?: string; json?: boolean; reportDir?: string }

const SUITES = ['engine', 'iova', 'all'] as const;

export async function benchCommand(f: BenchFlags, io: Io): Promise<number> {
  const timeMs = parseDuration('--time', f.time ?? '2s');
  const suite = f.suite ?? 'engine';
  if (!(SUITES as readonly string[]).includes(suite)) throw new BadInput(`--suite: '${suite}' is not one of ${SUITES.join(', ')}`);
  if (f.reportDir !== undefined) checkOutputDir('--report-dir', f.reportDir);
  const engine = suite === 'iova' ? undefined : await engineBench(timeMs, io.progress);
  const iova = suite === 'engine' ? undefined : await iovaBench(timeMs, io.progress);
  // One suite: its own document (the engine's is unchanged); both: { engine, iova }.
  const doc = engine && iova ? { engine, iova } : (engine ?? iova);
  if (f.reportDir) {
    mkdirSync(f.reportDir, { recursive: true });
    writeAtomically(path.join(f.reportDir, 'bench.json'), `${JSON.stringify(doc, null, 2)}\n`);
  }
  if (f.json) io.out(JSON.stringify(doc, null, 2));
  else io.out([engine ? benchText(engine) : '', iova ? iovaBenchText(iova) : ''].filter(Boolean).join('\n\n'));
  return EXIT.ok;
}

const M = (x: number) => `${(x / 1e6).toFixed(2)} M`;
const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');

export function benchText(b: EngineBench): string {
  const r = b.ratios;
  const lines = [
    `raw Atomics.add (main thread)         ${b.micro.atomicsAddNs.toFixed(2)} ns/op   ${M(1e9 / b.micro.atomicsAddNs)} ops/s`,
    `model step in-thread (yield+add)      ${b.micro.stepNs.toFixed(2)} ns/step  ${r.microStepOverAtomicsAdd.toFixed(2)}x raw`,
    `model step via 2x yield*              ${b.micro.nestedStepNs.toFixed(2)} ns/step  ${(b.micro.nestedStepNs / b.micro.atomicsAddNs).toFixed(2)}x raw`,
    '',
    'stress mode                 workers   steps/s      ops/s',
    ...b.stress.map((s) => `  ${`${s.scenario}/${s.variant}`.padEnd(26)}${String(s.workers).padStart(4)}   ${M(s.stepsPerSec).padStart(9)}  ${M(s.opsPerSec).padStart(9)}`),
    '',
    'explore mode (random)       vCPUs x ops  steps/exec   steps/s    schedules/s',
    ...b.explore.map((e) => `  ${e.scenario.padEnd(26)}${`${e.cpus} x ${e.opsPerCpu}`.padStart(10)}  ${e.stepsPerExecution.toFixed(0).padStart(9)}  ${M(e.stepsPerSec).padStart(9)}  ${e.schedulesPerSec.toFixed(0).padStart(10)}`),
    '',
    'detection (PCT depth 3, 20 seeds, cap 1000)   found   median   max',
    ...b.detection.map((d) => `  ${`${d.scenario}/${d.variant}`.padEnd(44)}${`${d.found}/${d.seeds}`.padStart(6)}  ${String(d.medianSchedules).padStart(6)}  ${String(d.maxSchedules).padStart(5)}`),
    '',
    'targets (DESIGN.md):',
    `  stress step <= 4x Atomics.add          ${r.stressStepOverAtomicsAdd.toFixed(2)}x  ${mark(r.stressStepOverAtomicsAdd <= 4)}`,
    `  2 workers >= 1.8x one (per-CPU)        ${r.twoWorkerSpeedup.toFixed(2)}x  ${mark(r.twoWorkerSpeedup >= 1.8)}   (pgtable: ${r.twoWorkerSpeedupPgtable.toFixed(2)}x)`,
    `  explore >= 3 M steps/s (pgtable)       ${M(b.explore[0]!.stepsPerSec)}  ${mark(b.explore[0]!.stepsPerSec >= 3e6)}   (counter: ${M(b.explore[2]!.stepsPerSec)})`,
    `  >= 1000 schedules/s (4 vCPUs, ~2000 steps)  ${b.explore[0]!.schedulesPerSec.toFixed(0)} at ${b.explore[0]!.stepsPerExecution.toFixed(0)} steps  ${mark(b.explore[0]!.schedulesPerSec >= 1000)}`,
    `  bug variants found by PCT <= 1000 (median)  ${mark(b.detection.every((d) => d.medianSchedules <= 1000))}`,
  ];
  return lines.join('\n');
}
