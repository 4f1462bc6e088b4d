import { InodeFlag } from '../machines/inode-flags.js';
import { assert } from '../storage/assert.js';
import { FsError } from '../storage/errors.js';
import type { BTreeKey, LeafElm } from '../storage/format/btree-node.js';
import { nameByteLength, nameBytes, nameOf } from '../storage/format/names.js';
import {
  DIRHASH_COLLISION_SPAN,
  type DirEntryData,
  decodeDirEntry,
  decodeDirEntryHead,
  dirHashBase,
  encodeDirEntry,
  INODE_SYMLINK_BYTES,
  type InodeData,
  NAME_MAX,
  NO_SYMLINK,
} from '../storage/format/records.js';
import { ObjType, RecType, TID_MAX } from '../storage/layout.js';
import { diskKeyId, keyOf } from './backend.js';
import { Inode, UF_NOHISTORY } from './inode.js';
import { dataLocalization, rangeHi, rangeLo, reservedName } from './keys.js';
import type { Mount } from './mount.js';
import { addRecord, dropRecord, indexDel, type MemRecord, newRecord, RecordFlag, untarget } from './records.js';
import { RECORD_RESERVE_BYTES } from './space.js';

/** Object ids handed to a directory at a time (hammer_alloc_objid's per-directory cache). */
export const OBJID_BLOCK = 1024;

/** One directory entry as the front end sees it: an in-memory ADD or an on-disk element. */
export interface Entry {
  name: string;
  objId: number;
  localization: number;
  key: number;
  /** The ADD record, when the entry is still in memory. */
  record: MemRecord | undefined;
  /** The on-disk element's key, when the entry is on disk. */
  diskKey: BTreeKey | undefined;
}

export function checkName(name: string, path: string): void {
  if (name.length === 0 || name === '.' || name === '..' || name.includes('\0')) {
    throw new FsError('EINVAL', `invalid file name '${name}'`, { path });
  }
  if (!name.isWellFormed() && nameBytes(name) === undefined)
    throw new FsError('EINVAL', 'a name that stands for no bytes', { path });
  if (nameByteLength(name) > NAME_MAX) {
    throw new FsError('ENAMETOOLONG', `file name longer than ${NAME_MAX} bytes`, { path });
  }
  if (reservedName(name)) throw new FsError('EINVAL', `'${name}' is an as-of or PFS path component`, { path });
}

/** The entry `name` of directory `dip` as of `asof` (in-memory records count only for the live view). */
export function lookupEntry(mount: Mount, dip: Inode, name: string, asof: number): Entry | undefined {
  if (asof === TID_MAX) {
    const record = dip.names.get(name);
    if (record !== undefined) return memEntry(record);
    if (!dip.has(InodeFlag.ONDISK)) return undefined;
  }
  if (asof === TID_MAX) {
    const cached = dip.nameCache.get(name);
    if (cached !== undefined) return cached.entry;
  }
  const base = dirHashBase(name);
  const loc = dataLocalization(dip.localization);
  const lo = rangeLo(loc, dip.objId, RecType.DIRENTRY, base);
  const hi = rangeHi(loc, dip.objId, RecType.DIRENTRY, base + DIRHASH_COLLISION_SPAN - 1);
  const keys: number[] = [];
  let found: Entry | undefined;
  for (const elm of mount.volume.scan(lo, hi, asof)) {
    keys.push(elm.key);
    if (found !== undefined || (asof === TID_MAX && dip.dels.has(diskKeyId(elm)))) continue;
    const entry = decodeDirEntry(mount.volume.readData(elm), `directory ${dip.objId}`);
    if (entry.name === name) found = diskEntry(entry, elm);
  }
  if (asof === TID_MAX) {
    if (dip.nameCache.size >= NAME_CACHE_MAX) dip.nameCache.clear();
    dip.nameCache.set(name, { entry: found, keys, commits: dip.entryCommits });
  }
  return found;
}

/** Names remembered per directory before the cache starts over. */
export const NAME_CACHE_MAX = 4096;

/** An in-memory ADD record's entry: the record keeps the name, so only what it names is read from its bytes. */
function memEntry(record: MemRecord): Entry {
  const head = decodeDirEntryHead(record.data, 'an in-memory entry');
  return {
    name: record.name,
    objId: head.objId,
    localization: head.localization,
    key: record.key,
    record,
    diskKey: undefined,
  };
}

/** An on-disk element's entry (every Entry is built with its fields in this one order). */
function diskEntry(entry: DirEntryData, elm: LeafElm): Entry {
  return {
    name: entry.name,
    objId: entry.objId,
    localization: entry.localization,
    key: elm.key,
    record: undefined,
    diskKey: keyOf(elm),
  };
}

