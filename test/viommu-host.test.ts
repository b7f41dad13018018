/**
 * The virtio-iommu device and its request queue (src/model/viommu/host.ts, request-queue.ts): the
 * device's request semantics (ATTACH / DETACH / MAP / UNMAP, an overlapping MAP is an error, an unknown
 * domain answers NOENT) and the queue's (an async add does not kick, a sync kicks and completes every
 * request queued before it in FIFO order, a full ring forces a sync), with the queue driven by a vCPU of
 * either executor's mode; and the whole model under the stress executor's real threads (plumbing only).
 */
import { describe, expect, it } from 'vitest';
import { Checker } from '../src/check/checker.js';
import { Cpu, type Mode, type Op } from '../src/engine/cpu.js';
import { allocateMemory } from '../src/engine/layout.js';
import { findVariant, withDefaults } from '../src/engine/scenario.js';
import { lockOwner } from '../src/engine/sync.js';
import { VIOMMU_INVARIANTS } from '../src/model/viommu/checks.js';
import {
  S_INVAL,
  S_NOENT,
  S_NOMEM,
  S_OK,
  S_PENDING,
  statusErrno,
  T_ATTACH,
  T_DETACH,
  T_MAP,
  T_UNMAP,
  ViommuHost,
  type Request,
} from '../src/model/viommu/host.js';
import { F_STATUS, ViommuLayout } from '../src/model/viommu/layout.js';
import { RequestQueue } from '../src/model/viommu/request-queue.js';
import { viommuScenario } from '../src/scenarios/viommu.js';
import { stress } from '../src/stress/stress.js';

function model(ringSize = 8, mode: Mode = 'explore') {
  const L = new ViommuLayout({ cpus: 2, domains: 3, endpoints: 3, slotsPerCpu: 2, ringSize });
  const mem = allocateMemory(L.layout);
  const host = new ViommuHost(L);
  const rq = new RequestQueue(L, host, 70);
  const checker = new Checker(VIOMMU_INVARIANTS);
  const cpu = new Cpu(0, mode, mem, checker);
  return { L, i32: mem.i32, host, rq, checker, cpu };
}

const attach = (domain: number, endpoint: number): Request => ({
  type: T_ATTACH,
  domain,
  endpoint,
  slot: 0,
  pfn: 0,
  from: 0,
});
const detach = (domain: number, endpoint: number): Request => ({
  type: T_DETACH,
  domain,
  endpoint,
  slot: 0,
  pfn: 0,
  from: 0,
});
const map = (domain: number, slot: number, pfn: number): Request => ({
  type: T_MAP,
  domain,
  endpoint: -1,
  slot,
  pfn,
  from: 1,
});
const unmap = (domain: number, slot: number): Request => ({
  type: T_UNMAP,
  domain,
  endpoint: -1,
  slot,
  pfn: 0,
  from: 1,
});

/** Drive an op to its end, returning its value and the sites it yielded (its scheduling points). */
function drive<R>(op: Op<R>): { value: R; sites: string[] } {
  const sites: string[] = [];
  for (;;) {
    const r = op.next();
    if (r.done) return { value: r.value, sites };
    sites.push(r.value);
  }
}

