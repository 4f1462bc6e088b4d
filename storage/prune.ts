import { assert } from './assert.js';
import { FsError } from './errors.js';
import type { LeafElm } from './format/btree-node.js';
import { formatTid, RecType } from './layout.js';
import { allRecords, inCycles, type MaintenanceProgress } from './maintenance.js';
import type { Volume } from './volume.js';

/**
 * HAMMER's prune (`hammer prune`): destroy history older than a TID. A record
 * goes when it was deleted at or before the cut (delete_tid ≤ before, so the
 * volume as of `before` and everything later reads the same) and no snapshot
 * of its PFS sees it (a snapshot at TID s sees a record when create_tid ≤ s <
 * delete_tid). Live records (delete_tid 0) are never touched: the current
 * state is not history. Destroying a record frees its data (storage/blockmap.ts:
 * the space is reusable once the cycle commits; a big-block that empties is
 * freed). Runs in bounded cycles (storage/maintenance.ts), so a crash leaves a
 * volume pruned up to its last committed cycle.
 */
export interface PruneReport {
  /** The cut: history deleted at or before this TID goes. */
  before: number;
  /** Snapshots found (all PFSs). */
  snapshots: number;
  /** Records examined, every version. */
  records: number;
  /** Records destroyed, and the bytes of data they referenced. */
  recordsPruned: number;
  bytesPruned: number;
  /** Records deleted at or before the cut that a snapshot still sees. */
  keptForSnapshots: number;
  /** Free big-blocks after the prune minus before (emptied big-blocks). */
  bigblocksFreed: number;
  cycles: number;
}

export interface PruneOptions {
  before: number;
  /** Records destroyed per cycle (default MAINTENANCE_BATCH). */
  batch?: number;
  progress?: MaintenanceProgress;
}

/** The PFS a localization belongs to (its top 16 bits, as actors/keys.ts lays them out). */
function pfsOf(localization: number): number {
  return Math.floor(localization / 0x10000);
}

/** Snapshot TIDs per PFS: the live SNAPSHOT records (key = the snapshot's TID). */
function snapshotsByPfs(records: readonly LeafElm[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const elm of records) {
    if (elm.recType !== RecType.SNAPSHOT || elm.deleteTid !== 0) continue;
    const list = out.get(pfsOf(elm.localization)) ?? [];
    list.push(elm.key);
    out.set(pfsOf(elm.localization), list);
  }
  return out;
}

/** Whether any snapshot in `tids` sees a record alive over [createTid, deleteTid). */
function seenBySnapshot(elm: LeafElm, tids: readonly number[] | undefined): boolean {
  return tids?.some((tid) => elm.createTid <= tid && tid < elm.deleteTid) ?? false;
}

/**
 * Prune `volume` (mounted read-write at the storage level, no cycle running).
 * EINVAL for a cut that is not a TID.
 */
export function prune(volume: Volume, options: PruneOptions): PruneReport {
  const { before } = options;
  if (!Number.isSafeInteger(before) || before <= 0)
    throw new FsError('EINVAL', `prune: the cut must be a TID, got ${before}`);
  assert(volume.cycleTid === undefined, 'prune starts between flush cycles');
  const freeBefore = volume.stats().freeBigblocks;
  const records = allRecords(volume);
  const snapshots = snapshotsByPfs(records);
  const victims: LeafElm[] = [];
  let keptForSnapshots = 0;
  for (const elm of records) {
    if (elm.deleteTid === 0 || elm.deleteTid > before) continue;
    if (seenBySnapshot(elm, snapshots.get(pfsOf(elm.localization)))) keptForSnapshots++;
    else victims.push(elm);
  }
  let bytesPruned = 0;
  const cycles = inCycles(
    volume,
    victims,
    (elm) => {
      assert(elm.deleteTid !== 0, `prune never destroys a live record (${formatTid(elm.createTid)})`);
      bytesPruned += volume.destroyRecord(elm).dataLen;
    },
    { batch: options.batch, progress: options.progress },
  );
  return {
    before,
    snapshots: [...snapshots.values()].reduce((sum, list) => sum + list.length, 0),
    records: records.length,
    recordsPruned: victims.length,
    bytesPruned,
    keptForSnapshots,
    bigblocksFreed: volume.stats().freeBigblocks - freeBefore,
    cycles,
  };
}
