/**
 * Scenario `lifecycle`: the life of one DMA domain shared by the devices of a group — kernel-model.md
 * §2.1-§2.3, §3.2-§3.4, §9 #2 and #7. Each vCPU is a device that binds (probe: iommu_dma_init_domain of
 * the shared cookie), maps and unmaps a few ranges, and unbinds; the last device out frees the domain
 * (iommu_put_dma_cookie -> put_iova_domain -> free_iova_rcaches), and the next bind makes a new one. In
 * between, any device may switch the live domain to lazy mode (sysfs DMA -> DMA-FQ: iommu_dma_init_fq
 * while the others unmap) or take the hotpluggable CPU down (iova_cpuhp_dead drains its caches while
 * the others allocate and free). Some unmaps run on the hotpluggable CPU (a task migrated there), so
 * its caches and its flush queue hold real ranges when it goes down.
 *
 * Four lifecycle paths, each with the upstream race or bug as a variant (model/dma/cookie-variants.ts,
 * model/iova/lifecycle-variants.ts) and the faithful code as `correct`:
 *   init-race         ac9a5d522bb8 (two probes both initialise the iova_domain)
 *   fq-publish-early  fq_domain published before the queues (derived mutation of the v5.15 switch)
 *   cpuhp-before-rcaches  32e92d9f6f87's old order (dead-CPU callback on caches not yet made)
 *   depot-v1-pop      DEPOT-BUG: v1 list depot popping an empty depot at teardown
 *
 * Checks: the IOVA model's online hand-out/hand-in checks and quiescent scan (model/iova/*) while the
 * domain is alive; the storage's NULL-dereference faults (FQ-NULL, RCACHE-NULL, DEPOT-POP, CPUHP-LIST);
 * and, at quiescent points, accounting: every range in use is mapped by a device or queued in a flush
 * queue, exactly once, and a freed domain left no magazine behind.
 *
 * Harness conveniences (not kernel code): the per-device table of mapped ranges (checker state); the
 * warm depot (`warmDepot`: the first bind of each domain leaves full bucket-0 magazines in the depot, as
 * a busy domain would, so teardown and the flush-all path drain a real depot); the hotpluggable CPU's
 * online flag and task count (the scheduler's side of cpu_down: no task runs on a dead CPU).
 */
import type { Site } from '../engine/site.js';
import type { InvariantDef } from '../check/invariant.js';
import type { Cpu, Op } from '../engine/cpu.js';
import { atCpu, defineLayout, region, type Region } from '../engine/layout.js';
import { pickWeighted, type RandomGenerator } from '../engine/rng.js';
import type {
  ModelConfig,
  Params,
  QuiescentReport,
  ScenarioDef,
  ScenarioModel,
  VcpuProgram,
} from '../engine/scenario.js';
import { spinLock, spinUnlock, waitUntilZero } from '../engine/sync.js';
import { timerRegions, TimerRef } from '../engine/timer.js';
import { BadInput } from '../errors.js';
import { IommuDmaCookie, type CookieOptions } from '../model/dma/cookie.js';
import { CookieState, cookieRegions } from '../model/dma/cookie-state.js';
import { LIFECYCLE_VARIANTS, type LifecyclePatch } from '../model/dma/lifecycle-patch.js';
import { newIovaDomain, type CheckedIovaDomain } from '../model/iova/checked-domain.js';
import { iovaDomainRegions, type IovaDomainOptions } from '../model/iova/iova-domain.js';
import { IOVA_INVARIANTS } from '../model/iova/invariants.js';
import { IovaLifecycle } from '../model/iova/lifecycle.js';
import { IOVA_TIMERS } from '../model/iova/locks.js';
import { IOVA_MAG_SIZE } from '../model/iova/magazine.js';
import { checkIovaDomain } from '../model/iova/quiescent.js';
import { IOVA_DEPOT_DELAY_MS } from '../model/iova/rcache.js';
import { FREE, RESERVED } from '../model/iova/shadow.js';

