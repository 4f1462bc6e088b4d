import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { posix } from 'node:path';
import type { Dirent, FileHandle, FileSystem, Stats } from '../../actors/api.js';
import { FsError } from '../../storage/errors.js';
import { nameBytes, nameOf } from '../../storage/format/names.js';
import type { FuseOperations, FuseStat, FuseStatfs } from './binding.js';
import { UTIME_NOW_MS, UTIME_OMIT_MS } from './binding-patches.js';

/**
 * The FUSE operations over the public filesystem API (actors/api.ts): each
 * kernel request becomes API calls, its answer a value or a negative errno.
 * A handler never throws (fuse-native would take the process, and with it
 * the mount, down): an FsError answers its code's errno; anything else is a
 * bug, answered EIO and logged, and the mount stays up. Called by the FUSE
 * session (session.ts) on the main thread, one request at a time per
 * callback, any number in flight.
 */

/** Who owns what the mount creates, when the binding does not say who asked (docs/fuse.md, "Ownership"). */
export interface Owner {
  uid: number;
  gid: number;
}

export interface OperationsContext {
  fs: FileSystem;
  owner: Owner;
  /** A line for stderr: a request that failed with EIO or a bug. */
  log(line: string): void;
  /** The loaded binary passes 64-bit inode numbers (its `wide-ino` patch); otherwise obj_ids are folded to 32 bits. */
  wideIno?: boolean;
  /** The wall clock in milliseconds, for a time set to "now" (UTIME_NOW); Date.now by default. */
  now?: () => number;
  /**
   * Who made the request an operation is being called for (uid, gid, pid),
   * read when the operation is called: the binding with its `caller` patch
   * says; without it, undefined.
   */
  caller?: () => ArrayLike<number> | undefined;
  /**
   * The loaded binary passes paths, names and link targets as bytes (its
   * `byte-names` patches: Latin-1 strings, one character a byte), so a name
   * that is not UTF-8 reaches the volume as it is; otherwise as UTF-8 text.
   */
  byteNames?: boolean;
}

const NON_ASCII = /[\u0080-\uffff]/;

/** A path or name as the binding with the `byte-names` patches gives it (a character a byte), as the API names it (storage/format/names.ts). */
export function nameFromFuse(text: string): string {
  return NON_ASCII.test(text) ? nameOf(Buffer.from(text, 'latin1')) : text;
}

/** An API name (or link target) as that binding takes it back: its bytes, a character each. */
export function nameToFuse(name: string): string {
  if (!NON_ASCII.test(name)) return name;
  return (nameBytes(name) ?? Buffer.from(name, 'utf8')).toString('latin1');
}

/** The operations with every string argument (a path, a name, a link target) read as bytes first. */
function byteNamed(operations: FuseOperations): FuseOperations {
  const wrapped: Record<string, unknown> = {};
  for (const [name, operation] of Object.entries(operations)) {
    const call = operation as (...args: unknown[]) => unknown;
    wrapped[name] = (...args: unknown[]) => {
      for (let i = 0; i < args.length; i++) {
        const arg = args[i];
        if (typeof arg === 'string') args[i] = nameFromFuse(arg);
      }
      return call(...args);
    };
  }
  return wrapped as unknown as FuseOperations;
}

/** `name@@0x<16 hex>`: a component read as of a TID (read-only). */
const AS_OF = /@@0x[0-9a-f]{16}(\/|$)/i;
const O_ACCMODE = 3;
const TYPE_BITS = { file: fsConstants.S_IFREG, dir: fsConstants.S_IFDIR, symlink: fsConstants.S_IFLNK } as const;
/** What stat reports as the preferred I/O size: cp and friends then write 128 KiB, the big_writes maximum. */
const BLKSIZE = 128 * 1024;
/** chown(2)'s "leave unchanged", as the kernel passes it through libfuse (uint32). */
const UNCHANGED_ID = 0xffffffff;
const S_ISGID = 0o2000;

/** The negative errno of an error: its node-style code when it has a known one, EIO otherwise. */
export function errnoOf(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  const errno = typeof code === 'string' ? (osConstants.errno as Record<string, number>)[code] : undefined;
  return -(errno ?? osConstants.errno.EIO);
}

const FIRST_ALLOCATED_OBJID = 2 ** 32;
/**
 * The st_ino the kernel shows for an obj_id when the binding passes st_ino
 * as 32 bits (fuse-native's prebuilt binary, without the `wide-ino` patch).
 * HAMMER allocates obj_ids from the TID counter, which starts at 2^32 (the
 * root is obj 1): so the root keeps 1 and allocated ids count on from 2.
 * Stable for the life of the volume, and unique until 2^32 - 2 ids (object
 * ids and TIDs share the counter) have been allocated.
 */
