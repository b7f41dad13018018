/**
 * Running `iommu-stress <args>` in this process through main(argv, io): the same commands, exit codes,
 * stdout and stderr as the child process of helpers/cli.ts, without paying a Node start and a load of
 * the whole CLI per invocation (~0.5 s of CPU each). Tests that are about the process itself (signals,
 * exit codes of the real binary, --help/--version through Commander's process hooks) keep using iommu().
 * Like a child, it runs from the project root: main() resolves relative paths against process.cwd().
 * Unlike a child, it cannot load a --scenario-file built on the compiled dist/ modules (the file's
 * built-in variants are not the very objects of src/ that main() runs under vitest): those run through
 * helpers/in-process-dist.ts, the same runner (helpers/cli.ts's runMain) on dist/'s main().
 * And unlike spawnSync, an await lets vitest's test timeout fire: a long in-process run (a loaded
 * machine) needs its own timeout, as a hang guard only.
 */
import { main } from '../../src/cli.js';
import { memoryIo } from '../../src/cli/io.js';
import { runMain, type CliResult } from './cli.js';

export const iommuIn = (...args: string[]): Promise<CliResult> => runMain(main, memoryIo, args);
