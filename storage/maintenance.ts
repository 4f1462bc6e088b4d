import { assert } from './assert.js';
import { type LeafElm, MAX_BOUND, MIN_BOUND } from './format/btree-node.js';
import { offPart } from './layout.js';
import type { Volume } from './volume.js';

/**
 * What prune and reblock share: they work on a volume mounted at the storage
 * level (no inode actors, no flusher), as HAMMER's ioctls do in the kernel,
 * in flush cycles of their own with a bounded number of changes each. Every
 * cycle commits through the volume's UNDO/flush path, so a crash loses at
 * most the running cycle, which recovery rolls back whole; the cycles before
 * it stay done, and each leaves a consistent volume.
 */

/** Changes per cycle: bounds the UNDO a cycle writes (a few hundred bytes each) well inside the smallest FIFO. */
export const MAINTENANCE_BATCH = 1000;

/** Told after each committed cycle: items done so far, and the total. */
export type MaintenanceProgress = (done: number, total: number) => void;

/**
 * Begin a maintenance cycle that keeps reachable the REDO a mount's stage 2
 * has not replayed yet (the header's redo_start): committing without it would
 * drop fsynced writes the inode layer still owes the volume.
 */
function beginMaintenanceCycle(volume: Volume): number {
  const redoStart = volume.header().redoStart;
  return volume.beginCycle({ redoSyncOffset: redoStart === 0 ? undefined : offPart(redoStart) });
}

/**
 * Apply `change` to every item, `batch` items a cycle, committing each cycle.
 * A failure aborts the running cycle only (the volume is as the last commit
 * left it) and is rethrown. Returns the number of cycles committed.
 */
export function inCycles<T>(
  volume: Volume,
  items: readonly T[],
  change: (item: T) => void,
  options: { batch?: number; progress?: MaintenanceProgress } = {},
): number {
  const batch = options.batch ?? MAINTENANCE_BATCH;
  assert(Number.isSafeInteger(batch) && batch > 0, 'a maintenance batch holds at least one change');
  let cycles = 0;
  for (let start = 0; start < items.length; start += batch) {
    beginMaintenanceCycle(volume);
    try {
      for (const item of items.slice(start, start + batch)) change(item);
      volume.commit();
    } catch (error) {
      // A cycle the volume already gave up (a failed write-out) has nothing left to abort.
      if (volume.cycleTid !== undefined) volume.abort();
      throw error;
    }
    cycles++;
    options.progress?.(Math.min(start + batch, items.length), items.length);
  }
  return cycles;
}

/** Every record of the volume, every version (history included), in key order. */
export function allRecords(volume: Volume): LeafElm[] {
  return volume.scan(MIN_BOUND, MAX_BOUND);
}