export function fuseIno(objId: number): number {
  if (objId < FIRST_ALLOCATED_OBJID) return objId;
  return ((objId - FIRST_ALLOCATED_OBJID) % (FIRST_ALLOCATED_OBJID - 2)) + 2;
}

/**
 * st_ino as the binding takes it: with the `wide-ino` patch the obj_id
 * itself (HAMMER's st_ino), its high half in the dev field; otherwise folded
 * (fuseIno).
 */
export function inodeNumber(objId: number, wide: boolean): { ino: number; dev: number } {
  if (!wide) return { ino: fuseIno(objId), dev: 0 };
  const high = Math.floor(objId / FIRST_ALLOCATED_OBJID);
  return { ino: objId - high * FIRST_ALLOCATED_OBJID, dev: high };
}

/** API Stats as fuse-native copies them into struct stat. */
export function fuseStat(st: Stats, wide: boolean): FuseStat {
  const { ino, dev } = inodeNumber(st.ino, wide);
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    nlink: st.nlink,
    ino,
    dev,
    blksize: BLKSIZE,
    blocks: Math.ceil(st.size / 512),
    atime: st.atimeMs,
    mtime: st.mtimeMs,
    ctime: st.ctimeMs,
  };
}

function direntStat(entry: Dirent, wide: boolean): FuseStat {
  const type = entry.isDirectory() ? TYPE_BITS.dir : entry.isSymbolicLink() ? TYPE_BITS.symlink : TYPE_BITS.file;
  const { ino, dev } = inodeNumber(entry.ino, wide);
  return {
    mode: type,
    uid: 0,
    gid: 0,
    size: 0,
    nlink: 1,
    ino,
    dev,
    blksize: 0,
    blocks: 0,
    atime: 0,
    mtime: 0,
    ctime: 0,
  };
}

/**
 * The operation table. `handles` maps the file handle numbers given to the
 * kernel (the API's own fds) to the open FileHandles: an open file holds its
 * inode, so a file unlinked while open stays readable until its release.
 */
