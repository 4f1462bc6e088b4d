import { InodeFlag } from '../machines/inode-flags.js';
import { FsError } from '../storage/errors.js';
import { nameByteLength, nameBytes } from '../storage/format/names.js';
import { ObjType, ROOT_OBJ_ID, TID_MAX } from '../storage/layout.js';
import { checkChown, checkOwner, checkSticky, inGroup, S_ISGID, S_ISUID } from './access.js';
import { UF_NOHISTORY, W_OK, X_OK } from './api.js';
import { FsCore, toMicros } from './fs-core.js';
import type { Inode } from './inode.js';
import {
  addEntry,
  addSymlinkRecord,
  checkDirectory,
  listEntries,
  readSymlink,
  removeEntry,
  symlinkBytes,
} from './namespace.js';
import { finalDot, PATH_MAX, type Resolved } from './resolve.js';

const S_IFMT = 0o170000;

/** The calls that change names (unlink, link, symlink, rename) and attributes (times, mode, owner, flags). */
export abstract class FsNames extends FsCore {
  unlink(path: string): Promise<void> {
    return this.change('unlink', { path }, () => {
      if (finalDot(path) !== undefined) {
        this.existing(path);
        throw new FsError('EISDIR', "'.' and '..' are directories", { path });
      }
      const r = this.forCreate(path);
      const ip = r.ip;
      if (ip === undefined) throw new FsError('ENOENT', 'no such file or directory', { path });
      this.mayRemoveFrom(r.parent, ip, path);
      if (ip.isDirectory) throw new FsError('EISDIR', 'illegal operation on a directory', { path });
      this.unlinkEntry(r.parent, r, ip, path);
    });
  }

  link(existing: string, newPath: string): Promise<void> {
    return this.change('link', { path: newPath, existing }, () => {
      const ip = this.existing(existing, false);
      // The new name's faults first (EEXIST, ENOENT, EACCES, EXDEV), then the directory's EPERM (link(2) on Linux).
      const r = this.forCreate(newPath, true);
      if (r.ip !== undefined) throw new FsError('EEXIST', 'file exists', { path: newPath });
      newLinkNamed(newPath);
      this.mayAddTo(r.parent, newPath);
      if (r.parent.localization !== ip.localization)
        throw new FsError('EXDEV', 'a link cannot cross PFSes', { path: newPath });
      if (ip.isDirectory) throw new FsError('EPERM', 'hard links to directories are not allowed', { path: existing });
      this.writable(ip, existing);
      checkDirectory(r.parent, newPath);
      if (r.parent.ino.nlinks === 0) throw new FsError('EINVAL', 'the directory has been deleted', { path: newPath });
      addEntry(this.mount, r.parent, r.name, ip, newPath);
      this.mount.inodeSettled(ip);
    });
  }

  symlink(target: string, path: string): Promise<void> {
    return this.change('symlink', { path, target }, () => {
      if (typeof target !== 'string' || target.length === 0)
        throw new FsError('ENOENT', 'empty symlink target', { path });
      if (target.includes('\0')) throw new FsError('EINVAL', 'a symlink target cannot contain NUL', { path });
      if (!target.isWellFormed() && nameBytes(target) === undefined)
        throw new FsError('EINVAL', 'a symlink target that stands for no bytes', { path });
      if (nameByteLength(target) > PATH_MAX)
        throw new FsError('ENAMETOOLONG', `a symlink target longer than ${PATH_MAX} bytes`, { path });
      const r = this.forCreate(path, true);
      if (r.ip !== undefined) throw new FsError('EEXIST', 'file exists', { path });
      newLinkNamed(path);
      const { inline, bytes } = symlinkBytes(target);
      const ip = this.create(r, { objType: ObjType.SOFTLINK, mode: 0o777, symlink: inline, size: bytes.length }, path);
      if (inline === undefined) addSymlinkRecord(this.mount, ip, bytes, path);
      this.mount.inodeSettled(ip);
    });
  }

  readlink(path: string): Promise<string> {
    return this.op('readlink', { path }, () => {
      const ip = this.existing(path, false);
      if (ip.ino.objType !== ObjType.SOFTLINK) throw new FsError('EINVAL', 'not a symbolic link', { path });
      return readSymlink(this.mount, ip);
    });
  }

