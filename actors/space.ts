import { FsError } from '../storage/errors.js';
import { BIGBLOCK_BYTES } from '../storage/layout.js';
import type { Volume } from '../storage/volume.js';
import type { Inode } from './inode.js';

/** What one dirty inode's flush may take beyond its data: the inode record, entries, B-tree growth. */
export const INODE_RESERVE_BYTES = 16 * 1024;
/** Per record: its element and a share of a node split. */
export const RECORD_RESERVE_BYTES = 512;
/** Each allocation zone may need one fresh big-block whatever the reservations say. */
const ZONE_SLACK_BYTES = 4 * BIGBLOCK_BYTES;

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

  /** Free bytes the front end may still promise. */
  available(): number {
    return this.volume().freeBytes() - ZONE_SLACK_BYTES - this.total;
  }

  /**
   * Reserve `bytes` more for `ip` (plus the inode's own reserve when it had
   * none), or throw ENOSPC and reserve nothing.
   */
  reserve(ip: Inode, bytes: number, path: string | undefined): void {
    const needed = bytes + (ip.reserved === 0 ? INODE_RESERVE_BYTES : 0);
    if (needed > this.available()) {
      throw new FsError('ENOSPC', `no space left on the volume (${this.available()} bytes unreserved)`, { path });
    }
    ip.reserved += needed;
    this.total += needed;
  }

  /** The inode is clean: its flush wrote what it reserved for. */
  release(ip: Inode): void {
    this.total -= ip.reserved;
    ip.reserved = 0;
  }
}
