import { assert } from './assert.js';
import type { BlockDevice } from './device.js';
import { FsError } from './errors.js';
import {
  DUMMY_SEQ_XOR,
  decodeFifoRecord,
  encodeDummySectors,
  encodeFifoRecord,
  type FifoRecord,
  FifoType,
  HEAD_BYTES,
  REDO_BODY_BYTES,
  RedoFlag,
  type RedoRecord,
  TAIL_BYTES,
  UNDO_BODY_BYTES,
} from './format/fifo.js';
import { BIGBLOCK_BYTES, BUFFER_BYTES, offPart, SECTOR_BYTES, viewOf } from './layout.js';

/** Room HAMMER keeps free in the FIFO beyond any append (it panics below it; we say ENOSPC). */
export const FIFO_RESERVE_BYTES = 48 * 1024;
const DUMMIES_PER_BUFFER = BUFFER_BYTES / SECTOR_BYTES;
/** Sectors past a damaged record searched for one that continues the sequence (a hole, not the end). */
export const RESUME_LOOKAHEAD_SECTORS = 32;
/** A sector holds at most this many records with a seq (the smallest is 48 bytes). */
const SEQ_RECORDS_PER_SECTOR = Math.floor(SECTOR_BYTES / 48);

export interface FifoSpan {
  /** FIFO offset where the active (revocable) span starts. */
  first: number;
  /** Seq number of the record at `first`. */
  firstSeq: number;
  /** Append point and the seq the next record gets. */
  next: number;
  nextSeq: number;
}

export interface ScannedRecord {
  offset: number;
  record: FifoRecord;
}

/**
 * The UNDO/REDO FIFO: a ring over the UNDO big-blocks. Appends go into 16 KiB
 * FIFO buffers held in memory until `writeOut` (the flusher writes them, then
 * fsyncs, before any meta-data buffer). Every record is followed by a
 * provisional PAD up to the sector boundary, so the FIFO always parses.
 */
export class UndoFifo {
  readonly size: number;
  private span: FifoSpan;
  private readonly dirty = new Map<number, Uint8Array>();
  /** Per dirty buffer, the sector range appends changed since the last writeOut. */
  private readonly touched = new Map<number, { lo: number; hi: number }>();
  /** The buffer appends go to, with a DataView of it made once (a record is encoded per UNDO). */
  private current: { index: number; bytes: Uint8Array; view: DataView } | undefined;
  private protectedFrom: number | undefined;
  /** Written by writeOut since the last fsync that succeeded (written again if that fsync fails). */
  private readonly unsynced = new Map<number, { bytes: Uint8Array; lo: number; hi: number }>();

  constructor(
    private readonly device: BlockDevice,
    private readonly bufBeg: number,
    private readonly undoArray: readonly number[],
    span: FifoSpan,
  ) {
    this.size = undoArray.length * BIGBLOCK_BYTES;
    assert(this.size > 0, 'the FIFO has at least one big-block');
    assert(span.first < this.size && span.next < this.size, 'zone-3 offsets stay below alloc_offset');
    this.span = { ...span };
  }

  get state(): Readonly<FifoSpan> {
    return this.span;
  }

  /**
   * Bytes from the oldest record still needed to `next`: the live span, or
   * from the protected REDO start when fsynced REDO before first_offset must
   * survive until stage 2 could need it.
   */
  usedBytes(): number {
    const live = (this.span.next - this.span.first + this.size) % this.size;
    if (this.protectedFrom === undefined) return live;
    return Math.max(live, (this.span.next - this.protectedFrom + this.size) % this.size);
  }

  /** Keep the FIFO from wrapping over REDO records from `offset` on (undefined: none). */
  protect(offset: number | undefined): void {
    assert(offset === undefined || (offset >= 0 && offset < this.size), 'a protected REDO start is a FIFO offset');
    this.protectedFrom = offset;
  }

  freeBytes(): number {
    return this.size - this.usedBytes();
  }

  /** Physical device offset of a FIFO offset. */
  physical(fifoOffset: number): number {
    const block = this.undoArray[Math.floor(fifoOffset / BIGBLOCK_BYTES)];
    assert(block !== undefined, 'FIFO offset maps to an UNDO big-block');
    return this.bufBeg + offPart(block) + (fifoOffset % BIGBLOCK_BYTES);
  }

