import type { SchedulerLike } from 'rxjs';
import { InodeFlag, MODMASK } from '../machines/inode-flags.js';
import { assert } from '../storage/assert.js';
import type { Clock } from '../storage/clock.js';
import { FsError } from '../storage/errors.js';
import type { LeafElm } from '../storage/format/btree-node.js';
import { copyInode, decodeInode, type InodeData } from '../storage/format/records.js';
import { RecType, TID_MAX } from '../storage/layout.js';
import type { Volume } from '../storage/volume.js';
import { Backend } from './backend.js';
import { EventBus } from './bus.js';
import { Flusher } from './flusher.js';
import { Inode } from './inode.js';
import { dummyInodeData, InodeTable } from './inode-table.js';
import { inodeLocalization } from './keys.js';
import { LruSet } from './lru.js';
import { ReclaimPipeline } from './reclaim.js';
import { RedoTracker } from './redo.js';
import { SpaceReserve } from './space.js';

export interface MountTuning {
  /** hammer_autoflush: a group closes (and runs) at this many inodes. */
  autoflush: number;
  /** hammer_limit_reclaims: detached dirty inodes before creators wait. */
  reclaimLimit: number;
  /** Clean, unreferenced inodes kept cached. */
  cacheInodes: number;
  /** DATA records a truncation deletes per run before it would block. */
  truncateBatch: number;
  /** Dirty meta-data that makes the backend finalize part-way (hammer_flusher_meta_limit). */
  metaLimitBytes: number;
  /** Dirty file data held in memory before the writer flushes its inode. */
  dirtyDataLimitBytes: number;
  /**
   * The emergency finalize: a group commits between runs when less than this
   * fraction of the FIFO is free (HAMMER: a quarter; flusher.ts).
   */
  emergencyFreeFraction: number;
}

export const DEFAULT_TUNING: MountTuning = {
  autoflush: 500,
  reclaimLimit: 4000,
  cacheInodes: 50_000,
  truncateBatch: 2048,
  metaLimitBytes: 8 * 1024 * 1024,
  dirtyDataLimitBytes: 64 * 1024 * 1024,
  emergencyFreeFraction: 0.25,
};

export interface MountCounters {
  depthLimitHits: number;
  overfullScans: number;
  recordsSynced: number;
  inodeRecords: number;
  itimesPatches: number;
  truncatedRecords: number;
  partialFinalizes: number;
  /** Groups committed between runs because the FIFO ran low (flusher.ts, emergencyFinalize). */
  emergencyFinalizes: number;
  loads: number;
  unloads: number;
  redoWrites: number;
  reclaimWaits: number;
  /** Reads whose atime only changed the frontend copy (hammer_update_atime_quick). */
  atimeQuick: number;
}

/**
 * A new frozen copy of inode data with `recipe`'s changes: what immer's
 * produce gives for this flat record (no nested drafts: its one array, the
 * inline symlink, is replaced whole, never changed in place), without the
 * proxies, which cost ~5 KB of garbage per change on the create path. The
 * frontend's copy and the backend's frozen one are never the same object
 * once changed.
 */
export function changedInode(base: InodeData, recipe: (draft: InodeData) => void): InodeData {
  const draft = copyInode(base);
  recipe(draft);
  return Object.freeze(draft);
}

/**
 * A mounted filesystem's running system (hammer_mount): the inode cache
 * ordered by (localization, obj_id, asof), the flusher and backend, REDO
 * bookkeeping, space reservations and the reclaim pipeline. Everything here
 * is synchronous; the front end (fs.ts) is the only place that awaits.
 */
