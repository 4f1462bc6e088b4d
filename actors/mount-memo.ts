import { InodeFlag } from '../machines/inode-flags.js';
import type { EventSink } from '../storage/audit-log.js';
import type { CommandClock, CommandClockState } from '../storage/clock.js';
import { FsError } from '../storage/errors.js';
import { type BTreeKey, copyLeafElm, type LeafElm } from '../storage/format/btree-node.js';
import { copyInode, decodeInode, type InodeData } from '../storage/format/records.js';
import { RecType } from '../storage/layout.js';
import type { VolumeMemo } from '../storage/volume.js';
import type { FileHandle as FileHandleApi } from './api.js';
import type { FlusherMemo } from './flusher.js';
import type { HammerFs } from './fs.js';
import type { SessionMemo } from './fs-core.js';
import type { Inode, InodeState } from './inode.js';
import { inodeLocalization } from './keys.js';
import type { MountCounters } from './mount.js';
import type { InoStats } from './reclaim.js';
import type { MemRecord } from './records.js';
import type { ReplayScheduler, SchedulerMemo } from './schedulers.js';

/**
 * A running mount's whole state between two commands, beside its volume
 * image (a replay checkpoint inside a mount, actors/replay-checkpoints.ts).
 *
 * It can be taken when the volume is at rest (no flush cycle, nothing
 * waiting to be written: between two flush groups, which every command is)
 * and nothing is half done (nothing being staged or run, nobody waiting on
 * a flush, no reference held but the session's: its root and open files).
 * Then the image holds what was committed, and the memo the rest: the
 * numbering of events, groups, records, fds and scheduler actions; the
 * clock; the counters; the per-creator reclaim counts; the FIFO's span;
 * every cached inode (data, B-tree element, state, flags, sync copy, REDO
 * bookkeeping, object-id block, reservation) with its in-memory records
 * (directory entries and data not flushed yet, their state and links) and
 * directory indexes; the flush groups open or closed; the dirty and
 * reclaim lists and the clean inodes' LRU order; the file handles (open or
 * closed: a call on a closed one is logged too). A mount resumed from the
 * image and this memo derives the same events the checkpointed run did:
 * the memo is taken again from the resumed mount and must come out
 * identical, or the checkpoint is refused.
 */
export interface MountMemo {
  bus: number;
  clock: CommandClockState;
  scheduler: SchedulerMemo;
  volume: VolumeMemo;
  flusher: FlusherMemo;
  backend: number;
  reclaim: Array<[string, InoStats]>;
  mount: { counters: MountCounters; nextRecordId: number; redoReplayed: boolean };
  session: SessionMemo;
  /** Every cached inode, in key order (CompactInode: fields at their usual value left out). */
  inodes: CompactInode[];
  /** The in-memory records of the cached inodes, by id. */
  records: RecordMemo[];
  /** The clean ones (their ids), least recently used first. */
  lru: string[];
  /** The dirty inodes and the reclaim pipeline (ids), in their sets' order. */
  dirty: string[];
  reclaiming: string[];
  dirtyDataBytes: number;
  reservedBytes: number;
}

/** An in-memory record (actors/records.ts MemRecord): its inodes by id, its data in base64. */
export interface RecordMemo {
  id: number;
  type: MemRecord['type'];
  ip: string;
  target: string | null;
  state: MemRecord['state'];
  group: number | null;
  flags: number;
  recType: number;
  key: number;
  base: number;
  data: string;
  name: string;
  diskKey: BTreeKey | null;
}

/** A directory's in-memory entry indexes (records by id). */
interface DirectoryMemo {
  names: Array<[string, number]>;
  dels: Array<[string, number]>;
  delsByName: Array<[string, number[]]>;
  entryKeys: Array<[number, number]>;
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
  state: InodeState;
  group: number | null;
  error: string | null;
  /** The copy a flush took (FLUSH state), the symlink target in hex. */
  syncData: InodeJson | null;
  /** Its records (in its set's order), the records that target it, its data blocks: record ids. */
  records: number[];
  targetList: number[];
  blocks: Array<[number, number]>;
  directory: DirectoryMemo | null;
  /**
   * The inode's data (the short symlink target in hex) and its B-tree
   * element. A clean inode's are its record on the volume: `onDisk` names
   * that record (its create TID and data CRC) and the resumed mount reads
   * them from the image. Others are kept whole: a dirty inode's data is not
   * on the volume yet, and a deleted inode stays cached (and later unloads)
   * with data no longer found there.
   */
  onDisk: { createTid: number; dataCrc: number } | null;
  ino: InodeJson | null;
  leaf: LeafElm | null;
}