const LIFECYCLE_INVARIANTS: readonly InvariantDef[] = [
  ...IOVA_INVARIANTS,
  {
    id: 'FQ-NULL',
    meaning: 'queue_iova and the fq timer use cookie->percpu_fq only once it exists (no NULL dereference)',
    grade: 'FORBIDDEN',
  },
  {
    id: 'RCACHE-NULL',
    meaning: "a CPU's dead callback (or anyone) uses a bucket's cpu_rcaches only once it exists",
    grade: 'FORBIDDEN',
  },
  { id: 'DOMAIN-FREED', meaning: 'the last unbind freed the domain (teardown ran)', grade: 'ACCEPTABLE' },
  { id: 'LAZY-SWITCH', meaning: 'a live domain was switched from DMA to DMA-FQ', grade: 'ACCEPTABLE' },
  { id: 'LAZY-UNMAP', meaning: 'an unmap found the domain lazy (its IOVA went to a flush queue)', grade: 'ACCEPTABLE' },
  { id: 'CPU-DEAD', meaning: "a dead CPU's callback drained a live domain's caches", grade: 'ACCEPTABLE' },
  {
    id: 'CPUHP-LIST',
    meaning: 'an iova_domain is on the CPU-hotplug instance list at most once, and off it before it is freed',
    grade: 'FORBIDDEN',
  },
];

/** Ranges a device holds mapped at most (its slots in the checker's table). */
const MAX_MAPS = 4;
const SIZES = [1, 2, 4];
const SIZE_WEIGHTS = [4, 2, 1];
/** The fq timer's id, after the iova_domain's depot works. */
const FQ_TIMER = IOVA_TIMERS;

const SITE_IDLE = 'driver unbound';
const SITE_MIGRATE = 'migrate to the hotpluggable cpu';
const SITE_MIGRATE_BACK = 'migrate back';
const SITE_DOWN = 'cpu_down: set offline';
const SITE_DRAIN = 'cpu_down: wait for tasks to leave';
const SITE_UP = 'cpu_up';
const SITE_WARM = 'warm depot (harness)';

const enum Kind {
  Probe,
  Map,
  Unmap,
  UnmapOnHotCpu,
  SwitchLazy,
  Hotplug,
  Release,
  Idle,
}
const KIND_NAME = [
  'probe (bind)',
  'dma map',
  'dma unmap',
  'dma unmap on the hotpluggable cpu',
  'sysfs: DMA -> DMA-FQ',
  'cpu_down + cpu_up of the hotpluggable cpu',
  'release (unmap all, unbind)',
  'idle (unbound)',
];

interface Shared {
  readonly cpus: number;
  readonly state: CookieState;
  readonly cookie: IommuDmaCookie;
  readonly iovad: CheckedIovaDomain;
  readonly maps: Region;
  /** i32 index of the harness's "this domain's depot was warmed" flag. */
  readonly warmed: number;
  readonly warmDepot: number;
  readonly resv: readonly [number, number] | null;
  readonly limitPfn: number;
  readonly opsPerBind: number;
  readonly idleOps: number;
}

