#!/usr/bin/env node
/**
 * The simulator against real threads (issue 16 item 4; src/bench/cross-check.ts): the ratios between designs
 * — per-CPU/single and lazy/strict flush queues at each flush cost, the list/fixed IOVA depot — at 1 and 2
 * CPUs, from the real-thread bench (medians of --repeats runs) and from the simulated-time executor under
 * the this-machine profile, with a ±25% verdict per cell. Needs `npx tsc -b` first (it runs dist/).
 * Usage: node scripts/cross-check.mjs [--time 2s] [--repeats 3] [--sim-ops 40000] [--flush-cost 0,10000,100000]
 *        [--flush parallel|serial] [--profile NAME|FILE] [--seed 1] [--sim-only] [--json]
 *        [--save-real FILE | --real FILE | --real-table FILE]
 */
import path from 'node:path';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';

const USAGE = `usage: node scripts/cross-check.mjs [options]
  --time D          real-thread time per measurement (default 2s; ms or s: a 1 s run is start-up heavy)
  --repeats N       real-thread runs per combination, the median is compared (default 3)
  --sim-ops N       simulated ops per vCPU (default 40000, more than the single queue's 32,768-entry
                    ring, so the simulated run reaches the ring-full flush the real one does)
  --flush-cost L    flush costs in ns (default 0,10000,100000)
  --flush M         parallel (default) or serial
  --profile P       cost profile of the simulated side (default this-machine)
  --seed N          seed (default 1)
  --sim-only        the simulated side only (no real threads: a quick look at the simulated ratios)
  --save-real F     also write the real side's medians and spreads to F (JSON)
  --real F          take the real side from F (written by --save-real) instead of running threads:
                    compare a changed profile or simulator against the same real measurements
  --real-table F    take the real side from a table this script printed (reports/reference/
                    cross-check-*/table.txt): its ratio medians and spreads, and the pair times at the
                    first flush cost — the same cells, from a run kept only as text
  --json            the cells as JSON on stdout`;

const args = process.argv.slice(2);
const flags = {};
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--help' || a === '-h') {
    console.log(USAGE);
    process.exit(0);
  }
  if (a === '--sim-only' || a === '--json') flags[a.slice(2)] = true;
  else if (
    [
      '--time',
      '--repeats',
      '--sim-ops',
      '--flush-cost',
      '--flush',
      '--profile',
      '--seed',
      '--save-real',
      '--real',
      '--real-table',
    ].includes(a)
  ) {
    if (args[i + 1] === undefined) bad(`${a} needs a value`);
    flags[a.slice(2)] = args[++i];
  } else bad(`unknown argument '${a}'`);
}

function bad(msg) {
  console.error(`cross-check: ${msg}\n${USAGE}`);
  process.exit(2);
}
function int(name, v, lo, hi) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) bad(`--${name}: '${v}' is not an integer in ${lo}..${hi}`);
  return n;
}
function duration(v) {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(v);
  if (!m) bad(`--time: '${v}' is not a duration like 500ms or 2s`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

const flush = flags.flush ?? 'parallel';
if (flush !== 'parallel' && flush !== 'serial') bad(`--flush: '${flush}' is not serial or parallel`);
// The modules load after the flags are checked: --help and bad input answer at once.
const dist = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'src');
const { crossCheckCells, crossCheckText, realSide, simSide } = await import(path.join(dist, 'bench', 'cross-check.js'));
const { loadProfile } = await import(path.join(dist, 'sim', 'profile.js'));

let profile;
try {
  profile = loadProfile(flags.profile ?? 'this-machine');
} catch (e) {
  bad(e.message);
}
const o = {
  flushCostsNs: (flags['flush-cost'] ?? '0,10000,100000').split(',').map((c) => int('flush-cost', c, 0, 1e7)),
  serial: flush === 'serial',
  timeMs: duration(flags.time ?? '2s'),
  repeats: int('repeats', flags.repeats ?? '3', 1, 100),
  simOps: int('sim-ops', flags['sim-ops'] ?? '40000', 10, 1e7),
  seed: int('seed', flags.seed ?? '1', 0, 2 ** 31 - 1),
  profile,
};
const progress = (s) => process.stderr.write(`${s}\n`);
let realNote;
const load0 = loadavg()[0];
// A real side from a file is read (and refused, exit 2) before any work.
const given = flags['sim-only']
  ? undefined
  : flags.real
    ? readReal(flags.real)
    : flags['real-table']
      ? readTable(flags['real-table'])
      : undefined;
const sim = simSide(o, progress);
const real = flags['sim-only'] ? { fq: sim.fq, iova: sim.iova } : (given ?? (await realSide(o, progress)));
if (flags['save-real'] && given === undefined && !flags['sim-only']) {
  const obj = (m) => Object.fromEntries(m);
  const saved = { ...o, profile: undefined };
  writeFileSync(
    flags['save-real'],
    JSON.stringify(
      {
        options: saved,
        loadAverage: [load0, loadavg()[0]],
        fq: obj(real.fq),
        iova: obj(real.iova),
        spread: obj(real.spread),
      },
      null,
      1,
    ),
  );
}

function readReal(file) {
  let j;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    bad(`--real ${file}: ${e.message}`);
  }
  if (!j.fq || !j.iova || !j.options) bad(`--real ${file}: not a file written by --save-real`);
  const want = JSON.stringify(o.flushCostsNs);
  if (JSON.stringify(j.options.flushCostsNs) !== want || j.options.serial !== o.serial)
    bad(`--real ${file}: measured with other flush costs or flush mode than asked for`);
  const load = (j.loadAverage ?? j.options.loadAverage ?? []).map((x) => x.toFixed(1)).join(' to ');
  realNote = `real side from ${file} (median of ${j.options.repeats} x ${j.options.timeMs} ms, load average ${load})`;
  return {
    fq: new Map(Object.entries(j.fq)),
    iova: new Map(Object.entries(j.iova)),
    spread: new Map(Object.entries(j.spread)),
  };
}
/**
 * A printed table back into a real side: per CPU count, strict's rate at the first flush cost from its pair
 * time, at the other costs 1 (only ratios are compared there); per-CPU and single from the lazy/strict
 * ratios; the fixed depot 1 and the list depot its ratio. crossCheckCells then gives the table's own cells.
 */