describe('viommu host: request semantics', () => {
  it('ATTACH creates a domain, a second endpoint joins it, and moving the last endpoint away destroys it with its mappings', () => {
    const { i32, host } = model();
    expect(host.alive(i32, 0)).toBe(false);
    expect(host.apply(i32, attach(0, 0))).toBe(S_OK);
    expect(host.alive(i32, 0)).toBe(true);
    expect(host.apply(i32, attach(0, 1))).toBe(S_OK);
    expect(host.apply(i32, map(0, 2, 0x42))).toBe(S_OK);
    expect(host.translate(i32, 0, 2)).toBe(0x43);
    expect(host.translate(i32, 1, 2)).toBe(0x43);
    // ep0 leaves for dom1: dom0 keeps ep1 and its mapping
    expect(host.apply(i32, attach(1, 0))).toBe(S_OK);
    expect(host.endpointDomain(i32, 0)).toBe(1);
    expect(host.mapping(i32, 0, 2)).toBe(0x43);
    expect(host.translate(i32, 0, 2)).toBe(0);
    // ep1, the last, leaves too: dom0 is destroyed and its mappings with it
    expect(host.apply(i32, attach(1, 1))).toBe(S_OK);
    expect(host.alive(i32, 0)).toBe(false);
    expect(host.mapping(i32, 0, 2)).toBe(0);
    // re-created empty
    expect(host.apply(i32, attach(0, 2))).toBe(S_OK);
    expect(host.mapping(i32, 0, 2)).toBe(0);
  });

  it("ATTACH to the endpoint's own domain is a no-op; at its domain limit the device refuses ATTACH with NOMEM and leaves the endpoint where it was", () => {
    const { L, i32, host } = model();
    host.apply(i32, attach(0, 0));
    host.apply(i32, map(0, 1, 7));
    expect(host.apply(i32, attach(0, 0))).toBe(S_OK);
    expect(host.mapping(i32, 0, 1)).toBe(8); // not destroyed and re-created
    Atomics.store(i32, L.hostMaxDomains, 1);
    expect(host.apply(i32, attach(1, 0))).toBe(S_NOMEM);
    expect(host.endpointDomain(i32, 0)).toBe(0);
    expect(host.alive(i32, 1)).toBe(false);
    expect(host.mapping(i32, 0, 1)).toBe(8);
    // joining an existing domain creates nothing, so the limit does not apply
    expect(host.apply(i32, attach(0, 1))).toBe(S_OK);
  });

  it('DETACH: an unknown domain answers NOENT (reported as V-NOENT), a wrong domain INVAL, the last endpoint destroys the domain', () => {
    const { i32, host } = model();
    const seen: string[] = [];
    const report = (id: string, msg: string) => {
      seen.push(`${id}: ${msg}`);
    };
    expect(host.apply(i32, detach(2, 0), report)).toBe(S_NOENT);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^V-NOENT: DETACH ep0 from dom2/);
    host.apply(i32, attach(0, 0));
    host.apply(i32, attach(1, 1));
    expect(host.apply(i32, detach(0, 1), report)).toBe(S_INVAL);
    host.apply(i32, map(0, 0, 3));
    expect(host.apply(i32, detach(0, 0), report)).toBe(S_OK);
    expect(host.alive(i32, 0)).toBe(false);
    expect(host.endpointDomain(i32, 0)).toBe(-1);
    expect(host.mapping(i32, 0, 0)).toBe(0);
    expect(seen).toHaveLength(1);
  });

  it('MAP and UNMAP; an overlapping MAP is rejected (V-DUPMAP) and leaves the first mapping; MAP/UNMAP to an unknown domain answer NOENT', () => {
    const { i32, host } = model();
    const seen: string[] = [];
    const report = (id: string) => {
      seen.push(id);
    };
    expect(host.apply(i32, map(1, 0, 5), report)).toBe(S_NOENT);
    expect(host.apply(i32, unmap(1, 0), report)).toBe(S_NOENT);
    expect(seen).toEqual(['V-NOENT', 'V-NOENT']);
    host.apply(i32, attach(1, 0));
    expect(host.apply(i32, map(1, 0, 5), report)).toBe(S_OK);
    expect(host.apply(i32, map(1, 0, 9), report)).toBe(S_INVAL);
    expect(seen).toEqual(['V-NOENT', 'V-NOENT', 'V-DUPMAP']);
    expect(host.mapping(i32, 1, 0)).toBe(6);
    expect(host.apply(i32, unmap(1, 0), report)).toBe(S_OK);
    expect(host.mapping(i32, 1, 0)).toBe(0);
    expect(host.apply(i32, unmap(1, 0), report)).toBe(S_OK); // nothing there: nothing to remove
    expect(host.apply(i32, map(1, 0, 9), report)).toBe(S_OK); // a new mapping after the UNMAP
    expect(host.mapping(i32, 1, 0)).toBe(10);
    expect(seen).toHaveLength(3);
  });

  it('statuses become the errnos viommu_get_req_errno returns', () => {
    expect([S_OK, S_NOENT, S_INVAL, S_NOMEM, 1].map(statusErrno)).toEqual([0, -2, -22, -12, -5]);
  });
});

