import { assert } from './assert.js';
import type { Blockmap } from './blockmap.js';
import type { BufferCache, BufferKind } from './buffers.js';
import { crcOf } from './crc.js';
import type { BlockDevice } from './device.js';
import { crcError, FsError } from './errors.js';
import type { LeafElm } from './format/btree-node.js';
import { INODE_ATIME_AT, INODE_BYTES, INODE_MTIME_AT, inodeDataCrc } from './format/records.js';
import {
  type AllocZone,
  BUFFER_BYTES,
  offPart,
  offZone,
  RecType,
  SMALL_DATA_MAX,
  viewOf,
  writeU64,
  Zone,
} from './layout.js';

/** Where a record's data goes: META for inode/directory/PFS data, small or large data for file data. */
export function dataZone(recType: number, length: number): AllocZone {
  if (recType === RecType.DATA || recType === RecType.DB) {
    return length <= SMALL_DATA_MAX ? Zone.SMALL_DATA : Zone.LARGE_DATA;
  }
  return Zone.META;
}

/** The element's data CRC: an inode's covers the bytes before mtime only. */
export function recordDataCrc(recType: number, data: Uint8Array): number {
  return recType === RecType.INODE && data.length === INODE_BYTES ? inodeDataCrc(data) : crcOf(data);
}

/**
 * Record data in the META, SMALL_DATA and LARGE_DATA zones, through the buffer
 * cache. New data always goes to fresh space (never overwritten in place, so
 * it needs no UNDO); the only in-place change is an inode's time patch.
 */
export class RecordData {
  /**
   * Large data (whole 16 KiB buffers of its own: LARGE_DATA allocations are
   * rounded and aligned to 16 KiB) waiting for the cycle's data write-out, by
   * physical offset. It bypasses the buffer cache: no copy into 16 KiB
   * buffers, one device write per record. The bytes are the record's own and
   * are never changed afterwards.
   */
  private readonly pending = new Map<number, Uint8Array>();

  /** No large data waits for its write-out. */
  get quiet(): boolean {
    return this.pending.size === 0;
  }

  constructor(
    private readonly cache: BufferCache,
    private readonly blockmap: Blockmap,
    private readonly bufBeg: number,
    private readonly bufEnd: number,
  ) {}

  /** Write `data` to fresh space of the zone its record type and size call for; returns its HAMMER offset. */
  write(recType: number, data: Uint8Array): number {
    const zone = dataZone(recType, data.length);
    const alloc = this.blockmap.alloc(zone, data.length);
    if (zone === Zone.LARGE_DATA) {
      assert(alloc.physical % BUFFER_BYTES === 0, 'large data starts a buffer of its own');
      for (let at = alloc.physical; at < alloc.physical + data.length; at += BUFFER_BYTES) this.cache.forget(at);
      this.pending.set(alloc.physical, data);
      return alloc.offset;
    }
    const kind = bufferKind(zone);
    let done = 0;
    while (done < data.length) {
      const physical = alloc.physical + done;
      const base = physical - (physical % BUFFER_BYTES);
      const within = physical - base;
      const fresh = within === 0 && (done > 0 || alloc.freshBuffer);
      const buffer = fresh ? this.cache.getFresh(base, kind) : this.cache.get(base, kind);
      const n = Math.min(BUFFER_BYTES - within, data.length - done);
      // Small data fits one buffer: copied whole, without a subarray (a fresh view per record).
      buffer.bytes.set(n === data.length ? data : data.subarray(done, done + n), within);
      this.cache.markFresh(buffer, within, n);
      done += n;
    }
    return alloc.offset;
  }

  /** Read a record's data and check its CRC; EIO names the record and the offset. */
  read(elm: LeafElm): Uint8Array {
    if (elm.dataLen === 0) return new Uint8Array(0);
    const zone = offZone(elm.dataOffset);
    const where = `record of object ${elm.objId}: data at 0x${elm.dataOffset.toString(16)}`;
    if (zone !== Zone.META && zone !== Zone.SMALL_DATA && zone !== Zone.LARGE_DATA) {
      throw new FsError('EIO', `${where} is in no data zone`);
    }
    const physical = this.bufBeg + offPart(elm.dataOffset);
    if (physical + elm.dataLen > this.bufEnd) throw new FsError('EIO', `${where} is past the volume end`);
    const kind = bufferKind(zone);
    const waiting = this.pending.get(physical);
    const out = waiting !== undefined ? waiting.slice(0, elm.dataLen) : new Uint8Array(elm.dataLen);
    let done = waiting !== undefined ? out.length : 0;
    while (done < out.length) {
      const at = physical + done;
      const base = at - (at % BUFFER_BYTES);
      const n = Math.min(BUFFER_BYTES - (at - base), out.length - done);
      out.set(this.cache.get(base, kind).bytes.subarray(at - base, at - base + n), done);
      done += n;
    }
    const found = recordDataCrc(elm.recType, out);
    if (found !== elm.dataCrc) throw crcError(`data of object ${elm.objId} record`, physical, elm.dataCrc, found);
    return out;
  }

  /** The cycle's data write-out: large data in offset order (the caller fsyncs after the FIFO). Returns bytes. */
  writePending(device: BlockDevice): number {
    let bytes = 0;
    for (const [physical, data] of [...this.pending].sort((a, b) => a[0] - b[0])) {
      device.write(physical, data);
      bytes += data.length;
    }
    this.pending.clear();
    return bytes;
  }

  /** An aborted cycle: its large data is never written. */
  dropPending(): void {
    this.pending.clear();
  }

  /**
   * Patch an inode record's times in place (they sit outside its CRC): mtime
   * under UNDO, atime without (as HAMMER does), no new version either way.
   */
  patchInodeTimes(elm: LeafElm, times: { mtime?: number; atime?: number }): void {
    assert(elm.recType === RecType.INODE && elm.dataLen === INODE_BYTES, 'time patches apply to inode records');
    const physical = this.bufBeg + offPart(elm.dataOffset);
    const base = physical - (physical % BUFFER_BYTES);
    const buffer = this.cache.get(base, 'meta');
    const view = viewOf(buffer.bytes);
    if (times.mtime !== undefined) {
      this.cache.modify(buffer, physical - base + INODE_MTIME_AT, 8);
      writeU64(view, physical - base + INODE_MTIME_AT, times.mtime);
    }
    if (times.atime !== undefined) {
      writeU64(view, physical - base + INODE_ATIME_AT, times.atime);
      this.cache.markDirtyNoUndo(buffer);
    }
  }
}

function bufferKind(zone: AllocZone): BufferKind {
  return zone === Zone.META ? 'meta' : 'data';
}
