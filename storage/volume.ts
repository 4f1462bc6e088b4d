import { assert } from './assert.js';
import { Blockmap } from './blockmap.js';
import { BTree } from './btree.js';
import { BufferCache } from './buffers.js';
import type { Clock } from './clock.js';
import type { BlockDevice } from './device.js';
import { FsError } from './errors.js';
import type { BTreeKey, LeafElm } from './format/btree-node.js';
import type { RedoRecord } from './format/fifo.js';
import { emptyBlockmapEntry, encodeHeader, HEADER_SLOTS, readHeader, type VolumeHeader } from './format/header.js';
import { encodeInode, encodePfs, rootDirectoryInode } from './format/records.js';
import {
  BIGBLOCK_BYTES,
  LOCALIZE_INODE,
  LOCALIZE_MISC,
  localization,
  ObjType,
  offPart,
  RecType,
  ROOT_OBJ_ID,
  TID_MAX,
  Zone,
} from './layout.js';
import { initialHeader, validateLayout, writeInitialFreemap } from './mkfs.js';
import { NodeCache } from './node-cache.js';
import type { BTreeNode } from './node-store.js';
import { RecordData } from './record-data.js';
import { type RecoveryReport, recoverStage1 } from './recovery.js';
import { type FifoSpan, UndoFifo } from './undo-fifo.js';
import { CommitProtocol, zoneBases } from './volume-commit.js';
import { RecordOps } from './volume-records.js';
import type {
  MkfsOptions,
  MountOptions,
  RecordInput,
  VolumeCounters,
  VolumeObserver,
  VolumeStats,
} from './volume-types.js';

export type * from './volume-types.js';

/** Volume.memo(): what a mid-mount replay checkpoint keeps of the volume beside its image. */
export interface VolumeMemo {
  fifo: FifoSpan;
  protectedFrom: number | null;
  counters: VolumeCounters;
  /** The next TID as handed out (object-id blocks take TIDs between commits); the rest of the working state is the header's. */
  nextTid: number;
  stats: VolumeStats;
}

/**
 * A mounted volume: header, FIFO, buffer cache, blockmap, B-tree and the flush
 * cycle. Meta-data changes only inside a cycle, which has one TID
 * (beginCycle ... commit). commit() is the durability point: it returns after
 * data, UNDO/REDO, meta-data and then the header are each written and fsynced,
 * so a committed cycle survives any crash, and a crash before its header lands
 * rolls the whole cycle back, never half of it. The commit protocol itself
 * (finalize, the header commit, abort, the REDO fast path) is in
 * volume-commit.ts and the record changes in volume-records.ts: the volume
 * checks it may write (and that a cycle runs), then delegates.
 */
export class Volume {
  readonly device: BlockDevice;
  readonly recovery: RecoveryReport;
  readonly fifo: UndoFifo;
  readonly counters: VolumeCounters = {
    cycles: 0,
    finalizes: 0,
    fsyncs: 0,
    metaBytesWritten: 0,
    dataBytesWritten: 0,
    fifoBytesWritten: 0,
    recordsInserted: 0,
    recordsDeleted: 0,
  };
  private readonly cache: BufferCache;
  private readonly blockmap: Blockmap;
  private readonly nodes: NodeCache;
  private readonly data: RecordData;
  private tree: BTree | undefined;
  private readonly clock: Clock;
  /** The cycle, the header it commits and the working state it changes. */
  private readonly flush: CommitProtocol;
  private readonly records: RecordOps;
  private closed = false;
  private ro: boolean;
  /** A read-only mount's recovery stage 1: rolled back in memory, written when the mount turns read-write. */
  private recoveryPending: boolean;
  /** Why the volume stopped writing (a critical error), if it did. */
  private failure: string | undefined;
  observer: VolumeObserver | undefined;