export function buildLifecycle(config: ModelConfig<LifecyclePatch>): ScenarioModel {
  const { cpus, params } = config;
  const patch = config.variant.patch ?? {};
  const p = (k: string): number => params[k]!;
  const fqSize = p('fqSize');
  if ((fqSize & (fqSize - 1)) !== 0) throw new BadInput(`lifecycle: fqSize ${fqSize} is not a power of two`);
  const space = p('spacePfns');
  const resvPfns = p('resvPfns');
  if (resvPfns >= space / 4) throw new BadInput(`lifecycle: resvPfns ${resvPfns} must be under spacePfns / 4`);
  const opts: IovaDomainOptions = {
    cpus: cpus + 1, // the possible CPUs: the devices' vCPUs and the hotpluggable one
    startPfn: 1,
    dma32Pfn: Math.floor(space / 2),
    spacePfns: space,
    depotDelayNs: p('depotDelayMs') * 1e6,
    checks: true,
    resvPfns: 0, // reserved by the kernel's own iova_reserve_iommu_regions here
    warm: false,
    warmDepot: 0,
  };
  // Per-CPU regions (range caches, flush queues) have a slot for every possible CPU: the vCPUs and the
  // hotpluggable one, which no vCPU is.
  const layout = defineLayout(cpus + 1, {
    ...iovaDomainRegions(opts, patch.iova ?? {}),
    ...timerRegions(IOVA_TIMERS + 1),
    ...cookieRegions(fqSize),
    // Checker state: each device's mapped ranges (pfn, pages) and whether its probe really ran.
    'dev.maps': { kind: 'i32', count: MAX_MAPS * 2 + 1, perCpu: true },
    'harness.warmed': { kind: 'i32', count: 1 },
  });
  const iovad = newIovaDomain(layout, opts, patch.iova ?? {});
  const state = new CookieState(layout, cpus, fqSize, 0.5);
  const lifecycle = new (patch.lifecycle ?? IovaLifecycle)(iovad.tree, iovad.rcache, state);
  const fqTimer = new TimerRef(layout, FQ_TIMER, 'fq_timer');
  const resv: readonly [number, number] | null = resvPfns > 0 ? [opts.dma32Pfn - resvPfns, opts.dma32Pfn - 1] : null;
  const co: CookieOptions = {
    startPfn: 1,
    granule: 1,
    resv,
    fqSize,
    fqTimeoutNs: p('fqTimeoutMs') * 1e6,
  };
  const cookie = new (patch.cookie ?? IommuDmaCookie)(state, lifecycle, iovad, fqTimer, co);
  const shared: Shared = {
    cpus,
    state,
    cookie,
    iovad,
    maps: region(layout, 'dev.maps'),
    warmed: region(layout, 'harness.warmed').base,
    warmDepot: p('warmDepot'),
    resv,
    limitPfn: space - 1,
    opsPerBind: p('opsPerBind'),
    idleOps: p('idleOps'),
  };
  // The IOVA space went with the freed domain: nothing is in use or reserved any more.
  state.onCookieFreed = (cpu: Cpu) => {
    cpu.checker.count('DOMAIN-FREED');
    iovad.shadow.mark(cpu.i32, 0, space, FREE);
    Atomics.store(cpu.i32, shared.warmed, 0);
  };
  return {
    layout,
    // Each slice starts from an unbound group, so that first binds (and their races) recur.
    freshEachSlice: true,
    init(mem) {
      iovad.rcache.pool.init(mem.i32); // the slab the magazines come from exists before any domain
      Atomics.store(mem.i32, state.online, 1);
    },
    program: (cpu, rng) => new LifecycleProgram(cpu, rng, shared),
    quiescent: (mem, report) => checkLifecycle(shared, mem.i32, report),
    timers: [...iovad.timerSpecs(), { ref: fqTimer, callback: (cpu: Cpu) => cookie.fqFlushTimeout(cpu) }],
    nsPerStep: p('nsPerStep'),
  };
}

/**
 * Quiescent accounting. A live domain: the IOVA model's scan, and every range in use is mapped by one
 * device or queued in one flush-queue entry. A freed (or never made) domain: no magazine is allocated,
 * no bucket, queue or hotplug instance is left.
 */
function checkLifecycle(sh: Shared, i32: Int32Array, report: QuiescentReport): void {
  const s = sh.state;
  const d = sh.iovad;
  const live = Atomics.load(i32, s.startPfn) !== 0;
  if (!live) {
    for (let m = 0; m < d.rcache.pool.count; m++) {
      if (!d.rcache.pool.isFree(i32, m)) {
        report('IOVA-LEAK', `no domain is alive, but magazine ${m} is still allocated: a freed domain leaked it`);
        return;
      }
    }
    return;
  }
  checkIovaDomain(d, i32, report);
  // Where each in-use range start is: a device's table or a queue entry.
  const where = new Map<number, string>();
  const claim = (pfn: number, what: string): void => {
    const other = where.get(pfn);
    if (other !== undefined) report('I5', `range 0x${pfn.toString(16)} is both ${other} and ${what}`);
    where.set(pfn, what);
  };
  for (let c = 0; c < sh.cpus; c++) {
    for (let j = 0; j < MAX_MAPS; j++) {
      const pfn = i32[atCpu(sh.maps, c, 2 * j)]!;
      if (pfn !== 0) claim(pfn, `mapped by cpu${c}`);
    }
  }
  if (Atomics.load(i32, s.percpuFq) !== 0) {
    for (let c = 0; c < s.possibleCpus; c++) {
      const mask = i32[s.modMask(c)]!;
      let guard = s.fqSize;
      for (let idx = i32[s.head(c)]!; idx !== i32[s.tail(c)]! && guard-- > 0; idx = (idx + 1) & mask) {
        claim(i32[s.entryPfn(c, idx)]!, `queued in cpu${c}'s flush queue`);
      }
    }
  }
  // Every in-use range is an rbtree node whose first pfn the shadow marks in use (checkIovaDomain checks
  // the shadow against the tree).
  let said = 0;
  for (const [lo] of d.tree.ranges(i32)) {
    if (d.shadow.stateOf(i32, lo) <= 0 || where.has(lo)) continue;
    if (said++ < 4) {
      report('IOVA-LEAK', `range 0x${lo.toString(16)} is in use but neither mapped by a device nor queued: lost`);
    }
  }
}

