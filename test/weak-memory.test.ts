// --memory weak (src/engine/weak-memory.ts) under the explore machinery: a message-passing model whose
// missing smp_wmb() shows only under weak, tokens that carry the memory model and replay bit for bit,
// the trace naming the stale read, and plain Atomics accesses that never break coherence.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Cpu, Op } from '../src/engine/cpu.js';
import { allocateMemory, at, defineLayout } from '../src/engine/layout.js';
import { READ_ONCE, smp_rmb, smp_wmb, WRITE_ONCE } from '../src/engine/order.js';
import type { ScenarioDef, ScenarioModel } from '../src/engine/scenario.js';
import { runExecution } from '../src/explore/execution.js';
import { explore, replayRepro } from '../src/explore/explore.js';
import { decodeToken, encodeToken, readToken } from '../src/explore/repro.js';
import { DepthFirst } from '../src/litmus/run.js';
import { root } from './helpers/cli.js';
import { main } from '../src/cli.js';
import { memoryIo } from '../src/cli/io.js';

interface MpPatch {
  readonly wmb: boolean;
}

/**
 * cpu0 publishes data then a flag, cpu1 reads the flag then the data (each access its own step, as a
 * model's are). MP-BROKEN: cpu1 saw the flag but not the data.
 */
const mp: ScenarioDef<MpPatch> = {
  name: 'mp',
  summary: 'message passing',
  follows: 'tools/memory-model MP',
  params: {},
  exploreCpus: 2,
  exploreOps: 1,
  invariants: [{ id: 'MP-BROKEN', meaning: 'a reader that sees the flag sees the data', grade: 'FORBIDDEN' }],
  variants: [
    { name: 'barriers', summary: 'smp_wmb / smp_rmb', expect: 'clean', patch: { wmb: true } },
    { name: 'no-wmb', summary: 'no smp_wmb', expect: ['MP-BROKEN'], patch: { wmb: false } },
  ],
  build(config): ScenarioModel {
    const layout = defineLayout(config.cpus, { data: { kind: 'i32', count: 1 }, flag: { kind: 'i32', count: 1 } });
    const data = at(layout.regions.data!);
    const flag = at(layout.regions.flag!);
    const wmb = config.variant.patch?.wmb ?? true;
    function* writer(cpu: Cpu): Op {
      yield 'write data';
      WRITE_ONCE(cpu, data, 1);
      if (wmb) {
        yield 'smp_wmb';
        smp_wmb(cpu);
      }
      yield 'write flag';
      WRITE_ONCE(cpu, flag, 1);
    }
    function* reader(cpu: Cpu): Op {
      yield 'read flag';
      const f = READ_ONCE(cpu, flag);
      cpu.note('read', 'flag', flag, f);
      yield 'smp_rmb';
      smp_rmb(cpu);
      yield 'read data';
      const d = READ_ONCE(cpu, data);
      cpu.note('read', 'data', data, d);
      if (f === 1 && d === 0) cpu.fail('MP-BROKEN', `cpu${cpu.id} saw flag = 1 but data = 0`);
    }
    return {
      layout,
      init() {},
      program: (cpu) => ({ next: () => (cpu.id === 0 ? writer(cpu) : reader(cpu)), describe: () => 'mp' }),
      quiescent() {},
    };
  },
};

const base = { scenario: mp as ScenarioDef, params: {}, opsPerCpu: [1, 1], depth: 3, timeMs: Infinity };

