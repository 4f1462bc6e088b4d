import type { Command } from 'commander';
import { type Reproduction, reproduce } from '../crashtest/repro.js';
import { type CrashtestResult, runCrashtest } from '../crashtest/run.js';
import { workloadCount } from '../crashtest/workloads.js';
import { EXIT_OK, EXIT_PROBLEMS, note, printJson, say, UsageError } from '../output.js';
import { startCountProgress } from '../progress.js';

interface Options {
  workloads: string;
  limit?: string;
  only?: string;
  seed: string;
  samples: string;
  out: string;
  shard?: string;
  repro?: string;
  json?: boolean;
}

/**
 * `hammerstate crashtest`: ACE-style bounded workloads (cli/crashtest/), each
 * crashed at every device write and at seeded reorderings and tears of its
 * unsynced writes, recovered and checked. Exit 1 when any crash state broke
 * the contract; each violation leaves a reproduction under --out.
 */
export function registerCrashtest(program: Command): void {
  program
    .command('crashtest')
    .description('crash every workload at every device write (and seeded tears), recover, check durability')
    .option('--workloads <seq>', 'seq1 (every single operation), seq2 (pairs) or seq3 (triples: use --limit)', 'seq1')
    .option('--limit <n>', 'run n workloads spread evenly over the space (default: all)')
    .option('--only <index>', 'run only the workload with this index (a reproduction)')
    .option('--seed <s>', 'seed of the samples and of the --limit spread', '1')
    .option('--samples <n>', 'seeded reordered/torn crash images per crash point', '1')
    .option('--out <dir>', 'where reproductions of violations are written', './crashtest-failures')
    .option('--shard <i/n>', 'run only the i-th of n interleaved parts of the selected workloads (i from 0)')
    .option('--repro <dir>', 're-run the one case a reproduction directory holds and report its violation')
    .option('--json', 'print {"workloads", "crash_states", "violations", "first_violation"} as one JSON line')
    .action(async (options: Options) => {
      if (options.repro !== undefined) return replay(options.repro, Boolean(options.json));
      const length = ({ seq1: 1, seq2: 2, seq3: 3 } as const)[options.workloads as 'seq1'];
      if (length === undefined)
        throw new UsageError('EINVAL', `--workloads: seq1, seq2 or seq3, not '${options.workloads}'`);
      const started = performance.now();
      const bar = startCountProgress('crashtest', 'workloads', Boolean(options.json));
      const result = await runCrashtest({
        length,
        limit: count(options.limit, '--limit'),
        only: count(options.only, '--only', workloadCount(length) - 1),
        seed: count(options.seed, '--seed') ?? 1,
        samples: count(options.samples, '--samples') ?? 1,
        out: options.out,
        shard: shard(options.shard),
        onWorkload: bar.update,
      });
      bar.stop();
      const seconds = (performance.now() - started) / 1000;
      if (options.json) printJson(result);
      else summary(result, seconds);
      process.exitCode = result.violations === 0 ? EXIT_OK : EXIT_PROBLEMS;
    });
}

/** `--shard i/n`: the i-th of n parts (0 <= i < n). */
function shard(text: string | undefined): { index: number; count: number } | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || !(count >= 1) || !(index < count))
    throw new UsageError('EINVAL', `--shard: i/n with 0 <= i < n, not '${text}'`);
  return { index, count };
}

/** `--repro <dir>`: exit 1 when the case still breaks the contract, 0 when it recovers clean now. */
async function replay(dir: string, json: boolean): Promise<void> {
  const result = await reproduce(dir);
  process.exitCode = result.findings.length === 0 ? EXIT_OK : EXIT_PROBLEMS;
  if (json) return printJson(result);
  say(
    `${describeReproduction(result)}: workload ${result.workload_index} (${result.workload}), crash before device op ${result.crash_point}, ${result.sample === null ? 'in-order prefix' : `sample ${result.sample}`}`,
  );
  for (const finding of result.findings) for (const problem of finding.problems) say(`  ${finding.check}: ${problem}`);
  if (!result.image_matches_workload) note('crash.img is not the image this workload gives now at that point');
}

function describeReproduction(result: Reproduction): string {
  if (result.findings.length === 0) return 'not reproduced: the crash state recovers clean';
  return result.same ? 'reproduced: the same violation' : 'reproduced: a different violation';
}

/** A non-negative integer option (undefined when absent), at most `max`. */
function count(text: string | undefined, what: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0 || value > max)
    throw new UsageError('EINVAL', `${what}: an integer from 0 to ${max}, not '${text}'`);
  return value;
}

function summary(result: CrashtestResult, seconds: number): void {
  say(
    `${result.violations === 0 ? 'clean' : `${result.violations} violations`}: ` +
      `${result.workloads} workloads, ${result.crash_states} crash states, ${seconds.toFixed(1)} s`,
  );
  const first = result.first_violation;
  if (first === null) return;
  say(
    `first: workload ${first.workload_index} (${first.workload}), crash before device op ${first.crash_point}` +
      ` of ${first.device_ops}, ${first.sample === null ? 'in-order prefix' : `sample ${first.sample}`}, seed ${first.seed}`,
  );
  for (const finding of first.findings) for (const problem of finding.problems) say(`  ${finding.check}: ${problem}`);
  note(`reproduction: ${first.reproduction ?? 'not written (over the cap)'}`);
}
