import { produce } from 'immer';
import type { Observable, Subscription } from 'rxjs';
import { InodeFlag } from '../machines/inode-flags.js';
import { FsError, isFsError } from '../storage/errors.js';
import { ObjType, ROOT_OBJ_ID, TID_MAX } from '../storage/layout.js';
import {
  type BusEvent,
  type Dirent,
  type FileSystem,
  type OpenFlags,
  type PfsInfo,
  type RecoveryInfo,
  type Stats,
  UF_NOHISTORY,
  type Version,
} from './api.js';
import { readData, truncateData, writeData } from './file-data.js';
import { changeInode, FileHandle, type HandleHost, INVALID_DATA, toBytes } from './file-handle.js';
import type { Inode } from './inode.js';
import { pfsIdOf } from './keys.js';
import type { Mount } from './mount.js';
import {
  addEntry,
  addSymlinkRecord,
  checkDirectory,
  checkName,
  createInode,
  listEntries,
  readSymlink,
  removeEntry,
  symlinkBytes,
} from './namespace.js';
import { type Resolved, resolvePath, splitPath } from './resolve.js';
import { createPfs, destroyPfs, history, listPfs, listSnapshots, recordSnapshot } from './versions.js';

const S_IFMT = 0o170000;
const TYPE_BITS: Record<number, number> = {
  [ObjType.DIRECTORY]: 0o040000,
  [ObjType.REGFILE]: 0o100000,
  [ObjType.SOFTLINK]: 0o120000,
};

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
export class HammerFs implements FileSystem, HandleHost {
  readonly events: Observable<BusEvent>;
  readonly recovery: RecoveryInfo;
  private readonly root: Inode;
  private readonly handles = new Map<number, FileHandle>();
  private nextFd = 3;
  private mounted = true;
  private readonly timers: Subscription | undefined;

  constructor(
    readonly mount: Mount,
    private readonly pfsId: number,
    private readonly noatime: boolean,
    timers: () => Subscription | undefined,
  ) {
    this.events = mount.bus.events;
    const report = mount.volume.recovery;
    this.recovery = {
      spanRecords: report.records,
      undone: report.undone,
      redoPending: report.redo.length,
      redoReplayed: 0,
    };
    const root = mount.get(pfsId * 0x10000, ROOT_OBJ_ID);
    if (root === undefined) throw new FsError('EIO', `PFS ${pfsId} has no root inode`);
    this.root = root;
    mount.ref(root);
    this.timers = timers();
  }

  /** An operation whose body awaits (fsync waits for its flush group). */
  async opAsync<T>(type: string, args: Record<string, unknown>, body: () => Promise<T>): Promise<T> {
    if (!this.mounted) throw new FsError('EIO', `${type}: the filesystem is unmounted`);
    this.mount.bus.command(type, args);
    try {
      return await body();
    } catch (error) {
      throw toFsError(error, typeof args.path === 'string' ? args.path : undefined);
    }
  }

  async op<T>(type: string, args: Record<string, unknown>, body: () => T): Promise<T> {
    if (!this.mounted) throw new FsError('EIO', `${type}: the filesystem is unmounted`);
    this.mount.bus.command(type, args);
    try {
      return body();
    } catch (error) {
      throw toFsError(error, typeof args.path === 'string' ? args.path : undefined);
    }
  }

  /** An operation that changes the volume: waits out reclaim back-pressure first, then autoflushes. */
  private async change<T>(type: string, args: Record<string, unknown>, body: () => T): Promise<T> {
    if (!this.mounted) throw new FsError('EIO', `${type}: the filesystem is unmounted`);
    const wait = this.mount.reclaimWait('fs');
    if (wait !== undefined) await wait;
    const result = await this.op(type, args, () => {
      this.mount.checkWritable(typeof args.path === 'string' ? args.path : undefined);
      return body();
    });
    this.autoflush();
    return result;
  }

