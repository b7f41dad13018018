/**
 * The simulated-time executor (issue 16, DESIGN.md "Time"): the explore machinery — every vCPU and timer
 * in this thread, the unchanged model code stepping from one scheduling point to the next — with a timing
 * model instead of a search. Every task has its own clock. The next step is always taken by the runnable
 * task with the earliest clock (ties: a seeded permutation, sim/heap.ts), and the step then costs time by
 * the cost profile (sim/profile.ts):
 *  - the model's own work: stepNs, plus siteNs for sites that work on plain memory (rbtree walks); or, in a
 *    profile measured by bench --calibrate, the step's measured cost by its site (modelSiteNs), which
 *    includes its accesses' hit costs, and the measured cost of starting an op ('start of op');
 *  - every Atomics access to the shared buffer, by kind, with a line transfer when the 64-byte line is not
 *    in this CPU's cache (sim/access.ts records them, sim/coherence.ts keeps owner and sharers per line);
 *  - explicit costs the model spends (spend(): IOTLB flush, hypercall, transfer): spend() adds to the
 *    calling task's own VirtualClock, which here is per task — so a flush under a global flush lock
 *    serialises (the waiters resume after the release), and parallel flushes overlap;
 *  - lock hand-off: a task blocked on a word resumes at the releasing step's end plus lockHandoffNs, or
 *    wakeupNs when it waited longer than spinWindowNs (it would have parked).
 * Timers fire at their simulated deadlines as tasks with their own clock; the time a callback runs is
 * then taken from the CPU it runs on (a softirq interrupts that CPU). A run is a pure function of (model,
 * op seed, ops per vCPU, profile, tie seed): no wall clock is read, so it repeats bit for bit.
 *
 * Differences to the explore executor (explore/execution.ts), which this does not change: no decisions
 * are recorded (the schedule follows from the clocks), no 255-task limit, a FORBIDDEN outcome or a model
 * exception is a harness error (a benchmark of a broken variant means nothing), and `endless` vCPUs (the
 * IRQ CPUs of a shape that frees on other CPUs) run until every other vCPU has finished its ops.
 */
import { Checker } from '../check/checker.js';
import { Cpu, type Op, type Site } from '../engine/cpu.js';
import { VirtualClock } from '../engine/clock.js';
import { allocateMemory, zeroMemory, type Layout, type Memory, type Region } from '../engine/layout.js';
import { mix32, opRng } from '../engine/rng.js';
import type { ScenarioDef, ScenarioModel, VcpuProgram } from '../engine/scenario.js';
import { taskOf } from '../engine/task.js';
import { claimDueTimer } from '../engine/timer.js';
import { HarnessError } from '../errors.js';
import { AccessLog, instrumentAtomics, LOAD, raw } from './access.js';
import { Coherence } from './coherence.js';
import { ClockHeap } from './heap.js';
import { modelSiteKey, variantSiteKey, type CostProfile } from './profile.js';

export const SIM_MAX_CPUS = 256;

export interface SimSpec {
  readonly scenario: ScenarioDef;
  readonly model: ScenarioModel;
  readonly opSeed: number;
  /** Ops each vCPU runs; its length is the number of vCPUs. */
  readonly opsPerCpu: readonly number[];
  /** vCPUs that keep drawing ops until every other vCPU is done (their ops are not counted). */
  readonly endless?: readonly boolean[];
  readonly profile: CostProfile;
  /** The variant's name: its own measured step costs ('VARIANT: site' in modelSiteNs) come first. */
  readonly variant?: string;
  /** Seed of the tie-break permutation (default: the op seed). */
  readonly tieSeed?: number;
  /** A safety bound: more steps than this is a harness error (a livelock in the model). */
  readonly maxSteps?: number;
  /** Count the steps taken at each site (SimResult.siteSteps): where the work went. */
  readonly countSites?: boolean;
  /**
   * Layout regions whose accesses cost nothing: the harness's bookkeeping (statistics, oracles), which
   * the kernel does not have. A name ending in '*' is a prefix.
   */
  readonly untimed?: readonly string[];
  /**
   * Regions that the model keeps as parallel arrays where the kernel has one array of structs (the flush
   * queue's pfn[], pages[], counter[] vs struct iova_fq_entry): element k of each is charged to the line
   * that entry k of a `structBytes`-byte struct array would sit in, so the simulated line traffic is the
   * kernel's, not the model's layout's.
   */
  readonly structs?: readonly { readonly regions: readonly string[]; readonly structBytes: number }[];
}

