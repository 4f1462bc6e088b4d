import { FsError } from '../storage/errors.js';
import { BIGBLOCK_BYTES, ObjType, ROOT_OBJ_ID, TID_MAX } from '../storage/layout.js';
import type { Dirent, FileSystem, OpenFlags, PfsInfo, Stats, StatsFs, Version } from './api.js';
import { readData, truncateData, writeData } from './file-data.js';
import { FileHandle, INVALID_DATA, loggedData, toBytes } from './file-handle.js';
import { toFsError } from './fs-core.js';
import { FsNames } from './fs-names.js';
import type { Inode } from './inode.js';
import { pfsIdOf } from './keys.js';
import { createInode, listEntries } from './namespace.js';
import { resolvePath, splitPath } from './resolve.js';
import { INODE_RESERVE_BYTES } from './space.js';
import { createPfs, destroyPfs, history, listPfs, listSnapshots, recordSnapshot } from './versions.js';

export { toFsError };

/** HAMMER_BUFSIZE: statfs counts in these. */
const STATFS_BLOCK_BYTES = 16 * 1024;

const OPEN_FLAGS: Record<
  OpenFlags,
  { read: boolean; write: boolean; append: boolean; create: boolean; truncate: boolean; exclusive: boolean }
> = {
  r: { read: true, write: false, append: false, create: false, truncate: false, exclusive: false },
  'r+': { read: true, write: true, append: false, create: false, truncate: false, exclusive: false },
  w: { read: false, write: true, append: false, create: true, truncate: true, exclusive: false },
  'w+': { read: true, write: true, append: false, create: true, truncate: true, exclusive: false },
  a: { read: false, write: true, append: true, create: true, truncate: false, exclusive: false },
  'a+': { read: true, write: true, append: true, create: true, truncate: false, exclusive: false },
  wx: { read: false, write: true, append: false, create: true, truncate: true, exclusive: true },
  'wx+': { read: true, write: true, append: false, create: true, truncate: true, exclusive: true },
  ax: { read: false, write: true, append: true, create: true, truncate: false, exclusive: true },
  'ax+': { read: true, write: true, append: true, create: true, truncate: false, exclusive: true },
};

/**
 * The node:fs/promises-like front end over one mount. Every call runs
 * synchronously to completion inside its promise (no interleaving with the
 * flusher, which runs from the scheduler between calls), logs itself on the
 * bus as a command, and turns every failure into an FsError with a code.
 */