  private constructor(
    device: BlockDevice,
    header: VolumeHeader,
    options: MountOptions,
    fresh: boolean,
    resume?: VolumeMemo,
  ) {
    this.device = device;
    this.ro = options.readOnly ?? false;
    this.recoveryPending = !fresh && this.ro;
    this.clock = options.clock;
    const undo = header.blockmap[Zone.UNDO] ?? emptyBlockmapEntry();
    const first = offPart(undo.firstOffset);
    this.fifo = new UndoFifo(device, header.bufBeg, header.undoArray, {
      first,
      firstSeq: header.undoFirstSeq,
      next: first,
      nextSeq: header.undoFirstSeq,
    });
    // Read-only is enforced here (checkWritable), not below: a remount may turn the volume read-write.
    this.cache = new BufferCache(device, this.fifo, options.cacheBuffers);
    this.recovery = recoverStage1(device, this.fifo, this.cache, {
      readOnly: this.readOnly,
      skipScan: fresh || resume !== undefined,
      redoStart: header.redoStart === 0 ? undefined : offPart(header.redoStart),
    });
    const bigblocks = (header.bufEnd - header.bufBeg) / BIGBLOCK_BYTES;
    this.blockmap = new Blockmap(this.cache, header.freemapBeg, header.bufBeg, bigblocks, zoneBases(header));
    this.nodes = new NodeCache(this.cache, this.blockmap, header.bufBeg, header.bufEnd, {
      get: () => this.flush.working.btreeRoot,
      set: (offset) => {
        this.flush.working.btreeRoot = offset;
      },
    });
    this.data = new RecordData(this.cache, this.blockmap, header.bufBeg, header.bufEnd);
    this.flush = new CommitProtocol(
      {
        device,
        fifo: this.fifo,
        cache: this.cache,
        blockmap: this.blockmap,
        nodes: this.nodes,
        data: this.data,
        counters: this.counters,
        observer: () => this.observer,
      },
      header,
    );
    this.records = new RecordOps(
      () => this.btree,
      this.data,
      this.blockmap,
      this.clock,
      this.counters,
      () => this.observer,
    );
    this.cache.onEvict = (buffer) => this.nodes.evictBuffer(buffer);
    this.tree = fresh ? undefined : new BTree(this.nodes);
    // A volume whose root node cannot be read is refused here, with the EIO naming it.
    if (!fresh) this.nodes.readNode(header.btreeRoot);
    if (resume !== undefined) {
      this.fifo.resetTo(resume.fifo);
      this.fifo.protect(resume.protectedFrom ?? undefined);
      Object.assign(this.counters, resume.counters);
      // TIDs handed out since the last commit (object-id blocks) are past the header's next TID.
      this.flush.working.nextTid = resume.nextTid;
    } else if (!fresh && !this.ro) this.flush.commitRecovery(this.recovery);
  }

  /**
   * What a replay checkpoint inside a mount keeps of the volume beside its
   * image: the FIFO's span, the counters and the next TID, which live in
   * memory only, and the stats the resumed volume must show again. Undefined while anything
   * is not on disk yet (a cycle runs, a buffer, node, FIFO block or large
   * data waits to be written, a free waits for its commit): then the image
   * alone would not be the volume.
   */
  memo(): VolumeMemo | undefined {
    if (this.closed || this.failure !== undefined || this.recoveryPending || this.flush.cycle !== undefined) {
      return undefined;
    }
    const quiet = this.cache.dirtyCount() === 0 && this.fifo.quiet && this.nodes.quiet && this.data.quiet;
    if (!quiet || !this.blockmap.quiet) return undefined;
    return {
      fifo: { ...this.fifo.state },
      protectedFrom: this.fifo.protectedStart ?? null,
      counters: { ...this.counters },
      nextTid: this.flush.working.nextTid,
      stats: this.stats(),
    };
  }

  /**
   * Open `device` as the volume that memo() described when its image was
   * taken: no recovery (the image is a committed state, and recovery would
   * write a header of its own), the FIFO and counters where they stood.
   */
  static resume(device: BlockDevice, options: MountOptions, memo: VolumeMemo): Volume {
    const { header } = readHeader(device);
    validateLayout(header, device.size);
    return new Volume(device, header, options, false, memo);
  }

  get readOnly(): boolean {
    return this.ro;
  }

  /** The critical error that stopped this volume writing, if any. */
  get failed(): string | undefined {
    return this.failure;
  }

  /**
   * A remount (hammer_remount): read-write ends a read-only mount's recovery
   * stage 1 the way a read-write mount does (the buffers it rolled back in
   * memory are written and fsynced, then the header commit); read-only
   * needs no cycle running and nothing dirty (the layer above synced). The
   * device must accept writes before it turns read-write.
   */
  setReadOnly(readOnly: boolean): void {
    if (this.closed) throw new FsError('EIO', 'remount: the volume is unmounted');
    if (this.failure !== undefined) throw new FsError('EIO', `remount: ${this.failure}`);
    if (readOnly === this.ro) return;
    if (readOnly) {
      assert(this.flush.cycle === undefined, 'no flush cycle runs when the volume turns read-only');
      assert(this.recoveryPending || this.cache.dirtyCount() === 0, 'a volume turns read-only with nothing dirty');
      this.ro = true;
      return;
    }
    this.device.makeWritable?.();
    this.ro = false;
    if (!this.recoveryPending) return;
    this.recoveryPending = false;
    if (this.recovery.undone > 0) {
      this.cache.writeDirty('meta');
      this.flush.fsync();
    }
    this.flush.commitRecovery(this.recovery);
  }