export interface LockWait {
  /** The site the waiters blocked at ('lock iova_rbtree_lock', ...). */
  readonly site: Site;
  readonly waits: number;
  /** Simulated ns spent blocked there, all tasks together. */
  readonly waitNs: number;
}

export interface SimResult {
  readonly steps: number;
  /** Ops run by the counted (not endless) vCPUs. */
  readonly ops: number;
  /** Simulated ns from the start until the last counted vCPU finished its ops. */
  readonly makespanNs: number;
  /**
   * When half of the counted ops had completed: (ops / 2) / (makespanNs - halfNs) is the rate of the
   * second half of the run, past a cold start (empty caches) that the first half pays.
   */
  readonly halfNs: number;
  /**
   * When the first counted vCPU finished, and the ops done by then: windowOps / windowNs is the rate
   * while every vCPU still runs — dma_map_benchmark's measure (all threads run the same time), which a
   * straggler at the end (a CPU the timer interrupts) cannot drag down.
   */
  readonly windowNs: number;
  readonly windowOps: number;
  /** Each task's clock at its end (vCPUs, then timers). */
  readonly clocks: readonly number[];
  readonly lineTransfers: number;
  readonly lineWaitNs: number;
  /** Blocked time by site, most first. */
  readonly lockWaits: readonly LockWait[];
  readonly timerFires: number;
  /** The model's own statistics on the final state (ScenarioModel.stats). */
  readonly stats: Record<string, number | readonly number[]> | undefined;
  /** Outcomes the checker saw (INTERESTING/ACCEPTABLE ones included). */
  readonly outcomes: ReadonlyMap<string, number>;
  /** Steps per site, with countSites. */
  readonly siteSteps?: ReadonlyMap<Site, number>;
}

const DEFAULT_MAX_STEPS = 2_000_000_000;

