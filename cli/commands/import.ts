import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Command } from 'commander';
import type { FileSystem, Stats } from '../../actors/api.js';
import { FsError } from '../../storage/errors.js';
import { nameOf } from '../../storage/format/names.js';
import { formatTid } from '../../storage/layout.js';
import { eventLoopTurn } from '../event-loop.js';
import { auditOptions, childPath, hostPath, volumePath, withFileSystem } from '../filesystem.js';
import { EXIT_OK, mib, note, printJson, say } from '../output.js';
import { type Progress, startProgress } from '../progress.js';

/** Bytes moved per read/write: one copy never holds more than this of a file in memory. */
export const COPY_CHUNK_BYTES = 1024 * 1024;

/**
 * The buffer one file's copy moves its bytes through: as big as the file, up
 * to COPY_CHUNK_BYTES, not zeroed (every byte passed on was just read). A
 * zeroed 1 MiB buffer per file had cost more than copying a small file.
 */
export function copyBuffer(size: number): Buffer {
  return Buffer.allocUnsafe(Math.min(Math.max(size, 1), COPY_CHUNK_BYTES));
}

/**
 * Entries copied between two turns of the event loop. The host side of a
 * copy is synchronous (each asynchronous call was a round trip through the
 * thread pool, most of a small file's time), and the volume side answers in
 * microtasks: without a turn now and then, Ctrl-C and the progress bar's
 * timer would wait for the whole tree.
 */
export const ENTRIES_PER_TURN = 64;

/** What a copy did, in either direction. `skipped` names what has no place in the target (FIFOs, devices). */
export interface CopySummary {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  skipped: string[];
}

/** One entry of a tree to copy, listed before anything is written: the plan gives the totals for the progress bar. */
export interface TreeEntry {
  /** '/'-separated path below the top of the copy; '' is the top itself. */
  relative: string;
  kind: 'file' | 'dir' | 'symlink';
  size: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  /** A symlink's target, copied as is. */
  target?: string;
}

export interface TreePlan {
  entries: TreeEntry[];
  files: number;
  bytes: number;
  skipped: string[];
}

/**
 * List the host tree at `top` (lstat: symlinks are copied, never followed),
 * parents before children, names in byte order. An explicit stack, not
 * recursion: a deep tree costs memory, not stack frames.
 */
export async function planHostTree(top: string): Promise<TreePlan> {
  const plan: TreePlan = { entries: [], files: 0, bytes: 0, skipped: [] };
  const stack = [''];
  while (stack.length > 0) {
    const relative = stack.pop() as string;
    const path = relative === '' ? top : join(top, relative);
    const stats = lstatSync(hostPath(path));
    const mode = stats.mode & 0o7777;
    if (stats.isDirectory()) {
      plan.entries.push({ relative, kind: 'dir', size: 0, mode });
      // Names as their bytes (a name that is not UTF-8 is kept as it is: storage/format/names.ts).
      const names = readdirSync(hostPath(path), { encoding: 'buffer' }).sort(Buffer.compare).reverse().map(nameOf);
      for (const name of names) stack.push(relative === '' ? name : `${relative}/${name}`);
    } else if (stats.isFile()) {
      plan.entries.push({ relative, kind: 'file', size: stats.size, mode });
      plan.files++;
      plan.bytes += stats.size;
    } else if (stats.isSymbolicLink()) {
      plan.entries.push({
        relative,
        kind: 'symlink',
        size: 0,
        mode,
        target: nameOf(readlinkSync(hostPath(path), { encoding: 'buffer' })),
      });
    } else {
      plan.skipped.push(relative === '' ? path : relative);
    }
    if (plan.entries.length % ENTRIES_PER_TURN === 0) await eventLoopTurn();
  }
  return plan;
}

