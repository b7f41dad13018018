/**
 * Scenario `viommu`: the virtio-iommu driver and its host, and the nr_endpoints races of
 * kernel-model.md §4.3 (V1..V8, §9 #10): "this driver is missing locking around vdomain->nr_endpoints".
 *
 * vCPUs attach and detach endpoints of two or more groups sharing domains, map (map_pages +
 * iotlb_sync_map) and unmap (strict, or lazily through a flush queue) their own IOVAs, and DMA through
 * the host's mappings (see src/model/viommu/program.ts); `focus=N` replaces that mix with the focused
 * configuration of VN (src/model/viommu/focus.ts). The model: driver.ts (the driver), request-queue.ts
 * (the virtqueue), host.ts (the device), core.ts (the IOMMU core around them), ops.ts and checks.ts
 * (the online and quiescent checks).
 */
import type { ModelConfig, ScenarioDef, ScenarioModel } from '../engine/scenario.js';
import { quiescentScan, VIOMMU_INVARIANTS } from '../model/viommu/checks.js';
import { IommuCore } from '../model/viommu/core.js';
import { ViommuDriver, type ViommuDriverClass } from '../model/viommu/driver.js';
import { FocusProgram, focusDef, FOCUS_COUNT, runFocusSetup } from '../model/viommu/focus.js';
import { ViommuHost } from '../model/viommu/host.js';
import { ViommuLayout } from '../model/viommu/layout.js';
import { ViommuOps } from '../model/viommu/ops.js';
import { MixedProgram, roleOf } from '../model/viommu/program.js';
import { LockedViommuDriver, NoSyncCheckDriver } from '../model/viommu/variants.js';
import { VIOMMU_DOMAIN_LOCK, VIOMMU_SITES } from './sites.js';

/** What a viommu variant changes: the driver class (default: upstream's ViommuDriver). */
export interface ViommuPatch {
  readonly driver?: ViommuDriverClass;
}

/**
 * The viommu model around the driver class of `config.variant.patch`: the extension point for a driver
 * variant of your own (a subclass of ViommuDriver; see examples/viommu-atomic-count.ts).
 */
export function buildViommu({ cpus, params, variant }: ModelConfig<ViommuPatch>): ScenarioModel {
  const Driver = variant.patch?.driver ?? ViommuDriver;
  const L = new ViommuLayout({
    cpus,
    domains: params.domains!,
    endpoints: params.endpoints!,
    slotsPerCpu: params.slots!,
    ringSize: params.ringSize!,
  });
  const host = new ViommuHost(L);
  const drv = new Driver(L, host);
  const ops = new ViommuOps(L, new IommuCore(drv), host);
  const focus = params.focus!;
  const def = focus > 0 ? focusDef(focus, L) : undefined;
  return {
    layout: L.layout,
    // Start-of-life matters (finalise on the first attach, a domain's first endpoint): every slice anew.
    freshEachSlice: true,
    init(mem) {
      Atomics.store(mem.i32, L.hostMaxDomains, params.hostMaxDomains!);
      if (def) runFocusSetup(def, ops, mem, VIOMMU_INVARIANTS);
    },
    program: (cpu, rng) =>
      def ? new FocusProgram(ops, cpu, def.programs[cpu.id]) : new MixedProgram(ops, cpu, rng, roleOf(cpu.id, cpus)),
    quiescent(mem, report) {
      quiescentScan(L, drv, host, mem, report);
    },
  };
}

export const viommuScenario: ScenarioDef<ViommuPatch> = {
  name: 'viommu',
  summary:
    'virtio-iommu driver + host: nr_endpoints read and changed without a lock while endpoints attach, map, unmap and sync',
  follows: 'kernel-model.md §4 (VIOMMU-67, VIOMMU-NEW), §4.3 V1-V8, §9 #10 #11, §10',
  params: {
    domains: { default: 2, min: 2, max: 8, help: 'paging domains (the focused configurations use dom0 and dom1)' },
    endpoints: { default: 2, min: 2, max: 8, help: 'endpoints, one per IOMMU group; groups share domains' },
    slots: { default: 2, min: 2, max: 16, help: 'IOVA slots (one 4 KiB mapping each) every vCPU owns in every domain' },
    ringSize: {
      default: 16,
      min: 1,
      max: 256,
      help: 'requests the request virtqueue holds (addReq syncs when it is full)',
    },
    hostMaxDomains: {
      default: 0,
      min: 0,
      max: 8,
      help: 'domains the device can hold at once, 0 = no limit (ATTACH beyond it fails: §4.3 V7)',
    },
    focus: {
      default: 0,
      min: 0,
      max: FOCUS_COUNT,
      help: '0 = the mixed op program; N = the focused configuration of §4.3 VN',
    },
  },
  exploreCpus: 3,
  exploreOps: 6,
  // A 4-request ring, so that the full-ring sync happens within short explored executions.
  exploreParams: { ringSize: 4 },
  invariants: VIOMMU_INVARIANTS,
  regimes: [
    {
      name: 'full-ring',
      summary: 'a 1-request virtqueue: every request that finds one pending syncs it first (the full-ring path)',
      params: { ringSize: 1 },
    },
  ],
  sites: VIOMMU_SITES,
  variants: [
    {
      name: 'locked',
      summary:
        'the fix: a per-domain lock makes the count and every check-then-send atomic with attach/detach and replay',
      expect: 'clean',
      patch: { driver: LockedViommuDriver },
      sites: VIOMMU_DOMAIN_LOCK,
    },
    {
      name: 'upstream',
      summary: 'the driver as upstream: nr_endpoints a plain counter, checked and changed without a lock',
      expect: ['V-INV1', 'V-NR', 'V-DMA', 'V-UNMAP'],
      source: 'kernel-model.md §4.3 V1-V8, §9 #10 (JGG-LOCK)',
    },
    {
      name: 'null-viommu-sync',
      summary:
        'iotlb_sync_map/flush_iotlb_all sync without the nr_endpoints check: a sync before the first attach hits a NULL viommu',
      expect: ['V-NOFIN'],
      source: 'kernel-model.md §4.3 V5 (VIO-V3: the v2 NULL check, replaced in v3 by per-op checks)',
      patch: { driver: NoSyncCheckDriver },
    },
  ],
  build: buildViommu,
};
