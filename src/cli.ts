/**
 * iommu-stress command line. The contract (DESIGN.md): list, run, explore, replay, bench, litmus; `--json` puts
 * exactly one JSON document on stdout — on every exit, errors included; exit 0 every expectation met /
 * nothing found, 1 a verdict (violation found, or a variant that missed its expectation), 2 bad usage or
 * input, 3 harness failure.
 *
 * `main(argv, io)` runs one invocation in-process and returns its exit code: it never calls
 * process.exit, writes only through `io`, and forgets user scenarios loaded by an earlier call, so tests
 * can run thousands of invocations in one process. The process entry is the last lines of this file, run
 * only when this file is the program.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import type { BenchFlags } from './cli/bench-cmd.js';
import { benchOrSimCommand } from './cli/bench-sim.js';
import { BadInput, EXIT, HarnessError } from './errors.js';
import { exploreCommand, type ExploreFlags } from './cli/explore-cmd.js';
import { processIo, type Io } from './cli/io.js';
import { forgetUserScenarios } from './scenarios/registry.js';
import { listCommand } from './cli/list-cmd.js';
import { litmusCommand, type LitmusFlags } from './cli/litmus-cmd.js';
import { mergeCommand, type MergeFlags } from './cli/merge-cmd.js';
import { replayCommand, type ReplayFlags } from './cli/replay-cmd.js';
import { runCommand, type RunFlags } from './cli/run.js';
import { VERSION } from './cli/version.js';
import { STRATEGIES, strategyHelp } from './explore/strategies.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function program(io: Io, setExit: (code: number) => void): Command {
  const p = new Command('iommu-stress')
    .description(
      'Concurrency stress harness for the Linux IOMMU / DMA mapping path: a shared-memory model run by real worker threads\n' +
        'and by a deterministic, replayable scheduler, with named invariants.',
    )
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    // Commander's own messages (usage errors, --help, --version) go through io too; subcommands inherit this.
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) })
    .exitOverride();

  p.command('list')
    .description('list scenarios, their variants and what each expects, invariants and parameters')
    .option('--scenario-file <file>', 'also list the scenario defined in this module (see README "Writing a scenario")')
    .option('--json', 'one JSON document on stdout')
    .action(async (f: { json?: boolean; scenarioFile?: string }) => {
      setExit(await listCommand(f, io));
    });

  p.command('run')
    .description('stress suite: real worker threads for a time budget, then the deterministic explorer (mixed mode)')
    .argument('[scenario...]', 'scenarios to run (default: all)')
    .option('--variant <name>', 'run only this variant')
    .option('--all-variants', 'run every variant, known-bug ones too (default: the variants expected clean)')
    .option('--workers <n>', 'worker threads = vCPUs (default: one per core)')
    .option('--time <duration>', 'budget per variant, e.g. 10s, 2m (default: 10s)')
    .option('--ops <n>', 'op budget per vCPU for the stress phase (default: until the time is spent)')
    .option('--schedules <n>', 'schedule budget for the explore phase (default: until the time is spent)')
    .option('--seed <n>', 'seed of the op programs and schedules (default: random, printed in the report)')
    .addOption(
      new Option('--mode <mode>', 'mixed: stress then 25% explore; stress or explore only (default: mixed)').choices([
        'mixed',
        'stress',
        'explore',
      ]),
    )
    .option('--slice <duration>', 'stress slice between barrier scans (default: 10ms)')
    .option('--watchdog <duration>', 'a worker without progress this long is a harness failure (default: 10s)')
    .option('--param <key=value>', 'scenario parameter (repeatable; see list)', collect, [])
    .option(
      '--memory <model>',
      'the explore phase: sc (default) or weak (see explore --help); the stress phase is always sequentially consistent',
    )
    .option('--shard <i/n>', 'run shard i of n of a seed campaign (disjoint seeds; combine with merge)')
    .option('--scenario-file <file>', 'a scenario of your own (an ES module; see README "Writing a scenario")')
    .option('--config <file.json>', 'settings as JSON (keys as the long flags, camelCase); flags win')
    .option('--json', 'one JSON document on stdout')
    .option('--report-dir <dir>', 'write the report here instead of reports/<run-id>/ and reports/latest/')
    .option(
      '--require-coverage',
      'fail (exit 1) a clean pass that left a declared-reachable scheduling point (site) unreached',
    )
    .action(async (names: string[], f: RunFlags) => {
      setExit(await runCommand(names, f, io));
    });

  p.command('explore')
    .description('search interleavings of one scenario variant in the deterministic scheduler')
    .argument('[scenario]', 'the scenario (or "scenario" in --config)')
    .option('--variant <name>', 'variant (default: the first, the correct one)')
    .addOption(new Option('--strategy <name>', `scheduling strategy: ${strategyHelp()}`).choices(STRATEGIES))
    .option('--depth <d>', 'PCT bug depth: d-1 priority change points (default: 3)')
    .option('--max-preemptions <k>', 'dfs: only executions with at most k preemptions (default: all)')
    .option('--no-por', 'dfs: no partial-order reduction (every interleaving, for comparison)')
    .option('--schedules <n>', 'executions to try (default 1000, or unlimited with --time or dfs)')
    .option('--time <duration>', 'wall-clock budget')
    .option('--seed <n>', 'seed of the strategy and of the op programs (default: random, printed)')
    .option('--cpus <n>', "vCPUs (default: the scenario's)")
    .option('--ops <n|a,b,..>', 'ops per vCPU, one count or one per vCPU')
    .option('--op-seed <n>', 'run these op programs in every execution (re-running a stress failure)')
    .option('--max-steps <n>', 'step bound per execution (livelock guard)')
    .option('--no-shrink', 'report the failing execution as found, without minimising it')
    .option('--param <key=value>', 'scenario parameter (repeatable)', collect, [])
    .option(
      '--repro-file <path>',
      'where to write the repro (default reports/repros/<scenario>-<variant>-seed<seed>.json)',
    )
    .option('--shard <i/n>', 'explore shard i of n of a seed campaign (disjoint executions)')
    .option(
      '--stop-on <ids>',
      'also stop at these outcomes, e.g. an INTERESTING one, to get a replay token for it (comma list)',
    )
    .option(
      '--memory <model>',
      'sc (default): sequentially consistent; weak: the ordering primitives (engine/order.ts) may reorder as the\n' +
        'Linux kernel memory model allows (store buffering, stale reads, within per-location coherence), each\n' +
        'freedom a recorded decision; recorded in the token (load buffering is not modelled)',
    )
    .option('--trace', 'print the interleaving of the repro found (after shrinking), with values and the racing pair')
    .option('--full', 'with --trace: every row (a long trace collapses the tasks outside the racing pair)')
    .option('--scenario-file <file>', 'a scenario of your own (an ES module; see README "Writing a scenario")')
    .option('--config <file.json>', 'settings as JSON (keys as the long flags, camelCase); flags win')
    .option('--json', 'one JSON document on stdout')
    .action(async function (this: Command, name: string | undefined, f: ExploreFlags) {
      if (this.getOptionValueSource('shrink') === 'default') delete (f as { shrink?: boolean }).shrink;
      if (this.getOptionValueSource('por') === 'default') delete (f as { por?: boolean }).por;
      setExit(await exploreCommand(name, f, io));
    });

  p.command('replay')
    .description('re-run one execution exactly, from a repro file or a token')
    .argument('[repro-file]')
    .option('--token <token>', 'replay token printed by explore or run')
    .option('--scenario-file <file>', 'the module of a user scenario the repro comes from')
    .option('--trace', 'print the interleaving, one column per vCPU')
    .option('--full', 'with --trace: every row (a long trace collapses the tasks outside the racing pair)')
    .option('--json', 'one JSON document on stdout')
    .action(async (file: string | undefined, f: ReplayFlags) => {
      setExit(await replayCommand(file, f, io));
    });

  p.command('litmus')
    .description(
      "run C litmus tests (the format of the kernel's tools/memory-model) exhaustively under --memory weak;\n" +
        "herd7-style output; exit 0 when the Observation agrees with the file's Result line, 1 when not,\n" +
        '2 when the test uses something not modelled (RCU, plain accesses, spin_is_locked; named with its line)\n' +
        'or asks about an outcome that needs load buffering (a load reading a store from its own future, which\n' +
        '--memory weak does not model: the cycle of program order and reads-from is named).',
    )
    .argument('<file-or-dir>', 'a .litmus file, or a directory: every *.litmus in it, one line each')
    .option('--max-executions <n>', 'give up on a test with more executions than this (default: 2000000)')
    .option('--json', 'one JSON document on stdout')
    .action((target: string, f: LitmusFlags) => {
      setExit(litmusCommand(target, f, io));
    });
  p.command('merge')
    .description('combine the reports of a sharded campaign (run --shard i/n on each machine) into one')
    .argument('<report-dir...>', 'report directories (or report.json files)')
    .option('--json', 'one JSON document on stdout')
    .option('--report-dir <dir>', 'write the merged report here instead of reports/<run-id>/ and reports/latest/')
    .option(
      '--allow-partial',
      'merge a campaign that does not add up (missing, repeated or foreign shards), marked partial',
    )
    .action((dirs: string[], f: MergeFlags) => {
      setExit(mergeCommand(dirs, f, io));
    });

  p.command('bench')
    .description(
      'benchmarks: the engine, the IOVA allocator, the flush queues (per-CPU vs single vs strict), map_sg designs and the two-step IOVA API',
    )
    .option(
      '--suite <name>',
      'engine (the harness itself), iova (rcache vs rbtree, list vs fixed depot), fq (flush queues), mapsg (map_sg: per-call vs cookie vs domain list; two-step API vs map per page), pasid (system PASID: option 1 vs option 2, a cost model), variants (the variants of any scenario: with --scenario/--scenario-file and --variant), or all (default: engine, or fq with any --fq flag, or mapsg with --hypercall-cost/--segs)',
    )
    .option('--time <duration>', 'time per measurement (default: 2s)')
    .option('--ops <n>', 'fq, mapsg: ops per worker per measurement instead of --time (a fixed amount of work)')
    .option('--fq <modes>', 'fq: queue modes to compare, from percpu,single,strict (default: all three)')
    .option('--workers <list>', 'fq, mapsg, variants: worker counts, e.g. 1,2 (default: 1,2)')
    .option(
      '--flush-cost <ns-list>',
      'fq: cost of one IOTLB flush in ns, a list, 0 to 10000000 (default: 0,10000,100000)',
    )
    .option(
      '--flush <serial|parallel>',
      'fq: flushes serialised by a global lock (s390) or parallel (default: parallel)',
    )
    .option('--transfer <ns>', 'fq: simulated transfer between map and unmap (default: 0)')
    .option('--granule <pages>', 'fq: pages per mapping, like dma_map_benchmark -g (default: 1)')
    .option(
      '--hypercall-cost <ns-list>',
      'mapsg: cost of one driver map/unmap call (a pKVM hypercall) in ns, a list (default: 0,1000,10000)',
    )
    .option(
      '--segs <list>',
      'mapsg: scatterlist elements per map_sg (and pages per two-step round), a list, 1 to 64 (default: 4,16)',
    )
    .option('--seed <n>', 'fq, mapsg, variants: seed (default: 1)')
    .option(
      '--scenario <name>',
      'bench variants of this scenario (with --variant): flushq by the fq suite, iova by iova, mapsg and dma-iova by mapsg, any other by its stress op program',
    )
    .option(
      '--scenario-file <file>',
      'a scenario file: bench the variants it adds (or its own scenario) next to the built-in ones (see README "Writing a variant")',
    )
    .option(
      '--variant <list>',
      "the variants to bench, a list (default with a scenario file: what it adds and the scenario's variants expected clean)",
    )
    .option(
      '--repeats <n>',
      "runs of every measurement; each mean is the median run's, with the min–max over the runs (default: 3)",
    )
    .option(
      '--detection-seeds <n>',
      'engine: PCT seeds per known-bug variant in the detection table (default: 20; barrier bugs under weak: 5)',
    )
    .option(
      '--stress-detection',
      'engine: also find each bug variant of the lifecycle, pgtable and iova scenarios by stress (2 workers, seeds 1-10, 30 s each; minutes)',
    )
    .option(
      '--compare <report...>',
      'compare two bench reports (A then B: report.json or its directory): B vs A per combination, with spreads; runs nothing',
    )
    .option(
      '--sim',
      'simulated time instead of real threads: the same model code under a cost profile, deterministic (fq, iova, mapsg, pasid)',
    )
    .option('--cpus <list>', 'sim: vCPU counts, 1 to 256, e.g. 1,4,16,64 (default: 1,4,16,64)')
    .option(
      '--shape <irq|burst>',
      'sim iova: irq = one range in flight per allocating vCPU; burst = deep queues freed in bursts by the IRQ vCPUs (default: irq)',
    )
    .option('--depth <n>', 'sim iova --shape burst: mappings per burst, the queue depth, 1 to 1024 (default: 32)')
    .option(
      '--freers <n>',
      'sim iova: IRQ vCPUs that free what the others allocate, at most half of a run (default: 16)',
    )
    .option(
      '--profile <name|file>',
      'sim: cost profile, a built-in name (this-machine, s390-zvm, virtio, bare-metal) or a JSON file (default: this-machine)',
    )
    .option(
      '--calibrate',
      'measure this machine and write its cost profile (profiles/this-machine.json, or --report-dir)',
    )
    .option('--json', 'one JSON document on stdout (the table goes to stderr)')
    .option(
      '--report-dir <dir>',
      'write report.json, summary.md and bench.html here instead of reports/<run-id>-bench/',
    )
    .addHelpText(
      'after',
      '\nThe simulator against real threads (design ratios at 1 and 2 CPUs, a ±25% verdict per cell):\n' +
        '  node scripts/cross-check.mjs --help',
    )
    .action(async (f: BenchFlags) => {
      setExit(await benchOrSimCommand(f, io));
    });

  return p;
}

export type ErrorKind = 'bad-input' | 'harness';

/** The one JSON document `--json` prints when a command fails before it could print its own. */
export interface JsonError {
  readonly error: { readonly kind: ErrorKind; readonly message: string };
  readonly exitCode: number;
}

