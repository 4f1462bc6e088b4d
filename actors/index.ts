import { existsSync } from 'node:fs';
import { asapScheduler, interval, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { AuditLog, type EventSink } from '../storage/audit-log.js';
import { type Clock, CommandClock, logicalClock } from '../storage/clock.js';
import type { BlockDevice } from '../storage/device.js';
import { FileDevice } from '../storage/device.js';
import { FsError } from '../storage/errors.js';
import { TID_MAX } from '../storage/layout.js';
import { initialHeader } from '../storage/mkfs.js';
import { Volume } from '../storage/volume.js';
import { normalizeCaller } from './access.js';
import type { BusEvent, FileHandle, FileSystem, MkfsOptions, MountOptions, VolumeSource } from './api.js';
import { type AuditOptions, auditPath, clockDescription, loggedMount, removeLog, startLog } from './audit.js';
import { HammerFs, toFsError } from './fs.js';
import { Mount, type MountTuning } from './mount.js';
import { type MountMemo, resumeMemo } from './mount-memo.js';
import { cleanOrphans, finishTruncations } from './orphans.js';
import { replayRedo } from './remount.js';
import { type RecordingScheduler, ReplayScheduler } from './schedulers.js';

/** What a caller needs beside the calls: devices to mount (a file, or memory for tests), clocks, the error type. */
export { type Clock, logicalClock } from '../storage/clock.js';
export { type BlockDevice, FileDevice, MemDevice } from '../storage/device.js';
export { FsError } from '../storage/errors.js';
export {
  FaultDevice,
  type FaultOp,
  type FaultOptions,
  type FaultRule,
  type InjectedFault,
} from '../storage/fault-device.js';
export type {
  BusEvent,
  Caller,
  Dirent,
  FileHandle,
  FileSystem,
  MaintenanceOptions,
  MkfsOptions,
  MountOptions,
  PfsInfo,
  PruneReport,
  ReblockReport,
  Stats,
  StatsFs,
  Version,
} from './api.js';
export { F_OK, R_OK, UF_NOHISTORY, W_OK, X_OK } from './api.js';

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
  /** A logged mount (audit log, replay): see LoggedMount. */
  logged?: LoggedMount;
  /**
   * Replay: resume the mount a checkpoint inside a run recorded (its volume
   * image is the device): no recovery, no mount command, the bus silent
   * until the memo is restored (actors/mount-memo.ts).
   */
  resume?: { memo: MountMemo; handles: Map<number, FileHandle> };
}

/**
 * How a logged mount stays replayable: time comes from a command clock, the
 * scheduler's decisions are logged as `scheduler.fire` commands, and the
 * observer sees the bus from its first event (the `mount` command) on.
 */
export interface LoggedMount {
  clock: CommandClock;
  scheduler: RecordingScheduler | ReplayScheduler;
  /** The audit log's direct line from the bus (a logged mount). */
  sink?: EventSink;
  /** A subscriber from the bus's first event on (a replay comparing events). */
  observe?(events: Observable<BusEvent>): void;
}

/** The mount command's payload: what replay needs to mount the same way. */
function mountParameters(options: MountOptions & MountInternals): Record<string, unknown> {
  const parameters: Record<string, unknown> = {
    readOnly: options.readOnly ?? false,
    pfs: options.pfs ?? 0,
    noatime: options.noatime ?? false,
    syncIntervalMs: options.syncIntervalMs ?? 0,
  };
  if (options.caller !== undefined) parameters.caller = options.caller;
  if (options.asof !== undefined) parameters.asof = options.asof;
  for (const key of TUNING_KEYS) if (options[key] !== undefined) parameters[key] = options[key];
  return parameters;
}

const TUNING_KEYS = [
  'autoflush',
  'reclaimLimit',
  'cacheInodes',
  'truncateBatch',
  'metaLimitBytes',
  'dirtyDataLimitBytes',
  'emergencyFreeFraction',
] as const;

