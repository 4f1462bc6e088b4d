import { keyOf } from '../storage/format/btree-node.js';
import type { MaintenanceProgress } from '../storage/maintenance.js';
import { type PruneReport, prune } from '../storage/prune.js';
import { type ReblockReport, reblock } from '../storage/reblock.js';
import type { Mount } from './mount.js';

/**
 * fs.prune and fs.reblock: HAMMER's prune and reblock ioctls on a mounted
 * filesystem. Everything dirty is flushed first (syncAll), so the storage
 * pass (storage/prune.ts, storage/reblock.ts) runs between flush groups on a
 * B-tree no inode has changes pending against. Its cycles are the volume's
 * ordinary ones, so they are logged as volume facts and replayed like any
 * command. The only on-disk state the inode layer caches is each inode's
 * element (`leaf`): reblock moves its data and prune may destroy an as-of
 * inode's version, so every cached element is read again afterwards, even
 * when the pass failed part-way (its committed cycles stay done).
 */

export function pruneMounted(mount: Mount, before: number, progress?: MaintenanceProgress): PruneReport {
  return afterSync(mount, 'PRUNE', () => prune(mount.volume, { before, progress }));
}

export function reblockMounted(mount: Mount, fillPercent: number, progress?: MaintenanceProgress): ReblockReport {
  return afterSync(mount, 'REBLOCK', () => reblock(mount.volume, { fillPercent, progress }));
}

/** Sync, run the storage pass, tell the bus what it did (fact `type`), re-read the cached elements. */
function afterSync<R extends PruneReport | ReblockReport>(mount: Mount, type: string, pass: () => R): R {
  mount.syncAll();
  try {
    const report = pass();
    mount.bus.fact('volume', type, { ...report });
    return report;
  } finally {
    refreshLeaves(mount);
  }
}

/** Re-read the element of every cached inode by its exact key (undefined: a version pruned away). */
function refreshLeaves(mount: Mount): void {
  for (const ip of mount.cached()) {
    if (ip.leaf === undefined) continue;
    const key = keyOf(ip.leaf);
    ip.leaf = mount.volume.scan(key, key)[0];
  }
}