  /** Too many dirty inodes or too much dirty data: queue them into groups; the scheduler runs the groups. */
  private autoflush(): void {
    const mount = this.mount;
    const tooMany = mount.dirty.size >= 2 * mount.options.autoflush;
    const tooMuch = mount.dirtyDataBytes > mount.options.dirtyDataLimitBytes;
    if (!tooMany && !tooMuch) return;
    mount.runSafely(() => {
      mount.flusher.stage(() => {
        for (const ip of mount.dirtyInodes()) if (ip.state !== 'flush') mount.flusher.flushInode(ip);
      });
      if (tooMuch) mount.flusher.runAll();
      else mount.flusher.runClosed();
    });
    if (mount.failed) throw mount.failed;
  }

  private resolve(path: string, follow = true): Resolved {
    return resolvePath(this.mount, this.root, path, { follow });
  }

  private existing(path: string, follow = true): Inode {
    const r = this.resolve(path, follow);
    if (r.ip === undefined) throw new FsError('ENOENT', 'no such file or directory', { path });
    return r.ip;
  }

  /** The parent directory and new name for a create; EROFS through an as-of path. */
  private forCreate(path: string): Resolved {
    const r = resolvePath(this.mount, this.root, path, { follow: false, parentOnly: true });
    if (r.asof !== TID_MAX || r.parent.has(InodeFlag.RO))
      throw new FsError('EROFS', 'an as-of view is read-only', { path });
    if (r.name === '') throw new FsError('EEXIST', 'file exists', { path });
    checkName(r.name, path);
    return r;
  }

  private writable(ip: Inode, path: string): void {
    if (ip.has(InodeFlag.RO)) throw new FsError('EROFS', 'an as-of view is read-only', { path });
  }

  stats(ip: Inode): Stats {
    const ino = ip.view();
    const type = ino.objType;
    return {
      ino: ip.objId,
      mode: (TYPE_BITS[type] ?? 0) | (ino.mode & 0o7777),
      nlink: ino.nlinks,
      uid: ino.uid,
      gid: ino.gid,
      size: ino.size,
      atimeMs: ino.atime / 1000,
      mtimeMs: ino.mtime / 1000,
      ctimeMs: ino.ctime / 1000,
      tid: ip.leaf?.createTid ?? 0,
      flags: ino.uflags,
      isFile: () => type === ObjType.REGFILE,
      isDirectory: () => type === ObjType.DIRECTORY,
      isSymbolicLink: () => type === ObjType.SOFTLINK,
    };
  }

  touchAtime(ip: Inode): void {
    if (this.noatime || ip.has(InodeFlag.RO) || this.mount.readOnly || this.mount.failed) return;
    const now = this.mount.clock.now();
    this.mount.modified(
      ip,
      InodeFlag.ATIME,
      produce(ip.ino, (draft) => {
        draft.atime = now;
      }),
    );
    this.mount.inodeSettled(ip);
  }

  /**
   * fsync: durable when it returns. After the inode's first full flush, its
   * writes went to the REDO log as well, and when nothing but such writes is
   * pending only the FIFO is written and fsynced (HAMMER's fsync mode 2).
   * Otherwise the inode (and whatever it depends on) is flushed.
   */
  async fsync(ip: Inode): Promise<void> {
    const mount = this.mount;
    mount.checkWritable(undefined);
    const pending = () => ip.dirty || ip.state !== 'idle' || ip.records.size > 0;
    if (!pending()) return;
    if (ip.redoMode && ip.has(InodeFlag.ONDISK) && !ip.structural) {
      mount.volume.syncRedo();
      mount.bus.fact(ip.id, 'REDO_FSYNC', { redoStart: ip.redoFifoStart });
      return;
    }
    // flush_inode with SIGNAL closes the inode's group and asks the scheduler to run it;
    // wait_inode waits for that flush to complete (FLUSHW), as the seed's fsync does.
    mount.runSafely(() => mount.flusher.flushInode(ip, { signal: true }));
    if (mount.failed) throw mount.failed;
    // In SETUP (CONN_DOWN: its parents could not join, e.g. past the depth limit) nothing
    // would run it soon: the sync below flushes the parents first instead of waiting.
    if (ip.state === 'flush') await mount.flusher.waitInode(ip);
    if (mount.failed) throw mount.failed;
    // Still waiting (CONN_DOWN: a parent chain past the depth limit, or in another group):
    // flush everything, parents first, as the periodic sync would.
    if (pending()) mount.syncAll();
    if (mount.failed) throw mount.failed;
    if (pending()) throw new FsError('EIO', `fsync of inode ${ip.objId} left it unflushed`);
    ip.redoMode = true;
    ip.redoBytes = 0;
    ip.structural = false;
  }

