/** `list`: every scenario with its variants (and what each expects), invariants and parameters. */
import { ENGINE_INVARIANTS } from '../check/invariant.js';
import { expectationText } from '../engine/scenario.js';
import {
  allScenarios,
  loadScenarioFile,
  scenarioModulePath,
  sourceFile,
  addedVariants,
} from '../scenarios/registry.js';
import { EXIT } from '../errors.js';
import type { Io } from './io.js';

export async function listCommand(f: { json?: boolean; scenarioFile?: string }, io: Io): Promise<number> {
  if (f.scenarioFile !== undefined) await loadScenarioFile(scenarioModulePath(f.scenarioFile), f.scenarioFile);
  const SCENARIOS = allScenarios();
  if (f.json) {
    io.out(
      JSON.stringify(
        {
          scenarios: SCENARIOS.map((s) => ({
            name: s.name,
            summary: s.summary,
            follows: s.follows,
            file: sourceFile(s.name) ?? null,
            variants: s.variants.map((v) => ({
              name: v.name,
              summary: v.summary,
              expect: v.expect,
              ...(v.memory ? { memory: v.memory } : {}),
              source: v.source ?? null,
              finding: v.finding ?? null,
              file: sourceFile(s.name, v.name) ?? null,
            })),
            invariants: s.invariants,
            params: s.params,
            explore: { cpus: s.exploreCpus, ops: s.exploreOps },
            regimes: s.regimes ?? [],
          })),
          engineInvariants: ENGINE_INVARIANTS,
        },
        null,
        2,
      ),
    );
    return EXIT.ok;
  }
  for (const s of SCENARIOS) {
    const file = sourceFile(s.name);
    const added = addedVariants(s.name);
    io.out(
      `${s.name} — ${s.summary}\n  follows ${s.follows}${file !== undefined && added.length === 0 ? `\n  from ${file}` : ''}`,
    );
    io.out('  variants:');
    for (const v of s.variants) {
      const from = added.includes(v) ? ` [from ${file}]` : '';
      io.out(
        `    ${v.name.padEnd(20)} expect ${(v.memory === 'weak' ? `${expectationText(v, 'weak')} (weak)` : expectationText(v)).padEnd(24)} ${v.summary}${from}`,
      );
      if (v.source !== undefined) io.out(`    ${''.padEnd(20)} source ${v.source}`);
      if (v.finding)
        io.out(
          `${' '.repeat(6)}FINDING in ${v.finding.upstream}: ${v.finding.what}; fixed by ${s.name}/${v.finding.fixedBy}`,
        );
    }
    io.out('  invariants:');
    for (const i of s.invariants) io.out(`    ${i.id.padEnd(14)} ${i.grade.padEnd(11)} ${i.meaning}`);
    const params = Object.entries(s.params);
    if (params.length > 0) {
      io.out('  parameters (--param key=value):');
      for (const [k, p] of params)
        io.out(`    ${k.padEnd(14)} default ${String(p.default).padEnd(6)} ${p.min}..${p.max}  ${p.help}`);
    }
    const regimes = s.regimes ?? [];
    if (regimes.length > 0) {
      io.out('  regimes (run without --param runs each variant with these too):');
      for (const r of regimes) {
        const text = (p: Readonly<Record<string, number>>) =>
          Object.entries(p)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ');
        const set = text(r.params) + (r.exploreParams ? `; explore ${text(r.exploreParams)}` : '');
        io.out(`    ${`@${r.name}`.padEnd(14)} ${r.summary} (${set})`);
      }
    }
    io.out('');
  }
  io.out(`every scenario also checks: ${ENGINE_INVARIANTS.map((i) => i.id).join(', ')}`);
  return EXIT.ok;
}
