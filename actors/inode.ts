import type { InodeEmitted, InodeEvent } from '../machines/inode.js';
import { InodeFlag, MODMASK } from '../machines/inode-flags.js';
import { assert } from '../storage/assert.js';
import type { FlushSynced } from '../storage/audit-schema.js';
import type { LeafElm } from '../storage/format/btree-node.js';
import { copyInode, type InodeData } from '../storage/format/records.js';
import { ObjType, TID_MAX } from '../storage/layout.js';
import type { EventBus } from './bus.js';
import { type InodeMirror, inodeStep } from './inode-transitions.js';
import type { Entry } from './namespace.js';
import type { MemRecord } from './records.js';

export type InodeState = 'idle' | 'setup' | 'flush' | 'unloaded';

export { UF_NOHISTORY } from './api.js';

import { UF_NOHISTORY } from './api.js';

/** Where the inode's emitted events go: the coordinator drains them after each send. */
export interface EmitSink {
  emitted(ip: Inode, event: InodeEmitted): void;
}

/**
 * One cached inode (hammer_inode): the frontend copy (`ino`, frozen,
 * replaced on every change), the on-disk element (`leaf`), the in-memory
 * records and the target list, and the XState actor that owns the flush state
 * and flags. The actor is virtual: its snapshot is mirrored in `state`,
 * `flags`, ... and each event runs through the machine's pure transition, so
 * a cached inode costs no running actor.
 */
export class Inode implements InodeMirror {
  readonly localization: number;
  readonly objId: number;
  /** TID_MAX for the live inode; an as-of inode is read-only. */
  readonly asof: number;
  readonly id: string;
  ino: InodeData;
  leaf: LeafElm | undefined;
  readonly records = new Set<MemRecord>();
  readonly targetList: MemRecord[] = [];
  /** DATA: newest record per block base. */
  readonly blocks = new Map<number, MemRecord>();
  /** Directory bookkeeping, allocated on first use (a file never pays for it). */
  private dir: DirectoryState | undefined;

  /** Directories: newest live ADD per name. */
  get names(): Map<string, MemRecord> {
    this.dir ??= new DirectoryState();
    return this.dir.names;
  }

  /** Directories: DEL records by on-disk key. */
  get dels(): Map<string, MemRecord> {
    this.dir ??= new DirectoryState();
    return this.dir.dels;
  }

  /** Directories: pending DEL records by name (a new entry of that name waits for them). */
  get delsByName(): Map<string, Set<MemRecord>> {
    this.dir ??= new DirectoryState();
    return this.dir.delsByName;
  }

  /**
   * Directories: what disk lookups found per name (the entry, or none) and
   * the collision keys in use for its hash, like the VFS namecache. Dropped
   * for a name whenever an entry of that name is added, removed or committed.
   * The keys also change when another name of the same hash is committed:
   * they hold while `commits` is the directory's entryCommits.
   */
  get nameCache(): Map<string, NameCacheEntry> {
    this.dir ??= new DirectoryState();
    return this.dir.nameCache;
  }

  /** Directories: entries committed to the volume so far (ADD and DEL records flushed). */
  get entryCommits(): number {
    return this.dir?.commits ?? 0;
  }

  /** Directories: an entry record of `name` reached the volume. */
  entryCommitted(name: string): void {
    this.dir ??= new DirectoryState();
    this.dir.nameCache.delete(name);
    this.dir.commits++;
  }

  /** Directories: B-tree keys held by in-memory ADD / DEL records (a count per key). */
  get entryKeys(): Map<number, number> {
    this.dir ??= new DirectoryState();
    return this.dir.entryKeys;
  }

  /** Open handles and operations in progress. */
  refs = 0;
  /** REDO bookkeeping (hammer_redo_fifo_*): the first REDO offset still needed, and since the flush began. */
  redoFifoStart: number | undefined;
  redoSinceFlush: number | undefined;
  /** The FIFO seq at flush_inode_core when REDO was pending: the TERM this flush logs covers seqs before it. */
  redoTermSeq: number | undefined;
  /** HAMMER_INODE_REDO: writes after the first fsync also go to the REDO log. */
  redoMode = false;
  /** REDO bytes logged since the last full flush (hammer_limit_redo). */
  redoBytes = 0;
  /** A change REDO does not cover happened since the last flush (fsync must flush). */
  structural = false;
  /** The inode record on disk has nlinks 0 and an ORPHAN record goes with it (actors/orphans.ts). */
  orphanOnDisk: boolean;
  /**
   * An emergency finalize committed this inode's truncation part-way: a
   * TRUNCATION record is on disk until the truncation finishes (orphans.ts).
   * False after a load until the mount's truncation pass finds the record.
   */
  truncationOnDisk = false;
  /** Directories: the block of object ids handed to this directory (hammer_alloc_objid). */
  objidNext = 0;
  objidLeft = 0;
  /** Space reserved for this inode's next flush (RSV_INODES). */
  reserved = 0;

