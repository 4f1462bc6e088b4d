import { FsError } from '../storage/errors.js';
import { BIGBLOCK_BYTES } from '../storage/layout.js';
import type { Volume } from '../storage/volume.js';
import type { Inode } from './inode.js';

/** What one dirty inode's flush may take beyond its data: the inode record, entries, B-tree growth. */
export const INODE_RESERVE_BYTES = 16 * 1024;
/** Per record: its element and a share of a node split. */
export const RECORD_RESERVE_BYTES = 512;
/**
 * Big-blocks kept back: allocations come per zone, so free bytes in one
 * zone's current big-block do not help another; one whole big-block for each
 * of the other zones (B-tree, meta-data, the other data zone) covers that.
 */
const SPARE_BIGBLOCKS = 3;

/**
 * What a reservation is for (hammer_checkspace's slop levels): a `write`
 * (creating, writing) must leave every spare big-block; a `remove` (unlink,
 * rmdir: the way out of a full volume, whose flush allocates next to
 * nothing) and the `recovery` of what an fsync promised (stage 2 replaying
 * REDO) may use one of them.
 */
export type SpaceUse = 'write' | 'remove' | 'recovery';
const SLOP_BYTES: Record<SpaceUse, number> = { write: 0, remove: BIGBLOCK_BYTES, recovery: BIGBLOCK_BYTES };

/**
 * Space reservation (HAMMER's RSV_INODES and friends): every dirty inode
 * holds a reservation for what its flush will write, taken at the front end,
 * so a full volume says ENOSPC to the caller and never to the flusher.
 */
export class SpaceReserve {
  private total = 0;

  constructor(private readonly volume: () => Volume) {}

  get reservedBytes(): number {
    return this.total;
  }

  /** The volume's free space, recomputed only after allocations could have changed it (a cycle ran). */
  private cached: { cycles: number; finalizes: number; bytes: number } | undefined;

  /** Free bytes the front end may still promise. */
  available(): number {
    const volume = this.volume();
    const { cycles, finalizes } = volume.counters;
    let cached = this.cached;
    if (
      cached === undefined ||
      cached.cycles !== cycles ||
      cached.finalizes !== finalizes ||
      volume.cycleTid !== undefined
    ) {
      const free = volume.freeSpace();
      const remainders = free.remainders.reduce((sum, bytes) => sum + bytes, 0);
      cached = { cycles, finalizes, bytes: (free.bigblocks - SPARE_BIGBLOCKS) * BIGBLOCK_BYTES + remainders };
      this.cached = cached;
    }
    return cached.bytes - this.total;
  }

  /**
   * Reserve `bytes` more for `ip` (plus the inode's own reserve when it had
   * none), or throw ENOSPC and reserve nothing. `use` says how far into the
   * spare big-blocks it may go.
   */
  reserve(ip: Inode, bytes: number, path: string | undefined, use: SpaceUse = 'write'): void {
    const needed = bytes + (ip.reserved === 0 ? INODE_RESERVE_BYTES : 0);
    if (needed > this.available() + SLOP_BYTES[use]) {
      throw new FsError('ENOSPC', `no space left on the volume (${this.available()} bytes unreserved)`, { path });
    }
    ip.reserved += needed;
    this.total += needed;
  }

  /** Take back the total a replay checkpoint recorded (each inode's share is restored with it). */
  resumeTotal(total: number): void {
    this.total = total;
  }

  /** The inode is clean: its flush wrote what it reserved for. */
  release(ip: Inode): void {
    this.total -= ip.reserved;
    ip.reserved = 0;
  }
}
