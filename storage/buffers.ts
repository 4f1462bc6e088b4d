import { assert } from './assert.js';
import type { BlockDevice } from './device.js';
import { BUFFER_BYTES, viewOf } from './layout.js';
import type { UndoFifo } from './undo-fifo.js';

/** Granule of the per-cycle UNDO history: a range is logged once per cycle per 64 bytes. */
const GRANULE_BYTES = 64;
const GRANULES = BUFFER_BYTES / GRANULE_BYTES;

/**
 * Pre-images kept for an in-memory rollback are carved out of slabs of this
 * size. An array of its own per pre-image (64 B to 16 KiB, ~2 per file
 * created) costs a backing store each: ~0.6–2 µs against ~0.1 µs for a view
 * into a slab. Only `cycleUndo` holds pre-images (the FIFO copies one as it
 * encodes it), so when a cycle ends nothing refers to them and the slabs are
 * handed out again from the first: their pages are not new memory each cycle.
 * Up to KEPT_SLABS stay for the next cycle; a bigger cycle's extra ones go.
 */
const PREIMAGE_SLAB_BYTES = 256 * 1024;
const KEPT_SLABS = 4;

export type BufferKind = 'meta' | 'data';

/** A 16 KiB buffer of the volume, keyed by its physical offset. */
export interface Buffer16k {
  readonly offset: number;
  readonly kind: BufferKind;
  readonly bytes: Uint8Array;
  /** A DataView of `bytes`, made with the buffer, so encoders into it need no view of their own. */
  readonly view: DataView;
  dirty: boolean;
  /** Granules whose pre-image is already in this cycle's UNDO (or that are fresh). */
  logged: Uint8Array | undefined;
}

/** An UNDO this cycle logged, kept in memory so an aborted cycle can be rolled back in place. */
interface CycleUndo {
  buffer: Buffer16k;
  at: number;
  preimage: Uint8Array;
}

/**
 * The buffer cache. Changing any meta-data byte goes through `modify()`, which
 * appends the pre-image to the UNDO FIFO first (once per range per flush
 * cycle: recovery runs UNDOs newest-first, so the oldest pre-image wins), then
 * marks the buffer dirty. Dirty buffers are never evicted; clean ones are
 * trimmed between operations, never in the middle of one, so a node or buffer
 * a caller holds stays the cached copy.
 */
export class BufferCache {
  private readonly buffers = new Map<number, Buffer16k>();
  private cycleUndo: CycleUndo[] = [];
  /** The slabs pre-images are carved from; slabs[slabIndex] is being handed out, slabUsed bytes of it so far. */
  private readonly slabs: Uint8Array[] = [];
  private slabIndex = 0;
  private slabUsed = 0;
  /** Dirty buffers by kind, kept as they change (counting or writing them never walks the whole cache). */
  private readonly dirtyBuffers: Record<BufferKind, Set<Buffer16k>> = { meta: new Set(), data: new Set() };
  /** Called when a clean buffer leaves the cache (the node cache drops its nodes). */
  onEvict: ((buffer: Buffer16k) => void) | undefined;

  constructor(
    private readonly device: BlockDevice,
    private readonly fifo: UndoFifo | undefined,
    private readonly capacity = 4096,
  ) {}

  /** The cached buffer at `offset` (16 KiB aligned), read from the device if needed. */
  get(offset: number, kind: BufferKind): Buffer16k {
    assert(offset % BUFFER_BYTES === 0, 'buffer offsets are 16 KiB aligned');
    let buffer = this.buffers.get(offset);
    if (buffer === undefined) {
      const bytes = new Uint8Array(BUFFER_BYTES);
      this.device.read(offset, bytes);
      buffer = { offset, kind, bytes, view: viewOf(bytes), dirty: false, logged: undefined };
      this.buffers.set(offset, buffer);
    }
    return buffer;
  }

  /**
   * Drop a clean cached copy of the buffer at `offset`: its space is about to be
   * written around the cache (large data goes straight to the device).
   */
  forget(offset: number): void {
    const buffer = this.buffers.get(offset);
    if (buffer === undefined) return;
    assert(!buffer.dirty, 'a buffer written around the cache has no dirty cached copy');
    this.buffers.delete(offset);
  }

  /** A buffer whose old content does not matter (fresh space): zeroed, not read. */
  getFresh(offset: number, kind: BufferKind): Buffer16k {
    let buffer = this.buffers.get(offset);
    if (buffer === undefined) {
      const bytes = new Uint8Array(BUFFER_BYTES);
      buffer = { offset, kind, bytes, view: viewOf(bytes), dirty: false, logged: undefined };
      this.buffers.set(offset, buffer);
    }
    return buffer;
  }

  /**
   * Declare bytes [at, at + length) of a meta-data buffer are about to change:
   * log the pre-image of the granules not yet logged this cycle, then mark dirty.
   */
  modify(buffer: Buffer16k, at: number, length: number): void {
    assert(buffer.kind === 'meta', 'only meta-data buffers are modified under UNDO');
    assert(at >= 0 && length > 0 && at + length <= BUFFER_BYTES, 'a modified range lies inside its buffer');
    assert(this.fifo !== undefined, 'modify() needs a FIFO (the mount is read-write)');
    if (buffer.logged === undefined) buffer.logged = new Uint8Array(GRANULES);
    const last = Math.floor((at + length - 1) / GRANULE_BYTES);
    let granule = Math.floor(at / GRANULE_BYTES);
    while (granule <= last) {
      if (buffer.logged[granule]) {
        granule++;
        continue;
      }
      let end = granule;
      while (end <= last && !buffer.logged[end]) buffer.logged[end++] = 1;
      const start = granule * GRANULE_BYTES;
      const preimage = this.preimage(buffer, start, end * GRANULE_BYTES);
      this.fifo.appendUndo(buffer.offset + start, preimage);
      this.cycleUndo.push({ buffer, at: start, preimage });
      granule = end;
    }
    this.markDirty(buffer);
  }

