import { InodeFlag } from '../machines/inode-flags.js';
import { FsError } from '../storage/errors.js';
import { BIGBLOCK_BYTES, ObjType, ROOT_OBJ_ID, TID_MAX } from '../storage/layout.js';
import {
  type Caller,
  type Dirent,
  F_OK,
  type FileSystem,
  type MaintenanceOptions,
  type OpenFlags,
  type PfsInfo,
  type PruneReport,
  R_OK,
  type ReblockReport,
  type Stats,
  type StatsFs,
  type Version,
  W_OK,
  X_OK,
} from './api.js';
import { readData, truncateData, writeData } from './file-data.js';
import { FileHandle, INVALID_DATA, loggedData, toBytes } from './file-handle.js';
import { toFsError } from './fs-core.js';
import { FsNames } from './fs-names.js';
import type { Inode } from './inode.js';
import { pfsIdOf } from './keys.js';
import { pruneMounted, reblockMounted } from './maintenance.js';
import { listEntries } from './namespace.js';
import { cleanOrphans, finishTruncations } from './orphans.js';
import { remount, replayRedo } from './remount.js';
import { finalDot, resolvePath, splitPath } from './resolve.js';
import { INODE_RESERVE_BYTES } from './space.js';
import { DirEntry } from './stats.js';
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
        const parts = path.split('/').filter((p) => p.length > 0);
        for (const [index, part] of parts.entries()) {
          prefix += `/${part}`;
          const r = resolvePath(this.mount, this.root, prefix, { follow: true, parentOnly: true, caller: this.caller });
          if (r.ip !== undefined) {
            // As node's mkdir -p answers: a file where the directory goes is EEXIST, one on the way ENOTDIR.
            if (!r.ip.isDirectory)
              throw new FsError(index === parts.length - 1 ? 'EEXIST' : 'ENOTDIR', 'not a directory', { path: prefix });
            continue;
          }
          // Something there that did not resolve: a symlink to nothing, whose stat in node's mkdir -p fails, ENOENT.
          const here = resolvePath(this.mount, this.root, prefix, {
            follow: false,
            parentOnly: true,
            caller: this.caller,
          });
          if (here.ip !== undefined)
            throw new FsError('ENOENT', 'a dangling symbolic link on the way', { path: prefix });
          this.makeDirectory(prefix, options.mode);
        }
        return;
      }
      this.makeDirectory(path, options.mode);
    });
  }

  protected makeDirectory(path: string, mode = 0o755): void {
    const r = this.forCreate(path, true);
    if (r.ip !== undefined) throw new FsError('EEXIST', 'file exists', { path });
    const ip = this.create(r, { objType: ObjType.DIRECTORY, mode }, path);
    this.mount.inodeSettled(ip);
  }

  rmdir(path: string): Promise<void> {
    return this.change('rmdir', { path }, () => {
      if (splitPath(path).length === 0) throw new FsError('EBUSY', 'the root directory cannot be removed', { path });
      const dot = finalDot(path);
      if (dot !== undefined) {
        this.existing(path);
        if (dot === '.') throw new FsError('EINVAL', "rmdir of '.': name the directory itself", { path });
        throw new FsError('ENOTEMPTY', "rmdir of '..': the parent holds at least this directory", { path });
      }
      const r = this.forCreate(path);
      const ip = r.ip;
      if (ip === undefined || r.entry === undefined) throw new FsError('ENOENT', 'no such file or directory', { path });
      this.mayRemoveFrom(r.parent, ip, path);
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
      this.may(dir, R_OK, path);
      const entries = listEntries(this.mount, dir, dir.asof);
      if (!options?.withFileTypes) return entries.map((e) => e.name);
      return entries.map((e) => {
        const child =
          this.mount.get(e.localization, e.objId, dir.asof) ?? this.mount.dummy(e.localization, e.objId, dir.asof, 0);
        return new DirEntry(e.name, e.objId, child.ino.objType);
      });
    });
  }

  stat(path: string): Promise<Stats> {
    return this.op('stat', { path }, () => this.stats(this.existing(path)));
  }

  lstat(path: string): Promise<Stats> {
    return this.op('lstat', { path }, () => this.stats(this.existing(path, false)));
  }

  access(path: string, mode: number = F_OK): Promise<void> {
    return this.op('access', { path, mode }, () => {
      if (!Number.isInteger(mode) || mode < 0 || mode > (R_OK | W_OK | X_OK))
        throw new FsError('EINVAL', `invalid access mode ${String(mode)}`, { path });
      const ip = this.existing(path);
      if (mode & W_OK && (ip.has(InodeFlag.RO) || this.mount.readOnly))
        throw new FsError('EROFS', 'the file is on a read-only view or mount', { path });
      if (mode !== F_OK) this.may(ip, mode, path);
    });
  }

  /** The same filesystem, its calls checked as `caller` (validated: EINVAL), sharing handles, cache and volume. */
  as(caller: Caller): FileSystem {
    return this.view(caller ?? ({} as Caller));
  }

  protected view(caller: Caller): HammerFs {
    return new HammerFs(this.mount, this.pfsId, this.noatime, this.session, caller);
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
        ip = this.create(r, { objType: ObjType.REGFILE, mode }, path);
      } else {
        ip = r.ip;
        if (access.exclusive) throw new FsError('EEXIST', 'file exists', { path });
        if (ip.isDirectory && access.write) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
        if (access.write) this.writable(ip, path);
        this.may(ip, (access.read ? R_OK : 0) | (access.write ? W_OK : 0), path);
        if (access.truncate && ip.ino.size > 0) truncateData(this.mount, ip, 0, path);
      }
      if (ip.ino.objType === ObjType.SOFTLINK)
        throw new FsError('ELOOP', 'the path is a dangling or looping symbolic link', { path });
      this.mount.ref(ip);
      const handle = new FileHandle(this.session.nextFd++, ip, this, access, path);
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
      // Opened for reading first (EACCES), then read (EISDIR for a directory), as open(2) and read(2) go.
      this.may(ip, R_OK, path);
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
        ip = this.create(r, spec, path);
      } else {
        if (ip.isDirectory) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
        this.writable(ip, path);
        this.may(ip, W_OK, path);
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
      if (ip === undefined) {
        ip = this.create(r, { objType: ObjType.REGFILE, mode: 0o644 }, path);
      } else {
        if (ip.isDirectory) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
        this.writable(ip, path);
        this.may(ip, W_OK, path);
      }
      writeData(this.mount, ip, ip.ino.size, bytes, path);
      this.mount.inodeSettled(ip);
    });
  }

  truncate(path: string, length = 0): Promise<void> {
    return this.change('truncate', { path, length }, () => {
      const ip = this.existing(path);
      if (ip.isDirectory) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
      this.writable(ip, path);
      this.may(ip, W_OK, path);
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
      this.mount.checkDurable();
      this.mount.checkWritable(undefined);
      this.mount.syncAll();
      if (this.mount.failed) throw this.mount.failed;
      return this.mount.volume.header().lastCommitTid;
    });
  }

  snapshot(label = ''): Promise<number> {
    return this.op('snapshot', { label }, () => {
      this.mount.checkWritable(undefined);
      this.privileged('snapshot');
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

  prune(before: number, options: MaintenanceOptions = {}): Promise<PruneReport> {
    return this.op('prune', { before }, () => {
      this.mount.checkWritable(undefined);
      this.privileged('prune');
      return pruneMounted(this.mount, before, options.progress);
    });
  }

  reblock(fillPercent = 100, options: MaintenanceOptions = {}): Promise<ReblockReport> {
    return this.op('reblock', { fillPercent }, () => {
      this.mount.checkWritable(undefined);
      this.privileged('reblock');
      return reblockMounted(this.mount, fillPercent, options.progress);
    });
  }

  readonly pfs = {
    create: (label: string): Promise<PfsInfo> =>
      this.op('pfs.create', { label }, () => {
        this.mount.checkWritable(undefined);
        this.privileged('pfs.create');
        return createPfs(this.mount, label);
      }),
    list: (): Promise<PfsInfo[]> => this.op('pfs.list', {}, () => listPfs(this.mount)),
    destroy: (id: number): Promise<void> =>
      this.op('pfs.destroy', { id }, () => {
        this.mount.checkWritable(undefined);
        this.privileged('pfs.destroy');
        if (id === 0) throw new FsError('EINVAL', 'PFS 0 (the root PFS) cannot be destroyed');
        if (id === pfsIdOf(this.root.localization)) throw new FsError('ENOTEMPTY', `PFS ${id} is the mounted one`);
        // hammer_unload_pseudofs flushes what is dirty first; only referenced inodes keep the PFS busy.
        this.mount.syncAll();
        destroyPfs(this.mount, id);
      }),
  };

  /** Called once the volume is closed (the audit log ends its run), whichever view unmounts. */
  set afterUnmount(callback: (() => void) | undefined) {
    this.session.afterUnmount = callback;
  }

  remount(options: { readOnly: boolean }): Promise<void> {
    return this.op('remount', { readOnly: options?.readOnly }, () => {
      this.privileged('remount');
      remount(this.mount, options);
      this.session.timers?.unsubscribe();
      this.session.timers = this.session.startTimers();
      if (!this.mount.readOnly) {
        this.recovery.redoReplayed += replayRedo(this.mount);
        this.recovery.truncationsFinished += finishTruncations(this.mount);
        this.recovery.orphansDeleted += cleanOrphans(this.mount);
      }
    });
  }

  /**
   * Unmount. After a critical error (reported once, when it happened) the
   * in-memory state is torn down and nothing is written (the next mount
   * recovers the last commit); otherwise everything is flushed first.
   */
  async unmount(): Promise<void> {
    if (!this.mounted) return;
    this.mount.bus.command('unmount', {});
    this.session.timers?.unsubscribe();
    const failedBefore = this.mount.failed !== undefined;
    let failure: unknown;
    try {
      for (const handle of [...this.handles.values()]) handle.forceClose();
      this.handles.clear();
      if (!this.mount.readOnly && !this.mount.failed) this.mount.syncAll();
    } catch (error) {
      failure = error;
    }
    if (this.mount.failed) this.mount.destroyInodes();
    this.session.mounted = false;
    this.mount.flusher.wakeAll();
    this.mount.bus.complete();
    this.mount.volume.close();
    try {
      this.session.afterUnmount?.();
    } catch (error) {
      failure ??= error;
    }
    if (failure !== undefined && !failedBefore) throw toFsError(this.mount.failed ?? failure, undefined);
  }
}