/** Every entry of `dip` as of `asof`, in key (name hash) order. */
export function listEntries(mount: Mount, dip: Inode, asof: number): Entry[] {
  const loc = dataLocalization(dip.localization);
  const lo = rangeLo(loc, dip.objId, RecType.DIRENTRY, 0);
  const hi = rangeHi(loc, dip.objId, RecType.DIRENTRY, Number.MAX_SAFE_INTEGER);
  const entries: Entry[] = [];
  for (const elm of mount.volume.scan(lo, hi, asof)) {
    if (asof === TID_MAX && dip.dels.has(diskKeyId(elm))) continue;
    entries.push(diskEntry(decodeDirEntry(mount.volume.readData(elm), `directory ${dip.objId}`), elm));
  }
  if (asof === TID_MAX) for (const record of dip.names.values()) entries.push(memEntry(record));
  return entries.sort((a, b) => a.key - b.key);
}

/** hammer_alloc_objid: a fresh object id from the directory's block, never reused. */
function allocObjid(mount: Mount, dip: Inode): number {
  if (dip.objidLeft === 0) {
    dip.objidNext = mount.volume.allocTids(OBJID_BLOCK);
    dip.objidLeft = OBJID_BLOCK;
  }
  dip.objidLeft--;
  return dip.objidNext++;
}

/** The first collision key for `name` that no entry of `dip` uses (disk, pending delete or memory). */
function freeKey(mount: Mount, dip: Inode, name: string): number {
  const base = dirHashBase(name);
  const memory = dip.entryKeys;
  const cached = dip.nameCache.get(name);
  // Keys entries on disk use: from the name cache while no entry has been committed since
  // (another name of the same hash may have been), else a scan of the hash's collision span.
  const fresh = cached !== undefined && cached.commits === dip.entryCommits;
  let used: readonly number[] = fresh ? cached.keys : NO_KEYS;
  if (!fresh && dip.has(InodeFlag.ONDISK)) {
    const loc = dataLocalization(dip.localization);
    const lo = rangeLo(loc, dip.objId, RecType.DIRENTRY, base);
    const hi = rangeHi(loc, dip.objId, RecType.DIRENTRY, base + DIRHASH_COLLISION_SPAN - 1);
    const found: number[] = [];
    for (const elm of mount.volume.scan(lo, hi, TID_MAX)) found.push(elm.key);
    used = found;
  }
  for (let i = 0; i < DIRHASH_COLLISION_SPAN; i++)
    if (!used.includes(base + i) && !memory.has(base + i)) return base + i;
  throw new FsError('ENOSPC', `directory ${dip.objId}: every hash collision key of '${name}' is in use`);
}

const NO_KEYS: readonly number[] = [];

export interface NewInode {
  objType: number;
  mode: number;
  symlink?: Uint8Array;
  size?: number;
  /** The caller adds records right after (a new file's data): start with XDIRTY, saving the actor an event. */
  withRecords?: boolean;
}

/**
 * hammer_create_inode + hammer_ip_add_directory: a new inode, dirty from
 * birth, and the ADD record in `dip` that makes it reachable. Creating in a
 * directory whose last link is gone is EINVAL here, never a flush failure.
 */
export function createInode(mount: Mount, dip: Inode, name: string, spec: NewInode, path: string, uid = 0): Inode {
  checkDirectory(dip, path);
  if (dip.ino.nlinks === 0) throw new FsError('EINVAL', 'the directory has been deleted', { path });
  mount.space.reserve(dip, RECORD_RESERVE_BYTES, path);
  const objId = allocObjid(mount, dip);
  const now = mount.clock.now();
  const ino: InodeData = Object.freeze({
    version: 1,
    mode: spec.mode & 0o7777,
    uflags: dip.ino.uflags & UF_NOHISTORY,
    rmajor: 0,
    rminor: 0,
    ctime: now,
    parentObjId: spec.objType === ObjType.DIRECTORY ? dip.objId : 0,
    uid,
    // BSD's rule: a new inode takes the group of its directory.
    gid: dip.ino.gid,
    objType: spec.objType,
    capFlags: 0,
    nlinks: 0,
    size: spec.size ?? 0,
    symlink: spec.symlink ?? NO_SYMLINK,
    mtime: now,
    atime: now,
  });
  const ip = new Inode(
    { localization: dip.localization, objId, asof: TID_MAX },
    ino,
    undefined,
    InodeFlag.DDIRTY | (spec.withRecords ? InodeFlag.XDIRTY : 0),
    mount.bus,
    mount.flusher,
  );
  ip.structural = true;
  mount.adopt(ip);
  mount.space.reserve(ip, 0, path);
  if (mount.bus.active) mount.bus.fact(ip.id, 'CREATED', { name, objType: spec.objType, directory: dip.objId });
  addEntry(mount, dip, name, ip, path);
  return ip;
}

export function checkDirectory(dip: Inode, path: string): void {
  if (!dip.isDirectory) throw new FsError('ENOTDIR', 'not a directory', { path });
  if (dip.has(InodeFlag.RO)) throw new FsError('EROFS', 'an as-of view is read-only', { path });
}