  state: InodeState = 'idle';
  flags: number;
  syncFlags = 0;
  syncData: InodeData | undefined;
  truncOff = Number.MAX_SAFE_INTEGER;
  syncTruncOff = Number.MAX_SAFE_INTEGER;
  group: number | undefined;
  error: string | undefined;

  constructor(
    key: { localization: number; objId: number; asof: number },
    ino: InodeData,
    leaf: LeafElm | undefined,
    flags: number,
    private readonly bus: EventBus,
    private readonly sink: EmitSink,
  ) {
    this.localization = key.localization;
    this.objId = key.objId;
    this.asof = key.asof;
    this.id = `inode:${key.localization}:${key.objId}:${key.asof === TID_MAX ? 'live' : key.asof}`;
    this.ino = ino;
    this.leaf = leaf;
    this.flags = flags;
    // Loaded with no links: a crash left it open and unlinked, and its ORPHAN record says so (orphans.ts).
    this.orphanOnDisk = leaf !== undefined && ino.nlinks === 0 && key.asof === TID_MAX;
  }

  /** A directory's in-memory entry state, if it has any yet (a replay checkpoint keeps it). */
  get directory(): DirectoryState | undefined {
    return this.dir;
  }

  get isDirectory(): boolean {
    return this.ino.objType === ObjType.DIRECTORY;
  }

  get noHistory(): boolean {
    return (this.ino.uflags & UF_NOHISTORY) !== 0;
  }

  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }

  get dirty(): boolean {
    return (this.flags & MODMASK) !== 0;
  }

  /**
   * Deliver one event to the inode's actor. The actor is virtual: between
   * events it is nothing but its snapshot, mirrored in the fields above, and
   * each event runs through the machine's pure transition (actors/inode-transitions.ts).
   * Never called from inside this inode's own transition: emitted events are
   * handed to the sink, which the coordinator drains after the send returns.
   */
  send(event: InodeEvent<InodeData>, synced?: FlushSynced): void {
    assert(this.state !== 'unloaded', `an unloaded inode gets no events (${this.id}, ${event.type})`);
    const from = this.state;
    const emitted = inodeStep(this, event);
    if (this.bus.active) {
      // The group the inode is in (FLUSH state) rides along: a reader of the log sees which group it joined.
      this.bus.inodeFact(this.id, event.type, from, this.state, this.flags, this.syncFlags, this.group, synced);
    }
    for (const out of emitted) this.sink.emitted(this, out);
  }

  /**
   * MARK bookkeeping flags (REFLUSH, CONN_DOWN, RDIRTY, ...): only when one
   * of them is not set yet. A MARK that changes nothing is a self-transition
   * with nothing to record, and staging would log one per record otherwise.
   */
  mark(flags: number): void {
    if ((this.flags & flags) !== flags) this.send({ type: 'MARK', flags });
  }

  /** The frontend copy, with the time fields an as-of view reports (atime = mtime = ctime). */
  view(): InodeData {
    if (this.asof === TID_MAX) return this.ino;
    const view = copyInode(this.ino);
    view.atime = view.mtime = view.ctime;
    return view;
  }
}

/** A directory lookup's result as the name cache keeps it (Inode.nameCache). */
export interface NameCacheEntry {
  entry: Entry | undefined;
  /** The collision keys of the name's hash in use on the volume when looked up. */
  keys: number[];
  /** The directory's entryCommits then. */
  commits: number;
}

export class DirectoryState {
  readonly names = new Map<string, MemRecord>();
  readonly dels = new Map<string, MemRecord>();
  readonly delsByName = new Map<string, Set<MemRecord>>();
  readonly nameCache = new Map<string, NameCacheEntry>();
  readonly entryKeys = new Map<number, number>();
  commits = 0;
}

export { InodeFlag };
