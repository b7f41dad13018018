/**
 * The public API for writing a scenario of your own (README "Writing a scenario"; examples/ has a
 * worked one). A scenario file is an ES module whose default export is `defineScenario({...})`; run it
 * with `iommu-stress run --scenario-file FILE` (and explore / replay / list accept the same flag).
 *
 * The contract, in short: all shared state lives in the layout's regions (one SharedArrayBuffer);
 * a model operation is a generator that `yield`s a constant site label right before each shared access,
 * made with Atomics; a kernel read-modify-write that is not atomic is a load, a yield, a store
 * (Counter32.plainAdd). The same code then runs on real worker threads and under the explore scheduler.
 */
import type { ScenarioDef, VariantDef } from './engine/scenario.js';

export type { InvariantDef, Grade, Violation } from './check/invariant.js';
export { Cpu, runToEnd, type Op, type Site, type LockRef } from './engine/cpu.js';
export { defineLayout, at, atCpu, region, type Layout, type Memory, type Region, type RegionSpec } from './engine/layout.js';
export { randInt, pickWeighted, type RandomGenerator } from './engine/rng.js';
export { extendScenario, variantOf, type ModelConfig, type ParamSpec, type Params, type QuiescentReport, type ScenarioDef, type ScenarioModel, type VariantDef, type VcpuProgram } from './engine/scenario.js';
export { Counter32, Counter64, LOCK_WORDS, lockRef, spinLock, spinTryLock, spinUnlock } from './engine/sync.js';
export { TimerRef, timerRegions, type TimerSpec } from './engine/timer.js';

// Model building blocks: the kernel mechanisms already modelled, to reuse or to vary.
export { IoPgtable, SZ_4K, SZ_2M, SZ_1G } from './model/pgtable.js';
export { PagePool, pagePoolRegions } from './model/page-pool.js';
export { Iotlb, iotlbRegions } from './model/iotlb.js';
export { DmaIommu, type IovaAllocator } from './model/dma/dma-iommu.js';
export { FlushQueue, flushQueueRegions } from './model/fq/flush-queue.js';
export { ViommuDriver } from './model/viommu/driver.js';
export { buildViommu, viommuScenario, type ViommuPatch } from './scenarios/viommu.js';
export type { ViommuDriverClass } from './model/viommu/driver.js';
export { LockedViommuDriver, NoSyncCheckDriver } from './model/viommu/variants.js';
export { pgtableScenario } from './scenarios/pgtable.js';

/** Identity with a type: lets an editor check a scenario definition as you write it. */
export function defineScenario(def: ScenarioDef): ScenarioDef {
  return def;
}

export function defineVariant(def: VariantDef): VariantDef {
  return def;
}