  /**
   * A critical error (hammer_critical_error) in the running cycle: the
   * volume writes nothing more. A failure while finalizing (a write or an
   * fsync of the device) leaves the cycle's changes complete in memory, so
   * they stay there, readable, never written; a failure before (a read in
   * the middle of a B-tree change) rolls the cycle back in memory. The disk
   * keeps its last commit, which is what the next mount recovers.
   */
  fail(reason: string): void {
    const cycle = this.flush.cycle;
    // Large data a failed write-out did not write stays pending, so reads still find it.
    if (cycle?.finalizing) this.flush.drop();
    else if (cycle !== undefined && this.failure === undefined) this.abort();
    this.failure ??= reason;
  }

  /** Make a new volume on `device` (like newfs_hammer): the root directory inode and the PFS 0 record. */
  static mkfs(device: BlockDevice, options: MkfsOptions): Volume {
    const header = initialHeader(device.size, options);
    // The FIFO is written and fsynced constantly: allocate it in the file now, so an fsync
    // on the REDO path never has to commit file-system metadata for new blocks.
    for (const block of header.undoArray) device.reserve?.(header.bufBeg + offPart(block), BIGBLOCK_BYTES);
    writeInitialFreemap(device, header);
    device.write(HEADER_SLOTS[0], encodeHeader(header));
    device.fsync();
    const volume = new Volume(device, header, { clock: options.clock }, true);
    volume.makeRoot();
    return volume;
  }

  /** Mount `device`: read the newest valid header slot, run recovery stage 1. */
  static mount(device: BlockDevice, options: MountOptions): Volume {
    const { header } = readHeader(device);
    validateLayout(header, device.size);
    if (header.btreeRoot === 0) {
      throw new FsError('EIO', `volume header generation ${header.generation} has no B-tree root: mkfs did not finish`);
    }
    return new Volume(device, header, options, false);
  }

  private makeRoot(): void {
    const now = this.clock.now();
    this.beginCycle();
    this.tree = BTree.create(this.nodes);
    const inode = encodeInode(rootDirectoryInode(now));
    const base = { objId: ROOT_OBJ_ID, key: 0 };
    this.insertRecord(
      { ...base, localization: localization(0, LOCALIZE_INODE), recType: RecType.INODE, objType: ObjType.DIRECTORY },
      inode,
    );
    const pfs = encodePfs({
      syncBegTid: 0,
      syncEndTid: 0,
      sharedUuid: this.flush.committed.fsid,
      uniqueUuid: this.flush.committed.fsid,
      mirrorFlags: 0,
      label: 'root',
      pruneMin: 0,
      pruneMax: 0,
    });
    this.insertRecord({ ...base, localization: localization(0, LOCALIZE_MISC), recType: RecType.PFS, objType: 0 }, pfs);
    this.adjustInodeCount(1);
    this.commit();
  }

  get btree(): BTree {
    assert(this.tree !== undefined, 'the B-tree exists once mkfs made its root');
    return this.tree;
  }

  /** The TID of the running cycle, undefined between cycles. */
  get cycleTid(): number | undefined {
    return this.flush.cycle?.tid;
  }

  /** Start a flush cycle and take its TID (CommitProtocol.begin says what `redoSyncOffset` is for). */
  beginCycle(options: { redoSyncOffset?: number } = {}): number {
    this.checkWritable('beginCycle');
    return this.flush.begin(options.redoSyncOffset);
  }

  private requireCycle(op: string): number {
    this.checkWritable(op);
    const cycle = this.flush.cycle;
    assert(cycle !== undefined, `${op} runs inside a flush cycle`);
    return cycle.tid;
  }

  private checkWritable(op: string): void {
    if (this.closed) throw new FsError('EIO', `${op}: the volume is unmounted`);
    if (this.failure !== undefined) throw new FsError('EIO', `${op}: ${this.failure}`);
    if (this.ro) throw new FsError('EROFS', `${op}: the volume is mounted read-only`);
  }

  /** Insert a record created by the running cycle, writing its data to the zone its type and size call for. */
  insertRecord(input: RecordInput, data?: Uint8Array): LeafElm {
    return this.records.insert(this.requireCycle('insertRecord'), input, data);
  }

  /** Mark a record deleted as of the running cycle's TID (history keeps it). */
  deleteRecord(key: BTreeKey): LeafElm {
    return this.records.delete(this.requireCycle('deleteRecord'), key);
  }

  /** Remove a record physically and free its data (pruning, no-history files). */
  destroyRecord(key: BTreeKey): LeafElm {
    this.requireCycle('destroyRecord');
    return this.records.destroy(key);
  }

