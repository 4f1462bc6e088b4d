import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import type { Command } from 'commander';
import { FileDevice } from '../../storage/device.js';
import { FsError } from '../../storage/errors.js';
import { DEFAULT_UNDO_BYTES, DEFAULT_VOLUME_BYTES } from '../../storage/mkfs.js';
import { Volume } from '../../storage/volume.js';
import { EXIT_OK, mib, note, parseSize, printJson, say, UsageError } from '../output.js';
import { wallClock } from '../wall-clock.js';

export interface MkfsCommandOptions {
  size: string;
  undoSize: string;
  label: string;
  force?: boolean;
  json?: boolean;
}

/** Make a volume file; refuses to replace an existing file unless --force. */
export function mkfsVolume(path: string, options: MkfsCommandOptions): Volume {
  const size = parseSize(options.size, '--size');
  const undoBytes = parseSize(options.undoSize, '--undo-size');
  if (existsSync(path) && !options.force)
    throw new FsError('EEXIST', 'file exists (use --force to replace it)', { path });
  const fsid = randomUUID().replaceAll('-', '');
  const device = FileDevice.create(path, size);
  try {
    return Volume.mkfs(device, { size, undoBytes, label: options.label, fsid, clock: wallClock });
  } catch (error) {
    device.close();
    rmSync(path, { force: true });
    // Parameters the volume cannot be made with are usage errors here.
    if (error instanceof FsError && error.code === 'EINVAL')
      throw new UsageError('EINVAL', error.message.replace(/^EINVAL: /, ''));
    throw error;
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
    .action((path: string, options: MkfsCommandOptions) => {
      const volume = mkfsVolume(path, options);
      const stats = volume.stats();
      volume.close();
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
