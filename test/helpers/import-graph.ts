/**
 * The import graph of the project's own TypeScript: every relative `import`/`export … from`, side-effect
 * import and dynamic `import('…')` (type-only ones too: they are still a dependency of the design), read
 * from the source text with comments removed. Used by test/import-graph.test.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export type Graph = ReadonlyMap<string, readonly string[]>;

/** `.ts` files (not `.d.ts`) under `dirs` of `root`, as paths relative to root with '/' separators. */
export function sourceFiles(root: string, dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      const r = `${rel}/${name}`;
      if (statSync(path.join(root, r)).isDirectory()) walk(r);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(r);
    }
  };
  for (const d of dirs) walk(d);
  return out;
}

/** Relative module specifiers a source text imports. */
export function importsOf(text: string): string[] {
  // Comments go first, so that an example in a doc comment is not an import. String contents that
  // look like comments (`'//'`) are rare enough here not to matter; a miss would only add an edge.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
  const specs: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) specs.push(m[1]!);
  return specs.filter((s) => s.startsWith('./') || s.startsWith('../'));
}

/** The graph over `files` (relative paths): edges to the .ts file each relative import resolves to. */
export function importGraph(root: string, files: readonly string[]): Map<string, string[]> {
  const known = new Set(files);
  const g = new Map<string, string[]>();
  for (const f of files) {
    const deps = importsOf(readFileSync(path.join(root, f), 'utf8')).map((spec) => {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), spec));
      return target.replace(/\.js$/, '.ts');
    });
    g.set(f, [...new Set(deps.filter((d) => known.has(d)))]);
  }
  return g;
}

/** Every cycle's members, one list per strongly connected component with more than one file (or a self-import). */
export function cycles(g: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      scc.push(w);
      if (w === v) break;
    }
    if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}
