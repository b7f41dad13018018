/**
 * A test scenario for stress's choice of the run's violation (stress/control.ts claimFirstFailure): cpu1
 * reports ROOT and then raises a flag; cpu0 waits for the flag and reports CONSEQUENCE. So CONSEQUENCE is
 * always reported after ROOT, whatever the timing (it is caused by it), but by the lower-numbered worker,
 * whose violations stress used to prefer. The shape of mapsg/domain-list-unlocked's MAPSG-ONCE (cpu1
 * commits cpu0's run) followed by MAPSG-ERROR (cpu0's own commit of it fails). Stress only: the waiting op
 * spins without a scheduling point, so it is not for explore. Workers load the compiled module
 * (dist/test/helpers/first-failure-scenario.js) as a scenario file.
 */
import type { Op } from '../../src/engine/cpu.js';
import { at, defineLayout, region } from '../../src/engine/layout.js';
import type { ScenarioDef } from '../../src/engine/scenario.js';

const firstFailureScenario: ScenarioDef = {
  name: 'first-failure-test',
  summary: 'test: cpu1 breaks ROOT, then cpu0, seeing it, breaks CONSEQUENCE',
  follows: 'no kernel section (a harness test)',
  params: {},
  exploreCpus: 2,
  exploreOps: 1,
  invariants: [
    { id: 'ROOT', meaning: 'reported first, by cpu1', grade: 'FORBIDDEN' },
    { id: 'CONSEQUENCE', meaning: 'reported by cpu0 only after it saw ROOT reported', grade: 'FORBIDDEN' },
  ],
  variants: [{ name: 'only', summary: 'the one variant', expect: ['ROOT'] }],
  build({ cpus }) {
    const layout = defineLayout(cpus, { 'ff.flag': { kind: 'i32', count: 1 } });
    const flag = at(region(layout, 'ff.flag'));
    return {
      layout,
      init() {
        /* all zero */
      },
      quiescent() {
        /* nothing to scan */
      },
      program: (cpu) => ({
        *next(): Op {
          yield 'first-failure op';
          if (cpu.id === 1) {
            cpu.fail('ROOT', 'cpu1 reports first');
            Atomics.store(cpu.i32, flag, 1);
          } else if (cpu.id === 0) {
            while (Atomics.load(cpu.i32, flag) === 0) {
              /* until cpu1 has reported */
            }
            cpu.fail('CONSEQUENCE', 'cpu0 reports what it saw after cpu1 reported');
          }
        },
        describe: () => 'first-failure op',
      }),
    };
  },
};
export default firstFailureScenario;
