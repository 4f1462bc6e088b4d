import { InodeFlag } from '../machines/inode-flags.js';
import type { Inode } from './inode.js';

/**
 * REDO bookkeeping (hammer_redo_fifo_*): an inode's first REDO record since
 * its data was last committed sets `redoFifoStart` and puts the inode on a
 * tree ordered by that offset. Each flush cycle logs the oldest such offset
 * as a REDO SYNC (and the header keeps it), so recovery stage 2 starts early
 * enough and the FIFO never wraps over REDO an fsync promised. The inode
 * leaves the tree when a flush committed everything its REDO covered, or
 * when it is unloaded.
 */
export class RedoTracker {
  private readonly tree = new Set<Inode>();

  /** The oldest FIFO offset still needed, or undefined when none is. */
  oldest(): number | undefined {
    let oldest: number | undefined;
    for (const ip of this.tree) {
      const at = ip.redoFifoStart;
      if (at !== undefined && (oldest === undefined || at < oldest)) oldest = at;
    }
    return oldest;
  }

  /** A REDO record for `ip` was appended at `offset`. */
  noted(ip: Inode, offset: number): void {
    if (ip.redoFifoStart === undefined) {
      ip.redoFifoStart = offset;
      this.tree.add(ip);
      ip.mark(InodeFlag.RDIRTY);
    }
    if (ip.redoSinceFlush === undefined) ip.redoSinceFlush = offset;
  }

  constructor(private readonly nextSeq: () => number) {}

  /**
   * flush_inode_core: REDO from here on belongs to the next flush; what the
   * inode logged before (seq below the FIFO's next seq now) is committed by
   * this one, which logs one TERM for all of it when it syncs.
   */
  startFlush(ip: Inode): void {
    ip.redoSinceFlush = undefined;
    if (ip.redoFifoStart !== undefined) ip.redoTermSeq = this.nextSeq();
  }

  /** flush_inode_done: what the flush committed no longer needs its REDO. */
  endFlush(ip: Inode): void {
    if (ip.redoFifoStart === undefined) return;
    if (ip.redoSinceFlush === undefined) {
      this.forget(ip);
      if (ip.has(InodeFlag.RDIRTY)) ip.send({ type: 'CLEAR', flags: InodeFlag.RDIRTY });
    } else {
      ip.redoFifoStart = ip.redoSinceFlush;
    }
  }

  /** An inode reloaded with the REDO bookkeeping it had (a mount resumed from a replay checkpoint). */
  adopt(ip: Inode): void {
    if (ip.redoFifoStart !== undefined) this.tree.add(ip);
  }

  forget(ip: Inode): void {
    ip.redoTermSeq = undefined;
    ip.redoFifoStart = undefined;
    ip.redoSinceFlush = undefined;
    this.tree.delete(ip);
  }

  get size(): number {
    return this.tree.size;
  }
}