  /** Move the start of the active span (a committed cycle is no longer revocable). */
  setFirst(first: number, firstSeq: number): void {
    this.span.first = first;
    this.span.firstSeq = firstSeq;
  }

  /** Log the pre-image of `bytes` at physical offset `target`, split to fit sectors. Returns the first record's offset. */
  appendUndo(target: number, bytes: Uint8Array): number {
    let start = -1;
    let done = 0;
    while (done < bytes.length) {
      const room = this.roomFor(HEAD_BYTES + UNDO_BODY_BYTES + TAIL_BYTES + 8);
      const chunk = Math.min(bytes.length - done, room - (HEAD_BYTES + UNDO_BODY_BYTES + TAIL_BYTES));
      const at = this.put({
        type: FifoType.UNDO,
        seq: this.span.nextSeq,
        target: target + done,
        // Most pre-images fit one record: passed as they are, not as a fresh subarray.
        payload: chunk === bytes.length ? bytes : bytes.subarray(done, done + chunk),
      });
      if (start < 0) start = at;
      done += chunk;
    }
    return start;
  }

  /**
   * Append a REDO record; a WRITE payload longer than a sector allows is
   * split, offsets following. Every chunk but the last carries CHAIN, and so
   * does the last when `more` says the operation goes on: recovery replays an
   * operation only whole.
   */
  appendRedo(redo: Omit<RedoRecord, 'type' | 'seq'>, more = false): number {
    let start = -1;
    let done = 0;
    do {
      const room = this.roomFor(HEAD_BYTES + REDO_BODY_BYTES + TAIL_BYTES + 8);
      const chunk = Math.min(redo.payload.length - done, room - (HEAD_BYTES + REDO_BODY_BYTES + TAIL_BYTES));
      const last = done + chunk >= redo.payload.length;
      const at = this.put({
        ...redo,
        flags: redo.flags | (!last || more ? RedoFlag.CHAIN : 0),
        type: FifoType.REDO,
        seq: this.span.nextSeq,
        offset: redo.payload.length > 0 ? redo.offset + done : redo.offset,
        payload: redo.payload.subarray(done, done + chunk),
      });
      if (start < 0) start = at;
      done += chunk;
    } while (done < redo.payload.length);
    return start;
  }

  /**
   * Make sure at least `minimum` bytes fit before the next sector boundary,
   * padding to it if not, and that the FIFO has room; returns the room left.
   */
  private roomFor(minimum: number): number {
    if (this.freeBytes() < SECTOR_BYTES + FIFO_RESERVE_BYTES) {
      throw new FsError('ENOSPC', `UNDO/REDO FIFO full: ${this.usedBytes()} of ${this.size} bytes in use`);
    }
    let room = SECTOR_BYTES - (this.span.next % SECTOR_BYTES);
    if (room < minimum) {
      this.writeRecord({ type: FifoType.PAD, size: room });
      this.advance(room);
      room = SECTOR_BYTES;
    }
    return room;
  }

  private put(record: FifoRecord): number {
    const at = this.span.next;
    const size = this.writeRecord(record);
    this.span.nextSeq = (this.span.nextSeq + 1) >>> 0;
    this.advance(size);
    const rest = SECTOR_BYTES - (this.span.next % SECTOR_BYTES);
    if (rest !== SECTOR_BYTES) this.writeRecord({ type: FifoType.PAD, size: rest }); // provisional
    return at;
  }

  private advance(bytes: number): void {
    this.span.next += bytes;
    if (this.span.next === this.size) this.span.next = 0;
  }

  private writeRecord(record: FifoRecord): number {
    const buffer = this.bufferAt(this.span.next);
    const within = this.span.next % BUFFER_BYTES;
    assert(this.current?.bytes === buffer, 'bufferAt makes its buffer the current one');
    const size = encodeFifoRecord(buffer, within, record, this.current.view);
    // Remember which sectors changed: writeOut writes those, not the whole 16 KiB buffer.
    const index = Math.floor(this.span.next / BUFFER_BYTES);
    const lo = within - (within % SECTOR_BYTES);
    const hi = Math.min(BUFFER_BYTES, Math.ceil((within + Math.max(size, 1)) / SECTOR_BYTES) * SECTOR_BYTES);
    const range = this.touched.get(index);
    if (range === undefined) this.touched.set(index, { lo, hi });
    else {
      range.lo = Math.min(range.lo, lo);
      range.hi = Math.max(range.hi, hi);
    }
    return size;
  }

