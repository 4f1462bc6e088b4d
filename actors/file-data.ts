import { InodeFlag } from '../machines/inode-flags.js';
import { assert } from '../storage/assert.js';
import { FsError } from '../storage/errors.js';
import { RedoFlag } from '../storage/format/fifo.js';
import { RecType } from '../storage/layout.js';
import type { Inode } from './inode.js';
import { blockBase, blockSize, dataLocalization, rangeHi, rangeLo } from './keys.js';
import { changedInode, type Mount } from './mount.js';
import { addRecord, dropRecord, type MemRecord, newRecord, RecordFlag } from './records.js';
import { RECORD_RESERVE_BYTES, type SpaceUse } from './space.js';

/** hammer_limit_redo: REDO bytes an inode logs between flushes before fsync goes back to full flushes. */
export const REDO_LIMIT_BYTES = 4 * 1024 * 1024;

/** Room a REDO record takes beyond its payload (head, body, tail, sector padding), for the FIFO check. */
const REDO_RECORD_OVERHEAD_BYTES = 512;

/** The largest file offset we accept (a safe integer with room for a block). */
export const FILE_SIZE_MAX = 2 ** 52;

/**
 * Disk blocks at or past this offset are hidden from the front end: a
 * truncation to it is pending (frontend or backend copy) and its deletion
 * has not reached the disk yet (hammer_ip_first's trunc_off check).
 */
function truncLimit(ip: Inode): number {
  let limit = Number.MAX_SAFE_INTEGER;
  if (ip.has(InodeFlag.TRUNCATED)) limit = Math.min(limit, ip.truncOff);
  if (ip.syncFlags & InodeFlag.TRUNCATED) limit = Math.min(limit, ip.syncTruncOff);
  return limit;
}

/** The bytes of the block at `base` as the inode's view sees them (memory first), or undefined for a hole. */
export function readBlock(mount: Mount, ip: Inode, base: number): Uint8Array | undefined {
  const record = ip.blocks.get(base);
  if (record !== undefined) return record.data;
  // An inode never flushed has nothing on disk (its id is new).
  if (!ip.has(InodeFlag.ONDISK) && ip.asof === Number.MAX_SAFE_INTEGER) return undefined;
  if (base >= truncLimit(ip)) return undefined;
  const loc = dataLocalization(ip.localization);
  const lo = rangeLo(loc, ip.objId, RecType.DATA, base + 1);
  const hi = rangeHi(loc, ip.objId, RecType.DATA, base + blockSize(base));
  let found: Uint8Array | undefined;
  for (const elm of mount.volume.scan(lo, hi, ip.asof)) {
    assert(found === undefined, 'one visible DATA record per block');
    found = mount.volume.readData(elm);
  }
  return found;
}

/** Read up to `length` bytes at `position` (short at end of file). */
export function readData(mount: Mount, ip: Inode, position: number, length: number): Uint8Array {
  const end = Math.min(ip.ino.size, position + length);
  if (end <= position) return new Uint8Array(0);
  const out = new Uint8Array(end - position);
  let at = position;
  while (at < end) {
    const base = blockBase(at);
    const stop = Math.min(end, base + blockSize(base));
    const block = readBlock(mount, ip, base);
    if (block !== undefined && at - base < block.length) {
      const from = at - base;
      const piece = block.subarray(from, Math.min(block.length, stop - base));
      out.set(piece, at - position);
    }
    at = stop;
  }
  return out;
}

/**
 * Log a REDO WRITE or TRUNC for `ip` (after its first fsync) and note it for
 * the REDO bookkeeping. Front end. REDO may fill only half the FIFO: the rest
 * is the flusher's, for the UNDO of its cycles (whose REDO protection lasts
 * until the commit after the flush of the data it covers). Past that the
 * inode leaves REDO mode instead (its next fsync is a full flush, which
 * frees the FIFO): a write never fails for want of FIFO space. Returns
 * whether the record was logged.
 */
function logRedo(
  mount: Mount,
  ip: Inode,
  flags: number,
  offset: number,
  mtime: number,
  payload: Uint8Array,
  more = false,
): boolean {
  const fifo = mount.volume.fifo;
  if (fifo.freeBytes() - payload.length - REDO_RECORD_OVERHEAD_BYTES < fifo.size / 2) {
    ip.redoMode = false;
    ip.structural = true;
    mount.bus.fact(ip.id, 'REDO_OFF', { reason: 'fifo', fifoUsedBytes: fifo.usedBytes(), fifoBytes: fifo.size });
    return false;
  }
  const at = mount.volume.appendRedo(
    { flags, objId: ip.objId, localization: dataLocalization(ip.localization), offset, mtime, payload },
    more,
  );
  mount.redo.noted(ip, at);
  return true;
}

/**
 * The space a new version of the block at `base` needs: a block replacing
 * its unflushed predecessor reuses that one's reservation (the predecessor
 * is dropped, never written), so rewriting a block in memory, as stage 2
 * replays many small REDO writes into one block, does not reserve it again
 * and again.
 */
function blockReserve(ip: Inode, base: number, length: number): number {
  const previous = ip.blocks.get(base);
  if (previous === undefined || previous.state === 'flush') return length + RECORD_RESERVE_BYTES;
  return Math.max(0, length - previous.data.length);
}

/**
 * A new DATA record for the block at `base`; the older in-memory one is
 * dropped unless it is flushing. The caller reserved its space first
 * (blockReserve), for the whole operation at once.
 */
