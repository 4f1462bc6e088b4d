import { assert } from './assert.js';
import type { Blockmap } from './blockmap.js';
import type { BufferCache } from './buffers.js';
import type { BlockDevice } from './device.js';
import { RedoFlag, type RedoRecord } from './format/fifo.js';
import { encodeHeader, HEADER_SLOTS, slotFor, type VolumeHeader } from './format/header.js';
import { ALLOC_ZONES, BUFFER_BYTES, hammerOff, offPart, Zone } from './layout.js';
import type { NodeCache } from './node-cache.js';
import type { RecordData } from './record-data.js';
import type { RecoveryReport } from './recovery.js';
import type { FifoSpan, UndoFifo } from './undo-fifo.js';
import type { VolumeCounters, VolumeObserver } from './volume-types.js';

/** The smallest FIFO record that carries a seq (an UNDO of one byte pads to 48). */
const MIN_SEQ_RECORD_BYTES = 48;

/** The header fields a cycle changes in memory; reverted when a cycle aborts. */
export interface WorkingState {
  nextTid: number;
  inodes: number;
  btreeRoot: number;
}

/** The running flush cycle: its TID, the state it started from, the REDO SYNC offset its commit keeps. */
export interface CycleState {
  tid: number;
  start: WorkingState;
  redoStart: number | undefined;
  /** Set while finalize writes: a failure then leaves the cycle's changes complete in memory. */
  finalizing: boolean;
}

/** The volume's pieces the commit protocol writes through (shared with the Volume that owns them). */
export interface CommitParts {
  device: BlockDevice;
  fifo: UndoFifo;
  cache: BufferCache;
  blockmap: Blockmap;
  nodes: NodeCache;
  data: RecordData;
  counters: VolumeCounters;
  /** The volume's observer as it is now (the actors layer sets and unsets it). */
  observer(): VolumeObserver | undefined;
}

/**
 * The flush cycle's commit protocol, HAMMER's flusher-finalize and UNDO/REDO
 * side of a volume: the cycle and its TID, the header fields it changes in
 * memory, finalize's ordered writes and fsyncs, the header commit, the abort
 * that rolls a cycle back, and the REDO fast path. Volume delegates to it
 * after checking the volume may write (mounted, read-write, not failed) and,
 * for a cycle's steps, that a cycle runs.
 */
export class CommitProtocol {
  /**
   * The header fields as the running cycle has them (btreeRoot follows the
   * B-tree's root). An abort replaces the object: read it through here.
   */
  working: WorkingState;
  private last: VolumeHeader;
  private running: CycleState | undefined;
  private readonly device: BlockDevice;
  private readonly fifo: UndoFifo;
  private readonly cache: BufferCache;
  private readonly blockmap: Blockmap;
  private readonly nodes: NodeCache;
  private readonly data: RecordData;
  private readonly counters: VolumeCounters;
  private readonly observer: () => VolumeObserver | undefined;

  constructor(parts: CommitParts, header: VolumeHeader) {
    this.device = parts.device;
    this.fifo = parts.fifo;
    this.cache = parts.cache;
    this.blockmap = parts.blockmap;
    this.nodes = parts.nodes;
    this.data = parts.data;
    this.counters = parts.counters;
    this.observer = parts.observer;
    this.last = header;
    this.working = { nextTid: header.nextTid, inodes: header.inodes, btreeRoot: header.btreeRoot };
  }

  /** The last header committed (what a crash now would come back to). */
  get committed(): VolumeHeader {
    return this.last;
  }

  /** The running cycle, undefined between cycles. */
  get cycle(): Readonly<CycleState> | undefined {
    return this.running;
  }

  /**
   * Start a flush cycle and take its TID. `redoSyncOffset` (the oldest FIFO
   * offset an fsynced REDO not yet committed as data lives at) is logged as a
   * REDO SYNC first, and the commit keeps it in the header, so recovery stage 2
   * starts early enough whether or not the cycle commits.
   */
  begin(redoSyncOffset: number | undefined): number {
    assert(this.running === undefined, 'one flush cycle at a time');
    const tid = this.working.nextTid;
    this.running = { tid, start: { ...this.working }, redoStart: redoSyncOffset, finalizing: false };
    this.working.nextTid = tid + 1;
    if (redoSyncOffset !== undefined) {
      this.fifo.appendRedo({
        flags: RedoFlag.SYNC,
        objId: 0,
        localization: 0,
        offset: redoSyncOffset,
        mtime: 0,
        payload: new Uint8Array(0),
      });
    }
    return tid;
  }

  /** Reserve `count` consecutive ids from the TID sequence (Volume.allocTids says why). */
  allocTids(count: number): number {
    assert(Number.isSafeInteger(count) && count > 0, 'allocTids takes a positive count');
    const first = this.working.nextTid;
    this.working.nextTid += count;
    return first;
  }

