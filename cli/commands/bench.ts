import type { Command } from 'commander';
import { type BenchResult, benchmarks, runBenchmarks } from '../../bench/harness.js';
import '../../bench/fs.js';
import '../../bench/storage.js';
import '../../bench/fuse.js';
import { EXIT_OK, note, printJson, say, UsageError } from '../output.js';

/**
 * `hammerstate bench [names...] [--json] [--quick] [--reps N]` (`npm run bench -- storage --json`).
 * Without a name it lists the benchmarks. With --json each result is one JSON
 * object on its own stdout line; without, a table. Progress goes to stderr.
 */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run benchmarks against baselines measured in the same run (medians)')
    .argument('[names...]', "benchmarks to run ('all' for every one); none lists them")
    .option('--json', 'one JSON object per result line (without a name: {benchmarks: [{name, description}]})')
    .option('--quick', 'small sizes, seconds in all')
    .option('--reps <n>', 'repetitions per measurement', '5')
    .action(async (names: string[], options: { json?: boolean; quick?: boolean; reps: string }) => {
      if (names.length === 0) {
        const list = benchmarks().map((b) => ({ name: b.name, description: b.description }));
        if (options.json) printJson({ benchmarks: list });
        else {
          for (const b of list) say(`${b.name.padEnd(12)} ${b.description}`);
          say(`${'all'.padEnd(12)} every benchmark above`);
        }
        process.exitCode = EXIT_OK;
        return;
      }
      const reps = Number(options.reps);
      if (!Number.isInteger(reps) || reps < 1)
        throw new UsageError('EINVAL', `--reps must be a positive integer, got '${options.reps}'`);
      let results: BenchResult[];
      try {
        results = await runBenchmarks(names, { quick: options.quick ?? false, reps, progress: note });
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('unknown benchmark'))
          throw new UsageError('EINVAL', error.message);
        throw error;
      }
      if (options.json) for (const r of results) printJson(r);
      else for (const line of benchTable(results)) say(line);
      process.exitCode = EXIT_OK;
    });
}

/** Three significant digits at least, thousands grouped: 41,900 / 991 / 24.3 / 0.059. */
function figure(value: number): string {
  const digits = value === 0 ? 0 : Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))));
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** The readable form: one row per (result, baseline), ratio = ours / baseline. */
export function benchTable(results: BenchResult[]): string[] {
  const rows: string[][] = [['benchmark', 'ours', 'unit', 'baseline', 'value', 'ratio']];
  for (const r of results) {
    const baselines = Object.entries(r.baselines);
    if (baselines.length === 0) rows.push([r.benchmark, figure(r.ours), r.unit, '-', '', '']);
    baselines.forEach(([name, b], i) => {
      const own = i === 0 ? [r.benchmark, figure(r.ours), r.unit] : ['', '', ''];
      rows.push([...own, name, figure(b.value), figure(b.ratio)]);
    });
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const numeric = new Set([1, 4, 5]);
  return rows.map((row) =>
    row
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return numeric.has(column) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd(),
  );
}
