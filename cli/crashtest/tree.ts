import type { FileSystem } from '../../actors/api.js';
import type { FsState, MInode } from './fs-model.js';

const join = (dir: string, entry: string) => (dir.endsWith('/') ? `${dir}${entry}` : `${dir}/${entry}`);

/** A call's error message when it failed with a node-style code; an error without a code propagates. */
async function lstatOrProblem(fs: FileSystem, path: string) {
  try {
    return { ok: true as const, value: await fs.lstat(path) };
  } catch (error) {
    if (typeof (error as { code?: unknown }).code !== 'string') throw error;
    return { ok: false as const, message: (error as Error).message };
  }
}

/**
 * Read the whole tree reachable from `top` (the root `/`, or an as-of view
 * `/@@0x<tid>`) through the API, checking it the way fsck would: every entry
 * can be lstat'ed with the ino and type readdir gave, a directory is reached
 * once, sizes match contents, and each file's nlink equals the entries naming
 * it. `root` is the ino the model keys the top directory by. Called by the
 * model test and by crashtest after a recovery; reads only (mount noatime).
 */
export async function readTree(
  fs: FileSystem,
  root: number,
  top = '/',
): Promise<{ state: FsState; problems: string[] }> {
  const inodes = new Map<number, MInode>();
  const problems: string[] = [];
  const named = new Map<number, { count: number; nlink: number; path: string }>();
  const walk = async (ino: number, path: string, parent: number): Promise<void> => {
    const entries = new Map<string, number>();
    inodes.set(ino, { kind: 'dir', entries, parent });
    const dirents = await fs.readdir(path, { withFileTypes: true });
    for (const dirent of dirents) {
      const child = join(path, dirent.name);
      if (entries.has(dirent.name)) problems.push(`${child}: listed twice`);
      const stat = await lstatOrProblem(fs, child);
      if (!stat.ok) {
        problems.push(`${child}: listed but lstat fails: ${stat.message}`);
        continue;
      }
      const st = stat.value;
      entries.set(dirent.name, st.ino);
      if (st.ino !== dirent.ino) problems.push(`${child}: readdir says ino ${dirent.ino}, lstat ${st.ino}`);
      if (dirent.isDirectory() !== st.isDirectory() || dirent.isSymbolicLink() !== st.isSymbolicLink())
        problems.push(`${child}: readdir and lstat disagree on the type`);
      if (st.isDirectory()) {
        if (inodes.has(st.ino)) problems.push(`${child}: directory ino ${st.ino} reached twice`);
        else await walk(st.ino, child, ino);
        continue;
      }
      const seen = named.get(st.ino);
      if (seen !== undefined) {
        seen.count++;
        continue;
      }
      named.set(st.ino, { count: 1, nlink: st.nlink, path: child });
      if (st.isSymbolicLink()) {
        const target = await fs.readlink(child);
        if (Buffer.byteLength(target) !== st.size) problems.push(`${child}: symlink size ${st.size} for '${target}'`);
        inodes.set(st.ino, { kind: 'symlink', target, nlink: st.nlink });
      } else {
        const data = await fs.readFile(child);
        if (data.length !== st.size) problems.push(`${child}: size ${st.size} but ${data.length} bytes read`);
        inodes.set(st.ino, { kind: 'file', data: Buffer.from(data), nlink: st.nlink });
      }
    }
  };
  await walk(root, top, root);
  for (const [ino, { count, nlink, path }] of named) {
    if (count !== nlink) problems.push(`${path} (ino ${ino}): nlink ${nlink} but ${count} entries name it`);
    const node = inodes.get(ino);
    if (node !== undefined && node.kind !== 'dir') inodes.set(ino, { ...node, nlink: count });
  }
  return { state: inodes, problems };
}
