import { assert } from './assert.js';
import { Blockmap } from './blockmap.js';
import { BTree } from './btree.js';
import { BufferCache } from './buffers.js';
import type { Clock } from './clock.js';
import type { BlockDevice } from './device.js';
import { FsError } from './errors.js';
import { type BTreeKey, type LeafElm, leafElm } from './format/btree-node.js';
import { RedoFlag, type RedoRecord } from './format/fifo.js';
import {
  emptyBlockmapEntry,
  encodeHeader,
  HEADER_SLOTS,
  readHeader,
  slotFor,
  type VolumeHeader,
} from './format/header.js';
import { encodeInode, encodePfs, rootDirectoryInode } from './format/records.js';
import {
  ALLOC_ZONES,
  BIGBLOCK_BYTES,
  BUFFER_BYTES,
  hammerOff,
  LOCALIZE_INODE,
  LOCALIZE_MISC,
  localization,
  ObjType,
  offPart,
  offZone,
  RecType,
  ROOT_OBJ_ID,
  TID_MAX,
  Zone,
} from './layout.js';
import { initialHeader, validateLayout, writeInitialFreemap } from './mkfs.js';
import { NodeCache } from './node-cache.js';
import type { BTreeNode } from './node-store.js';
import { RecordData, recordDataCrc } from './record-data.js';
import { type RecoveryReport, recoverStage1 } from './recovery.js';
import { type FifoSpan, UndoFifo } from './undo-fifo.js';

export interface MkfsOptions {
  /** Volume size in bytes (the file is made this big, sparse). */
  size: number;
  /** UNDO/REDO FIFO size in bytes, a multiple of 8 MiB (1 to 128 big-blocks). */
  undoBytes: number;
  label?: string;
  /** 32 hex digits identifying the filesystem. */
  fsid?: string;
  clock: Clock;
}

export interface MountOptions {
  clock: Clock;
  readOnly?: boolean;
  /** Clean 16 KiB buffers kept cached between operations. */
  cacheBuffers?: number;
}

/** What a caller gives to insert a record; the volume fills TIDs, times and data fields. */
export interface RecordInput {
  localization: number;
  objId: number;
  recType: number;
  key: number;
  objType: number;
}

export interface VolumeStats {
  label: string;
  fsid: string;
  generation: number;
  nextTid: number;
  lastCommitTid: number;
  inodes: number;
  bigblocks: number;
  freeBigblocks: number;
  fifoBytes: number;
  fifoUsedBytes: number;
  btreeRoot: number;
}

/** Counters of this mount, for benchmarks and the event bus. */
export interface VolumeCounters {
  cycles: number;
  finalizes: number;
  fsyncs: number;
  metaBytesWritten: number;
  dataBytesWritten: number;
  fifoBytesWritten: number;
  /** Records inserted and marked deleted (the backend reports them per inode it syncs). */
  recordsInserted: number;
  recordsDeleted: number;
}

/**
 * Told of every change the volume makes (records, time patches, REDO, FIFO
 * and meta-data writes, the header): the actors layer forwards these to its
 * event bus. Unset, it costs one branch.
 */
export interface VolumeObserver {
  /** Whether anyone listens now (payloads are built only then). */
  readonly active: boolean;
  note(type: string, payload: Record<string, unknown>): void;
}

/** The smallest FIFO record that carries a seq (an UNDO of one byte pads to 48). */
const MIN_SEQ_RECORD_BYTES = 48;

/** The header fields a cycle changes in memory; reverted when a cycle aborts. */
interface WorkingState {
  nextTid: number;
  inodes: number;
  btreeRoot: number;
}

