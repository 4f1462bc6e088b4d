import { assert } from './assert.js';
import type { Buffer16k, BufferCache } from './buffers.js';
import { crcOf } from './crc.js';
import { FsError, hex32 } from './errors.js';
import {
  type AllocZone,
  BIGBLOCK_BYTES,
  BUFFER_BYTES,
  DATA_ALIGN,
  hammerOff,
  NODE_BYTES,
  offPart,
  offZone,
  viewOf,
  Zone,
  zoneName,
} from './layout.js';

/**
 * The freemap and the zone allocators. Each 8 MiB big-block has a 16-byte
 * freemap entry (zone, append_off, bytes_free, CRC), HAMMER's layer-2 entry.
 * Space is appended inside a zone's current big-block and never reused; a
 * big-block whose bytes all came back is freed, but only becomes allocatable
 * after the flush cycle that freed it commits (HAMMER's delayed frees).
 * Freemap entries are meta-data: every change goes through modify() (UNDO).
 */
export const FREEMAP_ENTRY_BYTES = 16;
export const ZONE_FREE = 0;

export interface FreemapEntry {
  zone: number;
  appendOff: number;
  bytesFree: number;
}

/** Encode `entry` at `at` of `target`; `view` is a DataView of `target` when the caller keeps one. */
export function encodeFreemapEntry(target: Uint8Array, at: number, entry: FreemapEntry, view = viewOf(target)): void {
  target.fill(0, at, at + FREEMAP_ENTRY_BYTES);
  view.setUint8(at, entry.zone);
  view.setUint32(at + 4, entry.appendOff, true);
  view.setInt32(at + 8, entry.bytesFree, true);
  view.setUint32(at + 12, crcOf(target, at, at + 12), true);
}

export function decodeFreemapEntry(source: Uint8Array, at: number, index: number): FreemapEntry {
  const view = viewOf(source);
  const expected = view.getUint32(at + 12, true);
  const found = crcOf(source, at, at + 12);
  if (expected !== found) {
    throw new FsError(
      'EIO',
      `freemap entry of big-block ${index}: CRC expected 0x${hex32(expected)}, found 0x${hex32(found)}`,
    );
  }
  const entry = {
    zone: view.getUint8(at),
    appendOff: view.getUint32(at + 4, true),
    bytesFree: view.getInt32(at + 8, true),
  };
  if (entry.appendOff > BIGBLOCK_BYTES || entry.bytesFree < 0 || entry.bytesFree > BIGBLOCK_BYTES) {
    throw new FsError(
      'EIO',
      `freemap entry of big-block ${index}: append_off ${entry.appendOff} / bytes_free ${entry.bytesFree} out of range`,
    );
  }
  return entry;
}

/** Bytes a data allocation of `length` takes: small data 16-aligned, large data rounded to 16 KiB. */
export function allocBytes(zone: AllocZone, length: number): number {
  if (zone === Zone.BTREE) return NODE_BYTES;
  if (zone === Zone.LARGE_DATA) return Math.ceil(length / BUFFER_BYTES) * BUFFER_BYTES;
  return Math.ceil(length / DATA_ALIGN) * DATA_ALIGN;
}

export interface Allocation {
  /** HAMMER offset (zone-tagged) of the space. */
  offset: number;
  /** Physical device offset. */
  physical: number;
  /** True when the space starts a buffer nobody else uses yet (no read, no UNDO needed). */
  freshBuffer: boolean;
}

export class Blockmap {
  private readonly entries: FreemapEntry[] = [];
  /** Current append big-block per allocation zone, -1 when none. */
  private readonly current = new Map<number, number>();
  /** Big-blocks freed in the running cycle: not allocatable until it commits. */
  private readonly pendingFree = new Set<number>();
  /** Current big-blocks emptied in the running cycle: not started over until it commits. */
  private readonly emptied = new Set<number>();

  constructor(
    private readonly cache: BufferCache,
    private readonly freemapBeg: number,
    private readonly bufBeg: number,
    readonly bigblocks: number,
    zoneBase: ReadonlyMap<number, number>,
  ) {
    this.reload(zoneBase);
  }

