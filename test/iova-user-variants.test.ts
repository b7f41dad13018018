/**
 * Checkers apart from the code under test (issue 10, deliver 2), for scenario `iova`: patches a user
 * might write — small subclasses overriding one kernel function each, added with extendScenario as a
 * scenario file would — are each caught by the invariant they break, in explore for seeds 1-3 within a
 * bounded number of schedules, although every override replaces the very method it breaks: the shadow
 * map is driven from the harness's hand-out and hand-in, the leak check from the quiescent scan, the
 * lock assertion from the depot's storage. A patch that overrides methods only to call the originals
 * stays clean over 2,000 schedules.
 */
import { describe, expect, it } from 'vitest';
import {
  C_LOADED,
  C_PREV,
  Cpu,
  extendScenario,
  IovaDomain,
  IovaRcaches,
  iovaScenario,
  runToEnd,
  spinLock,
  spinUnlock,
  type IovaPatch,
  type Op,
  type VariantDef,
} from '../src/api.js';
import { Checker } from '../src/check/checker.js';
import { allocateMemory, defineLayout } from '../src/engine/layout.js';
import { meetsExpectation, variantOf, withDefaults, type ScenarioDef } from '../src/engine/scenario.js';
import { newIovaDomain } from '../src/model/iova/checked-domain.js';
import { iovaDomainRegions } from '../src/model/iova/iova-domain.js';
import { explore, type ExploreOutcome } from '../src/explore/explore.js';

/** iova_magazine_pop that hands out the top pfn under the limit but forgets to remove it. */
class PopKeepsPfn extends IovaRcaches {
  protected override *iovaMagazinePop(cpu: Cpu, _k: number, m: number, limitPfn: number): Op<number> {
    yield 'my iova_magazine_pop';
    const n = this.pool.size(cpu.i32, m);
    for (let i = n - 1; i >= 0; i--) {
      const pfn = cpu.i32[this.pool.slot(m, i)]!;
      if (pfn <= limitPfn) return pfn; // BUG: no swap-remove, no size--
    }
    return 0;
  }
}

/** __iova_rcache_insert that says "cached" and drops the range. */
class InsertDropsRange extends IovaRcaches {
  override *iovaRcacheInsert(_cpu: Cpu, _k: number, _pfn: number): Op<boolean> {
    yield 'my __iova_rcache_insert';
    return true;
  }
}

/** iova_magazine_free_pfns that returns the pfns to the rbtree but forgets `mag->size = 0`. */
class FreePfnsKeepsSize extends IovaRcaches {
  override *iovaMagazineFreePfns(cpu: Cpu, m: number, k: number, whose: string): Op {
    const n = this.pool.size(cpu.i32, m);
    yield* super.iovaMagazineFreePfns(cpu, m, k, whose);
    cpu.i32[this.pool.head(m)] = n; // BUG
  }
}

/** __iova_rcache_insert with the depot push made without rcache->lock ("the CPU lock is enough"). */
class PushWithoutDepotLock extends IovaRcaches {
  override *iovaRcacheInsert(cpu: Cpu, k: number, pfn: number): Op<boolean> {
    const i32 = cpu.i32;
    const s = this.slot(cpu.thisCpu, k);
    const lock = this.cpuLocks[cpu.thisCpu]![k]!;
    yield* spinLock(cpu, lock);
    yield 'my insert: read loaded/prev';
    let loaded = i32[s + C_LOADED]!;
    const prev = i32[s + C_PREV]!;
    let canInsert = true;
    if (this.iovaMagazineFull(i32, loaded)) {
      if (!this.iovaMagazineFull(i32, prev)) {
        i32[s + C_LOADED] = prev;
        i32[s + C_PREV] = loaded;
        loaded = prev;
      } else {
        const newMag = yield* this.iovaMagazineAlloc(cpu);
        if (newMag < 0) canInsert = false;
        else {
          yield 'my insert: depot push';
          this.iovaDepotPush(cpu, k, loaded); // BUG: rcache->lock not taken
          yield* this.scheduleDelayedWork(cpu, k);
          i32[s + C_LOADED] = newMag;
          loaded = newMag;
        }
      }
    }
    if (canInsert) canInsert = yield* this.iovaMagazinePush(cpu, k, loaded, pfn);
    yield* spinUnlock(cpu, lock);
    return canInsert;
  }
}

/** Overrides that only call the originals: a patch changes nothing by being a patch. */
class SameRcaches extends IovaRcaches {
  override *iovaRcacheGet(cpu: Cpu, k: number, limitPfn: number): Op<number> {
    return yield* super.iovaRcacheGet(cpu, k, limitPfn);
  }
  override *iovaRcacheInsert(cpu: Cpu, k: number, pfn: number): Op<boolean> {
    return yield* super.iovaRcacheInsert(cpu, k, pfn);
  }
  protected override iovaDepotPop(cpu: Cpu, k: number): number {
    return super.iovaDepotPop(cpu, k);
  }
}
class SameDomain extends IovaDomain {
  override *allocIovaFast(cpu: Cpu, size: number, limitPfn: number, flush: boolean): Op<number> {
    return yield* super.allocIovaFast(cpu, size, limitPfn, flush);
  }
}