/** The value most cached inodes have in each field: a memo leaves those out (tens of thousands of inodes). */
const INODE_DEFAULTS = {
  refs: 0,
  syncFlags: 0,
  truncOff: Number.MAX_SAFE_INTEGER,
  syncTruncOff: Number.MAX_SAFE_INTEGER,
  redoFifoStart: null,
  redoSinceFlush: null,
  redoTermSeq: null,
  redoMode: false,
  redoBytes: 0,
  structural: false,
  orphanOnDisk: false,
  truncationOnDisk: false,
  objidNext: 0,
  objidLeft: 0,
  reserved: 0,
  state: 'idle',
  group: null,
  error: null,
  syncData: null,
  records: [],
  targetList: [],
  blocks: [],
  directory: null,
  onDisk: null,
  ino: null,
  leaf: null,
} as const satisfies Partial<InodeMemo>;

type Defaulted = keyof typeof INODE_DEFAULTS;
export type CompactInode = Omit<InodeMemo, Defaulted> & Partial<Pick<InodeMemo, Defaulted>>;

function fullInode(compact: CompactInode): InodeMemo {
  return { ...INODE_DEFAULTS, ...compact } as InodeMemo;
}

type InodeJson = Omit<InodeData, 'symlink'> & { symlink: string };

function inodeJson(ino: InodeData): InodeJson {
  return { ...ino, symlink: Buffer.from(ino.symlink).toString('hex') };
}

function inodeData(json: InodeJson): InodeData {
  const { symlink, ...rest } = json;
  return Object.freeze(copyInode({ ...rest, symlink: Uint8Array.from(Buffer.from(symlink, 'hex')) }));
}

function recordMemo(record: MemRecord): RecordMemo {
  return {
    id: record.id,
    type: record.type,
    ip: record.ip.id,
    target: record.target?.id ?? null,
    state: record.state,
    group: record.group ?? null,
    flags: record.flags,
    recType: record.recType,
    key: record.key,
    base: record.base,
    data: Buffer.from(record.data).toString('base64'),
    name: record.name,
    diskKey: record.diskKey === undefined ? null : { ...record.diskKey },
  };
}

/** Every record an inode holds or is targeted by (its set, target list, blocks, directory indexes). */
function* recordsOf(ip: Inode): Generator<MemRecord> {
  yield* ip.records;
  yield* ip.targetList;
  yield* ip.blocks.values();
  const dir = ip.directory;
  if (dir === undefined) return;
  yield* dir.names.values();
  yield* dir.dels.values();
  for (const set of dir.delsByName.values()) yield* set;
}

/** A directory's indexes, null when it has none or all are empty (the same to every lookup). */
function directoryMemo(ip: Inode): DirectoryMemo | null {
  const dir = ip.directory;
  if (dir === undefined) return null;
  if (dir.names.size + dir.dels.size + dir.delsByName.size + dir.entryKeys.size === 0) return null;
  return {
    names: [...dir.names].map(([name, record]) => [name, record.id]),
    dels: [...dir.dels].map(([key, record]) => [key, record.id]),
    delsByName: [...dir.delsByName].map(([name, set]) => [name, [...set].map((record) => record.id)]),
    entryKeys: [...dir.entryKeys],
  };
}

/** An inode as a memo keeps it: what differs from INODE_DEFAULTS. */
function inodeMemo(ip: Inode): CompactInode {
  const memo: CompactInode = {
    id: ip.id,
    localization: ip.localization,
    objId: ip.objId,
    asof: ip.asof,
    flags: ip.flags,
  };
  if (ip.refs !== 0) memo.refs = ip.refs;
  if (ip.syncFlags !== 0) memo.syncFlags = ip.syncFlags;
  if (ip.truncOff !== Number.MAX_SAFE_INTEGER) memo.truncOff = ip.truncOff;
  if (ip.syncTruncOff !== Number.MAX_SAFE_INTEGER) memo.syncTruncOff = ip.syncTruncOff;
  if (ip.redoFifoStart !== undefined) memo.redoFifoStart = ip.redoFifoStart;
  if (ip.redoSinceFlush !== undefined) memo.redoSinceFlush = ip.redoSinceFlush;
  if (ip.redoTermSeq !== undefined) memo.redoTermSeq = ip.redoTermSeq;
  if (ip.redoMode) memo.redoMode = true;
  if (ip.redoBytes !== 0) memo.redoBytes = ip.redoBytes;
  if (ip.structural) memo.structural = true;
  if (ip.orphanOnDisk) memo.orphanOnDisk = true;
  if (ip.truncationOnDisk) memo.truncationOnDisk = true;
  if (ip.objidNext !== 0) memo.objidNext = ip.objidNext;
  if (ip.objidLeft !== 0) memo.objidLeft = ip.objidLeft;
  if (ip.reserved !== 0) memo.reserved = ip.reserved;
  if (ip.state !== 'idle' && ip.state !== 'unloaded') memo.state = ip.state;
  if (ip.group !== undefined) memo.group = ip.group;
  if (ip.error !== undefined) memo.error = ip.error;
  if (ip.syncData !== undefined) memo.syncData = inodeJson(ip.syncData);
  if (ip.records.size > 0) memo.records = [...ip.records].map((record) => record.id);
  if (ip.targetList.length > 0) memo.targetList = ip.targetList.map((record) => record.id);
  if (ip.blocks.size > 0) memo.blocks = [...ip.blocks].map(([base, record]) => [base, record.id]);
  const directory = directoryMemo(ip);
  if (directory !== null) memo.directory = directory;
  return dataMemo(ip, memo);
}

