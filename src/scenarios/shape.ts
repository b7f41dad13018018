/**
 * A user's scenario file, checked in full before anything uses it: the module must load without ending
 * the process or throwing, and its definition must have every field `list`, `run`, `explore` and the
 * workers read, each of the right type and range (params with min <= default <= max, variants that
 * expect declared invariants, unique names). Every problem is a BadInput (exit 2) naming the file and
 * the field; nothing of the file is registered until it passes.
 */
import { pathToFileURL } from 'node:url';
import { BadInput } from '../errors.js';
import type { ScenarioDef } from '../engine/scenario.js';
import { preview } from '../preview.js';
import { ENGINE_INVARIANTS } from '../check/invariant.js';

/** Invariants every scenario checks (LOCKDEP, DEADLOCK, …): a variant may expect them too. */
const ENGINE_IDS: ReadonlySet<string> = new Set(ENGINE_INVARIANTS.map((i) => i.id));

const GRADES = ['FORBIDDEN', 'INTERESTING', 'ACCEPTABLE'];
const MAX_CPUS = 255;
const MAX_OPS = 100_000_000;
const MAX_NAME = 64;

class ExitCalled extends Error {
  constructor(readonly code: unknown) {
    super(`process.exit(${String(code ?? '')})`);
  }
}

/**
 * Import a scenario module. `process.exit` is disabled while it evaluates (a module that calls it would
 * otherwise end the harness with no word); a module that calls it, or throws, is bad input.
 */
export async function importScenarioModule(modulePath: string): Promise<Record<string, unknown>> {
  const realExit = process.exit;
  let exitCall: ExitCalled | undefined;
  process.exit = ((code?: unknown) => {
    throw (exitCall = new ExitCalled(code));
  }) as typeof process.exit;
  try {
    const mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
    if (exitCall) throw exitCall; // the module caught our throw: it still tried to end the process
    return mod;
  } catch (e) {
    if (e instanceof ExitCalled || exitCall) {
      const call = (exitCall ?? (e as ExitCalled)).message;
      throw new BadInput(
        `--scenario-file: '${modulePath}' calls ${call} while loading ` +
          '(a scenario module must only define and export its scenario)',
      );
    }
    const what = e instanceof Error ? `${e.name}: ${e.message}` : `a thrown ${preview(e)}`;
    throw new BadInput(`--scenario-file: '${modulePath}' does not load (it throws at import: ${what})`);
  } finally {
    process.exit = realExit;
  }
}

/** Check every field of a scenario definition; a definition whose own getters throw is bad input too. */
export function checkScenarioShape(def: unknown, file: string): asserts def is ScenarioDef {
  try {
    checkFields(def, file);
  } catch (e) {
    if (e instanceof BadInput) throw e;
    const what = e instanceof Error ? e.message : preview(e);
    throw new BadInput(`--scenario-file: '${file}': reading the scenario definition throws: ${what}`);
  }
}