function readTable(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    bad(`--real-table ${file}: ${e.message}`);
  }
  const cell = new Map();
  const spread = new Map();
  const re =
    /^(percpu\/single|lazy percpu\/strict|lazy single\/strict|list\/fixed depot|µs per \w+ pair)\s+(\d+)\s+(\d+ ns|\w+)\s+([\d.]+) \[([\d.]+)–([\d.]+)\]/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    cell.set(`${m[1]}@${m[2]}@${m[3]}`, Number(m[4]));
    spread.set(`${m[1]}@${m[2]}@${m[3]}`, { min: Number(m[5]), max: Number(m[6]) });
  }
  const get = (k) => {
    if (!cell.has(k)) bad(`--real-table ${file}: no cell '${k}' (other flush costs than --flush-cost?)`);
    return cell.get(k);
  };
  const fq = new Map();
  const iova = new Map();
  for (const c of [1, 2]) {
    o.flushCostsNs.forEach((cost, i) => {
      const s = i === 0 ? (c * 1e6) / get(`µs per strict pair@${c}@${cost} ns`) : 1;
      fq.set(`strict/${c}/${cost}`, s);
      fq.set(`percpu/${c}/${cost}`, s * get(`lazy percpu/strict@${c}@${cost} ns`));
      fq.set(`single/${c}/${cost}`, s * get(`lazy single/strict@${c}@${cost} ns`));
    });
    for (const shape of ['local', 'handoff']) {
      iova.set(`fixed-depot/${shape}/${c}`, 1);
      iova.set(`correct/${shape}/${c}`, get(`list/fixed depot@${c}@${shape}`));
    }
  }
  const head = text.split('\n').slice(0, 2).join(' / ');
  realNote = `real side from the table ${file} (${head.replace(/^cross-check: /, '')})`;
  return { fq, iova, spread };
}
const cells = crossCheckCells(real, sim, o.flushCostsNs);
const header = [
  `cross-check: real threads (median of ${o.repeats} x ${o.timeMs} ms) vs simulated (${o.simOps} ops/vCPU, ` +
    `profile ${profile.profile.name} ${profile.hash}), flush ${flush}`,
  `machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.version}; ` +
    `load average ${load0.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end`,
  ...(flags['sim-only'] ? ['--sim-only: simulated ratios alone (no real threads ran, nothing compared)'] : []),
  ...(realNote ? [realNote] : []),
];
if (flags.json)
  console.log(
    JSON.stringify(
      {
        header,
        cells: flags['sim-only'] ? cells.map(({ ratio, cpus, at, sim }) => ({ ratio, cpus, at, sim })) : cells,
      },
      null,
      2,
    ),
  );
else console.log(crossCheckText(cells, header, flags['sim-only'] === true));
