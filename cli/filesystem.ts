import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import type { FileSystem } from '../actors/api.js';
import { mount } from '../actors/index.js';
import { FileDevice } from '../storage/device.js';
import { FsError } from '../storage/errors.js';
import { readHeader } from '../storage/format/header.js';
import { nameBytes } from '../storage/format/names.js';
import { parseTid } from '../storage/layout.js';
import { note, UsageError } from './output.js';
import { wallClock } from './wall-clock.js';

/**
 * How the filesystem commands (import, export, ls, cat, history, snapshot)
 * reach a volume: through the public API (actors/api.ts), mounted for one
 * command and unmounted before it returns, whatever happened.
 */

/**
 * A path the user got wrong: the command cannot do what was asked, but the
 * volume is fine, so these are usage errors (exit 2) like ENOENT and EEXIST.
 * EROFS is a write through an as-of path (`name@@0x…`), never a damaged volume.
 */
const PATH_CODES = new Set(['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'ENAMETOOLONG', 'EROFS']);

/**
 * A host path for node:fs from a path that may hold names of bytes that are
 * not UTF-8 (escaped as storage/format/names.ts says): those bytes, as a
 * Buffer; plain text stays a string.
 */
export function hostPath(path: string): string | Buffer {
  return path.isWellFormed() ? path : (nameBytes(path) ?? path);
}

/**
 * Mount `volume`, run `work`, unmount (a flush when read-write). Called by the
 * commands' actions only. An unmount that fails after `work` failed is noted
 * on stderr, and the first error is the one reported.
 */
export async function withFileSystem<T>(
  volume: string,
  options: { readOnly: boolean; audit?: string | false; asof?: number },
  work: (fs: FileSystem) => Promise<T>,
): Promise<T> {
  checkVolumePath(volume);
  // A file that is not a volume is refused before a read-write mount starts an event log beside it.
  if (!options.readOnly && existsSync(volume)) {
    const device = FileDevice.open(volume, { readOnly: true });
    try {
      readHeader(device);
    } finally {
      device.close();
    }
  }
  const fs = await mount(volume, {
    clock: wallClock,
    readOnly: options.readOnly,
    audit: options.audit,
    asof: options.asof,
  }).catch(rethrowPathError);
  let result: T;
  try {
    result = await work(fs);
  } catch (error) {
    await fs.unmount().catch((unmountError: unknown) => {
      note(`hammerstate: unmount after the failure also failed: ${String(unmountError)}`);
    });
    return rethrowPathError(error);
  }
  await fs.unmount();
  return result;
}

/**
 * A volume path that names a directory is the user's to fix, like a missing
 * file: a usage error (exit 2), before anything opens it. Called wherever a
 * command opens a volume file.
 */
export function checkVolumePath(path: string): void {
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory() === true)
    throw new UsageError('EINVAL', `a directory is not a volume, '${path}'`);
}

/** Re-throw a path error of the filesystem as a usage error (exit 2); anything else unchanged. */
export function rethrowPathError(error: unknown): never {
  if (error instanceof FsError && PATH_CODES.has(error.code))
    throw new UsageError(error.code, error.message.replace(`${error.code}: `, ''));
  throw error;
}

/** The API's EINVAL about an argument (a label too long, PFS 0): the user's to fix, so a usage error (exit 2). */
export function rethrowInvalidAsUsage(error: unknown): never {
  if (error instanceof FsError && error.code === 'EINVAL')
    throw new UsageError('EINVAL', error.message.replace('EINVAL: ', ''));
  throw error;
}

/**
 * A path inside the volume as the API wants it: absolute, '/' separated, no
 * empty components. A relative path is taken from the root ('etc/motd' is
 * '/etc/motd'). '.', '..' and as-of components (`name@@0x<16 hex>`) are
 * left to the filesystem.
 */
export function volumePath(text: string): string {
  if (text.length === 0) throw new UsageError('EINVAL', 'a path inside the volume must not be empty');
  const parts = text.split('/').filter((part) => part.length > 0);
  return `/${parts.join('/')}`;
}

/** `parent` + '/' + `name`, without doubling the root's slash. */
export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** The type of a Stats or Dirent as the commands print it. */
export function typeOf(entry: {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}): 'file' | 'dir' | 'symlink' | 'other' {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (entry.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** `--asof <tid>` of the commands that read: the whole volume as of a TID (an as-of mount). */
export function asofOption(command: Command): Command {
  return command.option('--asof <tid>', 'read the whole volume as of this TID (0x<hex>, as snapshot prints it)');
}

/** The --asof value as a TID (undefined when not given); a usage error when it is not one. */
export function asofTid(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const tid = parseTid(text);
  if (tid === undefined) throw new UsageError('EINVAL', `--asof takes a TID like 0x0000000100000abc, got '${text}'`);
  return tid;
}

/** The audit options of a command that changes a volume: `--audit <path>` and `--no-audit` (default: beside the volume). */
export function auditOptions(command: Command): Command {
  return command
    .option('--audit <path>', 'event log to append to (default: <volume>.events.sqlite)')
    .option('--no-audit', 'keep no event log for this command');
}