/** An inode's data and element: its record on the volume named when that is what it holds (InodeMemo.onDisk). */
function dataMemo(ip: Inode, memo: CompactInode): CompactInode {
  const clean = !ip.dirty && ip.state === 'idle' && ip.syncData === undefined && ip.records.size === 0;
  const live = (ip.flags & (InodeFlag.DELETED | InodeFlag.DUMMY)) === 0 && ip.ino.nlinks > 0;
  if (ip.leaf !== undefined && clean && live) {
    memo.onDisk = { createTid: ip.leaf.createTid, dataCrc: ip.leaf.dataCrc };
  } else {
    memo.ino = inodeJson(ip.ino);
    if (ip.leaf !== undefined) memo.leaf = copyLeafElm(ip.leaf);
  }
  return memo;
}

/** The mount's memo, or why it cannot be taken now; `handles` are the replay's, by fd (closed ones too). */
export function captureMemo(
  fs: HammerFs,
  clock: CommandClock,
  scheduler: ReplayScheduler,
  handles: ReadonlyMap<number, FileHandleApi>,
): { memo: MountMemo } | { busy: string } {
  const mount = fs.mount;
  if (mount.failed !== undefined) return { busy: 'the mount has failed' };
  if (mount.readOnly) return { busy: 'the mount is read-only' };
  if (mount.inFlush || mount.bus.tid !== undefined) return { busy: 'a flush is under way' };
  const session = fs.sessionMemo(handles);
  if (session === undefined) return { busy: 'a file is open that the replay does not know' };
  const flusher = mount.flusher.memo();
  const backend = mount.backend.memo();
  if (flusher === undefined || backend === undefined) return { busy: 'the flusher is staging or running' };
  const volume = mount.volume.memo();
  if (volume === undefined) return { busy: 'the volume has something to write' };
  const held = new Map<string, number>([[fs.rootInode.id, 1]]);
  for (const { inode } of session.handles) if (inode !== null) held.set(inode, (held.get(inode) ?? 0) + 1);
  const cached = mount.cached();
  // The session's references (its root, open handles) are all an inode may have between two commands.
  for (const ip of cached) {
    if (ip.refs !== (held.get(ip.id) ?? 0)) return { busy: `${ip.id} is referenced by a call under way` };
  }
  const { lru, ...own } = mount.memo();
  const records = new Map<number, MemRecord>();
  for (const ip of cached) for (const record of recordsOf(ip)) records.set(record.id, record);
  return {
    memo: {
      bus: mount.bus.lastSeq,
      clock: clock.state,
      scheduler: scheduler.memo(mount.flusher.scheduledRun),
      volume,
      flusher,
      backend,
      reclaim: mount.reclaim.stats,
      mount: own,
      session,
      inodes: cached.map(inodeMemo),
      records: [...records.values()].sort((a, b) => a.id - b.id).map(recordMemo),
      lru: lru.map((ip) => ip.id),
      dirty: [...mount.dirty].map((ip) => ip.id),
      reclaiming: mount.reclaim.members.map((ip) => ip.id),
      dirtyDataBytes: mount.dirtyDataBytes,
      reservedBytes: mount.space.reservedBytes,
    },
  };
}

/**
 * The inode `entry` describes, cached as the checkpointed mount had it (the
 * one already cached: the root); `clean` when it goes on the clean list (not
 * dirty, not referenced). Its record on the image must be the one the memo
 * names; a deleted inode's may be gone.
 */
