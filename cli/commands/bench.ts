import type { Command } from 'commander';
import { benchmarks, runBenchmarks } from '../../bench/harness.js';
import '../../bench/storage.js';
import { EXIT_OK, note, printJson, say, UsageError } from '../output.js';

/** `npm run bench -- <name> [--json]`: one JSON object per line per result with --json. */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run benchmarks against baselines measured in the same run (medians)')
    .argument('[names...]', "benchmarks to run ('all' for every one); none lists them")
    .option('--json', 'one JSON object per result line')
    .option('--quick', 'small sizes, seconds in all')
    .option('--reps <n>', 'repetitions per measurement', '5')
    .action(async (names: string[], options: { json?: boolean; quick?: boolean; reps: string }) => {
      if (names.length === 0) {
        for (const b of benchmarks()) say(`${b.name.padEnd(12)} ${b.description}`);
        process.exitCode = EXIT_OK;
        return;
      }
      const reps = Number(options.reps);
      if (!Number.isInteger(reps) || reps < 1)
        throw new UsageError('EINVAL', `--reps must be a positive integer, got '${options.reps}'`);
      let results: Awaited<ReturnType<typeof runBenchmarks>>;
      try {
        results = await runBenchmarks(names, { quick: options.quick ?? false, reps, progress: note });
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('unknown benchmark'))
          throw new UsageError('EINVAL', error.message);
        throw error;
      }
      for (const r of results) {
        if (options.json) {
          printJson(r);
          continue;
        }
        const ratios = Object.entries(r.baselines)
          .map(([name, b]) => `${name} ${b.value.toFixed(1)} (x${b.ratio.toFixed(2)})`)
          .join(', ');
        say(`${r.benchmark.padEnd(14)} ${r.ours.toFixed(1).padStart(12)} ${r.unit.padEnd(10)} ${ratios}`);
      }
      process.exitCode = EXIT_OK;
    });
}