/** hammer_ip_add_directory: an ADD record in `dip` targeting `ip`; nlinks counts it at once. */
export function addEntry(mount: Mount, dip: Inode, name: string, ip: Inode, path: string): void {
  const key = freeKey(mount, dip, name);
  const record = newRecord(mount, {
    type: 'ADD',
    ip: dip,
    target: ip,
    recType: RecType.DIRENTRY,
    key,
    base: 0,
    data: encodeDirEntry({ objId: ip.objId, localization: ip.localization, name }),
    name,
  });
  mount.space.reserve(dip, RECORD_RESERVE_BYTES, path);
  dip.names.set(name, record);
  dip.nameCache.delete(name);
  addRecord(mount, record);
  touchDirectory(mount, dip);
  setNlinks(mount, ip, ip.ino.nlinks + 1);
}

/**
 * hammer_ip_del_directory: remove `entry` (naming `ip`) from `dip`. An ADD
 * not yet in a flush is dropped outright; one already flushing is marked
 * DELETED_FE (the backend writes it and converts it to a DEL); an on-disk
 * entry gets a DEL record targeting `ip`.
 */
export function removeEntry(mount: Mount, dip: Inode, entry: Entry, ip: Inode, path: string): void {
  const record = entry.record;
  dip.nameCache.delete(entry.name);
  if (record !== undefined) {
    dip.names.delete(entry.name);
    if (record.state === 'flush') {
      assert(!(record.flags & RecordFlag.INTERLOCK_BE), 'the frontend never races the backend on a record');
      record.flags |= RecordFlag.DELETED_FE;
      // It will still be written (then converted to a DEL): a new entry of this name must wait for that DEL.
      indexDel(dip, record);
    } else {
      dropRecord(mount, record);
      untargetFrontend(mount, record);
    }
  } else {
    assert(entry.diskKey !== undefined, 'an entry not in memory is on disk');
    const del = newRecord(mount, {
      type: 'DEL',
      ip: dip,
      target: ip,
      recType: RecType.DIRENTRY,
      key: entry.key,
      base: 0,
      data: new Uint8Array(0),
      name: entry.name,
      diskKey: entry.diskKey,
    });
    // A removal may use the slop a write may not: it is the way out of a full volume.
    mount.space.reserve(dip, RECORD_RESERVE_BYTES, path, 'remove');
    dip.dels.set(diskKeyId(entry.diskKey), del);
    indexDel(dip, del);
    addRecord(mount, del);
  }
  touchDirectory(mount, dip);
  setNlinks(mount, ip, ip.ino.nlinks - 1);
}

/** A dropped dependency: the target leaves SETUP when nothing else holds it (hammer_test_inode). */
function untargetFrontend(mount: Mount, record: MemRecord): void {
  const released = untarget(record);
  if (released !== undefined && released.state === 'setup' && !released.dirty) mount.flusher.flushInode(released);
}

function setNlinks(mount: Mount, ip: Inode, nlinks: number): void {
  assert(nlinks >= 0, 'nlinks never goes negative');
  const now = mount.clock.now();
  mount.edit(ip, InodeFlag.DDIRTY, (draft) => {
    draft.nlinks = nlinks;
    draft.ctime = now;
  });
}

/** A directory's entries changed: its mtime moves (patched in place when nothing else changed). */
function touchDirectory(mount: Mount, dip: Inode): void {
  const now = mount.clock.now();
  mount.edit(dip, InodeFlag.MTIME, (draft) => {
    draft.mtime = now;
  });
}

/** A symlink target: inline in the inode up to 24 bytes, else a GENERAL (FIX) record. */
export function symlinkBytes(target: string): { inline: Uint8Array | undefined; bytes: Uint8Array } {
  const encoded = nameBytes(target);
  assert(encoded !== undefined, 'a symlink target stands for bytes (checked by symlink)');
  const bytes = new Uint8Array(encoded);
  return { inline: bytes.length <= INODE_SYMLINK_BYTES && !bytes.includes(0) ? bytes : undefined, bytes };
}

export function addSymlinkRecord(mount: Mount, ip: Inode, bytes: Uint8Array, path: string): void {
  const record = newRecord(mount, {
    type: 'GENERAL',
    ip,
    target: undefined,
    recType: RecType.FIX,
    key: 0,
    base: 0,
    data: bytes,
    name: '',
  });
  mount.space.reserve(ip, RECORD_RESERVE_BYTES + bytes.length, path);
  addRecord(mount, record);
}

/** The symlink target of `ip` (inline, in memory, or the FIX record as of the inode's view). */
export function readSymlink(mount: Mount, ip: Inode): string {
  if (ip.ino.symlink.length > 0 || ip.ino.size === 0) return nameOf(ip.ino.symlink);
  for (const record of ip.records)
    if (record.type === 'GENERAL' && record.recType === RecType.FIX) return nameOf(record.data);
  const elm = mount.volume.lookup(
    { localization: dataLocalization(ip.localization), objId: ip.objId, recType: RecType.FIX, key: 0 },
    ip.asof,
  );
  if (elm === undefined) throw new FsError('EIO', `symlink ${ip.objId}: its target record is missing`);
  return nameOf(mount.volume.readData(elm));
}
