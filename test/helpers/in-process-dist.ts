/**
 * Running `iommu-stress <args>` in this process through the COMPILED main(argv, io) of dist/src/cli.js:
 * what helpers/in-process.ts does for src/, for the commands that load a --scenario-file. Such a file
 * imports the compiled dist/ modules; under vitest, src/cli.ts's main() runs the src/ modules, whose
 * objects (the built-in variants a file extends) are not the file's. Here the whole graph is dist/'s, as
 * in the binary: vitest.config.ts externalizes dist/ (server.deps.external), so this import and the
 * file's own import() are Node's native ones, never vitest's module runner. No Node start and CLI load
 * per command (~0.4 s of CPU each); the real process plumbing stays with helpers/cli.ts's iommu().
 * dist/ is current: test/global-setup.ts builds before any test file.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { main as mainFn } from '../../src/cli.js';
import type { memoryIo as memoryIoFn } from '../../src/cli/io.js';
import { root, runMain, type CliResult } from './cli.js';

interface Compiled {
  readonly main: typeof mainFn;
  readonly memoryIo: typeof memoryIoFn;
}
let compiled: Promise<Compiled> | undefined;
const load = (): Promise<Compiled> =>
  (compiled ??= (async () => {
    const url = (p: string) => pathToFileURL(path.join(root, 'dist', 'src', p)).href;
    const cli = (await import(/* @vite-ignore */ url('cli.js'))) as { main: typeof mainFn };
    const io = (await import(/* @vite-ignore */ url('cli/io.js'))) as { memoryIo: typeof memoryIoFn };
    return { main: cli.main, memoryIo: io.memoryIo };
  })());

export async function iommuDist(...args: string[]): Promise<CliResult> {
  const { main, memoryIo } = await load();
  return runMain(main, memoryIo, args);
}
