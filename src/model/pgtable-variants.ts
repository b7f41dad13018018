/**
 * Variants of the io-pgtable model (pgtable.ts): known bugs as subclasses, so the faithful model
 * carries no bug flags. Scenario `pgtable` lists them (src/scenarios/pgtable.ts).
 */
import type { Cpu, Op, Site } from '../engine/cpu.js';
import { cmpxchg_relaxed } from '../engine/order.js';
import { IoPgtable, tablePte } from './pgtable.js';

const RACY: readonly Site[] = [0, 1, 2, 3].map((l) => `L${l} install_table store`);

/**
 * racy-install (kernel-model.md §6, §9 #14, the CAS this removes): arm_lpae_install_table with a plain
 * store. Two vCPUs that both saw the entry empty both install, both believe they won, and the first
 * table — with whatever was mapped into it meanwhile — is lost.
 */
export class RacyInstallPgtable extends IoPgtable {
  protected override *armLpaeInstallTable(cpu: Cpu, slot: number, page: number, lvl: number, curr: number): Op<number> {
    yield RACY[lvl]!;
    Atomics.store(cpu.i32, slot, tablePte(page));
    cpu.note('write', 'pte', slot, page);
    return curr;
  }
}

const CAS: readonly Site[] = [0, 1, 2, 3].map((l) => `L${l} install_table cmpxchg`);

/**
 * no-dma-wmb (issue 14; the riscv driver's fix "iommu/riscv: add dma_wmb before cmpxchg_relaxed" is this
 * bug in a sibling): arm_lpae_install_table without its dma_wmb(). The relaxed cmpxchg can make the new
 * table's descriptor visible before the stores that zeroed the page, so a walker that follows it finds
 * the page's stale entries. Only a weak memory can do this (explore --memory weak); under sc it is clean.
 */
export class NoDmaWmbInstallPgtable extends IoPgtable {
  protected override *armLpaeInstallTable(cpu: Cpu, slot: number, page: number, lvl: number, curr: number): Op<number> {
    yield CAS[lvl]!;
    const old = cmpxchg_relaxed(cpu, slot, curr, tablePte(page));
    cpu.note(old === curr ? 'cmpxchg' : 'read', 'pte', slot, old === curr ? page : old >> 2, curr >> 2);
    return old;
  }
}
