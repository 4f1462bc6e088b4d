import { assert } from '../assert.js';
import { crcOf, crcOfTwo } from '../crc.js';
import {
  readHammerOff,
  readI64,
  readU64,
  SECTOR_BYTES,
  viewOf,
  writeHammerOff,
  writeI64,
  writeU64,
} from '../layout.js';

/**
 * UNDO/REDO FIFO records (HAMMER v4+). A 16-byte head, a body, an 8-byte tail
 * that lets recovery walk backwards. Sizes are multiples of 8 and no record
 * crosses a 512-byte sector, so every sector begins with a record carrying a
 * seq number and a torn sector is detected by its seq or CRC.
 */
export const HEAD_SIGNATURE = 0xc84e;
export const TAIL_SIGNATURE = 0xc74f;
export const HEAD_BYTES = 16;
export const TAIL_BYTES = 8;
export const FifoType = { PAD: 0x8040, DUMMY: 0x0041, UNDO: 0x0043, REDO: 0x0044 } as const;
export type FifoTypeId = (typeof FifoType)[keyof typeof FifoType];
export const UNDO_BODY_BYTES = 16; // undo_offset, data_bytes, reserved
export const REDO_BODY_BYTES = 40; // objid, offset, data_bytes, flags, localization, reserved, mtime
export const UNDO_PAYLOAD_MAX = SECTOR_BYTES - HEAD_BYTES - UNDO_BODY_BYTES - TAIL_BYTES; // 472
export const REDO_PAYLOAD_MAX = SECTOR_BYTES - HEAD_BYTES - REDO_BODY_BYTES - TAIL_BYTES; // 448
/** A fresh FIFO buffer's DUMMY records start at seq XOR this, so they never continue the live sequence. */
export const DUMMY_SEQ_XOR = 0x40000000;

export const RedoFlag = {
  WRITE: 0x01,
  TRUNC: 0x02,
  TERM_WRITE: 0x04,
  TERM_TRUNC: 0x08,
  SYNC: 0x10,
  /** More records of the same operation follow (a split write, a truncation a write completes). */
  CHAIN: 0x20,
} as const;

/**
 * termBytes of a TERM record that closes an inode's REDO wholesale: every
 * WRITE and TRUNC of that object with a seq before `offset` (the FIFO seq
 * when the flush froze the inode) is committed.
 */
export const TERM_ALL = 0xffffffff;

export function align8(n: number): number {
  return (n + 7) & ~7;
}

export interface UndoRecord {
  type: typeof FifoType.UNDO;
  seq: number;
  /** Physical device offset (zone 1) the pre-image belongs to. */
  target: number;
  payload: Uint8Array;
}

export interface RedoRecord {
  type: typeof FifoType.REDO;
  seq: number;
  flags: number;
  objId: number;
  localization: number;
  /** File offset (WRITE), new size (TRUNC), or for SYNC the FIFO offset stage 2 starts at. */
  offset: number;
  mtime: number;
  payload: Uint8Array;
  /** TERM_WRITE: the length of the file range [offset, offset + termBytes) now committed as data. */
  termBytes?: number;
}

export interface DummyRecord {
  type: typeof FifoType.DUMMY;
  seq: number;
  size: number;
}

export interface PadRecord {
  type: typeof FifoType.PAD;
  size: number;
}

export type FifoRecord = UndoRecord | RedoRecord | DummyRecord | PadRecord;

export function recordSize(record: FifoRecord): number {
  switch (record.type) {
    case FifoType.UNDO:
      return HEAD_BYTES + UNDO_BODY_BYTES + align8(record.payload.length) + TAIL_BYTES;
    case FifoType.REDO:
      return HEAD_BYTES + REDO_BODY_BYTES + align8(record.payload.length) + TAIL_BYTES;
    case FifoType.DUMMY:
    case FifoType.PAD:
      return record.size;
  }
}

/**
 * Encode `record` into `target` at `at`. The record must fit before the next
 * sector boundary (callers split payloads; a PAD fills to the boundary).
 * `view` is a DataView of `target` when the caller keeps one. Every field is
 * written at `at + field` of `target` itself: one record per UNDO, so no
 * subarray or view of the record's own.
 */
