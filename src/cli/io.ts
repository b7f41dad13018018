/**
 * Where a command's output goes. stdout carries results (with --json: exactly one JSON document);
 * progress notes go to stderr, and only when someone is watching a terminal and did not ask for JSON.
 */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  progress(text: string): void;
  /** The command as typed, for reports. */
  readonly commandLine: string;
}

export function processIo(argv: readonly string[], json: boolean): Io {
  const showProgress = !json && process.stderr.isTTY === true;
  return {
    out: (t) => { process.stdout.write(`${t}\n`); },
    err: (t) => { process.stderr.write(`${t}\n`); },
    progress: (t) => { if (showProgress) process.stderr.write(`${t}\n`); },
    commandLine: ['iommu-stress', ...argv].join(' '),
  };
}
