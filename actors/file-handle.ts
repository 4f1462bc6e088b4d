import { InodeFlag } from '../machines/inode-flags.js';
import { FsError } from '../storage/errors.js';
import type { Caller, FileHandle as FileHandleApi, Stats } from './api.js';
import { readData, truncateData, writeData } from './file-data.js';
import type { Inode } from './inode.js';
import type { Mount } from './mount.js';

export interface HandleHost {
  readonly mount: Mount;
  /** Whom the calls through this host are checked (and logged) as. */
  readonly caller: Caller;
  /** Run a front-end operation: logged as a command, mount checks, errors as FsError. */
  op<T>(type: string, args: Record<string, unknown>, body: () => T): Promise<T>;
  stats(ip: Inode): Stats;
  opAsync<T>(type: string, args: Record<string, unknown>, body: () => Promise<T>): Promise<T>;
  fsync(ip: Inode): Promise<void>;
  touchAtime(ip: Inode): void;
  closed(handle: FileHandle): void;
}

/**
 * An open file (node's FileHandle): holds a reference on the inode (so an
 * unlinked file lives until the last close), a position, and what the open
 * flags allow.
 */
export class FileHandle implements FileHandleApi {
  private position = 0;
  private open = true;

  constructor(
    readonly fd: number,
    private readonly ip: Inode,
    private readonly host: HandleHost,
    private readonly access: HandleAccess,
    readonly path: string,
  ) {}

  private check(op: string, need: 'read' | 'write' | 'none'): void {
    if (!this.open) throw new FsError('EBADF', `${op} on a closed file handle`, { path: this.path });
    if (need === 'read' && !this.access.read)
      throw new FsError('EBADF', 'the handle was not opened for reading', { path: this.path });
    // A directory is opened to be synced or listed by name, never read as bytes (read(2): EISDIR).
    if (need === 'read' && this.ip.isDirectory)
      throw new FsError('EISDIR', 'illegal operation on a directory', { path: this.path });
    if (need === 'write' && !this.access.write)
      throw new FsError('EBADF', 'the handle was not opened for writing', { path: this.path });
  }

  read(
    buffer: Uint8Array,
    offset = 0,
    length: number = buffer.length - offset,
    position: number | null = null,
  ): Promise<{ bytesRead: number; buffer: Uint8Array }> {
    return this.host.op('read', { fd: this.fd, size: buffer.length, offset, length, position }, () => {
      this.check('read', 'read');
      if (offset < 0 || length < 0 || offset + length > buffer.length) {
        throw new FsError('EINVAL', 'offset/length outside the buffer', { path: this.path });
      }
      const at = position ?? this.position;
      if (!Number.isInteger(at) || at < 0) throw new FsError('EINVAL', `invalid position ${at}`, { path: this.path });
      const bytes = readData(this.host.mount, this.ip, at, length);
      buffer.set(bytes, offset);
      if (position === null) this.position = at + bytes.length;
      this.host.touchAtime(this.ip);
      return { bytesRead: bytes.length, buffer };
    });
  }

  write(
    data: Uint8Array | string,
    offset = 0,
    length?: number,
    position: number | null = null,
  ): Promise<{ bytesWritten: number }> {
    const bytes = toBytes(data);
    const size = length ?? bytes.length - offset;
    return this.host.op('write', { fd: this.fd, data: loggedData(bytes), offset, length, position }, () => {
      this.check('write', 'write');
      if (bytes === INVALID_DATA)
        throw new FsError('EINVAL', 'data must be a string or a Uint8Array', { path: this.path });
      if (offset < 0 || size < 0 || offset + size > bytes.length) {
        throw new FsError('EINVAL', 'offset/length outside the buffer', { path: this.path });
      }
      this.host.mount.checkWritable(this.path);
      const at = this.access.append ? this.ip.ino.size : (position ?? this.position);
      if (!Number.isInteger(at) || at < 0) throw new FsError('EINVAL', `invalid position ${at}`, { path: this.path });
      writeData(this.host.mount, this.ip, at, bytes.subarray(offset, offset + size), this.path);
      if (position === null || this.access.append) this.position = at + size;
      return { bytesWritten: size };
    });
  }

  readFile(): Promise<Buffer> {
    return this.host.op('readFile', { fd: this.fd }, () => {
      this.check('readFile', 'read');
      const bytes = readData(this.host.mount, this.ip, 0, this.ip.ino.size);
      this.host.touchAtime(this.ip);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    });
  }

  truncate(length = 0): Promise<void> {
    return this.host.op('ftruncate', { fd: this.fd, length }, () => {
      this.check('truncate', 'none');
      // Not open for writing: EINVAL, as ftruncate(2) answers on Linux and the BSDs (POSIX allows EBADF too).
      if (!this.access.write) throw new FsError('EINVAL', 'the handle was not opened for writing', { path: this.path });
      this.host.mount.checkWritable(this.path);
      truncateData(this.host.mount, this.ip, length, this.path);
    });
  }

  sync(): Promise<void> {
    return this.host.opAsync('fsync', { fd: this.fd }, async () => {
      this.check('sync', 'none');
      if (!this.ip.has(InodeFlag.RO)) await this.host.fsync(this.ip);
    });
  }

  datasync(): Promise<void> {
    return this.sync();
  }

  stat(): Promise<Stats> {
    return this.host.op('fstat', { fd: this.fd }, () => {
      this.check('stat', 'none');
      return this.host.stats(this.ip);
    });
  }

  close(): Promise<void> {
    return this.host.op('close', { fd: this.fd }, () => {
      if (!this.open) return;
      this.open = false;
      this.host.closed(this);
      this.host.mount.rel(this.ip);
    });
  }

  /** Unmount closes what is still open. */
  forceClose(): void {
    if (!this.open) return;
    this.open = false;
    this.host.mount.rel(this.ip);
  }

  get inode(): Inode {
    return this.ip;
  }

  /** The view of the filesystem it was opened through (its caller). */
  get opener(): HandleHost {
    return this.host;
  }

  /** What a replay checkpoint keeps of the handle (its inode, opener and number kept by the caller). */
  get state(): { path: string; access: HandleAccess; position: number; open: boolean } {
    return { path: this.path, access: { ...this.access }, position: this.position, open: this.open };
  }

  /**
   * A handle as a replay checkpoint recorded it (a resumed mount). A closed
   * one answers every call EBADF before it would look at `ip`.
   */
  static resume(
    fd: number,
    ip: Inode,
    host: HandleHost,
    state: { path: string; access: HandleAccess; position: number; open: boolean },
  ): FileHandle {
    const handle = new FileHandle(fd, ip, host, state.access, state.path);
    handle.position = state.position;
    handle.open = state.open;
    return handle;
  }
}

/** What an open's flags allow a handle (actors/fs.ts OPEN_FLAGS). */
export interface HandleAccess {
  read: boolean;
  write: boolean;
  append: boolean;
}

/** Data for a write: a string (UTF-8) or bytes; anything else is EINVAL, thrown inside the returned promise. */
export function toBytes(data: unknown): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  return INVALID_DATA;
}

/** A marker the operations reject with EINVAL (keeps toBytes total, so callers throw inside their promise). */
export const INVALID_DATA = new Uint8Array(0);

/** Write data as a command logs it: the bytes, or null for data that was neither a string nor bytes (EINVAL). */
export function loggedData(bytes: Uint8Array): Uint8Array | null {
  return bytes === INVALID_DATA ? null : bytes;
}