  /** Change the live-inode count the next header commits (Volume.adjustInodeCount). */
  adjustInodes(delta: number): void {
    this.working.inodes += delta;
    assert(this.working.inodes >= 0, 'the inode count never goes negative');
  }

  /**
   * Forget the running cycle without rolling it back: a critical error while
   * it finalized (Volume.fail) leaves its changes complete in memory, readable,
   * never written.
   */
  drop(): void {
    this.running = undefined;
  }

  /** Append a REDO record; durable after syncRedo(). Returns its FIFO offset. */
  appendRedo(redo: Omit<RedoRecord, 'type' | 'seq'>, more: boolean): number {
    const offset = this.fifo.appendRedo(redo, more);
    const observer = this.observer();
    if (observer?.active)
      observer.note('REDO_APPEND', {
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
    const bytes = this.fifo.writeOut();
    this.counters.fifoBytesWritten += bytes;
    this.fsync();
    const observer = this.observer();
    if (observer?.active) observer.note('REDO_SYNC', { fifoBytes: bytes });
  }

  /** Every fsync of the volume: the FIFO learns whether what it wrote is durable (UndoFifo.syncFailed). */
  fsync(): void {
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
    const cycle = this.running;
    assert(cycle !== undefined, 'finalize runs inside a cycle');
    cycle.finalizing = true;
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
    const observer = this.observer();
    if (observer?.active) {
      const fsyncs = this.counters.fsyncs - fsyncsBefore;
      observer.note('FINALIZE', { final, dataBytes: data, fifoBytes: fifo, metaBytes: meta, fsyncs });
    }
    if (final) this.writeHeader(cycle.tid, cycle.redoStart);
    cycle.finalizing = false;
  }

  /** Finish the running cycle durably (the final finalize; then its delayed frees are released); returns its TID. */
  commit(): number {
    const cycle = this.running;
    assert(cycle !== undefined, 'commit runs inside a cycle');
    this.finalize(true);
    this.running = undefined;
    this.counters.cycles++;
    this.cache.endCycle();
    this.blockmap.releasePendingFrees();
    this.cache.trim();
    return cycle.tid;
  }

  /**
   * Give up the running cycle: its meta-data changes are rolled back in
   * memory (newest pre-image first) and its allocations forgotten. UNDO it
   * already logged stays in the FIFO, harmless: it restores the same state.
   */
  abort(): void {
    const cycle = this.running;
    assert(cycle !== undefined, 'abort runs inside a cycle');
    this.cache.abortCycle();
    this.data.dropPending();
    this.nodes.clear();
    // TIDs and object ids handed out stay used: the sequence never goes back.
    this.working = { ...cycle.start, nextTid: Math.max(cycle.start.nextTid, this.working.nextTid) };
    this.blockmap.reload(zoneBases(this.last));
    this.running = undefined;
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
  commitRecovery(recovery: RecoveryReport): void {
    const span = this.fifo.state;
    const jump = Math.floor(this.fifo.size / MIN_SEQ_RECORD_BYTES) + 1;
    const seq = (span.nextSeq + jump) >>> 0;
    this.fifo.resetTo({ first: span.next, firstSeq: seq, next: span.next, nextSeq: seq });
    const stage2 = recovery.redo.length > 0 ? recovery.stage2From : undefined;
    for (let slot = 0; slot < HEADER_SLOTS.length; slot++) {
      this.writeHeader(this.last.lastCommitTid, stage2 ?? this.headerRedoStart());
    }
  }

  private headerRedoStart(): number | undefined {
    return this.last.redoStart === 0 ? undefined : offPart(this.last.redoStart);
  }

  /**
   * Commit point: write the header to the other slot (generation + 1) with the
   * FIFO span starting at the append point, and fsync.
   */
  private writeHeader(lastCommitTid: number, redoStart: number | undefined): void {
    const span: FifoSpan = this.fifo.state;
    const blockmap = this.last.blockmap.map((entry) => ({ ...entry }));
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
      ...this.last,
      generation: this.last.generation + 1,
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
    this.last = header;
    this.fifo.setFirst(span.next, span.nextSeq);
    this.fifo.protect(redoStart);
    const observer = this.observer();
    if (observer?.active)
      observer.note('HEADER_COMMIT', {
        generation: header.generation,
        lastCommitTid,
        slot,
        redoStart: redoStart ?? null,
      });
  }
}

/** Each allocation zone's current big-block, as a header records it. */
export function zoneBases(header: VolumeHeader): Map<number, number> {
  const bases = new Map<number, number>();
  for (const zone of ALLOC_ZONES) bases.set(zone, header.blockmap[zone]?.physOffset ?? 0);
  return bases;
}