  closed(handle: FileHandle): void {
    this.handles.delete(handle.fd);
  }

  // --- directories ----------------------------------------------------

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

  private makeDirectory(path: string, mode = 0o755): void {
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
      ? this.change('open', { path, flags }, body)
      : this.op('open', { path, flags }, body);
  }

  private forCreateExclusive(path: string): Resolved {
    const r = resolvePath(this.mount, this.root, path, { follow: false, parentOnly: true });
    if (r.ip !== undefined) throw new FsError('EEXIST', 'file exists', { path });
    if (r.asof !== TID_MAX || r.parent.has(InodeFlag.RO))
      throw new FsError('EROFS', 'an as-of view is read-only', { path });
    checkName(r.name, path);
    return r;
  }

  /** open(O_CREAT) resolution: the existing file (symlinks followed) or the parent to create in. */
  private forCreateOrExisting(path: string): Resolved {
    const r = resolvePath(this.mount, this.root, path, { follow: true, parentOnly: true });
    if (r.ip !== undefined) return r;
    if (r.asof !== TID_MAX || r.parent.has(InodeFlag.RO))
      throw new FsError('EROFS', 'an as-of view is read-only', { path });
    checkName(r.name, path);
    return r;
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
    return this.change('writeFile', { path, bytes: bytes.length }, () => {
      if (bytes === INVALID_DATA) throw new FsError('EINVAL', 'data must be a string or a Uint8Array', { path });
      const r = this.forCreateOrExisting(path);
      let ip = r.ip;
      if (ip === undefined) {
        const spec = { objType: ObjType.REGFILE, mode: options.mode ?? 0o644, withRecords: bytes.length > 0 };
        ip = createInode(this.mount, r.parent, r.name, spec, path);
      } else {
        if (ip.isDirectory) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
        this.writable(ip, path);
        if (ip.ino.size > 0) truncateData(this.mount, ip, 0, path);
      }
      writeData(this.mount, ip, 0, bytes, path);
      this.mount.inodeSettled(ip);
    });
  }

