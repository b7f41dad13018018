/**
 * Where "now" comes from for model code: virtual time in explore mode (advanced by the executor), real
 * time in stress mode. Kept apart from cpu.ts and timer.ts so both can depend on it.
 */
/** Where "now" comes from: virtual in explore mode, real in stress mode. Nanoseconds. */
export interface Clock {
  now(): number;
  /**
   * now(), for a statistic only (a latency, an exposure window): the value may go into a histogram or
   * an INTERESTING outcome, never into model state that steers the model or into a FORBIDDEN check.
   * explore's dfs counts no clock read as an access (explore/footprint.ts: it runs untimed, where a
   * timer's deadline is only compared with 0): where in an execution the stamp is taken creates no
   * branch, and only the statistics can differ between the executions it deems equivalent.
   */
  stamp(): number;
}

export class VirtualClock implements Clock {
  ns = 0;
  now(): number {
    return this.ns;
  }
  stamp(): number {
    return this.ns;
  }
}

/** Real time since a run's epoch, consistent across threads (timeOrigin + now() is absolute). */
export class RealClock implements Clock {
  constructor(private readonly epochMs: number) {}
  now(): number {
    return (performance.timeOrigin + performance.now() - this.epochMs) * 1e6;
  }
  stamp(): number {
    return this.now();
  }
  static epochNow(): number {
    return performance.timeOrigin + performance.now();
  }
}