/**
 * Make a new volume (a file of `size` bytes, or the given device), like
 * newfs_hammer. With an audit log (the default beside a volume file), the
 * log starts here: its first event is this mkfs and its parameters.
 */
export async function mkfs(source: VolumeSource, options: MkfsOptions & AuditOptions = {}): Promise<void> {
  const path = typeof source === 'string' ? source : undefined;
  const parameters = {
    size: options.size ?? DEFAULT_VOLUME_BYTES,
    undoBytes: options.undoBytes ?? DEFAULT_UNDO_BYTES,
    label: options.label,
    fsid: options.fsid,
  };
  let device: BlockDevice;
  try {
    // Refused before a volume file (or its log) is touched: bad parameters (EINVAL), a file
    // another writer has open (EBUSY, the volume lock). They lose nothing.
    initialHeader(parameters.size, { ...parameters, clock: options.clock ?? defaultClock() });
    device = path !== undefined ? FileDevice.create(path, parameters.size) : (source as BlockDevice);
  } catch (error) {
    throw toFsError(error, path);
  }
  const logPath = auditPath(source, options);
  let log: AuditLog | undefined;
  try {
    log = logPath === undefined ? undefined : startLog(logPath, options.auditLevel);
  } catch (error) {
    if (path !== undefined) device.close();
    throw error;
  }
  const clock =
    log === undefined ? (options.clock ?? defaultClock()) : new CommandClock(options.clock ?? defaultClock());
  try {
    if (log !== undefined && clock instanceof CommandClock) {
      const time = clock.beginCommand();
      log.beginRun({
        kind: 'mkfs',
        volume: path ?? 'device',
        parameters,
        clock: clockDescription(options.clock),
        time,
      });
    }
    try {
      Volume.mkfs(device, { ...parameters, clock }).close();
    } catch (error) {
      if (path !== undefined) device.close();
      throw toFsError(error, path);
    }
    log?.endRun(clock.now());
  } catch (error) {
    // No volume, no history: the log just started goes too.
    if (log !== undefined && logPath !== undefined) {
      log.close();
      removeLog(logPath);
    }
    throw error;
  }
  log?.close();
}

/**
 * Mount a volume: recovery stage 1 (UNDO rollback) runs in the volume,
 * stage 2 here (the REDO an fsync promised, re-executed through the normal
 * write path, then synced). Returns the node:fs/promises-like filesystem.
 * A read-write mount of a volume file is logged (AuditOptions) unless told not to.
 */
export async function mount(
  source: VolumeSource,
  options: MountOptions & AuditOptions & MountInternals = {},
): Promise<FileSystem> {
  // A bad identity is refused before anything starts (the log included).
  if (options.caller !== undefined) options = { ...options, caller: normalizeCaller(options.caller) };
  const readOnly = (options.readOnly ?? false) || options.asof !== undefined;
  const logPath = readOnly || options.logged !== undefined ? undefined : auditPath(source, options);
  // A volume file that is not there gets no log either: ENOENT, and nothing left behind.
  if (logPath === undefined || (typeof source === 'string' && !existsSync(source)))
    return mountWith(source, options, undefined);
  const log = AuditLog.open(logPath, { level: options.auditLevel });
  try {
    return await mountWith(
      source,
      { ...options, logged: loggedMount(log, options.clock ?? defaultClock(), options.scheduler) },
      log,
    );
  } catch (error) {
    log.close();
    throw error;
  }
}

