import type { Observable, Subscription } from 'rxjs';
import { InodeFlag } from '../machines/inode-flags.js';
import { FsError, isFsError } from '../storage/errors.js';
import { ROOT_OBJ_ID, TID_MAX } from '../storage/layout.js';
import { checkAccess, checkSticky, normalizeCaller, ROOT_CALLER } from './access.js';
import {
  type BusEvent,
  type Caller,
  type FileHandle as FileHandleApi,
  type RecoveryInfo,
  type Stats,
  W_OK,
  X_OK,
} from './api.js';
import { FileHandle, type HandleAccess, type HandleHost } from './file-handle.js';
import type { Inode } from './inode.js';
import { changedInode, type Mount } from './mount.js';
import { checkName, createInode, type NewInode, removeEntry } from './namespace.js';
import { type Resolved, resolvePath } from './resolve.js';
import { InodeStats, TYPE_BITS } from './stats.js';

/**
 * What every view of one mounted filesystem shares (the mount's own and each
 * `fs.as(...)`): the root, open handles and their fd numbers, whether it is
 * still mounted, the periodic sync, and what unmount calls at the end.
 */
export interface FsSession {
  readonly root: Inode;
  readonly recovery: RecoveryInfo;
  /** The mount's identity: calls made as it are logged without one. */
  readonly defaultCaller: Caller;
  readonly handles: Map<number, FileHandle>;
  nextFd: number;
  mounted: boolean;
  /** The periodic sync: started at mount, restarted by a remount. */
  readonly startTimers: () => Subscription | undefined;
  timers: Subscription | undefined;
  afterUnmount: (() => void) | undefined;
}

/**
 * What every front-end call shares: the mount, the root, open handles, the
 * command wrapper (logged on the bus, errors as FsError), back-pressure and
 * autoflush, path resolution for creates, stat, atime and fsync. The calls
 * themselves are in fs-names.ts (names and attributes) and fs.ts.
 */
/** FsCore.sessionMemo(): what a replay checkpoint keeps of the session. */
export interface SessionMemo {
  nextFd: number;
  handles: HandleMemo[];
}

export interface HandleMemo {
  fd: number;
  /** An open handle's inode (a closed one never reaches its inode again, which may be gone from the cache). */
  inode: string | null;
  caller: Caller;
  path: string;
  access: HandleAccess;
  position: number;
  open: boolean;
}

export abstract class FsCore implements HandleHost {
  readonly events: Observable<BusEvent>;
  readonly recovery: RecoveryInfo;
  /** The identity this view's calls are checked as. */
  readonly caller: Caller;
  protected readonly root: Inode;
  protected readonly session: FsSession;

  /**
   * The mount's filesystem (`timers` given: it starts the session) or one
   * more view of it (`fs.as`: the session given, shared).
   */
  constructor(
    readonly mount: Mount,
    protected readonly pfsId: number,
    protected readonly noatime: boolean,
    timers: (() => Subscription | undefined) | FsSession,
    caller?: Caller,
  ) {
    this.events = mount.bus.events;
    this.caller = caller === undefined ? ROOT_CALLER : normalizeCaller(caller);
    if (typeof timers !== 'function') {
      this.session = timers;
      this.root = timers.root;
      this.recovery = timers.recovery;
      return;
    }
    const report = mount.volume.recovery;
    this.recovery = {
      spanRecords: report.records,
      undone: report.undone,
      redoPending: report.redo.length,
      redoReplayed: 0,
      orphansDeleted: 0,
      truncationsFinished: 0,
      damage: [...report.damage],
    };
    const root = mount.get(pfsId * 0x10000, ROOT_OBJ_ID, mount.asof);
    if (root === undefined && mount.asof !== TID_MAX)
      throw new FsError('ENOENT', `PFS ${pfsId} has no root directory as of TID ${mount.asof}`);
    if (root === undefined) throw new FsError('EIO', `PFS ${pfsId} has no root inode`);
    this.root = root;
    mount.ref(root);
    this.session = {
      root,
      recovery: this.recovery,
      defaultCaller: this.caller,
      handles: new Map(),
      nextFd: 3,
      mounted: true,
      startTimers: timers,
      timers: timers(),
      afterUnmount: undefined,
    };
  }

