/**
 * PT-LEAK at a quiescent point for any scenario that builds an io-pgtable on a page pool — kernel-model.md
 * §6, §10: every table page is reachable from the root exactly once or free in the pool, never both and
 * never neither. (The pgtable scenario scans the same, with its translation checks; this is the shared
 * part, for the scenarios that use a page table as a component: flushq, mapsg, dma-iova, pasid.)
 *
 * Harness code: it reads the table through IoPgtable.scan and the pool's free set, nothing else.
 * PT-ONE-TABLE (a page referenced twice) is the pgtable scenario's; here a page reached twice is a leak
 * waiting to happen (it will be freed twice) and is reported as PT-LEAK.
 */
import type { QuiescentReport } from '../engine/scenario.js';
import type { PagePool } from './page-pool.js';
import type { IoPgtable } from './pgtable.js';

/** `owned`: pages the scenario holds outside the table (none by default). */
export function checkTablePages(
  pt: Pick<IoPgtable, 'scan'>,
  pool: PagePool,
  i32: Int32Array,
  report: QuiescentReport,
  owned: ReadonlySet<number> = new Set(),
): void {
  const { tableRefs } = pt.scan(i32);
  const free = pool.freePages(i32);
  const freeSet = new Set(free);
  let reports = 0;
  const say = (msg: string): void => {
    if (reports++ < 8) report('PT-LEAK', msg);
  };
  for (const [page, refs] of tableRefs) {
    if (freeSet.has(page)) say(`table page ${page} is in the table and also free in the pool`);
    if (refs > 1) say(`table page ${page} is referenced from ${refs} table entries: it would be freed twice`);
  }
  const lost: number[] = [];
  for (let p = 0; p < pool.pages; p++) if (!tableRefs.has(p) && !freeSet.has(p) && !owned.has(p)) lost.push(p);
  if (lost.length > 0)
    say(
      `${lost.length} table page(s) neither free nor reachable: ${lost.slice(0, 8).join(', ')}` +
        `${lost.length > 8 ? ', ...' : ''} (free ${free.length} + in the table ${tableRefs.size} of ${pool.pages})`,
    );
}
