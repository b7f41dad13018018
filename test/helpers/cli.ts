/** Running the compiled CLI as users and CI do: a child process, judged by exit code, output and files. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { main } from '../../src/cli.js';
import type { memoryIo } from '../../src/cli/io.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliJs = path.join(root, 'dist', 'src', 'cli.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `iommu-stress <args>` from the project root, as CI would (CI=true, no TTY). */
export function iommu(...args: string[]): CliResult {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
  delete env.NODE_OPTIONS;
  // The timeout only keeps a hung CLI from hanging the suite; no assertion depends on it.
  const r = spawnSync(process.execPath, [cliJs, ...args], { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** stdout must be exactly one JSON document. */
export function json<T = Record<string, unknown>>(r: CliResult): T {
  return JSON.parse(r.stdout) as T;
}

/** Each line a command printed ends in a newline, as on a real stdout. */
const text = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');

/**
 * One command in this process through a main(argv, io) and its memoryIo: src/'s (helpers/in-process.ts)
 * or dist/'s (helpers/in-process-dist.ts). Type-only imports: this file loads neither graph.
 */
export async function runMain(run: typeof main, newIo: typeof memoryIo, args: readonly string[]): Promise<CliResult> {
  const io = newIo(args);
  const code = await run(args, io);
  return { code, stdout: text(io.stdout), stderr: text(io.stderr) };
}