/** lstat that answers undefined for a path that does not exist. */
export async function lstatIfAny(fs: FileSystem, path: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(path);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Copy the host file or tree at `source` to `target` in the mounted volume
 * (frontend calls only; the flush is the caller's unmount or sync). `target`
 * is the destination itself; missing parents are made. A directory that exists
 * is merged into; a file that exists is rewritten in place (open r+, truncate,
 * write), so it keeps its inode and its history gains a version.
 */
export async function importTree(
  fs: FileSystem,
  source: string,
  target: string,
  plan: TreePlan,
  progress: Progress,
): Promise<CopySummary> {
  const summary: CopySummary = { files: 0, dirs: 0, symlinks: 0, bytes: 0, skipped: plan.skipped };
  const parent = posix.dirname(target);
  if (parent !== target && (await lstatIfAny(fs, parent)) === undefined) await fs.mkdir(parent, { recursive: true });
  for (const [index, entry] of plan.entries.entries()) {
    if (index % ENTRIES_PER_TURN === ENTRIES_PER_TURN - 1) await eventLoopTurn();
    const from = entry.relative === '' ? source : join(source, entry.relative);
    const to = entry.relative === '' ? target : childPath(target, entry.relative);
    const existing = await lstatIfAny(fs, to);
    if (entry.kind === 'dir') {
      if (existing === undefined) await fs.mkdir(to, { mode: entry.mode });
      else if (!existing.isDirectory()) throw new FsError('EEXIST', 'exists and is not a directory', { path: to });
      summary.dirs++;
    } else if (entry.kind === 'symlink') {
      if (existing?.isDirectory()) throw new FsError('EISDIR', 'cannot replace a directory by a symlink', { path: to });
      if (existing !== undefined) await fs.unlink(to);
      await fs.symlink(entry.target as string, to);
      summary.symlinks++;
    } else {
      if (existing?.isDirectory()) throw new FsError('EISDIR', 'cannot replace a directory by a file', { path: to });
      summary.bytes += await importFile(fs, from, to, entry, existing, progress);
      summary.files++;
      progress.advance(0, 1);
    }
  }
  return summary;
}

/** Copy one host file into the volume in COPY_CHUNK_BYTES pieces; returns the bytes written. */
async function importFile(
  fs: FileSystem,
  from: string,
  to: string,
  entry: TreeEntry,
  existing: Stats | undefined,
  progress: Progress,
): Promise<number> {
  // A symlink in the way is replaced; a file in the way is rewritten, never unlinked.
  if (existing?.isSymbolicLink()) await fs.unlink(to);
  const rewrite = existing?.isFile() === true;
  const target = await fs.open(to, rewrite ? 'r+' : 'wx', entry.mode);
  let source: number | undefined;
  let position = 0;
  try {
    source = openSync(hostPath(from), 'r');
    if (rewrite) {
      await target.truncate(0);
      if (((existing as Stats).mode & 0o7777) !== entry.mode) await fs.chmod(to, entry.mode);
    }
    const buffer = copyBuffer(entry.size);
    for (;;) {
      const bytesRead = readSync(source, buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      const { bytesWritten } = await target.write(buffer, 0, bytesRead, position);
      if (bytesWritten !== bytesRead)
        throw new FsError('EIO', `short write: ${bytesWritten} of ${bytesRead} bytes at ${position}`, { path: to });
      position += bytesRead;
      progress.advance(bytesRead, 0);
    }
  } finally {
    if (source !== undefined) closeSync(source);
    await target.close();
  }
  return position;
}

export interface ImportCommandOptions {
  json?: boolean;
  audit?: string | false;
}

export function registerImport(program: Command): void {
  const command = program
    .command('import')
    .description('copy a host file or directory tree (files, directories, symlinks) into the volume')
    .argument('<volume>', 'volume file')
    .argument('<host-path>', 'host file or directory to copy')
    .argument('<path>', 'destination in the volume (the copy itself; missing parents are made)')
    .option('--json', 'print {files, dirs, symlinks, bytes, skipped, tid} as one JSON object');
  auditOptions(command).action(
    async (volume: string, source: string, destination: string, options: ImportCommandOptions) => {
      const target = volumePath(destination);
      // The host side first: a missing source is ENOENT before the volume is touched.
      const plan = await planHostTree(source);
      const { summary, tid } = await withFileSystem(volume, { readOnly: false, audit: options.audit }, async (fs) => {
        const progress = startProgress('import', plan, options.json === true);
        try {
          const summary = await importTree(fs, source, target, plan, progress);
          return { summary, tid: await fs.sync() };
        } finally {
          progress.stop();
        }
      });
      for (const path of summary.skipped) note(`import: skipped ${path}: not a file, directory or symlink`);
      if (options.json) printJson({ volume, source, path: target, ...summary, tid: formatTid(tid) });
      else {
        say(
          `imported ${source} to ${volume}:${target}: ${summary.files} files, ${summary.dirs} directories, ` +
            `${summary.symlinks} symlinks, ${mib(summary.bytes)} (${summary.bytes} bytes); synced as of ${formatTid(tid)}`,
        );
      }
      process.exitCode = EXIT_OK;
    },
  );
}
