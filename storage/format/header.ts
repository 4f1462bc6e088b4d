import { assert } from '../assert.js';
import { crcOfTwo } from '../crc.js';
import type { BlockDevice } from '../device.js';
import { FsError, hex32 } from '../errors.js';
import {
  BIGBLOCK_BYTES,
  offPart,
  readHammerOff,
  readI64,
  readU64,
  viewOf,
  writeHammerOff,
  writeI64,
  writeU64,
  Zone,
} from '../layout.js';

/**
 * The volume header. HAMMER keeps one 1928-byte header under one CRC at offset 0,
 * so a write torn at a 512-byte sector can lose the volume. We keep two slots
 * (offset 0 and 8192 of the first 16 KiB buffer), written alternately, each with
 * its own CRC and a generation; mount takes the newest valid slot (LMDB's two
 * meta pages). Field offsets otherwise follow hammer_volume_ondisk.
 */
export const VOL_SIGNATURE = 0xc8414d4dc5523031n; // "HAMMER01" (read as u64 LE)
export const VOL_SIGNATURE_SWAPPED = 0x31305235c54d41c8n;
export const VOL_VERSION = 6;
export const HEADER_SLOT_BYTES = 2048;
export const HEADER_SLOTS = [0, 8192] as const;
export const HEADER_AREA_BYTES = 16 * 1024;
export const UNDO_ARRAY_MAX = 128;
export const BLOCKMAP_ENTRIES = 16;
const BLOCKMAP_AT = 264;
const BLOCKMAP_ENTRY_BYTES = 40;
const UNDO_ARRAY_AT = 904;

/** One zone's blockmap entry. For zone 3 (UNDO): first/next = active span, alloc = FIFO size. */
export interface BlockmapEntry {
  physOffset: number;
  firstOffset: number;
  nextOffset: number;
  allocOffset: number;
}

export interface VolumeHeader {
  /** Which commit this is; the slot with the larger valid generation wins. */
  generation: number;
  bufBeg: number;
  bufEnd: number;
  fsid: string;
  label: string;
  version: number;
  /** Seq number of the FIFO record expected at the UNDO first_offset. */
  undoFirstSeq: number;
  /** Physical offset of the freemap (one 16-byte entry per big-block). */
  freemapBeg: number;
  bigblocks: number;
  freeBigblocks: number;
  inodes: number;
  btreeRoot: number;
  nextTid: number;
  /** The TID of the last committed flush cycle (0 on a fresh volume). */
  lastCommitTid: number;
  /**
   * FIFO offset (zone 3) where recovery stage 2 starts when no SYNC record is in
   * the span: the oldest fsynced REDO not yet committed as data; 0 for none.
   */
  redoStart: number;
  blockmap: BlockmapEntry[];
  /** Zone-2 offsets of the UNDO big-blocks, in FIFO order. */
  undoArray: number[];
}

export function emptyBlockmapEntry(): BlockmapEntry {
  return { physOffset: 0, firstOffset: 0, nextOffset: 0, allocOffset: 0 };
}

export function encodeHeader(header: VolumeHeader): Uint8Array {
  assert(header.blockmap.length === BLOCKMAP_ENTRIES, 'header has 16 blockmap entries');
  assert(header.undoArray.length <= UNDO_ARRAY_MAX, 'UNDO FIFO fits in 128 big-blocks');
  const bytes = new Uint8Array(HEADER_SLOT_BYTES);
  const view = viewOf(bytes);
  view.setBigUint64(0, VOL_SIGNATURE, true);
  writeU64(view, 24, header.bufBeg);
  writeU64(view, 32, header.bufEnd);
  bytes.set(Buffer.from(header.fsid.padEnd(32, '0').slice(0, 32), 'hex'), 48);
  const label = Buffer.from(header.label, 'utf8');
  assert(label.length <= 63, 'label fits in 63 bytes');
  bytes.set(label, 80);
  view.setUint32(144, 0, true); // vol_no
  view.setUint32(148, 1, true); // vol_count
  view.setUint32(152, header.version, true);
  writeU64(view, 160, header.generation);
  view.setUint32(168, header.undoFirstSeq, true);
  writeU64(view, 176, header.freemapBeg);
  writeU64(view, 184, header.lastCommitTid);
  writeHammerOff(view, 192, header.redoStart);
  writeI64(view, 200, header.bigblocks);
  writeI64(view, 208, header.freeBigblocks);
  writeI64(view, 224, header.inodes);
  writeHammerOff(view, 240, header.btreeRoot);
  writeU64(view, 248, header.nextTid);
  header.blockmap.forEach((entry, i) => {
    const at = BLOCKMAP_AT + i * BLOCKMAP_ENTRY_BYTES;
    writeHammerOff(view, at, entry.physOffset);
    writeHammerOff(view, at + 8, entry.firstOffset);
    writeHammerOff(view, at + 16, entry.nextOffset);
    writeHammerOff(view, at + 24, entry.allocOffset);
  });
  for (const [i, off] of header.undoArray.entries()) writeHammerOff(view, UNDO_ARRAY_AT + i * 8, off);
  view.setUint32(156, headerCrc(bytes), true);
  return bytes;
}