for (const mode of ['explore', 'stress'] as const) {
  describe(`viommu request queue, driven by a vCPU in ${mode} mode`, () => {
    it('addReq queues without a kick: the device sees nothing, the request stays pending', () => {
      const { i32, host, rq, cpu, checker } = model(8, mode);
      host.apply(i32, attach(0, 0));
      const { value: seq, sites } = drive(rq.addReq(cpu, map(0, 0, 5), 'MAP queue'));
      expect(seq).toBe(0);
      expect(sites).toEqual(['lock request_lock', 'MAP queue', 'unlock request_lock']);
      expect(host.mapping(i32, 0, 0)).toBe(0);
      expect(rq.completed(i32)).toBe(0);
      expect(rq.pending(i32)).toEqual([map(0, 0, 5)]);
      expect(checker.violations).toEqual([]);
    });

    it('syncReq kicks and the device takes every queued request in FIFO order, each its own scheduling point', () => {
      const { i32, host, rq, cpu, checker } = model(8, mode);
      drive(rq.addReq(cpu, map(0, 0, 1), 'MAP queue')); // before the ATTACH: dom0 does not exist yet
      expect(drive(rq.sendReqSync(cpu, attach(0, 0), 'ATTACH send')).value).toBe(0);
      expect(checker.outcomes.get('V-NOENT')).toBe(1);
      drive(rq.addReq(cpu, map(0, 0, 5), 'MAP queue'));
      drive(rq.addReq(cpu, unmap(0, 0), 'UNMAP queue'));
      drive(rq.addReq(cpu, map(0, 0, 7), 'MAP queue'));
      const { sites } = drive(rq.syncReq(cpu));
      expect(sites).toEqual([
        'lock request_lock',
        'kick',
        'host: MAP',
        'host: UNMAP',
        'host: MAP',
        'unlock request_lock',
      ]);
      // in any other order the device would hold pfn 5, or nothing, or reject the second MAP
      expect(host.mapping(i32, 0, 0)).toBe(8);
      expect(checker.outcomes.get('V-DUPMAP')).toBeUndefined();
      expect(rq.completed(i32)).toBe(5);
      expect(checker.violations).toEqual([]);
    });

    it('a sync completes every request queued before it, whoever queued them; onDrained runs with request_lock held', () => {
      const { L, i32, host, rq, cpu, checker } = model(8, mode);
      const other = new Cpu(1, mode, cpu.mem, checker);
      host.apply(i32, attach(0, 0));
      drive(rq.addReq(other, map(0, 1, 3), 'MAP queue')); // cpu1 queues and never kicks (§4.3 V8)
      drive(rq.addReq(cpu, map(0, 2, 4), 'MAP queue'));
      let owner = -1;
      drive(
        rq.syncReq(cpu, (c) => {
          owner = lockOwner(c.i32, rq.lock);
        }),
      );
      expect(owner).toBe(0);
      expect(rq.pending(i32)).toEqual([]);
      for (const seq of [0, 1]) expect(Atomics.load(i32, L.entry(seq, F_STATUS))).toBe(S_OK);
      expect(host.mapping(i32, 0, 1)).toBe(4);
      expect(host.mapping(i32, 0, 2)).toBe(5);
      expect(lockOwner(i32, rq.lock)).toBe(-1);
      expect(checker.violations).toEqual([]);
    });

    it('a full ring forces a sync before the add: the older requests complete, the new one waits', () => {
      const { L, i32, host, rq, cpu, checker } = model(2, mode);
      host.apply(i32, attach(0, 0));
      expect(drive(rq.addReq(cpu, map(0, 0, 1), 'MAP queue')).sites).toEqual([
        'lock request_lock',
        'MAP queue',
        'unlock request_lock',
      ]);
      drive(rq.addReq(cpu, map(0, 1, 2), 'MAP queue'));
      const third = drive(rq.addReq(cpu, map(0, 2, 3), 'MAP queue'));
      expect(third.value).toBe(2);
      expect(third.sites).toEqual([
        'lock request_lock',
        'kick (request ring full)',
        'host: MAP',
        'host: MAP',
        'MAP queue',
        'unlock request_lock',
      ]);
      expect(rq.completed(i32)).toBe(2);
      expect(host.mapping(i32, 0, 1)).toBe(3);
      expect(host.mapping(i32, 0, 2)).toBe(0);
      expect(rq.pending(i32)).toEqual([map(0, 2, 3)]);
      // the entry of request #2 reuses ring slot 0
      expect(L.entry(2, F_STATUS)).toBe(L.entry(0, F_STATUS));
      expect(Atomics.load(i32, L.entry(2, F_STATUS))).toBe(S_PENDING);
      expect(checker.violations).toEqual([]);
    });

    it("sendReqSync returns its own request's status as an errno, after the ones before it", () => {
      const { i32, host, rq, cpu } = model(8, mode);
      expect(drive(rq.sendReqSync(cpu, map(0, 0, 1), 'MAP send')).value).toBe(-2);
      host.apply(i32, attach(0, 0));
      drive(rq.addReq(cpu, map(0, 0, 1), 'MAP queue'));
      // the queued MAP is done first, so this one overlaps it
      expect(drive(rq.sendReqSync(cpu, map(0, 0, 1), 'MAP send')).value).toBe(-22);
      expect(drive(rq.sendReqSync(cpu, detach(0, 0), 'DETACH send')).value).toBe(0);
    });
  });
}

describe('viommu under the stress executor (plumbing)', () => {
  const opts = (
    variant: string,
    params: Record<string, number>,
    workers: number,
    timeMs: number,
    opBudget = Infinity,
  ) => ({
    scenario: viommuScenario,
    variant: findVariant(viommuScenario, variant)!,
    params: withDefaults(viommuScenario, params),
    workers,
    timeMs,
    opBudget,
    seed: 5,
    sliceMs: 10,
    watchdogMs: 10_000,
  });

  it('locked on 2 workers with an op budget: every op runs on both, quiescent scans, no violation', async () => {
    // An op budget, not a time budget: the counts are exact however busy the machine is.
    const r = await stress(opts('locked', {}, 2, 60_000, 2_000));
    expect(r.violation).toBeUndefined();
    expect(r.perCpu.map((c) => c.ops)).toEqual([2_000, 2_000]);
    expect(r.slices).toBeGreaterThanOrEqual(1);
  });

  it('upstream focus=7 (sequential: the V7 drift) fails on its first round with V-DMA and names the slice to re-run', async () => {
    const r = await stress(opts('upstream', { focus: 7 }, 1, 5_000));
    expect(r.violation?.invariant).toBe('V-DMA');
    expect(r.violation?.vcpu).toBe(0);
    expect(r.outcomes['V-ATTACH-ERR']).toBeGreaterThanOrEqual(1);
    expect(r.failing?.opsPerCpu[0]).toBe(3);
  });
});
