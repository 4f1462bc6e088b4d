import { FsError } from '../storage/errors.js';
import {
  decodeInode,
  decodePfs,
  decodeSnapshot,
  encodeInode,
  encodePfs,
  encodeSnapshot,
  PFS_MIRROR_DELETED,
  rootDirectoryInode,
} from '../storage/format/records.js';
import { formatTid, KEY_MAX, KEY_MIN, ObjType, RecType, ROOT_OBJ_ID, TID_MAX } from '../storage/layout.js';
import type { PfsInfo, Version } from './api.js';
import type { Inode } from './inode.js';
import { dataLocalization, inodeLocalization, pfsLocalization, rangeHi, rangeLo } from './keys.js';
import type { Mount } from './mount.js';

/**
 * History, snapshots and PFS management: the parts of the API that read the
 * B-tree's versions or write records outside any inode's flush (each in a
 * cycle of its own, between flush groups).
 */

/** Every version of `ip`: the TIDs its inode record or its data/auxiliary records were created in. */
export function history(mount: Mount, ip: Inode): Version[] {
  const byTid = new Map<number, Version>();
  const inodeLoc = inodeLocalization(ip.localization);
  const inodes = mount.volume.scan(
    rangeLo(inodeLoc, ip.objId, RecType.INODE, 0),
    rangeHi(inodeLoc, ip.objId, RecType.INODE, 0),
  );
  for (const elm of inodes) {
    const ino = decodeInode(mount.volume.readData(elm), `inode ${ip.objId}`);
    byTid.set(elm.createTid, {
      tid: elm.createTid,
      tidHex: formatTid(elm.createTid),
      what: ['inode'],
      size: ino.size,
      mtimeMs: ino.mtime / 1000,
    });
  }
  const dataLoc = dataLocalization(ip.localization);
  const records = mount.volume.scan(
    rangeLo(dataLoc, ip.objId, 0, KEY_MIN),
    rangeHi(dataLoc, ip.objId, 0xffff, KEY_MAX),
  );
  for (const elm of records) {
    const version = byTid.get(elm.createTid);
    if (version === undefined) {
      byTid.set(elm.createTid, {
        tid: elm.createTid,
        tidHex: formatTid(elm.createTid),
        what: ['data'],
        size: -1,
        mtimeMs: 0,
      });
    } else if (!version.what.includes('data')) {
      version.what.push('data');
    }
  }
  const versions = [...byTid.values()].sort((a, b) => a.tid - b.tid);
  // A data-only version reports the inode as it was at that TID.
  for (const version of versions) {
    if (version.size >= 0) continue;
    const elm = mount.volume.lookup(
      { localization: inodeLoc, objId: ip.objId, recType: RecType.INODE, key: 0 },
      version.tid,
    );
    if (elm === undefined) continue;
    const ino = decodeInode(mount.volume.readData(elm), `inode ${ip.objId}`);
    version.size = ino.size;
    version.mtimeMs = ino.mtime / 1000;
  }
  return versions;
}

/** Record a snapshot of PFS `pfsId` at `tid` (a SNAPSHOT record under its root, in a cycle of its own). */
export function recordSnapshot(mount: Mount, pfsId: number, tid: number, label: string): void {
  if (Buffer.byteLength(label, 'utf8') > 63) throw new FsError('EINVAL', 'a snapshot label is at most 63 bytes');
  mount.volume.beginCycle({ redoSyncOffset: mount.redo.oldest() });
  try {
    const base = {
      localization: dataLocalization(pfsLocalization(pfsId)),
      objId: ROOT_OBJ_ID,
      recType: RecType.SNAPSHOT,
      key: tid,
    };
    if (mount.volume.lookup(base) === undefined) {
      mount.volume.insertRecord({ ...base, objType: 0 }, encodeSnapshot({ tid, ts: mount.clock.now(), label }));
    }
    mount.volume.commit();
  } catch (error) {
    mount.volume.abort();
    throw error;
  }
  mount.bus.fact('volume', 'SNAPSHOT', { tid, label, pfs: pfsId });
}

export function listSnapshots(mount: Mount, pfsId: number): Array<{ tid: number; label: string }> {
  const loc = dataLocalization(pfsLocalization(pfsId));
  const elms = mount.volume.scan(
    rangeLo(loc, ROOT_OBJ_ID, RecType.SNAPSHOT, KEY_MIN),
    rangeHi(loc, ROOT_OBJ_ID, RecType.SNAPSHOT, KEY_MAX),
    TID_MAX,
  );
  return elms.map((elm) => {
    const snapshot = decodeSnapshot(mount.volume.readData(elm), `snapshot ${formatTid(elm.key)}`);
    return { tid: snapshot.tid, label: snapshot.label };
  });
}

const PFS_LOC = dataLocalization(0);