function headerCrc(bytes: Uint8Array): number {
  return crcOfTwo(bytes, 0, 156, 160, HEADER_SLOT_BYTES);
}

export type SlotResult =
  | { ok: true; header: VolumeHeader }
  | { ok: false; reason: 'signature' | 'swapped' | 'crc' | 'fields'; detail: string };

/** Decode one slot; never throws on bad bytes, says what is wrong instead. */
export function decodeHeaderSlot(bytes: Uint8Array, slotOffset: number): SlotResult {
  const view = viewOf(bytes);
  const signature = view.getBigUint64(0, true);
  if (signature === VOL_SIGNATURE_SWAPPED) {
    return { ok: false, reason: 'swapped', detail: 'volume signature is byte-swapped (wrong endian)' };
  }
  if (signature !== VOL_SIGNATURE) {
    return { ok: false, reason: 'signature', detail: `no volume signature at offset ${slotOffset}` };
  }
  const expected = view.getUint32(156, true);
  const found = headerCrc(bytes);
  if (expected !== found) {
    return {
      ok: false,
      reason: 'crc',
      detail: `volume header slot at offset ${slotOffset}: CRC expected 0x${hex32(expected)}, found 0x${hex32(found)}`,
    };
  }
  const undoCount = offPart(readHammerOff(view, BLOCKMAP_AT + Zone.UNDO * BLOCKMAP_ENTRY_BYTES + 24)) / BIGBLOCK_BYTES;
  const header: VolumeHeader = {
    generation: readU64(view, 160),
    bufBeg: readU64(view, 24),
    bufEnd: readU64(view, 32),
    fsid: Buffer.from(bytes.subarray(48, 64)).toString('hex'),
    label: Buffer.from(bytes.subarray(80, 144)).toString('utf8').replace(/\0+$/, ''),
    version: view.getUint32(152, true),
    undoFirstSeq: view.getUint32(168, true),
    freemapBeg: readU64(view, 176),
    lastCommitTid: readU64(view, 184),
    redoStart: readHammerOff(view, 192),
    bigblocks: readI64(view, 200),
    freeBigblocks: readI64(view, 208),
    inodes: readI64(view, 224),
    btreeRoot: readHammerOff(view, 240),
    nextTid: readU64(view, 248),
    blockmap: Array.from({ length: BLOCKMAP_ENTRIES }, (_, i) => {
      const at = BLOCKMAP_AT + i * BLOCKMAP_ENTRY_BYTES;
      return {
        physOffset: readHammerOff(view, at),
        firstOffset: readHammerOff(view, at + 8),
        nextOffset: readHammerOff(view, at + 16),
        allocOffset: readHammerOff(view, at + 24),
      };
    }),
    undoArray: [],
  };
  if (!Number.isInteger(undoCount) || undoCount > UNDO_ARRAY_MAX || header.version !== VOL_VERSION) {
    return {
      ok: false,
      reason: 'fields',
      detail: `volume header slot at offset ${slotOffset}: bad version or FIFO size`,
    };
  }
  for (let i = 0; i < undoCount; i++) header.undoArray.push(readHammerOff(view, UNDO_ARRAY_AT + i * 8));
  return { ok: true, header };
}

export interface HeaderChoice {
  header: VolumeHeader;
  /** Index (0 or 1) of the slot the header came from. */
  slot: number;
  /** What was wrong with the other slot, if anything. */
  otherSlotProblem: string | undefined;
}

/**
 * Read both slots and take the newest valid one. Throws EINVAL when neither
 * slot carries the volume signature (not a volume), EIO when both are damaged.
 */
export function readHeader(device: BlockDevice): HeaderChoice {
  if (device.size < HEADER_AREA_BYTES) {
    throw new FsError('EINVAL', `not a hammerstate volume: ${device.size} bytes is smaller than a volume header`);
  }
  const results = HEADER_SLOTS.map((offset) => {
    const bytes = new Uint8Array(HEADER_SLOT_BYTES);
    device.read(offset, bytes);
    return decodeHeaderSlot(bytes, offset);
  });
  const valid = results
    .map((result, slot) => ({ result, slot }))
    .filter((entry): entry is { result: { ok: true; header: VolumeHeader }; slot: number } => entry.result.ok);
  if (valid.length === 0) {
    const problems = results.map((r) => (r.ok ? '' : r.detail));
    if (results.every((r) => !r.ok && (r.reason === 'signature' || r.reason === 'swapped'))) {
      throw new FsError('EINVAL', `not a hammerstate volume (${problems.join('; ')})`);
    }
    throw new FsError('EIO', `both volume header slots are damaged: ${problems.join('; ')}`);
  }
  valid.sort((a, b) => b.result.header.generation - a.result.header.generation);
  const best = valid[0];
  assert(best !== undefined, 'at least one valid header slot');
  const other = results[1 - best.slot];
  return {
    header: best.result.header,
    slot: best.slot,
    otherSlotProblem: other !== undefined && !other.ok ? other.detail : undefined,
  };
}

/** The slot a commit of `generation` goes to: alternate, so the other one survives a torn write. */
export function slotFor(generation: number): number {
  return generation % 2;
}
