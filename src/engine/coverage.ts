/**
 * Site coverage: which scheduling points (site labels, site.ts) a run reached, and how often.
 *
 * A scenario declares its sites statically (ScenarioDef.sites; a variant's patch adds its own with
 * VariantDef.sites). A declared site is a label in which `#` stands for an instance number — a vCPU, a
 * size class, a domain — so `lock fq[cpu#]` covers `lock fq[cpu0]`, `lock fq[cpu1]`, ... whatever the
 * number of vCPUs: the list does not depend on parameters, and coverage counts each declared site over
 * all of its instances. Everything else in a label is literal (`L2 leaf write` is the 2 MiB block path,
 * not `L# leaf write`).
 *
 * A site a variant may legitimately never reach is declared with a reason (ScenarioDef.unreached for the
 * whole scenario, VariantDef.unreached for one variant); every other declared site is expected to be
 * reached, and a clean verdict that left one unreached says so. An exemption marked `exploreOnly` is
 * narrower: its sites are reachable, but only by explore's small shapes (a 4-entry ring the timer cannot
 * keep up with, two vCPUs racing one teardown), so a run without an explore leg (`run --mode stress`)
 * does not judge them, and any run with one (explore, mixed) does. A label that no declaration matches is a
 * model error (test/coverage.test.ts runs every variant and fails on one); a run counts it apart.
 *
 * Both executors count by index into the catalog: explore in a Map per campaign, stress in per-vCPU
 * counters in the SharedArrayBuffer merged at slice barriers (stress/stress.ts).
 */
import type { Site } from './site.js';

/** Sites a scenario or variant may never reach, and why. */
export interface SiteExemption {
  readonly sites: readonly Site[];
  readonly reason: string;
  /** The sites are reachable in explore only (the reason says why stress misses them): see the header. */
  readonly exploreOnly?: boolean;
}

/** What a scenario and its variant declare (the fields of ScenarioDef / VariantDef coverage reads). */
export interface SiteDeclarations {
  readonly sites?: readonly Site[];
  readonly unreached?: readonly SiteExemption[];
}

export class SiteCatalog {
  /** Declared sites, in declaration order (scenario first, then the variant's own). */
  readonly keys: readonly Site[];
  /** Declared site -> why it may stay unreached. */
  readonly exempt: ReadonlyMap<Site, string>;
  /** Declared site -> why only explore reaches it (judged only when an explore leg ran). */
  readonly exploreOnly: ReadonlyMap<Site, string>;
  /** Whether the scenario declares its sites at all (a user scenario may not: then nothing is judged). */
  readonly declared: boolean;
  private readonly patterns: readonly { readonly re: RegExp; readonly index: number }[];
  private readonly literal = new Map<Site, number>();
  /** Every label resolved so far -> index (or UNDECLARED): the hot path is this one lookup. */
  private readonly cache = new Map<Site, number>();

  constructor(scenario: SiteDeclarations, variant: SiteDeclarations) {
    const keys = [...(scenario.sites ?? []), ...(variant.sites ?? [])];
    const dup = keys.find((k, i) => keys.indexOf(k) !== i);
    if (dup !== undefined) throw new Error(`coverage: site '${dup}' is declared twice`);
    this.keys = keys;
    this.declared = scenario.sites !== undefined;
    const patterns: { re: RegExp; index: number }[] = [];
    keys.forEach((k, index) => {
      if (k.includes('#')) patterns.push({ re: sitePattern(k), index });
      else this.literal.set(k, index);
    });
    this.patterns = patterns;
    const exempt = new Map<Site, string>();
    const exploreOnly = new Map<Site, string>();
    for (const e of [...(scenario.unreached ?? []), ...(variant.unreached ?? [])]) {
      for (const s of e.sites) {
        // An exemption of a site that is not declared is a typo that would silently exempt nothing.
        if (!keys.includes(s)) throw new Error(`coverage: unreached site '${s}' is not declared`);
        (e.exploreOnly === true ? exploreOnly : exempt).set(s, e.reason);
      }
    }
    this.exempt = exempt;
    this.exploreOnly = exploreOnly;
  }

  /** Index of the declared site `label` is an instance of, or UNDECLARED. */
  indexOf(label: Site): number {
    const hit = this.cache.get(label);
    if (hit !== undefined) return hit;
    let index = this.literal.get(label) ?? UNDECLARED;
    if (index === UNDECLARED) {
      for (const p of this.patterns) {
        if (p.re.test(label)) {
          index = p.index;
          break;
        }
      }
    }
    this.cache.set(label, index);
    return index;
  }
}

export const UNDECLARED = -1;

/** `lock fq[cpu#]` -> /^lock fq\[cpu\d+\]$/ */
function sitePattern(site: Site): RegExp {
  const esc = site.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/#/g, '\\d+');
  return new RegExp(`^${esc}$`);
}