  /**
   * The FIFO buffer holding `offset`. A buffer entered at its start is formatted
   * with DUMMY records whose seqs cannot continue the live sequence; one entered
   * mid-way (after a mount) is read from the device.
   */
  private bufferAt(offset: number): Uint8Array {
    const index = Math.floor(offset / BUFFER_BYTES);
    if (this.current?.index === index) {
      this.dirty.set(index, this.current.bytes);
      return this.current.bytes;
    }
    let bytes = this.dirty.get(index);
    if (bytes === undefined) {
      bytes = new Uint8Array(BUFFER_BYTES);
      if (offset % BUFFER_BYTES === 0) {
        encodeDummySectors(bytes, DUMMIES_PER_BUFFER, this.span.nextSeq ^ DUMMY_SEQ_XOR);
      } else {
        this.device.read(this.physical(index * BUFFER_BYTES), bytes);
      }
      this.dirty.set(index, bytes);
    }
    this.current = { index, bytes, view: viewOf(bytes) };
    return bytes;
  }

  hasDirty(): boolean {
    return this.dirty.size > 0;
  }

  /**
   * Write the sectors appends changed in every dirty FIFO buffer (the caller
   * fsyncs). Untouched sectors of a fresh buffer keep whatever the disk held:
   * an older lap or an older mount, whose seqs can never continue the live
   * sequence, so a scan ends there as it would at a DUMMY. The buffer being
   * filled stays cached.
   */
  writeOut(): number {
    let written = 0;
    for (const [index, bytes] of this.dirty) {
      const range = this.touched.get(index) ?? { lo: 0, hi: BUFFER_BYTES };
      this.device.write(this.physical(index * BUFFER_BYTES) + range.lo, bytes.subarray(range.lo, range.hi));
      written += range.hi - range.lo;
      const before = this.unsynced.get(index);
      this.unsynced.set(index, {
        bytes,
        lo: Math.min(range.lo, before?.lo ?? range.lo),
        hi: Math.max(range.hi, before?.hi ?? range.hi),
      });
    }
    // The buffer being filled stays in `current`; the next append marks it dirty again.
    this.dirty.clear();
    this.touched.clear();
    return written;
  }

  /** The fsync after writeOut succeeded: what it wrote is durable. */
  synced(): void {
    this.unsynced.clear();
  }

  /**
   * The fsync after writeOut failed. The device may have lost what it was
   * given (a page cache drops such writes: "fsyncgate"), so the next
   * writeOut writes it again: the FIFO on disk stays one unbroken chain of
   * seqs, or recovery's scan would stop at the hole and miss the UNDO of
   * every later cycle.
   */
  syncFailed(): void {
    for (const [index, lost] of this.unsynced) {
      this.dirty.set(index, lost.bytes);
      const range = this.touched.get(index);
      this.touched.set(index, {
        lo: Math.min(lost.lo, range?.lo ?? lost.lo),
        hi: Math.max(lost.hi, range?.hi ?? lost.hi),
      });
    }
    this.unsynced.clear();
  }

  /** Forget unwritten appends since the last writeOut (an aborted cycle), back to `span`. */
  /** Nothing appended waits to be written or synced (a replay checkpoint may be taken). */
  get quiet(): boolean {
    return this.dirty.size === 0 && this.touched.size === 0 && this.unsynced.size === 0;
  }

  /** Where protect() keeps the REDO from (undefined: nothing protected). */
  get protectedStart(): number | undefined {
    return this.protectedFrom;
  }

  resetTo(span: FifoSpan): void {
    this.dirty.clear();
    this.touched.clear();
    this.unsynced.clear();
    this.current = undefined;
    this.span = { ...span };
  }

