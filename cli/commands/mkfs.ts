import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import type { Command } from 'commander';
import { mkfs } from '../../actors/index.js';
import { FileDevice } from '../../storage/device.js';
import { FsError } from '../../storage/errors.js';
import { DEFAULT_UNDO_BYTES, DEFAULT_VOLUME_BYTES } from '../../storage/mkfs.js';
import { Volume, type VolumeStats } from '../../storage/volume.js';
import { EXIT_OK, mib, note, parseSize, printJson, say, UsageError } from '../output.js';
import { wallClock } from '../wall-clock.js';

export interface MkfsCommandOptions {
  size: string;
  undoSize: string;
  label: string;
  force?: boolean;
  json?: boolean;
  audit?: string | false;
}

/**
 * Make a volume file through the filesystem API's mkfs (which starts its
 * event log beside it, unless --no-audit); refuses to replace an existing
 * file unless --force. Returns the new volume's statistics.
 */
export async function mkfsVolume(path: string, options: MkfsCommandOptions): Promise<VolumeStats> {
  const size = parseSize(options.size, '--size');
  const undoBytes = parseSize(options.undoSize, '--undo-size');
  if (existsSync(path) && !options.force)
    throw new FsError('EEXIST', 'file exists (use --force to replace it)', { path });
  const fsid = randomUUID().replaceAll('-', '');
  try {
    await mkfs(path, { size, undoBytes, label: options.label, fsid, clock: wallClock, audit: options.audit });
  } catch (error) {
    rmSync(path, { force: true });
    // Parameters the volume cannot be made with are usage errors here.
    if (error instanceof FsError && error.code === 'EINVAL')
      throw new UsageError('EINVAL', error.message.replace(/^EINVAL: /, ''));
    throw error;
  }
  const volume = Volume.mount(FileDevice.open(path, { readOnly: true }), { clock: wallClock, readOnly: true });
  try {
    return volume.stats();
  } finally {
    volume.close();
  }
}

export function registerMkfs(program: Command): void {
  program
    .command('mkfs')
    .description('make a new volume in a file (like newfs_hammer): root directory and PFS 0')
    .argument('<volume>', 'volume file to create')
    .option('--size <bytes>', 'volume size, e.g. 256M', `${DEFAULT_VOLUME_BYTES / 1024 / 1024}M`)
    .option('--undo-size <bytes>', 'UNDO/REDO FIFO size, a multiple of 8M', `${DEFAULT_UNDO_BYTES / 1024 / 1024}M`)
    .option('--label <name>', 'volume label', '')
    .option('--force', 'replace an existing file')
    .option('--json', 'print the result as one JSON object')
    .option('--audit <path>', 'event log to start (default: <volume>.events.sqlite; an old one is replaced)')
    .option('--no-audit', 'keep no event log')
    .action(async (path: string, options: MkfsCommandOptions) => {
      const stats = await mkfsVolume(path, options);
      const result = {
        volume: path,
        label: stats.label,
        fsid: stats.fsid,
        bigblocks: stats.bigblocks,
        freeBigblocks: stats.freeBigblocks,
        fifoBytes: stats.fifoBytes,
        nextTid: stats.nextTid,
      };
      if (options.json) printJson(result);
      else {
        say(`${path}: hammerstate volume '${stats.label}' fsid ${stats.fsid}`);
        say(
          `  ${stats.bigblocks} big-blocks of 8 MiB, ${stats.freeBigblocks} free; UNDO/REDO FIFO ${mib(stats.fifoBytes)}`,
        );
      }
      note('mkfs: done');
      process.exitCode = EXIT_OK;
    });
}
