import { encodeFreemapEntry, FREEMAP_ENTRY_BYTES, ZONE_FREE } from './blockmap.js';
import type { BlockDevice } from './device.js';
import { FsError } from './errors.js';
import {
  BLOCKMAP_ENTRIES,
  emptyBlockmapEntry,
  HEADER_AREA_BYTES,
  UNDO_ARRAY_MAX,
  VOL_VERSION,
  type VolumeHeader,
} from './format/header.js';
import { BIGBLOCK_BYTES, BUFFER_BYTES, FIRST_TID, hammerOff, Zone } from './layout.js';
import type { MkfsOptions } from './volume-types.js';

/** B-tree, meta, and at least one data big-block beside the FIFO. */
export const MIN_DATA_BIGBLOCKS = 3;
export const DEFAULT_VOLUME_BYTES = 256 * 1024 * 1024;
export const DEFAULT_UNDO_BYTES = 32 * 1024 * 1024;

/**
 * The layout of a new volume: the 16 KiB header area (two slots), the freemap
 * (16 bytes per big-block, whole buffers), then the big-blocks; the first
 * `undoBytes / 8 MiB` of them hold the UNDO/REDO FIFO.
 */
export function initialHeader(deviceBytes: number, options: MkfsOptions): VolumeHeader {
  if (!Number.isSafeInteger(options.size) || options.size > deviceBytes) {
    throw new FsError('EINVAL', `volume size ${options.size} does not fit the device (${deviceBytes} bytes)`);
  }
  if (options.undoBytes % BIGBLOCK_BYTES !== 0 || options.undoBytes <= 0) {
    throw new FsError('EINVAL', `UNDO size must be a positive multiple of 8 MiB, got ${options.undoBytes}`);
  }
  const undoCount = options.undoBytes / BIGBLOCK_BYTES;
  if (undoCount > UNDO_ARRAY_MAX) {
    throw new FsError('EINVAL', `UNDO size is at most ${UNDO_ARRAY_MAX} big-blocks (1 GiB), got ${undoCount}`);
  }
  const rough = Math.floor((options.size - HEADER_AREA_BYTES) / BIGBLOCK_BYTES);
  const freemapBytes = Math.max(1, Math.ceil((rough * FREEMAP_ENTRY_BYTES) / BUFFER_BYTES)) * BUFFER_BYTES;
  const bufBeg = HEADER_AREA_BYTES + freemapBytes;
  const bigblocks = Math.floor((options.size - bufBeg) / BIGBLOCK_BYTES);
  if (bigblocks < undoCount + MIN_DATA_BIGBLOCKS) {
    const need = bufBeg + (undoCount + MIN_DATA_BIGBLOCKS) * BIGBLOCK_BYTES;
    throw new FsError('EINVAL', `volume too small: ${options.size} bytes, need at least ${need} with this UNDO size`);
  }
  const label = options.label ?? '';
  if (Buffer.byteLength(label) > 63) throw new FsError('EINVAL', 'label is longer than 63 bytes');
  const fsid = options.fsid ?? '0'.repeat(32);
  if (!/^[0-9a-f]{32}$/.test(fsid)) throw new FsError('EINVAL', 'fsid must be 32 lowercase hex digits');
  const blockmap = Array.from({ length: BLOCKMAP_ENTRIES }, emptyBlockmapEntry);
  blockmap[Zone.UNDO] = {
    physOffset: 0,
    firstOffset: hammerOff(Zone.UNDO, 0),
    nextOffset: hammerOff(Zone.UNDO, 0),
    allocOffset: hammerOff(Zone.UNDO, options.undoBytes),
  };
  return {
    generation: 0,
    bufBeg,
    bufEnd: bufBeg + bigblocks * BIGBLOCK_BYTES,
    fsid,
    label,
    version: VOL_VERSION,
    undoFirstSeq: 1,
    freemapBeg: HEADER_AREA_BYTES,
    bigblocks,
    freeBigblocks: bigblocks - undoCount,
    inodes: 0,
    btreeRoot: 0,
    nextTid: FIRST_TID,
    lastCommitTid: 0,
    redoStart: 0,
    blockmap,
    undoArray: Array.from({ length: undoCount }, (_, i) => hammerOff(Zone.RAW_BUFFER, i * BIGBLOCK_BYTES)),
  };
}

/** Write the freemap of a new volume: the FIFO's big-blocks reserved, all others free. */
export function writeInitialFreemap(device: BlockDevice, header: VolumeHeader): void {
  const bytes = new Uint8Array(header.bufBeg - header.freemapBeg);
  for (let i = 0; i < header.bigblocks; i++) {
    const undo = i < header.undoArray.length;
    encodeFreemapEntry(bytes, i * FREEMAP_ENTRY_BYTES, {
      zone: undo ? Zone.UNDO : ZONE_FREE,
      appendOff: undo ? BIGBLOCK_BYTES : 0,
      bytesFree: undo ? 0 : BIGBLOCK_BYTES,
    });
  }
  device.write(header.freemapBeg, bytes);
}

/** Refuse a header whose layout cannot be this device's volume. */
export function validateLayout(header: VolumeHeader, deviceBytes: number): void {
  if (header.bufEnd > deviceBytes) {
    throw new FsError(
      'EIO',
      `truncated volume: the device holds ${deviceBytes} bytes but the header says the volume ends at ${header.bufEnd}`,
    );
  }
  const bigblocks = (header.bufEnd - header.bufBeg) / BIGBLOCK_BYTES;
  const freemapEnd = header.freemapBeg + bigblocks * FREEMAP_ENTRY_BYTES;
  if (
    header.freemapBeg < HEADER_AREA_BYTES ||
    header.bufBeg % BUFFER_BYTES !== 0 ||
    !Number.isInteger(bigblocks) ||
    bigblocks < 1 ||
    freemapEnd > header.bufBeg ||
    header.undoArray.length === 0 ||
    header.undoArray.length > bigblocks
  ) {
    throw new FsError(
      'EIO',
      `volume header: bad layout (freemap ${header.freemapBeg}, buf_beg ${header.bufBeg}, buf_end ${header.bufEnd})`,
    );
  }
}
