/**
 * The house stays easy to change (issue 10, item 7): no import cycles among src/ and workers/, and the
 * command line (src/cli.ts, src/cli/) is the top layer — nothing below it imports it.
 */
import { describe, expect, it } from 'vitest';
import { cycles, importGraph, importsOf, sourceFiles } from './helpers/import-graph.js';
import { root } from './helpers/cli.js';

const files = sourceFiles(root, ['src', 'workers']);
const graph = importGraph(root, files);
const isCli = (f: string): boolean => f === 'src/cli.ts' || f.startsWith('src/cli/');

describe('import graph of src/ and workers/', () => {
  it('reads the imports it must (the scanner is not blind)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(graph.get('src/cli.ts')).toContain('src/cli/run.ts');
    expect(graph.get('workers/stress-worker.ts')).toContain('src/scenarios/registry.ts');
    // type-only imports count too
    expect(graph.get('src/report/html.ts')).toContain('src/report/types.ts');
    expect(
      importsOf(
        "import type { A } from './a.js';\n// import { B } from './b.js'\nexport * from '../c.js';\nawait import('./d.js');",
      ),
    ).toEqual(['./a.js', '../c.js', './d.js']);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
      ['e', ['e']],
    ]);
    expect(cycles(g)).toEqual([['a', 'b', 'c'], ['e']]);
  });

  it('has no import cycle', () => {
    expect(cycles(graph).map((c) => c.join(' <-> '))).toEqual([]);
  });

  it('nothing outside the command line imports src/cli/', () => {
    const up = [...graph].flatMap(([f, deps]) => (isCli(f) ? [] : deps.filter(isCli).map((d) => `${f} -> ${d}`)));
    expect(up).toEqual([]);
  });
});