  /**
   * Scan forward from `from` expecting `seq` (or whatever the first record
   * carries, when undefined), until the first record that is
   * invalid or out of sequence: that is the true end of the FIFO. PADs carry
   * no seq; DUMMY records keep the sequence. Reads unwritten buffers first, then the device.
   */
  scan(from: number, seq: number | undefined): { records: ScannedRecord[]; end: number; endSeq: number } {
    const records: ScannedRecord[] = [];
    let offset = from;
    let expected = seq === undefined ? undefined : seq >>> 0;
    let consumed = 0;
    const sector = new Uint8Array(SECTOR_BYTES);
    const readahead = { index: -1, bytes: new Uint8Array(BUFFER_BYTES) };
    while (consumed < this.size) {
      this.readSector(offset, sector, readahead);
      let at = offset % SECTOR_BYTES;
      let stop = false;
      while (at < SECTOR_BYTES) {
        const result = decodeFifoRecord(sector, at);
        if (!result.ok) {
          stop = true;
          break;
        }
        const record = result.record;
        if (record.type !== FifoType.PAD) {
          expected ??= record.seq;
          if (record.seq !== expected) {
            stop = true;
            break;
          }
          expected = (expected + 1) >>> 0;
          records.push({ offset: offset - (offset % SECTOR_BYTES) + at, record });
        }
        at += result.size;
      }
      if (stop) {
        offset = offset - (offset % SECTOR_BYTES) + at;
        break;
      }
      const advanced = SECTOR_BYTES - (offset % SECTOR_BYTES);
      consumed += advanced;
      offset += advanced;
      if (offset === this.size) offset = 0;
    }
    return { records, end: offset === this.size ? 0 : offset, endSeq: expected ?? 0 };
  }

  /**
   * After a scan stopped at `end` expecting `seq`: when the record there is
   * damaged (not a valid record merely out of sequence, the ordinary end)
   * and a sector within RESUME_LOOKAHEAD_SECTORS starts with a record whose
   * seq continues the sequence, that record: the span has a hole and goes on.
   * `first` bounds the search (it never wraps onto the span's own start).
   * Stale sectors of an older lap or mount cannot continue the sequence (the
   * seq only grows, and every mount jumps it past what the ring can hold).
   */
  resumeAfter(end: number, seq: number, first: number): { offset: number; seq: number; problem: string } | undefined {
    const sector = new Uint8Array(SECTOR_BYTES);
    const readahead = { index: -1, bytes: new Uint8Array(BUFFER_BYTES) };
    this.readSector(end, sector, readahead);
    const atEnd = decodeFifoRecord(sector, end % SECTOR_BYTES);
    if (atEnd.ok) return undefined;
    const start = first - (first % SECTOR_BYTES);
    let offset = end - (end % SECTOR_BYTES);
    for (let i = 1; i <= RESUME_LOOKAHEAD_SECTORS; i++) {
      offset = (offset + SECTOR_BYTES) % this.size;
      if (offset === start) return undefined;
      this.readSector(offset, sector, readahead);
      const found = decodeFifoRecord(sector, 0);
      if (!found.ok || found.record.type === FifoType.PAD) continue;
      const ahead = (found.record.seq - seq) >>> 0;
      if (ahead > 0 && ahead <= (i + 1) * SEQ_RECORDS_PER_SECTOR)
        return { offset, seq: found.record.seq, problem: atEnd.problem };
    }
    return undefined;
  }

  /**
   * Read one sector of the FIFO, from an unwritten buffer if there is one,
   * else from the device a whole 16 KiB buffer at a time (kept for the next
   * sectors of the same scan).
   */
  private readSector(offset: number, target: Uint8Array, readahead: { index: number; bytes: Uint8Array }): void {
    const base = offset - (offset % SECTOR_BYTES);
    const index = Math.floor(base / BUFFER_BYTES);
    const within = base % BUFFER_BYTES;
    const buffered = this.dirty.get(index) ?? (this.current?.index === index ? this.current.bytes : undefined);
    if (buffered !== undefined) {
      target.set(buffered.subarray(within, within + SECTOR_BYTES));
      return;
    }
    if (readahead.index !== index) {
      this.device.read(this.physical(index * BUFFER_BYTES), readahead.bytes);
      readahead.index = index;
    }
    target.set(readahead.bytes.subarray(within, within + SECTOR_BYTES));
  }
}