  /**
   * (Re)read every freemap entry from the buffers (after mount or an aborted
   * cycle). `zoneBase` gives each zone's current big-block (its zone-tagged
   * base offset, 0 for none), as the header's blockmap entries record it.
   */
  reload(zoneBase: ReadonlyMap<number, number>): void {
    this.entries.length = 0;
    for (let i = 0; i < this.bigblocks; i++) {
      const { buffer, at } = this.locate(i);
      this.entries.push(decodeFreemapEntry(buffer.bytes, at, i));
    }
    this.current.clear();
    for (const [zone, base] of zoneBase) {
      const index = base === 0 ? -1 : Math.floor(offPart(base) / BIGBLOCK_BYTES);
      if (index >= 0) {
        const entry = this.entries[index];
        if (entry === undefined || entry.zone !== zone) {
          throw new FsError(
            'EIO',
            `volume header: ${zoneName(zone)} append point names big-block ${index}, not of that zone`,
          );
        }
      }
      this.current.set(zone, index);
    }
    this.pendingFree.clear();
    this.emptied.clear();
  }

  private locate(index: number): { buffer: Buffer16k; at: number } {
    return { buffer: this.bufferOf(index), at: this.withinBuffer(index) };
  }

  /** The meta-data buffer holding big-block `index`'s freemap entry. */
  private bufferOf(index: number): Buffer16k {
    const physical = this.freemapBeg + index * FREEMAP_ENTRY_BYTES;
    return this.cache.get(physical - (physical % BUFFER_BYTES), 'meta');
  }

  /** Where in its buffer big-block `index`'s freemap entry starts. */
  private withinBuffer(index: number): number {
    return (this.freemapBeg + index * FREEMAP_ENTRY_BYTES) % BUFFER_BYTES;
  }

  entry(index: number): Readonly<FreemapEntry> {
    const entry = this.entries[index];
    assert(entry !== undefined, 'freemap index names a big-block');
    return entry;
  }

  /**
   * Set one freemap entry under UNDO. Whole values, not a partial change
   * spread over the old entry: this runs for every allocation, and the
   * spread made two objects of shifting shapes each time.
   */
  private update(index: number, zone: number, appendOff: number, bytesFree: number): void {
    assert(bytesFree >= 0 && bytesFree <= BIGBLOCK_BYTES, 'bytes_free stays within a big-block');
    const entry: FreemapEntry = { zone, appendOff, bytesFree };
    const buffer = this.bufferOf(index);
    const at = this.withinBuffer(index);
    this.cache.modify(buffer, at, FREEMAP_ENTRY_BYTES);
    encodeFreemapEntry(buffer.bytes, at, entry, buffer.view);
    this.entries[index] = entry;
  }

  /** Allocate `length` bytes in `zone`; ENOSPC when no big-block is left. */
  alloc(zone: AllocZone, length: number): Allocation {
    const bytes = allocBytes(zone, length);
    assert(bytes > 0 && bytes <= BIGBLOCK_BYTES, 'an allocation fits in a big-block');
    let index = this.current.get(zone) ?? -1;
    if (index >= 0 && this.rewindable(index)) {
      const emptied = this.entry(index);
      this.update(index, emptied.zone, 0, emptied.bytesFree);
    }
    let start = index < 0 ? -1 : this.fitIn(index, bytes);
    if (start < 0) {
      index = this.takeFreeBigblock(zone);
      start = 0;
    }
    const entry = this.entry(index);
    this.update(index, entry.zone, start + bytes, entry.bytesFree - bytes);
    const zoneOffset = index * BIGBLOCK_BYTES + start;
    return {
      offset: hammerOff(zone, zoneOffset),
      physical: this.bufBeg + zoneOffset,
      freshBuffer: start % BUFFER_BYTES === 0,
    };
  }

