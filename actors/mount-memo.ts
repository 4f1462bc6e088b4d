import type { Snapshot } from 'xstate';
import { InodeFlag } from '../machines/inode-flags.js';
import type { EventSink } from '../storage/audit-log.js';
import type { CommandClock, CommandClockState } from '../storage/clock.js';
import { FsError } from '../storage/errors.js';
import { copyLeafElm, type LeafElm } from '../storage/format/btree-node.js';
import { copyInode, type InodeData } from '../storage/format/records.js';
import { RecType } from '../storage/layout.js';
import type { VolumeMemo } from '../storage/volume.js';
import type { FileHandle as FileHandleApi } from './api.js';
import type { HammerFs } from './fs.js';
import type { SessionMemo } from './fs-core.js';
import type { Inode } from './inode.js';
import { inodeLocalization } from './keys.js';
import type { MountCounters } from './mount.js';
import type { InoStats } from './reclaim.js';
import type { ReplayScheduler } from './schedulers.js';

/**
 * A running mount's whole state at a quiet point, beside its volume image
 * (a replay checkpoint inside a mount, actors/replay-checkpoints.ts).
 *
 * Quiet means: nothing dirty, staged, queued or running, no flush cycle,
 * nothing waiting to be written, no reference held but the session's (its
 * root, its open files); the only scheduled action is the periodic sync.
 * There, the volume image holds every inode as the cache holds it, and what
 * lives in memory only is small: the numbering of events, groups, records,
 * fds and scheduler actions, the clock, the counters, the per-creator
 * reclaim counts, the FIFO's span, which inodes are cached in which order
 * and each one's in-memory fields (flags, object-id block, REDO
 * bookkeeping), and the file handles (open or closed: a call on a closed
 * one is logged too) with their position and caller. A mount resumed from the image and this memo derives the
 * same events the checkpointed run did: the memo is taken again from the
 * resumed mount and must come out identical, or the checkpoint is refused.
 */
export interface MountMemo {
  bus: number;
  clock: CommandClockState;
  scheduler: { next: number; waiting: number[] };
  volume: VolumeMemo;
  flusher: Snapshot<unknown>;
  backend: number;
  reclaim: Array<[string, InoStats]>;
  mount: { counters: MountCounters; nextRecordId: number; redoReplayed: boolean };
  session: SessionMemo;
  /** Every cached inode, in key order. */
  inodes: InodeMemo[];
  /** The clean ones (their ids), least recently used first. */
  lru: string[];
}

export interface InodeMemo {
  id: string;
  localization: number;
  objId: number;
  asof: number;
  refs: number;
  flags: number;
  syncFlags: number;
  truncOff: number;
  syncTruncOff: number;
  redoFifoStart: number | null;
  redoSinceFlush: number | null;
  redoTermSeq: number | null;
  redoMode: boolean;
  redoBytes: number;
  structural: boolean;
  orphanOnDisk: boolean;
  truncationOnDisk: boolean;
  objidNext: number;
  objidLeft: number;
  reserved: number;
  /**
   * The inode's data (the short symlink target in hex) and its B-tree
   * element: kept whole, not reloaded from the image, since a deleted inode
   * stays cached (and later unloads) with data no longer found there.
   */
  ino: Omit<InodeData, 'symlink'> & { symlink: string };
  leaf: LeafElm | null;
}

function inodeMemo(ip: Inode): InodeMemo {
  return {
    id: ip.id,
    localization: ip.localization,
    objId: ip.objId,
    asof: ip.asof,
    refs: ip.refs,
    flags: ip.flags,
    syncFlags: ip.syncFlags,
    truncOff: ip.truncOff,
    syncTruncOff: ip.syncTruncOff,
    redoFifoStart: ip.redoFifoStart ?? null,
    redoSinceFlush: ip.redoSinceFlush ?? null,
    redoTermSeq: ip.redoTermSeq ?? null,
    redoMode: ip.redoMode,
    redoBytes: ip.redoBytes,
    structural: ip.structural,
    orphanOnDisk: ip.orphanOnDisk,
    truncationOnDisk: ip.truncationOnDisk,
    objidNext: ip.objidNext,
    objidLeft: ip.objidLeft,
    reserved: ip.reserved,
    ino: { ...ip.ino, symlink: Buffer.from(ip.ino.symlink).toString('hex') },
    leaf: ip.leaf === undefined ? null : copyLeafElm(ip.leaf),
  };
}

