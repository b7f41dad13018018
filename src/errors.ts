/**
 * Errors that map to exit codes (DESIGN.md "Command line"): BadInput is exit 2 (bad flags, config or
 * repro files — the message names the bad value), HarnessError is exit 3 (a worker crashed or hung,
 * an internal error). Exit 1 is not an error: it is a verdict.
 */
export class BadInput extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadInput';
  }
}

export class HarnessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HarnessError';
  }
}

export const EXIT = { ok: 0, verdict: 1, usage: 2, harness: 3 } as const;
