/**
 * Running `iommu-stress <args>` in this process through main(argv, io): the same commands, exit codes,
 * stdout and stderr as the child process of helpers/cli.ts, without paying a Node start and a load of
 * the whole CLI per invocation (~0.5 s of CPU each). Tests that are about the process itself (signals,
 * exit codes of the real binary, --help/--version through Commander's process hooks) keep using iommu().
 * Like a child, it runs from the project root: main() resolves relative paths against process.cwd().
 * Unlike a child, it cannot load a --scenario-file built on the compiled dist/ modules (the file's
 * built-in variants are not the very objects of src/ that main() runs under vitest): those stay children.
 * And unlike spawnSync, an await lets vitest's test timeout fire: a long in-process run (a loaded
 * machine) needs its own timeout, as a hang guard only.
 */
import { main } from '../../src/cli.js';
import { memoryIo } from '../../src/cli/io.js';
import type { CliResult } from './cli.js';

/** Each line a command printed ends in a newline, as on a real stdout. */
const text = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');

export async function iommuIn(...args: string[]): Promise<CliResult> {
  const io = memoryIo(args);
  const code = await main(args, io);
  return { code, stdout: text(io.stdout), stderr: text(io.stderr) };
}
