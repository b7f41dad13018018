/**
 * The contract between the ordering primitives (engine/order.ts) and a weak memory that implements them
 * (engine/weak-memory.ts): kept apart from both so that Cpu can name it without an import cycle.
 */

/** How an access is ordered (LKMM): ONCE = marked but unordered. */
export const enum Ord {
  ONCE = 0,
  ACQUIRE = 1,
  RELEASE = 2,
  /** A fully ordered RMW: smp_mb() before and after. */
  FULL = 3,
}

export const enum Fence {
  MB = 0,
  WMB = 1,
  RMB = 2,
  /** dma_wmb/dma_rmb: ordering as a device observer sees it (same shape as wmb/rmb in the model). */
  DMA_WMB = 3,
  DMA_RMB = 4,
}

export const enum Rmw {
  ADD = 0,
  XCHG = 1,
  CMPXCHG = 2,
}

/**
 * One vCPU's view of a weak memory (engine/weak-memory.ts), which Cpu.weak holds under `--memory weak`.
 * `wide` selects the i64 view (values are bigint) over the i32 one (values are number). rmw returns the
 * old value; for ADD `a` is the delta, for XCHG the new value, for CMPXCHG `a` is the expected and `b`
 * the new value.
 */
export interface MemoryOrder {
  load(wide: boolean, idx: number, ord: Ord): number | bigint;
  store(wide: boolean, idx: number, v: number | bigint, ord: Ord): void;
  rmw(wide: boolean, idx: number, op: Rmw, a: number | bigint, b: number | bigint, ord: Ord): number | bigint;
  fence(f: Fence): void;
  /** spin_lock took the lock whose word is `idx` (an acquire), spin_unlock is about to free it (a release). */
  lockAcquired(idx: number): void;
  lockReleasing(idx: number): void;
}

/** `--memory`: sc (the default; always in stress mode) or weak (explore only: engine/weak-memory.ts). */
export const MEMORY_MODES = ['sc', 'weak'] as const;
export type MemoryMode = (typeof MEMORY_MODES)[number];
