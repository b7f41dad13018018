/** The one-line commands printed with every failure (paste-able from the project root). */
import { withDefaults, type ScenarioDef } from '../engine/scenario.js';
import { scenarioFileFlag } from '../scenarios/registry.js';

const PREFIX = 'npx iommu-stress';

/** `--param k=v` for every parameter that differs from what the command would use by itself. */
const paramFlags = (params: Readonly<Record<string, number>>, baseline: Readonly<Record<string, number>>): string =>
  Object.entries(params)
    .filter(([k, v]) => baseline[k] !== v)
    .map(([k, v]) => ` --param ${k}=${v}`)
    .join('');

export function replayCommand(token: string, scenario?: string): string {
  return `${PREFIX} replay ${scenario ? scenarioFileFlag(scenario) : ''}--token ${token} --trace`;
}

/** Re-run a stress failure's op programs (with the stress run's parameters) under the explore executor. */
export function exploreOpsCommand(
  s: ScenarioDef,
  variant: string,
  params: Readonly<Record<string, number>>,
  opSeed: number,
  opsPerCpu: readonly number[],
  seed: number,
): string {
  return (
    `${PREFIX} explore ${scenarioFileFlag(s.name)}${s.name} --variant ${variant}${paramFlags(params, withDefaults(s, s.exploreParams))} --cpus ${opsPerCpu.length}` +
    ` --ops ${opsPerCpu.join(',')} --op-seed ${opSeed} --seed ${seed}`
  );
}

export function runCommandLine(
  s: ScenarioDef,
  variant: string,
  params: Readonly<Record<string, number>>,
  workers: number,
  time: string,
  seed: number,
): string {
  return `${PREFIX} run ${scenarioFileFlag(s.name)}${s.name} --variant ${variant}${paramFlags(params, withDefaults(s))} --workers ${workers} --time ${time} --seed ${seed}`;
}