  /** Where `bytes` fit in big-block `index` without crossing a 16 KiB buffer (small allocations), or -1. */
  private fitIn(index: number, bytes: number): number {
    let start = this.entry(index).appendOff;
    if (bytes <= BUFFER_BYTES) {
      const room = BUFFER_BYTES - (start % BUFFER_BYTES);
      if (bytes > room) start += room;
    } else if (start % BUFFER_BYTES !== 0) {
      start += BUFFER_BYTES - (start % BUFFER_BYTES);
    }
    return start + bytes <= BIGBLOCK_BYTES ? start : -1;
  }

  private takeFreeBigblock(zone: AllocZone): number {
    for (let i = 0; i < this.bigblocks; i++) {
      if (this.entries[i]?.zone === ZONE_FREE && !this.pendingFree.has(i)) {
        this.update(i, zone, 0, BIGBLOCK_BYTES);
        this.current.set(zone, i);
        return i;
      }
    }
    throw new FsError('ENOSPC', `no free big-block left for the ${zoneName(zone)} zone`);
  }

  /**
   * Give back an allocation; a big-block that becomes empty is freed
   * (allocatable after commit). The zone's current big-block stays current:
   * once the cycle that emptied it committed, its next allocation starts it
   * over from offset 0 (`rewindable`).
   */
  free(offset: number, length: number): void {
    const zone = offZone(offset) as AllocZone;
    const bytes = allocBytes(zone, length);
    const index = Math.floor(offPart(offset) / BIGBLOCK_BYTES);
    const entry = this.entry(index);
    assert(entry.zone === zone, 'a freed offset lies in a big-block of its zone');
    const bytesFree = entry.bytesFree + bytes;
    if (bytesFree === BIGBLOCK_BYTES && this.current.get(zone) === index) this.emptied.add(index);
    if (bytesFree === BIGBLOCK_BYTES && this.current.get(zone) !== index) {
      this.update(index, ZONE_FREE, 0, bytesFree);
      this.pendingFree.add(index);
    } else {
      this.update(index, entry.zone, entry.appendOff, bytesFree);
    }
  }

  /** No free waits for its cycle to commit. */
  get quiet(): boolean {
    return this.pendingFree.size === 0 && this.emptied.size === 0;
  }

  /** The running cycle committed: its freed big-blocks may be reused. */
  releasePendingFrees(): void {
    this.pendingFree.clear();
    this.emptied.clear();
  }

  /**
   * Whether big-block `index` (a zone's current one) is empty and may start
   * over from offset 0: nothing references its bytes, and not since the
   * running cycle (a crash would roll that cycle's frees back and bring the
   * old data back into use). Without it, an emptied current big-block would
   * stay unusable for good: space inside a big-block is never reused.
   */
  private rewindable(index: number): boolean {
    const entry = this.entry(index);
    return entry.bytesFree === BIGBLOCK_BYTES && entry.appendOff > 0 && !this.emptied.has(index);
  }

  /** Current big-block base and append point per zone, for the header's blockmap entries. */
  zoneState(): Map<number, { base: number; next: number }> {
    const out = new Map<number, { base: number; next: number }>();
    for (const [zone, index] of this.current) {
      if (index < 0) out.set(zone, { base: 0, next: 0 });
      else {
        const base = index * BIGBLOCK_BYTES;
        out.set(zone, { base: hammerOff(zone, base), next: hammerOff(zone, base + this.entry(index).appendOff) });
      }
    }
    return out;
  }

  /** Bytes still free in each zone's current big-block (what allocations take before a new big-block). */
  zoneRemainders(): number[] {
    const out: number[] = [];
    for (const index of this.current.values()) {
      const used = index < 0 || this.rewindable(index) ? 0 : this.entry(index).appendOff;
      out.push(index < 0 ? 0 : BIGBLOCK_BYTES - used);
    }
    return out;
  }

  freeBigblocks(): number {
    return this.entries.filter((entry) => entry.zone === ZONE_FREE).length;
  }

  /** Physical device offset of a zone-tagged offset. */
  physical(offset: number): number {
    return this.bufBeg + offPart(offset);
  }

  allEntries(): readonly Readonly<FreemapEntry>[] {
    return this.entries;
  }
}
