import { FsError } from '../storage/errors.js';
import type { InodeData } from '../storage/format/records.js';
import { ObjType } from '../storage/layout.js';
import { type Caller, X_OK } from './api.js';

/** Set-user-id, set-group-id and sticky (S_ISTXT) bits of a mode. */
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;

/** Supplementary groups a caller may name, like NGROUPS_MAX. */
export const GROUPS_MAX = 1024;

/** The identity a mount acts as when it is given none: root, so every check passes as it did before identities. */
export const ROOT_CALLER: Caller = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([]) as readonly number[] });

function validId(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 0xffffffff;
}

/** A caller as given by a user (mount option, fs.as): checked, frozen, groups deduplicated. EINVAL otherwise. */
export function normalizeCaller(caller: unknown): Caller {
  if (typeof caller !== 'object' || caller === null) throw new FsError('EINVAL', 'a caller is { uid, gid, groups? }');
  const { uid, gid, groups = [] } = caller as { uid?: unknown; gid?: unknown; groups?: unknown };
  if (!validId(uid) || !validId(gid))
    throw new FsError('EINVAL', `caller uid and gid must be integers 0..2^32-1, got ${String(uid)}, ${String(gid)}`);
  if (!Array.isArray(groups) || groups.length > GROUPS_MAX || !groups.every(validId))
    throw new FsError('EINVAL', `caller groups must be at most ${GROUPS_MAX} ids 0..2^32-1`);
  const unique = [...new Set(groups as number[])].sort((a, b) => a - b);
  return Object.freeze({ uid, gid, groups: Object.freeze(unique) });
}

/** The caller is in group `gid` (its primary group or one of its supplementary groups). */
export function inGroup(caller: Caller, gid: number): boolean {
  return caller.gid === gid || (caller.groups?.includes(gid) ?? false);
}

/**
 * vop_access (vop_helper_access): may `caller` have `want` (R_OK | W_OK |
 * X_OK) of an inode? The owner class applies to the owner, the group class
 * to a member, the other class to the rest: one class, never a union. Root
 * may read and write anything and search any directory, but executes a file
 * only when some x bit is set.
 */
export function mayAccess(caller: Caller, ino: InodeData, want: number): boolean {
  if (caller.uid === 0) {
    if (!(want & X_OK) || ino.objType === ObjType.DIRECTORY) return true;
    return (ino.mode & 0o111) !== 0;
  }
  const shift = caller.uid === ino.uid ? 6 : inGroup(caller, ino.gid) ? 3 : 0;
  const granted = (ino.mode >> shift) & 0o7;
  return (granted & want) === want;
}

const WANTS = ['', 'execute', 'write', 'write and execute', 'read', 'read and execute', 'read and write', 'all'];

/** EACCES unless `caller` may have `want` of the inode. */
export function checkAccess(caller: Caller, ino: InodeData, want: number, path: string): void {
  if (mayAccess(caller, ino, want)) return;
  const what = ino.objType === ObjType.DIRECTORY ? (want === X_OK ? 'search' : WANTS[want]) : WANTS[want];
  throw new FsError('EACCES', `permission denied (${what} for uid ${caller.uid})`, { path });
}

/** chmod, chflags, utimes with explicit times: only the owner or root (EPERM). */
export function checkOwner(caller: Caller, ino: InodeData, op: string, path: string): void {
  if (caller.uid === 0 || caller.uid === ino.uid) return;
  throw new FsError('EPERM', `${op}: only the owner (uid ${ino.uid}) or root may, not uid ${caller.uid}`, { path });
}

/**
 * A sticky directory (S_ISVTX): an entry may be removed or renamed only by
 * the owner of the entry's inode, the owner of the directory, or root (EPERM).
 */
export function checkSticky(caller: Caller, dir: InodeData, victim: InodeData, path: string): void {
  if (!(dir.mode & S_ISVTX) || caller.uid === 0 || caller.uid === victim.uid || caller.uid === dir.uid) return;
  throw new FsError('EPERM', `sticky directory: uid ${caller.uid} owns neither the entry nor the directory`, { path });
}

/**
 * chown(2) as BSD's ufs_chown: root may set anything; the owner may only set
 * the group, to one it belongs to, and keep the uid (the caller turns
 * POSIX's -1, "leave it", into the current id first).
 */
export function checkChown(caller: Caller, ino: InodeData, uid: number, gid: number, path: string): void {
  if (caller.uid === 0) return;
  if (caller.uid !== ino.uid) throw new FsError('EPERM', `chown: uid ${caller.uid} does not own the file`, { path });
  if (uid !== ino.uid) throw new FsError('EPERM', 'chown: only root may give a file away', { path });
  if (gid !== ino.gid && !inGroup(caller, gid))
    throw new FsError('EPERM', `chown: uid ${caller.uid} is not in group ${gid}`, { path });
}
