/**
 * What a variant of the IOVA model may change (VariantDef<IovaPatch>.patch): the classes newIovaDomain
 * builds the domain from. Each is the faithful mechanism by default; a patch passes a subclass that
 * overrides the kernel functions it changes (README "Writing a variant" has every scenario's list):
 *   domain   IovaDomain:   allocIovaFast, freeIovaFast
 *   rcaches  IovaRcaches:  iovaRcacheGet, iovaRcacheInsert, iovaDepotPop, iovaDepotPush, iovaDepotWorkFunc,
 *                          freeCpuCachedIovas, freeGlobalCachedIovas, iovaMagazinePop/Push/FreePfns/
 *                          Full/Empty/Alloc/Free, scheduleDelayedWork, timerSpecs
 *   depot    Depot:        the depot's storage (the fixed-array depot of v6.6 is one)
 *   tree     IovaTree:     allocIova, freeIova, allocRange (__alloc_and_insert_iova_range), reserveIova
 *   regions  extra shared-memory regions the patch's classes use (layout names must be new)
 * The checkers never live in these classes: they watch the hand-out and hand-in (checked-domain.ts).
 */
import type { Layout, RegionSpec } from '../../engine/layout.js';
import type { Depot } from './depot.js';
import type { IovaDomain, IovaDomainOptions } from './iova-domain.js';
import type { IovaGeometry, IovaTree } from './iova-tree.js';
import type { MagazinePool } from './magazine.js';
import type { IovaRcaches, RcacheOptions } from './rcache.js';

export type IovaTreeClass = new (layout: Layout, g: IovaGeometry) => IovaTree;
export type DepotClass = new (layout: Layout, pool: MagazinePool) => Depot;
export type IovaRcachesClass = new (
  layout: Layout,
  cpus: number,
  tree: IovaTree,
  pool: MagazinePool,
  depot: Depot,
  opts: RcacheOptions,
) => IovaRcaches;
export type IovaDomainClass = new (o: IovaDomainOptions, tree: IovaTree, rcache: IovaRcaches) => IovaDomain;

export interface IovaPatch {
  readonly domain?: IovaDomainClass;
  readonly rcaches?: IovaRcachesClass;
  readonly depot?: DepotClass;
  readonly tree?: IovaTreeClass;
  readonly regions?: (o: IovaDomainOptions) => Record<string, RegionSpec>;
}
