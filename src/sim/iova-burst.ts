/**
 * The `burst` op shape of `bench --sim --suite iova` (kernel-model.md §9 #3, §2.5 ZZK-DEPOT): deep I/O
 * queues on the allocating vCPUs, completions freed in bursts by `freers` IRQ vCPUs — the shape of the
 * published report (fio 4 KiB reads on a 256-CPU machine, IOVAs allocated on the submitting CPUs and
 * freed by 16 IRQ CPUs), where the pre-6.7 depot of 32 magazines per bucket overflowed and the frees went
 * back to the rbtree under iova_rbtree_lock.
 *
 * Every allocating vCPU maps a burst of `depth` one-granule mappings (a 4 KiB read each: bucket 0),
 * each through alloc_iova_fast, posts them to its submission queue, raises the completion interrupt and
 * waits until the burst has completed (one op = one burst, its frees included). An IRQ vCPU serves every
 * freers-th allocating vCPU: it frees a posted burst range by range through free_iova_fast (so 127
 * consecutive frees fill a magazine on the IRQ CPU, which goes to the depot, or — fixed depot full —
 * back to the rbtree), marks the burst completed, and sleeps when none of its queues has work. Up to
 * `depth` mappings are in flight per allocating vCPU.
 *
 * The model code is the iova scenario's, unchanged: the domain, range caches and depot built from the
 * variant's patch by newIovaDomain (model/iova/checked-domain.ts); this file only drives it (the op
 * shape), as scenarios/iova.ts's bench shapes do. Simplifications: the device is instantaneous (a burst
 * completes as soon as the IRQ vCPU gets to it); the IRQ vCPUs never allocate (the report allocated on
 * all 256); no online shadow checks (checks: false, as every benchmark) and no quiescent scan (the
 * simulated bench judges nothing; the scenario's tests do).
 */
import type { Cpu, Op } from '../engine/cpu.js';
import { at, defineLayout, region } from '../engine/layout.js';
import type { ModelConfig, ScenarioModel, VcpuProgram } from '../engine/scenario.js';
import { waitUntilZero } from '../engine/sync.js';
import { newIovaDomain, type CheckedIovaDomain } from '../model/iova/checked-domain.js';
import { iovaDomainRegions, type IovaDomainOptions } from '../model/iova/iova-domain.js';
import type { IovaPatch } from '../model/iova/patch.js';
import { IOVA_DEPOT_DELAY_MS } from '../model/iova/rcache.js';

export interface BurstOptions {
  /** IRQ vCPUs (the first `freers`); every other vCPU allocates. */
  readonly freers: number;
  /** Mappings per burst: the I/O queue depth of an allocating vCPU. */
  readonly depth: number;
  /** IOVA space in granules (large enough that the caches of 256 vCPUs never exhaust it). */
  readonly spacePfns: number;
}

const SITE_POST = 'burst: post to the submission queue';
const SITE_WAIT = 'burst: wait until the IRQ CPU completed it';
const SITE_IRQ = 'completion irq: wake the IRQ CPU';
const SITE_IDLE = 'irq cpu: going idle';
const SITE_TAKE = 'irq cpu: read a completion';
const SITE_DONE = 'irq cpu: complete the burst';
const SITE_SLEEP = 'irq cpu: sleep until a completion';

/** One 4 KiB page per mapping: fio's 4k reads, all in bucket 0. */
const GRANULES = 1;