function checkFields(def: unknown, file: string): void {
  const bad = (field: string, what: string, ...got: unknown[]): never => {
    const shown = got.length > 0 ? `, got ${preview(got[0])}` : '';
    throw new BadInput(`--scenario-file: '${file}': \`${field}\` ${what}${shown}`);
  };
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  const isInt = (x: unknown, lo: number, hi: number): x is number =>
    Number.isSafeInteger(x) && (x as number) >= lo && (x as number) <= hi;
  if (!isObj(def)) {
    throw new BadInput(
      `--scenario-file: '${file}': no default export (or \`scenario\` export) ` + 'with a scenario definition',
    );
  }
  const d = def;
  if (typeof d.name !== 'string' || !/^[a-z][\w-]*$/.test(d.name) || d.name.length > MAX_NAME) {
    bad('name', 'must be a lower-case identifier', d.name);
  }
  if (d.extends !== undefined && typeof d.extends !== 'string') bad('extends', 'must be a scenario name', d.extends);
  for (const k of ['summary', 'follows'] as const) if (typeof d[k] !== 'string') bad(k, 'must be a string', d[k]);
  if (typeof d.build !== 'function') bad('build', 'must be a function', d.build);
  if (!isInt(d.exploreCpus, 1, MAX_CPUS)) bad('exploreCpus', `must be an integer from 1 to ${MAX_CPUS}`, d.exploreCpus);
  if (!isInt(d.exploreOps, 1, MAX_OPS)) bad('exploreOps', `must be an integer from 1 to ${MAX_OPS}`, d.exploreOps);

  if (!isObj(d.params)) bad('params', 'must be an object of parameter specs (use {} for none)', d.params);
  const params = d.params as Record<string, unknown>;
  for (const [k, spec] of Object.entries(params)) {
    if (!/^[A-Za-z][\w-]*$/.test(k)) bad(`params.${k}`, 'is not a parameter name usable as --param key=value');
    if (!isObj(spec)) bad(`params.${k}`, 'must be { default, min, max, help }', spec);
    const p = spec as Record<string, unknown>;
    for (const f of ['default', 'min', 'max'] as const) {
      if (!Number.isSafeInteger(p[f])) bad(`params.${k}.${f}`, 'must be an integer', p[f]);
    }
    if (!((p.min as number) <= (p.default as number) && (p.default as number) <= (p.max as number))) {
      const [lo, dflt, hi] = [p.min as number, p.default as number, p.max as number];
      bad(`params.${k}`, `must have min <= default <= max, got ${lo} <= ${dflt} <= ${hi}`);
    }
    if (typeof p.help !== 'string') bad(`params.${k}.help`, 'must be a string', p.help);
  }
  if (d.exploreParams !== undefined) {
    if (!isObj(d.exploreParams)) bad('exploreParams', 'must be an object of parameter values', d.exploreParams);
    for (const [k, v] of Object.entries(d.exploreParams as Record<string, unknown>)) {
      const p = Object.hasOwn(params, k) ? (params[k] as { min: number; max: number }) : undefined;
      if (!p) bad(`exploreParams.${k}`, 'is not one of `params`');
      if (!isInt(v, p!.min, p!.max)) bad(`exploreParams.${k}`, `must be an integer from ${p!.min} to ${p!.max}`, v);
    }
  }

  if (!Array.isArray(d.invariants)) bad('invariants', 'must be a list', d.invariants);
  const ids = new Set<string>();
  (d.invariants as unknown[]).forEach((x, i) => {
    if (!isObj(x)) bad(`invariants[${i}]`, 'must be { id, meaning, grade }', x);
    const inv = x as Record<string, unknown>;
    if (typeof inv.id !== 'string' || inv.id === '' || inv.id.length > MAX_NAME) {
      bad(`invariants[${i}].id`, 'must be a short id', inv.id);
    }
    if (ids.has(inv.id as string)) bad(`invariants[${i}].id`, `repeats '${inv.id as string}'`);
    ids.add(inv.id as string);
    if (typeof inv.meaning !== 'string') bad(`invariants[${i}].meaning`, 'must be a string', inv.meaning);
    if (!GRADES.includes(inv.grade as string)) {
      bad(`invariants[${i}].grade`, `must be one of ${GRADES.join(', ')}`, inv.grade);
    }
  });

  if (!Array.isArray(d.variants) || d.variants.length === 0) {
    bad('variants', 'must list at least one variant', d.variants);
  }
  const names = new Set<string>();
  (d.variants as unknown[]).forEach((x, i) => {
    if (!isObj(x)) bad(`variants[${i}]`, 'must be { name, summary, expect }', x);
    const v = x as Record<string, unknown>;
    if (typeof v.name !== 'string' || !/^[A-Za-z0-9][\w.-]*$/.test(v.name) || v.name.length > MAX_NAME) {
      bad(`variants[${i}].name`, 'must be a variant name (letters, digits, - _ .)', v.name);
    }
    if (names.has(v.name as string)) bad(`variants[${i}].name`, `repeats '${v.name as string}'`);
    names.add(v.name as string);
    if (typeof v.summary !== 'string' || v.summary.trim() === '') {
      bad(
        `variants[${i}].summary`,
        `(variant ${String(v.name)}) must say in one line what the variant changes`,
        v.summary,
      );
    }
    if (v.source !== undefined && typeof v.source !== 'string') {
      bad(`variants[${i}].source`, 'must be a string', v.source);
    }
    const e = v.expect;
    const declared =
      Array.isArray(e) &&
      e.length > 0 &&
      e.every((id) => typeof id === 'string' && (ids.has(id) || ENGINE_IDS.has(id)));
    if (e !== 'clean' && !declared) {
      const unknown = Array.isArray(e)
        ? e.filter((id) => typeof id !== 'string' || !(ids.has(id) || ENGINE_IDS.has(id)))
        : [];
      const want =
        unknown.length > 0
          ? `names ${unknown.map((id) => preview(id)).join(', ')}, which the scenario does not declare (it has: ${[...ids, ...ENGINE_IDS].join(', ')})`
          : "must be 'clean' or a non-empty list of invariant ids the scenario declares";
      bad(`variants[${i}].expect`, `(variant ${String(v.name)}) ${want}`, ...(unknown.length > 0 ? [] : [e]));
    }
  });
}