class LifecycleProgram implements VcpuProgram {
  private pos = 0;
  /** Local mirror of which table slots hold a range (the ranges themselves are in shared memory). */
  private readonly used = new Uint8Array(MAX_MAPS);
  private lastKind = Kind.Idle;
  private lastArg = 0;

  constructor(
    private readonly cpu: Cpu,
    private readonly rng: RandomGenerator,
    private readonly s: Shared,
  ) {}

  next(): Op<unknown> {
    const s = this.s;
    const cycle = s.opsPerBind + 2 + s.idleOps;
    const at = this.pos++ % cycle;
    if (at === 0) return this.record(Kind.Probe, 0);
    if (at === s.opsPerBind + 1) return this.record(Kind.Release, 0);
    if (at > s.opsPerBind + 1) {
      // Unbound: the admin may still switch the group's domain or take the CPU down.
      return this.record([Kind.Idle, Kind.SwitchLazy, Kind.Hotplug][pickWeighted(this.rng, [2, 2, 1])]!, 0);
    }
    const mapped = this.used.reduce((a, b) => a + b, 0);
    const weights = [mapped < MAX_MAPS ? 4 : 0, mapped > 0 ? 3 : 0, mapped > 0 ? 2 : 0, 2, 1];
    const kind = [Kind.Map, Kind.Unmap, Kind.UnmapOnHotCpu, Kind.SwitchLazy, Kind.Hotplug][
      pickWeighted(this.rng, weights)
    ]!;
    if (kind === Kind.Map) return this.record(kind, SIZES[pickWeighted(this.rng, SIZE_WEIGHTS)]!);
    if (kind === Kind.Unmap || kind === Kind.UnmapOnHotCpu) {
      const slots = [...this.used.keys()].filter((j) => this.used[j] === 1);
      return this.record(
        kind,
        slots[
          pickWeighted(
            this.rng,
            slots.map(() => 1),
          )
        ]!,
      );
    }
    return this.record(kind, 0);
  }

  describe(): string {
    const a = this.lastArg;
    if (this.lastKind === Kind.Map) return `${KIND_NAME[Kind.Map]} ${a} page(s)`;
    if (this.lastKind === Kind.Unmap || this.lastKind === Kind.UnmapOnHotCpu) {
      return `${KIND_NAME[this.lastKind]} (slot ${a})`;
    }
    return KIND_NAME[this.lastKind]!;
  }

  private record(kind: Kind, arg: number): Op<unknown> {
    this.lastKind = kind;
    this.lastArg = arg;
    switch (kind) {
      case Kind.Probe:
        return this.probe();
      case Kind.Map: {
        const j = this.used.indexOf(0);
        this.used[j] = 1;
        return this.map(j, arg);
      }
      case Kind.Unmap:
        this.used[arg] = 0;
        return this.unmap(arg);
      case Kind.UnmapOnHotCpu:
        this.used[arg] = 0;
        return this.unmapOnHotCpu(arg);
      case Kind.SwitchLazy:
        return this.switchLazy();
      case Kind.Hotplug:
        return this.hotplug();
      case Kind.Release:
        this.used.fill(0);
        return this.release();
      default:
        return this.idle();
    }
  }

  private slot(j: number): number {
    return atCpu(this.s.maps, this.cpu.id, 2 * j);
  }