/** Why an inode keeps the mount from being quiet, if it does: `held` references are the session's (its root, open handles). */
function busyInode(ip: Inode, held: number): string | undefined {
  if (ip.state !== 'idle' || ip.dirty || ip.group !== undefined) return `${ip.id} is ${ip.state}, not clean`;
  if (ip.records.size > 0 || ip.targetList.length > 0 || ip.blocks.size > 0) return `${ip.id} holds records`;
  if (ip.refs !== held) return `${ip.id} is referenced by a call under way`;
  return undefined;
}

/** The mount's memo, or why it is not quiet now; `handles` are the replay's, by fd (closed ones too). */
export function captureMemo(
  fs: HammerFs,
  clock: CommandClock,
  scheduler: ReplayScheduler,
  handles: ReadonlyMap<number, FileHandleApi>,
): { memo: MountMemo } | { busy: string } {
  const mount = fs.mount;
  if (mount.failed !== undefined) return { busy: 'the mount has failed' };
  if (mount.readOnly) return { busy: 'the mount is read-only' };
  if (mount.dirty.size > 0 || mount.reclaim.size > 0 || mount.dirtyDataBytes > 0 || mount.inFlush) {
    return { busy: 'inodes are dirty' };
  }
  if (mount.space.reservedBytes !== 0 || mount.bus.tid !== undefined) return { busy: 'a flush is under way' };
  const session = fs.sessionMemo(handles);
  if (session === undefined) return { busy: 'a file is open that the replay does not know' };
  const flusher = mount.flusher.memo();
  const backend = mount.backend.memo();
  if (flusher === undefined || backend === undefined) return { busy: 'the flusher is not idle' };
  const volume = mount.volume.memo();
  if (volume === undefined) return { busy: 'the volume has something to write' };
  const held = new Map<string, number>([[fs.rootInode.id, 1]]);
  for (const { inode } of session.handles) if (inode !== null) held.set(inode, (held.get(inode) ?? 0) + 1);
  const cached = mount.cached();
  for (const ip of cached) {
    const busy = busyInode(ip, held.get(ip.id) ?? 0);
    if (busy !== undefined) return { busy };
  }
  const { lru, ...own } = mount.memo();
  return {
    memo: {
      bus: mount.bus.lastSeq,
      clock: clock.state,
      scheduler: scheduler.memo,
      volume,
      flusher,
      backend,
      reclaim: mount.reclaim.stats,
      mount: own,
      session,
      inodes: cached.map(inodeMemo),
      lru: lru.map((ip) => ip.id),
    },
  };
}

/**
 * The inode `entry` describes, cached as the checkpointed mount had it (the
 * one already cached: the root); `held` when the session holds it (kept off
 * the clean list). Its record on the image must be the one the memo names;
 * a deleted inode's may be gone.
 */
function reload(fs: HammerFs, entry: InodeMemo, held: boolean): Inode {
  if (entry.leaf !== null) {
    const key = {
      localization: inodeLocalization(entry.localization),
      objId: entry.objId,
      recType: RecType.INODE,
      key: 0,
    };
    const found = fs.mount.volume.lookup(key, entry.asof);
    const deleted = (entry.flags & InodeFlag.DELETED) !== 0 || entry.ino.nlinks === 0;
    if (found === undefined ? !deleted : !sameRecord(found, entry.leaf)) {
      throw new Error(`${entry.id}: the image holds another inode record than the memo names`);
    }
  }
  const { symlink, ...rest } = entry.ino;
  const ino = copyInode({ ...rest, symlink: Uint8Array.from(Buffer.from(symlink, 'hex')) });
  const leaf = entry.leaf === null ? undefined : copyLeafElm(entry.leaf);
  return fs.mount.restoreCached(entry, Object.freeze(ino), leaf, entry.flags, held);
}