  /** Reblocking: move a record's data to fresh space of its zone (RecordOps.moveData says why a crash is safe). */
  moveRecordData(key: BTreeKey): LeafElm {
    this.requireCycle('moveRecordData');
    return this.records.moveData(key);
  }

  /** Reblocking: move the B-tree node at `offset` to fresh space; returns its new offset. */
  moveNode(offset: number): number {
    this.requireCycle('moveNode');
    return this.btree.relocate(offset);
  }

  /** The record visible at `asof` (now by default). */
  lookup(base: Omit<BTreeKey, 'createTid'>, asof = TID_MAX): LeafElm | undefined {
    return this.btree.lookup(base, asof);
  }

  /** Records in [lo, hi], as of `asof`, or every version when asof is undefined. Collected, safe to mutate after. */
  scan(lo: BTreeKey, hi: BTreeKey, asof?: number): LeafElm[] {
    return this.btree.collect(lo, hi, asof);
  }

  /** Read a record's data and check its CRC; EIO names the record and the offset. */
  readData(elm: LeafElm): Uint8Array {
    return this.data.read(elm);
  }

  /** Patch an inode record's times in place, no new version (RecordOps.patchInodeTimes). */
  patchInodeTimes(elm: LeafElm, times: { mtime?: number; atime?: number }): void {
    this.requireCycle('patchInodeTimes');
    this.records.patchInodeTimes(elm, times);
  }

  /**
   * Reserve `count` consecutive ids from the TID sequence (hammer_alloc_objid
   * takes object ids from it too, so an id is never reused: the header's
   * next_tid is past every id that reached the disk). Frontend, between cycles.
   */
  allocTids(count: number): number {
    this.checkWritable('allocTids');
    return this.flush.allocTids(count);
  }

  /** Free allocation space: free big-blocks, and what each zone's current big-block still has. */
  freeSpace(): { bigblocks: number; remainders: number[] } {
    return { bigblocks: this.blockmap.freeBigblocks(), remainders: this.blockmap.zoneRemainders() };
  }

  /** Keep the volume's live-inode count (vol0_stat_inodes). */
  adjustInodeCount(delta: number): void {
    this.requireCycle('adjustInodeCount');
    this.flush.adjustInodes(delta);
  }

  /** Append a REDO record (fsync fast path); durable after syncRedo(). Returns its FIFO offset. */
  appendRedo(redo: Omit<RedoRecord, 'type' | 'seq'>, more = false): number {
    this.checkWritable('appendRedo');
    return this.flush.appendRedo(redo, more);
  }

  /** Write the FIFO buffers and fsync: REDO appended so far survives a crash. */
  syncRedo(): void {
    this.checkWritable('syncRedo');
    this.flush.syncRedo();
  }

  /** Dirty meta-data bytes waiting for the next finalize. */
  dirtyMetaBytes(): number {
    return this.flush.dirtyMetaBytes();
  }

  /** HAMMER's finalize, final (with the header commit) or not (CommitProtocol.finalize). */
  finalize(final: boolean): void {
    this.requireCycle('finalize');
    this.flush.finalize(final);
  }

  /** Finish the running cycle durably; returns its TID. */
  commit(): number {
    this.requireCycle('commit');
    return this.flush.commit();
  }

  /** Give up the running cycle, rolled back in memory (CommitProtocol.abort). */
  abort(): void {
    this.requireCycle('abort');
    this.flush.abort();
  }

  stats(): VolumeStats {
    const { committed, working } = this.flush;
    return {
      label: committed.label,
      fsid: committed.fsid,
      generation: committed.generation,
      nextTid: working.nextTid,
      lastCommitTid: committed.lastCommitTid,
      inodes: working.inodes,
      bigblocks: this.blockmap.bigblocks,
      freeBigblocks: this.blockmap.freeBigblocks(),
      fifoBytes: this.fifo.size,
      fifoUsedBytes: this.fifo.usedBytes(),
      btreeRoot: working.btreeRoot,
    };
  }

  /** The committed header (what a crash now would come back to). */
  header(): Readonly<VolumeHeader> {
    return this.flush.committed;
  }

  /** A B-tree node by offset, CRC-checked when read from the device (for fsck and show). */
  nodeAt(offset: number): BTreeNode {
    return this.nodes.readNode(offset);
  }

  /** Freemap entries, for fsck and show. */
  freemap(): Blockmap {
    return this.blockmap;
  }

  /** Unmount: no cycle may be running (the layer above flushes first). */
  close(): void {
    if (this.closed) return;
    assert(this.flush.cycle === undefined, 'no flush cycle is running at unmount');
    this.closed = true;
    this.device.close();
  }
}
