import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { assert } from './assert.js';
import { FsError } from './errors.js';
import { VolumeLock } from './volume-lock.js';

/**
 * The bottom of the storage stack (SQLite's VFS). Everything above talks to a
 * BlockDevice and never knows whether it is a file, a memory image, a crash
 * recorder or a fault injector. I/O is synchronous on purpose: the flush logic
 * runs to completion without awaits (see DESIGN.md, "Actors, measured").
 */
export interface BlockDevice {
  /** Size in bytes; reads and writes stay inside [0, size). */
  readonly size: number;
  /** Fill `target` with the bytes at `offset`. Throws EIO on a short or failed read. */
  read(offset: number, target: Uint8Array): void;
  /** Write `data` at `offset`. Not durable until fsync returns. */
  write(offset: number, data: Uint8Array): void;
  /** Make every write issued before this call durable. */
  fsync(): void;
  close(): void;
  /**
   * Optional: allocate [offset, offset + length) now (a file device writes
   * zeros there), so later writes into that range do not allocate and their
   * fsyncs commit no file-system metadata. Contents are unspecified.
   */
  reserve?(offset: number, length: number): void;
  /** Optional: a device opened read-only starts accepting writes (a remount read-write). */
  makeWritable?(): void;
}

function checkRange(device: BlockDevice, offset: number, length: number, op: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > device.size) {
    throw new FsError(
      'EIO',
      `${op} of ${length} bytes at offset ${offset} is outside the device (size ${device.size})`,
    );
  }
}

/**
 * A raw file, positional I/O, real fsync. Opened for writing, it holds the
 * volume's lock (storage/volume-lock.ts) until closed: a second writer gets
 * EBUSY, before anything is read or truncated.
 */
export class FileDevice implements BlockDevice {
  readonly size: number;
  readonly path: string;
  private fd: number;
  private lock: VolumeLock | undefined;

  private constructor(
    path: string,
    fd: number,
    size: number,
    lock: VolumeLock | undefined,
    private readonly durable = true,
  ) {
    this.path = path;
    this.fd = fd;
    this.size = size;
    this.lock = lock;
  }

  /** Create (or truncate) a file of `size` bytes, sparse. */
  static create(path: string, size: number): FileDevice {
    const lock = VolumeLock.acquire(path);
    try {
      const fd = openSync(path, 'w+');
      ftruncateSync(fd, size);
      return new FileDevice(path, fd, size, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /**
   * Open an existing file; its size is whatever the file holds. `durable:
   * false` makes fsync a no-op: for a scratch volume nobody needs after a
   * crash of this process (a replay's), never for a user's volume.
   */
  static open(path: string, options: { readOnly?: boolean; durable?: boolean } = {}): FileDevice {
    let fd: number;
    try {
      fd = openSync(path, options.readOnly ? 'r' : 'r+');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new FsError('ENOENT', 'no such volume file', { path });
      if (code === 'EISDIR') throw new FsError('EINVAL', 'a directory is not a volume', { path });
      throw error;
    }
    const stat = fstatSync(fd);
    if (stat.isDirectory()) {
      closeSync(fd);
      throw new FsError('EINVAL', 'a directory is not a volume', { path });
    }
    let lock: VolumeLock | undefined;
    try {
      if (!options.readOnly) lock = VolumeLock.acquire(path);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return new FileDevice(path, fd, stat.size, lock, options.durable ?? true);
  }

  read(offset: number, target: Uint8Array): void {
    checkRange(this, offset, target.length, 'read');
    let done = 0;
    while (done < target.length) {
      const n = readSync(this.fd, target, done, target.length - done, offset + done);
      if (n === 0) throw new FsError('EIO', `short read at offset ${offset + done} of ${this.path}`);
      done += n;
    }
  }

  write(offset: number, data: Uint8Array): void {
    checkRange(this, offset, data.length, 'write');
    let done = 0;
    while (done < data.length) {
      done += writeSync(this.fd, data, done, data.length - done, offset + done);
    }
  }

  /** Write zeros over the range, so the file system allocates it once, here (mkfs, for the FIFO). */
  reserve(offset: number, length: number): void {
    checkRange(this, offset, length, 'reserve');
    const zeros = new Uint8Array(Math.min(length, 1024 * 1024));
    for (let done = 0; done < length; done += zeros.length) {
      const n = Math.min(zeros.length, length - done);
      writeSync(this.fd, zeros, 0, n, offset + done);
    }
  }

  fsync(): void {
    if (this.durable) fsyncSync(this.fd);
  }

  /** Reopen the file for writing (a remount read-write of a volume opened read-only). */
  makeWritable(): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r+');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new FsError('EROFS', `the volume file cannot be opened for writing (${code})`, { path: this.path });
    }
    try {
      this.lock ??= VolumeLock.acquire(this.path);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    closeSync(this.fd);
    this.fd = fd;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.lock?.release();
    this.lock = undefined;
  }
}

export const PAGE_BYTES = 4096;

/**
 * An in-memory device made of immutable 4 KiB pages. A clone shares every page
 * (copy-on-write), so the crash recorder can hand out thousands of images of a
 * 256 MiB volume cheaply. Pages never written read as zeros.
 */
export class MemDevice implements BlockDevice {
  readonly size: number;
  private pages: Map<number, Uint8Array>;

  constructor(size: number, pages: Map<number, Uint8Array> = new Map()) {
    assert(size % PAGE_BYTES === 0, 'MemDevice size is a multiple of 4 KiB');
    this.size = size;
    this.pages = pages;
  }

  clone(): MemDevice {
    return new MemDevice(this.size, new Map(this.pages));
  }

  read(offset: number, target: Uint8Array): void {
    checkRange(this, offset, target.length, 'read');
    let done = 0;
    while (done < target.length) {
      const at = offset + done;
      const index = Math.floor(at / PAGE_BYTES);
      const within = at - index * PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, target.length - done);
      const page = this.pages.get(index);
      if (page === undefined) target.fill(0, done, done + n);
      else target.set(page.subarray(within, within + n), done);
      done += n;
    }
  }

  write(offset: number, data: Uint8Array): void {
    checkRange(this, offset, data.length, 'write');
    let done = 0;
    while (done < data.length) {
      const at = offset + done;
      const index = Math.floor(at / PAGE_BYTES);
      const within = at - index * PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, data.length - done);
      const old = this.pages.get(index);
      const page = new Uint8Array(PAGE_BYTES);
      if (old !== undefined && n < PAGE_BYTES) page.set(old);
      page.set(data.subarray(done, done + n), within);
      this.pages.set(index, page);
      done += n;
    }
  }

  fsync(): void {}

  close(): void {}

  /** Number of pages ever written (for tests and memory budgets). */
  get pageCount(): number {
    return this.pages.size;
  }
}