export function buildIovaBurst(config: ModelConfig<IovaPatch>, o: BurstOptions): ScenarioModel {
  const { cpus } = config;
  const patch = config.variant.patch ?? {};
  const opts: IovaDomainOptions = {
    cpus,
    startPfn: 1,
    dma32Pfn: o.spacePfns >>> 1,
    spacePfns: o.spacePfns,
    depotDelayNs: IOVA_DEPOT_DELAY_MS * 1e6,
    checks: false,
    resvPfns: 0,
    warm: false,
    warmDepot: 0,
  };
  const layout = defineLayout(cpus, {
    ...iovaDomainRegions(opts, patch),
    // The allocating vCPUs' submission queues: depth entries each (pfn, 0 = empty).
    'burst.queue': { kind: 'i32', count: cpus * o.depth },
    // Per vCPU, on its own 64-byte line: mappings posted and not yet completed (0 = queue free).
    'burst.count': { kind: 'i32', count: 16 * cpus },
    // Per IRQ vCPU, on its own line: 1 while it sleeps waiting for a completion.
    'burst.irqIdle': { kind: 'i32', count: 16 * cpus },
  });
  const domain = newIovaDomain(layout, opts, patch);
  const s: Shape = {
    domain,
    queue: at(region(layout, 'burst.queue')),
    count: at(region(layout, 'burst.count')),
    irqIdle: at(region(layout, 'burst.irqIdle')),
    cpus,
    freers: o.freers,
    depth: o.depth,
    limit: opts.spacePfns - 1,
  };
  return {
    layout,
    init(mem) {
      domain.init(mem.i32);
    },
    program: (cpu) => new BurstProgram(cpu, s),
    quiescent() {},
    timers: domain.timerSpecs(),
  };
}

interface Shape {
  readonly domain: CheckedIovaDomain;
  readonly queue: number;
  readonly count: number;
  readonly irqIdle: number;
  readonly cpus: number;
  readonly freers: number;
  readonly depth: number;
  readonly limit: number;
}

/** One op: an allocating vCPU's burst of `depth` mappings, or one sweep of an IRQ vCPU's queues. */
class BurstProgram implements VcpuProgram {
  private readonly pfns: number[] = [];

  constructor(
    private readonly cpu: Cpu,
    private readonly s: Shape,
  ) {}

  next(): Op<unknown> {
    return this.cpu.id < this.s.freers ? this.sweep() : this.burst();
  }

  describe(): string {
    return this.cpu.id < this.s.freers
      ? 'IRQ CPU: free the completed bursts'
      : `map a burst of ${this.s.depth} x 4 KiB, submit it`;
  }

  private *burst(): Op<void> {
    const { cpu, s } = this;
    const pfns = this.pfns;
    pfns.length = 0;
    for (let i = 0; i < s.depth; i++) {
      const pfn = yield* s.domain.allocIovaFast(cpu, GRANULES, s.limit, true);
      if (pfn !== 0) pfns.push(pfn);
    }
    if (pfns.length === 0) return;
    const count = s.count + 16 * cpu.id;
    const q = s.queue + cpu.id * s.depth;
    for (let i = 0; i < pfns.length; i++) {
      yield SITE_POST;
      Atomics.store(cpu.i32, q + i, pfns[i]!);
    }
    yield SITE_POST;
    Atomics.store(cpu.i32, count, pfns.length);
    // The completion interrupt: wake the IRQ vCPU if it sleeps.
    yield SITE_IRQ;
    const idle = s.irqIdle + 16 * (cpu.id % s.freers);
    if (Atomics.load(cpu.i32, idle) !== 0) Atomics.store(cpu.i32, idle, 0);
    // Wait for the burst's completion (fio's iodepth_batch_complete): the IRQ CPU has freed every range.
    yield* waitUntilZero(cpu, count, SITE_WAIT);
  }

  private *sweep(): Op<void> {
    const { cpu, s } = this;
    const idle = s.irqIdle + 16 * cpu.id;
    // Say "asleep" before the sweep, so a post that the sweep misses finds the flag set and clears it.
    yield SITE_IDLE;
    Atomics.store(cpu.i32, idle, 1);
    let took = 0;
    for (let c = s.freers + cpu.id; c < s.cpus; c += s.freers) {
      const count = s.count + 16 * c;
      yield SITE_TAKE;
      const n = Atomics.load(cpu.i32, count);
      if (n === 0) continue;
      const q = s.queue + c * s.depth;
      for (let i = 0; i < n; i++) {
        yield SITE_TAKE;
        const pfn = Atomics.load(cpu.i32, q + i);
        yield* s.domain.freeIovaFast(cpu, pfn, GRANULES);
      }
      yield SITE_DONE;
      Atomics.store(cpu.i32, count, 0);
      took++;
    }
    if (took === 0) yield* waitUntilZero(cpu, idle, SITE_SLEEP);
  }
}