export function runSim(spec: SimSpec): SimResult {
  const { model, profile: prof } = spec;
  const n = spec.opsPerCpu.length;
  if (n < 1 || n > SIM_MAX_CPUS) throw new RangeError(`sim: 1 to ${SIM_MAX_CPUS} vCPUs (got ${n})`);
  const timers = model.timers ?? [];
  const tasks = n + timers.length;
  const mem: Memory = allocateMemory(model.layout);
  zeroMemory(mem);
  model.init(mem);
  const checker = new Checker(spec.scenario.invariants);
  const maxSteps = spec.maxSteps ?? DEFAULT_MAX_STEPS;

  const clock = new Float64Array(tasks);
  const rank = seededPermutation(tasks, spec.tieSeed ?? spec.opSeed);
  const heap = new ClockHeap(tasks, clock, rank);
  const cpus: Cpu[] = [];
  const progs: VcpuProgram[] = [];
  const clocks: VirtualClock[] = [];
  const ops: (Op<unknown> | undefined)[] = Array(tasks).fill(undefined);
  const started = new Float64Array(n);
  const finished: boolean[] = Array(tasks).fill(false);
  const endless = spec.endless ?? [];
  const site: Site[] = Array(tasks).fill('start');
  const siteSteps = spec.countSites ? new Map<Site, number>() : undefined;
  const stolen = new Float64Array(tasks);
  const fireTime = new Float64Array(tasks);
  const blockedAt = new Float64Array(tasks);
  const waiters = new Map<number, number[]>();
  let blockedCount = 0;
  const lockWaits = new Map<Site, { waits: number; waitNs: number }>();
  let counted = 0;
  for (let c = 0; c < n; c++) if (!endless[c] && spec.opsPerCpu[c]! > 0) counted++;
  let makespan = 0;
  let countedOps = 0;
  for (let c = 0; c < n; c++) if (!endless[c]) countedOps += spec.opsPerCpu[c]!;
  let done = 0;
  let halfNs = 0;
  let windowNs = 0;
  let windowOps = 0;
  let steps = 0;
  let timerFires = 0;
  let lastT = 0;
  // vCPUs not finished: measured step costs rise by busyStepFactor while more than one runs.
  let live = 0;
  for (let c = 0; c < n; c++) if (endless[c] || spec.opsPerCpu[c]! > 0) live++;
  const busy = (): number => (live > 1 ? prof.busyStepFactor : 1);
  // spinnersPoll: the tasks spinning on a word of each line (they re-read the line whenever it is written).
  const spinners = new Map<number, number[]>();
  // notifyNs: the lock word each task was handed after waiting (it took it marked 'waiters': its release wakes).
  const wokeFor = new Int32Array(tasks).fill(-1);

  for (let t = 0; t < tasks; t++) {
    const vc = new VirtualClock();
    clocks.push(vc);
    const cpu = new Cpu(t, 'explore', mem, checker, -1, vc);
    if (t >= n) {
      cpu.thisCpu = Math.min(timers[t - n]!.runsOn ?? 0, n - 1);
      cpu.name = `timer:${timers[t - n]!.ref.name}`;
    }
    cpus.push(cpu);
    if (t < n) progs.push(model.program(cpu, opRng(spec.opSeed, t)));
  }
  const state = cpus.map(taskOf);
  // A profile that prices the model's own JavaScript (layout 'model') charges the line traffic the real
  // threads have: the model's layout, the harness's bookkeeping included. Else the kernel's (untimed, structs).
  const kernelLayout = prof.layout !== 'model';
  const lineMap = mapLines(
    model.layout,
    kernelLayout ? (spec.untimed ?? []) : [],
    kernelLayout ? (spec.structs ?? []) : [],
  );
  const coh = new Coherence(lineMap.lines, n, prof);
  const skipLine = lineMap.skip;
  const remaps = lineMap.remaps;
  const log = new AccessLog();
  const siteCost = new Map<Site, number>();
  // A measured profile (bench --calibrate) prices a whole step by its site: the model's own JavaScript and
  // its uncontended accesses together (modelSiteNs); -1: not measured, stepNs + siteNs + hit costs.
  const measured = new Map<Site, number>();
  const measuredCost = (s: Site): number => {
    let v = measured.get(s);
    if (v === undefined) {
      v =
        (spec.variant ? prof.modelSiteNs[variantSiteKey(spec.variant, s)] : undefined) ??
        prof.modelSiteNs[modelSiteKey(s)] ??
        -1;
      measured.set(s, v);
    }
    return v;
  };
  const hitNs = [prof.loadNs, prof.storeNs, prof.rmwNs, prof.casNs];
  // What starting an op costs (the program drawing it, its code up to the first yield): measured only.
  const startNs = Math.max(0, measuredCost('start of op'));
  const costOf = (s: Site): number => {
    let v = siteCost.get(s);
    if (v === undefined) {
      v = 0;
      for (const [k, ns] of Object.entries(prof.siteNs)) if (s.includes(k)) v += ns;
      siteCost.set(s, v);
    }
    return v;
  };

  // Start vCPU c's next op and run it to its first site (local code only: no access, no cost but a step's).
  const advance = (c: number): void => {
    if (ops[c] !== undefined && !endless[c] && ++done * 2 >= countedOps && halfNs === 0) halfNs = clock[c]!;
    for (;;) {
      if (!endless[c] && started[c]! >= spec.opsPerCpu[c]!) {
        finished[c] = true;
        live--;
        ops[c] = undefined;
        makespan = Math.max(makespan, clock[c]!);
        if (windowNs === 0 && !endless[c] && spec.opsPerCpu[c]! > 0) {
          windowNs = clock[c]!;
          windowOps = done;
        }
        counted--;
        return;
      }
      site[c] = 'start of op';
      const op = progs[c]!.next();
      started[c]!++;
      clock[c]! += startNs * busy();
      ops[c] = op;
      const r = op.next();
      if (!r.done) {
        site[c] = r.value;
        return;
      }
    }
  };
  // Where a word's line sits in the coherence table (lock words are never remapped), or -1 if untimed.
  const lineOfWord = (word: number): number => (skipLine[word >> 4] === 1 ? -1 : word >> 4);
  const wake = (w: number, t: number, word: number): void => {
    const waited = t - blockedAt[w]!;
    if (prof.spinnersPoll) {
      const ss = spinners.get(lineOfWord(word));
      const k = ss ? ss.indexOf(w) : -1;
      if (k >= 0) ss!.splice(k, 1);
    }
    clock[w] = Math.max(clock[w]!, t) + (waited <= prof.spinWindowNs ? prof.lockHandoffNs : prof.wakeupNs);
    const s = site[w]!;
    if (s.startsWith('lock ')) wokeFor[w] = word;
    const lw = lockWaits.get(s) ?? { waits: 0, waitNs: 0 };
    lw.waits++;
    lw.waitNs += clock[w]! - blockedAt[w]!;
    lockWaits.set(s, lw);
    state[w]!.blockedOn = -1;
    blockedCount--;
    heap.push(w);
  };
  // Wake the waiters of a word that reads 0; true when one had parked (the release had to wake it).
  const wakeWord = (word: number, t: number): boolean => {
    const ws = waiters.get(word);
    if (!ws || raw.load(mem.i32, word) !== 0) return false;
    const parked = (w: number) => t - blockedAt[w]! > prof.spinWindowNs;
    // A kernel spinlock is a queued (MCS) lock: a release hands it to the first waiter only. Any other
    // word (a wait_event, del_timer_sync) wakes every waiter.
    if (site[ws[0]!]!.startsWith('lock ')) {
      const w = ws.shift()!;
      const p = parked(w);
      wake(w, t, word);
      if (ws.length === 0) waiters.delete(word);
      return p;
    }
    waiters.delete(word);
    let p = false;
    for (const w of ws) {
      p ||= parked(w);
      wake(w, t, word);
    }
    return p;
  };
  const timerDone = (t: number): void => {
    ops[t] = undefined;
    raw.store(mem.i32, timers[t - n]!.ref.runningIndex, 0);
    stolen[cpus[t]!.thisCpu]! += clock[t]! - fireTime[t]!;
    wakeWord(timers[t - n]!.ref.runningIndex, clock[t]!);
  };
  // After task c's step that ended at time t: back in the queue, blocked, or done.
  const park = (c: number): void => {
    if (ops[c] === undefined) return; // a finished vCPU or an idle timer
    const b = state[c]!.blockedOn;
    if (b >= 0 && raw.load(mem.i32, b) !== 0) {
      blockedAt[c] = clock[c]!;
      const ws = waiters.get(b);
      if (ws) ws.push(c);
      else waiters.set(b, [c]);
      blockedCount++;
      if (prof.spinnersPoll) {
        const line = lineOfWord(b);
        const ss = spinners.get(line);
        if (ss) ss.push(c);
        else if (line >= 0) spinners.set(line, [c]);
      }
    } else heap.push(c);
  };

  const restore = instrumentAtomics(mem.sab, log);
  let running = -1;
  try {
    for (let c = 0; c < n; c++) {
      if (spec.opsPerCpu[c]! <= 0 && !endless[c]) {
        finished[c] = true;
        continue;
      }
      log.on = true;
      running = c;
      advance(c);
      log.on = false;
      if (!finished[c]) heap.push(c);
    }
    const i64 = mem.i64;
    while (counted > 0) {
      if (checker.failed) break;
      // The earliest idle timer whose deadline has come before the next step: it fires first.
      const top = heap.peek();
      const topT = top >= 0 ? clock[top]! : Infinity;
      let due = -1;
      let dueT = Infinity;
      for (let t = n; t < tasks; t++) {
        if (ops[t]) continue;
        const d = raw.load(i64, timers[t - n]!.ref.deadlineIndex);
        if (d !== 0n && Number(d) < dueT) {
          dueT = Number(d);
          due = t;
        }
      }
      if (due >= 0 && (dueT <= topT || top < 0)) {
        const timer = timers[due - n]!;
        claimDueTimer(mem.i32, i64, timer.ref, Infinity);
        timerFires++;
        clock[due] = Math.max(dueT, lastT);
        fireTime[due] = clock[due]!;
        clocks[due]!.ns = clock[due]!;
        site[due] = `timer ${timer.ref.name} fires`;
        running = due;
        log.on = true;
        const op = timer.callback(cpus[due]!);
        const r = op.next();
        log.on = false;
        clock[due] = clocks[due]!.ns + prof.stepNs;
        if (r.done) timerDone(due);
        else {
          ops[due] = op;
          site[due] = r.value;
          heap.push(due);
        }
        continue;
      }
      if (top < 0) {
        if (blockedCount > 0 && rescan()) continue;
        throw new HarnessError(`sim: no task can run (deadlock): ${blockedSummary()}`);
      }
      const c = heap.pop();
      if (stolen[c]! > 0) {
        // A timer callback ran on this CPU meanwhile: its time is this CPU's.
        clock[c]! += stolen[c]!;
        stolen[c] = 0;
        heap.push(c);
        continue;
      }
      if (++steps > maxSteps) throw new HarnessError(`sim: more than ${maxSteps} steps`);
      const cpu = cpus[c]!;
      const vc = clocks[c]!;
      vc.ns = clock[c]!;
      cpu.step = steps;
      const s = site[c]!;
      cpu.site = s;
      if (siteSteps) siteSteps.set(s, (siteSteps.get(s) ?? 0) + 1);
      log.n = 0;
      log.on = true;
      running = c;
      const r = ops[c]!.next();
      log.on = false;
      // The step's shared accesses come first (it resumes at the site, which is the access), then its
      // local work (stepNs, siteNs) and what it spent (spend() added that to vc.ns). Charging the
      // accesses after a spend would make their lines look busy until the spend is over.
      const spent = vc.ns - clock[c]!;
      let t = clock[c]!;
      const cache = cpu.thisCpu;
      const ln = log.line;
      const kd = log.kind;
      let hits = 0;
      for (let k = 0; k < log.n; k++) {
        let line = ln[k]!;
        if (skipLine[line] === 1) continue;
        if (skipLine[line] === 2) line = remap(remaps, log.word[k]!, line);
        t = coh.charge(cache, t, line, kd[k] as 0 | 1 | 2 | 3);
        hits += hitNs[kd[k]!]!;
        if (spinners.size > 0 && kd[k] !== LOAD) {
          // Waiters still spinning on a word of this line re-read it at once: it is shared (and in flight)
          // again, so the writer's next write to it moves it back. Not after a write to the word they wait
          // on: a release's is the hand-off itself, priced by lockHandoffNs.
          const ss = spinners.get(line);
          if (ss) {
            for (const w of ss) {
              const spinning = w !== c && t - blockedAt[w]! <= prof.spinWindowNs;
              if (spinning && log.word[k] !== state[w]!.blockedOn) coh.poll(cpus[w]!.thisCpu, t, line);
            }
          }
        }
      }
      // A measured step already contains its accesses' hit costs: only transfers and queueing are added.
      const m = measuredCost(s);
      t += (m >= 0 ? m * busy() - hits : prof.stepNs + costOf(s)) + spent;
      // The release wakes (notifyNs, after the release itself: a spinning waiter sees the word at once):
      // releasing a lock it was handed after waiting (the model lock's word still says 'waiters'), or a
      // release that finds a waiter parked.
      let notify = 0;
      if (wokeFor[c]! >= 0) {
        const wf = wokeFor[c]!;
        for (let k = 0; k < log.n; k++) {
          if (kd[k] !== LOAD && log.word[k] === wf && raw.load(mem.i32, wf) === 0) {
            notify = prof.notifyNs;
            wokeFor[c] = -1;
            break;
          }
        }
      }
      vc.ns = t;
      clock[c] = t;
      lastT = t;
      if (!r.done) site[c] = r.value;
      else if (c < n) {
        log.on = true;
        advance(c);
        log.on = false;
      } else timerDone(c);
      if (blockedCount > 0) {
        let parked = false;
        for (let k = 0; k < log.n; k++) if (kd[k] !== LOAD) parked = wakeWord(log.word[k]!, t) || parked;
        if (parked) notify = prof.notifyNs;
      }
      if (notify > 0) clock[c]! += notify;
      running = -1;
      park(c);
    }
  } catch (e) {
    if (e instanceof HarnessError || running < 0) throw e;
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new HarnessError(`sim: ${cpus[running]!.name} threw ${what} at '${site[running]}'`);
  } finally {
    restore();
  }
  const v = checker.violations[0];
  if (v) throw new HarnessError(`sim: ${v.invariant} on vCPU ${v.vcpu} at step ${v.step}: ${v.message}`);

  // A word released by a plain store (not seen by the access log): wake its waiters now.
  function rescan(): boolean {
    let woke = false;
    for (const word of [...waiters.keys()]) {
      if (raw.load(mem.i32, word) === 0) {
        wakeWord(word, lastT);
        woke = true;
      }
    }
    return woke;
  }
  function blockedSummary(): string {
    return [...waiters.entries()]
      .map(([w, ts]) => `${ts.map((t) => cpus[t]!.name).join(',')} at '${site[ts[0]!]}' (word ${w})`)
      .join('; ');
  }

  let ops_ = 0;
  for (let c = 0; c < n; c++) if (!endless[c]) ops_ += started[c]!;
  return {
    steps,
    ops: ops_,
    makespanNs: makespan,
    halfNs,
    windowNs,
    windowOps,
    clocks: Array.from(clock),
    lineTransfers: coh.transfers,
    lineWaitNs: coh.lineWaitNs,
    lockWaits: [...lockWaits.entries()]
      .map(([s, w]) => ({ site: s, ...w }))
      .sort((a, b) => b.waitNs - a.waitNs || (a.site < b.site ? -1 : 1)),
    timerFires,
    stats: model.stats?.(mem),
    outcomes: checker.outcomes,
    ...(siteSteps ? { siteSteps } : {}),
  };
}

