import { closeSync, constants, copyFileSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { decodeFreemapEntry, FREEMAP_ENTRY_BYTES, ZONE_FREE } from './blockmap.js';
import { FileDevice } from './device.js';
import { readHeader } from './format/header.js';
import { BIGBLOCK_BYTES, BUFFER_BYTES, Zone } from './layout.js';
import { validateLayout } from './mkfs.js';

/** Bytes moved per read and write; a piece of zeros is not written (the copy keeps the hole). */
const CHUNK_BYTES = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK_BYTES);

/**
 * Copy a volume image (replay checkpoints keep many): a clone where the
 * filesystem can make one; otherwise a sparse copy of what the volume uses,
 * the header and freemap area, the UNDO/REDO FIFO's big-blocks, and every
 * other big-block the freemap does not call free up to its append point,
 * less the pieces of zeros in them. Nothing any record points at lies in a
 * free big-block or past an append point, so the copy is the same volume,
 * and a 2 GiB volume holding a few MiB costs a few MiB to copy and to keep. The image must be
 * at rest (committed, nothing waiting to be written); one whose header or
 * freemap cannot be read is copied whole.
 */
export function copyVolumeImage(from: string, to: string): void {
  try {
    copyFileSync(from, to, constants.COPYFILE_FICLONE_FORCE);
    return;
  } catch {
    // No clone here (ext4, tmpfs): copy what is used.
  }
  const source = FileDevice.open(from, { readOnly: true });
  let ranges: Array<[number, number]>;
  try {
    ranges = usedRanges(source);
  } catch {
    source.close();
    copyFileSync(from, to);
    return;
  }
  const target = openSync(to, 'w');
  try {
    ftruncateSync(target, source.size);
    const chunk = new Uint8Array(CHUNK_BYTES);
    for (const [start, end] of ranges) {
      for (let at = start; at < end; at += CHUNK_BYTES) {
        const piece = chunk.subarray(0, Math.min(CHUNK_BYTES, end - at));
        source.read(at, piece);
        if (Buffer.compare(piece, ZEROS.subarray(0, piece.length)) !== 0) writeSync(target, piece, 0, piece.length, at);
      }
    }
  } finally {
    closeSync(target);
    source.close();
  }
}

/** The byte ranges of `device` a volume uses: everything before the big-blocks, then each big-block in use. */
function usedRanges(device: FileDevice): Array<[number, number]> {
  const { header } = readHeader(device);
  validateLayout(header, device.size);
  const bigblocks = (header.bufEnd - header.bufBeg) / BIGBLOCK_BYTES;
  const freemap = new Uint8Array(bigblocks * FREEMAP_ENTRY_BYTES);
  device.read(header.freemapBeg, freemap);
  const ranges: Array<[number, number]> = [[0, header.bufBeg]];
  for (let i = 0; i < bigblocks; i++) {
    const entry = decodeFreemapEntry(freemap, i * FREEMAP_ENTRY_BYTES, i);
    if (entry.zone === ZONE_FREE) continue;
    // An allocation zone's big-block is used up to its append point (in whole buffers); the FIFO's all of it.
    const used = entry.zone === Zone.UNDO ? BIGBLOCK_BYTES : Math.ceil(entry.appendOff / BUFFER_BYTES) * BUFFER_BYTES;
    const start = header.bufBeg + i * BIGBLOCK_BYTES;
    const last = ranges[ranges.length - 1] as [number, number];
    if (last[1] === start) last[1] = start + used;
    else ranges.push([start, start + used]);
  }
  return ranges;
}
