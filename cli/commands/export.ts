import { chmodSync, closeSync, mkdirSync, openSync, symlinkSync, writeSync } from 'node:fs';
import * as host from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import type { FileSystem } from '../../actors/api.js';
import { FsError } from '../../storage/errors.js';
import { eventLoopTurn } from '../event-loop.js';
import { asofOption, asofTid, childPath, hostPath, volumePath, withFileSystem } from '../filesystem.js';
import { EXIT_OK, mib, note, printJson, say } from '../output.js';
import { type Progress, startProgress } from '../progress.js';
import { type CopySummary, copyBuffer, ENTRIES_PER_TURN, type TreeEntry, type TreePlan } from './import.js';

/**
 * List the volume tree at `top` (lstat: symlinks are copied, never followed),
 * parents before children. `top` may be an as-of path (`/dir@@0x…`): every
 * path below it is then read as of that TID too.
 */
export async function planVolumeTree(fs: FileSystem, top: string): Promise<TreePlan> {
  const plan: TreePlan = { entries: [], files: 0, bytes: 0, skipped: [] };
  const stack = [''];
  while (stack.length > 0) {
    const relative = stack.pop() as string;
    const path = relative === '' ? top : childPath(top, relative);
    const stats = await fs.lstat(path);
    const mode = stats.mode & 0o7777;
    if (stats.isDirectory()) {
      plan.entries.push({ relative, kind: 'dir', size: 0, mode });
      const names = (await fs.readdir(path)).sort().reverse();
      for (const name of names) stack.push(relative === '' ? name : `${relative}/${name}`);
    } else if (stats.isFile()) {
      plan.entries.push({ relative, kind: 'file', size: stats.size, mode });
      plan.files++;
      plan.bytes += stats.size;
    } else if (stats.isSymbolicLink()) {
      plan.entries.push({ relative, kind: 'symlink', size: 0, mode, target: await fs.readlink(path) });
    } else {
      plan.skipped.push(relative === '' ? path : relative);
    }
    if (plan.entries.length % ENTRIES_PER_TURN === 0) await eventLoopTurn();
  }
  return plan;
}

/**
 * Write the planned volume tree at `source` to the host at `target`, which
 * must not exist yet (its parents are made). Directories get their modes
 * last, children first, so a read-only directory is still filled.
 */
export async function exportTree(
  fs: FileSystem,
  source: string,
  target: string,
  plan: TreePlan,
  progress: Progress,
): Promise<CopySummary> {
  const summary: CopySummary = { files: 0, dirs: 0, symlinks: 0, bytes: 0, skipped: plan.skipped };
  mkdirSync(dirname(target), { recursive: true });
  const modes: Array<{ path: string; mode: number }> = [];
  for (const [index, entry] of plan.entries.entries()) {
    if (index % ENTRIES_PER_TURN === ENTRIES_PER_TURN - 1) await eventLoopTurn();
    const from = entry.relative === '' ? source : childPath(source, entry.relative);
    const to = entry.relative === '' ? target : join(target, entry.relative);
    if (entry.kind === 'dir') {
      mkdirSync(hostPath(to), { mode: 0o700 });
      modes.push({ path: to, mode: entry.mode });
      summary.dirs++;
    } else if (entry.kind === 'symlink') {
      symlinkSync(hostPath(entry.target as string), hostPath(to));
      summary.symlinks++;
    } else {
      summary.bytes += await exportFile(fs, from, to, entry, progress);
      summary.files++;
      progress.advance(0, 1);
    }
  }
  for (const { path, mode } of modes.reverse()) chmodSync(hostPath(path), mode);
  return summary;
}

/** Copy one volume file to a new host file in COPY_CHUNK_BYTES pieces; EIO if it is not as long as its stat said. */
async function exportFile(fs: FileSystem, from: string, to: string, entry: TreeEntry, progress: Progress) {
  const source = await fs.open(from, 'r');
  let target: number | undefined;
  let position = 0;
  try {
    target = openSync(hostPath(to), 'wx', entry.mode);
    const buffer = copyBuffer(entry.size);
    for (;;) {
      const { bytesRead } = await source.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      for (let done = 0; done < bytesRead; ) done += writeSync(target, buffer, done, bytesRead - done, position + done);
      position += bytesRead;
      progress.advance(bytesRead, 0);
    }
  } finally {
    if (target !== undefined) closeSync(target);
    await source.close();
  }
  if (position !== entry.size)
    throw new FsError('EIO', `read ${position} bytes of a file whose size is ${entry.size}`, { path: from });
  return position;
}

export function registerExport(program: Command): void {
  asofOption(program.command('export'))
    .description('copy a file or directory tree of the volume (an as-of path too) to the host')
    .argument('<volume>', 'volume file')
    .argument('<path>', 'file or directory in the volume; name@@0x<tid> reads it as of that TID')
    .argument('<host-path>', 'destination on the host (the copy itself; must not exist)')
    .option('--json', 'print {files, dirs, symlinks, bytes, skipped} as one JSON object')
    .action(async (volume: string, path: string, target: string, options: { json?: boolean; asof?: string }) => {
      const source = volumePath(path);
      const asof = asofTid(options.asof);
      // Refuse before mounting: nothing on the host is replaced or merged into.
      const existing = await host.lstat(target).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (existing !== undefined) throw new FsError('EEXIST', 'the export destination exists', { path: target });
      const summary = await withFileSystem(volume, { readOnly: true, asof }, async (fs) => {
        const plan = await planVolumeTree(fs, source);
        const progress = startProgress('export', plan, options.json === true);
        try {
          return await exportTree(fs, source, target, plan, progress);
        } finally {
          progress.stop();
        }
      });
      for (const skipped of summary.skipped) note(`export: skipped ${skipped}: not a file, directory or symlink`);
      if (options.json) printJson({ volume, path: source, target, ...summary });
      else {
        say(
          `exported ${volume}:${source} to ${target}: ${summary.files} files, ${summary.dirs} directories, ` +
            `${summary.symlinks} symlinks, ${mib(summary.bytes)} (${summary.bytes} bytes)`,
        );
      }
      process.exitCode = EXIT_OK;
    });
}