/** Steps per declared site (by catalog index), plus the labels no declaration matched. */
export interface SiteTally {
  readonly counts: number[];
  readonly undeclared: Map<Site, number>;
}

export function newTally(catalog: SiteCatalog): SiteTally {
  return { counts: Array<number>(catalog.keys.length).fill(0), undeclared: new Map() };
}

/** Add `n` steps at `label` into a tally: to its declared site's count, or to the undeclared labels. */
export function tallyLabel(catalog: SiteCatalog, into: SiteTally, label: Site, n = 1): void {
  const k = catalog.indexOf(label);
  if (k === UNDECLARED) into.undeclared.set(label, (into.undeclared.get(label) ?? 0) + n);
  else into.counts[k]! += n;
}

/** Add per-label counts (explore's Map) into a tally. */
export function tallyLabels(catalog: SiteCatalog, into: SiteTally, labels: ReadonlyMap<Site, number>): void {
  for (const [label, n] of labels) tallyLabel(catalog, into, label, n);
}

/** Add one tally into another (of the same catalog). */
export function addTally(into: SiteTally, from: SiteTally): void {
  from.counts.forEach((n, k) => (into.counts[k]! += n));
  for (const [l, n] of from.undeclared) into.undeclared.set(l, (into.undeclared.get(l) ?? 0) + n);
}

/** One declared site in a report. */
export interface SiteCoverage {
  readonly site: Site;
  readonly stress: number;
  readonly explore: number;
  /** Why it may stay unreached (declared by the model), when it may. */
  readonly exempt?: string;
}

/** A variant's coverage as reports carry it (report.json `coverage`). */
export interface CoverageReport {
  /** False when the scenario declares no sites (a user scenario): nothing is judged. */
  readonly declared: boolean;
  readonly sites: readonly SiteCoverage[];
  /** Declared sites reached by either executor. */
  readonly reached: number;
  /** Declared sites expected reachable (not exempt) that neither executor reached. */
  readonly neverReached: readonly Site[];
  /** Labels yielded that no declaration matches (a model error), with their steps. */
  readonly undeclared: Readonly<Record<Site, number>>;
}

/**
 * A variant's coverage from the executors' tallies. `explored` says whether the run had an explore leg
 * (explore or mixed mode, whether or not it got to run): without one, the explore-only sites are exempt
 * with their reason; with one, they are judged like any other.
 */
export function coverageReport(
  catalog: SiteCatalog,
  stress: SiteTally | undefined,
  explore: SiteTally | undefined,
  explored = explore !== undefined,
): CoverageReport {
  const sites: SiteCoverage[] = catalog.keys.map((site, k) => {
    const only = catalog.exploreOnly.get(site);
    const exempt = catalog.exempt.get(site) ?? (only !== undefined && !explored ? `explore only: ${only}` : undefined);
    return {
      site,
      stress: stress?.counts[k] ?? 0,
      explore: explore?.counts[k] ?? 0,
      ...(exempt !== undefined ? { exempt } : {}),
    };
  });
  const undeclared: Record<Site, number> = {};
  for (const t of [stress, explore]) for (const [l, n] of t?.undeclared ?? []) undeclared[l] = (undeclared[l] ?? 0) + n;
  return summarise(catalog.declared, sites, undeclared);
}

/** Reached / never-reached counts from the per-site rows (also how `merge` re-derives them). */
function summarise(
  declared: boolean,
  sites: readonly SiteCoverage[],
  undeclared: Readonly<Record<Site, number>>,
): CoverageReport {
  const hit = (s: SiteCoverage) => s.stress + s.explore > 0;
  return {
    declared,
    sites,
    reached: sites.filter(hit).length,
    neverReached: declared ? sites.filter((s) => !hit(s) && s.exempt === undefined).map((s) => s.site) : [],
    undeclared,
  };
}

/** Two reports' coverage of the same variant (shards of one campaign): steps add up. */
export function mergeCoverage(a: CoverageReport, b: CoverageReport): CoverageReport {
  const byName = new Map<Site, SiteCoverage>(a.sites.map((s) => [s.site, s]));
  for (const s of b.sites) {
    const o = byName.get(s.site);
    if (!o) {
      byName.set(s.site, s);
      continue;
    }
    const { exempt: _, ...row } = o;
    // Exempt only if exempt in both: an explore-only site a stress shard exempted is judged once another
    // shard of the campaign explored.
    const exempt = o.exempt !== undefined && s.exempt !== undefined ? { exempt: o.exempt } : {};
    byName.set(s.site, { ...row, stress: o.stress + s.stress, explore: o.explore + s.explore, ...exempt });
  }
  const undeclared: Record<Site, number> = { ...a.undeclared };
  for (const [l, n] of Object.entries(b.undeclared)) undeclared[l] = (undeclared[l] ?? 0) + n;
  return summarise(a.declared && b.declared, [...byName.values()], undeclared);
}