export function encodeFifoRecord(target: Uint8Array, at: number, record: FifoRecord, view = viewOf(target)): number {
  const size = recordSize(record);
  assert(size >= 8 && size % 8 === 0, 'FIFO record size is a multiple of 8, at least 8');
  assert(
    Math.floor(at / SECTOR_BYTES) === Math.floor((at + size - 1) / SECTOR_BYTES),
    'no FIFO record crosses a 512-byte sector',
  );
  assert(at + size <= target.length, 'the FIFO record fits in its target');
  assert(view.buffer === target.buffer && view.byteOffset === target.byteOffset, 'the view is of the target');
  target.fill(0, at, at + size);
  view.setUint16(at, HEAD_SIGNATURE, true);
  view.setUint16(at + 2, record.type, true);
  view.setUint32(at + 4, size, true);
  if (record.type === FifoType.PAD) {
    assert(at % SECTOR_BYTES !== 0, 'a PAD never starts on a sector boundary');
    // A PAD has no seq and no CRC; with size 8 its head and tail overlap.
    if (size >= HEAD_BYTES + TAIL_BYTES) writeTail(view, at, size, record.type);
    return size;
  }
  view.setUint32(at + 8, record.seq, true);
  if (record.type === FifoType.UNDO) {
    writeHammerOff(view, at + 16, record.target);
    view.setUint32(at + 24, record.payload.length, true);
    target.set(record.payload, at + HEAD_BYTES + UNDO_BODY_BYTES);
  } else if (record.type === FifoType.REDO) {
    writeI64(view, at + 16, record.objId);
    writeI64(view, at + 24, record.offset);
    view.setUint32(at + 32, record.payload.length, true);
    view.setUint32(at + 36, record.flags, true);
    view.setUint32(at + 40, record.localization, true);
    view.setUint32(at + 44, record.termBytes ?? 0, true);
    writeU64(view, at + 48, record.mtime);
    target.set(record.payload, at + HEAD_BYTES + REDO_BODY_BYTES);
  }
  writeTail(view, at, size, record.type);
  view.setUint32(at + 12, crcOfTwo(target, at, at + 12, at + HEAD_BYTES, at + size), true);
  return size;
}

/**
 * Fill `count` sectors of `target` from offset 0 with one DUMMY record each,
 * seqs (firstSeq + i) >>> 0: the same bytes as encodeFifoRecord would write
 * sector by sector. The sectors differ only in seq, which lies in the CRC's
 * first range (bytes 0..12), so the second range's CRC is taken once from the
 * first sector; each other sector costs a copy and a 12-byte CRC instead of
 * a CRC over 496 bytes (a fresh FIFO buffer is formatted every 16 KiB of UNDO).
 */
export function encodeDummySectors(target: Uint8Array, count: number, firstSeq: number, view = viewOf(target)): void {
  assert(count * SECTOR_BYTES <= target.length, 'the DUMMY sectors fit in their target');
  encodeFifoRecord(target, 0, { type: FifoType.DUMMY, seq: firstSeq >>> 0, size: SECTOR_BYTES }, view);
  const secondRangeCrc = (view.getUint32(12, true) ^ crcOf(target, 0, 12)) >>> 0;
  for (let i = 1; i < count; i++) {
    const at = i * SECTOR_BYTES;
    target.copyWithin(at, 0, SECTOR_BYTES);
    view.setUint32(at + 8, (firstSeq + i) >>> 0, true);
    view.setUint32(at + 12, (crcOf(target, at, at + 12) ^ secondRangeCrc) >>> 0, true);
  }
}

/** The 8-byte tail of the record of `size` bytes at `at`. */
function writeTail(view: DataView, at: number, size: number, type: number): void {
  view.setUint16(at + size - 8, TAIL_SIGNATURE, true);
  view.setUint16(at + size - 6, type, true);
  view.setUint32(at + size - 4, size, true);
}

function fifoCrc(bytes: Uint8Array): number {
  return crcOfTwo(bytes, 0, 12, HEAD_BYTES, bytes.length);
}

