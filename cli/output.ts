import { InvariantError } from '../storage/assert.js';
import { FsError } from '../storage/errors.js';
import { parseTid } from '../storage/layout.js';

/**
 * How every command speaks: data on stdout (with --json, exactly one JSON
 * object on one line, the last line), messages and progress on stderr.
 * Exit codes: 0 ok, 1 problems found (or a damaged volume), 2 usage or environment.
 */
export const EXIT_OK = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_USAGE = 2;

/** Set when stdout's reader went away (`hammerstate show vol | head`): further output is dropped. */
let stdoutClosed = false;
let stdoutGuarded = false;

/**
 * A closed pipe on stdout is the reader's choice, not an error: swallow EPIPE
 * (instead of node's unhandled 'error' event and its stack trace) and let the
 * command finish quietly. Installed once per process.
 */
export function guardStdout(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') stdoutClosed = true;
    else note(`hammerstate: ${error.code ?? 'EIO'}: standard output: ${error.message}`);
  });
}

export function printJson(value: unknown): void {
  if (!stdoutClosed) process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function say(line: string): void {
  if (!stdoutClosed) process.stdout.write(`${line}\n`);
}

/** Bytes as they are (cat): dropped, like every other output, once stdout's reader has gone. */
export function writeOut(bytes: Uint8Array): void {
  if (!stdoutClosed) process.stdout.write(bytes);
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

/** What went wrong, as the CLI reports it: a node:fs-style code, a message, and the exit code. */
export interface Failure {
  code: string;
  message: string;
  exitCode: number;
}

/**
 * Classify an error the way the CLI promises: 2 for usage and environment
 * (bad options, a missing or existing file, a file we may not open, a volume
 * another process is writing), 1 for a
 * volume with problems (EIO, not a volume, ENOSPC, an invariant that failed).
 * Only an error we did not foresee keeps its stack: that is a bug to report.
 */
export function classify(error: unknown): Failure & { stack?: string } {
  if (error instanceof UsageError) return { code: error.code, message: error.message, exitCode: EXIT_USAGE };
  if (error instanceof FsError) {
    // EBUSY: another process has the volume open for writing (its lock): the environment, not the volume.
    const usage = error.code === 'ENOENT' || error.code === 'EEXIST' || error.code === 'EBUSY';
    return { code: error.code, message: error.message, exitCode: usage ? EXIT_USAGE : EXIT_PROBLEMS };
  }
  if (error instanceof InvariantError)
    return { code: 'EIO', message: `EIO: ${error.message}`, exitCode: EXIT_PROBLEMS };
  const err = error as NodeJS.ErrnoException;
  if (typeof err?.code === 'string' && typeof err.message === 'string') {
    // node's own errors already start with their code ("EACCES: permission denied, open '…'").
    const message = err.message.startsWith(`${err.code}:`) ? err.message : `${err.code}: ${err.message}`;
    return { code: err.code, message, exitCode: EXIT_USAGE };
  }
  const message = err instanceof Error ? err.message : String(error);
  const stack = err instanceof Error ? err.stack : undefined;
  return { code: 'EINTERNAL', message: `internal error: ${message}`, exitCode: EXIT_PROBLEMS, stack };
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

/** A TID as the user gives it: `0x` + hex digits (as hammerstate prints them) or decimal; EINVAL otherwise. */
export function parseTidOption(text: string, what: string): number {
  const value = text.startsWith('0x') ? parseTid(text) : /^\d+$/.test(text) ? Number(text) : undefined;
  if (value === undefined || !Number.isSafeInteger(value) || value <= 0)
    throw new UsageError('EINVAL', `${what} must be a TID like 0x0000000100000005, got '${text}'`);
  return value;
}

/** A whole number option within [min, max]; EINVAL otherwise. */
export function parseIntegerOption(text: string, what: string, min: number, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new UsageError('EINVAL', `${what} must be a whole number from ${min} to ${max}, got '${text}'`);
  return value;
}

/**
 * A 64-bit field in hex, as HAMMER prints it: a negative obj_id or key (the
 * tree's left bound) shows as its two's-complement u64.
 */
export function hex(value: number, digits = 16): string {
  const text = value < 0 ? BigInt.asUintN(64, BigInt(value)).toString(16) : value.toString(16);
  return `0x${text.padStart(digits, '0')}`;
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
}
