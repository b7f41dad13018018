/**
 * A flush-queue patch as a variant: ZZK-FQ (kernel-model.md §0, §3.4), "free the timer's drained IOVAs
 * into the queuing CPU's rcache". Upstream, fq_flush_timeout drains every ring on the timer's CPU, so
 * free_iova_fast fills *that* CPU's range cache; the patch records which CPU queued each entry and frees
 * into that CPU's cache instead (under its cpu_rcache lock). It must stay clean: F1 and I1–I5 hold.
 *
 *   npx iommu-stress explore flushq --variant free-to-queuing-cpu --scenario-file examples/fq-free-to-queuing-cpu.ts
 *   npx iommu-stress bench --scenario-file examples/fq-free-to-queuing-cpu.ts --variant percpu,free-to-queuing-cpu
 */
import { at, extendScenario, flushqScenario, FlushQueue, FQ_SITES, FlushUntilRoomFq, region } from '../src/api.js';
import type { Cpu, FlushqPatch, FlushQueueOptions, Op, RegionSpec } from '../src/api.js';

// Built on the fixed queue (flushq/percpu-fixed): upstream's ring-overwrite finding (README "Findings")
// would otherwise be what explore finds first, and it is not what this patch is about.
class FreeToQueuingCpuFq extends FlushUntilRoomFq {
  /** One more word per ring entry: the CPU that queued it. */
  static override regions(cpus: number, o: Pick<FlushQueueOptions, 'single' | 'size'>): Record<string, RegionSpec> {
    return { ...FlushQueue.regions(cpus, o), 'zzk.queuedOn': { kind: 'i32', count: (o.single ? 1 : cpus) * o.size } };
  }

  private readonly queuedOn = at(region(this.layout, 'zzk.queuedOn'));

  /** queue_iova's entry write, plus fq->entries[idx].cpu = smp_processor_id(). */
  protected override fqEntrySet(cpu: Cpu, r: number, idx: number, pfn: number, pages: number, counter: bigint): void {
    super.fqEntrySet(cpu, r, idx, pfn, pages, counter);
    Atomics.store(cpu.i32, this.queuedOn + this.slot(r, idx), cpu.thisCpu);
  }

  /** fq_ring_free_locked's body: free_iova_fast into the queuing CPU's range cache, not this CPU's. */
  protected override *fqEntryFree(cpu: Cpu, r: number): Op {
    yield FQ_SITES.head;
    const head = Atomics.load(cpu.i32, this.headIdx(r));
    const k = this.slot(r, head);
    const [pfn, pages] = [Atomics.load(cpu.i32, this.pfn + k), Atomics.load(cpu.i32, this.pagesIdx + k)];
    const owner = Atomics.load(cpu.i32, this.queuedOn + k);
    Atomics.store(cpu.i32, this.headIdx(r), (head + 1) & this.mask);
    const self = cpu.thisCpu;
    cpu.thisCpu = owner; // per_cpu_ptr(rcache->cpu_rcaches, owner): the range cache reads cpu.thisCpu
    try {
      yield* this.freeIova(cpu, pfn, pages);
    } finally {
      cpu.thisCpu = self;
    }
  }
}

const patch: FlushqPatch = { flushQueue: FreeToQueuingCpuFq };
const source = 'kernel-model.md §3.4 (ZZK-FQ, a 2024 proposal)';
// Coverage: the sites each queue mode never runs, as the built-in percpu / single variants declare them.
const lazySync = { sites: ['iotlb_sync range'], reason: 'lazy unmap never syncs a range' };
const unreached = (single: boolean) => [
  single
    ? { sites: ['lock fq[cpu#]', 'unlock fq[cpu#]'], reason: 'one global ring: no per-CPU ring locks' }
    : { sites: ['lock fq', 'unlock fq'], reason: 'per-CPU rings: no global ring lock' },
  lazySync,
];
const variant = (name: string, summary: string, single = false) =>
  ({ name, summary, expect: 'clean', source, patch: { ...patch, single }, unreached: unreached(single) }) as const;

export default extendScenario(flushqScenario, [
  variant('free-to-queuing-cpu', 'ZZK-FQ: drained IOVAs go to the rcache of the CPU that queued them'),
  variant('free-to-queuing-cpu-single', 'the same on the single queue, where any CPU queues on the one ring', true),
]);