/**
 * A mounted volume: header, FIFO, buffer cache, blockmap, B-tree and the flush
 * cycle. Meta-data changes only inside a cycle, which has one TID
 * (beginCycle ... commit). commit() is the durability point: it returns after
 * data, UNDO/REDO, meta-data and then the header are each written and fsynced,
 * so a committed cycle survives any crash, and a crash before its header lands
 * rolls the whole cycle back, never half of it.
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
  private committed: VolumeHeader;
  private working: WorkingState;
  private readonly cache: BufferCache;
  private readonly blockmap: Blockmap;
  private readonly nodes: NodeCache;
  private readonly data: RecordData;
  private tree: BTree | undefined;
  private readonly clock: Clock;
  private cycle: { tid: number; start: WorkingState; redoStart: number | undefined; finalizing: boolean } | undefined;
  private closed = false;
  private ro: boolean;
  /** A read-only mount's recovery stage 1: rolled back in memory, written when the mount turns read-write. */
  private recoveryPending: boolean;
  /** Why the volume stopped writing (a critical error), if it did. */
  private failure: string | undefined;
  observer: VolumeObserver | undefined;

  private constructor(device: BlockDevice, header: VolumeHeader, options: MountOptions, fresh: boolean) {
    this.device = device;
    this.ro = options.readOnly ?? false;
    this.recoveryPending = !fresh && this.ro;
    this.clock = options.clock;
    this.committed = header;
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
      skipScan: fresh,
      redoStart: header.redoStart === 0 ? undefined : offPart(header.redoStart),
    });
    const bigblocks = (header.bufEnd - header.bufBeg) / BIGBLOCK_BYTES;
    this.blockmap = new Blockmap(this.cache, header.freemapBeg, header.bufBeg, bigblocks, zoneBases(header));
    this.working = { nextTid: header.nextTid, inodes: header.inodes, btreeRoot: header.btreeRoot };
    this.nodes = new NodeCache(this.cache, this.blockmap, header.bufBeg, header.bufEnd, {
      get: () => this.working.btreeRoot,
      set: (offset) => {
        this.working.btreeRoot = offset;
      },
    });
    this.data = new RecordData(this.cache, this.blockmap, header.bufBeg, header.bufEnd);
    this.cache.onEvict = (buffer) => this.nodes.evictBuffer(buffer);
    this.tree = fresh ? undefined : new BTree(this.nodes);
    // A volume whose root node cannot be read is refused here, with the EIO naming it.
    if (!fresh) this.nodes.readNode(header.btreeRoot);
    if (!fresh && !this.ro) this.commitRecovery();
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
      assert(this.cycle === undefined, 'no flush cycle runs when the volume turns read-only');
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
      this.fsync();
    }
    this.commitRecovery();
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
    const cycle = this.cycle;
    // Large data a failed write-out did not write stays pending, so reads still find it.
    if (cycle?.finalizing) this.cycle = undefined;
    else if (cycle !== undefined && this.failure === undefined) this.abort();
    this.failure ??= reason;
  }

  /**
   * Every read-write mount ends recovery stage 1 with a header commit that
   * moves first_offset to the true end and jumps the seq past every record
   * the ring can hold. Stale FIFO sectors past the end (writes a crash lost
   * around them) can then never continue the new sequence, so a later
   * recovery cannot mistake them for live UNDO. The pending REDO stays
   * reachable through redo_start. (Like HAMMER's, the seq is a u32: it wraps
   * after 2^32 / (FIFO bytes / 48) mounts, thousands for the default FIFO.)
   * The header goes to both slots: a slot left from before the jump expects
   * the old seq, so if the newest slot were then damaged, its recovery would
   * stop at the jump and miss the UNDO of every later cycle (a crashed cycle
   * would stay applied, half-written). Found by the corruption fuzzer.
   */
  private commitRecovery(): void {
    const span = this.fifo.state;
    const jump = Math.floor(this.fifo.size / MIN_SEQ_RECORD_BYTES) + 1;
    const seq = (span.nextSeq + jump) >>> 0;
    this.fifo.resetTo({ first: span.next, firstSeq: seq, next: span.next, nextSeq: seq });
    const stage2 = this.recovery.redo.length > 0 ? this.recovery.stage2From : undefined;
    for (let slot = 0; slot < HEADER_SLOTS.length; slot++) {
      this.writeHeader(this.committed.lastCommitTid, stage2 ?? this.headerRedoStart());
    }
  }

  private headerRedoStart(): number | undefined {
    return this.committed.redoStart === 0 ? undefined : offPart(this.committed.redoStart);
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
      sharedUuid: this.committed.fsid,
      uniqueUuid: this.committed.fsid,
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
    return this.cycle?.tid;
  }

  /**
   * Start a flush cycle and take its TID. `redoSyncOffset` (the oldest FIFO
   * offset an fsynced REDO not yet committed as data lives at) is logged as a
   * REDO SYNC first, and the commit keeps it in the header, so recovery stage 2
   * starts early enough whether or not the cycle commits.
   */
  beginCycle(options: { redoSyncOffset?: number } = {}): number {
    this.checkWritable('beginCycle');
    assert(this.cycle === undefined, 'one flush cycle at a time');
    const tid = this.working.nextTid;
    this.cycle = { tid, start: { ...this.working }, redoStart: options.redoSyncOffset, finalizing: false };
    this.working.nextTid = tid + 1;
    if (options.redoSyncOffset !== undefined) {
      this.fifo.appendRedo({
        flags: RedoFlag.SYNC,
        objId: 0,
        localization: 0,
        offset: options.redoSyncOffset,
        mtime: 0,
        payload: new Uint8Array(0),
      });
    }
    return tid;
  }

  private requireCycle(op: string): number {
    this.checkWritable(op);
    assert(this.cycle !== undefined, `${op} runs inside a flush cycle`);
    return this.cycle.tid;
  }

  private checkWritable(op: string): void {
    if (this.closed) throw new FsError('EIO', `${op}: the volume is unmounted`);
    if (this.failure !== undefined) throw new FsError('EIO', `${op}: ${this.failure}`);
    if (this.ro) throw new FsError('EROFS', `${op}: the volume is mounted read-only`);
  }

  /** Insert a record created by the running cycle, writing its data to the zone its type and size call for. */
  insertRecord(input: RecordInput, data?: Uint8Array): LeafElm {
    const tid = this.requireCycle('insertRecord');
    const hasData = data !== undefined && data.length > 0;
    const elm = leafElm(
      {
        localization: input.localization,
        objId: input.objId,
        recType: input.recType,
        key: input.key,
        createTid: tid,
      },
      {
        deleteTid: 0,
        objType: input.objType,
        createTs: Math.floor(this.clock.now() / 1e6),
        deleteTs: 0,
        dataOffset: hasData ? this.data.write(input.recType, data) : 0,
        dataLen: hasData ? data.length : 0,
        dataCrc: hasData ? recordDataCrc(input.recType, data) : 0,
      },
    );
    this.btree.insert(elm);
    this.counters.recordsInserted++;
    return elm;
  }

  /** Mark a record deleted as of the running cycle's TID (history keeps it). */
  deleteRecord(key: BTreeKey): LeafElm {
    const tid = this.requireCycle('deleteRecord');
    const elm = this.btree.markDeleted(key, tid, Math.floor(this.clock.now() / 1e6));
    this.counters.recordsDeleted++;
    return elm;
  }

  /** Remove a record physically and free its data (pruning, no-history files). */
  destroyRecord(key: BTreeKey): LeafElm {
    this.requireCycle('destroyRecord');
    const elm = this.btree.destroy(key);
    if (elm.dataLen > 0) this.blockmap.free(elm.dataOffset, elm.dataLen);
    if (this.observer?.active)
      this.observer.note('RECORD_DESTROY', {
        objId: key.objId,
        recType: key.recType,
        key: key.key,
        createTid: key.createTid,
      });
    return elm;
  }

  /**
   * Reblocking: copy a record's data to fresh space of its zone, repoint the
   * record and free the old space. The old bytes stay untouched until this
   * cycle commits (a freed big-block is reused only after), so a crash before
   * the commit rolls the record back to data that is still there.
   */
  moveRecordData(key: BTreeKey): LeafElm {
    this.requireCycle('moveRecordData');
    const elm = this.btree.lookupExact(key);
    assert(elm.dataLen > 0, 'a record moved by reblocking has data');
    const offset = this.data.write(elm.recType, this.data.read(elm));
    assert(offZone(offset) === offZone(elm.dataOffset), 'moved data stays in its zone');
    const moved = this.btree.setDataOffset(elm, offset);
    this.blockmap.free(elm.dataOffset, elm.dataLen);
    return moved;
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

  /**
   * Patch an inode record's times in place (outside its CRC): mtime under
   * UNDO, atime without, no new version either way.
   */
  patchInodeTimes(elm: LeafElm, times: { mtime?: number; atime?: number }): void {
    this.requireCycle('patchInodeTimes');
    this.data.patchInodeTimes(elm, times);
    if (this.observer?.active)
      this.observer.note('INODE_TIMES', { objId: elm.objId, mtime: times.mtime, atime: times.atime });
  }

  /**
   * Reserve `count` consecutive ids from the TID sequence (hammer_alloc_objid
   * takes object ids from it too, so an id is never reused: the header's
   * next_tid is past every id that reached the disk). Frontend, between cycles.
   */
  allocTids(count: number): number {
    this.checkWritable('allocTids');
    assert(Number.isSafeInteger(count) && count > 0, 'allocTids takes a positive count');
    const first = this.working.nextTid;
    this.working.nextTid += count;
    return first;
  }

  /** Free allocation space: free big-blocks, and what each zone's current big-block still has. */
  freeSpace(): { bigblocks: number; remainders: number[] } {
    return { bigblocks: this.blockmap.freeBigblocks(), remainders: this.blockmap.zoneRemainders() };
  }

  /** Keep the volume's live-inode count (vol0_stat_inodes). */
  adjustInodeCount(delta: number): void {
    this.requireCycle('adjustInodeCount');
    this.working.inodes += delta;
    assert(this.working.inodes >= 0, 'the inode count never goes negative');
  }

  /** Append a REDO record (fsync fast path); durable after syncRedo(). Returns its FIFO offset. */
  appendRedo(redo: Omit<RedoRecord, 'type' | 'seq'>, more = false): number {
    this.checkWritable('appendRedo');
    const offset = this.fifo.appendRedo(redo, more);
    if (this.observer?.active)
      this.observer.note('REDO_APPEND', {
        flags: redo.flags,
        objId: redo.objId,
        offset: redo.offset,
        bytes: redo.payload.length,
        fifoOffset: offset,
      });
    return offset;
  }

  /** Write the FIFO buffers and fsync: REDO appended so far survives a crash. */
  syncRedo(): void {
    this.checkWritable('syncRedo');
    const bytes = this.fifo.writeOut();
    this.counters.fifoBytesWritten += bytes;
    this.fsync();
    if (this.observer?.active) this.observer.note('REDO_SYNC', { fifoBytes: bytes });
  }

  /** Every fsync of the volume: the FIFO learns whether what it wrote is durable (UndoFifo.syncFailed). */
  private fsync(): void {
    try {
      this.device.fsync();
    } catch (error) {
      this.fifo.syncFailed();
      throw error;
    }
    this.fifo.synced();
    this.counters.fsyncs++;
  }

  /** Dirty meta-data bytes waiting for the next finalize. */
  dirtyMetaBytes(): number {
    return this.cache.dirtyCount('meta') * BUFFER_BYTES;
  }

  /**
   * HAMMER's finalize: data buffers, then UNDO/REDO buffers + fsync, then
   * meta-data + fsync, then (final only) the header + fsync. A non-final
   * finalize (mid-flush, when dirty meta-data passes its limit) writes no
   * header: the cycle stays revocable until its commit.
   */
  finalize(final: boolean): void {
    this.requireCycle('finalize');
    assert(this.cycle !== undefined, 'finalize runs inside a cycle');
    this.cycle.finalizing = true;
    this.counters.finalizes++;
    const fsyncsBefore = this.counters.fsyncs;
    const data = this.cache.writeDirty('data') + this.data.writePending(this.device);
    this.counters.dataBytesWritten += data;
    let fifo = 0;
    if (this.fifo.hasDirty()) {
      fifo = this.fifo.writeOut();
      this.counters.fifoBytesWritten += fifo;
      this.fsync();
    }
    this.nodes.sealDirty();
    const meta = this.cache.writeDirty('meta');
    this.counters.metaBytesWritten += meta;
    if (meta > 0 || !final) this.fsync();
    if (this.observer?.active) {
      const fsyncs = this.counters.fsyncs - fsyncsBefore;
      this.observer.note('FINALIZE', { final, dataBytes: data, fifoBytes: fifo, metaBytes: meta, fsyncs });
    }
    if (final) this.writeHeader(this.cycle.tid, this.cycle.redoStart);
    this.cycle.finalizing = false;
  }

  /** Finish the running cycle durably; returns its TID. */
  commit(): number {
    const tid = this.requireCycle('commit');
    this.finalize(true);
    this.cycle = undefined;
    this.counters.cycles++;
    this.cache.endCycle();
    this.blockmap.releasePendingFrees();
    this.cache.trim();
    return tid;
  }

  /**
   * Give up the running cycle: its meta-data changes are rolled back in
   * memory (newest pre-image first) and its allocations forgotten. UNDO it
   * already logged stays in the FIFO, harmless: it restores the same state.
   */
  abort(): void {
    this.requireCycle('abort');
    assert(this.cycle !== undefined, 'abort runs inside a cycle');
    this.cache.abortCycle();
    this.data.dropPending();
    this.nodes.clear();
    // TIDs and object ids handed out stay used: the sequence never goes back.
    this.working = { ...this.cycle.start, nextTid: Math.max(this.cycle.start.nextTid, this.working.nextTid) };
    this.blockmap.reload(zoneBases(this.committed));
    this.cycle = undefined;
  }

  /**
   * Commit point: write the header to the other slot (generation + 1) with the
   * FIFO span starting at the append point, and fsync.
   */
  private writeHeader(lastCommitTid: number, redoStart: number | undefined): void {
    const span: FifoSpan = this.fifo.state;
    const blockmap = this.committed.blockmap.map((entry) => ({ ...entry }));
    blockmap[Zone.UNDO] = {
      physOffset: 0,
      firstOffset: hammerOff(Zone.UNDO, span.next),
      nextOffset: hammerOff(Zone.UNDO, span.next),
      allocOffset: hammerOff(Zone.UNDO, this.fifo.size),
    };
    for (const [zone, state] of this.blockmap.zoneState()) {
      blockmap[zone] = { physOffset: state.base, firstOffset: 0, nextOffset: state.next, allocOffset: 0 };
    }
    const header: VolumeHeader = {
      ...this.committed,
      generation: this.committed.generation + 1,
      undoFirstSeq: span.nextSeq,
      bigblocks: this.blockmap.bigblocks,
      freeBigblocks: this.blockmap.freeBigblocks(),
      inodes: this.working.inodes,
      btreeRoot: this.working.btreeRoot,
      nextTid: this.working.nextTid,
      lastCommitTid,
      redoStart: redoStart === undefined ? 0 : hammerOff(Zone.UNDO, redoStart),
      blockmap,
    };
    const slot = HEADER_SLOTS[slotFor(header.generation)];
    assert(slot !== undefined, 'a header slot exists for every generation');
    this.device.write(slot, encodeHeader(header));
    this.fsync();
    this.committed = header;
    this.fifo.setFirst(span.next, span.nextSeq);
    this.fifo.protect(redoStart);
    if (this.observer?.active)
      this.observer.note('HEADER_COMMIT', {
        generation: header.generation,
        lastCommitTid,
        slot,
        redoStart: redoStart ?? null,
      });
  }

  stats(): VolumeStats {
    return {
      label: this.committed.label,
      fsid: this.committed.fsid,
      generation: this.committed.generation,
      nextTid: this.working.nextTid,
      lastCommitTid: this.committed.lastCommitTid,
      inodes: this.working.inodes,
      bigblocks: this.blockmap.bigblocks,
      freeBigblocks: this.blockmap.freeBigblocks(),
      fifoBytes: this.fifo.size,
      fifoUsedBytes: this.fifo.usedBytes(),
      btreeRoot: this.working.btreeRoot,
    };
  }

  /** The committed header (what a crash now would come back to). */
  header(): Readonly<VolumeHeader> {
    return this.committed;
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
    assert(this.cycle === undefined, 'no flush cycle is running at unmount');
    this.closed = true;
    this.device.close();
  }
}

function zoneBases(header: VolumeHeader): Map<number, number> {
  const bases = new Map<number, number>();
  for (const zone of ALLOC_ZONES) bases.set(zone, header.blockmap[zone]?.physOffset ?? 0);
  return bases;
}