export type DecodeResult = { ok: true; record: FifoRecord; size: number } | { ok: false; problem: string };

/**
 * Decode the record at `at` in `source` (a sector-aligned window of the FIFO).
 * Never throws: damage is reported as a problem string naming what is wrong.
 */
export function decodeFifoRecord(source: Uint8Array, at: number): DecodeResult {
  const room = SECTOR_BYTES - (at % SECTOR_BYTES);
  if (at + 8 > source.length) return { ok: false, problem: 'record head past the end of the buffer' };
  const view = viewOf(source.subarray(at, at + room));
  if (view.getUint16(0, true) !== HEAD_SIGNATURE) return { ok: false, problem: 'bad head signature' };
  const type = view.getUint16(2, true);
  const size = view.getUint32(4, true);
  if (size < 8 || size % 8 !== 0 || size > room || at + size > source.length)
    return { ok: false, problem: `bad size ${size}` };
  if (type === FifoType.PAD) {
    if (at % SECTOR_BYTES === 0) return { ok: false, problem: 'PAD starts on a sector boundary' };
    if (size >= HEAD_BYTES + TAIL_BYTES && !tailMatches(view, size, type))
      return { ok: false, problem: 'bad PAD tail' };
    return { ok: true, record: { type: FifoType.PAD, size }, size };
  }
  if (type !== FifoType.DUMMY && type !== FifoType.UNDO && type !== FifoType.REDO) {
    return { ok: false, problem: `unknown type 0x${type.toString(16)}` };
  }
  if (size < HEAD_BYTES + TAIL_BYTES) return { ok: false, problem: `size ${size} too small for type` };
  if (!tailMatches(view, size, type)) return { ok: false, problem: 'tail does not match head' };
  const bytes = source.subarray(at, at + size);
  const expected = view.getUint32(12, true);
  const found = fifoCrc(bytes);
  if (expected !== found) {
    return { ok: false, problem: `CRC expected 0x${expected.toString(16)}, found 0x${found.toString(16)}` };
  }
  const seq = view.getUint32(8, true);
  if (type === FifoType.DUMMY) return { ok: true, record: { type, seq, size }, size };
  if (type === FifoType.UNDO) {
    const length = view.getUint32(24, true);
    if (HEAD_BYTES + UNDO_BODY_BYTES + align8(length) + TAIL_BYTES !== size) {
      return { ok: false, problem: `UNDO data_bytes ${length} does not match size ${size}` };
    }
    const start = HEAD_BYTES + UNDO_BODY_BYTES;
    const payload = bytes.slice(start, start + length);
    return { ok: true, record: { type, seq, target: readHammerOff(view, 16), payload }, size };
  }
  const length = view.getUint32(32, true);
  if (HEAD_BYTES + REDO_BODY_BYTES + align8(length) + TAIL_BYTES !== size) {
    return { ok: false, problem: `REDO data_bytes ${length} does not match size ${size}` };
  }
  const start = HEAD_BYTES + REDO_BODY_BYTES;
  return {
    ok: true,
    record: {
      type,
      seq,
      objId: readI64(view, 16),
      offset: readI64(view, 24),
      flags: view.getUint32(36, true),
      localization: view.getUint32(40, true),
      ...(view.getUint32(36, true) & RedoFlag.TERM_WRITE ? { termBytes: view.getUint32(44, true) } : {}),
      mtime: readU64(view, 48),
      payload: bytes.slice(start, start + length),
    },
    size,
  };
}

function tailMatches(view: DataView, size: number, type: number): boolean {
  return (
    view.getUint16(size - 8, true) === TAIL_SIGNATURE &&
    view.getUint16(size - 6, true) === type &&
    view.getUint32(size - 4, true) === size
  );
}

export function fifoTypeName(type: number): string {
  for (const [name, id] of Object.entries(FifoType)) if (id === type) return name;
  return `0x${type.toString(16)}`;
}

export function redoFlagNames(flags: number): string {
  const names = Object.entries(RedoFlag)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => name);
  return names.length > 0 ? names.join('|') : '0';
}
