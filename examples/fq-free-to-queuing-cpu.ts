/**
 * A flush-queue patch as a variant: "free the timer's drained IOVAs into the queuing CPU's rcache" —
 * the ZZK-FQ proposal of kernel-model.md §0 / §3.4. Upstream, fq_flush_timeout drains every ring on
 * the timer's CPU, so free_iova_fast puts every drained IOVA into *that* CPU's range cache; the patch
 * remembers which CPU queued each entry and frees into that CPU's cache instead (taking its lock).
 *
 *   npx tsc -b
 *   node dist/src/cli.js list --scenario-file examples/fq-free-to-queuing-cpu.ts
 *   node dist/src/cli.js explore flushq --variant free-to-queuing-cpu --scenario-file examples/fq-free-to-queuing-cpu.ts --seed 1
 *   node dist/src/cli.js run flushq --variant free-to-queuing-cpu --scenario-file examples/fq-free-to-queuing-cpu.ts --mode stress --ops 5000
 *
 * It must stay clean: freeing into another CPU's cpu_rcache under its lock keeps F1 and the allocator
 * invariants (I1–I5); whether it pays off is for `bench` (peak queued, map latency on the timer CPU).
 */
import {
  at, extendScenario, flushqScenario, FlushQueue, FQ_SITES, region,
  type Cpu, type FlushqPatch, type FlushQueueOptions, type Op, type RegionSpec,
} from '../src/api.js';

class FreeToQueuingCpuFq extends FlushQueue {
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
    const pfn = Atomics.load(cpu.i32, this.pfn + k);
    const pages = Atomics.load(cpu.i32, this.pagesIdx + k);
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

export default extendScenario(flushqScenario, [
  {
    name: 'free-to-queuing-cpu', summary: 'ZZK-FQ: drained IOVAs go to the rcache of the CPU that queued them',
    expect: 'clean', source: 'kernel-model.md §3.4 (ZZK-FQ, a 2024 proposal)', patch,
  },
  {
    name: 'free-to-queuing-cpu-single', summary: 'the same on the single queue, where any CPU queues on the one ring',
    expect: 'clean', source: 'kernel-model.md §3.4, §3.5', patch: { ...patch, single: true },
  },
]);
