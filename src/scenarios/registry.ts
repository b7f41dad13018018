/**
 * Every scenario the tool knows: the built-in ones (index.ts) and those loaded from a user's file with
 * `--scenario-file`. A user file is an ES module whose default export (or `scenario` export) is either a
 * ScenarioDef of its own or a built-in scenario extended with variants (extendScenario) — see src/api.ts
 * and examples/. Workers load the same file, so a user scenario or variant runs under both executors
 * exactly like a built-in one.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { BadInput } from '../errors.js';
import type { ScenarioDef, VariantDef } from '../engine/scenario.js';
import { projectRoot } from '../paths.js';
import { SCENARIOS } from './index.js';
import { checkScenarioShape, importScenarioModule } from './shape.js';

const user: ScenarioDef[] = [];
/** Built-in scenarios that a user's file extended with variants of its own (extendScenario), by name. */
const extended = new Map<string, ScenarioDef>();
/** Where each user scenario or extension came from (as the user named the file), for the commands we print. */
const sourceOf = new Map<string, string>();

/** Forget every user scenario and extension: cli main() calls it, so in-process invocations do not leak. */
export function forgetUserScenarios(): void {
  user.length = 0;
  extended.clear();
  sourceOf.clear();
}

export function allScenarios(): readonly ScenarioDef[] {
  return [...SCENARIOS.map((s) => extended.get(s.name) ?? s), ...user];
}

/**
 * `--scenario-file F ` when the scenario is a user's or was extended by a user's file, else ''. Every
 * command we print goes through this, so a printed repro of a user's variant names the file it needs.
 */
export function scenarioFileFlag(name: string): string {
  const f = sourceOf.get(name);
  if (f === undefined) return '';
  // Paste-able in a POSIX shell: a path with anything but the plain characters goes in single quotes.
  return `--scenario-file ${/^[\w./@%+=:,-]+$/.test(f) ? f : `'${f.replace(/'/g, "'\\''")}'`} `;
}

/** The file a scenario, or one variant of it, comes from (as given on the command line); undefined when built in. */
export function sourceFile(scenario: string, variant?: string): string | undefined {
  const f = sourceOf.get(scenario);
  if (f === undefined || variant === undefined || !extended.has(scenario)) return f;
  return builtinVariant(scenario, variant) ? undefined : f;
}

/** The variants a user's file added to a built-in scenario ([] when it added none). */
export function addedVariants(scenario: string): readonly VariantDef[] {
  const ext = extended.get(scenario);
  return ext ? ext.variants.filter((v) => !builtinVariant(scenario, v.name)) : [];
}

function builtinVariant(scenario: string, variant: string): boolean {
  return SCENARIOS.find((s) => s.name === scenario)?.variants.some((v) => v.name === variant) ?? false;
}

export function scenarioNamed(name: string): ScenarioDef | undefined {
  return extended.get(name) ?? SCENARIOS.find((s) => s.name === name) ?? user.find((s) => s.name === name);
}

/**
 * The JavaScript module to load for a scenario file. A .ts file of this project (examples/…) is loaded
 * from its compiled twin in dist/ (Node 20 cannot load TypeScript, and workers need the same file).
 * Never stale code: a twin older than its source (and than the last build) is refused, naming both.
 */
export function scenarioModulePath(file: string, root: string = projectRoot): string {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new BadInput(`--scenario-file: '${file}' does not exist`);
  const rel = path.relative(root, abs);
  if (!/\.[cm]?ts$/.test(abs)) {
    // A compiled twin given directly (dist/examples/x.js): the same staleness rule against its source.
    const m = /^dist[\\/](.+)\.([cm]?)js$/.exec(rel);
    const source = m ? path.join(root, `${m[1]}.${m[2]}ts`) : undefined;
    if (source !== undefined && existsSync(source)) refuseStale(source, abs, root);
    return abs;
  }
  const compiled = path.join(root, 'dist', rel.replace(/\.([cm]?)ts$/, '.$1js'));
  if (rel.startsWith('..') || path.isAbsolute(rel) || !existsSync(compiled)) {
    throw new BadInput(
      `--scenario-file: '${file}' is TypeScript and has no compiled .js in dist/` +
        " (put it under examples/ and run 'npm run build', or pass the compiled .js)",
    );
  }
  refuseStale(abs, compiled, root);
  return compiled;
}

/**
 * The compiled twin is current when it, or the last build (tsc -b's build info, written by every build
 * that looked at the sources), is at least as new as the source: `tsc -b` does not rewrite a twin whose
 * source was saved unchanged, so the twin's own time alone would refuse a file that is in fact built.
 */
function refuseStale(source: string, compiled: string, root: string): void {
  const mtime = (p: string): number => {
    try {
      return statSync(p).mtimeMs;
    } catch {
      return 0;
    }
  };
  const built = Math.max(mtime(compiled), mtime(path.join(root, 'dist', '.tsbuildinfo')));
  if (mtime(source) > built) {
    const shown = (p: string): string => path.relative(process.cwd(), p) || p;
    throw new BadInput(
      `--scenario-file: '${shown(compiled)}' is older than its source ` +
        `'${shown(source)}' (edited since the last build): run 'npm run build' first`,
    );
  }
}

/** Load, check and register the scenario of a file; returns it. Loading the same module twice is a no-op. */
export async function loadScenarioFile(modulePath: string, givenAs?: string): Promise<ScenarioDef> {
  const mod = await importScenarioModule(modulePath);
  const def = (mod.default ?? mod.scenario) as ScenarioDef | undefined;
  checkScenarioShape(def, modulePath);
  if (def.extends !== undefined) return registerExtension(def, modulePath, givenAs);
  const known = scenarioNamed(def.name);
  if (known && known !== def) {
    throw new BadInput(
      `--scenario-file: '${modulePath}' defines scenario '${def.name}', a name already taken` +
        (SCENARIOS.some((s) => s.name === def.name)
          ? ` (to add variants to it, export extendScenario(${def.name}Scenario, [...]))`
          : ''),
    );
  }
  if (!known) {
    user.push(def);
    sourceOf.set(def.name, path.relative(process.cwd(), givenAs ?? modulePath) || modulePath);
  }
  return def;
}

/** A file that adds variants to a built-in scenario: the extended definition replaces the built-in one. */
function registerExtension(def: ScenarioDef, modulePath: string, givenAs?: string): ScenarioDef {
  const base = SCENARIOS.find((s) => s.name === def.extends);
  if (!base || def.name !== base.name) {
    throw new BadInput(
      `--scenario-file: '${modulePath}' extends '${def.extends}', which is not a built-in scenario` +
        ` (built in: ${SCENARIOS.map((s) => s.name).join(', ')})`,
    );
  }
  const prev = extended.get(base.name);
  if (prev === def) return def;
  if (prev) {
    throw new BadInput(
      `--scenario-file: '${modulePath}' extends '${base.name}', which another scenario file already extends`,
    );
  }
  for (const b of base.variants) {
    if (!def.variants.includes(b)) {
      bad(
        modulePath,
        `variant '${b.name}' of ${base.name} is missing or redefined` +
          ' (a file adds variants with extendScenario; built-in names are taken)',
      );
    }
  }
  if (def.variants.length === base.variants.length) bad(modulePath, `extends ${base.name} but adds no variant`);
  extended.set(base.name, def);
  sourceOf.set(base.name, path.relative(process.cwd(), givenAs ?? modulePath) || modulePath);
  return def;
}

function bad(file: string, what: string): never {
  throw new BadInput(`--scenario-file: '${file}': ${what}`);
}
