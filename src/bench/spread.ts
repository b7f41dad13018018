/**
 * Repeats of a benchmark and their spread. A mean from one run is not a number to quote (runs on this
 * kind of VM vary by ±30%): every suite runs `repeats` times, each combination reports the run with the
 * median throughput as its row (so the row's own figures stay consistent with each other) and, beside
 * it, the min–max over the repeats of every mean it shows.
 */

export interface Range {
  readonly min: number;
  readonly max: number;
}

export interface WithSpread {
  /**
   * How many runs the row is the median of, and the min–max of each mean over them. A run that completed
   * no op (workers still starting when its time ran out, on a loaded machine) measured nothing and is
   * left out; `runs` counts them all.
   */
  readonly repeats: number;
  readonly runs?: number;
  readonly spread: Readonly<Record<string, Range>>;
}

export function range(values: readonly number[]): Range {
  return { min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Combine `runs` (each a full list of rows, same combinations in the same order) into one row per
 * combination: the run whose `by` is the median, plus the spread of `fields` — over the runs that
 * `measured` something (all of them when none did).
 */
export function medianRows<T extends object>(
  runs: readonly (readonly T[])[],
  by: (row: T) => number,
  fields: readonly (keyof T & string)[],
  measured: (row: T) => boolean = () => true,
): (T & WithSpread)[] {
  const first = runs[0] ?? [];
  return first.map((_, i) => {
    const all = runs.map((r) => r[i]!);
    const some = all.filter(measured);
    const reps = some.length > 0 ? some : all;
    const sorted = [...reps].sort((a, b) => by(a) - by(b));
    const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
    const spread: Record<string, Range> = {};
    for (const f of fields) spread[f] = range(reps.map((r) => r[f] as unknown as number));
    return { ...median, repeats: reps.length, runs: all.length, spread };
  });
}

/** `1.23 M [1.20–1.25]` */
export function withRange(value: number, r: Range | undefined, fmt: (x: number) => string): string {
  return r ? `${fmt(value)} [${fmt(r.min)}–${fmt(r.max)}]` : fmt(value);
}
