/**
 * What a repro was recorded with: the tool's version and a hash of the scenario's model code. A token
 * or repro file carries both, so that a replay on different code says so (naming both versions)
 * instead of silently replaying a different execution.
 *
 * The model hash covers the scenario's module and every module it imports, transitively, through
 * relative imports (the model, the engine primitives, the checkers it uses): exactly the code an
 * execution runs besides the scheduler, whose changes the tool version stands for. It is computed
 * over the TypeScript sources when they are there (src/, examples/), so a token made under vitest and
 * one made by the compiled CLI carry the same hash; otherwise over the JavaScript that runs (a
 * user's compiled scenario file). Blank lines and whole-line comments are left out, so a comment edit
 * does not turn every token into a "recorded on other code" warning. Cost: one read of a few dozen
 * small files per scenario per process (cached), ~1-3 ms.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../paths.js';
import { scenarioFileFlag } from '../scenarios/registry.js';

export interface Stamp {
  /** package.json version of the tool that recorded the repro. */
  readonly toolVersion: string;
  /** `modelHash(scenario)` when it was recorded: 12 hex digits. */
  readonly modelHash: string;
}

export const TOOL_VERSION: string = (
  JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }
).version;

const cache = new Map<string, string>();

/** The stamp of today's code for `scenario`. */
export function currentStamp(scenario: string): Stamp {
  return { toolVersion: TOOL_VERSION, modelHash: modelHash(scenario) };
}

/** 12 hex digits of SHA-256 over the scenario's module graph (see the file comment); cached per process. */
export function modelHash(scenario: string): string {
  const entry = scenarioEntry(scenario);
  const key = `${scenario}\0${entry ?? ''}`;
  let h = cache.get(key);
  if (h === undefined) {
    h =
      entry !== undefined
        ? moduleGraphHash(entry)
        : createHash('sha256').update(`unknown scenario ${scenario}`).digest('hex').slice(0, 12);
    cache.set(key, h);
  }
  return h;
}

/** The hash of `entry` and every file it imports (uncached). */
export function moduleGraphHash(entry: string): string {
  const sha = createHash('sha256');
  for (const f of moduleGraph(entry)) {
    sha.update(`${path.relative(projectRoot, f)}\0${normalise(readFileSync(f, 'utf8'))}\0`);
  }
  return sha.digest('hex').slice(0, 12);
}

/** The scenario's own module file: a user's (as registered) or a built-in one (src/scenarios/<name>.ts). */
function scenarioEntry(scenario: string): string | undefined {
  const flag = scenarioFileFlag(scenario); // `--scenario-file F ` for a user's scenario, else ''
  const file =
    flag !== ''
      ? path.resolve(flag.slice('--scenario-file '.length).trimEnd())
      : path.join(projectRoot, 'src', 'scenarios', `${scenario}.ts`);
  const src = sourceOf(file);
  if (existsSync(src)) return src;
  const compiled = path.join(projectRoot, 'dist', 'src', 'scenarios', `${scenario}.js`);
  return flag === '' && existsSync(compiled) ? compiled : undefined;
}

/** A compiled file under dist/ -> its TypeScript source when that exists; otherwise the file itself. */
function sourceOf(file: string): string {
  const rel = path.relative(path.join(projectRoot, 'dist'), file);
  if (!rel.startsWith('..') && !path.isAbsolute(rel)) {
    const ts = path.join(projectRoot, rel.replace(/\.([cm]?)js$/, '.$1ts'));
    if (existsSync(ts)) return ts;
  }
  return file;
}

/** `import … from 'x'` / `export … from 'x'`, `import('x')`, and a bare `import 'x'`. */
const IMPORT = new RegExp(
  [
    /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/.source,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/.source,
    /(?:^|\n)\s*import\s*['"]([^'"]+)['"]/.source,
  ].join('|'),
  'g',
);

/** Every file reachable from `entry` through relative imports, sorted (so the hash does not depend on walk order). */
function moduleGraph(entry: string): string[] {
  const seen = new Set<string>([entry]);
  const todo = [entry];
  while (todo.length > 0) {
    const f = todo.pop()!;
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (!spec.startsWith('.')) continue; // packages and node: builtins are the tool version's business
      const dep = resolveSpecifier(path.dirname(f), spec);
      if (dep !== undefined && !seen.has(dep)) {
        seen.add(dep);
        todo.push(dep);
      }
    }
  }
  return [...seen].sort();
}

/** `./x.js` from a .ts file means ./x.ts (TypeScript's NodeNext convention). */
function resolveSpecifier(dir: string, spec: string): string | undefined {
  const p = path.resolve(dir, spec);
  const ts = p.replace(/\.([cm]?)js$/, '.$1ts');
  if (ts !== p && existsSync(ts)) return ts;
  return existsSync(p) ? p : undefined;
}

/** Drop blank lines and whole-line comments; trailing blanks. */
function normalise(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => {
      const t = l.trimStart();
      return t !== '' && !t.startsWith('//') && !t.startsWith('/*') && !t.startsWith('*');
    })
    .join('\n');
}
