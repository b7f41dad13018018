/**
 * Where "now" comes from for model code: virtual time in explore mode (advanced by the executor), real
 * time in stress mode. Kept apart from cpu.ts and timer.ts so both can depend on it.
 */
/** Where "now" comes from: virtual in explore mode, real in stress mode. Nanoseconds. */
export interface Clock {
  now(): number;
}

export class VirtualClock implements Clock {
  ns = 0;
  now(): number {
    return this.ns;
  }
}

/** Real time since a run's epoch, consistent across threads (timeOrigin + now() is absolute). */
export class RealClock implements Clock {
  constructor(private readonly epochMs: number) {}
  now(): number {
    return (performance.timeOrigin + performance.now() - this.epochMs) * 1e6;
  }
  static epochNow(): number {
    return performance.timeOrigin + performance.now();
  }
}
