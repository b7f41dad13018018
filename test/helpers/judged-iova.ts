/**
 * Test variants of scenario `iova` that change how often the one-shot rcache flush happens (judged.test.ts),
 * as a scenario module: stress workers load the compiled file (dist/test/helpers/judged-iova.js) to
 * rebuild the same variants.
 */
import type { Cpu, Op } from '../../src/engine/cpu.js';
import { extendScenario, type VariantDef } from '../../src/engine/scenario.js';
import { IovaDomain } from '../../src/model/iova/iova-domain.js';
import type { IovaPatch } from '../../src/model/iova/patch.js';
import { iovaScenario } from '../../src/scenarios/iova.js';

/** alloc_iova_fast that never flushes the caches: it gives up where upstream would flush and retry. */
export class NoFlushDomain extends IovaDomain {
  override *allocIovaFast(cpu: Cpu, size: number, limitPfn: number): Op<number> {
    return yield* super.allocIovaFast(cpu, size, limitPfn, false);
  }
}

/** alloc_iova_fast that flushes every CPU's magazines and the depots before every allocation. */
export class AlwaysFlushDomain extends IovaDomain {
  override *allocIovaFast(cpu: Cpu, size: number, limitPfn: number, flushRcache: boolean): Op<number> {
    cpu.checker.count('IOVA-FLUSH');
    for (let c = 0; c < this.o.cpus; c++) yield* this.rcache.freeCpuCachedIovas(cpu, c);
    yield* this.rcache.freeGlobalCachedIovas(cpu);
    return yield* super.allocIovaFast(cpu, size, limitPfn, flushRcache);
  }
}

const VARIANTS: VariantDef<IovaPatch>[] = [
  { name: 'no-flush', summary: 'never flushes', expect: ['ENOMEM-COUNT'], patch: { domain: NoFlushDomain } },
  {
    name: 'always-flush',
    summary: 'flushes before every allocation',
    expect: ['IOVA-FLUSH-RATE'],
    patch: { domain: AlwaysFlushDomain },
  },
];

export default extendScenario(iovaScenario, VARIANTS);