export class HammerFs extends FsNames implements FileSystem {
  mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    return this.change('mkdir', { path, ...options }, () => {
      if (options.recursive) {
        let prefix = '';
        for (const part of path.split('/').filter((p) => p.length > 0)) {
          prefix += `/${part}`;
          const r = resolvePath(this.mount, this.root, prefix, { follow: true, parentOnly: true });
          if (r.ip !== undefined) {
            if (!r.ip.isDirectory) throw new FsError('ENOTDIR', 'not a directory', { path: prefix });
            continue;
          }
          this.makeDirectory(prefix, options.mode);
        }
        return;
      }
      this.makeDirectory(path, options.mode);
    });
  }

  protected makeDirectory(path: string, mode = 0o755): void {
    const r = this.forCreate(path);
    if (r.ip !== undefined) throw new FsError('EEXIST', 'file exists', { path });
    const ip = createInode(this.mount, r.parent, r.name, { objType: ObjType.DIRECTORY, mode }, path);
    this.mount.inodeSettled(ip);
  }

  rmdir(path: string): Promise<void> {
    return this.change('rmdir', { path }, () => {
      if (splitPath(path).length === 0) throw new FsError('EBUSY', 'the root directory cannot be removed', { path });
      const r = this.forCreate(path);
      const ip = r.ip;
      if (ip === undefined || r.entry === undefined) throw new FsError('ENOENT', 'no such file or directory', { path });
      if (!ip.isDirectory) throw new FsError('ENOTDIR', 'not a directory', { path });
      if (ip.objId === ROOT_OBJ_ID) throw new FsError('EBUSY', 'the root directory cannot be removed', { path });
      if (listEntries(this.mount, ip, TID_MAX).length > 0)
        throw new FsError('ENOTEMPTY', 'directory not empty', { path });
      this.unlinkEntry(r.parent, r, ip, path);
    });
  }

  readdir(path: string): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true }): Promise<Dirent[]>;
  readdir(path: string, options?: { withFileTypes?: boolean }): Promise<string[] | Dirent[]> {
    return this.op('readdir', { path }, () => {
      const dir = this.existing(path);
      if (!dir.isDirectory) throw new FsError('ENOTDIR', 'not a directory', { path });
      const entries = listEntries(this.mount, dir, dir.asof);
      if (!options?.withFileTypes) return entries.map((e) => e.name);
      return entries.map((e) => {
        const child =
          this.mount.get(e.localization, e.objId, dir.asof) ?? this.mount.dummy(e.localization, e.objId, dir.asof, 0);
        const type = child.ino.objType;
        return {
          name: e.name,
          ino: e.objId,
          isFile: () => type === ObjType.REGFILE,
          isDirectory: () => type === ObjType.DIRECTORY,
          isSymbolicLink: () => type === ObjType.SOFTLINK,
        };
      });
    });
  }

  stat(path: string): Promise<Stats> {
    return this.op('stat', { path }, () => this.stats(this.existing(path)));
  }

  lstat(path: string): Promise<Stats> {
    return this.op('lstat', { path }, () => this.stats(this.existing(path, false)));
  }

  // --- files -----------------------------------------------------------

  async open(path: string, flags: OpenFlags = 'r', mode = 0o644): Promise<FileHandle> {
    const access = OPEN_FLAGS[flags];
    if (access === undefined) throw new FsError('EINVAL', `unknown open flags '${String(flags)}'`, { path });
    const body = () => {
      let ip: Inode;
      // O_CREAT|O_EXCL does not follow a symlink in the last component: it exists (EEXIST).
      const r = access.exclusive
        ? this.forCreateExclusive(path)
        : access.create
          ? this.forCreateOrExisting(path)
          : this.resolve(path);
      if (r.ip === undefined) {
        ip = createInode(this.mount, r.parent, r.name, { objType: ObjType.REGFILE, mode }, path);
      } else {
        ip = r.ip;
        if (access.exclusive) throw new FsError('EEXIST', 'file exists', { path });
        if (ip.isDirectory && access.write) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
        if (access.write) this.writable(ip, path);
        if (access.truncate && ip.ino.size > 0) truncateData(this.mount, ip, 0, path);
      }
      if (ip.ino.objType === ObjType.SOFTLINK)
        throw new FsError('ELOOP', 'the path is a dangling or looping symbolic link', { path });
      this.mount.ref(ip);
      const handle = new FileHandle(this.nextFd++, ip, this, access, path);
      this.handles.set(handle.fd, handle);
      return handle;
    };
    return access.write || access.create
      ? this.change('open', { path, flags, mode }, body)
      : this.op('open', { path, flags, mode }, body);
  }

  readFile(path: string): Promise<Buffer>;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  readFile(path: string, encoding?: 'utf8'): Promise<Buffer | string> {
    return this.op('readFile', { path }, () => {
      const ip = this.existing(path);
      if (ip.isDirectory) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
      const bytes = readData(this.mount, ip, 0, ip.ino.size);
      this.touchAtime(ip);
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      return encoding === 'utf8' ? buffer.toString('utf8') : buffer;
    });
  }

  writeFile(path: string, data: Uint8Array | string, options: { mode?: number } = {}): Promise<void> {
    const bytes = toBytes(data);
    return this.change('writeFile', { path, data: loggedData(bytes), mode: options.mode }, () => {
      if (bytes === INVALID_DATA) throw new FsError('EINVAL', 'data must be a string or a Uint8Array', { path });
      const r = this.forCreateOrExisting(path);
      let ip = r.ip;
      if (ip === undefined) {
        const spec = { objType: ObjType.REGFILE, mode: options.mode ?? 0o644, withRecords: bytes.length > 0 };
        ip = createInode(this.mount, r.parent, r.name, spec, path);
      } else {
        if (ip.isDirectory) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
        this.writable(ip, path);
        if (ip.ino.size > 0) truncateData(this.mount, ip, 0, path, bytes.length > 0);
      }
      writeData(this.mount, ip, 0, bytes, path);
      this.mount.inodeSettled(ip);
    });
  }

  appendFile(path: string, data: Uint8Array | string): Promise<void> {
    const bytes = toBytes(data);
    return this.change('appendFile', { path, data: loggedData(bytes) }, () => {
      if (bytes === INVALID_DATA) throw new FsError('EINVAL', 'data must be a string or a Uint8Array', { path });
      const r = this.forCreateOrExisting(path);
      let ip = r.ip;
      if (ip === undefined)
        ip = createInode(this.mount, r.parent, r.name, { objType: ObjType.REGFILE, mode: 0o644 }, path);
      if (ip.isDirectory) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
      this.writable(ip, path);
      writeData(this.mount, ip, ip.ino.size, bytes, path);
      this.mount.inodeSettled(ip);
    });
  }

  truncate(path: string, length = 0): Promise<void> {
    return this.change('truncate', { path, length }, () => {
      const ip = this.existing(path);
      if (ip.isDirectory) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
      this.writable(ip, path);
      truncateData(this.mount, ip, length, path);
      this.mount.inodeSettled(ip);
    });
  }

  // --- the whole filesystem --------------------------------------------

  /** hammer_vfs_statfs: sizes from the volume, free space as the reservation sees it (so df agrees with ENOSPC). */
  statfs(path = '/'): Promise<StatsFs> {
    return this.op('statfs', { path }, () => {
      this.existing(path);
      const volume = this.mount.volume.stats();
      const available = Math.max(0, this.mount.space.available());
      const free = Math.floor(available / STATFS_BLOCK_BYTES);
      return {
        bsize: STATFS_BLOCK_BYTES,
        blocks: (volume.bigblocks * BIGBLOCK_BYTES) / STATFS_BLOCK_BYTES,
        bfree: free,
        bavail: free,
        files: volume.inodes,
        ffree: Math.floor(available / INODE_RESERVE_BYTES),
      };
    });
  }

  sync(): Promise<number> {
    return this.op('sync', {}, () => {
      this.mount.checkWritable(undefined);
      this.mount.syncAll();
      if (this.mount.failed) throw this.mount.failed;
      return this.mount.volume.header().lastCommitTid;
    });
  }

  snapshot(label = ''): Promise<number> {
    return this.op('snapshot', { label }, () => {
      this.mount.checkWritable(undefined);
      this.mount.syncAll();
      const tid = this.mount.volume.header().lastCommitTid;
      recordSnapshot(this.mount, this.pfsId, tid, label);
      return tid;
    });
  }

  snapshots(): Promise<Array<{ tid: number; label: string }>> {
    return this.op('snapshots', {}, () => listSnapshots(this.mount, this.pfsId));
  }

  history(path: string): Promise<Version[]> {
    return this.op('history', { path }, () => history(this.mount, this.existing(path, false)));
  }

  readonly pfs = {
    create: (label: string): Promise<PfsInfo> =>
      this.op('pfs.create', { label }, () => {
        this.mount.checkWritable(undefined);
        return createPfs(this.mount, label);
      }),
    list: (): Promise<PfsInfo[]> => this.op('pfs.list', {}, () => listPfs(this.mount)),
    destroy: (id: number): Promise<void> =>
      this.op('pfs.destroy', { id }, () => {
        this.mount.checkWritable(undefined);
        if (id === 0) throw new FsError('EINVAL', 'PFS 0 (the root PFS) cannot be destroyed');
        if (id === pfsIdOf(this.root.localization)) throw new FsError('ENOTEMPTY', `PFS ${id} is the mounted one`);
        // hammer_unload_pseudofs flushes what is dirty first; only referenced inodes keep the PFS busy.
        this.mount.syncAll();
        destroyPfs(this.mount, id);
      }),
  };

  /** Called once the volume is closed (the audit log ends its run). */
  afterUnmount: (() => void) | undefined;

  async unmount(): Promise<void> {
    if (!this.mounted) return;
    this.mount.bus.command('unmount', {});
    this.timers?.unsubscribe();
    let failure: unknown;
    try {
      for (const handle of [...this.handles.values()]) handle.forceClose();
      this.handles.clear();
      if (!this.mount.readOnly && !this.mount.failed) this.mount.syncAll();
    } catch (error) {
      failure = error;
    }
    this.mounted = false;
    this.mount.flusher.wakeAll();
    this.mount.bus.complete();
    this.mount.volume.close();
    try {
      this.afterUnmount?.();
    } catch (error) {
      failure ??= error;
    }
    const failed = this.mount.failed ?? failure;
    if (failed !== undefined && !this.mount.readOnly) throw toFsError(failed, undefined);
  }
}
