#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript in dist/. `npm ci` builds it (prepare script);
// if someone deleted dist/, say so instead of a stack trace.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli.js');
if (!existsSync(cli)) {
  console.error(`iommu-stress: ${cli} is missing; run 'npm run build' (npm ci builds it too).`);
  process.exit(3);
}
await import(pathToFileURL(cli).href);