/**
 * Put a freshly mounted filesystem (Volume.resume, nothing replayed at mount,
 * the bus silent) in the state `memo` describes, then let the bus go on
 * into `sink`; the session's handles (closed ones too) go into `handles`.
 * Throws EIO when the result is not that state.
 */
export function resumeMemo(
  fs: HammerFs,
  memo: MountMemo,
  clock: CommandClock,
  scheduler: ReplayScheduler,
  sink: EventSink | undefined,
  handles: Map<number, FileHandleApi>,
): void {
  const mount = fs.mount;
  try {
    const byId = new Map(memo.inodes.map((entry) => [entry.id, entry]));
    // What the mount itself loaded and the checkpointed one did not have cached goes first: it would age the others out.
    for (const ip of mount.cached()) if (!byId.has(ip.id) && ip.refs === 0) mount.unload(ip);
    // The held ones (the root, open files) outside the clean list; then the clean ones, least recently used
    // first, so the cache's order comes out as it was and nothing ages out on the way.
    const clean = new Set(memo.lru);
    const loaded = new Map<string, Inode>();
    for (const entry of memo.inodes) if (!clean.has(entry.id)) loaded.set(entry.id, reload(fs, entry, true));
    for (const id of memo.lru) {
      const entry = byId.get(id);
      if (entry === undefined) throw new Error(`${id} is in the LRU order but not cached`);
      const ip = reload(fs, entry, false);
      mount.touchClean(ip);
      loaded.set(id, ip);
    }
    for (const entry of memo.inodes) {
      const ip = loaded.get(entry.id) as Inode;
      ip.flags = entry.flags;
      ip.syncFlags = entry.syncFlags;
      ip.truncOff = entry.truncOff;
      ip.syncTruncOff = entry.syncTruncOff;
      ip.redoFifoStart = entry.redoFifoStart ?? undefined;
      ip.redoSinceFlush = entry.redoSinceFlush ?? undefined;
      ip.redoTermSeq = entry.redoTermSeq ?? undefined;
      ip.redoMode = entry.redoMode;
      ip.redoBytes = entry.redoBytes;
      ip.structural = entry.structural;
      ip.orphanOnDisk = entry.orphanOnDisk;
      ip.truncationOnDisk = entry.truncationOnDisk;
      ip.objidNext = entry.objidNext;
      ip.objidLeft = entry.objidLeft;
      ip.reserved = entry.reserved;
      mount.redo.adopt(ip);
    }
    mount.flusher.resume(memo.flusher);
    mount.backend.resume(memo.backend);
    mount.reclaim.resumeStats(memo.reclaim);
    mount.resume(memo.mount);
    for (const [fd, handle] of fs.resumeSession(memo.session, loaded)) handles.set(fd, handle);
    scheduler.resume(memo.scheduler);
    clock.resume(memo.clock);
    mount.bus.resumeAt(memo.bus, undefined);
  } catch (error) {
    throw new FsError('EIO', `replay checkpoint: ${error instanceof Error ? error.message : String(error)}`);
  }
  const again = captureMemo(fs, clock, scheduler, handles);
  const difference = 'busy' in again ? again.busy : firstDifference(memo, again.memo, 'memo');
  if (difference !== undefined) {
    throw new FsError('EIO', `replay checkpoint: the resumed mount is not the one checkpointed (${difference})`);
  }
  mount.bus.resumeAt(memo.bus, sink);
}

function sameRecord(a: LeafElm, b: LeafElm): boolean {
  return a.createTid === b.createTid && a.dataOffset === b.dataOffset && a.dataCrc === b.dataCrc;
}

/** Where two JSON values first differ (a path), undefined when they do not. */
function firstDifference(a: unknown, b: unknown, path: string): string | undefined {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return Object.is(a, b) ? undefined : `${path}: ${JSON.stringify(a)} against ${JSON.stringify(b)}`;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    const found = firstDifference(
      (a as Record<string, unknown>)[key],
      (b as Record<string, unknown>)[key],
      `${path}.${key}`,
    );
    if (found !== undefined) return found;
  }
  return undefined;
}
