import type { Io } from './io.js';
export interface BenchFlags { time?: string; json?: boolean; reportDir?: string }
export async function benchCommand(_f: BenchFlags, io: Io): Promise<number> { io.err('bench: not yet'); return 3; }
