/**
 * Every scenario the tool knows: the built-in ones (index.ts) and those loaded from a user's file with
 * `--scenario-file`. A user file is an ES module whose default export (or `scenario` export) is a
 * ScenarioDef — see src/api.ts and examples/. Workers load the same file, so a user scenario runs under
 * both executors exactly like a built-in one.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BadInput } from '../errors.js';
import type { ScenarioDef } from '../engine/scenario.js';
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

/** `--scenario-file F ` when the scenario is a user's, else ''. */
export function scenarioFileFlag(name: string): string {
  const f = sourceOf.get(name);
  return f === undefined ? '' : `--scenario-file ${f} `;
}

export function scenarioNamed(name: string): ScenarioDef | undefined {
  return extended.get(name) ?? SCENARIOS.find((s) => s.name === name) ?? user.find((s) => s.name === name);
}

/**
 * The JavaScript module to load for a scenario file. A .ts file of this project (examples/…) is loaded
 * from its compiled twin in dist/ (Node 20 cannot load TypeScript, and workers need the same file).
 */
export function scenarioModulePath(file: string): string {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new BadInput(`--scenario-file: '${file}' does not exist`);
  if (!/\.[cm]?ts$/.test(abs)) return abs;
  const rel = path.relative(projectRoot, abs);
  const compiled = path.join(projectRoot, 'dist', rel.replace(/\.([cm]?)ts$/, '.$1js'));
  if (rel.startsWith('..') || !existsSync(compiled)) {
    throw new BadInput(`--scenario-file: '${file}' is TypeScript and has no compiled .js in dist/ (put it under examples/ and run 'npm run build', or pass the compiled .js)`);
  }
  return compiled;
}

/** Load, check and register the scenario of a file; returns it. Loading the same module twice is a no-op. */
export async function loadScenarioFile(modulePath: string, givenAs?: string): Promise<ScenarioDef> {
  const mod = await importScenarioModule(modulePath);
  const def = (mod.default ?? mod.scenario) as ScenarioDef | undefined;
  checkScenarioShape(def, modulePath);
  if (def.extends !== undefined) return registerExtension(def, modulePath, givenAs);
  const known = scenarioNamed(def.name);
  if (known && known !== def) {
    throw new BadInput(`--scenario-file: '${modulePath}' defines scenario '${def.name}', a name already taken`);
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
    throw new BadInput(`--scenario-file: '${modulePath}' extends '${def.extends}', which is not a built-in scenario`);
  }
  const prev = extended.get(base.name);
  if (prev === def) return def;
  if (prev) throw new BadInput(`--scenario-file: '${modulePath}' extends '${base.name}', which another scenario file already extends`);
  extended.set(base.name, def);
  sourceOf.set(base.name, path.relative(process.cwd(), givenAs ?? modulePath) || modulePath);
  return def;
}