  /**
   * Did this device's probe run (the shrinker may draw an op and drop it, so the program's own idea of
   * being bound is not enough): a device that is not bound maps nothing and unbinds nothing.
   */
  private get boundWord(): number {
    return atCpu(this.s.maps, this.cpu.id, 2 * MAX_MAPS);
  }
  private isBound(): boolean {
    return Atomics.load(this.cpu.i32, this.boundWord) !== 0;
  }

  private *probe(): Op<void> {
    const s = this.s;
    const cpu = this.cpu;
    if (this.isBound()) return yield* this.idle();
    yield* s.cookie.iommuProbeDevice(cpu);
    Atomics.store(cpu.i32, this.boundWord, 1);
    if (s.resv !== null) s.iovad.shadow.mark(cpu.i32, s.resv[0], s.resv[1] - s.resv[0] + 1, RESERVED);
    if (s.warmDepot > 0 && Atomics.compareExchange(cpu.i32, s.warmed, 0, 1) === 0) yield* this.warm();
  }

  /**
   * Harness: leave `warmDepot` full bucket-0 magazines in the depot, as a busy domain would have (one
   * step under the depot and rbtree locks; the ranges are the allocator's, cached).
   */
  private *warm(): Op<void> {
    const cpu = this.cpu;
    const i32 = cpu.i32;
    const rc = this.s.iovad.rcache;
    const tree = this.s.iovad.tree;
    yield* spinLock(cpu, rc.depotLocks[0]!);
    yield* spinLock(cpu, tree.lock);
    yield SITE_WARM;
    if (Atomics.load(i32, this.s.state.cpuRcaches(0)) !== 0) {
      for (let d = 0; d < this.s.warmDepot; d++) {
        const m = rc.pool.take(i32);
        if (m < 0) break;
        let j = 0;
        for (; j < IOVA_MAG_SIZE; j++) {
          const pfn = tree.allocRange(i32, 1, this.s.limitPfn + 1, true);
          if (pfn < 0) break;
          i32[rc.pool.slot(m, j)] = pfn;
        }
        i32[rc.pool.head(m)] = j;
        if (j < IOVA_MAG_SIZE) {
          // No room for a full magazine: give the ranges back and stop.
          for (let q = 0; q < j; q++) tree.freePfn(i32, i32[rc.pool.slot(m, q)]!);
          yield* rc.pool.free(cpu, m);
          break;
        }
        rc.depot.link(i32, 0, m);
      }
    }
    yield* spinUnlock(cpu, tree.lock);
    yield* spinUnlock(cpu, rc.depotLocks[0]!);
  }

  private *map(j: number, pages: number): Op<void> {
    if (!this.isBound()) return yield* this.idle();
    const pfn = yield* this.s.iovad.allocIovaFast(this.cpu, pages, this.s.limitPfn, true);
    if (pfn === 0) {
      this.used[j] = 0;
      return;
    }
    Atomics.store(this.cpu.i32, this.slot(j), pfn);
    Atomics.store(this.cpu.i32, this.slot(j) + 1, pages);
  }

  /** Take the range out of the device's table (the checker's view: it leaves the device now). */
  private take(j: number): [number, number] {
    const i32 = this.cpu.i32;
    const pfn = Atomics.exchange(i32, this.slot(j), 0);
    return [pfn, Atomics.load(i32, this.slot(j) + 1)];
  }

  private *unmap(j: number): Op<void> {
    const [pfn, pages] = this.take(j);
    if (pfn === 0) return;
    // A statistic (checker read, no scheduling point): lazy when the unmap starts, as a rule.
    if (Atomics.load(this.cpu.i32, this.s.state.fqDomain) !== 0) this.cpu.checker.count('LAZY-UNMAP');
    yield* this.s.cookie.iommuDmaUnmap(this.cpu, pfn, pages);
  }

  /** sysfs: write DMA-FQ to the group's type (counted when this write made the domain lazy). */
  private *switchLazy(): Op<void> {
    const i32 = this.cpu.i32;
    const was = Atomics.load(i32, this.s.state.fqDomain);
    yield* this.s.cookie.iommuGroupStoreTypeDmaFq(this.cpu);
    if (was === 0 && Atomics.load(i32, this.s.state.fqDomain) !== 0) this.cpu.checker.count('LAZY-SWITCH');
  }

