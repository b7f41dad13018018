/**
 * Known-bug variants of the two-step IOVA DMA API (iova-api.ts), as subclasses; scenario dma-iova
 * lists them with their expectations.
 */
import type { Cpu, Op } from '../../engine/cpu.js';
import { DmaIovaApi, type DmaIovaState } from './iova-api.js';

/**
 * free-while-linked (kernel-model.md §9 #16, the IOVA-API-DOC rule "all regions must have been
 * unmapped before dma_iova_free"): a destroy that frees the IOVA without unlinking what is linked. The
 * IOVA goes back to the range cache with live PTEs; the next user's link meets them (-EEXIST).
 */
export class FreeWhileLinkedApi extends DmaIovaApi {
  override *dmaIovaDestroy(cpu: Cpu, st: DmaIovaState): Op<number> {
    yield* this.dmaIovaFree(cpu, st);
    return 0;
  }
}

/**
 * no-sync (§9 #17): a dma_iova_sync that does nothing ("the device is coherent, nothing to sync"). On a
 * driver whose map_pages only queues the MAP (virtio-iommu unkicked, s390 shadow tables) the device
 * then uses a range that was never made live.
 */
export class NoSyncApi extends DmaIovaApi {
  // eslint-disable-next-line require-yield
  override *dmaIovaSync(): Op<number> {
    return 0;
  }
}
