import { posix } from 'node:path';
import type { Command } from 'commander';
import type { Dirent, FileSystem, Stats } from '../../actors/api.js';
import { formatTid } from '../../storage/layout.js';
import { asofOption, asofTid, childPath, typeOf, volumePath, withFileSystem } from '../filesystem.js';
import { EXIT_OK, printJson, say } from '../output.js';

/** One line of `ls`: the name and type always, the rest with -l. */
interface ListedEntry {
  name: string;
  type: ReturnType<typeof typeOf>;
  ino: number;
  mode?: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtimeMs?: number;
  /** The TID of the inode version shown: what `name@@<tid>` reads. */
  tid?: string;
  target?: string;
}

const TYPE_CHARS = { file: '-', dir: 'd', symlink: 'l', other: '?' } as const;

/** `drwxr-xr-x`, as ls -l prints a mode. */
export function modeString(type: ListedEntry['type'], mode: number): string {
  let text: string = TYPE_CHARS[type];
  for (const shift of [6, 3, 0]) {
    const bits = (mode >> shift) & 7;
    text += `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
  }
  return text;
}

async function describe(fs: FileSystem, path: string, name: string, stats: Stats): Promise<ListedEntry> {
  const type = typeOf(stats);
  const entry: ListedEntry = {
    name,
    type,
    ino: stats.ino,
    mode: stats.mode & 0o7777,
    nlink: stats.nlink,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    mtimeMs: stats.mtimeMs,
    tid: formatTid(stats.tid),
  };
  if (type === 'symlink') entry.target = await fs.readlink(path);
  return entry;
}

/**
 * The entries of a directory, sorted by name, or the one entry a file path
 * names. Without `long` only readdir's answer (name, type, inode); with it
 * an lstat per entry.
 */
export async function listPath(fs: FileSystem, path: string, long: boolean): Promise<ListedEntry[]> {
  const stats = await fs.lstat(path);
  if (!stats.isDirectory()) {
    const name = posix.basename(path);
    return [long ? await describe(fs, path, name, stats) : { name, type: typeOf(stats), ino: stats.ino }];
  }
  const dirents: Dirent[] = await fs.readdir(path, { withFileTypes: true });
  dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const entries: ListedEntry[] = [];
  for (const dirent of dirents) {
    const child = childPath(path, dirent.name);
    if (long) entries.push(await describe(fs, child, dirent.name, await fs.lstat(child)));
    else entries.push({ name: dirent.name, type: typeOf(dirent), ino: dirent.ino });
  }
  return entries;
}

function longLine(entry: ListedEntry): string {
  const mtime = new Date(entry.mtimeMs ?? 0).toISOString().replace('T', ' ').slice(0, 19);
  const link = entry.target === undefined ? '' : ` -> ${entry.target}`;
  return (
    `${modeString(entry.type, entry.mode ?? 0)} ${String(entry.nlink).padStart(3)} ${String(entry.size).padStart(10)} ` +
    `${mtime} ${entry.tid} ${entry.name}${link}`
  );
}

export function registerLs(program: Command): void {
  asofOption(program.command('ls'))
    .description('list a directory of the volume (read-only); name@@0x<tid> lists it as of that TID')
    .argument('<volume>', 'volume file')
    .argument('[path]', 'directory or file in the volume', '/')
    .option('-l, --long', 'mode, links, size, mtime, the TID of the inode version, symlink targets')
    .option('--json', 'print {volume, path, entries: [...]} as one JSON object')
    .action(async (volume: string, text: string, options: { long?: boolean; json?: boolean; asof?: string }) => {
      const path = volumePath(text);
      const long = options.long === true;
      const asof = asofTid(options.asof);
      const entries = await withFileSystem(volume, { readOnly: true, asof }, (fs) => listPath(fs, path, long));
      if (options.json) printJson({ volume, path, entries });
      else for (const entry of entries) say(long ? longLine(entry) : entry.name);
      process.exitCode = EXIT_OK;
    });
}