  /**
   * The same unmap from a task migrated to the hotpluggable CPU, if it is online: the task counts itself
   * there, then checks the CPU is still up (cpu_down clears online, then waits for the count to drain).
   */
  private *unmapOnHotCpu(j: number): Op<void> {
    const cpu = this.cpu;
    const st = this.s.state;
    yield SITE_MIGRATE;
    Atomics.add(cpu.i32, st.tasksOnHotCpu, 1);
    const on = Atomics.load(cpu.i32, st.online) !== 0;
    if (on) cpu.thisCpu = st.hotCpu;
    try {
      yield* this.unmap(j);
    } finally {
      cpu.thisCpu = cpu.id;
    }
    yield SITE_MIGRATE_BACK;
    Atomics.sub(cpu.i32, st.tasksOnHotCpu, 1);
  }

  /** cpu_down of the hotpluggable CPU (its dead callbacks), then cpu_up. One at a time: the loser skips. */
  private *hotplug(): Op<void> {
    const cpu = this.cpu;
    const st = this.s.state;
    yield SITE_DOWN;
    if (Atomics.compareExchange(cpu.i32, st.online, 1, 0) !== 1) return;
    yield* waitUntilZero(cpu, st.tasksOnHotCpu, SITE_DRAIN);
    const live = Atomics.load(cpu.i32, st.cpuhpNode) !== 0; // a statistic (checker read)
    yield* this.s.cookie.iova.cpuHotplugDead(cpu, st.hotCpu);
    if (live) cpu.checker.count('CPU-DEAD');
    yield SITE_UP;
    Atomics.store(cpu.i32, st.online, 1);
  }

  /** Unbind: the driver unmaps everything it mapped (the table says what: see isBound), then the core. */
  private *release(): Op<void> {
    if (!this.isBound()) return yield* this.idle();
    for (let j = 0; j < MAX_MAPS; j++) yield* this.unmap(j);
    Atomics.store(this.cpu.i32, this.boundWord, 0);
    yield* this.s.cookie.iommuReleaseDevice(this.cpu);
  }

  private *idle(): Op<void> {
    yield SITE_IDLE;
  }
}

const params: ScenarioDef['params'] = {
  spacePfns: { default: 4096, min: 1024, max: 1 << 20, help: 'IOVA space in granules (limit_pfn = spacePfns - 1)' },
  resvPfns: {
    default: 16,
    min: 0,
    max: 1 << 18,
    help: 'the device reserved region (iova_reserve_iommu_regions) just below spacePfns / 2, 0 = none',
  },
  fqSize: { default: 256, min: 2, max: 1 << 15, help: 'per-CPU flush queue entries (IOVA_DEFAULT_FQ_SIZE = 256)' },
  fqTimeoutMs: { default: 10, min: 1, max: 10_000, help: 'IOVA_DEFAULT_FQ_TIMEOUT (virtual ms in explore)' },
  depotDelayMs: { default: IOVA_DEPOT_DELAY_MS, min: 1, max: 10_000, help: 'IOVA_DEPOT_DELAY' },
  opsPerBind: { default: 4, min: 1, max: 1000, help: 'ops a device runs between bind and unbind' },
  idleOps: { default: 2, min: 0, max: 1000, help: 'ops a device stays unbound after an unbind' },
  warmDepot: { default: 1, min: 0, max: 8, help: 'full bucket-0 depot magazines a new domain starts with (harness)' },
  nsPerStep: { default: 1_000_000, min: 1, max: 1e9, help: 'explore: virtual ns per step' },
};

/**
 * Every site the lifecycle model yields (engine/coverage.ts: `#` stands for a size class or a CPU), as the
 * default suite's explore leg reaches them for `correct`; depot-v1-pop's teardown pop is its own.
 */
