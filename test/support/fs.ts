import type { FileSystem, MountOptions } from '../../actors/api.js';
import type { HammerFs } from '../../actors/fs.js';
import { type MountInternals, mkfs, mount } from '../../actors/index.js';
import type { Mount } from '../../actors/mount.js';
import { logicalClock } from '../../storage/clock.js';
import { CrashDevice } from '../../storage/crash-device.js';
import { MemDevice } from '../../storage/device.js';
import { fsck } from '../../storage/fsck.js';

export const MiB = 1024 * 1024;

/** A fresh volume in memory (recording writes when `crash` is set), mounted with a logical clock. */
export async function memVolume(options: { size?: number; undoBytes?: number; crash?: boolean } = {}) {
  const size = options.size ?? 64 * MiB;
  const base = new MemDevice(size);
  await mkfs(base, { size, undoBytes: options.undoBytes ?? 8 * MiB, clock: logicalClock() });
  const device = options.crash ? new CrashDevice(base) : base;
  return { base, device };
}

/** Mount with deterministic time and a synchronous scheduler (flush groups run when signalled). */
export async function mountMem(
  device: MemDevice | CrashDevice,
  options: MountOptions & MountInternals = {},
): Promise<FileSystem> {
  return mount(device, { clock: logicalClock(2_000_000_000_000_000), ...options });
}

/** The running system behind a FileSystem (tests look inside). */
export function internals(fs: FileSystem): Mount {
  return (fs as HammerFs).mount;
}

/** fsck of the device image: structure, freemap, inode count, nlinks against entries. */
export function checkImage(device: MemDevice | CrashDevice) {
  const image = device instanceof CrashDevice ? device.currentImage() : device.clone();
  return fsck(image, { clock: logicalClock() });
}

/** The error code a promise rejects with (undefined when it resolves). */
export async function code(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await failure(promise);
  return error === undefined ? undefined : (error.code ?? `no code: ${String(error)}`);
}

/** The error a promise rejects with (undefined when it resolves). */
export async function failure(promise: Promise<unknown>): Promise<(Error & { code?: string }) | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error as Error & { code?: string };
  }
}
