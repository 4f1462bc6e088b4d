import { InodeFlag } from '../machines/inode-flags.js';
import { assert } from '../storage/assert.js';
import type { BTreeKey } from '../storage/format/btree-node.js';
import { KEY_MAX, KEY_MIN, ORPHAN_OBJ_ID, RecType, TID_MAX } from '../storage/layout.js';
import type { Volume } from '../storage/volume.js';
import type { Inode } from './inode.js';
import { dataLocalization, pfsLocalization, rangeHi, rangeLo } from './keys.js';
import type { Mount } from './mount.js';
import { listPfs } from './versions.js';

/**
 * The orphan list (ours; HAMMER leaves such inodes behind for good). An
 * inode whose on-disk nlinks is 0 while it lives on (an open handle kept it
 * after its last unlink) has an ORPHAN record in its PFS, written and removed
 * in the same cycle as the inode record, so after a crash the next read-write
 * mount finds it without scanning every inode, and deletes it.
 */
function orphanKey(ip: Inode, recType: number = RecType.ORPHAN): Omit<BTreeKey, 'createTid'> {
  return {
    localization: dataLocalization(ip.localization),
    objId: ORPHAN_OBJ_ID,
    recType,
    key: ip.objId,
  };
}

/**
 * Backend, inside the cycle that writes (or deletes) the inode record: keep
 * "on-disk nlinks 0 and alive" and "has an ORPHAN record" the same. Called
 * with the nlinks just written, or `deleted` when the inode record goes.
 */
export function syncOrphan(volume: Volume, ip: Inode, nlinks: number, deleted: boolean): void {
  const orphan = !deleted && nlinks === 0;
  if (orphan === ip.orphanOnDisk) return;
  if (orphan) {
    volume.insertRecord({ ...orphanKey(ip), objType: ip.ino.objType });
  } else {
    const elm = volume.lookup(orphanKey(ip));
    assert(elm !== undefined, 'an inode marked as an orphan on disk has its ORPHAN record');
    // Bookkeeping, not history: the record goes physically (it has no data to keep).
    volume.destroyRecord(elm);
  }
  ip.orphanOnDisk = orphan;
}

/** The ORPHAN or TRUNCATION records of every PFS, each with the live inode it names (if any). */
function* marks(mount: Mount, recType: number) {
  for (const pfs of listPfs(mount)) {
    const loc = dataLocalization(pfsLocalization(pfs.id));
    const lo = rangeLo(loc, ORPHAN_OBJ_ID, recType, KEY_MIN);
    const hi = rangeHi(loc, ORPHAN_OBJ_ID, recType, KEY_MAX);
    for (const elm of mount.volume.scan(lo, hi, TID_MAX)) {
      yield { pfs: pfs.id, elm, ip: mount.get(pfsLocalization(pfs.id), elm.key) };
    }
  }
}

/**
 * A read-write mount (or a remount read-write), after recovery stage 2:
 * every orphan a crash left (an inode
 * unlinked while open when the volume stopped) starts its deletion
 * (DELETING, as its last close would have), and one sync deletes them.
 * Returns how many it deleted. An ORPHAN record naming no such inode, or one
 * with links, is left for fsck to report.
 */
export function cleanOrphans(mount: Mount): number {
  if (mount.readOnly) return 0;
  const found: Inode[] = [];
  for (const { pfs, elm, ip } of marks(mount, RecType.ORPHAN)) {
    if (ip === undefined || ip.ino.nlinks !== 0 || !ip.orphanOnDisk) {
      mount.bus.fact('volume', 'ORPHAN_STALE', { pfs, objId: elm.key });
      continue;
    }
    found.push(ip);
  }
  if (found.length === 0) return 0;
  for (const ip of found) {
    // The reference a handle held, let go: rel_inode starts the deletion as the last close does.
    mount.ref(ip);
    mount.rel(ip);
    assert(ip.has(InodeFlag.DELETING), 'an orphan with no links and no references is being deleted');
  }
  mount.syncAll();
  mount.bus.fact('volume', 'ORPHANS_DELETED', { inodes: found.map((ip) => ip.objId) });
  return found.length;
}

/**
 * Backend, in the cycle an emergency finalize is about to commit: `ip`'s
 * truncation is only part done (records past its size remain). A
 * TRUNCATION record says so until the truncation finishes, in this mount
 * (clearTruncation) or, after a crash, at the next read-write mount
 * (finishTruncations), as ext4's orphan list does for a truncate cut short.
 */
export function markTruncation(volume: Volume, ip: Inode): void {
  if (ip.truncationOnDisk) return;
  volume.insertRecord({ ...orphanKey(ip, RecType.TRUNCATION), objType: ip.ino.objType });
  ip.truncationOnDisk = true;
}

/** Backend, in the cycle that deletes the last records past the size (or the inode): the record goes. */
export function clearTruncation(volume: Volume, ip: Inode): void {
  if (!ip.truncationOnDisk) return;
  const elm = volume.lookup(orphanKey(ip, RecType.TRUNCATION));
  assert(elm !== undefined, 'an inode marked as truncating on disk has its TRUNCATION record');
  volume.destroyRecord(elm);
  ip.truncationOnDisk = false;
}

/**
 * A read-write mount (or a remount read-write), after recovery stage 2 and
 * before the orphans go: every truncation a crash left part done is queued
 * again from the inode's size (the records past it are deleted, the record
 * goes with the last of them), and one sync finishes them. Returns how many.
 * A TRUNCATION record naming no live inode goes (fact TRUNCATION_STALE).
 */
export function finishTruncations(mount: Mount): number {
  if (mount.readOnly) return 0;
  const found: Inode[] = [];
  const stale: BTreeKey[] = [];
  for (const { pfs, elm, ip } of marks(mount, RecType.TRUNCATION)) {
    if (ip === undefined) {
      mount.bus.fact('volume', 'TRUNCATION_STALE', { pfs, objId: elm.key });
      stale.push(elm);
      continue;
    }
    ip.truncationOnDisk = true;
    found.push(ip);
  }
  if (stale.length > 0) {
    mount.volume.beginCycle({ redoSyncOffset: mount.redo.oldest() });
    for (const elm of stale) mount.volume.destroyRecord(elm);
    mount.volume.commit();
  }
  if (found.length === 0) return 0;
  for (const ip of found) {
    ip.send({ type: 'MODIFY', flags: InodeFlag.TRUNCATED, truncOff: ip.ino.size });
    mount.modified(ip, InodeFlag.TRUNCATED);
  }
  mount.syncAll();
  mount.bus.fact('volume', 'TRUNCATIONS_FINISHED', { inodes: found.map((ip) => ip.objId) });
  return found.length;
}
