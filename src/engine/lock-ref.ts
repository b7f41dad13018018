/** A lock as model code sees it; the lock word lives in shared memory. See sync.ts. */
import type { Site } from './site.js';

export interface LockRef {
  /** i32 index of the lock word; the owner word (vCPU id + 1) sits at index + 1. */
  readonly index: number;
  readonly name: string;
  /** lockdep class rank: locks must be taken in strictly increasing rank; 0 = not ordered. */
  readonly rank: number;
  readonly acquireSite: Site;
  readonly releaseSite: Site;
}
