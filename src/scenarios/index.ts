/** The scenario registry: every scenario by name, in `list` order. */
import type { ScenarioDef } from '../engine/scenario.js';
import { counterScenario } from './counter.js';
import { dmaIovaScenario } from './dma-iova.js';
import { flushqScenario } from './flushq.js';
import { iovaScenario } from './iova.js';
import { lifecycleScenario } from './lifecycle.js';
import { mapsgScenario } from './mapsg.js';
import { pasidScenario } from './pasid.js';
import { pgtableScenario } from './pgtable.js';
import { viommuScenario } from './viommu.js';

export const SCENARIOS: readonly ScenarioDef[] = [
  pgtableScenario,
  iovaScenario,
  flushqScenario,
  viommuScenario,
  mapsgScenario,
  dmaIovaScenario,
  pasidScenario,
  lifecycleScenario,
  counterScenario,
];

export function findScenario(name: string): ScenarioDef | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
