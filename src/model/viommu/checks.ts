/**
 * The virtio-iommu invariants (kernel-model.md §10 "virtio-iommu", §4.3's "broken invariant" column)
 * and the scan of a quiescent model. Grades follow what the interleaving costs: a lost or stale mapping,
 * a wrong count and a NULL dereference are FORBIDDEN; what §4.3 calls benign or harmless (a stale UNMAP
 * answered NOENT, a rejected duplicate MAP, a sync after the last detach, an unkicked MAP that FIFO order
 * repairs) is INTERESTING — counted and shown, and absent from the `locked` fix.
 */
import type { InvariantDef } from '../../check/invariant.js';
import type { Memory } from '../../engine/layout.js';
import type { QuiescentReport } from '../../engine/scenario.js';
import type { ViommuDriver } from './driver.js';
import type { ViommuHost } from './host.js';
import { hex, iovaOf, type ViommuLayout } from './layout.js';
import { nrText } from './ops.js';

export const VIOMMU_INVARIANTS: readonly InvariantDef[] = [
  {
    id: 'V-INV1',
    grade: 'FORBIDDEN',
    meaning:
      "while nr_endpoints > 0 the host's mappings for the domain equal the driver's tree (quiescent points, queued requests applied; a map's own mapping after its sync)",
  },
  {
    id: 'V-NR',
    grade: 'FORBIDDEN',
    meaning: 'nr_endpoints equals the number of endpoints whose vdomain is the domain',
  },
  {
    id: 'V-DMA',
    grade: 'FORBIDDEN',
    meaning: 'device DMA to an IOVA the driver mapped and synced translates on the host (no fault)',
  },
  {
    id: 'V-UNMAP',
    grade: 'FORBIDDEN',
    meaning:
      'once an unmap is covered by its sync (iotlb_sync, or flush_iotlb_all for a lazy unmap) the host no longer maps the IOVA (F1)',
  },
  { id: 'V-SYNC', grade: 'FORBIDDEN', meaning: 'a sync completes every request queued before it, in FIFO order' },
  {
    id: 'V-NOFIN',
    grade: 'FORBIDDEN',
    meaning: 'no sync on a domain that was never finalised (vdomain->viommu is NULL)',
  },
  {
    id: 'V-DUPMAP',
    grade: 'INTERESTING',
    meaning:
      'at most one MAP per mapping per host-domain lifetime (the device rejects a second one; nobody reads the status)',
  },
  {
    id: 'V-NOENT',
    grade: 'INTERESTING',
    meaning: 'no request for a domain the host does not have (the device answers NOENT)',
  },
  {
    id: 'V-SYNC-DETACHED',
    grade: 'INTERESTING',
    meaning:
      'a sync whose nr_endpoints check passed finds the domain gone from the host (harmless: the queue is global)',
  },
  {
    id: 'V-UNKICKED',
    grade: 'INTERESTING',
    meaning: 'iommu_map returned with the MAP it queued still unkicked in the virtqueue',
  },
  {
    id: 'V-ATTACH-ERR',
    grade: 'INTERESTING',
    meaning: 'attach_dev failed (the device refused ATTACH, or rejected a replayed MAP)',
  },
];

/**
 * The quiescent scan: V-NR for every domain, then V-INV1 for every domain with nr_endpoints != 0, on a
 * copy of the model in which the device has also handled the requests still queued (a lazy unmap's
 * UNMAP waiting for its flush, an unkicked MAP): those are on their way, not lost.
 */
export function quiescentScan(
  L: ViommuLayout,
  drv: ViommuDriver,
  host: ViommuHost,
  mem: Memory,
  report: QuiescentReport,
): void {
  const i32 = mem.i32;
  for (let d = 0; d < L.domains; d++) {
    const nr = Atomics.load(i32, L.nr + d);
    const eps: string[] = [];
    for (let e = 0; e < L.endpoints; e++) if (drv.vdomain(i32, e) === d) eps.push(`ep${e}`);
    if (nr !== eps.length) {
      const why = nr < eps.length ? 'an update was lost' : 'it counts an endpoint that is gone';
      report(
        'V-NR',
        `dom${d}.nr_endpoints = ${nrText(nr)} but ${eps.length} endpoint(s) have it as their domain${eps.length ? ` (${eps.join(', ')})` : ''}: ${why}`,
      );
    }
  }
  const pending = drv.rq.pending(i32);
  const dev = pending.length > 0 ? new Int32Array(i32) : i32;
  for (const r of pending) host.apply(dev, r);
  const after = pending.length > 0 ? ` (after the ${pending.length} queued request(s))` : '';
  for (let d = 0; d < L.domains; d++) {
    const nr = Atomics.load(i32, L.nr + d);
    if (nr === 0) continue;
    if (!host.alive(dev, d)) {
      report('V-INV1', `dom${d}.nr_endpoints = ${nrText(nr)} but the host has no dom${d}${after}`);
      continue;
    }
    const diffs: string[] = [];
    for (let s = 0; s < L.slots; s++) {
      const t = Atomics.load(i32, L.tree + L.slot(d, s));
      const h = host.mapping(dev, d, s);
      if (t === h) continue;
      const iova = hex(iovaOf(s));
      diffs.push(
        h === 0
          ? `${iova} in the tree, not on the host (lost MAP)`
          : t === 0
            ? `${iova} on the host, not in the tree (lost UNMAP)`
            : `${iova} -> different pages`,
      );
    }
    if (diffs.length > 0) {
      report(
        'V-INV1',
        `dom${d}.nr_endpoints = ${nrText(nr)} and the host's mappings differ from the tree${after}: ${diffs.slice(0, 4).join('; ')}${diffs.length > 4 ? '; ...' : ''}`,
      );
    }
  }
}