  /**
   * The session as a replay checkpoint keeps it: the next fd and every
   * handle in `known` (the replay's, by fd: closed ones too, since a call on
   * one is still logged), each with its inode and the caller it was opened
   * as. Undefined when unmounted or when a handle is open that `known` lacks.
   */
  sessionMemo(known: ReadonlyMap<number, FileHandleApi>): SessionMemo | undefined {
    if (!this.session.mounted) return undefined;
    for (const fd of this.session.handles.keys()) if (!known.has(fd)) return undefined;
    const handles: HandleMemo[] = [];
    for (const [fd, api] of known) {
      const handle = api as FileHandle;
      const { state } = handle;
      handles.push({ fd, inode: state.open ? handle.inode.id : null, caller: handle.opener.caller, ...state });
    }
    return { nextFd: this.session.nextFd, handles };
  }

  /**
   * Go on from sessionMemo() (a mount resumed from a replay checkpoint):
   * the handles made again through views of the same callers, the open
   * ones holding their inode (`inodes`, the restored cache); returns them
   * all by fd. A closed handle never reaches its inode: the root stands in.
   */
  resumeSession(memo: SessionMemo, inodes: ReadonlyMap<string, Inode>): Map<number, FileHandle> {
    this.session.nextFd = memo.nextFd;
    const known = new Map<number, FileHandle>();
    for (const entry of memo.handles) {
      const ip = entry.inode === null ? this.root : inodes.get(entry.inode);
      if (ip === undefined) throw new Error(`open handle ${entry.fd}: ${entry.inode} is not cached`);
      const host = JSON.stringify(entry.caller) === JSON.stringify(this.caller) ? this : this.view(entry.caller);
      const handle = FileHandle.resume(entry.fd, ip, host, entry);
      if (entry.open) {
        this.mount.ref(ip);
        this.session.handles.set(entry.fd, handle);
      }
      known.set(entry.fd, handle);
    }
    return known;
  }

  /** Another view of this session as `caller` (fs.as). */
  protected abstract view(caller: Caller): FsCore;

  /** The root inode this session holds a reference to. */
  get rootInode(): Inode {
    return this.root;
  }

  protected get handles(): Map<number, FileHandle> {
    return this.session.handles;
  }

  protected get mounted(): boolean {
    return this.session.mounted;
  }

  /**
   * Every call starts here: it is logged on the bus as a command, with the
   * arguments replay needs to re-execute it, before anything else happens
   * (a wait for reclaim included), so the log orders commands as they came.
   */
  private begin(type: string, args: Record<string, unknown>): void {
    if (!this.mounted) throw new FsError('EIO', `${type}: the filesystem is unmounted`);
    // A call through fs.as() logs its identity (replay makes it through the same view); the mount's is logged with the mount.
    const caller = this.caller;
    this.mount.bus.command(type, caller === this.session.defaultCaller ? args : { ...args, caller: { ...caller } });
  }

  /** An operation whose body awaits (fsync waits for its flush group). */
  async opAsync<T>(type: string, args: Record<string, unknown>, body: () => Promise<T>): Promise<T> {
    this.begin(type, args);
    try {
      return await body();
    } catch (error) {
      throw toFsError(error, typeof args.path === 'string' ? args.path : undefined);
    } finally {
      this.mount.trimCache();
    }
  }

  async op<T>(type: string, args: Record<string, unknown>, body: () => T): Promise<T> {
    this.begin(type, args);
    try {
      return body();
    } catch (error) {
      throw toFsError(error, typeof args.path === 'string' ? args.path : undefined);
    } finally {
      this.mount.trimCache();
    }
  }