interface Remap {
  /** i32 word range of the region. */
  readonly lo: number;
  readonly hi: number;
  readonly elemWords: number;
  readonly structBytes: number;
  /** First virtual line of the struct array. */
  readonly base: number;
}

/**
 * Per line of the buffer: 0 charged as is, 1 untimed, 2 remapped (remap()); and the number of lines the
 * coherence table needs (the buffer's, then the virtual struct arrays').
 */
function mapLines(
  layout: Layout,
  untimed: readonly string[],
  structs: readonly { readonly regions: readonly string[]; readonly structBytes: number }[],
): { skip: Uint8Array; remaps: Remap[]; lines: number } {
  const real = Math.ceil(layout.bytes / 64);
  const skip = new Uint8Array(real);
  const match = (name: string, pat: string) => (pat.endsWith('*') ? name.startsWith(pat.slice(0, -1)) : name === pat);
  const mark = (r: Region, v: number) => skip.fill(v, r.byteOffset >> 6, (r.byteOffset + r.byteLength) >> 6);
  for (const r of Object.values(layout.regions)) if (untimed.some((p) => match(r.name, p))) mark(r, 1);
  const remaps: Remap[] = [];
  let lines = real;
  for (const g of structs) {
    const rs = g.regions.map((n) => layout.regions[n]).filter((r): r is Region => r !== undefined);
    if (rs.length === 0) continue;
    const count = Math.max(...rs.map((r) => r.count));
    for (const r of rs) {
      mark(r, 2);
      const eb = r.kind === 'i32' ? 4 : 8;
      remaps.push({
        lo: r.byteOffset >> 2,
        hi: (r.byteOffset + r.count * eb) >> 2,
        elemWords: eb >> 2,
        structBytes: g.structBytes,
        base: lines,
      });
    }
    lines += Math.ceil((count * g.structBytes) / 64);
  }
  return { skip, remaps, lines };
}

function remap(remaps: readonly Remap[], word: number, line: number): number {
  for (const m of remaps) {
    if (word >= m.lo && word < m.hi)
      return m.base + Math.floor(((((word - m.lo) / m.elemWords) | 0) * m.structBytes) / 64);
  }
  return line;
}

/** A permutation of 0..n-1 from `seed` (Fisher–Yates over a mix32 stream): the tie-break ranks. */
function seededPermutation(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  let h = mix32(seed, 0x71e);
  for (let i = n - 1; i > 0; i--) {
    h = mix32(h, i);
    const j = (h >>> 0) % (i + 1);
    const x = p[i]!;
    p[i] = p[j]!;
    p[j] = x;
  }
  return p;
}