  appendFile(path: string, data: Uint8Array | string): Promise<void> {
    const bytes = toBytes(data);
    return this.change('appendFile', { path, bytes: bytes.length }, () => {
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

  // --- names -----------------------------------------------------------

  /** Remove the entry `r` names from `dir`; the inode is deleted when its last link and reference go. */
  private unlinkEntry(dir: Inode, r: Resolved, ip: Inode, path: string): void {
    if (r.entry === undefined) throw new FsError('ENOENT', 'no such file or directory', { path });
    this.mount.ref(ip);
    try {
      removeEntry(this.mount, dir, r.entry, ip, path);
    } finally {
      this.mount.rel(ip);
    }
    this.mount.inodeSettled(dir);
  }

  unlink(path: string): Promise<void> {
    return this.change('unlink', { path }, () => {
      const r = this.forCreate(path);
      const ip = r.ip;
      if (ip === undefined) throw new FsError('ENOENT', 'no such file or directory', { path });
      if (ip.isDirectory) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
      this.unlinkEntry(r.parent, r, ip, path);
    });
  }

  link(existing: string, newPath: string): Promise<void> {
    return this.change('link', { path: newPath, existing }, () => {
      const ip = this.existing(existing, false);
      if (ip.isDirectory) throw new FsError('EPERM', 'hard links to directories are not allowed', { path: existing });
      this.writable(ip, existing);
      const r = this.forCreate(newPath);
      if (r.ip !== undefined) throw new FsError('EEXIST', 'file exists', { path: newPath });
      if (r.parent.localization !== ip.localization)
        throw new FsError('EXDEV', 'a link cannot cross PFSes', { path: newPath });
      checkDirectory(r.parent, newPath);
      if (r.parent.ino.nlinks === 0) throw new FsError('EINVAL', 'the directory has been deleted', { path: newPath });
      addEntry(this.mount, r.parent, r.name, ip, newPath);
      this.mount.inodeSettled(ip);
    });
  }

  symlink(target: string, path: string): Promise<void> {
    return this.change('symlink', { path, target }, () => {
      if (typeof target !== 'string' || target.length === 0)
        throw new FsError('ENOENT', 'empty symlink target', { path });
      const r = this.forCreate(path);
      if (r.ip !== undefined) throw new FsError('EEXIST', 'file exists', { path });
      const { inline, bytes } = symlinkBytes(target);
      const ip = createInode(
        this.mount,
        r.parent,
        r.name,
        { objType: ObjType.SOFTLINK, mode: 0o777, symlink: inline, size: bytes.length },
        path,
      );
      if (inline === undefined) addSymlinkRecord(this.mount, ip, bytes, path);
      this.mount.inodeSettled(ip);
    });
  }

  readlink(path: string): Promise<string> {
    return this.op('readlink', { path }, () => {
      const ip = this.existing(path, false);
      if (ip.ino.objType !== ObjType.SOFTLINK) throw new FsError('EINVAL', 'not a symbolic link', { path });
      return readSymlink(this.mount, ip);
    });
  }

  /**
   * rename(2): the new entry first, then the old one goes (and a replaced
   * target's entry before both). A directory moved elsewhere gets its new
   * parent; moving a directory under itself is EINVAL.
   */
  rename(from: string, to: string): Promise<void> {
    return this.change('rename', { path: from, to }, () => {
      const source = this.forCreate(from);
      const ip = source.ip;
      if (ip === undefined || source.entry === undefined)
        throw new FsError('ENOENT', 'no such file or directory', { path: from });
      const target = this.forCreate(to);
      checkDirectory(target.parent, to);
      if (target.parent.localization !== ip.localization)
        throw new FsError('EXDEV', 'a rename cannot cross PFSes', { path: to });
      if (target.parent.ino.nlinks === 0) throw new FsError('EINVAL', 'the directory has been deleted', { path: to });
      if (target.ip === ip) return;
      if (ip.isDirectory) this.checkNotUnder(ip, target.parent, to);
      this.mount.ref(ip);
      try {
        if (target.ip !== undefined) this.replaceTarget(target, ip, to);
        addEntry(this.mount, target.parent, target.name, ip, to);
        const again = this.forCreate(from);
        removeEntry(this.mount, source.parent, again.entry ?? source.entry, ip, from);
        if (ip.isDirectory && ip.ino.parentObjId !== target.parent.objId) {
          const parentObjId = target.parent.objId;
          this.mount.modified(
            ip,
            InodeFlag.DDIRTY,
            produce(ip.ino, (d) => {
              d.parentObjId = parentObjId;
            }),
          );
        }
      } finally {
        this.mount.rel(ip);
      }
      this.mount.inodeSettled(source.parent);
      this.mount.inodeSettled(target.parent);
    });
  }

  private replaceTarget(target: Resolved, ip: Inode, to: string): void {
    const victim = target.ip;
    if (victim === undefined) return;
    if (victim.isDirectory && !ip.isDirectory)
      throw new FsError('EISDIR', 'cannot overwrite a directory with a file', { path: to });
    if (!victim.isDirectory && ip.isDirectory)
      throw new FsError('ENOTDIR', 'cannot overwrite a file with a directory', { path: to });
    if (victim.isDirectory && listEntries(this.mount, victim, TID_MAX).length > 0) {
      throw new FsError('ENOTEMPTY', 'directory not empty', { path: to });
    }
    this.unlinkEntry(target.parent, target, victim, to);
  }

  private checkNotUnder(dir: Inode, parent: Inode, path: string): void {
    for (let cur: Inode | undefined = parent, depth = 0; cur !== undefined; depth++) {
      if (cur === dir) throw new FsError('EINVAL', 'cannot move a directory under itself', { path });
      if (cur.objId === ROOT_OBJ_ID || depth > 100_000) return;
      cur = this.mount.get(cur.localization, cur.ino.parentObjId);
    }
  }

  // --- attributes ---------------------------------------------------------

  utimes(path: string, atime: number | Date, mtime: number | Date): Promise<void> {
    return this.change('utimes', { path }, () => {
      const ip = this.existing(path);
      this.writable(ip, path);
      const a = toMicros(atime, path);
      const m = toMicros(mtime, path);
      ip.structural = true;
      this.mount.modified(
        ip,
        InodeFlag.ATIME | InodeFlag.MTIME,
        produce(ip.ino, (draft) => {
          draft.atime = a;
          draft.mtime = m;
        }),
      );
      this.mount.inodeSettled(ip);
    });
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.change('chmod', { path, mode }, () => {
      const ip = this.existing(path);
      this.writable(ip, path);
      if (!Number.isInteger(mode) || mode < 0) throw new FsError('EINVAL', `invalid mode ${mode}`, { path });
      changeInode(this.mount, ip, (d) => {
        d.mode = mode & 0o7777 & ~S_IFMT;
      });
      this.mount.inodeSettled(ip);
    });
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.change('chown', { path, uid, gid }, () => {
      const ip = this.existing(path);
      this.writable(ip, path);
      for (const id of [uid, gid]) {
        if (!Number.isInteger(id) || id < 0 || id > 0xffffffff)
          throw new FsError('EINVAL', `invalid id ${id}`, { path });
      }
      changeInode(this.mount, ip, (d) => {
        d.uid = uid;
        d.gid = gid;
      });
      this.mount.inodeSettled(ip);
    });
  }

  chflags(path: string, flags: number): Promise<void> {
    return this.change('chflags', { path, flags }, () => {
      const ip = this.existing(path);
      this.writable(ip, path);
      if (!Number.isInteger(flags) || flags < 0 || (flags & ~UF_NOHISTORY) !== 0) {
        throw new FsError('EINVAL', `unsupported flags 0x${flags.toString(16)} (only UF_NOHISTORY 0x40)`, { path });
      }
      ip.structural = true;
      this.mount.modified(
        ip,
        InodeFlag.DDIRTY,
        produce(ip.ino, (draft) => {
          draft.uflags = flags;
          draft.ctime = this.mount.clock.now();
        }),
      );
      this.mount.inodeSettled(ip);
    });
  }

  // --- whole-filesystem -----------------------------------------------

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
    const failed = this.mount.failed ?? failure;
    if (failed !== undefined && !this.mount.readOnly) throw toFsError(failed, undefined);
  }
}

function toMicros(time: number | Date, path: string): number {
  const ms = time instanceof Date ? time.getTime() : typeof time === 'number' ? time * 1000 : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0) throw new FsError('EINVAL', `invalid time ${String(time)}`, { path });
  return Math.round(ms * 1000);
}

/** Any failure as an FsError: ours pass through, an invariant or unknown error becomes EIO naming it. */
export function toFsError(error: unknown, path: string | undefined): FsError {
  if (isFsError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const wrapped = new FsError('EIO', message, { path });
  if (error instanceof Error && error.stack !== undefined) wrapped.stack = error.stack;
  return wrapped;
}