  /**
   * rename(2): the new entry first, then the old one goes (and a replaced
   * target's entry before both). A directory moved elsewhere gets its new
   * parent; moving a directory under itself is EINVAL.
   */
  rename(from: string, to: string): Promise<void> {
    return this.change('rename', { path: from, to }, () => {
      for (const path of [from, to]) {
        if (finalDot(path) !== undefined) throw new FsError('EINVAL', "rename of '.' or '..'", { path });
      }
      // Both directories are walked and searched before either name is looked up in them (rename(2) on Linux).
      this.searchable(from);
      this.searchable(to);
      const source = this.forCreate(from);
      const ip = source.ip;
      if (ip === undefined || source.entry === undefined)
        throw new FsError('ENOENT', 'no such file or directory', { path: from });
      // What is at `to` is judged below (a trailing slash after a non-directory, ENOTDIR, after the permissions).
      const target = this.forCreate(to, true);
      // 'to/' names a directory: moving anything else there is ENOTDIR, as rename(2) says.
      if (!ip.isDirectory && to.endsWith('/'))
        throw new FsError('ENOTDIR', 'not a directory (trailing /)', { path: to });
      if (ip.isDirectory) this.checkNotUnder(ip, target.parent, to);
      // A target directory that holds the source (its directory or above) is ENOTEMPTY before the kinds are compared.
      if (target.ip?.isDirectory && target.ip !== ip && this.under(source.parent, target.ip))
        throw new FsError('ENOTEMPTY', 'the target directory holds the source', { path: to });
      // One file under both names: nothing to do, and nothing more is checked (vfs_rename returns first).
      if (target.ip === ip) return;
      this.mayRemoveFrom(source.parent, ip, from);
      this.mayAddTo(target.parent, to);
      if (target.ip !== undefined) checkSticky(this.caller, target.parent.ino, target.ip.ino, to);
      // The kinds are compared before the source directory's own permission (vfs_rename's may_delete of the target).
      if (target.ip?.isDirectory && !ip.isDirectory)
        throw new FsError('EISDIR', 'cannot overwrite a directory with a file', { path: to });
      if (target.ip !== undefined && !target.ip.isDirectory && ip.isDirectory)
        throw new FsError('ENOTDIR', 'cannot overwrite a file with a directory', { path: to });
      // A directory that changes parent has its '..' rewritten: the caller must be able to write it.
      if (ip.isDirectory && target.parent !== source.parent) this.may(ip, W_OK, from);
      checkDirectory(target.parent, to);
      if (target.parent.localization !== ip.localization)
        throw new FsError('EXDEV', 'a rename cannot cross PFSes', { path: to });
      if (target.parent.ino.nlinks === 0) throw new FsError('EINVAL', 'the directory has been deleted', { path: to });
      this.mount.ref(ip);
      try {
        if (target.ip !== undefined) this.replaceTarget(target, to);
        addEntry(this.mount, target.parent, target.name, ip, to);
        // The source entry as resolved at the start: re-walking `from` now could pass through
        // the very name just replaced (a symlink in its path).
        removeEntry(this.mount, source.parent, source.entry, ip, from);
        if (ip.isDirectory && ip.ino.parentObjId !== target.parent.objId) {
          const parentObjId = target.parent.objId;
          this.mount.edit(ip, InodeFlag.DDIRTY, (d) => {
            d.parentObjId = parentObjId;
          });
        }
      } finally {
        this.mount.rel(ip);
      }
      this.mount.inodeSettled(source.parent);
      this.mount.inodeSettled(target.parent);
    });
  }

  protected replaceTarget(target: Resolved, to: string): void {
    const victim = target.ip;
    if (victim === undefined) return;
    // The kinds were compared by rename before anything changed.
    if (victim.isDirectory && listEntries(this.mount, victim, TID_MAX).length > 0) {
      throw new FsError('ENOTEMPTY', 'directory not empty', { path: to });
    }
    this.unlinkEntry(target.parent, target, victim, to);
  }

  /** The directory `path` names an entry in: walked, a directory, and searchable by the caller. */
  private searchable(path: string): void {
    const dir = this.existing(parentPath(path));
    if (!dir.isDirectory) throw new FsError('ENOTDIR', 'not a directory', { path });
    this.may(dir, X_OK, path);
  }

  protected checkNotUnder(dir: Inode, parent: Inode, path: string): void {
    if (this.under(parent, dir)) throw new FsError('EINVAL', 'cannot move a directory under itself', { path });
  }

  /** `dir` is `start` or one of its ancestors. */
  private under(start: Inode, dir: Inode): boolean {
    for (let cur: Inode | undefined = start, depth = 0; cur !== undefined; depth++) {
      if (cur === dir) return true;
      if (cur.objId === ROOT_OBJ_ID || depth > 100_000) return false;
      cur = this.mount.get(cur.localization, cur.ino.parentObjId);
    }
    return false;
  }

  // --- attributes ---------------------------------------------------------

  utimes(path: string, atime: number | Date, mtime: number | Date): Promise<void> {
    return this.setTimes('utimes', path, atime, mtime, true);
  }

