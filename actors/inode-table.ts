import type { InodeData } from '../storage/format/records.js';
import { ObjType } from '../storage/layout.js';
import type { Inode } from './inode.js';

/**
 * The inode cache's index (HAMMER's inode RB-tree): cached inodes by obj_id
 * (ids are unique across PFSes except each PFS root), then (localization,
 * asof). Most ids have one inode, kept without an array. Iteration for
 * flushes is sorted by key (`sorted`), never by insertion.
 */
export class InodeTable {
  private readonly byObjId = new Map<number, Inode | Inode[]>();

  find(localization: number, objId: number, asof: number): Inode | undefined {
    const slot = this.byObjId.get(objId);
    if (slot === undefined) return undefined;
    if (!Array.isArray(slot)) return slot.localization === localization && slot.asof === asof ? slot : undefined;
    return slot.find((ip) => ip.localization === localization && ip.asof === asof);
  }

  insert(ip: Inode): void {
    const slot = this.byObjId.get(ip.objId);
    if (slot === undefined) this.byObjId.set(ip.objId, ip);
    else if (Array.isArray(slot)) slot.push(ip);
    else this.byObjId.set(ip.objId, [slot, ip]);
  }

  remove(ip: Inode): void {
    const slot = this.byObjId.get(ip.objId);
    if (slot === ip) this.byObjId.delete(ip.objId);
    else if (Array.isArray(slot)) {
      const rest = slot.filter((other) => other !== ip);
      if (rest.length === 1 && rest[0] !== undefined) this.byObjId.set(ip.objId, rest[0]);
      else this.byObjId.set(ip.objId, rest);
    }
  }

  /** Every cached inode, in key order (localization, obj_id, asof). */
  sorted(): Inode[] {
    return [...this.byObjId.values()]
      .flat()
      .sort((a, b) => a.localization - b.localization || a.objId - b.objId || a.asof - b.asof);
  }
}

/** hammer_get_dummy_inode's data: a read-only placeholder of `objType` (a regular file when unknown). */
export function dummyInodeData(objType: number): InodeData {
  return Object.freeze({
    version: 1,
    mode: 0,
    uflags: 0,
    rmajor: 0,
    rminor: 0,
    ctime: 0,
    parentObjId: 0,
    uid: 0,
    gid: 0,
    objType: objType === 0 ? ObjType.REGFILE : objType,
    capFlags: 0,
    nlinks: 1,
    size: 0,
    symlink: new Uint8Array(0),
    mtime: 0,
    atime: 0,
  });
}
