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
  | 'EFBIG'
  | 'ENOSPC'
  | 'EROFS'
  | 'EIO'
  | 'EBADF'
  | 'EBUSY'
  | 'ELOOP'
  | 'EPERM'
  | 'EXDEV'
  | 'EACCES';

/**
 * Codes that are a call's ordinary answer about names and permissions, not a
 * fault: made without a stack trace, as node:fs/promises reports them (a
 * lookup that misses is a common answer: capturing the stack cost ~6 µs, more
 * than the lookup). EIO, EINVAL, ENOSPC and EBUSY keep their stacks: they
 * point at a fault, a bad argument or a resource, where the stack helps.
 */
const ANSWERS: ReadonlySet<FsErrorCode> = new Set<FsErrorCode>([
  'ENOENT',
  'EEXIST',
  'ENOTDIR',
  'EISDIR',
  'ENOTEMPTY',
  'ENAMETOOLONG',
  'EACCES',
  'EPERM',
  'ELOOP',
  'EXDEV',
  'EROFS',
  'EBADF',
]);

export class FsError extends Error {
  readonly code: FsErrorCode;
  readonly path: string | undefined;
  readonly syscall: string | undefined;

  constructor(code: FsErrorCode, message: string, options: { path?: string; syscall?: string } = {}) {
    const text = `${code}: ${message}${options.path === undefined ? '' : `, '${options.path}'`}`;
    if (ANSWERS.has(code)) {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      try {
        super(text);
      } finally {
        Error.stackTraceLimit = limit;
      }
    } else {
      super(text);
    }
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