  /** utimes on a symbolic link itself (node's lutimes; what the kernel's setattr means). */
  lutimes(path: string, atime: number | Date, mtime: number | Date): Promise<void> {
    return this.setTimes('lutimes', path, atime, mtime, false);
  }

  private setTimes(type: string, path: string, atime: number | Date, mtime: number | Date, follow: boolean) {
    return this.change(type, { path, atime: loggedTime(atime), mtime: loggedTime(mtime) }, () => {
      const ip = this.existing(path, follow);
      this.writable(ip, path);
      // Explicit times: the owner's or root's (setting them to "now" with write access is not in this API).
      checkOwner(this.caller, ip.ino, 'utimes', path);
      const a = toMicros(atime, path);
      const m = toMicros(mtime, path);
      this.mount.edit(ip, InodeFlag.ATIME | InodeFlag.MTIME, (draft) => {
        draft.atime = a;
        draft.mtime = m;
      });
      this.mount.inodeSettled(ip);
    });
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.change('chmod', { path, mode }, () => {
      const ip = this.existing(path);
      this.writable(ip, path);
      if (!Number.isInteger(mode) || mode < 0) throw new FsError('EINVAL', `invalid mode ${mode}`, { path });
      checkOwner(this.caller, ip.ino, 'chmod', path);
      // BSD's ufs_chmod: set-group-id only on a file of one of the caller's own groups.
      if (this.caller.uid !== 0 && mode & S_ISGID && !inGroup(this.caller, ip.ino.gid))
        throw new FsError('EPERM', `chmod: set-group-id needs membership of group ${ip.ino.gid}`, { path });
      const now = this.mount.clock.now();
      this.mount.edit(ip, InodeFlag.DDIRTY, (d) => {
        d.mode = mode & 0o7777 & ~S_IFMT;
        d.ctime = now;
      });
      this.mount.inodeSettled(ip);
    });
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.setOwner('chown', path, uid, gid, true);
  }

  /** chown of a symbolic link itself (node's lchown). */
  lchown(path: string, uid: number, gid: number): Promise<void> {
    return this.setOwner('lchown', path, uid, gid, false);
  }

  private setOwner(type: string, path: string, uid: number, gid: number, follow: boolean): Promise<void> {
    return this.change(type, { path, uid, gid }, () => {
      const ip = this.existing(path, follow);
      this.writable(ip, path);
      for (const id of [uid, gid]) {
        if (!Number.isInteger(id) || id < -1 || id > 0xffffffff)
          throw new FsError('EINVAL', `invalid id ${id}`, { path });
      }
      const newUid = uid === -1 ? ip.ino.uid : uid;
      const newGid = gid === -1 ? ip.ino.gid : gid;
      checkChown(this.caller, ip.ino, newUid, newGid, path);
      // Not root: a change of owner or group drops set-user-id and set-group-id (ufs_chown).
      const keep =
        this.caller.uid === 0 || (newUid === ip.ino.uid && newGid === ip.ino.gid) ? 0o7777 : ~(S_ISUID | S_ISGID);
      const now = this.mount.clock.now();
      this.mount.edit(ip, InodeFlag.DDIRTY, (d) => {
        d.uid = newUid;
        d.gid = newGid;
        d.mode &= keep;
        d.ctime = now;
      });
      this.mount.inodeSettled(ip);
    });
  }

  chflags(path: string, flags: number): Promise<void> {
    return this.change('chflags', { path, flags }, () => {
      const ip = this.existing(path);
      this.writable(ip, path);
      checkOwner(this.caller, ip.ino, 'chflags', path);
      if (!Number.isInteger(flags) || flags < 0 || (flags & ~UF_NOHISTORY) !== 0) {
        throw new FsError('EINVAL', `unsupported flags 0x${flags.toString(16)} (only UF_NOHISTORY 0x40)`, { path });
      }
      const now = this.mount.clock.now();
      this.mount.edit(ip, InodeFlag.DDIRTY, (draft) => {
        draft.uflags = flags;
        draft.ctime = now;
      });
      this.mount.inodeSettled(ip);
    });
  }
}

/** A time argument as the log keeps it: seconds (a Date becomes its seconds; anything else is kept for the EINVAL). */
function loggedTime(time: number | Date): unknown {
  return time instanceof Date ? time.getTime() / 1000 : time;
}

/** The directory part of `path` ('/a/b/' gives '/a/'), for walking to a name's directory alone. */
function parentPath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(0, trimmed.lastIndexOf('/') + 1) || '/';
}

/** link(2), symlink(2): a new name with a trailing slash that does not exist is ENOENT (Linux's answer). */
function newLinkNamed(path: string): void {
  if (path.endsWith('/')) throw new FsError('ENOENT', 'a new link cannot be named with a trailing /', { path });
}
