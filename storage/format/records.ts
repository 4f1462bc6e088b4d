import { assert } from '../assert.js';
import { crcOf, crcOfString } from '../crc.js';
import { FsError } from '../errors.js';
import { ObjType, putI64, putU16, putU32, putU64, readI64, readU64, viewOf, writeU64 } from '../layout.js';
import { nameBytes, nameOf } from './names.js';

/**
 * Data of the records that live in the META zone: the 128-byte inode, directory
 * entries, PFS and snapshot records. Times are microseconds since the epoch.
 */
export const INODE_BYTES = 128;
/** The inode's data CRC covers bytes [0, 112): mtime and atime are outside it, patched in place. */
export const INODE_CRC_BYTES = 112;
export const INODE_MTIME_AT = 112;
export const INODE_ATIME_AT = 120;
export const INODE_SYMLINK_BYTES = 24;
export const INODE_VERSION = 1;

export interface InodeData {
  version: number;
  mode: number;
  uflags: number;
  rmajor: number;
  rminor: number;
  ctime: number;
  parentObjId: number;
  uid: number;
  gid: number;
  objType: number;
  capFlags: number;
  nlinks: number;
  size: number;
  /** Short symlink target (≤ 24 bytes) stored inside the inode. */
  symlink: Uint8Array;
  mtime: number;
  atime: number;
}

/**
 * A field-by-field copy of inode data (a new object, never frozen): every
 * copy has the one shape, and it is several times cheaper than a spread of
 * a frozen object, which the copy-on-change of every inode edit makes.
 */
export function copyInode(ino: InodeData): InodeData {
  return {
    version: ino.version,
    mode: ino.mode,
    uflags: ino.uflags,
    rmajor: ino.rmajor,
    rminor: ino.rminor,
    ctime: ino.ctime,
    parentObjId: ino.parentObjId,
    uid: ino.uid,
    gid: ino.gid,
    objType: ino.objType,
    capFlags: ino.capFlags,
    nlinks: ino.nlinks,
    size: ino.size,
    symlink: ino.symlink,
    mtime: ino.mtime,
    atime: ino.atime,
  };
}

/** A root directory's inode (mkfs, a new PFS): mode 755, one link, times `now` (µs). */
export function rootDirectoryInode(now: number): InodeData {
  return {
    version: INODE_VERSION,
    mode: 0o755,
    uflags: 0,
    rmajor: 0,
    rminor: 0,
    ctime: now,
    parentObjId: 0,
    uid: 0,
    gid: 0,
    objType: ObjType.DIRECTORY,
    capFlags: 0,
    nlinks: 1,
    size: 0,
    symlink: new Uint8Array(0),
    mtime: now,
    atime: now,
  };
}

/** The 128-byte inode record data (written byte by byte: one per inode record, no view needed). */
export function encodeInode(inode: InodeData): Uint8Array {
  const bytes = new Uint8Array(INODE_BYTES);
  putU16(bytes, 0, inode.version);
  putU16(bytes, 2, inode.mode);
  putU32(bytes, 4, inode.uflags);
  putU32(bytes, 8, inode.rmajor);
  putU32(bytes, 12, inode.rminor);
  putU64(bytes, 16, inode.ctime);
  putI64(bytes, 24, inode.parentObjId);
  putU32(bytes, 32, inode.uid); // uid/gid UUID areas carry the numeric id in their first 4 bytes
  putU32(bytes, 48, inode.gid);
  bytes[64] = inode.objType;
  bytes[65] = inode.capFlags;
  putU64(bytes, 72, inode.nlinks);
  putU64(bytes, 80, inode.size);
  assert(inode.symlink.length <= INODE_SYMLINK_BYTES, 'inline symlink fits in 24 bytes');
  bytes.set(inode.symlink, 88);
  putU64(bytes, INODE_MTIME_AT, inode.mtime);
  putU64(bytes, INODE_ATIME_AT, inode.atime);
  return bytes;
}

