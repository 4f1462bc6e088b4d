import { assert } from './assert.js';
import { FREEMAP_ENTRY_BYTES } from './blockmap.js';
import type { Clock } from './clock.js';
import type { BlockDevice, MemDevice } from './device.js';
import { FsError } from './errors.js';
import { NODE_TYPE_LEAF } from './format/btree-node.js';
import { HEADER_SLOT_BYTES, HEADER_SLOTS } from './format/header.js';
import { BIGBLOCK_BYTES, BUFFER_BYTES, NODE_BYTES, offPart, SECTOR_BYTES, Zone } from './layout.js';
import { Volume } from './volume.js';

/**
 * Seeded damage to volume images, for the corruption fuzzer
 * (docs/fuzzing.md). Regions are located from the layout of a healthy image
 * (header slots, the written end of the FIFO, B-tree nodes, record data, the
 * freemap); a damage is a pure function of (image, region, random source) that
 * writes into a MemDevice clone, or wraps it as a shorter device (truncation).
 */

export type RegionKind = 'header' | 'fifo' | 'btree' | 'data' | 'freemap';
export const REGION_KINDS: readonly RegionKind[] = ['header', 'fifo', 'btree', 'data', 'freemap'];
export type DamageKind = 'bitflip' | 'zero-sector' | 'garbage' | 'truncate';
export const DAMAGE_KINDS: readonly DamageKind[] = ['bitflip', 'zero-sector', 'garbage', 'truncate'];

/** A physical byte range of the image that holds one kind of structure. */
export interface Region {
  kind: RegionKind;
  offset: number;
  length: number;
}

export interface Damage {
  kind: DamageKind;
  region: RegionKind;
  /** First physical byte damaged (for truncation: the new device size). */
  offset: number;
  length: number;
}

/** FIFO bytes before the written end that the fuzzer aims at (the recent records). */
const FIFO_TAIL_BYTES = 4 * BUFFER_BYTES;

/**
 * The regions of a healthy image, by kind. Mounts it read-only (recovery in
 * memory, nothing written) and walks the whole B-tree; the caller keeps the
 * image. Throws if the image is not healthy: damage starts from a known good.
 */
export function locateRegions(device: BlockDevice, clock: Clock): Map<RegionKind, Region[]> {
  const volume = Volume.mount(device, { clock, readOnly: true });
  try {
    const header = volume.header();
    const regions = new Map<RegionKind, Region[]>(REGION_KINDS.map((kind) => [kind, []]));
    const add = (kind: RegionKind, offset: number, length: number) => regions.get(kind)?.push({ kind, offset, length });
    for (const slot of HEADER_SLOTS) add('header', slot, HEADER_SLOT_BYTES);
    const fifo = header.blockmap[Zone.UNDO];
    assert(fifo !== undefined, 'the volume header has a zone-3 blockmap entry');
    const end = offPart(fifo.nextOffset);
    const block = Math.floor(end / BIGBLOCK_BYTES);
    const blockBase = header.undoArray[block];
    assert(blockBase !== undefined, 'the FIFO end lies in a FIFO big-block');
    const from = Math.max(block * BIGBLOCK_BYTES, end - FIFO_TAIL_BYTES);
    const to = Math.min((block + 1) * BIGBLOCK_BYTES, end + BUFFER_BYTES);
    add('fifo', header.bufBeg + offPart(blockBase) + (from - block * BIGBLOCK_BYTES), to - from);
    add('freemap', header.freemapBeg, Math.max(SECTOR_BYTES, header.bigblocks * FREEMAP_ENTRY_BYTES));
    for (const entry of volume.btree.walk()) {
      add('btree', header.bufBeg + offPart(entry.node.offset), NODE_BYTES);
      if (entry.node.type !== NODE_TYPE_LEAF) continue;
      for (const elm of entry.node.elms) {
        if (!('dataOffset' in elm) || elm.dataOffset === 0 || elm.dataLen === 0) continue;
        add('data', header.bufBeg + offPart(elm.dataOffset), elm.dataLen);
      }
    }
    return regions;
  } finally {
    volume.close();
  }
}

