/**
 * Checkers apart from the code under test (issue 10): user-written variants of the page table, the
 * map_sg core and the two-step IOVA API — small subclasses, as a user's scenario file would hold them —
 * are caught in explore for seeds 1-3 within a bounded number of schedules, by checkers that live in
 * the harness (the instrumented PTE stores and the table scan, the hypervisor's commit tags, the ops
 * dispatch that counts syncs, the op program, the allocator's hand-in). A variant that changes nothing
 * (a subclass that overrides no method) stays clean over 2,000 schedules: the seam itself adds no
 * false positive.
 */
import { describe, expect, it } from 'vitest';
import {
  type Cpu,
  DmaIovaApi,
  type DmaIovaState,
  dmaIovaScenario,
  extendScenario,
  IommuCore,
  IoPgtable,
  mapsgScenario,
  type Op,
  PerCallDriver,
  pgtableScenario,
  type ScenarioDef,
  SZ_4K,
  tablePte,
  variantOf,
} from '../src/api.js';
import { withDefaults } from '../src/engine/scenario.js';
import { explore } from '../src/explore/explore.js';

/** A map_sg whose final iotlb_sync_map is skipped: "the per-call driver's sync does nothing anyway". */
class SkipFinalSyncCore extends IommuCore {
  // eslint-disable-next-line require-yield
  override *iommuSyncMap(): Op<number> {
    return 0;
  }
}

/** An unwind that leaves the last page of what it mapped in place (an off-by-one in the error path). */
class ShortUnwindCore extends IommuCore {
  protected override *mapSgOutErr(
    cpu: Cpu,
    iova: number,
    mapped: number,
    _c: null,
    _consumed: boolean,
    ret: number,
  ): Op<number> {
    yield* this.iommuUnmap(cpu, iova, Math.max(0, mapped - SZ_4K));
    return ret;
  }
}

/** A table install that reads the entry and stores the table if it is still empty: no cmpxchg. */
class CheckThenStorePgtable extends IoPgtable {
  protected override *armLpaeInstallTable(cpu: Cpu, slot: number, page: number, lvl: number, curr: number): Op<number> {
    yield `L${lvl} install_table read`;
    const old = Atomics.load(cpu.i32, slot);
    if (old !== curr) return old;
    yield `L${lvl} install_table store`;
    Atomics.store(cpu.i32, slot, tablePte(page));
    return curr;
  }
}

/** dma_iova_destroy that hands the IOVA back first and unlinks after ("the unmap can trail"). */
class FreeThenUnlinkApi extends DmaIovaApi {
  override *dmaIovaDestroy(cpu: Cpu, st: DmaIovaState, mappedLen: number): Op<number> {
    const addr = st.addr;
    const size = st.size;
    yield* this.dmaIovaFree(cpu, st);
    return yield* this.core.iommuUnmap(cpu, addr, Math.ceil(Math.min(mappedLen, size) / SZ_4K) * SZ_4K);
  }
}

const mapsg = extendScenario(mapsgScenario, [
  {
    name: 'user-skip-sync',
    summary: 'map_sg without the final iotlb_sync_map',
    expect: ['MAPSG-SYNC'],
    patch: { driver: PerCallDriver, core: SkipFinalSyncCore },
  },
  {
    name: 'user-short-unwind',
    summary: 'unwind leaves a page mapped',
    expect: ['MAPSG-ERROR'],
    patch: { driver: PerCallDriver, core: ShortUnwindCore },
  },
  {
    name: 'user-same',
    summary: 'a subclass that changes nothing',
    expect: 'clean',
    patch: { driver: class extends PerCallDriver {}, core: class extends IommuCore {} },
  },
]);
const pgtable = extendScenario(pgtableScenario, [
  {
    name: 'user-check-then-store',
    summary: 'install_table without cmpxchg',
    expect: ['PT-LEAK', 'PT-TRANSLATE'],
    patch: { pgtable: CheckThenStorePgtable },
  },
  {
    name: 'user-same',
    summary: 'a subclass that changes nothing',
    expect: 'clean',
    patch: { pgtable: class extends IoPgtable {} },
  },
]);
const dmaIova = extendScenario(dmaIovaScenario, [
  {
    name: 'user-free-then-unlink',
    summary: 'destroy frees, then unlinks',
    expect: ['IOVA-FREE-LINKED'],
    patch: { api: FreeThenUnlinkApi },
  },
  {
    name: 'user-same',
    summary: 'a subclass that changes nothing',
    expect: 'clean',
    patch: { api: class extends DmaIovaApi {} },
  },
]);

function search<P>(s: ScenarioDef<P>, variant: string, seed: number, schedules: number) {
  return explore({
    scenario: s as ScenarioDef,
    variant: variantOf(s, variant) as never,
    params: withDefaults(s as ScenarioDef, s.exploreParams),
    opsPerCpu: Array<number>(s.exploreCpus).fill(s.exploreOps),
    strategy: 'pct',
    depth: 3,
    schedules,
    timeMs: Number.POSITIVE_INFINITY,
    seed,
    maxSteps: 100_000,
    shrink: false,
  });
}

describe('user-written variants are caught by checkers the variant cannot reach', () => {
  const cases: [ScenarioDef<never>, string, string, number][] = [
    [mapsg as ScenarioDef<never>, 'user-skip-sync', 'MAPSG-SYNC', 50],
    [mapsg as ScenarioDef<never>, 'user-short-unwind', 'MAPSG-ERROR', 500],
    [pgtable as ScenarioDef<never>, 'user-check-then-store', '', 500],
    [dmaIova as ScenarioDef<never>, 'user-free-then-unlink', 'IOVA-FREE-LINKED', 100],
  ];
  for (const [s, variant, invariant, bound] of cases) {
    for (const seed of [1, 2, 3]) {
      it(`${s.name}/${variant} is caught for seed ${seed} within ${bound} schedules`, () => {
        const r = search(s, variant, seed, bound);
        expect(r.violation, `${variant} seed ${seed}`).toBeDefined();
        const expected = variantOf(s, variant).expect as readonly string[];
        expect(expected).toContain(r.violation!.invariant);
        if (invariant) expect(r.violation!.invariant).toBe(invariant);
      });
    }
  }

  for (const s of [mapsg, pgtable, dmaIova] as ScenarioDef<never>[]) {
    it(`${s.name}/user-same (a subclass overriding nothing) stays clean over 2,000 schedules (seed 7)`, () => {
      const r = search(s, 'user-same', 7, 2_000);
      expect(r.violation).toBeUndefined();
      expect(r.schedules).toBe(2_000);
    });
  }
});
