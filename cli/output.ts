import { InvariantError } from '../storage/assert.js';
import { FsError } from '../storage/errors.js';

/**
 * How every command speaks: data on stdout (with --json, exactly one JSON
 * object on one line, the last line), messages and progress on stderr.
 * Exit codes: 0 ok, 1 problems found (or a damaged volume), 2 usage or environment.
 */
export const EXIT_OK = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_USAGE = 2;

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** A bad argument or option: exit 2, like a commander usage error. */
export class UsageError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = 'UsageError';
    this.code = code;
  }
}

/**
 * Report an error the way the CLI promises: a code and a message, never a
 * stack for bad input, and the exit code: 2 for usage and environment (bad
 * options, a missing file), 1 for a volume with problems (EIO, not a volume).
 */
export function reportError(error: unknown): number {
  if (error instanceof UsageError) {
    note(`hammerstate: ${error.message}`);
    return EXIT_USAGE;
  }
  if (error instanceof FsError) {
    note(`hammerstate: ${error.message}`);
    return error.code === 'ENOENT' || error.code === 'EEXIST' ? EXIT_USAGE : EXIT_PROBLEMS;
  }
  if (error instanceof InvariantError) {
    note(`hammerstate: EIO: ${error.message}`);
    return EXIT_PROBLEMS;
  }
  const err = error as NodeJS.ErrnoException;
  if (typeof err?.code === 'string') {
    note(`hammerstate: ${err.code}: ${err.message}`);
    return EXIT_USAGE;
  }
  note(`hammerstate: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(error)}`);
  return EXIT_PROBLEMS;
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parse "256M", "32m", "1G", "4096" into bytes; EINVAL otherwise. */
export function parseSize(text: string, what: string): number {
  const match = /^(\d+)([KMGT]?)B?$/i.exec(text.trim());
  if (match === null) throw new UsageError('EINVAL', `${what} must be a size like 256M, got '${text}'`);
  const bytes = Number(match[1]) * (UNITS[(match[2] ?? '').toUpperCase()] ?? 1);
  if (!Number.isSafeInteger(bytes)) throw new UsageError('EINVAL', `${what} is too large: '${text}'`);
  return bytes;
}

export function hex(value: number, digits = 16): string {
  return `0x${value.toString(16).padStart(digits, '0')}`;
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
}
