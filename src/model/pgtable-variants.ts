/**
 * Variants of the io-pgtable model (pgtable.ts): known bugs as subclasses, so the faithful model
 * carries no bug flags. Scenario `pgtable` lists them (src/scenarios/pgtable.ts).
 */
import type { Cpu, Op, Site } from '../engine/cpu.js';
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
