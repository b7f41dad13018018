/**
 * Where things are, independent of process.cwd(): vitest runs src/*.ts, node runs dist/src/*.js.
 * Workers are always the compiled ones in dist/workers (Node 20 cannot load .ts in a worker).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const runningFromSource = import.meta.url.endsWith('.ts');
export const projectRoot = runningFromSource ? path.resolve(here, '..') : path.resolve(here, '../..');

export function workerFile(name: string): string {
  return path.join(projectRoot, 'dist', 'workers', `${name}.js`);
}

export const cliFile = path.join(projectRoot, 'dist', 'src', 'cli.js');
