/**
 * The explore strategies, in one table (shuttle keeps one file per strategy; this is the index of them):
 * each row is a name, the help the command line shows, and the factory of its Scheduler. The CLI's
 * `--strategy` choices, the config schema and `explore`'s factory all read this table; `run`, the
 * stress-failure re-run and the shrinker take DEFAULT_STRATEGY from here. A new strategy is one file
 * implementing Scheduler plus one row.
 */
import { DfsScheduler } from './dfs.js';
import { PctScheduler } from './pct.js';
import { RandomScheduler } from './random.js';
import type { Scheduler } from './scheduler.js';

/**
 * What a factory gets: the strategy's seed, PCT's bug depth, an estimate of steps per execution, and
 * dfs's preemption bound (Infinity: none) and partial-order reduction switch.
 */
export interface StrategyOptions {
  readonly seed: number;
  readonly depth: number;
  readonly estimate: number;
  readonly maxPreemptions?: number;
  readonly por?: boolean;
}

export interface StrategyDef {
  readonly name: string;
  readonly help: string;
  /** Does --depth mean something to it? */
  readonly usesDepth: boolean;
  /**
   * Exhaustive: it enumerates the executions of one configuration (one op program per vCPU, the
   * campaign's first op seed), ends the campaign itself, and takes --max-preemptions.
   */
  readonly exhaustive: boolean;
  make(o: StrategyOptions): Scheduler;
}

export const STRATEGY_TABLE = [
  {
    name: 'pct',
    help:
      'PCT (Burckhardt et al., ASPLOS 2010): random priorities with depth-1 change points;' +
      ' finds a bug of depth d with a stated probability',
    usesDepth: true,
    exhaustive: false,
    make: (o: StrategyOptions): Scheduler => new PctScheduler(o.seed, o.depth, o.estimate),
  },
  {
    name: 'random',
    help: 'uniform random choice among the runnable vCPUs at every scheduling point',
    usesDepth: false,
    exhaustive: false,
    make: (o: StrategyOptions): Scheduler => new RandomScheduler(o.seed),
  },
  {
    name: 'dfs',
    help:
      'exhaustive depth-first search of every execution of one configuration, with sleep-set partial-order' +
      ' reduction (Godefroid 1996); --max-preemptions K bounds it (CHESS); ends "exhaustive: N executions"',
    usesDepth: false,
    exhaustive: true,
    make: (o: StrategyOptions): Scheduler =>
      new DfsScheduler({ maxPreemptions: o.maxPreemptions ?? Infinity, por: o.por ?? true }),
  },
] as const satisfies readonly StrategyDef[];

export type StrategyName = (typeof STRATEGY_TABLE)[number]['name'];

/** Every strategy name, in table order (a non-empty tuple, as zod's enum wants). */
export const STRATEGIES = STRATEGY_TABLE.map((s) => s.name) as [StrategyName, ...StrategyName[]];

/** What run, explore without --strategy, the stress-failure re-run and the shrinker use. */
export const DEFAULT_STRATEGY: StrategyName = 'pct';
/** PCT's bug depth when none is given. */
export const DEFAULT_DEPTH = 3;

export function isStrategy(name: string): name is StrategyName {
  return (STRATEGIES as readonly string[]).includes(name);
}

export function strategyNamed(name: StrategyName): StrategyDef {
  return STRATEGY_TABLE.find((s) => s.name === name)!;
}

export function makeScheduler(
  strategy: StrategyName,
  seed: number,
  depth: number,
  estimate: number,
  extra: Pick<StrategyOptions, 'maxPreemptions' | 'por'> = {},
): Scheduler {
  const def = STRATEGY_TABLE.find((s) => s.name === strategy);
  if (!def) throw new RangeError(`no explore strategy '${String(strategy)}'`);
  return def.make({ seed, depth, estimate, ...extra });
}

/** `pct, random` with the default marked: for help texts. */
export function strategyHelp(): string {
  return STRATEGY_TABLE.map((s) => `${s.name}${s.name === DEFAULT_STRATEGY ? ' (default)' : ''}: ${s.help}`).join('; ');
}