/** Shared by every inode without an inline symlink (never written to). */
/** The symlink field of every inode that has none: shared, and empty so nothing can write into it. */
export const NO_SYMLINK = new Uint8Array(0);

export function decodeInode(bytes: Uint8Array, where: string): InodeData {
  if (bytes.length !== INODE_BYTES) throw new FsError('EIO', `inode data of ${where}: ${bytes.length} bytes, want 128`);
  const view = viewOf(bytes);
  const version = view.getUint16(0, true);
  if (version !== INODE_VERSION) throw new FsError('EIO', `inode data of ${where}: unknown version ${version}`);
  const symlinkArea = bytes.subarray(88, 88 + INODE_SYMLINK_BYTES);
  const end = symlinkArea.indexOf(0);
  return {
    version,
    mode: view.getUint16(2, true),
    uflags: view.getUint32(4, true),
    rmajor: view.getUint32(8, true),
    rminor: view.getUint32(12, true),
    ctime: readU64(view, 16),
    parentObjId: readI64(view, 24),
    uid: view.getUint32(32, true),
    gid: view.getUint32(48, true),
    objType: view.getUint8(64),
    capFlags: view.getUint8(65),
    nlinks: readU64(view, 72),
    size: readU64(view, 80),
    symlink: end === 0 ? NO_SYMLINK : symlinkArea.slice(0, end < 0 ? INODE_SYMLINK_BYTES : end),
    mtime: readU64(view, INODE_MTIME_AT),
    atime: readU64(view, INODE_ATIME_AT),
  };
}

/** The element's data CRC for an inode: bytes before mtime only. */
export function inodeDataCrc(bytes: Uint8Array): number {
  return crcOf(bytes, 0, INODE_CRC_BYTES);
}

export const DIRENTRY_HEAD_BYTES = 16;
export const NAME_MAX = 255;

export interface DirEntryData {
  objId: number;
  localization: number;
  name: string;
}

export function encodeDirEntry(entry: DirEntryData): Uint8Array {
  const name = nameBytes(entry.name);
  assert(name !== undefined, 'a directory entry name stands for bytes (storage/format/names.ts)');
  assert(name.length > 0 && name.length <= NAME_MAX, 'directory entry name is 1..255 bytes');
  // Written byte by byte: a short entry stays inside V8's heap (see putU32).
  const bytes = new Uint8Array(DIRENTRY_HEAD_BYTES + name.length);
  putI64(bytes, 0, entry.objId);
  putU32(bytes, 8, entry.localization);
  bytes.set(name, DIRENTRY_HEAD_BYTES);
  return bytes;
}

export function decodeDirEntry(bytes: Uint8Array, where: string): DirEntryData {
  if (bytes.length <= DIRENTRY_HEAD_BYTES || bytes.length > DIRENTRY_HEAD_BYTES + NAME_MAX) {
    throw new FsError('EIO', `directory entry of ${where}: bad length ${bytes.length}`);
  }
  const view = viewOf(bytes);
  return {
    objId: readI64(view, 0),
    localization: view.getUint32(8, true),
    name: nameOf(bytes.subarray(DIRENTRY_HEAD_BYTES)),
  };
}

/** The head of an encoded entry (what it names), without decoding its name: an in-memory ADD record keeps that. */
export function decodeDirEntryHead(bytes: Uint8Array, where: string): { objId: number; localization: number } {
  if (bytes.length <= DIRENTRY_HEAD_BYTES)
    throw new FsError('EIO', `directory entry of ${where}: bad length ${bytes.length}`);
  const view = viewOf(bytes);
  return { objId: readI64(view, 0), localization: view.getUint32(8, true) };
}

/**
 * Directory-entry key: a 31-bit name hash in the high bits and 21 bits to
 * iterate over collisions (HAMMER uses 32 + 32; ours stays a safe integer).
 */