function putBlock(mount: Mount, ip: Inode, base: number, bytes: Uint8Array): MemRecord {
  const previous = ip.blocks.get(base);
  if (previous !== undefined) {
    if (previous.state === 'flush') {
      ip.blocks.delete(base);
      mount.dirtyDataBytes -= previous.data.length;
    } else {
      dropRecord(mount, previous);
    }
  }
  const record = newRecord(mount, {
    type: 'DATA',
    ip,
    target: undefined,
    recType: RecType.DATA,
    key: base + bytes.length,
    base,
    data: bytes,
    name: '',
  });
  ip.blocks.set(base, record);
  mount.dirtyDataBytes += bytes.length;
  addRecord(mount, record);
  return record;
}

/**
 * Write `data` at `position`: each touched block becomes a new DATA record
 * (read-modify-write of the block). After the inode's first fsync, writes
 * also go to the REDO log (HAMMER_INODE_REDO), so the next fsync only has to
 * write the FIFO.
 */
export function writeData(
  mount: Mount,
  ip: Inode,
  position: number,
  data: Uint8Array,
  path: string,
  use: SpaceUse = 'write',
): void {
  if (position + data.length > FILE_SIZE_MAX)
    throw new FsError('EFBIG', `a write past the largest file size (${FILE_SIZE_MAX} bytes)`, { path });
  if (data.length === 0) return;
  const end = position + data.length;
  // The new blocks first, then one reservation for all of them: ENOSPC changes nothing.
  const blocks: Array<{ base: number; bytes: Uint8Array }> = [];
  let at = position;
  while (at < end) {
    const base = blockBase(at);
    const size = blockSize(base);
    const stop = Math.min(end, base + size);
    // Nothing old to merge when the write starts the block and covers what the file had of it.
    const covers = at === base && stop >= Math.min(base + size, Math.max(base, ip.ino.size));
    const old = covers ? undefined : readBlock(mount, ip, base);
    const oldLength = old === undefined ? 0 : Math.min(old.length, Math.max(0, ip.ino.size - base));
    const length = Math.max(oldLength, stop - base);
    // Every byte is set below (old bytes, then the new ones from `at`), except a hole between them, zeroed.
    const bytes = at - base > oldLength ? new Uint8Array(length) : Buffer.allocUnsafe(length);
    if (old !== undefined) bytes.set(old.subarray(0, oldLength));
    bytes.set(data.subarray(at - position, stop - position), at - base);
    blocks.push({ base, bytes });
    at = stop;
  }
  const needed = blocks.reduce((sum, block) => sum + blockReserve(ip, block.base, block.bytes.length), 0);
  mount.space.reserve(ip, needed, path, use);
  const records = blocks.map((block) => putBlock(mount, ip, block.base, block.bytes));
  const now = mount.clock.now();
  const grows = end > ip.ino.size;
  if (ip.redoMode && ip.has(InodeFlag.ONDISK) && logRedo(mount, ip, RedoFlag.WRITE, position, now, data)) {
    for (const record of records) record.flags |= RecordFlag.REDO;
    mount.counters.redoWrites++;
    // hammer_limit_redo: past 4 MiB of REDO the inode stops logging; its next fsync flushes.
    ip.redoBytes += data.length;
    if (ip.redoBytes > REDO_LIMIT_BYTES) {
      ip.redoMode = false;
      ip.structural = true;
    }
  } else {
    ip.structural = true;
  }
  // Whether REDO covers the write was settled above (structural or not).
  mount.edit(
    ip,
    grows ? InodeFlag.DDIRTY : InodeFlag.MTIME,
    (draft) => {
      if (grows) draft.size = end;
      draft.mtime = now;
    },
    false,
  );
}

/**
 * Truncate to `length`. Shrinking: the block holding the new end is
 * rewritten short, in-memory blocks past it are dropped, and TRUNCATED with
 * the offset tells the backend to delete the on-disk blocks past it.
 */
export function truncateData(
  mount: Mount,
  ip: Inode,
  length: number,
  path: string,
  writeFollows = false,
  use: SpaceUse = 'write',
): void {
  if (!Number.isInteger(length) || length < 0) throw new FsError('EINVAL', `invalid length ${length}`, { path });
  if (length > FILE_SIZE_MAX)
    throw new FsError('EFBIG', `length ${length} is past the largest file size (${FILE_SIZE_MAX} bytes)`, { path });
  const now = mount.clock.now();
  const size = ip.ino.size;
  let flags = InodeFlag.DDIRTY;
  if (length < size) {
    const base = blockBase(length);
    let keep: Uint8Array | undefined;
    if (length > base) {
      const block = readBlock(mount, ip, base);
      if (block !== undefined) keep = block.slice(0, Math.min(block.length, length - base));
    }
    // Reserved before anything changes: ENOSPC leaves the file as it was.
    if (keep !== undefined) mount.space.reserve(ip, blockReserve(ip, base, keep.length), path, use);
    for (const [at, record] of [...ip.blocks]) {
      if (at < base || (at === base && keep !== undefined)) continue;
      if (record.state === 'flush') {
        ip.blocks.delete(at);
        mount.dirtyDataBytes -= record.data.length;
      } else {
        dropRecord(mount, record);
      }
    }
    if (keep !== undefined) putBlock(mount, ip, base, keep);
    flags |= InodeFlag.TRUNCATED;
  }
  // When a write completes the operation (writeFile), the two replay together or not at all.
  const logged =
    ip.redoMode &&
    ip.has(InodeFlag.ONDISK) &&
    logRedo(mount, ip, RedoFlag.TRUNC, length, now, new Uint8Array(0), writeFollows);
  if (!logged) ip.structural = true;
  const data = changedInode(ip.ino, (draft) => {
    draft.size = length;
    draft.mtime = now;
  });
  ip.ino = data;
  ip.send({ type: 'MODIFY', flags, truncOff: flags & InodeFlag.TRUNCATED ? length : undefined });
  mount.modified(ip, flags);
}
