/**
 * The virtio-iommu device (the host side of the request virtqueue) — kernel-model.md §4.1 "Device-side
 * semantics" and §4.3 "Model guidance": a domain exists while at least one endpoint is attached to it;
 * ATTACH moves an endpoint (detaching it from its old domain, which is destroyed with all its mappings
 * when that was its last endpoint); DETACH; MAP (an overlapping MAP is an error); UNMAP; a request for
 * a domain the device does not have answers NOENT. Request type and status numbers are the virtio-iommu
 * spec's (VIRTIO_IOMMU_T_*, VIRTIO_IOMMU_S_*).
 *
 * The device keeps its own state (its own endpoint counts and mappings), never the driver's: the whole
 * point of §4.3 is that the two drift apart. `apply` is a plain function of (state, request) so that the
 * quiescent checker can run the requests still sitting in the queue on a copy of the state.
 *
 * Simplifications:
 *  - ATTACH to the domain the endpoint is already in is a no-op (the spec detaches from *another*
 *    domain first; QEMU would destroy and re-create a sole endpoint's domain — not modelled).
 *  - ATTACH finds or creates the new domain before it detaches the endpoint from the old one, so a
 *    device with a domain limit (`host.cfg[0]`, 0 = none) can refuse an ATTACH with NOMEM while the
 *    endpoint stays where it was: the failed ATTACH of §4.3 V7.
 *  - UNMAP of a range with no mapping succeeds (nothing to remove); a range never splits a mapping
 *    because every mapping is one slot.
 */
import { hex, iovaOf, type ViommuLayout } from './layout.js';

export const T_ATTACH = 1;
export const T_DETACH = 2;
export const T_MAP = 3;
export const T_UNMAP = 4;
export const TYPE_NAME = ['?', 'ATTACH', 'DETACH', 'MAP', 'UNMAP'];

export const S_OK = 0;
export const S_INVAL = 4;
export const S_NOENT = 6;
export const S_NOMEM = 8;
/** Not a device status: the request has not been used by the device yet. */
export const S_PENDING = -1;

/** viommu_get_req_errno: a device status as the errno the driver returns. */
export function statusErrno(status: number): number {
  switch (status) {
    case S_OK:
      return 0;
    case S_INVAL:
      return -22; // -EINVAL
    case S_NOENT:
      return -2; // -ENOENT
    case S_NOMEM:
      return -12; // -ENOMEM
    default:
      return -5; // -EIO
  }
}

/** Outcome sink for what the device sees (an invariant id and a message), or nothing when simulating. */
export type HostReport = (invariant: string, message: string) => void;

export interface Request {
  readonly type: number;
  readonly domain: number;
  readonly endpoint: number;
  readonly slot: number;
  readonly pfn: number;
  /** The vCPU that queued it (messages only). */
  readonly from: number;
}

export class ViommuHost {
  constructor(private readonly L: ViommuLayout) {}

  /** Does the device have domain d (at least one endpoint attached)? */
  alive(i32: Int32Array, d: number): boolean {
    return Atomics.load(i32, this.L.hostRefs + d) > 0;
  }

  /** The device's mapping of (d, s): pfn + 1, or 0. */
  mapping(i32: Int32Array, d: number, s: number): number {
    return Atomics.load(i32, this.L.hostMap + this.L.slot(d, s));
  }

  /** The device's domain for endpoint e, or -1. */
  endpointDomain(i32: Int32Array, e: number): number {
    return Atomics.load(i32, this.L.hostEp + e) - 1;
  }

  /**
   * What a DMA by endpoint e to slot s's IOVA reaches: pfn + 1, or 0 for a translation fault. The device
   * translates through the domain *it* has e attached to.
   */
  translate(i32: Int32Array, e: number, s: number): number {
    const d = this.endpointDomain(i32, e);
    return d < 0 ? 0 : this.mapping(i32, d, s);
  }

  /**
   * Handle one request; returns its status. Every store is atomic: in stress mode device DMA (another
   * thread) reads this state while the kicking vCPU runs the device.
   */
  apply(i32: Int32Array, r: Request, report?: HostReport): number {
    const L = this.L;
    const d = r.domain;
    switch (r.type) {
      case T_ATTACH: {
        const e = r.endpoint;
        const cur = this.endpointDomain(i32, e);
        if (cur === d) return S_OK;
        if (!this.alive(i32, d)) {
          const max = Atomics.load(i32, L.hostMaxDomains);
          if (max > 0 && Atomics.load(i32, L.hostLive) >= max) return S_NOMEM;
          Atomics.add(i32, L.hostLive, 1);
        }
        Atomics.add(i32, L.hostRefs + d, 1);
        if (cur >= 0) this.dropEndpoint(i32, cur);
        Atomics.store(i32, L.hostEp + e, d + 1);
        return S_OK;
      }
      case T_DETACH: {
        const e = r.endpoint;
        if (!this.alive(i32, d)) {
          report?.('V-NOENT', `DETACH ep${e} from dom${d}, which the host does not have (sent by cpu${r.from})`);
          return S_NOENT;
        }
        if (this.endpointDomain(i32, e) !== d) return S_INVAL;
        Atomics.store(i32, L.hostEp + e, 0);
        this.dropEndpoint(i32, d);
        return S_OK;
      }
      case T_MAP: {
        if (!this.alive(i32, d)) {
          report?.(
            'V-NOENT',
            `MAP ${hex(iovaOf(r.slot))} for dom${d}, which the host does not have (queued by cpu${r.from})`,
          );
          return S_NOENT;
        }
        const k = L.hostMap + L.slot(d, r.slot);
        if (Atomics.load(i32, k) !== 0) {
          report?.(
            'V-DUPMAP',
            `second MAP of ${hex(iovaOf(r.slot))} in dom${d} (queued by cpu${r.from}) overlaps the live mapping: the device rejects it`,
          );
          return S_INVAL;
        }
        Atomics.store(i32, k, r.pfn + 1);
        return S_OK;
      }
      case T_UNMAP: {
        if (!this.alive(i32, d)) {
          report?.(
            'V-NOENT',
            `UNMAP ${hex(iovaOf(r.slot))} for dom${d}, which the host does not have (queued by cpu${r.from})`,
          );
          return S_NOENT;
        }
        Atomics.store(i32, L.hostMap + L.slot(d, r.slot), 0);
        return S_OK;
      }
      default:
        throw new Error(`viommu host: unknown request type ${r.type}`);
    }
  }

  /** One endpoint left domain d; the last one to leave destroys it with all its mappings. */
  private dropEndpoint(i32: Int32Array, d: number): void {
    const L = this.L;
    if (Atomics.sub(i32, L.hostRefs + d, 1) !== 1) return;
    const base = L.hostMap + L.slot(d, 0);
    for (let s = 0; s < L.slots; s++) Atomics.store(i32, base + s, 0);
    Atomics.sub(i32, L.hostLive, 1);
  }
}
