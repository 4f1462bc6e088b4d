import { assert } from './assert.js';

/**
 * Sizes, zones and address encoding of a hammerstate volume. See
 * docs/on-disk-format.md for the picture; the names follow HAMMER's.
 */
export const BUFFER_BYTES = 16 * 1024; // HAMMER_BUFSIZE: the meta-data I/O unit
export const NODE_BYTES = 4096; // one B-tree node; four per buffer
export const BIGBLOCK_BYTES = 8 * 1024 * 1024; // HAMMER_BIGBLOCK_SIZE
export const SECTOR_BYTES = 512; // HAMMER_UNDO_ALIGN
export const SMALL_DATA_MAX = 8 * 1024; // payloads up to this go to SMALL_DATA
export const DATA_ALIGN = 16;

/** Zones: the top nibble of a HAMMER offset. */
export const Zone = {
  RAW_VOLUME: 1,
  RAW_BUFFER: 2,
  UNDO: 3,
  FREEMAP: 4,
  BTREE: 8,
  META: 9,
  LARGE_DATA: 10,
  SMALL_DATA: 11,
} as const;
export type ZoneId = (typeof Zone)[keyof typeof Zone];
export const ALLOC_ZONES = [Zone.BTREE, Zone.META, Zone.LARGE_DATA, Zone.SMALL_DATA] as const;
export type AllocZone = (typeof ALLOC_ZONES)[number];

export function zoneName(zone: number): string {
  for (const [name, id] of Object.entries(Zone)) if (id === zone) return name;
  return `zone${zone}`;
}

/**
 * In memory a HAMMER offset is `zone * 2^48 + offset`, which stays a safe
 * integer (volumes are limited to 256 TiB). On disk it is HAMMER's
 * `[zone:4][vol:8][offset:52]` u64 (volume number 0).
 */
export const OFFSET_SPAN = 2 ** 48;

export function hammerOff(zone: number, offset: number): number {
  assert(offset >= 0 && offset < OFFSET_SPAN, 'zone offset fits in 48 bits');
  return zone * OFFSET_SPAN + offset;
}
export function offZone(off: number): number {
  return Math.floor(off / OFFSET_SPAN);
}
export function offPart(off: number): number {
  return off % OFFSET_SPAN;
}

const TWO32 = 2 ** 32;

/*
 * The low words below are stored as the value itself: setUint32 takes its
 * argument modulo 2^32 (ToUint32), exactly what `value % 2^32` gave, without
 * a floating-point modulo per field (several per B-tree element written).
 */
export function writeHammerOff(view: DataView, at: number, off: number): void {
  const part = offPart(off);
  view.setUint32(at, part, true);
  view.setUint32(at + 4, ((offZone(off) << 28) | Math.floor(part / TWO32)) >>> 0, true);
}
export function readHammerOff(view: DataView, at: number): number {
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  return (hi >>> 28) * OFFSET_SPAN + (hi & 0x0fffffff) * TWO32 + lo;
}

/** Signed 64-bit integers in the safe range, as two's complement halves. */
export function writeI64(view: DataView, at: number, value: number): void {
  const hi = Math.floor(value / TWO32);
  view.setUint32(at, value - hi * TWO32, true);
  view.setInt32(at + 4, hi, true);
}
export function readI64(view: DataView, at: number): number {
  return view.getInt32(at + 4, true) * TWO32 + view.getUint32(at, true);
}
export function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value, true);
  view.setUint32(at + 4, Math.floor(value / TWO32), true);
}
export function readU64(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * TWO32 + view.getUint32(at, true);
}

/*
 * The same little-endian fields written byte by byte, for a small array made
 * just now: a DataView needs the array's ArrayBuffer, and for an array of up
 * to 64 bytes (kept inside V8's heap) asking for it moves the bytes out to a
 * backing store of their own (~10x the cost of the array).
 */
export function putU16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
}
export function putU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
  bytes[at + 2] = value >>> 16;
  bytes[at + 3] = value >>> 24;
}
/** As writeI64 (negative values as two's complement). */
export function putI64(bytes: Uint8Array, at: number, value: number): void {
  const hi = Math.floor(value / TWO32);
  putU32(bytes, at, value - hi * TWO32);
  putU32(bytes, at + 4, hi);
}
/** As writeU64. */
export function putU64(bytes: Uint8Array, at: number, value: number): void {
  putU32(bytes, at, value % TWO32);
  putU32(bytes, at + 4, Math.floor(value / TWO32));
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** TIDs print as HAMMER prints them: 0x + 16 hex digits. */
export function formatTid(tid: number): string {
  return `0x${tid.toString(16).padStart(16, '0')}`;
}
export function parseTid(text: string): number | undefined {
  if (!/^0x[0-9a-fA-F]{1,16}$/.test(text)) return undefined;
  const value = Number.parseInt(text.slice(2), 16);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** The first TID a fresh volume hands out (HAMMER starts TIDs above 2^32). */
export const FIRST_TID = 0x0000000100000000;
/** A TID that is later than every real one: "now" for as-of lookups. */
export const TID_MAX = Number.MAX_SAFE_INTEGER;

/** Record types (rec_type). */
export const RecType = {
  INODE: 0x0001,
  DATA: 0x0010,
  DIRENTRY: 0x0011,
  DB: 0x0012,
  EXT: 0x0013,
  FIX: 0x0014,
  PFS: 0x0015,
  SNAPSHOT: 0x0016,
  CONFIG: 0x0017,
  /** Ours (ext4's orphan list): an inode whose last link went while it was open; key = its obj_id, no data. */
  ORPHAN: 0x0018,
  /**
   * Ours (ext4's orphan list again): a truncation an emergency finalize
   * committed part-way, so records past the file's size remain; key = the
   * inode's obj_id, no data. The next read-write mount finishes it.
   */
  TRUNCATION: 0x0019,
} as const;

/** Orphan (and truncation) records of a PFS sit at this obj_id of its MISC space (no inode has it). */
export const ORPHAN_OBJ_ID = 0;

export function recTypeName(type: number): string {
  for (const [name, id] of Object.entries(RecType)) if (id === type) return name;
  return `0x${type.toString(16).padStart(4, '0')}`;
}

/** Object types (obj_type). */
export const ObjType = {
  DIRECTORY: 1,
  REGFILE: 2,
  DBFILE: 3,
  FIFO: 4,
  CDEV: 5,
  BDEV: 6,
  SOFTLINK: 7,
  PSEUDOFS: 8,
  SOCKET: 9,
} as const;

/** Localization: PFS id in the top 16 bits, the space in the low 16. */
export const LOCALIZE_INODE = 0x0001;
export const LOCALIZE_MISC = 0x0002;
export function localization(pfsId: number, space: number): number {
  return ((pfsId << 16) | space) >>> 0;
}

export const ROOT_OBJ_ID = 1;
/** Keys are safe integers; these bound every range scan. */
export const KEY_MIN = Number.MIN_SAFE_INTEGER;
export const KEY_MAX = Number.MAX_SAFE_INTEGER;
