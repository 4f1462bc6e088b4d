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