  /** An operation that changes the volume: waits out reclaim back-pressure first, then autoflushes. */
  protected async change<T>(type: string, args: Record<string, unknown>, body: () => T): Promise<T> {
    this.begin(type, args);
    const path = typeof args.path === 'string' ? args.path : undefined;
    const wait = this.mount.reclaimWait('fs');
    if (wait !== undefined) await wait;
    let result: T;
    try {
      try {
        if (!this.mounted) throw new FsError('EIO', `${type}: the filesystem was unmounted while it waited`);
        this.mount.checkWritable(path);
        result = body();
      } catch (error) {
        throw toFsError(error, path);
      }
      this.autoflush();
    } finally {
      this.mount.trimCache();
    }
    return result;
  }

  /** Too many dirty inodes or too much dirty data: queue them into groups; the scheduler runs the groups. */
  protected autoflush(): void {
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

  protected resolve(path: string, follow = true): Resolved {
    return resolvePath(this.mount, this.root, path, { follow, caller: this.caller });
  }

  protected existing(path: string, follow = true): Inode {
    const r = this.resolve(path, follow);
    if (r.ip === undefined) throw new FsError('ENOENT', 'no such file or directory', { path });
    return r.ip;
  }

  /**
   * The parent directory and new name for a create; EROFS through an as-of
   * path. `named`: what exists there is answered even after a trailing slash
   * (mkdir, link and symlink say EEXIST, as Linux does, not ENOTDIR).
   */
  protected forCreate(path: string, named = false): Resolved {
    const r = resolvePath(this.mount, this.root, path, {
      follow: false,
      parentOnly: true,
      named,
      caller: this.caller,
    });
    if (r.asof !== TID_MAX || r.parent.has(InodeFlag.RO))
      throw new FsError('EROFS', 'an as-of view is read-only', { path });
    if (r.name === '') throw new FsError('EEXIST', 'file exists', { path });
    checkName(r.name, path);
    return r;
  }

  protected writable(ip: Inode, path: string): void {
    if (ip.has(InodeFlag.RO)) throw new FsError('EROFS', 'an as-of view is read-only', { path });
  }

  /** EACCES unless this view's caller may have `want` (R_OK | W_OK | X_OK) of `ip`. */
  protected may(ip: Inode, want: number, path: string): void {
    checkAccess(this.caller, ip.ino, want, path);
  }

  /** Adding an entry to `dir` (create, link, rename's target): write and search on it (EACCES). */
  protected mayAddTo(dir: Inode, path: string): void {
    checkAccess(this.caller, dir.ino, W_OK | X_OK, path);
  }

  /** Removing `victim`'s entry from `dir` (unlink, rmdir, rename): write and search, then the sticky rule (EPERM). */
  protected mayRemoveFrom(dir: Inode, victim: Inode, path: string): void {
    checkAccess(this.caller, dir.ino, W_OK | X_OK, path);
    checkSticky(this.caller, dir.ino, victim.ino, path);
  }

  /** The HAMMER ioctls (snapshot, PFS create and destroy) are root's (priv_check PRIV_HAMMER_IOCTL): EPERM. */
  protected privileged(op: string): void {
    if (this.caller.uid !== 0) throw new FsError('EPERM', `${op}: only root (uid 0) may, not uid ${this.caller.uid}`);
  }

  /**
   * A new inode named by `r` (the caller may add to its directory, else
   * EACCES), owned by the caller's uid and, as BSD has it, the group of the
   * directory it is created in.
   */
  protected create(r: Resolved, spec: NewInode, path: string): Inode {
    this.mayAddTo(r.parent, path);
    return createInode(this.mount, r.parent, r.name, spec, path, this.caller.uid);
  }

  stats(ip: Inode): Stats {
    const ino = ip.view();
    return new InodeStats(
      ip.objId,
      (TYPE_BITS[ino.objType] ?? 0) | (ino.mode & 0o7777),
      ino.nlinks,
      ino.uid,
      ino.gid,
      ino.size,
      ino.atime / 1000,
      ino.mtime / 1000,
      ino.ctime / 1000,
      ip.leaf?.createTid ?? 0,
      ino.uflags,
    );
  }

  /**
   * A read's atime. hammer_update_atime_quick: when ATIME is already
   * pending, only the frontend copy's atime changes (the flush it is queued
   * for writes the newest); nothing is filed again.
   */
  touchAtime(ip: Inode): void {
    if (this.noatime || ip.has(InodeFlag.RO) || this.mount.readOnly || this.mount.failed) return;
    const now = this.mount.clock.now();
    if (ip.has(InodeFlag.ATIME)) {
      ip.ino = changedInode(ip.ino, (draft) => {
        draft.atime = now;
      });
      this.mount.counters.atimeQuick++;
      return;
    }
    // An atime is no structural change: the REDO fast path stays open.
    this.mount.edit(
      ip,
      InodeFlag.ATIME,
      (draft) => {
        draft.atime = now;
      },
      false,
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
    mount.checkDurable();
    mount.checkWritable(undefined);
    const pending = () => ip.dirty || ip.state !== 'idle' || ip.records.size > 0;
    if (!pending()) return;
    if (ip.redoMode && ip.has(InodeFlag.ONDISK) && !ip.structural) {
      this.redoFsync(ip);
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

  /**
   * fsync's REDO fast path. A device that fails it may have lost what it was
   * given (a failed fsync loses the page cache's writes: "fsyncgate"), so
   * the inode is marked structural: the caller sees EIO, and the next fsync
   * flushes the inode in full, writing its data again, instead of trusting
   * a REDO log that may not be on disk. Not a critical error: no meta-data
   * was being written.
   */
  private redoFsync(ip: Inode): void {
    try {
      this.mount.volume.syncRedo();
    } catch (error) {
      ip.structural = true;
      const message = error instanceof Error ? error.message : String(error);
      this.mount.bus.fact(ip.id, 'FSYNC_FAILED', { via: 'redo', message });
      throw toFsError(error, undefined);
    }
    this.mount.bus.fact(ip.id, 'REDO_FSYNC', { redoStart: ip.redoFifoStart });
  }

  closed(handle: FileHandle): void {
    this.handles.delete(handle.fd);
  }

  /** open(O_CREAT|O_EXCL) resolution: the parent to create in (EEXIST for anything there, a symlink too). */
  protected forCreateExclusive(path: string): Resolved {
    const r = this.forOpenCreate(path, false);
    if (r.ip !== undefined) throw new FsError('EEXIST', 'file exists', { path });
    return this.creatable(r, path);
  }

  /** open(O_CREAT) resolution: the existing file (symlinks followed) or the parent to create in. */
  protected forCreateOrExisting(path: string): Resolved {
    const r = this.forOpenCreate(path, true);
    return r.ip !== undefined ? r : this.creatable(r, path);
  }

  /** The walk of an open with O_CREAT: 'name/' (or a symlink to it) asks for a directory, which O_CREAT never opens or makes (EISDIR, as on Linux). */
  private forOpenCreate(path: string, follow: boolean): Resolved {
    const r = resolvePath(this.mount, this.root, path, {
      follow,
      parentOnly: true,
      createFile: true,
      caller: this.caller,
    });
    if (r.slash) throw new FsError('EISDIR', 'O_CREAT of a name with a trailing / (a directory)', { path });
    return r;
  }

  /** A new name in `r.parent`: EROFS through an as-of view, then the name's own faults. */
  private creatable(r: Resolved, path: string): Resolved {
    if (r.asof !== TID_MAX || r.parent.has(InodeFlag.RO))
      throw new FsError('EROFS', 'an as-of view is read-only', { path });
    checkName(r.name, path);
    return r;
  }

  /** Remove the entry `r` names from `dir`; the inode is deleted when its last link and reference go. */
  protected unlinkEntry(dir: Inode, r: Resolved, ip: Inode, path: string): void {
    if (r.entry === undefined) throw new FsError('ENOENT', 'no such file or directory', { path });
    this.mount.ref(ip);
    try {
      removeEntry(this.mount, dir, r.entry, ip, path);
    } finally {
      this.mount.rel(ip);
    }
    this.mount.inodeSettled(dir);
  }
}

export function toMicros(time: number | Date, path: string): number {
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
