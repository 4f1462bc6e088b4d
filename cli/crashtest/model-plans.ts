import { Errno, errno, type FsModel, type Resolved } from './fs-model.js';

/**
 * The model's verdict on each call, before it is made: what it will touch,
 * or an `Errno` with every code POSIX (as Linux orders its checks) allows.
 * Shared by the model test (test/fs-model.test.ts, which compares the real
 * call's outcome with it) and by the crash test's log model (log-model.ts,
 * which derives the expected states from the event log).
 */

/** An error that is an Errno gives its codes; anything else is a bug of the model and propagates. */
export function codesOf(error: unknown): string[] {
  if (error instanceof Errno) return error.codes;
  throw error;
}

/** mkdir and symlink: a new name. */
export function planNewEntry(m: FsModel, path: string): Resolved {
  const r = m.resolve(path, false, true);
  if (r.ino !== undefined) throw errno('EEXIST');
  return r;
}

export function planRmdir(m: FsModel, path: string): Resolved {
  const r = m.resolve(path, false);
  const node = m.node(r.ino ?? -1);
  if (node.kind !== 'dir') throw errno('ENOTDIR');
  if (node.entries.size > 0) throw errno('ENOTEMPTY', 'EEXIST');
  return r;
}

export function planUnlink(m: FsModel, path: string): Resolved {
  const r = m.resolve(path, false);
  if (m.node(r.ino ?? -1).kind === 'dir') throw errno('EISDIR', 'EPERM');
  return r;
}

/** writeFile and appendFile: the file (created if missing), following symlinks. */
export function planWriteFile(m: FsModel, path: string): Resolved {
  const r = m.resolve(path, true, true);
  if (r.ino !== undefined && m.node(r.ino).kind === 'dir') throw errno('EISDIR');
  return r;
}

/** truncate(path): the file's inode. */
export function planTruncate(m: FsModel, path: string): number {
  const r = m.resolve(path, true);
  if (m.node(r.ino ?? -1).kind === 'dir') throw errno('EISDIR');
  return r.ino ?? -1;
}

/** open(path, flags) for the flags the model knows: r, r+, w, w+, wx, wx+, a, a+, ax. */
export function planOpen(m: FsModel, path: string, flags: string): Resolved {
  const exclusive = flags.includes('x');
  const creates = flags.startsWith('w') || flags.startsWith('a');
  const r = m.resolve(path, !exclusive, creates);
  if (exclusive && r.ino !== undefined) throw errno('EEXIST');
  const writes = creates || flags.includes('+');
  if (r.ino !== undefined && m.node(r.ino).kind === 'dir' && writes) throw errno('EISDIR');
  return r;
}

export interface LinkPlan {
  source: number;
  target: Resolved;
}

export function planLink(m: FsModel, from: string, to: string): LinkPlan {
  const codes: string[] = [];
  let source: number | undefined;
  try {
    source = m.resolve(from, false).ino;
    if (m.node(source ?? -1).kind === 'dir') codes.push('EPERM');
  } catch (error) {
    codes.push(...codesOf(error));
  }
  let target: Resolved | undefined;
  try {
    target = m.resolve(to, false, true);
    if (target.ino !== undefined) codes.push('EEXIST');
  } catch (error) {
    codes.push(...codesOf(error));
  }
  if (codes.length > 0 || source === undefined || target === undefined) throw errno(...codes);
  return { source, target };
}

export function applyLink(m: FsModel, plan: LinkPlan): void {
  m.setEntry(plan.target.parent, plan.target.name, plan.source);
  m.relink(plan.source, 1);
}

export interface RenamePlan {
  source: Resolved;
  target: Resolved;
  /** Both names are the same inode: rename does nothing. */
  same: boolean;
}

/** rename(2) as Linux orders its checks; where several apply, any of their codes is allowed. */
export function planRename(m: FsModel, from: string, to: string): RenamePlan {
  const codes: string[] = [];
  let source: Resolved | undefined;
  let target: Resolved | undefined;
  try {
    source = m.resolve(from, false);
  } catch (error) {
    codes.push(...codesOf(error));
  }
  try {
    target = m.resolve(to, false, true);
  } catch (error) {
    codes.push(...codesOf(error));
  }
  if (source === undefined || target === undefined) throw errno(...codes);
  const ino = source.ino ?? -1;
  if (ino === target.ino) return { source, target, same: true };
  const node = m.node(ino);
  if (node.kind === 'dir' && m.isUnder(target.parent, ino)) throw errno('EINVAL');
  if (target.ino !== undefined) {
    const victim = m.node(target.ino);
    // The target is an ancestor of the source: Linux says ENOTEMPTY before the type checks.
    if (victim.kind === 'dir' && m.isUnder(source.parent, target.ino)) codes.push('ENOTEMPTY', 'EEXIST');
    if (victim.kind === 'dir' && node.kind !== 'dir') codes.push('EISDIR');
    if (victim.kind !== 'dir' && node.kind === 'dir') codes.push('ENOTDIR');
    if (victim.kind === 'dir' && node.kind === 'dir' && victim.entries.size > 0) codes.push('ENOTEMPTY', 'EEXIST');
  }
  if (codes.length > 0) throw errno(...codes);
  return { source, target, same: false };
}

export function applyRename(m: FsModel, plan: RenamePlan): void {
  if (plan.same) return;
  const { source, target } = plan;
  const ino = source.ino ?? -1;
  if (target.ino !== undefined) m.removeEntry(target.parent, target.name);
  m.setEntry(target.parent, target.name, ino);
  m.setEntry(source.parent, source.name, undefined);
  const node = m.node(ino);
  if (node.kind === 'dir') m.inodes.set(ino, { ...node, parent: target.parent });
}
