import { FsError } from '../storage/errors.js';
import { nameByteLength, nameBytes } from '../storage/format/names.js';
import { decodePfs, NAME_MAX, PFS_MIRROR_DELETED } from '../storage/format/records.js';
import { ObjType, parseTid, RecType, ROOT_OBJ_ID, TID_MAX } from '../storage/layout.js';
import { checkAccess } from './access.js';
import { type Caller, X_OK } from './api.js';
import type { Inode } from './inode.js';
import { ASOF, dataLocalization, PFS_NAME, pfsLocalization, ROOT_ASOF } from './keys.js';
import type { Mount } from './mount.js';
import { type Entry, lookupEntry, readSymlink } from './namespace.js';

/** Symlinks followed in one path walk before ELOOP (BSD's MAXSYMLINKS). */
export const SYMLINK_LIMIT = 32;
/** Path length limit in bytes, like PATH_MAX (the terminating NUL not counted). */
export const PATH_MAX = 4096;

export interface Resolved {
  /** The inode at the path (undefined when asked for the parent and the last name does not exist). */
  ip: Inode | undefined;
  /** The directory holding the last component (the root for '/'). */
  parent: Inode;
  /** The last component, with any @@ suffix removed. */
  name: string;
  entry: Entry | undefined;
  /** The TID the last component is viewed at (TID_MAX: live). */
  asof: number;
  /** `createFile` only: the last component came with a trailing slash (the path's or a followed symlink's), not looked up. */
  slash?: true;
}

/**
 * Split an absolute path into components ('.' kept: it must name a
 * directory, like any component followed by more); EINVAL for anything
 * else, ENAMETOOLONG past PATH_MAX bytes or for a component past NAME_MAX
 * bytes (its @@ suffix not counted).
 */
export function splitPath(path: unknown): string[] {
  if (typeof path !== 'string') throw new FsError('EINVAL', `a path must be a string, got ${typeof path}`);
  if (!path.startsWith('/')) throw new FsError('EINVAL', 'paths are absolute (start with /)', { path });
  if (path.length > PATH_MAX / 3 && nameByteLength(path) > PATH_MAX)
    throw new FsError('ENAMETOOLONG', `path longer than ${PATH_MAX} bytes`, { path });
  if (path.includes('\0')) throw new FsError('EINVAL', 'a path cannot contain NUL', { path });
  const parts = path.split('/').filter((part) => part.length > 0);
  // A name of bytes that are not UTF-8 is escaped (storage/format/names.ts); a lone surrogate that stands for no byte is refused.
  const text = path.isWellFormed();
  for (const part of parts) {
    if (!text && nameBytes(part) === undefined)
      throw new FsError('EINVAL', 'a name that stands for no bytes (a lone surrogate outside U+DC80-U+DCFF)', { path });
    if (part.length > NAME_MAX / 3 && nameByteLength(part.replace(AT_SUFFIX, '')) > NAME_MAX)
      throw new FsError('ENAMETOOLONG', `a name longer than ${NAME_MAX} bytes`, { path });
  }
  return parts;
}

const AT_SUFFIX = /@@0x[0-9a-fA-F]{16}$/;

/** The last component when it is '.' or '..' ('/a/.', '/a/..', '/a/../'): the calls that name an entry refuse it. */
export function finalDot(path: string): '.' | '..' | undefined {
  const parts = path.split('/').filter((part) => part.length > 0);
  const last = parts[parts.length - 1];
  return last === '.' || last === '..' ? last : undefined;
}

/** A component's name and the TID it asks for. */
export function parseComponent(part: string, asof: number, path: string): { name: string; asof: number } {
  const match = ASOF.exec(part);
  if (match === null) return { name: part, asof };
  const tid = parseTid(match[2] ?? '');
  if (tid === undefined) throw new FsError('EINVAL', `bad TID in '${part}'`, { path });
  return { name: match[1] ?? '', asof: tid };
}

/**
 * Walk `path` from `root`. `follow`: follow a symlink in the last component.
 * `parentOnly`: the last component may be missing (create, rename target).
 * `named`: the last component is answered whatever it is, a trailing slash
 * after a non-directory too (mkdir, link and symlink then say EEXIST).
 * `createFile` (open with O_CREAT): a last component that comes with a
 * trailing slash, the path's or a followed symlink's, is not looked up: the
 * answer is `slash` (EISDIR for the caller, as Linux's open(2) has it).
 * Components after `name@@0x<tid>` are read as of that TID, read-only.
 */
