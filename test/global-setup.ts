/**
 * Build once before any test file, so the tests always exercise the compiled workers and CLI in dist/
 * (a worker thread cannot load .ts on Node 20). `npm test` builds too; this covers `npx vitest`.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const tsc = path.join(path.dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-b'], { cwd: root, stdio: 'inherit' });
}