  /** A copy of bytes [start, end) of `buffer`, in the pre-image slab (see PREIMAGE_SLAB_BYTES). */
  private preimage(buffer: Buffer16k, start: number, end: number): Uint8Array {
    const length = end - start;
    assert(length > 0 && length <= BUFFER_BYTES, 'a pre-image lies inside one buffer');
    let slab = this.slabs[this.slabIndex];
    if (slab !== undefined && this.slabUsed + length > slab.length) {
      this.slabIndex++;
      this.slabUsed = 0;
      slab = this.slabs[this.slabIndex];
    }
    if (slab === undefined) {
      slab = new Uint8Array(PREIMAGE_SLAB_BYTES);
      this.slabs.push(slab);
    }
    const copy = slab.subarray(this.slabUsed, this.slabUsed + length);
    this.slabUsed += length;
    copy.set(buffer.bytes.subarray(start, end));
    return copy;
  }

  /**
   * Mark bytes of fresh space dirty without UNDO: nothing references them
   * until the cycle commits, so a rollback needs no pre-image. Later changes
   * in the same cycle skip UNDO for them too.
   */
  markFresh(buffer: Buffer16k, at: number, length: number): void {
    if (buffer.kind === 'meta') {
      if (buffer.logged === undefined) buffer.logged = new Uint8Array(GRANULES);
      // Only whole granules inside the range: a partly fresh granule may share bytes with live data.
      const first = Math.ceil(at / GRANULE_BYTES);
      const last = Math.floor((at + length) / GRANULE_BYTES);
      for (let g = first; g < last; g++) buffer.logged[g] = 1;
    }
    this.markDirty(buffer);
  }

  /** Mark dirty without UNDO and without claiming the range is fresh (atime patches). */
  markDirtyNoUndo(buffer: Buffer16k): void {
    this.markDirty(buffer);
  }

  private markDirty(buffer: Buffer16k): void {
    if (buffer.dirty) return;
    buffer.dirty = true;
    this.dirtyBuffers[buffer.kind].add(buffer);
  }

  /** Write every dirty buffer of `kind` in offset order (the caller fsyncs). Returns bytes written. */
  writeDirty(kind: BufferKind, beforeWrite?: (buffer: Buffer16k) => void): number {
    const set = this.dirtyBuffers[kind];
    const dirty = [...set].sort((a, b) => a.offset - b.offset);
    for (const buffer of dirty) {
      beforeWrite?.(buffer);
      this.device.write(buffer.offset, buffer.bytes);
      buffer.dirty = false;
      set.delete(buffer);
    }
    return dirty.length * BUFFER_BYTES;
  }

  dirtyCount(kind?: BufferKind): number {
    return kind === undefined
      ? this.dirtyBuffers.meta.size + this.dirtyBuffers.data.size
      : this.dirtyBuffers[kind].size;
  }

  /** A flush cycle ended: the per-cycle UNDO history starts over. */
  endCycle(): void {
    for (const buffer of this.buffers.values()) buffer.logged = undefined;
    this.forgetCycleUndo();
  }

  /** Drop the cycle's pre-images; the slabs are free again (see PREIMAGE_SLAB_BYTES). */
  private forgetCycleUndo(): void {
    this.cycleUndo = [];
    this.slabIndex = 0;
    this.slabUsed = 0;
    if (this.slabs.length > KEPT_SLABS) this.slabs.length = KEPT_SLABS;
  }

  /**
   * Roll back this cycle's meta-data changes in memory, newest pre-image
   * first (as recovery would), and drop dirty data buffers. Restored buffers
   * stay dirty: their pre-cycle content is written by the next cycle.
   */
  abortCycle(): void {
    for (let i = this.cycleUndo.length - 1; i >= 0; i--) {
      const undo = this.cycleUndo[i];
      assert(undo !== undefined, 'cycle UNDO entry exists');
      undo.buffer.bytes.set(undo.preimage, undo.at);
    }
    for (const buffer of this.dirtyBuffers.data) this.buffers.delete(buffer.offset);
    this.dirtyBuffers.data.clear();
    this.endCycle();
  }

  /** Evict clean buffers beyond the capacity, oldest first. */
  trim(): void {
    if (this.buffers.size <= this.capacity) return;
    for (const [offset, buffer] of this.buffers) {
      if (this.buffers.size <= this.capacity) break;
      if (buffer.dirty) continue;
      this.buffers.delete(offset);
      this.onEvict?.(buffer);
    }
  }

  /** Forget everything (after recovery rewrote the device underneath). */
  clear(): void {
    for (const buffer of this.buffers.values()) assert(!buffer.dirty, 'no dirty buffer is forgotten');
    this.buffers.clear();
    this.forgetCycleUndo();
  }

  has(offset: number): boolean {
    return this.buffers.has(offset);
  }
}