export function resolvePath(
  mount: Mount,
  root: Inode,
  path: string,
  options: { follow: boolean; parentOnly?: boolean; named?: boolean; createFile?: boolean; caller: Caller },
): Resolved {
  let parts = splitPath(path);
  let cur = root;
  let parent = root;
  // An as-of mount's root is viewed at its TID, and so is everything below it.
  let asof = root.asof;
  let links = 0;
  // Root searches every directory: the check costs nothing then.
  const caller = options.caller.uid === 0 ? undefined : options.caller;
  // 'name/' names a directory: a symlink there is followed on lookups, anything else is ENOTDIR.
  let trailingSlash = path.endsWith('/');
  if (parts.length === 0) return { ip: root, parent: root, name: '', entry: undefined, asof };
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    const last = i === parts.length - 1;
    if (!cur.isDirectory) throw new FsError('ENOTDIR', 'not a directory', { path });
    if (caller !== undefined) checkAccess(caller, cur.ino, X_OK, path);
    if (last && trailingSlash && options.createFile)
      return { ip: undefined, parent: cur, name: part, entry: undefined, asof, slash: true };
    if (part === '.' || part === '..') {
      if (part === '..') cur = parentOf(mount, cur, root) ?? cur;
      if (last) return { ip: cur, parent: cur, name: '', entry: undefined, asof };
      continue;
    }
    // Every as-of and PFS component has '@@': a plain name skips the three patterns.
    const special = part.includes('@@');
    const pfs = special ? PFS_NAME.exec(part) : null;
    if (pfs !== null) {
      if (cur.objId !== ROOT_OBJ_ID)
        throw new FsError('EINVAL', 'a PFS is reached from a root directory only', { path });
      cur = pfsRoot(mount, Number(pfs[1]), path, asof);
      if (last) return { ip: cur, parent: cur, name: '', entry: undefined, asof };
      continue;
    }
    const rootAsof = special ? ROOT_ASOF.exec(part) : null;
    if (rootAsof !== null) {
      if (cur.objId !== ROOT_OBJ_ID) throw new FsError('EINVAL', `'${part}' views a root directory only`, { path });
      const tid = parseTid(rootAsof[1] ?? '');
      if (tid === undefined) throw new FsError('EINVAL', `bad TID in '${part}'`, { path });
      const view = mount.get(cur.localization, ROOT_OBJ_ID, tid);
      if (view === undefined) throw new FsError('ENOENT', `the root did not exist as of ${rootAsof[1]}`, { path });
      cur = view;
      asof = tid;
      if (last) return { ip: cur, parent: cur, name: '', entry: undefined, asof };
      continue;
    }
    const component = special ? parseComponent(part, asof, path) : undefined;
    const name = component === undefined ? part : component.name;
    const viewAsof = component === undefined ? asof : component.asof;
    const entry = lookupEntry(mount, cur, name, viewAsof);
    if (entry === undefined) {
      if (last && options.parentOnly) return { ip: undefined, parent: cur, name, entry, asof: viewAsof };
      throw new FsError('ENOENT', 'no such file or directory', { path });
    }
    const child = load(mount, entry, viewAsof, path);
    asof = viewAsof;
    if (child.ino.objType === ObjType.SOFTLINK && (!last || options.follow || (trailingSlash && !options.parentOnly))) {
      if (++links > SYMLINK_LIMIT) throw new FsError('ELOOP', 'too many symbolic links', { path });
      const target = readSymlink(mount, child);
      const rest = parts.slice(i + 1);
      // A link followed as the last component passes on its target's trailing slash.
      if (rest.length === 0 && target.endsWith('/')) trailingSlash = true;
      const targetParts = target.split('/').filter((p) => p.length > 0);
      // Walk on from the link's directory (or the root) through the target, then the rest.
      if (target.startsWith('/')) cur = root;
      parts = [...targetParts, ...rest];
      i = -1;
      if (parts.length === 0) return { ip: cur, parent: cur, name: '', entry: undefined, asof };
      continue;
    }
    if (last) {
      if (trailingSlash && !child.isDirectory && options.named !== true)
        throw new FsError('ENOTDIR', 'not a directory (trailing /)', { path });
      return { ip: child, parent: cur, name, entry, asof: viewAsof };
    }
    parent = cur;
    cur = child;
  }
  return { ip: cur, parent, name: '', entry: undefined, asof };
}

function load(mount: Mount, entry: Entry, asof: number, path: string): Inode {
  const ip = mount.get(entry.localization, entry.objId, asof);
  if (ip !== undefined) return ip;
  if (asof !== TID_MAX) return mount.dummy(entry.localization, entry.objId, asof, 0);
  throw new FsError('EIO', `directory entry '${entry.name}' names inode ${entry.objId}, which does not exist`, {
    path,
  });
}

function parentOf(mount: Mount, dir: Inode, root: Inode): Inode | undefined {
  if (dir === root || dir.objId === ROOT_OBJ_ID) return root;
  return mount.get(dir.localization, dir.ino.parentObjId, dir.asof);
}

/** The root directory of PFS `id` (EINVAL for a PFS that does not exist or was destroyed). */
export function pfsRoot(mount: Mount, id: number, path: string, asof = TID_MAX): Inode {
  const elm = mount.volume.lookup(
    { localization: dataLocalization(0), objId: ROOT_OBJ_ID, recType: RecType.PFS, key: id },
    asof,
  );
  const pfs = elm === undefined ? undefined : decodePfs(mount.volume.readData(elm), `PFS ${id}`);
  if (pfs === undefined || pfs.mirrorFlags & PFS_MIRROR_DELETED) {
    throw new FsError('ENOENT', `no PFS ${id}`, { path });
  }
  const root = mount.get(pfsLocalization(id), ROOT_OBJ_ID, asof);
  if (root === undefined) throw new FsError('EIO', `PFS ${id} has no root inode`, { path });
  return root;
}
