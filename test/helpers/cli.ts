/** Running the compiled CLI as users and CI do: a child process, judged by exit code, output and files. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
