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
function orphanKey(ip: Inode): Omit<BTreeKey, 'createTid'> {
  return {
    localization: dataLocalization(ip.localization),
    objId: ORPHAN_OBJ_ID,
    recType: RecType.ORPHAN,
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
  for (const pfs of listPfs(mount)) {
    const loc = dataLocalization(pfsLocalization(pfs.id));
    const lo = rangeLo(loc, ORPHAN_OBJ_ID, RecType.ORPHAN, KEY_MIN);
    const hi = rangeHi(loc, ORPHAN_OBJ_ID, RecType.ORPHAN, KEY_MAX);
    for (const elm of mount.volume.scan(lo, hi, TID_MAX)) {
      const ip = mount.get(pfsLocalization(pfs.id), elm.key);
      if (ip === undefined || ip.ino.nlinks !== 0 || !ip.orphanOnDisk) {
        mount.bus.fact('volume', 'ORPHAN_STALE', { pfs: pfs.id, objId: elm.key });
        continue;
      }
      found.push(ip);
    }
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