async function mountWith(
  source: VolumeSource,
  options: MountOptions & AuditOptions & MountInternals,
  log: AuditLog | undefined,
): Promise<FileSystem> {
  const logged = options.logged;
  const clock = logged?.clock ?? options.clock ?? defaultClock();
  // A logged mount is a command: its time is taken before the volume reads the clock.
  const mountTime = logged?.clock.beginCommand();
  const parameters = mountParameters(options);
  if (log !== undefined && mountTime !== undefined) {
    const volume = typeof source === 'string' ? source : 'device';
    log.beginRun({ kind: 'mount', volume, parameters, clock: clockDescription(options.clock), time: mountTime });
  }
  const asof = options.asof ?? TID_MAX;
  const readOnly = (options.readOnly ?? false) || asof !== TID_MAX;
  if (!Number.isSafeInteger(asof) || asof < 1)
    throw new FsError('EINVAL', `mount option asof must be a TID, got ${asof}`);
  let device: BlockDevice;
  try {
    device = typeof source === 'string' ? FileDevice.open(source, { readOnly }) : source;
  } catch (error) {
    throw toFsError(error, typeof source === 'string' ? source : undefined);
  }
  let volume: Volume;
  try {
    volume =
      options.resume === undefined
        ? Volume.mount(device, { clock, readOnly })
        : Volume.resume(device, { clock, readOnly }, options.resume.memo.volume);
  } catch (error) {
    device.close();
    throw toFsError(error, typeof source === 'string' ? source : undefined);
  }
  const scheduler = logged?.scheduler ?? options.scheduler ?? asapScheduler;
  const tuning: Partial<MountTuning> = {};
  for (const key of TUNING_KEYS) {
    const value = options[key];
    if (value !== undefined) {
      const fraction = key === 'emergencyFreeFraction';
      if (fraction ? !(value > 0 && value < 1) : !Number.isInteger(value) || value < 1) {
        volume.close();
        const want = fraction ? 'a fraction between 0 and 1' : 'a positive integer';
        throw new FsError('EINVAL', `mount option ${key} must be ${want}, got ${value}`);
      }
      tuning[key] = value;
    }
  }
  const state = new Mount(volume, clock, scheduler, tuning, readOnly, asof);
  if (log !== undefined) state.logCheck = () => log.check();
  else if (readOnly && logged === undefined && auditPath(source, options) !== undefined) {
    // A read-only mount of a volume file keeps no log: it may not start changing the volume unlogged.
    state.logCheck = () => {
      throw new FsError(
        'EROFS',
        'a read-only mount of a volume file keeps no audit log: mount it read-write to change it',
      );
    };
  }
  if (logged !== undefined) {
    logged.scheduler.onFire = (action) => state.bus.command('scheduler.fire', { action });
    if (options.resume === undefined) {
      if (logged.sink !== undefined) state.bus.attachSink(logged.sink);
      logged.observe?.(state.bus.events);
      state.bus.command('mount', parameters, mountTime);
    }
  }
  const syncMs = options.syncIntervalMs ?? 0;
  const timers = (): Subscription | undefined =>
    syncMs > 0 && !state.readOnly
      ? interval(syncMs, scheduler).subscribe(() => {
          state.runSafely(() => state.syncAll());
          state.trimCache();
        })
      : undefined;
  let fs: HammerFs;
  try {
    fs = new HammerFs(state, options.pfs ?? 0, options.noatime ?? false, timers, options.caller);
    if (log !== undefined) fs.afterUnmount = () => endLog(log, clock);
    if (options.resume !== undefined) {
      if (logged === undefined || !(logged.scheduler instanceof ReplayScheduler)) {
        throw new FsError('EINVAL', 'only a replay resumes a mount from a checkpoint');
      }
      const { memo, handles } = options.resume;
      resumeMemo(fs, memo, logged.clock, logged.scheduler, logged.sink, handles);
    } else {
      fs.recovery.redoReplayed = replayRedo(state);
      fs.recovery.truncationsFinished = finishTruncations(state);
      fs.recovery.orphansDeleted = cleanOrphans(state);
    }
  } catch (error) {
    volume.close();
    throw toFsError(error, undefined);
  }
  return fs;
}

/** Unmount ends the run and closes the log; a log that cannot take its last events says so (EIO). */
function endLog(log: AuditLog, clock: Clock): void {
  try {
    log.endRun(clock.now());
  } finally {
    log.close();
  }
}