export class Mount {
  readonly bus: EventBus;
  readonly flusher: Flusher;
  readonly backend: Backend;
  readonly redo: RedoTracker;
  readonly space: SpaceReserve;
  readonly options: MountTuning;
  readonly counters: MountCounters = {
    depthLimitHits: 0,
    overfullScans: 0,
    recordsSynced: 0,
    inodeRecords: 0,
    itimesPatches: 0,
    truncatedRecords: 0,
    partialFinalizes: 0,
    emergencyFinalizes: 0,
    loads: 0,
    unloads: 0,
    redoWrites: 0,
    reclaimWaits: 0,
    atimeQuick: 0,
  };
  readonly undoRecLimit: number;
  /** Cached inodes by (localization, obj_id, asof). */
  private readonly cache = new InodeTable();
  /** Clean, unreferenced inodes in least-recently-used order. */
  private readonly clean = new LruSet<Inode>();
  /** Inodes with something to flush. */
  readonly dirty = new Set<Inode>();
  /** The reclaim pipeline: dirty inodes nobody references. */
  readonly reclaim = new ReclaimPipeline();
  dirtyDataBytes = 0;
  inFlush = false;
  /** Recovery stage 2 ran (at mount, or at the remount read-write of a read-only mount). */
  redoReplayed = false;
  private failure: FsError | undefined;
  private failureReason = '';
  private nextRecordId = 1;

  constructor(
    readonly volume: Volume,
    readonly clock: Clock,
    readonly scheduler: SchedulerLike,
    tuning: Partial<MountTuning>,
    private ro: boolean,
    /** An as-of mount's TID (TID_MAX: live): everything it loads is read-only as of it. */
    readonly asof = TID_MAX,
  ) {
    this.options = { ...DEFAULT_TUNING, ...tuning };
    this.bus = new EventBus(clock);
    this.flusher = new Flusher(this);
    this.backend = new Backend(this);
    this.redo = new RedoTracker(() => this.volume.fifo.state.nextSeq);
    this.space = new SpaceReserve(() => this.volume);
    this.undoRecLimit = Math.floor(volume.fifo.size / 8192) + 100;
    const bus = this.bus;
    volume.observer = {
      get active() {
        return bus.active;
      },
      note: (type, payload) => bus.fact('volume', type, payload),
    };
  }

  groupLimits(): { undoRecLimit: number; autoflush: number } {
    return {
      undoRecLimit: this.undoRecLimit,
      autoflush: Math.min(this.options.autoflush, Math.max(1, Math.floor(this.options.reclaimLimit / 4))),
    };
  }

  recordId(): number {
    return this.nextRecordId++;
  }

  /**
   * What a replay checkpoint keeps of the mount itself beside the inodes:
   * its counters, the next record id, whether recovery stage 2 ran; and the
   * clean inodes least recently used first (the order unloads take).
   */
  memo(): { counters: MountCounters; nextRecordId: number; redoReplayed: boolean; lru: Inode[] } {
    return {
      counters: { ...this.counters },
      nextRecordId: this.nextRecordId,
      redoReplayed: this.redoReplayed,
      lru: [...this.clean.values()],
    };
  }

  /** Take back what memo() gave (a mount resumed from a replay checkpoint; the inodes are reloaded by the caller). */
  resume(memo: { counters: MountCounters; nextRecordId: number; redoReplayed: boolean }): void {
    Object.assign(this.counters, memo.counters);
    this.nextRecordId = memo.nextRecordId;
    this.redoReplayed = memo.redoReplayed;
  }

  /**
   * An inode as a replay checkpoint recorded it, cached again (a resumed
   * mount): made from the recorded data, or the cached one (the root, which
   * the mount loaded itself) given that data. Only a `clean` one (clean and
   * unreferenced in the checkpointed mount) joins the clean list: a dirty or
   * referenced one there would age the clean ones out before it is taken
   * off again.
   */
  restoreCached(
    key: { localization: number; objId: number; asof: number },
    ino: InodeData,
    leaf: LeafElm | undefined,
    flags: number,
    clean: boolean,
  ): Inode {
    const cached = this.lookupCached(key.localization, key.objId, key.asof);
    if (cached !== undefined) {
      cached.ino = ino;
      cached.leaf = leaf;
      return cached;
    }
    const ip = new Inode(key, ino, leaf, flags, this.bus, this.flusher);
    if (clean) this.insert(ip);
    else this.cache.insert(ip);
    return ip;
  }

  /** A clean, unreferenced inode becomes the most recently used (a resumed mount rebuilding the order it had). */
  touchClean(ip: Inode): void {
    if (this.clean.has(ip)) this.clean.touch(ip);
  }