const USER: readonly VariantDef<IovaPatch>[] = [
  {
    name: 'user-pop-keeps-pfn',
    summary: 'magazine pop does not remove the pfn',
    expect: ['I5'],
    patch: { rcaches: PopKeepsPfn },
  },
  {
    name: 'user-insert-drops',
    summary: 'rcache insert drops the range',
    expect: ['IOVA-LEAK'],
    patch: { rcaches: InsertDropsRange },
  },
  {
    name: 'user-free-pfns-keeps-size',
    summary: 'free_pfns leaves the count',
    // The final drain runs free_pfns too: a magazine still counting pfns after it is IOVA-DRAIN.
    expect: ['I5', 'I2', 'I3', 'IOVA-DRAIN'],
    patch: { rcaches: FreePfnsKeepsSize },
  },
  {
    name: 'user-push-unlocked',
    summary: 'depot push without rcache->lock',
    expect: ['DEPOT-LOCK'],
    patch: { rcaches: PushWithoutDepotLock },
  },
  {
    name: 'user-same',
    summary: 'overrides calling the originals',
    expect: 'clean',
    patch: { rcaches: SameRcaches, domain: SameDomain },
  },
];
const scenario: ScenarioDef<IovaPatch> = extendScenario(iovaScenario, USER);

function run(variant: string, seed: number, schedules: number): ExploreOutcome {
  return explore({
    scenario,
    variant: variantOf(scenario, variant),
    params: withDefaults(scenario),
    opsPerCpu: Array<number>(scenario.exploreCpus).fill(scenario.exploreOps),
    strategy: 'pct',
    depth: 3,
    schedules,
    timeMs: Number.POSITIVE_INFINITY,
    seed,
    maxSteps: 200_000,
    shrink: false,
  });
}

const CAP = 200;

describe('iova: user-written variants are caught by checkers they cannot override', () => {
  for (const v of USER.filter((u) => u.expect !== 'clean')) {
    it(`${v.name}: ${(v.expect as string[]).join('|')} within ${CAP} PCT schedules, seeds 1-3`, () => {
      for (const seed of [1, 2, 3]) {
        const r = run(v.name, seed, CAP);
        expect(r.violation, `seed ${seed}: clean after ${r.schedules} schedules`).toBeDefined();
        const { invariant, message } = r.violation!;
        expect(meetsExpectation(v, invariant), `seed ${seed}: ${invariant} ${message}`).toBe(true);
      }
    });
  }

  it('the double hand-out is caught at the second hand-out, on the vCPU that gets it, naming the holder', () => {
    const o = {
      cpus: 2,
      startPfn: 1,
      dma32Pfn: 512,
      spacePfns: 1024,
      depotDelayNs: 100e6,
      checks: true,
      resvPfns: 0,
      warm: true,
      warmDepot: 1,
    };
    const patch: IovaPatch = { rcaches: PopKeepsPfn };
    const layout = defineLayout(2, iovaDomainRegions(o, patch));
    const mem = allocateMemory(layout);
    const d = newIovaDomain(layout, o, patch);
    d.init(mem.i32);
    const checker = new Checker(scenario.invariants);
    const cpu0 = new Cpu(0, 'explore', mem, checker);
    const cpu1 = new Cpu(1, 'explore', mem, checker);
    // cpu0 starts with full magazines; cpu1 with empty ones (it allocates from the rbtree).
    const a = runToEnd(d.allocIovaFast(cpu0, 1, 1023, true));
    expect(runToEnd(d.allocIovaFast(cpu1, 1, 1023, true))).not.toBe(a);
    expect(checker.violations).toEqual([]);
    // cpu0's next pop finds the same pfn still on top: handed out again while cpu0 still holds it.
    expect(runToEnd(d.allocIovaFast(cpu0, 1, 1023, true))).toBe(a);
    const hex = `0x${a.toString(16)}`;
    expect(checker.violations[0]).toMatchObject({
      invariant: 'I5',
      vcpu: 0,
      message: `alloc_iova_fast gives cpu0 [${hex}, +1], but pfn ${hex} is in use (handed to cpu0)`,
    });
  });

  it('overrides that call the originals: clean over 2,000 PCT schedules, and the same steps as `correct`', () => {
    const r = run('user-same', 1, 2_000);
    expect(r.violation, r.violation?.message).toBeUndefined();
    expect(r.schedules).toBe(2_000);
    expect(r.outcomes['IOVA-FLUSH']).toBeGreaterThan(100);
    expect(run('user-same', 4, 100).steps).toBe(run('correct', 4, 100).steps);
  });
});
