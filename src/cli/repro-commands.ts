/** The one-line commands printed with every failure (paste-able from the project root). */
import { nonDefaultParams, type ScenarioDef } from '../engine/scenario.js';

const PREFIX = 'npx iommu-stress';

const paramFlags = (s: ScenarioDef, params: Readonly<Record<string, number>>): string =>
  Object.entries(nonDefaultParams(s, params)).map(([k, v]) => ` --param ${k}=${v}`).join('');

export function replayCommand(token: string): string {
  return `${PREFIX} replay --token ${token} --trace`;
}

/** Re-run a stress failure's op programs under the explore executor. */
export function exploreOpsCommand(
  s: ScenarioDef, variant: string, params: Readonly<Record<string, number>>, opSeed: number, opsPerCpu: readonly number[], seed: number,
): string {
  return `${PREFIX} explore ${s.name} --variant ${variant}${paramFlags(s, params)} --cpus ${opsPerCpu.length}`
    + ` --ops ${opsPerCpu.join(',')} --op-seed ${opSeed} --seed ${seed}`;
}

export function runCommandLine(s: ScenarioDef, variant: string, params: Readonly<Record<string, number>>, workers: number, time: string, seed: number): string {
  return `${PREFIX} run ${s.name} --variant ${variant}${paramFlags(s, params)} --workers ${workers} --time ${time} --seed ${seed}`;
}
