/**
 * Errors carry a node:fs-style `code`, like the errors of node:fs/promises, so a
 * caller can switch on `err.code` whatever layer raised it.
 */
export type FsErrorCode =
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'ENAMETOOLONG'
  | 'EINVAL'
  | 'ENOSPC'
  | 'EROFS'
  | 'EIO'
  | 'EBADF'
  | 'EBUSY'
  | 'ELOOP'
  | 'EPERM'
  | 'EXDEV'
  | 'EACCES';

export class FsError extends Error {
  readonly code: FsErrorCode;
  readonly path: string | undefined;
  readonly syscall: string | undefined;

  constructor(code: FsErrorCode, message: string, options: { path?: string; syscall?: string } = {}) {
    super(`${code}: ${message}${options.path === undefined ? '' : `, '${options.path}'`}`);
    this.name = 'FsError';
    this.code = code;
    this.path = options.path;
    this.syscall = options.syscall;
  }
}

export function isFsError(error: unknown, code?: FsErrorCode): error is FsError {
  return error instanceof FsError && (code === undefined || error.code === code);
}

/** A checksum that did not match: names the structure, where it is, and both values. */
export function crcError(what: string, offset: number, expected: number, found: number): FsError {
  return new FsError(
    'EIO',
    `${what} at offset 0x${offset.toString(16)}: CRC expected 0x${hex32(expected)}, found 0x${hex32(found)}`,
  );
}

export function hex32(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0');
}