const pick = (next: () => number, n: number) => Math.min(n - 1, Math.floor(next() * n));

/** Flip 1..8 random bits inside the region. */
function bitflip(image: MemDevice, region: Region, next: () => number): Damage {
  const flips = 1 + pick(next, 8);
  const byte = new Uint8Array(1);
  let first = region.offset + region.length;
  let last = region.offset;
  for (let i = 0; i < flips; i++) {
    const at = region.offset + pick(next, region.length);
    image.read(at, byte);
    byte[0] = (byte[0] ?? 0) ^ (1 << pick(next, 8));
    image.write(at, byte);
    first = Math.min(first, at);
    last = Math.max(last, at);
  }
  return { kind: 'bitflip', region: region.kind, offset: first, length: last - first + 1 };
}

/** Zero the 512-byte sector holding a random byte of the region. */
function zeroSector(image: MemDevice, region: Region, next: () => number): Damage {
  const at = region.offset + pick(next, region.length);
  const sector = at - (at % SECTOR_BYTES);
  image.write(sector, new Uint8Array(SECTOR_BYTES));
  return { kind: 'zero-sector', region: region.kind, offset: sector, length: SECTOR_BYTES };
}

/** Overwrite a run of 1..256 bytes (clipped to the device) with random bytes. */
function garbage(image: MemDevice, region: Region, next: () => number): Damage {
  const at = region.offset + pick(next, region.length);
  const length = Math.min(1 + pick(next, 256), image.size - at);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = pick(next, 256);
  image.write(at, bytes);
  return { kind: 'garbage', region: region.kind, offset: at, length };
}

/**
 * A device that ends early: the image cut at `size` bytes (any size, not only
 * whole pages), as a file copied short. Reads and writes past the cut are
 * EIO, as a short read of a file device is.
 */
export class TruncatedDevice implements BlockDevice {
  readonly size: number;
  private readonly inner: BlockDevice;

  constructor(inner: BlockDevice, size: number) {
    assert(size >= 0 && size <= inner.size, 'a truncated device is no larger than its image');
    this.inner = inner;
    this.size = size;
  }

  read(offset: number, target: Uint8Array): void {
    this.inside(offset, target.length, 'read');
    this.inner.read(offset, target);
  }

  write(offset: number, data: Uint8Array): void {
    this.inside(offset, data.length, 'write');
    this.inner.write(offset, data);
  }

  fsync(): void {
    this.inner.fsync();
  }

  close(): void {
    this.inner.close();
  }

  private inside(offset: number, length: number, op: string): void {
    // Same contract as the devices in device.ts: out of range is EIO, never a RangeError.
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new FsError('EIO', `${op} of ${length} bytes at offset ${offset} is past the end (size ${this.size})`);
    }
  }
}

/**
 * Apply one damage of `kind` at a random place in `region` of `image` (a
 * clone the caller owns). Returns the device to mount (the image itself, or a
 * TruncatedDevice cut inside the region) and what was done.
 */
export function applyDamage(
  image: MemDevice,
  kind: DamageKind,
  region: Region,
  next: () => number,
): { device: BlockDevice; damage: Damage } {
  assert(region.length > 0 && region.offset + region.length <= image.size, 'a damage region lies inside the image');
  if (kind === 'bitflip') return { device: image, damage: bitflip(image, region, next) };
  if (kind === 'zero-sector') return { device: image, damage: zeroSector(image, region, next) };
  if (kind === 'garbage') return { device: image, damage: garbage(image, region, next) };
  const size = region.offset + pick(next, region.length);
  const damage: Damage = { kind, region: region.kind, offset: size, length: image.size - size };
  return { device: new TruncatedDevice(image, size), damage };
}
