/**
 * A patch of your own as a variant: "make nr_endpoints an atomic_t" — a fix a reviewer might propose for
 * the virtio-iommu race of kernel-model.md §4.3 ("this driver is missing locking around nr_endpoints").
 * The file adds the variant `atomic-count` to the built-in scenario `viommu`:
 *
 *   npx iommu-stress explore --scenario-file examples/viommu-atomic-count.ts --seed 1
 *   npx iommu-stress run --scenario-file examples/viommu-atomic-count.ts --workers 2 --time 10s
 *   npx iommu-stress bench --scenario-file examples/viommu-atomic-count.ts --variant atomic-count,locked
 *
 * An atomic counter cures the lost update (V3: two attaches both write 1) — V-NR never fires here. It
 * does not cure the check-then-act races: map_pages still reads the count, then queues (or skips) the
 * MAP, while an attach replays the tree and bumps the count in between. So this variant still loses a
 * MAP (V1) and keeps a stale mapping (the lost UNMAP): it is expected to trip V-INV1, V-DMA or V-UNMAP,
 * and the harness shows the interleaving. The built-in variant `viommu/locked` is the fix that holds.
 */
import { Counter32, extendScenario, ViommuDriver, viommuScenario, type Cpu, type Op } from '../src/api.js';

/** atomic_inc / atomic_dec: one scheduling point and one atomic access, so no update is lost. */
class AtomicCount extends Counter32 {
  override *plainAdd(cpu: Cpu, delta: number): Op<number> {
    return (yield* this.add(cpu, delta)) + delta;
  }
}

/** The upstream driver, but with nr_endpoints kept in an atomic_t. */
class AtomicCountDriver extends ViommuDriver {
  protected override makeCounter(index: number, name: string): Counter32 {
    return new AtomicCount(index, name);
  }
}

export default extendScenario(viommuScenario, [
  {
    name: 'atomic-count',
    summary: 'atomic_inc/atomic_dec on nr_endpoints; map/unmap/sync still check it without a lock',
    expect: ['V-INV1', 'V-DMA', 'V-UNMAP'],
    source: "a reviewer's proposal, run instead of argued",
    patch: { driver: AtomicCountDriver },
  },
]);