export function listPfs(mount: Mount): PfsInfo[] {
  const elms = mount.volume.scan(
    rangeLo(PFS_LOC, ROOT_OBJ_ID, RecType.PFS, KEY_MIN),
    rangeHi(PFS_LOC, ROOT_OBJ_ID, RecType.PFS, KEY_MAX),
    TID_MAX,
  );
  const out: PfsInfo[] = [];
  for (const elm of elms) {
    const pfs = decodePfs(mount.volume.readData(elm), `PFS ${elm.key}`);
    if (!(pfs.mirrorFlags & PFS_MIRROR_DELETED)) out.push({ id: elm.key, label: pfs.label });
  }
  return out;
}

/** hammer_save_pseudofs + hammer_mkroot_pseudofs: a new PFS record and its root directory, in one cycle. */
export function createPfs(mount: Mount, label: string): PfsInfo {
  if (Buffer.byteLength(label, 'utf8') > 63) throw new FsError('EINVAL', 'a PFS label is at most 63 bytes');
  const all = mount.volume.scan(
    rangeLo(PFS_LOC, ROOT_OBJ_ID, RecType.PFS, KEY_MIN),
    rangeHi(PFS_LOC, ROOT_OBJ_ID, RecType.PFS, KEY_MAX),
  );
  const id = all.reduce((max, elm) => Math.max(max, elm.key), 0) + 1;
  if (id > 0xffff) throw new FsError('ENOSPC', 'every PFS id is in use');
  const now = mount.clock.now();
  mount.volume.beginCycle({ redoSyncOffset: mount.redo.oldest() });
  try {
    const fsid = mount.volume.stats().fsid;
    mount.volume.insertRecord(
      { localization: PFS_LOC, objId: ROOT_OBJ_ID, recType: RecType.PFS, key: id, objType: 0 },
      encodePfs({
        syncBegTid: 0,
        syncEndTid: 0,
        sharedUuid: fsid,
        uniqueUuid: fsid,
        mirrorFlags: 0,
        label,
        pruneMin: 0,
        pruneMax: 0,
      }),
    );
    const root = encodeInode(rootDirectoryInode(now));
    mount.volume.insertRecord(
      {
        localization: inodeLocalization(pfsLocalization(id)),
        objId: ROOT_OBJ_ID,
        recType: RecType.INODE,
        key: 0,
        objType: ObjType.DIRECTORY,
      },
      root,
    );
    mount.volume.adjustInodeCount(1);
    mount.volume.commit();
  } catch (error) {
    mount.volume.abort();
    throw error;
  }
  mount.bus.fact('volume', 'PFS_CREATE', { id, label });
  return { id, label };
}

/**
 * hammer_unload_pseudofs, then the destroy: ENOTEMPTY while any inode of the
 * PFS is in use (referenced, dirty or flushing); else its cached inodes are
 * unloaded and every record of the PFS is removed, in one cycle.
 */
export function destroyPfs(mount: Mount, id: number): void {
  if (!Number.isInteger(id) || id <= 0 || id > 0xffff) throw new FsError('EINVAL', `PFS ${id} cannot be destroyed`);
  const elm = mount.volume.lookup({ localization: PFS_LOC, objId: ROOT_OBJ_ID, recType: RecType.PFS, key: id });
  if (elm === undefined) throw new FsError('ENOENT', `no PFS ${id}`);
  const loc = pfsLocalization(id);
  const mine = mount.cached().filter((ip) => ip.localization === loc);
  const busy = mine.find(
    (ip) => ip.refs > 0 || ip.dirty || ip.state !== 'idle' || ip.records.size > 0 || ip.targetList.length > 0,
  );
  if (busy !== undefined) throw new FsError('ENOTEMPTY', `PFS ${id} is in use (inode ${busy.objId})`);
  for (const ip of mine) mount.unload(ip);
  mount.volume.beginCycle({ redoSyncOffset: mount.redo.oldest() });
  try {
    const pfs = decodePfs(mount.volume.readData(elm), `PFS ${id}`);
    mount.volume.deleteRecord(elm);
    mount.volume.insertRecord(
      { localization: PFS_LOC, objId: ROOT_OBJ_ID, recType: RecType.PFS, key: id, objType: 0 },
      encodePfs({ ...pfs, mirrorFlags: pfs.mirrorFlags | PFS_MIRROR_DELETED }),
    );
    let inodes = 0;
    for (const space of [inodeLocalization(loc), dataLocalization(loc)]) {
      const lo = { localization: space, objId: KEY_MIN, recType: 0, key: KEY_MIN, createTid: 1 };
      const hi = { localization: space, objId: KEY_MAX, recType: 0xffff, key: KEY_MAX, createTid: 0 };
      for (const rec of mount.volume.scan(lo, hi)) {
        if (rec.recType === RecType.INODE && rec.deleteTid === 0) inodes++;
        mount.volume.destroyRecord(rec);
      }
    }
    mount.volume.adjustInodeCount(-inodes);
    mount.volume.commit();
  } catch (error) {
    mount.volume.abort();
    throw error;
  }
  mount.bus.fact('volume', 'PFS_DESTROY', { id });
}