function reload(fs: HammerFs, entry: InodeMemo, clean: boolean): Inode {
  const volume = fs.mount.volume;
  const key = {
    localization: inodeLocalization(entry.localization),
    objId: entry.objId,
    recType: RecType.INODE,
    key: 0,
  };
  const found = entry.onDisk !== null || entry.leaf !== null ? volume.lookup(key, entry.asof) : undefined;
  if (entry.onDisk !== null) {
    if (found === undefined || found.createTid !== entry.onDisk.createTid || found.dataCrc !== entry.onDisk.dataCrc) {
      throw new Error(`${entry.id}: the image holds another inode record than the memo names`);
    }
    const ino = Object.freeze(decodeInode(volume.readData(found), `inode ${entry.objId}`));
    return fs.mount.restoreCached(entry, ino, found, entry.flags, clean);
  }
  if (entry.ino === null) throw new Error(`${entry.id}: the memo has neither its data nor its record`);
  if (entry.leaf !== null) {
    const deleted = (entry.flags & InodeFlag.DELETED) !== 0 || entry.ino.nlinks === 0;
    if (found === undefined ? !deleted : !sameRecord(found, entry.leaf)) {
      throw new Error(`${entry.id}: the image holds another inode record than the memo names`);
    }
  }
  const leaf = entry.leaf === null ? undefined : copyLeafElm(entry.leaf);
  return fs.mount.restoreCached(entry, inodeData(entry.ino), leaf, entry.flags, clean);
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
    const inodes = memo.inodes.map(fullInode);
    const byId = new Map(inodes.map((entry) => [entry.id, entry]));
    // What the mount itself loaded and the checkpointed one did not have cached goes first: it would age the others out.
    for (const ip of mount.cached()) if (!byId.has(ip.id) && ip.refs === 0) mount.unload(ip);
    // The dirty and referenced ones (the root, open files) outside the clean list; then the clean ones, least recently used
    // first, so the cache's order comes out as it was and nothing ages out on the way.
    const clean = new Set(memo.lru);
    const loaded = new Map<string, Inode>();
    for (const entry of inodes) if (!clean.has(entry.id)) loaded.set(entry.id, reload(fs, entry, false));
    for (const id of memo.lru) {
      const entry = byId.get(id);
      if (entry === undefined) throw new Error(`${id} is in the LRU order but not cached`);
      const ip = reload(fs, entry, true);
      mount.touchClean(ip);
      loaded.set(id, ip);
    }
    const records = restoreRecords(memo.records, loaded);
    const record = (id: number) => {
      const found = records.get(id);
      if (found === undefined) throw new Error(`record ${id} is not in the memo`);
      return found;
    };
    for (const entry of inodes) {
      const ip = loaded.get(entry.id) as Inode;
      ip.state = entry.state;
      ip.group = entry.group ?? undefined;
      ip.error = entry.error ?? undefined;
      ip.syncData = entry.syncData === null ? undefined : inodeData(entry.syncData);
      for (const id of entry.records) ip.records.add(record(id));
      for (const id of entry.targetList) ip.targetList.push(record(id));
      for (const [base, id] of entry.blocks) ip.blocks.set(base, record(id));
      if (entry.directory !== null) {
        for (const [name, id] of entry.directory.names) ip.names.set(name, record(id));
        for (const [key, id] of entry.directory.dels) ip.dels.set(key, record(id));
        for (const [name, ids] of entry.directory.delsByName) ip.delsByName.set(name, new Set(ids.map(record)));
        for (const [key, count] of entry.directory.entryKeys) ip.entryKeys.set(key, count);
      }
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
    for (const id of memo.dirty) mount.dirty.add(loaded.get(id) as Inode);
    for (const id of memo.reclaiming) mount.reclaim.add(loaded.get(id) as Inode);
    mount.dirtyDataBytes = memo.dirtyDataBytes;
    mount.space.resumeTotal(memo.reservedBytes);
    mount.flusher.resume(memo.flusher, loaded, memo.scheduler.flushRun !== null);
    mount.backend.resume(memo.backend);
    mount.reclaim.resumeStats(memo.reclaim);
    mount.resume(memo.mount);
    for (const [fd, handle] of fs.resumeSession(memo.session, loaded)) handles.set(fd, handle);
    scheduler.resume(memo.scheduler, mount.flusher.scheduledRun);
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

/** The records a memo lists, made again (their inodes among `inodes`), by id. */
function restoreRecords(memos: readonly RecordMemo[], inodes: ReadonlyMap<string, Inode>): Map<number, MemRecord> {
  const inode = (id: string) => {
    const ip = inodes.get(id);
    if (ip === undefined) throw new Error(`a record's inode ${id} is not cached`);
    return ip;
  };
  const records = new Map<number, MemRecord>();
  for (const memo of memos) {
    // Every field in newRecord's order: one shape for all records.
    records.set(memo.id, {
      id: memo.id,
      type: memo.type,
      ip: inode(memo.ip),
      target: memo.target === null ? undefined : inode(memo.target),
      state: memo.state,
      group: memo.group ?? undefined,
      flags: memo.flags,
      recType: memo.recType,
      key: memo.key,
      base: memo.base,
      data: Uint8Array.from(Buffer.from(memo.data, 'base64')),
      name: memo.name,
      diskKey: memo.diskKey === null ? undefined : { ...memo.diskKey },
    });
  }
  return records;
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