const LIFECYCLE_SITES: readonly Site[] = [
  'READ_ONCE(cookie->fq_domain)',
  'WRITE_ONCE(cookie->fq_domain)',
  'atomic64_inc fq_flush_finish_cnt',
  'atomic64_inc fq_flush_start_cnt',
  'fq full: atomic64_inc fq_flush_start_cnt',
  'atomic64_read fq_flush_finish_cnt',
  'atomic64_set fq flush counters',
  'cookie->percpu_fq = queue',
  'cpu_down: set offline',
  'cpu_down: wait for tasks to leave',
  'cpu_up',
  'cpuhp_state_add_instance_nocalls',
  'cpuhp_state_remove_instance_nocalls',
  'del_timer fq_timer',
  'del_timer iova_depot_work[#]',
  'del_timer_sync fq_timer',
  'del_timer_sync iova_depot_work[#]',
  'domain->type = IOMMU_DOMAIN_DMA_FQ',
  'driver unbound',
  'flush_iotlb_all',
  'fq entry read',
  'fq head advance',
  'fq_full',
  'fq_ring_add',
  'fq_timer_on = 0',
  'free_percpu rcaches[#].cpu_rcaches',
  'free_percpu(cookie->percpu_fq)',
  'group users',
  'init_iova_domain',
  'iommu_dma_init_one_fq',
  'iommu_iotlb_sync',
  'iommu_unmap_fast',
  'iova_magazine_alloc',
  'iova_magazine_free',
  'kfree(cookie)',
  'lock cpu_hotplug_lock',
  'lock cpu_rcache[#]@cpu#.lock',
  'lock fq@cpu#.lock',
  'lock group->mutex',
  'lock iova_rbtree_lock',
  'lock rcache[#].lock',
  'migrate back',
  'migrate to the hotpluggable cpu',
  'mod_timer fq_timer',
  'put_iova_domain: free every iova',
  'raw_cpu_ptr(cookie->percpu_fq)',
  'rbtree alloc_iova',
  'rbtree alloc_iova (retry after the rcache flush)',
  'rbtree reserve_iova',
  'rcache[#] iova_depot_pop',
  'rcache[#] magazine size = 0',
  'rcache[#] magazine_free_pfns (rbtree erase)',
  'rcache[#] magazine_pop scan',
  'rcache[#] magazine_pop write',
  'rcache[#] magazine_push',
  'rcache[#] read loaded/prev',
  'rcache[#] read remote loaded/prev',
  'rcache[#] swap loaded/prev',
  'rcaches[#] teardown: read depot',
  'rcaches[#].cpu_rcaches = alloc_percpu',
  'read cpuhp instance list',
  'read fq_timer_on',
  'read iovad->granule',
  'read iovad->start_pfn',
  'read rcaches[#].cpu_rcaches',
  'timer fq_timer fires',
  'timer_setup fq_timer; fq_timer_on = 0',
  'unlock cpu_hotplug_lock',
  'unlock cpu_rcache[#]@cpu#.lock',
  'unlock fq@cpu#.lock',
  'unlock group->mutex',
  'unlock iova_rbtree_lock',
  'unlock rcache[#].lock',
  'warm depot (harness)',
];

export const lifecycleScenario: ScenarioDef<LifecyclePatch> = {
  name: 'lifecycle',
  summary:
    "a DMA domain's life: devices bind (init), map/unmap, switch it to lazy, hot-unplug a CPU, unbind (teardown)",
  follows: 'kernel-model.md §2.1-§2.3, §3.2-§3.4; §9 #2 (DEPOT-BUG), #7 (INIT-RACE); 32e92d9f6f87',
  params,
  exploreCpus: 2,
  exploreOps: 8,
  exploreParams: { fqSize: 4 } satisfies Params,
  invariants: LIFECYCLE_INVARIANTS,
  sites: LIFECYCLE_SITES,
  unreached: [
    {
      sites: ['rcache[#] swap loaded/prev'],
      reason:
        "the swap needs a full loaded and a non-full prev magazine, rare in explore's 2 x 8 ops (stress reaches it); " +
        'the iova scenario covers this rcache path',
    },
    {
      sites: ['fq full: atomic64_inc fq_flush_start_cnt', 'rbtree alloc_iova (retry after the rcache flush)'],
      reason:
        'a few live single-page buffers per device in an IOVA space of >= 1024 granules, and rings the timer ' +
        'drains: neither the space nor a ring fills here; flushq and pasid reach both paths (@small-space)',
    },
  ],
  variants: LIFECYCLE_VARIANTS,
  build: buildLifecycle,
};
