/**
 * Cache-line ownership for the simulated-time executor: per 64-byte line of the scenario's buffer, who
 * holds it exclusively (a writer) or which CPUs share it (readers), MESI-like with just those two states.
 * An access to a line this CPU holds costs the profile's hit cost for its kind; any other moves the line
 * (lineTransferNs). A store, read-modify-write or compare-and-swap needs the line exclusively: it
 * invalidates the sharers and, because one line can be owned by one CPU at a time, exclusive transfers of
 * the same line queue behind each other (busyUntil) — a contended lock word or counter serialises its
 * users, as a bouncing line does on real hardware. Loads that miss wait for a transfer in flight but do
 * not queue among themselves. A move that found the line idle at its holder costs lineMoveNs (one
 * cache-to-cache latency); one that first waited for another transfer of the line costs lineTransferNs —
 * on a line two CPUs fight over, each move also pays the other's request in flight (this-machine measures
 * the two apart: a ping-pong's half round trip, and the extra time of two threads exchanging one word).
 *
 * Caches are per CPU: a timer task charges the cache of the CPU it runs on. Capacity misses are not
 * modelled (every line stays cached until another CPU takes it), nor memory latency beyond the first
 * touch of a line (firstTouchNs: lineTransferNs unless the profile says otherwise).
 */
import { CAS, LOAD, RMW, STORE, type AccessKind } from './access.js';
import type { CostProfile } from './profile.js';

export class Coherence {
  /** Exclusive holder, or -1 (shared by the sharers, or untouched). */
  private readonly owner: Int16Array;
  private readonly sharers: Uint32Array;
  private readonly words: number;
  private readonly busyUntil: Float64Array;
  private readonly hit: Float64Array;
  private readonly transferNs: number;
  private readonly moveNs: number;
  private readonly firstTouchNs: number;
  /** 0 until some CPU first touches the line (it comes from memory: firstTouchNs). */
  private readonly touched: Uint8Array;
  /** Line transfers charged (statistics). */
  transfers = 0;
  /** Time spent queueing for a line another CPU was taking (statistics). */
  lineWaitNs = 0;

  constructor(lines: number, cpus: number, p: CostProfile) {
    this.owner = new Int16Array(lines).fill(-1);
    this.words = (cpus + 31) >> 5;
    this.sharers = new Uint32Array(lines * this.words);
    this.busyUntil = new Float64Array(lines);
    this.hit = new Float64Array(4);
    this.hit[LOAD] = p.loadNs;
    this.hit[STORE] = p.storeNs;
    this.hit[RMW] = p.rmwNs;
    this.hit[CAS] = p.casNs;
    this.transferNs = p.lineTransferNs;
    this.moveNs = p.lineMoveNs ?? p.lineTransferNs;
    this.firstTouchNs = p.firstTouchNs ?? p.lineTransferNs;
    this.touched = new Uint8Array(lines);
  }

  /**
   * CPU `c`, spinning on a word of `line`, re-reads it at time `t` right after another CPU wrote it: it
   * becomes a sharer again (the writer keeps a shared copy), and the line is in flight until the transfer
   * is done — the writer's next write waits for it, then takes the line back (profile spinnersPoll). The
   * re-read is one read miss of a line nobody else is moving: a move (lineMoveNs), as a ping-pong's is;
   * it queues behind a transfer still in flight.
   */
  poll(c: number, t: number, line: number): void {
    const owner = this.owner[line]!;
    if (owner === c) return;
    if (owner >= 0) {
      this.sharers[line * this.words + (owner >> 5)]! |= 1 << (owner & 31);
      this.owner[line] = -1;
    }
    this.sharers[line * this.words + (c >> 5)]! |= 1 << (c & 31);
    const start = Math.max(this.busyUntil[line]!, t);
    this.busyUntil[line] = start + this.moveCost(start, t);
    this.transfers++;
  }

  /** A move starting at `start` for an access at `t`: queued behind another transfer, or the line was idle. */
  private moveCost(start: number, t: number): number {
    return start > t ? this.transferNs : this.moveNs;
  }

  /** CPU `c` accesses `line` at time `t`: returns the time the access completes. */
  charge(c: number, t: number, line: number, kind: AccessKind): number {
    const owner = this.owner[line]!;
    if (owner === c) return t + this.hit[kind]!;
    if (this.touched[line] === 0) {
      // Nobody holds it yet: it comes from memory (a write's fetch is in flight until `end`).
      this.touched[line] = 1;
      const end = t + this.firstTouchNs + this.hit[kind]!;
      if (kind === LOAD) this.sharers[line * this.words + (c >> 5)]! |= 1 << (c & 31);
      else {
        this.owner[line] = c;
        this.busyUntil[line] = end;
      }
      this.transfers++;
      return end;
    }
    const w = line * this.words + (c >> 5);
    const bit = 1 << (c & 31);
    if (kind === LOAD) {
      if ((this.sharers[w]! & bit) !== 0) return t + this.hit[LOAD]!;
      // A read miss: the line becomes shared; its exclusive holder, if any, keeps a shared copy.
      const start = Math.max(t, this.busyUntil[line]!);
      this.lineWaitNs += start - t;
      if (owner >= 0) {
        this.sharers[line * this.words + (owner >> 5)]! |= 1 << (owner & 31);
        this.owner[line] = -1;
      }
      this.sharers[w]! |= bit;
      this.transfers++;
      return start + this.moveCost(start, t) + this.hit[LOAD]!;
    }
    // A write needs the line exclusively: invalidate every other copy; transfers of one line queue.
    let alone = (this.sharers[w]! & bit) !== 0 && (this.sharers[w]! & ~bit) === 0;
    if (alone) {
      for (let k = line * this.words, e = k + this.words; k < e; k++) {
        if (k !== w && this.sharers[k] !== 0) {
          alone = false;
          break;
        }
      }
    }
    this.sharers.fill(0, line * this.words, (line + 1) * this.words);
    this.owner[line] = c;
    if (alone) return t + this.hit[kind]!; // the only sharer upgrades its copy without a transfer
    const start = Math.max(t, this.busyUntil[line]!);
    this.lineWaitNs += start - t;
    const end = start + this.moveCost(start, t) + this.hit[kind]!;
    this.busyUntil[line] = end;
    this.transfers++;
    return end;
  }
}