export const DIRHASH_COLLISION_BITS = 21;
export function dirHashBase(name: string): number {
  // The CRC of the name's bytes (storage/format/names.ts): of its UTF-8 without a Buffer per name when it is text.
  const crc = name.isWellFormed() ? crcOfString(name) : crcOf(nameBytes(name) ?? Buffer.from(name, 'utf8'));
  return (crc & 0x7fffffff) * 2 ** DIRHASH_COLLISION_BITS;
}
export const DIRHASH_COLLISION_SPAN = 2 ** DIRHASH_COLLISION_BITS;

export const PFS_BYTES = 144;
export const PFS_MIRROR_SLAVE = 0x1;
export const PFS_MIRROR_DELETED = 0x80000000;

export interface PfsData {
  syncBegTid: number;
  syncEndTid: number;
  sharedUuid: string;
  uniqueUuid: string;
  mirrorFlags: number;
  label: string;
  pruneMin: number;
  pruneMax: number;
}

export function encodePfs(pfs: PfsData): Uint8Array {
  const bytes = new Uint8Array(PFS_BYTES);
  const view = viewOf(bytes);
  writeU64(view, 0, pfs.syncBegTid);
  writeU64(view, 8, pfs.syncEndTid);
  bytes.set(Buffer.from(pfs.sharedUuid.padEnd(32, '0').slice(0, 32), 'hex'), 16);
  bytes.set(Buffer.from(pfs.uniqueUuid.padEnd(32, '0').slice(0, 32), 'hex'), 32);
  view.setUint32(48, pfs.mirrorFlags >>> 0, true);
  const label = Buffer.from(pfs.label, 'utf8');
  assert(label.length <= 63, 'PFS label fits in 63 bytes');
  bytes.set(label, 56);
  writeU64(view, 120, pfs.pruneMin);
  writeU64(view, 128, pfs.pruneMax);
  return bytes;
}

export function decodePfs(bytes: Uint8Array, where: string): PfsData {
  if (bytes.length !== PFS_BYTES) throw new FsError('EIO', `PFS data of ${where}: ${bytes.length} bytes`);
  const view = viewOf(bytes);
  return {
    syncBegTid: readU64(view, 0),
    syncEndTid: readU64(view, 8),
    sharedUuid: Buffer.from(bytes.subarray(16, 32)).toString('hex'),
    uniqueUuid: Buffer.from(bytes.subarray(32, 48)).toString('hex'),
    mirrorFlags: view.getUint32(48, true),
    label: Buffer.from(bytes.subarray(56, 120)).toString('utf8').replace(/\0+$/, ''),
    pruneMin: readU64(view, 120),
    pruneMax: readU64(view, 128),
  };
}

export const SNAPSHOT_BYTES = 80;

export interface SnapshotData {
  tid: number;
  /** Microseconds since the epoch, from the injected clock. */
  ts: number;
  label: string;
}

export function encodeSnapshot(snapshot: SnapshotData): Uint8Array {
  const bytes = new Uint8Array(SNAPSHOT_BYTES);
  const view = viewOf(bytes);
  writeU64(view, 0, snapshot.tid);
  writeU64(view, 8, snapshot.ts);
  const label = Buffer.from(snapshot.label, 'utf8');
  assert(label.length <= 63, 'snapshot label fits in 63 bytes');
  bytes.set(label, 16);
  return bytes;
}

export function decodeSnapshot(bytes: Uint8Array, where: string): SnapshotData {
  if (bytes.length !== SNAPSHOT_BYTES) throw new FsError('EIO', `snapshot data of ${where}: ${bytes.length} bytes`);
  const view = viewOf(bytes);
  return {
    tid: readU64(view, 0),
    ts: readU64(view, 8),
    label: Buffer.from(bytes.subarray(16, 80)).toString('utf8').replace(/\0+$/, ''),
  };
}