export function fuseOperations(context: OperationsContext): {
  operations: FuseOperations;
  handles: Map<number, FileHandle>;
} {
  const { fs, owner, log } = context;
  const wide = context.wideIno === true;
  const now = context.now ?? Date.now;
  const byteNames = context.byteNames === true;
  const out = byteNames ? nameToFuse : (name: string) => name;
  const handles = new Map<number, FileHandle>();

  /**
   * Run `work` and answer exactly once: its value, or the errno of what it
   * threw or rejected with. EIO is logged with the operation and its path.
   */
  function answer<T>(name: string, path: string, reply: (code: number, value?: T) => void, work: () => Promise<T>) {
    // One object per request, its callbacks inline: named closures cost a run-time naming each (tsx keeps names).
    const request = new Request(name, path, reply, log);
    try {
      work().then(
        (value) => request.send(0, value),
        (error: unknown) => request.fail(error),
      );
    } catch (error) {
      request.fail(error);
    }
  }

  /** read and write answer a byte count or a negative errno in one number. */
  function count(name: string, path: string, reply: (result: number) => void, work: () => Promise<number>) {
    answer<number>(name, path, (code, value) => reply(code < 0 ? code : (value ?? 0)), work);
  }

  function handle(fd: number, path: string): FileHandle {
    const open = handles.get(fd);
    if (open === undefined) throw new FsError('EBADF', `no open file handle ${fd}`, { path });
    return open;
  }

  async function opened(open: Promise<FileHandle>): Promise<number> {
    const file = await open;
    handles.set(file.fd, file);
    return file.fd;
  }

  async function release(fd: number, path: string): Promise<void> {
    const open = handle(fd, path);
    handles.delete(fd);
    await open.close();
  }

  /** Who the request being called for comes from, if the binding says (copied before the operation's first await). */
  function requester(): Owner | undefined {
    const ids = context.caller?.();
    return ids === undefined ? undefined : { uid: ids[0] as number, gid: ids[1] as number };
  }

  /**
   * New inodes belong to root in the API, in their directory's group (BSD's
   * rule, HAMMER's). Through the mount they are owned as Linux owns them
   * (open(2), mkdir(2)): by their maker, in the maker's group unless the
   * directory is set-group-ID (then in the directory's group), and a
   * directory made in a set-group-ID directory is set-group-ID too. Without
   * a known maker, a mount run by someone else gives them to its own uid and
   * gid. `stat` gives the new inode's stat (a handle's for a create: no walk).
   */
  async function own(
    path: string,
    maker: Owner | undefined,
    stat: () => Promise<Stats>,
    directory = false,
  ): Promise<void> {
    if (maker === undefined) {
      if (owner.uid !== 0 || owner.gid !== 0) await fs.lchown(path, owner.uid, owner.gid);
      return;
    }
    const made = await stat();
    // The directory's mode is read only when it decides something.
    let setgid: boolean | undefined;
    const setgidParent = async () => {
      if (setgid === undefined) setgid = ((await fs.lstat(posix.dirname(path))).mode & S_ISGID) !== 0;
      return setgid;
    };
    const gid = made.gid === maker.gid || (await setgidParent()) ? made.gid : maker.gid;
    if (made.uid !== maker.uid || made.gid !== gid) await fs.lchown(path, maker.uid, gid);
    if (directory && (made.mode & S_ISGID) === 0 && (await setgidParent()))
      await fs.chmod(path, (made.mode & 0o7777) | S_ISGID);
  }

  const operations: FuseOperations = {
    init: (cb) => cb(0),
    statfs: (path, cb) =>
      answer<FuseStatfs>('statfs', path, cb, async () => {
        const s = await fs.statfs('/');
        return {
          bsize: s.bsize,
          frsize: s.bsize,
          blocks: s.blocks,
          bfree: s.bfree,
          bavail: s.bavail,
          files: s.files,
          ffree: s.ffree,
          favail: s.ffree,
          fsid: 0,
          flag: 0,
          namemax: 255,
        };
      }),
    getattr: (path, cb) => answer('getattr', path, cb, async () => fuseStat(await fs.lstat(path), wide)),
    // An open file by its handle (with the binding's `fgetattr-fd` patch; without it fuse-native calls getattr).
    fgetattr: (path, fd, cb) => answer('fgetattr', path, cb, async () => fuseStat(await handle(fd, path).stat(), wide)),
    access: (path, mode, cb) =>
      answer('access', path, cb, async () => {
        await fs.lstat(path);
        if ((mode & fsConstants.W_OK) !== 0 && AS_OF.test(path))
          throw new FsError('EROFS', 'an as-of view is read-only', { path });
      }),
    readdir: (path, cb) =>
      answer<{ names: string[]; stats: FuseStat[] }>(
        'readdir',
        path,
        (code, value) => (code < 0 ? cb(code) : cb(0, value?.names, value?.stats)),
        async () => {
          const entries = await fs.readdir(path, { withFileTypes: true });
          const self = fuseStat(await fs.stat(path), wide);
          const parent = path === '/' ? self : fuseStat(await fs.stat(posix.dirname(path)), wide);
          return {
            names: ['.', '..', ...entries.map((entry) => out(entry.name))],
            stats: [self, parent, ...entries.map((entry) => direntStat(entry, wide))],
          };
        },
      ),
    opendir: (path, _flags, cb) => answer('opendir', path, cb, () => opened(fs.open(path, 'r'))),
    releasedir: (path, fd, cb) => answer('releasedir', path, cb, () => release(fd, path)),
    fsyncdir: (path, _datasync, fd, cb) => answer('fsyncdir', path, cb, () => handle(fd, path).sync()),
    open: (path, flags, cb) =>
      answer('open', path, cb, () => opened(fs.open(path, (flags & O_ACCMODE) === fsConstants.O_RDONLY ? 'r' : 'r+'))),
    create: (path, mode, cb) => {
      const maker = requester();
      answer('create', path, cb, async () => {
        let file: FileHandle;
        try {
          file = await fs.open(path, 'wx+', mode & 0o7777);
        } catch (error) {
          // Created by someone else since the kernel's lookup: open it as it is (O_CREAT without O_EXCL).
          if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
          return opened(fs.open(path, 'r+'));
        }
        try {
          await own(path, maker, () => file.stat());
        } catch (error) {
          await file.close();
          throw error;
        }
        handles.set(file.fd, file);
        return file.fd;
      });
    },
    read: (path, fd, buffer, length, position, cb) =>
      count('read', path, cb, async () => (await handle(fd, path).read(buffer, 0, length, position)).bytesRead),
    write: (path, fd, buffer, length, position, cb) =>
      // The buffer is libfuse's and is gone once answered: the API keeps what it is given, so it gets a copy.
      count('write', path, cb, async () => {
        const data = Buffer.from(buffer.subarray(0, length));
        return (await handle(fd, path).write(data, 0, length, position)).bytesWritten;
      }),
    fsync: (path, datasync, fd, cb) =>
      answer('fsync', path, cb, () => (datasync ? handle(fd, path).datasync() : handle(fd, path).sync())),
    release: (path, fd, cb) => answer('release', path, cb, () => release(fd, path)),
    truncate: (path, size, cb) => answer('truncate', path, cb, () => fs.truncate(path, size)),
    ftruncate: (path, fd, size, cb) =>
      answer('ftruncate', path, cb, () => {
        const open = handles.get(fd);
        return open === undefined ? fs.truncate(path, size) : open.truncate(size);
      }),
    // The kernel's setattr is on the inode it names: a symlink itself, never its target (lutimes, lchown).
    // Times in ms; the patched binary (binding-patches.ts) also passes "leave it" (touch -m) and "now".
    utimens: (path, atime, mtime, cb) =>
      answer('utimens', path, cb, async () => {
        const st = atime === UTIME_OMIT_MS || mtime === UTIME_OMIT_MS ? await fs.lstat(path) : undefined;
        const pick = (ms: number, current: number | undefined) =>
          (ms === UTIME_OMIT_MS ? (current ?? 0) : ms === UTIME_NOW_MS ? now() : ms) / 1000;
        await fs.lutimes(path, pick(atime, st?.atimeMs), pick(mtime, st?.mtimeMs));
      }),
    chmod: (path, mode, cb) => answer('chmod', path, cb, () => fs.chmod(path, mode & 0o7777)),
    chown: (path, uid, gid, cb) =>
      answer('chown', path, cb, async () => {
        const st = uid === UNCHANGED_ID || gid === UNCHANGED_ID ? await fs.lstat(path) : undefined;
        await fs.lchown(path, uid === UNCHANGED_ID ? (st?.uid ?? 0) : uid, gid === UNCHANGED_ID ? (st?.gid ?? 0) : gid);
      }),
    readlink: (path, cb) => answer('readlink', path, cb, async () => out(await fs.readlink(path))),
    symlink: (target, path, cb) => {
      const maker = requester();
      answer('symlink', path, cb, async () => {
        await fs.symlink(target, path);
        await own(path, maker, () => fs.lstat(path));
      });
    },
    link: (existing, path, cb) => answer('link', path, cb, () => fs.link(existing, path)),
    unlink: (path, cb) => answer('unlink', path, cb, () => fs.unlink(path)),
    rename: (from, to, cb) => answer('rename', from, cb, () => fs.rename(from, to)),
    mkdir: (path, mode, cb) => {
      const maker = requester();
      answer('mkdir', path, cb, async () => {
        await fs.mkdir(path, { mode: mode & 0o7777 });
        await own(path, maker, () => fs.lstat(path), true);
      });
    },
    rmdir: (path, cb) => answer('rmdir', path, cb, () => fs.rmdir(path)),
    mknod: (path, mode, _dev, cb) => {
      const maker = requester();
      answer('mknod', path, cb, async () => {
        // The API has regular files, directories and symlinks; devices, FIFOs and sockets are refused.
        if ((mode & fsConstants.S_IFMT) !== fsConstants.S_IFREG)
          throw new FsError('EPERM', 'only regular files can be made with mknod', { path });
        await (await fs.open(path, 'wx', mode & 0o7777)).close();
        await own(path, maker, () => fs.lstat(path));
      });
    },
  };
  return { operations: byteNames ? byteNamed(operations) : operations, handles };
}

/** One kernel request's answer: sent once, an error as its errno, EIO logged with the operation and its path. */
class Request<T> {
  private answered = false;

  constructor(
    private readonly name: string,
    private readonly path: string,
    private readonly reply: (code: number, value?: T) => void,
    private readonly log: (line: string) => void,
  ) {}

  send(code: number, value?: T): void {
    if (this.answered) return;
    this.answered = true;
    try {
      this.reply(code, value);
    } catch (error) {
      this.log(`hammerstate mount: answering ${this.name} ${this.path} failed: ${describe(error)}`);
    }
  }

  fail(error: unknown): void {
    const errno = errnoOf(error);
    if (errno === -osConstants.errno.EIO) this.log(`hammerstate mount: ${this.name} ${this.path}: ${describe(error)}`);
    this.send(errno);
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? error.message;
  return String(error);
}
