import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../cli/hammerstate.js', import.meta.url));

export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
  /** The last line of stdout parsed as JSON (the --json contract). */
  json<T = Record<string, unknown>>(): T;
}

/** Run the hammerstate command as a user would, in `cwd`. */
export function cli(args: string[], cwd: string): CliRun {
  const run = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return runOf(run.status ?? -1, run.stdout ?? '', run.stderr ?? '');
}

function runOf(status: number, stdout: string, stderr: string): CliRun {
  return {
    status,
    stdout,
    stderr,
    json<T>() {
      const lines = stdout.trimEnd().split('\n');
      return JSON.parse(lines[lines.length - 1] ?? '') as T;
    },
  };
}

/** cli(), without blocking: independent runs (read-only checks, say) can go side by side. */
export function cliAsync(args: string[], cwd: string): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve(runOf(status, stdout, stderr));
    });
  });
}

/**
 * The command run in this process through cli/main.ts (no child: a few ms
 * instead of half a second), its stdout and stderr captured. For commands
 * that end on their own; one at a time (the streams are process-wide).
 */
export async function runMain(args: string[]): Promise<CliRun> {
  const { main } = await import('../../cli/main.js');
  const out: string[] = [];
  const err: string[] = [];
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  let status: number;
  try {
    status = await main(['node', 'hammerstate', ...args]);
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
  return runOf(status, out.join(''), err.join(''));
}
