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
export { judgedFor, judgedInvariants, type JudgedCount } from './check/judged.js';
export { Cpu, runToEnd, type Op, type Site, type LockRef } from './engine/cpu.js';
export {
  defineLayout,
  at,
  atCpu,
  region,
  type Layout,
  type Memory,
  type Region,
  type RegionSpec,
} from './engine/layout.js';
export { randInt, pickWeighted, type RandomGenerator } from './engine/rng.js';
export {
  extendScenario,
  isFinding,
  variantOf,
  type Finding,
  type ModelConfig,
  type ParamSpec,
  type Params,
  type QuiescentReport,
  type ScenarioDef,
  type ScenarioModel,
  type VariantDef,
  type VcpuProgram,
} from './engine/scenario.js';
export { Counter32, Counter64, LOCK_WORDS, lockRef, spinLock, spinTryLock, spinUnlock } from './engine/sync.js';
export { TimerRef, timerRegions, type TimerSpec } from './engine/timer.js';

// Model building blocks: the kernel mechanisms already modelled, to reuse or to vary.
export {
  IoPgtable,
  SZ_4K,
  SZ_2M,
  SZ_1G,
  EEXIST,
  ENOMEM,
  EINVAL,
  blockSize,
  levelIndex,
  levelOf,
  isLeaf,
  isTable,
  frameOf,
  tablePte,
  type MapResult,
  type PgtableOptions,
  type PteObserver,
} from './model/pgtable.js';
export { PagePool, pagePoolRegions } from './model/page-pool.js';
export { Iotlb, iotlbRegions, type IotlbObserver } from './model/iotlb.js';
export { DmaIommu, type DmaIommuClass, type IommuPageTable, type IovaAllocator } from './model/dma/dma-iommu.js';
export {
  FlushQueue,
  flushQueueRegions,
  FQ_SITES,
  type FlushQueueClass,
  type FlushQueueOptions,
  type FreeIova,
  type IovaFlushQueue,
} from './model/fq/flush-queue.js';
export {
  FinishCounterFq,
  FlushUntilRoomFq,
  LeCompareFq,
  NoFlushWhenFullFq,
  TimerTeardownFq,
} from './model/fq/variants.js';
export { CheckedIovad, FlushOracle, flushOracleRegions, ObservedPgtable } from './model/fq/oracle.js';
export { FLUSHQ_LOCK_ORDER, RANK_FQ, RANK_IOTLB_FLUSH } from './model/fq/locks.js';
export { FQ_TIMER_ID } from './model/fq/timers.js';
export { buildFlushq, flushqParts, flushqScenario, type FlushqPatch } from './scenarios/flushq.js';
export { ViommuDriver } from './model/viommu/driver.js';
export { RequestQueue } from './model/viommu/request-queue.js';
export { buildViommu, viommuScenario, type ViommuPatch } from './scenarios/viommu.js';
export type { ViommuDriverClass } from './model/viommu/driver.js';
export { LockedViommuDriver, NoSyncCheckDriver } from './model/viommu/variants.js';
export { buildPgtable, pgtableScenario, type PgtableClass, type PgtablePatch } from './scenarios/pgtable.js';
export { RacyInstallPgtable } from './model/pgtable-variants.js';

// The core map path (scenarios mapsg and dma-iova): the IOMMU core, drivers, the two-step IOVA API.
export { IommuCore, type IommuCoreClass, type SgEntry } from './model/core/iommu-map.js';
export { iommuPgsize, LPAE_PGSIZES, type Pgsize } from './model/core/pgsize.js';
export { PerCallDriver, type Cookie, type DomainOps, type DriverClass, type DriverEnv } from './model/core/driver.js';
export { CookieDriver, DeferredListDriver, PerCpuDeferredListDriver } from './model/core/deferred.js';
export { Hyp, type CallCtx, type MapEntry } from './model/core/hyp.js';
export { DOMAIN_DEFERRED_LOCK, type LockClass } from './model/core/locks.js';
export { buildMapsg, mapsgScenario, type MapsgPatch } from './scenarios/mapsg.js';
export { CookieErrorLeakCore, DomainListUnlockedDriver, UnwindUnmappedCore } from './model/core/variants.js';
export { DmaIovaApi, type DmaIovaApiClass, type DmaIovaState } from './model/dma/iova-api.js';
export { buildDmaIova, dmaIovaScenario, type DmaIovaPatch } from './scenarios/dma-iova.js';
export { FreeWhileLinkedApi, NoSyncApi } from './model/dma/iova-api-variants.js';
// The IOVA allocator and its range caches (scenario `iova`): subclass a mechanism, name it in an IovaPatch.
export { buildIova, iovaScenario } from './scenarios/iova.js';
export { IovaDomain, type IovaDomainOptions } from './model/iova/iova-domain.js';
export { IovaRcaches, SITES as IOVA_RCACHE_SITES, C_LOADED, C_PREV, orderBase2 } from './model/iova/rcache.js';
export { Depot } from './model/iova/depot.js';
export { IovaTree } from './model/iova/iova-tree.js';
export { MagazinePool, IOVA_MAG_SIZE, IOVA_RANGE_CACHE_MAX_SIZE } from './model/iova/magazine.js';
export { CheckedIovaDomain, newIovaDomain } from './model/iova/checked-domain.js';
export type { IovaPatch } from './model/iova/patch.js';
export { FixedDepot, FixedDepotRcaches, fixedDepotPatch } from './model/iova/variants.js';

/** Identity with a type: lets an editor check a scenario definition as you write it. */
export function defineScenario(def: ScenarioDef): ScenarioDef {
  return def;
}

export function defineVariant(def: VariantDef): VariantDef {
  return def;
}
// System PASID (scenario `pasid`): option 1 (own DMA domain; IOVA == KVA) vs option 2 (the kernel's page table).
export { buildPasid, pasidScenario } from './scenarios/pasid.js';
export type { PasidPatch } from './model/pasid/parts.js';
export { IovaEqKva, SharedKernelTable, SeparateDomain, type SystemPasid } from './model/pasid/system-pasid.js';
export { KernelMm } from './model/pasid/kernel-mm.js';
export { IovaEqKvaNoRefcount, SharedKernelTableLazyPurge, SharedKernelTableNoInval } from './model/pasid/variants.js';