/** Run one invocation; resolves to its exit code. `io` defaults to the process's stdout/stderr. */
export async function main(
  argv: readonly string[],
  io: Io = processIo(argv, argv.includes('--json')),
): Promise<number> {
  const json = argv.includes('--json');
  let printed = false;
  const tracked: Io = {
    ...io,
    out: (t) => {
      printed = true;
      io.out(t);
    },
  };
  const fail = (kind: ErrorKind, message: string, exitCode: number): number => {
    // One JSON document on stdout, unless the command already printed its own before failing.
    if (json && !printed) io.out(JSON.stringify({ error: { kind, message }, exitCode } satisfies JsonError, null, 2));
    return exitCode;
  };
  forgetUserScenarios();
  let code: number = EXIT.ok;
  try {
    await program(tracked, (c) => {
      code = c;
    }).parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; any usage error (already shown on stderr) is exit 2.
      return e.exitCode === 0 ? EXIT.ok : fail('bad-input', e.message.replace(/^error: /, ''), EXIT.usage);
    }
    if (e instanceof BadInput) {
      io.err(`iommu-stress: ${e.message}`);
      return fail('bad-input', e.message, EXIT.usage);
    }
    // A harness failure says what happened; anything else is a bug of ours, and its stack goes to stderr.
    const message =
      e instanceof HarnessError ? e.message : `internal error: ${e instanceof Error ? e.message : String(e)}`;
    const shown = e instanceof HarnessError || !(e instanceof Error) ? message : (e.stack ?? message);
    io.err(`iommu-stress: harness failure: ${shown}`);
    return fail('harness', message, EXIT.harness);
  } finally {
    forgetUserScenarios();
  }
}

/** True when this file is the program (node dist/src/cli.js, or bin/iommu-stress.js importing it), not a library. */
function isProgram(): boolean {
  const here = fileURLToPath(import.meta.url);
  const bin = path.resolve(path.dirname(here), '..', '..', 'bin', 'iommu-stress.js');
  try {
    return [here, bin].includes(realpathSync(process.argv[1] ?? ''));
  } catch {
    return false;
  }
}

if (isProgram()) {
  // `iommu-stress list | head` closes our stdout early: that is the reader's choice, not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    else throw e;
  });
  process.exitCode = await main(process.argv.slice(2));
}
