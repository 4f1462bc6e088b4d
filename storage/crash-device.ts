import { assert } from './assert.js';
import type { BlockDevice, MemDevice } from './device.js';

export const SECTOR_BYTES = 512;

export type DeviceOp = { kind: 'write'; offset: number; data: Uint8Array } | { kind: 'fsync' };

/**
 * How a crash treats each write issued after the last completed fsync: dropped,
 * applied whole, or torn (only the sectors whose bit is set in `sectors` land).
 */
export type PendingFate = 'drop' | 'whole' | { sectors: boolean[] };

/**
 * A device that records every write and fsync over an in-memory image, and
 * produces crash images per the crash model (DESIGN.md): everything written
 * before the last completed fsync, plus any subset of the later writes, applied
 * in any order, each possibly torn at 512-byte sectors.
 */
export class CrashDevice implements BlockDevice {
  readonly size: number;
  /** The image as it was when recording started. */
  private readonly base: MemDevice;
  /** The image with every write applied (what reads see). */
  private readonly live: MemDevice;
  readonly ops: DeviceOp[] = [];

  constructor(base: MemDevice) {
    this.size = base.size;
    this.base = base.clone();
    this.live = base.clone();
  }

  read(offset: number, target: Uint8Array): void {
    this.live.read(offset, target);
  }

  write(offset: number, data: Uint8Array): void {
    this.live.write(offset, data);
    this.ops.push({ kind: 'write', offset, data: data.slice() });
  }

  fsync(): void {
    this.ops.push({ kind: 'fsync' });
  }

  close(): void {}

  /** Indices (into `ops`) of every write: the crash points. */
  writePoints(): number[] {
    const points: number[] = [];
    this.ops.forEach((op, i) => {
      if (op.kind === 'write') points.push(i);
    });
    return points;
  }

  /** Index of the last fsync strictly before op `end`, or -1. */
  lastFsyncBefore(end: number): number {
    for (let i = end - 1; i >= 0; i--) if (this.ops[i]?.kind === 'fsync') return i;
    return -1;
  }

  /** The writes issued after the last fsync before op `end` (the unsynced window). */
  pendingWrites(end: number): Array<{ offset: number; data: Uint8Array }> {
    const out: Array<{ offset: number; data: Uint8Array }> = [];
    for (let i = this.lastFsyncBefore(end) + 1; i < end; i++) {
      const op = this.ops[i];
      if (op?.kind === 'write') out.push({ offset: op.offset, data: op.data });
    }
    return out;
  }

  /**
   * The image a crash just before op `end` could leave. Writes up to the last
   * fsync before `end` are applied in order; each later write meets its fate
   * (default: applied whole, in issue order), in the order given by `order`.
   */
  crashImage(end: number, fates?: PendingFate[], order?: number[]): MemDevice {
    assert(end >= 0 && end <= this.ops.length, 'crash point is inside the recorded ops');
    const image = this.base.clone();
    const synced = this.lastFsyncBefore(end);
    for (let i = 0; i <= synced; i++) {
      const op = this.ops[i];
      if (op?.kind === 'write') image.write(op.offset, op.data);
    }
    const pending = this.pendingWrites(end);
    const sequence = order ?? pending.map((_, i) => i);
    assert(sequence.length === pending.length, 'a crash order names every pending write once');
    for (const index of sequence) {
      const write = pending[index];
      assert(write !== undefined, 'crash order index names a pending write');
      const fate = fates?.[index] ?? 'whole';
      if (fate === 'drop') continue;
      if (fate === 'whole') {
        image.write(write.offset, write.data);
        continue;
      }
      applyTorn(image, write.offset, write.data, fate.sectors);
    }
    return image;
  }

  /**
   * A seeded sample of the crash model at point `end`: each pending write is
   * dropped, applied whole or torn, in a shuffled order. `next` is a seeded
   * uniform generator in [0, 1) owned by the caller.
   */
  sampleCrashImage(end: number, next: () => number): MemDevice {
    const pending = this.pendingWrites(end);
    const fates: PendingFate[] = pending.map((write) => {
      const roll = next();
      if (roll < 0.3) return 'drop';
      if (roll < 0.7) return 'whole';
      const count = Math.ceil(write.data.length / SECTOR_BYTES);
      return { sectors: Array.from({ length: count }, () => next() < 0.5) };
    });
    const order = pending.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    return this.crashImage(end, fates, order);
  }

  /** The image with every recorded write applied (a clean shutdown). */
  currentImage(): MemDevice {
    return this.live.clone();
  }
}

/** Apply only the chosen 512-byte sectors of a write (a torn write). */
function applyTorn(image: MemDevice, offset: number, data: Uint8Array, sectors: boolean[]): void {
  for (let s = 0; s * SECTOR_BYTES < data.length; s++) {
    if (!sectors[s]) continue;
    const start = s * SECTOR_BYTES;
    image.write(offset + start, data.subarray(start, Math.min(start + SECTOR_BYTES, data.length)));
  }
}

/** A small seeded generator (mulberry32) for crash sampling; deterministic per seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
