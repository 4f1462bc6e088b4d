import type { Observable } from 'rxjs';
import type { AuditEvent } from '../storage/audit-schema.js';
import type { Clock } from '../storage/clock.js';
import type { BlockDevice } from '../storage/device.js';
import type { PruneReport } from '../storage/prune.js';
import type { ReblockReport } from '../storage/reblock.js';

export type { PruneReport, ReblockReport };

/**
 * The public filesystem API: node:fs/promises where it does the same job.
 * Paths are absolute ('/a/b'), '/' separated. A component `name@@0x<16 hex>`
 * reads `name` (and everything below it) as of that TID: read-only, EROFS on
 * write. Errors are FsError with a node-style `code` and the path.
 */

/** chflags bit: keep no history (HAMMER's nohistory flag). */
export const UF_NOHISTORY = 0x00000040;

/** What stat() returns: the fields of node's Stats a filesystem user reads. */
export interface Stats {
  /** The inode number (HAMMER obj_id). */
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  /** Times in milliseconds since the epoch (node's *Ms fields). */
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  /** The TID of the inode version this stat describes (HAMMER's create_tid); 0 before its first flush. */
  tid: number;
  /** chflags flags (UF_NOHISTORY). */
  flags: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

export interface Dirent {
  name: string;
  ino: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/** One version of a file in its history: the TID that created it. */
export interface Version {
  tid: number;
  /** `0x` + 16 hex digits, as HAMMER prints it. */
  tidHex: string;
  /** What changed in this TID: the inode record, data records, or both. */
  what: Array<'inode' | 'data'>;
  size: number;
  mtimeMs: number;
}

/** What statfs() returns: node's StatsFs fields (counts in `bsize` blocks). */
export interface StatsFs {
  /** HAMMER's buffer size (16 KiB): the unit of the block counts. */
  bsize: number;
  /** The volume's size in blocks. */
  blocks: number;
  /** Blocks the front end may still fill (what is neither allocated nor reserved by dirty inodes). */
  bfree: number;
  bavail: number;
  /** Live inodes (the volume header's inode count). */
  files: number;
  /** Inodes that would still fit: no inode table, so the free space over what one new inode reserves. */
  ffree: number;
}

export interface PfsInfo {
  id: number;
  label: string;
}

export interface FileHandle {
  readonly fd: number;
  /** Read into `buffer` at `offset`, `length` bytes from file `position` (default: the handle's position). */
  read(
    buffer: Uint8Array,
    offset?: number,
    length?: number,
    position?: number | null,
  ): Promise<{ bytesRead: number; buffer: Uint8Array }>;
  write(
    data: Uint8Array | string,
    offset?: number,
    length?: number,
    position?: number | null,
  ): Promise<{ bytesWritten: number }>;
  readFile(): Promise<Buffer>;
  truncate(length?: number): Promise<void>;
  /** Durable when it returns (REDO fast path or a full flush, then a device fsync). */
  sync(): Promise<void>;
  datasync(): Promise<void>;
  stat(): Promise<Stats>;
  close(): Promise<void>;
}

/** Flags for open(): 'r', 'r+', 'w', 'w+', 'a', 'a+', 'wx', 'ax'. */
export type OpenFlags = 'r' | 'r+' | 'w' | 'w+' | 'a' | 'a+' | 'wx' | 'wx+' | 'ax' | 'ax+';

/**
 * Who makes a call: the user and group ids the permission checks use
 * (mode bits, owner, group, sticky directories). uid 0 is root.
 */
export interface Caller {
  uid: number;
  gid: number;
  /** Supplementary groups (the primary gid need not be repeated). */
  groups?: readonly number[];
}

/** access() modes: F_OK (exists), or any of R_OK, W_OK, X_OK. */
export const F_OK = 0;
export const R_OK = 4;
export const W_OK = 2;
export const X_OK = 1;

export interface FileSystem {
  /** The identity this view's calls are checked as (the mount's `caller`, root by default). */
  readonly caller: Caller;
  /**
   * The same mounted filesystem, its calls made as `caller`: open handles,
   * the cache and the volume are shared; only the identity differs.
   */
  as(caller: Caller): FileSystem;
  /** EACCES unless the caller may have `mode` (R_OK | W_OK | X_OK) of `path`; ENOENT if it does not exist. */
  access(path: string, mode?: number): Promise<void>;
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void>;
  rmdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true }): Promise<Dirent[]>;
  stat(path: string): Promise<Stats>;
  lstat(path: string): Promise<Stats>;
  open(path: string, flags?: OpenFlags, mode?: number): Promise<FileHandle>;
  readFile(path: string): Promise<Buffer>;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  writeFile(path: string, data: Uint8Array | string, options?: { mode?: number }): Promise<void>;
  appendFile(path: string, data: Uint8Array | string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  truncate(path: string, length?: number): Promise<void>;
  /** Times in seconds (numbers) or Dates, as node's utimes. */
  utimes(path: string, atime: number | Date, mtime: number | Date): Promise<void>;
  /** utimes of a symbolic link itself, not its target. */
  lutimes(path: string, atime: number | Date, mtime: number | Date): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** -1 leaves an id as it is. Root may set any; the owner only the group, to one of its own (else EPERM). */
  chown(path: string, uid: number, gid: number): Promise<void>;
  /** chown of a symbolic link itself, not its target. */
  lchown(path: string, uid: number, gid: number): Promise<void>;
  /** BSD chflags: only UF_NOHISTORY (keep no old versions; inherited by what is created in a directory) is kept. */
  chflags(path: string, flags: number): Promise<void>;
  /** Space and inode counts of the volume (node's statfs; `path` only has to exist). */
  statfs(path?: string): Promise<StatsFs>;
  /** Flush everything; durable when it returns. Returns the TID of the last committed flush. */
  sync(): Promise<number>;
  /** sync(), then record a snapshot; returns its TID (everything synced is visible as of it). */
  snapshot(label?: string): Promise<number>;
  /** Snapshots recorded on this PFS, oldest first. */
  snapshots(): Promise<Array<{ tid: number; label: string }>>;
  /** Every version of the file or directory at `path`, oldest first. */
  history(path: string): Promise<Version[]>;
  /**
   * HAMMER's prune: sync, then destroy the history deleted at or before
   * `before` that no snapshot sees, freeing its space (storage/prune.ts). The
   * volume as of `before`, as of every snapshot and now reads the same after.
   */
  prune(before: number, options?: MaintenanceOptions): Promise<PruneReport>;
  /**
   * HAMMER's reblock: sync, then empty the big-blocks less than `fillPercent`
   * (default 100) full by moving their record data and B-tree nodes
   * (storage/reblock.ts). Every read gives the same bytes after.
   */
  reblock(fillPercent?: number, options?: MaintenanceOptions): Promise<ReblockReport>;
  readonly pfs: {
    create(label: string): Promise<PfsInfo>;
    list(): Promise<PfsInfo[]>;
    /** ENOTEMPTY while any inode of the PFS is in use (open handle, dirty, in a flush). */
    destroy(id: number): Promise<void>;
  };
  /** What recovery did when this mount started (stage 1 UNDO rollback, stage 2 REDO replay). */
  readonly recovery: RecoveryInfo;
  /** Every event of this mount: actor transitions, flush groups, storage writes. */
  readonly events: Observable<BusEvent>;
  /**
   * Switch between read-only and read-write (mount -u). Read-only flushes
   * everything first; then every change is EROFS. Read-write finishes a
   * read-only mount's recovery (stage 1 written, stage 2 REDO replayed).
   * EIO after a critical error; EROFS for an as-of mount, or a read-only
   * mount of a volume file (it keeps no audit log).
   */
  remount(options: { readOnly: boolean }): Promise<void>;
  /**
   * Flush everything, then close the volume. After a critical error, tear
   * the in-memory state down and write nothing (the error was reported when
   * it happened; the next mount recovers the last commit).
   */
  unmount(): Promise<void>;
}

/** Options of prune and reblock: `progress(done, total)` after each of their cycles (not logged). */
export interface MaintenanceOptions {
  progress?: (done: number, total: number) => void;
}

export interface RecoveryInfo {
  /** FIFO records in the span of the unfinished cycle found at mount. */
  spanRecords: number;
  /** UNDO records rolled back (stage 1). */
  undone: number;
  /** REDO WRITE/TRUNC records stage 2 found pending, and how many it re-executed. */
  redoPending: number;
  redoReplayed: number;
  /** Inodes unlinked while open when the volume stopped (a crash), deleted by this read-write mount. */
  orphansDeleted: number;
  /** Truncations an emergency finalize committed part-way before a crash, finished by this read-write mount. */
  truncationsFinished: number;
  /**
   * Damage stage 1 stepped over: a hole in the FIFO span whose pre-images are
   * lost (docs/on-disk-format.md, Recovery). fsck reports it too, until a
   * read-write mount commits: then this is where it is said.
   */
  damage: string[];
}

/** One event on the bus (DESIGN.md, "Events"): the shape the event log stores. */
export type BusEvent = AuditEvent;

export interface MkfsOptions {
  /** Volume size in bytes (default 256 MiB). */
  size?: number;
  /** UNDO/REDO FIFO size (default 32 MiB). */
  undoBytes?: number;
  label?: string;
  /** The volume's id, 32 hex digits (default all zero; the CLI makes a random one). */
  fsid?: string;
  clock?: Clock;
}

export interface MountOptions {
  clock?: Clock;
  readOnly?: boolean;
  /** The PFS to mount (default 0, the root PFS). */
  pfs?: number;
  /** Dirty inodes that trigger a flush group (HAMMER's hammer_autoflush, default 500). */
  autoflush?: number;
  /** Detached dirty inodes before creators are slowed (hammer_limit_reclaims, default 4000). */
  reclaimLimit?: number;
  /** Clean inodes kept cached (default 50_000). */
  cacheInodes?: number;
  /** The identity calls are checked as unless made through `fs.as(...)` (default root: uid 0, gid 0). */
  caller?: Caller;
  /** Reads do not update atime (MNT_NOATIME). */
  noatime?: boolean;
  /**
   * A snapshot mount: the whole filesystem as of this TID (a snapshot's, or
   * any committed flush's), read-only (writes are EROFS).
   */
  asof?: number;
}

/** Either a path to a volume file or an open device (tests: MemDevice, CrashDevice). */
export type VolumeSource = string | BlockDevice;