  get readOnly(): boolean {
    return this.ro;
  }

  /**
   * A critical error (hammer_critical_error), reported once: the CRITICAL
   * fact says where and what; the volume writes nothing more (what was
   * committed is what the next mount finds); the call that met it and every
   * later fsync or sync get EIO, every later change EROFS; whoever waits
   * (wait_inode, reclaim back-pressure) is released with it.
   */
  critical(error: unknown, where: string): void {
    if (this.failure !== undefined) return;
    const message = error instanceof Error ? error.message : String(error);
    this.failureReason = `critical error during ${where}: ${message}`;
    this.failure = new FsError('EIO', `${this.failureReason}; the mount is read-only now`);
    this.volume.fail(this.failureReason);
    this.bus.fact('volume', 'CRITICAL', { where, message });
    this.flusher.wakeAll();
    this.reclaim.wake();
  }

  /** Throw if the mount can no longer change the volume: EROFS (read-only, or since a critical error). */
  checkWritable(path: string | undefined): void {
    if (this.failure !== undefined) {
      throw new FsError('EROFS', `the mount is read-only since a ${this.failureReason}`, { path });
    }
    if (this.ro) throw new FsError('EROFS', 'the volume is mounted read-only', { path });
    this.logCheck?.();
  }

  /** fsync and sync promise durability: after a critical error they cannot (EIO, the error itself). */
  checkDurable(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * The mount's half of a remount (hammer_reload_inode over the cache):
   * every cached live inode takes the mount's RO flag; as-of and dummy
   * inodes stay read-only. The caller synced first when turning read-only.
   */
  reload(readOnly: boolean): void {
    this.ro = readOnly;
    for (const ip of this.cache.sorted()) {
      const ro = readOnly || ip.asof !== TID_MAX || ip.has(InodeFlag.DUMMY);
      if (ro) ip.mark(InodeFlag.RO);
      else if (ip.has(InodeFlag.RO)) ip.send({ type: 'CLEAR', flags: InodeFlag.RO });
    }
  }

  /**
   * hammer_destroy_inode_callback, at unmount after a critical error: every
   * cached inode's in-memory records, dependencies and dirty state are
   * dropped and it leaves the cache. Nothing is written. Returns how many
   * inodes still had something to flush.
   */
  destroyInodes(): number {
    assert(this.failure !== undefined, 'in-memory state is destroyed only after a critical error');
    let dirty = 0;
    for (const ip of this.cache.sorted()) {
      if (ip.dirty || ip.state !== 'idle' || ip.records.size > 0) dirty++;
      ip.records.clear();
      ip.blocks.clear();
      ip.targetList.length = 0;
      this.cache.remove(ip);
      this.clean.delete(ip);
      this.reclaim.delete(ip);
    }
    this.dirty.clear();
    this.dirtyDataBytes = 0;
    this.backend.destroy();
    this.bus.fact('volume', 'DESTROYED', { dirty });
    return dirty;
  }

  /** The audit log's check (EIO while it cannot be written: no change goes unlogged). */
  logCheck: (() => void) | undefined;

  get failed(): Error | undefined {
    return this.failure;
  }

  /** Run flusher work from the scheduler: a failure is recorded (critical), never thrown into the scheduler. */
  runSafely(work: () => void): void {
    if (this.failure !== undefined) return;
    try {
      work();
    } catch (error) {
      if (this.failure === undefined) this.critical(error, 'a scheduled flush');
    }
  }

  // --- the inode cache -------------------------------------------------

  /** hammer_find_inode: a cached inode, if any. */
  find(localization: number, objId: number, asof = TID_MAX): Inode | undefined {
    const ip = this.lookupCached(localization, objId, asof);
    if (ip !== undefined && this.clean.has(ip)) {
      this.clean.touch(ip);
    }
    return ip;
  }

  /** hammer_get_inode: cached, or loaded from the volume as of `asof`; undefined when no such inode exists then. */
  get(localization: number, objId: number, asof = TID_MAX): Inode | undefined {
    const cached = this.find(localization, objId, asof);
    if (cached !== undefined) return cached;
    const elm = this.volume.lookup(
      { localization: inodeLocalization(localization), objId, recType: RecType.INODE, key: 0 },
      asof,
    );
    if (elm === undefined) return undefined;
    const ino = Object.freeze(decodeInode(this.volume.readData(elm), `inode ${objId}`));
    const ro = asof !== TID_MAX || this.ro ? InodeFlag.RO : 0;
    const ip = new Inode({ localization, objId, asof }, ino, elm, InodeFlag.ONDISK | ro, this.bus, this.flusher);
    this.insert(ip);
    this.counters.loads++;
    return ip;
  }

  /**
   * hammer_get_dummy_inode: a directory entry names an inode that does not
   * exist as of the view's TID (pruned history). A read-only placeholder lets
   * the directory still be listed and stat'ed.
   */
  dummy(localization: number, objId: number, asof: number, objType: number): Inode {
    const cached = this.find(localization, objId, asof);
    if (cached !== undefined) return cached;
    const ino = dummyInodeData(objType);
    const ip = new Inode(
      { localization, objId, asof },
      ino,
      undefined,
      InodeFlag.DUMMY | InodeFlag.RO,
      this.bus,
      this.flusher,
    );
    this.insert(ip);
    return ip;
  }

  private lookupCached(localization: number, objId: number, asof: number): Inode | undefined {
    return this.cache.find(localization, objId, asof);
  }

  /** hammer_create_inode's cache side: a new inode, dirty from birth, not on disk yet. */
  adopt(ip: Inode): void {
    assert(this.lookupCached(ip.localization, ip.objId, ip.asof) === undefined, 'a new inode id is not cached already');
    this.insert(ip);
    this.dirty.add(ip);
  }

  private insert(ip: Inode): void {
    this.cache.insert(ip);
    this.settleClean(ip);
  }

  /** Cached inodes, in key order (tests, PFS unload). */
  cached(): Inode[] {
    return this.cache.sorted();
  }

  /** The frontend modified `ip` (flags from the modify mask). */
  modified(ip: Inode, flags: number, data?: InodeData): void {
    assert(!ip.has(InodeFlag.RO), 'a read-only inode is never modified');
    if (data !== undefined) ip.ino = data;
    if ((ip.flags & flags) !== flags) ip.send({ type: 'MODIFY', flags });
    if (ip.flags & MODMASK) this.held(ip);
  }

  /**
   * A front-end change to an inode's data: a new frozen copy (changedInode) with the
   * modify flags it calls for. `structural` (the default) says REDO cannot
   * cover it, so the next fsync flushes the inode.
   */
  edit(ip: Inode, flags: number, recipe: (draft: InodeData) => void, structural = true): void {
    if (structural) ip.structural = true;
    this.modified(ip, flags, changedInode(ip.ino, recipe));
  }

  /** A reference taken (open handle, operation in progress). */
  ref(ip: Inode): void {
    ip.refs++;
    this.clean.delete(ip);
    this.reclaim.delete(ip);
  }

  /** hammer_rel_inode: the last reference gone, nlinks 0 starts the deletion; a dirty inode joins the reclaim pipeline. */
  rel(ip: Inode): void {
    assert(ip.refs > 0, 'rel_inode releases a reference held');
    ip.refs--;
    if (ip.refs > 0) return;
    this.unloadableCheck(ip);
    this.inodeSettled(ip);
  }

  /**
   * hammer_inode_unloadable_check: an inode whose last link and last
   * reference are gone is deleted: DELETING, truncated to 0.
   */
  private unloadableCheck(ip: Inode): void {
    if (ip.ino.nlinks !== 0 || ip.has(InodeFlag.RO)) return;
    if (ip.flags & (InodeFlag.DELETING | InodeFlag.DELETED) || ip.syncFlags & InodeFlag.DELETING) return;
    ip.send({ type: 'MODIFY', flags: InodeFlag.DELETING | InodeFlag.TRUNCATED, truncOff: 0 });
    this.dirty.add(ip);
  }

  /** After a frontend call or a flush: file the inode as dirty, reclaiming, or clean (maybe unload others). */
  inodeSettled(ip: Inode): void {
    if (ip.state === 'unloaded') return;
    const busy = ip.dirty || ip.state !== 'idle' || ip.records.size > 0 || ip.targetList.length > 0;
    if (busy) {
      this.dirty.add(ip);
      this.clean.delete(ip);
      if (ip.refs === 0) this.reclaim.add(ip);
      return;
    }
    this.dirty.delete(ip);
    this.reclaim.delete(ip);
    if (ip.refs === 0) this.settleClean(ip);
  }

  private settleClean(ip: Inode): void {
    if (ip.refs > 0 || ip.dirty || ip.state !== 'idle') return;
    this.clean.touch(ip);
  }

  /**
   * Unload the least recently used clean inodes past the cache's size. Only
   * between operations (the front end calls it as each one ends, the
   * scheduler after its flushes): an operation holds the inodes it resolved
   * without taking references, and one unloaded under it would be changed
   * after its actor stopped (found with a cache of two inodes: a rename
   * whose target's load unloaded the source).
   */
  trimCache(): void {
    while (this.clean.size > this.options.cacheInodes) {
      const oldest = this.clean.oldest();
      if (oldest === undefined) break;
      this.unload(oldest);
    }
  }

  /** hammer_unload_inode: clean, idle, unreferenced; the actor stops and the inode leaves the cache. */
  unload(ip: Inode): void {
    assert(ip.state === 'idle', 'only an IDLE inode is unloaded');
    assert(ip.refs === 0 && !ip.dirty, 'only a clean, unreferenced inode is unloaded');
    assert(ip.records.size === 0 && ip.targetList.length === 0, 'an unloaded inode has no records or dependencies');
    this.clean.delete(ip);
    this.dirty.delete(ip);
    this.cache.remove(ip);
    this.redo.forget(ip);
    ip.send({ type: 'UNLOAD' });
    this.bus.fact(ip.id, 'UNLOADED');
    this.counters.unloads++;
  }

  /** `ip` has something to flush: on the dirty set, off the clean list (a record made it a dependency). */
  held(ip: Inode): void {
    this.dirty.add(ip);
    this.clean.delete(ip);
  }

  // --- reclaim back-pressure --------------------------------------------

  /**
   * hammer_inode_waitreclaims: a creator facing a long reclaim pipeline waits
   * for the flusher. Heavy creators (per-creator count, halving every second
   * of the mount's clock) wait down to a lower mark. Resolves at once when
   * the pipeline is short; the promise is the back-pressure.
   */
  reclaimWait(creator: string): Promise<void> | undefined {
    const wait = this.reclaim.wait(creator, this.clock.now(), this.options.reclaimLimit);
    if (wait === undefined) return undefined;
    this.counters.reclaimWaits++;
    this.bus.fact('fs', 'RECLAIM_WAIT', { creator, reclaims: wait.reclaims, mark: wait.mark });
    for (const ip of wait.inodes) this.flusher.flushInode(ip, { signal: true });
    return this.reclaim.until(wait.mark, () => this.failure !== undefined);
  }

  /**
   * sync: every dirty inode flushed, group after group, until nothing is
   * left (re-queues, depth-limited chains and over-full directories drain
   * over several groups). Durable when it returns. Returns the last TID.
   */
  syncAll(): void {
    for (let round = 0; ; round++) {
      assert(round < 10_000, 'sync converges');
      const all = this.dirtyInodes();
      const pending = all.filter(
        (ip) => ip.dirty || ip.state !== 'idle' || ip.records.size > 0 || ip.targetList.length > 0,
      );
      const busy = new Set(pending);
      for (const ip of all) if (!busy.has(ip)) this.inodeSettled(ip);
      if (pending.length === 0 && this.flusher.groups.length === 0) return;
      this.flusher.stage(() => {
        for (const ip of pending) this.flusher.flushInode(ip);
      });
      this.flusher.runAll();
      for (const ip of pending) this.inodeSettled(ip);
    }
  }

  /** Every dirty inode, in key order. */
  dirtyInodes(): Inode[] {
    return [...this.dirty].sort((a, b) => a.localization - b.localization || a.objId - b.objId);
  }
}
