/** The engine benchmark as terminal text, with the DESIGN.md targets marked met or MISSED. */
import type { EngineBench } from './engine-bench.js';
import type { Range } from './spread.js';

const M = (x: number) => `${(x / 1e6).toFixed(2)} M`;
const R = (r: Range | undefined, f: (x: number) => string) => (r ? ` [${f(r.min)}–${f(r.max)}]` : '');
const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');

export function benchText(b: EngineBench): string {
  const r = b.ratios;
  const lines = [
    `raw Atomics.add (main thread)         ${b.micro.atomicsAddNs.toFixed(2)} ns/op   ${M(1e9 / b.micro.atomicsAddNs)} ops/s`,
    `model step in-thread (yield+add)      ${b.micro.stepNs.toFixed(2)} ns/step  ${r.microStepOverAtomicsAdd.toFixed(2)}x raw`,
    `model step via 2x yield*              ${b.micro.nestedStepNs.toFixed(2)} ns/step  ${(b.micro.nestedStepNs / b.micro.atomicsAddNs).toFixed(2)}x raw`,
    ...(b.micro.atomicsAddCpuNs !== undefined
      ? [`raw Atomics.add, thread CPU time      ${b.micro.atomicsAddCpuNs.toFixed(2)} ns/op`]
      : []),
    '',
    "stress mode: steady state, start-up excluded (op loops from each worker's 2nd slice on; CPU: its thread)",
    `                            workers   steps/s [min–max of ${b.stress[0]?.repeats ?? 1}]      ops/s   CPU ns/step  CPU ns/op`,
    ...b.stress.map(
      (s) =>
        `  ${`${s.scenario}/${s.variant}`.padEnd(26)}${String(s.workers).padStart(4)}   ${`${M(s.stepsPerSec)}${R(s.spread?.stepsPerSec, M)}`.padStart(30)}  ${M(s.opsPerSec).padStart(9)}` +
        (s.cpuNsPerStep !== undefined
          ? `${s.cpuNsPerStep.toFixed(1).padStart(14)}${s.cpuNsPerOp!.toFixed(0).padStart(11)}`
          : ''),
    ),
    '',
    `explore mode (random)       vCPUs x ops  steps/exec   steps/s [min–max of ${b.explore[0]?.repeats ?? 1}]       schedules/s`,
    ...b.explore.map(
      (e) =>
        `  ${e.scenario.padEnd(26)}${`${e.cpus} x ${e.opsPerCpu}`.padStart(10)}  ${e.stepsPerExecution.toFixed(0).padStart(9)}  ` +
        `${`${M(e.stepsPerSec)}${R(e.spread?.stepsPerSec, M)}`.padStart(30)}  ${`${e.schedulesPerSec.toFixed(0)}${R(e.spread?.schedulesPerSec, (x) => x.toFixed(0))}`.padStart(18)}`,
    ),
    '',
    'detection (PCT depth 3, cap 1000; seeds: found/seeds)  found   median   max' +
      (b.detection.some((d) => d.stress) ? '   stress (2 workers, 10 seeds x 30 s): found  median' : ''),
    ...b.detection.map(
      (d) =>
        `  ${`${d.scenario}/${d.variant}${d.memory === 'weak' ? ' (weak)' : ''}`.padEnd(44)}${`${d.found}/${d.seeds}`.padStart(6)}  ${String(d.medianSchedules).padStart(6)}  ${String(d.maxSchedules).padStart(5)}` +
        (d.stress
          ? `   ${`${d.stress.found}/${d.stress.seeds}`.padStart(38)}  ${d.stress.medianMs < 0 ? '–' : `${(d.stress.medianMs / 1000).toFixed(1)} s`}` +
            (d.stress.harnessErrors > 0 ? `  (${d.stress.harnessErrors} harness error(s))` : '')
          : ''),
    ),
    '',
    'targets (DESIGN.md):',
    `  stress step <= 4x Atomics.add          ${r.stressStepOverAtomicsAdd.toFixed(2)}x  ${mark(r.stressStepOverAtomicsAdd <= 4)}`,
    ...(r.pgtableStepOverAtomicsAdd !== undefined
      ? [
          `  pgtable stress step <= 11.65x Atomics.add  ${r.pgtableStepOverAtomicsAdd.toFixed(2)}x  ${mark(r.pgtableStepOverAtomicsAdd <= 11.65)}` +
            (r.pgtableStepCpuOverAtomicsAdd !== undefined
              ? `   (CPU time: ${r.pgtableStepCpuOverAtomicsAdd.toFixed(2)}x ${mark(r.pgtableStepCpuOverAtomicsAdd <= 11.65)})`
              : ''),
        ]
      : []),
    `  2 workers >= 1.8x one (per-CPU)        ${r.twoWorkerSpeedup.toFixed(2)}x  ${mark(r.twoWorkerSpeedup >= 1.8)}   (pgtable: ${r.twoWorkerSpeedupPgtable.toFixed(2)}x)`,
    `  explore >= 3 M steps/s (pgtable)       ${M(b.explore[0]!.stepsPerSec)}  ${mark(b.explore[0]!.stepsPerSec >= 3e6)}   (counter: ${M(b.explore[2]!.stepsPerSec)})`,
    `  >= 1000 schedules/s (4 vCPUs, ~2000 steps)  ${b.explore[0]!.schedulesPerSec.toFixed(0)} at ${b.explore[0]!.stepsPerExecution.toFixed(0)} steps  ${mark(b.explore[0]!.schedulesPerSec >= 1000)}`,
    `  bug variants found by PCT <= 1000 (median)  ${mark(b.detection.every((d) => d.medianSchedules <= 1000))}`,
  ];
  return lines.join('\n');
}
