/**
 * Cost profiles of the simulated-time executor (issue 16): what a step, an access, a line transfer, a lock
 * hand-off and a wake-up cost on some machine, and the defaults of the costs a scenario spends explicitly
 * (an IOTLB flush, a hypercall, a transfer). A profile is a JSON file; the built-in ones live in
 * `profiles/` at the project root (`--profile NAME`), any other is given by path (`--profile FILE`).
 * Every field is documented in FIELDS below and in profiles/README.md; `comment` says where the numbers
 * come from. A profile that does not parse, or has a field missing, of the wrong type or out of range,
 * is bad input (exit 2) naming the field.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { BadInput } from '../errors.js';
import { projectRoot } from '../paths.js';

const ns = z.number().finite().min(0);

/** The fields, each with its meaning (shown by the schema errors' hints and in profiles/README.md). */
export const FIELDS = {
  name: 'the profile name (reports print it)',
  comment: 'sources and reasoning for every number (free text)',
  stepNs: "the model's own work between two scheduling points on local data (charged every step)",
  loadNs: 'an Atomics load of a line this CPU holds',
  storeNs: 'an Atomics store to a line this CPU owns exclusively',
  rmwNs: 'an atomic read-modify-write (add, xchg, ...) on a line this CPU owns exclusively',
  casNs: 'a compare-and-swap on a line this CPU owns exclusively',
  lineTransferNs:
    'a line moved from another CPU (or memory): added to the access; exclusive transfers of one line queue',
  lineMoveNs:
    'a line moved from another CPU that no other transfer of it holds up (the line idle at its holder), ' +
    'instead of lineTransferNs, which then prices a move that queued behind another; optional, default ' +
    'lineTransferNs',
  firstTouchNs:
    'a line no CPU has touched yet (from memory), instead of lineTransferNs; optional, default lineTransferNs',
  lockHandoffNs: 'a spinning waiter sees a released lock word and runs again',
  spinWindowNs: 'a waiter spins this long before it parks; a waiter woken after longer pays wakeupNs instead',
  wakeupNs: 'a parked waiter (futex/Atomics.wait, schedule()) is woken by the releaser and runs again',
  siteNs:
    'extra cost of a step by its site label: {"substring": ns}; work on plain memory the executor cannot see (rbtree walks)',
  modelSiteNs:
    "measured cost of a whole step by its site label (digit runs written '#'): the model's JavaScript and its " +
    'uncontended accesses, charged instead of stepNs + siteNs + the hit costs (bench --calibrate; default {}); ' +
    "a key 'VARIANT: site' is that variant's own measurement, taken before the site's mean",
  layout:
    "whose line traffic is charged: 'kernel' (default: the kernel's struct layout, the harness's bookkeeping " +
    "free) or 'model' (every access to the buffer as the model lays it out: what real threads pay)",
  spinnersPoll:
    'a waiter spinning on a lock word keeps re-reading its line: every write to that line while it spins ' +
    'moves the line away from the writer and back (default false: waiters cost the holder nothing)',
  notifyNs:
    "the releaser's cost of a lock release that must wake: after a contended acquisition, or with a waiter " +
    'parked (Atomics.notify, futex wake; default 0: a kernel spinlock release is a store)',
  busyStepFactor:
    'measured step costs (modelSiteNs) are this much higher while another vCPU runs at the same time: ' +
    'cores that share a package, the runtime threads an idle core would have run (default 1)',
  flushCostNs: "default IOTLB flush cost, the fq suite's --flush-cost when not given",
  serialFlush: 'default flush serialisation (true: one global flush lock, s390 shadow tables)',
  hypercallNs: "default driver map/unmap call cost, the mapsg suite's --hypercall-cost when not given",
  transferNs: 'default transfer between map and unmap (fq: --transfer)',
} as const;

export const profileSchema = z
  .object({
    name: z.string().min(1),
    comment: z.string().min(1),
    stepNs: ns,
    loadNs: ns,
    storeNs: ns,
    rmwNs: ns,
    casNs: ns,
    lineTransferNs: ns,
    lineMoveNs: ns.optional(),
    firstTouchNs: ns.optional(),
    lockHandoffNs: ns,
    spinWindowNs: ns,
    wakeupNs: ns,
    siteNs: z.record(z.string().min(1), ns),
    modelSiteNs: z.record(z.string().min(1), ns).default({}),
    layout: z.enum(['kernel', 'model']).default('kernel'),
    spinnersPoll: z.boolean().default(false),
    notifyNs: ns.default(0),
    busyStepFactor: z.number().finite().min(1).max(10).default(1),
    flushCostNs: ns,
    serialFlush: z.boolean(),
    hypercallNs: ns,
    transferNs: ns,
  })
  .strict();

export type CostProfile = z.infer<typeof profileSchema>;

/** The key a site label has in modelSiteNs: digit runs as '#' (cpu_rcache[3]@cpu17.lock: one cost for all). */
export const modelSiteKey = (site: string): string => site.replace(/\d+/g, '#');

/**
 * The key of a site's cost measured in one variant's own workload ('single: rbtree alloc_iova'): a step's
 * cost depends on the state its design keeps (the single queue's 32,767 queued IOVAs make a deep rbtree
 * and a ring larger than the caches), so the simulator looks this key up first, then the site's mean.
 */
export const variantSiteKey = (variant: string, site: string): string => `${variant}: ${modelSiteKey(site)}`;

export interface LoadedProfile {
  readonly profile: CostProfile;
  /** sha256 of the profile's canonical JSON, 16 hex digits: in every report beside the name. */
  readonly hash: string;
  /** Where it came from: `builtin:NAME` or the file's path. */
  readonly source: string;
}

export const profilesDir = path.join(projectRoot, 'profiles');

/** The built-in profile names (profiles/*.json). */
export function builtinProfiles(): string[] {
  if (!existsSync(profilesDir)) return [];
  return readdirSync(profilesDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Check a parsed JSON value against the schema; bad input names the first bad field. */
export function checkProfile(value: unknown, where: string): CostProfile {
  const r = profileSchema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  const meaning = FIELDS[issue.path[0] as keyof typeof FIELDS];
  throw new BadInput(
    `--profile ${where}: field '${field}': ${issue.message}${meaning ? ` (${field}: ${meaning})` : ''}`,
  );
}

/** Fields added with defaults after profiles were published: hashed only when set, so old hashes hold. */
const LATER_DEFAULTS: Partial<Record<keyof CostProfile, unknown>> = {
  layout: 'kernel',
  spinnersPoll: false,
  notifyNs: 0,
  busyStepFactor: 1,
};

export function profileHash(p: CostProfile): string {
  const q: Record<string, unknown> = { ...p };
  for (const [k, v] of Object.entries(LATER_DEFAULTS)) if (q[k] === v) delete q[k];
  return createHash('sha256').update(canonical(q)).digest('hex').slice(0, 16);
}

/** `--profile NAME|FILE`: a built-in name, else a path to a JSON profile. */
export function loadProfile(spec: string): LoadedProfile {
  const builtin = builtinProfiles().includes(spec);
  const file = builtin ? path.join(profilesDir, `${spec}.json`) : spec;
  if (!builtin && !existsSync(file)) {
    throw new BadInput(
      `--profile: '${spec}' is neither a built-in profile (${builtinProfiles().join(', ')}) nor a file`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BadInput(`--profile ${spec}: not a JSON file (${(e as Error).message})`);
  }
  const profile = checkProfile(value, spec);
  return { profile, hash: profileHash(profile), source: builtin ? `builtin:${spec}` : file };
}

/** JSON with sorted keys, so the hash does not depend on the file's key order or layout. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
