import { spawnSync } from 'node:child_process';
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
  const stdout = run.stdout ?? '';
  return {
    status: run.status ?? -1,
    stdout,
    stderr: run.stderr ?? '',
    json<T>() {
      const lines = stdout.trimEnd().split('\n');
      return JSON.parse(lines[lines.length - 1] ?? '') as T;
    },
  };
}
