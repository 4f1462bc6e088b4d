import { InodeFlag } from '../machines/inode-flags.js';
import { FsError } from '../storage/errors.js';
import { RedoFlag } from '../storage/format/fifo.js';
import { LOCALIZE_MISC, TID_MAX } from '../storage/layout.js';
import { truncateData, writeData } from './file-data.js';
import type { Mount } from './mount.js';

/**
 * A remount between read-only and read-write (mount -u, hammer_remount):
 * turning read-only flushes everything first; turning read-write makes the
 * volume writable (a read-only mount's recovery stage 1, kept in memory,
 * is written now) and the caller then runs recovery stage 2 (replayRedo).
 * Either way every cached inode takes the mount's RO flag
 * (hammer_reload_inode). An as-of mount stays read-only; a mount that had
 * a critical error cannot be remounted (unmount, then mount again).
 */
export function remount(mount: Mount, options: { readOnly: boolean }): void {
  if (typeof options?.readOnly !== 'boolean') throw new FsError('EINVAL', 'remount takes { readOnly: boolean }');
  mount.checkDurable();
  const readOnly = options.readOnly;
  if (mount.asof !== TID_MAX && !readOnly) throw new FsError('EROFS', 'an as-of mount is read-only');
  if (readOnly === mount.readOnly) return;
  if (readOnly) {
    mount.syncAll();
  } else {
    // A mount whose changes could not be logged refuses to start changing the volume.
    mount.logCheck?.();
  }
  mount.volume.setReadOnly(readOnly);
  mount.reload(readOnly);
  mount.bus.fact('volume', 'REMOUNT', { readOnly });
}

/**
 * Recovery stage 2: every REDO WRITE / TRUNC that no TERM cancelled is
 * re-executed in FIFO order (a vanished inode is skipped), then synced. A
 * read-only mount leaves it for its remount read-write. Returns how many
 * were re-executed.
 */
export function replayRedo(mount: Mount): number {
  const pending = mount.volume.recovery.redo;
  if (pending.length === 0 || mount.readOnly || mount.redoReplayed) return 0;
  mount.redoReplayed = true;
  let replayed = 0;
  for (const { record } of pending) {
    const localization = record.localization - LOCALIZE_MISC;
    const ip = mount.get(localization, record.objId);
    if (ip === undefined || !ip.has(InodeFlag.ONDISK)) {
      mount.bus.fact('volume', 'REDO_SKIPPED', { objId: record.objId, offset: record.offset });
      continue;
    }
    mount.ref(ip);
    try {
      // What an fsync promised may use the slop a new write may not (actors/space.ts).
      const path = `inode ${record.objId}`;
      if (record.flags & RedoFlag.WRITE) writeData(mount, ip, record.offset, record.payload, path, 'recovery');
      if (record.flags & RedoFlag.TRUNC) truncateData(mount, ip, record.offset, path, false, 'recovery');
    } finally {
      mount.rel(ip);
    }
    replayed++;
  }
  mount.syncAll();
  mount.bus.fact('volume', 'REDO_REPLAYED', { records: pending.length, replayed });
  return replayed;
}