describe('--memory weak in explore', () => {
  it('finds the missing smp_wmb() only under weak, and the barriers keep it clean', () => {
    const noWmb = mp.variants[1]!;
    const weak = explore({
      ...base,
      variant: noWmb,
      strategy: 'pct',
      schedules: 500,
      seed: 1,
      maxSteps: 100,
      shrink: true,
      memory: 'weak',
    });
    expect(weak.violation?.invariant).toBe('MP-BROKEN');
    const sc = explore({
      ...base,
      variant: noWmb,
      strategy: 'pct',
      schedules: 500,
      seed: 1,
      maxSteps: 100,
      shrink: false,
    });
    expect(sc.violation).toBeUndefined();
    const fixed = explore({
      ...base,
      variant: mp.variants[0]!,
      strategy: 'random',
      schedules: 500,
      seed: 1,
      maxSteps: 100,
      shrink: false,
      memory: 'weak',
    });
    expect(fixed.violation).toBeUndefined();
    expect(fixed.schedules).toBe(500);
  });

  it('the token carries the memory model and replays with the same trace hash; the trace names the stale read', () => {
    const r = explore({
      ...base,
      variant: mp.variants[1]!,
      strategy: 'random',
      schedules: 500,
      seed: 3,
      maxSteps: 100,
      shrink: true,
      memory: 'weak',
    });
    const found = r.minimal!;
    expect(found.repro.memory).toBe('weak');
    const decoded = decodeToken(found.token);
    expect(decoded.memory).toBe('weak');
    const model = mp.build({ cpus: 2, variant: mp.variants[1]!, params: {} });
    const again = replayRepro(
      {
        scenario: mp as ScenarioDef,
        model,
        mem: allocateMemory(model.layout),
        opSeed: decoded.opSeed,
        maxSteps: decoded.maxSteps,
      },
      decoded,
    );
    expect(again.violation?.invariant).toBe('MP-BROKEN');
    expect(again.traceHash).toBe(found.traceHash);
    // The same schedule read as sc is another execution: the choices become vCPU picks.
    const asSc = replayRepro(
      {
        scenario: mp as ScenarioDef,
        model,
        mem: allocateMemory(model.layout),
        opSeed: decoded.opSeed,
        maxSteps: decoded.maxSteps,
      },
      { ...decoded, memory: undefined },
    );
    expect(asSc.traceHash).not.toBe(found.traceHash);
    expect(found.trace).toMatch(/read data → 0 \(cpu0's store of 1 not yet visible\)|buffered: not yet visible/);
  });

  it('an sc token leaves the field out, and old tokens decode as sc', () => {
    const r = explore({
      ...base,
      variant: mp.variants[1]!,
      strategy: 'pct',
      schedules: 5,
      seed: 1,
      maxSteps: 100,
      shrink: false,
    });
    expect(r.violation).toBeUndefined();
    const repro = {
      scenario: 'mp',
      variant: 'no-wmb',
      params: {},
      opSeed: 1,
      opsPerCpu: [1, 1],
      skip: [],
      timers: 0,
      schedule: [0, 2, 1, 3],
      maxSteps: 100,
      stopOn: [],
    };
    expect(decodeToken(encodeToken(repro)).memory).toBeUndefined();
    expect(encodeToken(repro)).toBe(encodeToken({ ...repro, memory: 'sc' }));
    const fixture = JSON.parse(
      readFileSync(path.join(root, 'test/fixtures/tokens/c2e7ccf-counter-plain-shared.json'), 'utf8'),
    ) as { token: string };
    expect(readToken(fixture.token).repro.memory).toBeUndefined();
    // A weak schedule holds choices that are not task numbers; an sc one may not.
    const weakRepro = { ...repro, memory: 'weak' as const, schedule: [0, 1, 200, 1] };
    expect(decodeToken(encodeToken(weakRepro)).schedule).toEqual([0, 1, 200, 1]);
    expect(() => decodeToken(encodeToken({ ...weakRepro, memory: undefined }))).toThrow(/schedule/);
  });
});

describe('plain Atomics accesses under weak', () => {
  // cpu0 writes x with WRITE_ONCE (it may stay buffered); cpu1 reads x once with a plain Atomics load and
  // then with READ_ONCE. Whatever the choices, READ_ONCE never returns something older than the plain load.
  const coh: ScenarioDef = {
    ...(mp as ScenarioDef),
    name: 'coh',
    invariants: [{ id: 'CORR', meaning: 'read-read coherence', grade: 'FORBIDDEN' }],
    variants: [{ name: 'only', summary: '', expect: 'clean' }],
    build(config): ScenarioModel {
      const layout = defineLayout(config.cpus, { x: { kind: 'i32', count: 1 } });
      const x = at(layout.regions.x!);
      return {
        layout,
        init() {},
        program: (cpu) => ({
          next: function* (): Op {
            if (cpu.id === 0) {
              yield 'write x';
              WRITE_ONCE(cpu, x, 1);
              yield 'write x';
              WRITE_ONCE(cpu, x, 2);
            } else {
              yield 'touch x'; // makes x a tracked location before the plain load
              READ_ONCE(cpu, x);
              yield 'plain load x';
              const a = Atomics.load(cpu.i32, x);
              yield 'READ_ONCE x';
              const b = READ_ONCE(cpu, x);
              if (b < a) cpu.fail('CORR', `plain load saw ${a}, then READ_ONCE ${b}`);
            }
          },
          describe: () => 'coh',
        }),
        quiescent() {},
      };
    },
  };

  it('never break read-read coherence (every execution enumerated)', () => {
    const model = coh.build({ cpus: 2, variant: coh.variants[0]!, params: {} });
    const mem = allocateMemory(model.layout);
    const dfs = new DepthFirst();
    let executions = 0;
    let stale = 0;
    do {
      const r = runExecution(
        { scenario: coh, model, mem, opSeed: 0, opsPerCpu: [1, 1], maxSteps: 100, memory: 'weak', trace: true },
        dfs,
      );
      expect(r.violation).toBeUndefined();
      if (r.trace!.some((e) => e.kind === 'note' && e.detail?.includes('not yet visible'))) stale++;
      executions++;
    } while (dfs.advance());
    expect(executions).toBeGreaterThan(20);
    expect(stale).toBeGreaterThan(0); // weak choices did happen
  });
});

describe('--memory on the command line', () => {
  const cli = async (...args: string[]) => {
    const io = memoryIo(args);
    const code = await main(args, io);
    return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
  };

  it('explore --memory weak runs and says so; a bad model or weak stress is exit 2', async () => {
    const ok = await cli('explore', 'counter', '--memory', 'weak', '--schedules', '20', '--seed', '1', '--json');
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { memory: string; schedules: number }).memory).toBe('weak');
    const bad = await cli('explore', 'counter', '--memory', 'strong');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--memory: 'strong' is not one of sc, weak/);
    const stress = await cli('run', 'counter', '--mode', 'stress', '--memory', 'weak');
    expect(stress.code).toBe(2);
    expect(stress.stderr).toMatch(/stress mode runs on real threads/);
  });
});
