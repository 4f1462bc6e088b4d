import { asapScheduler, interval, type SchedulerLike, type Subscription } from 'rxjs';
import { InodeFlag } from '../machines/inode-flags.js';
import { type Clock, logicalClock } from '../storage/clock.js';
import type { BlockDevice } from '../storage/device.js';
import { FileDevice } from '../storage/device.js';
import { FsError } from '../storage/errors.js';
import { RedoFlag } from '../storage/format/fifo.js';
import { LOCALIZE_MISC } from '../storage/layout.js';
import { Volume } from '../storage/volume.js';
import type { FileSystem, MkfsOptions, MountOptions, VolumeSource } from './api.js';
import { truncateData, writeData } from './file-data.js';
import { HammerFs, toFsError } from './fs.js';
import { Mount, type MountTuning } from './mount.js';

export type {
  BusEvent,
  Dirent,
  FileHandle,
  FileSystem,
  MkfsOptions,
  MountOptions,
  PfsInfo,
  Stats,
  Version,
} from './api.js';

export const DEFAULT_VOLUME_BYTES = 256 * 1024 * 1024;
export const DEFAULT_UNDO_BYTES = 32 * 1024 * 1024;

/**
 * Determinism is the default: without an injected clock, time is logical
 * (one fixed start, one millisecond a reading). The CLI injects the wall
 * clock (cli/wall-clock.ts); so can any caller.
 */
function defaultClock(): Clock {
  return logicalClock();
}

/** Extra knobs for tests and benchmarks (beyond the public MountOptions). */
export interface MountInternals extends Partial<MountTuning> {
  /** Where flush groups run (and the periodic sync ticks): virtual time in tests and replay. */
  scheduler?: SchedulerLike;
  /** Periodic sync interval in ms on the scheduler (0: none). */
  syncIntervalMs?: number;
  noatime?: boolean;
}

/** Make a new volume (a file of `size` bytes, or the given device), like newfs_hammer. */
export async function mkfs(source: VolumeSource, options: MkfsOptions = {}): Promise<void> {
  const clock = options.clock ?? defaultClock();
  const size = options.size ?? DEFAULT_VOLUME_BYTES;
  let device: BlockDevice;
  try {
    device = typeof source === 'string' ? FileDevice.create(source, size) : source;
  } catch (error) {
    throw toFsError(error, typeof source === 'string' ? source : undefined);
  }
  try {
    const volume = Volume.mkfs(device, {
      size,
      undoBytes: options.undoBytes ?? DEFAULT_UNDO_BYTES,
      label: options.label,
      clock,
    });
    volume.close();
  } catch (error) {
    if (typeof source === 'string') device.close();
    throw toFsError(error, typeof source === 'string' ? source : undefined);
  }
}

/**
 * Mount a volume: recovery stage 1 (UNDO rollback) runs in the volume,
 * stage 2 here (the REDO an fsync promised, re-executed through the normal
 * write path, then synced). Returns the node:fs/promises-like filesystem.
 */
export async function mount(source: VolumeSource, options: MountOptions & MountInternals = {}): Promise<FileSystem> {
  const clock = options.clock ?? defaultClock();
  const readOnly = options.readOnly ?? false;
  let device: BlockDevice;
  try {
    device = typeof source === 'string' ? FileDevice.open(source, { readOnly }) : source;
  } catch (error) {
    throw toFsError(error, typeof source === 'string' ? source : undefined);
  }
  let volume: Volume;
  try {
    volume = Volume.mount(device, { clock, readOnly });
  } catch (error) {
    device.close();
    throw toFsError(error, typeof source === 'string' ? source : undefined);
  }
  const scheduler = options.scheduler ?? asapScheduler;
  const tuning: Partial<MountTuning> = {};
  for (const key of [
    'autoflush',
    'reclaimLimit',
    'cacheInodes',
    'truncateBatch',
    'metaLimitBytes',
    'dirtyDataLimitBytes',
  ] as const) {
    const value = options[key];
    if (value !== undefined) {
      if (!Number.isInteger(value) || value < 1) {
        volume.close();
        throw new FsError('EINVAL', `mount option ${key} must be a positive integer, got ${value}`);
      }
      tuning[key] = value;
    }
  }
  const state = new Mount(volume, clock, scheduler, tuning, readOnly);
  const syncMs = options.syncIntervalMs ?? 0;
  const timers = (): Subscription | undefined =>
    syncMs > 0 && !readOnly
      ? interval(syncMs, scheduler).subscribe(() => state.runSafely(() => state.syncAll()))
      : undefined;
  let fs: HammerFs;
  try {
    fs = new HammerFs(state, options.pfs ?? 0, options.noatime ?? false, timers);
    if (!readOnly) fs.recovery.redoReplayed = replayRedo(state);
  } catch (error) {
    volume.close();
    throw toFsError(error, undefined);
  }
  return fs;
}

/**
 * Recovery stage 2: every REDO WRITE / TRUNC that no TERM cancelled is
 * re-executed in FIFO order (a vanished inode is skipped), then synced.
 */
function replayRedo(state: Mount): number {
  const pending = state.volume.recovery.redo;
  if (pending.length === 0) return 0;
  let replayed = 0;
  for (const { record } of pending) {
    const localization = record.localization - LOCALIZE_MISC;
    const ip = state.get(localization, record.objId);
    if (ip === undefined || !ip.has(InodeFlag.ONDISK)) {
      state.bus.fact('volume', 'REDO_SKIPPED', { objId: record.objId, offset: record.offset });
      continue;
    }
    state.ref(ip);
    try {
      if (record.flags & RedoFlag.WRITE) writeData(state, ip, record.offset, record.payload, `inode ${record.objId}`);
      if (record.flags & RedoFlag.TRUNC) truncateData(state, ip, record.offset, `inode ${record.objId}`);
    } finally {
      state.rel(ip);
    }
    replayed++;
  }
  state.syncAll();
  state.bus.fact('volume', 'REDO_REPLAYED', { records: pending.length, replayed });
  return replayed;
}
