import { rmSync } from 'node:fs';
import { asapScheduler, type SchedulerLike } from 'rxjs';
import { AuditLog } from '../storage/audit-log.js';
import type { AuditLevel } from '../storage/audit-schema.js';
import { type Clock, CommandClock } from '../storage/clock.js';
import type { VolumeSource } from './api.js';
import { RecordingScheduler } from './schedulers.js';

/**
 * The audit log of a volume (docs/events.md): every event of every mount
 * that changes the volume, in SQLite beside it, `<volume>.events.sqlite` by
 * default. The volume never needs it; a change the log cannot record is
 * refused (EIO), so nothing happens unlogged.
 */
export interface AuditOptions {
  /** The log file; false for none. Default: `<volume>.events.sqlite` for a volume file, none for a device. */
  audit?: string | false;
  /** `full` (default) keeps write data, so the run can be replayed; `meta` keeps sizes and hashes. */
  auditLevel?: AuditLevel;
}

export const AUDIT_SUFFIX = '.events.sqlite';

/** Where the log of `source` goes, or undefined for none. */
export function auditPath(source: VolumeSource, options: AuditOptions): string | undefined {
  if (options.audit === false) return undefined;
  if (typeof options.audit === 'string') return options.audit;
  return typeof source === 'string' ? `${source}${AUDIT_SUFFIX}` : undefined;
}

/** A clock as the log describes it (runs table; the replay itself takes times from the logged commands). */
export function clockDescription(clock: Clock | undefined): Record<string, unknown> {
  return { type: clock === undefined ? 'logical' : 'injected', commandClock: true };
}

/** mkfs starts a volume's history: a log left by an earlier volume of that name goes with it. */
export function startLog(path: string, level: AuditLevel | undefined): AuditLog {
  removeLog(path);
  return AuditLog.open(path, { level });
}

/** A log file and its SQLite companions (WAL, shared memory). */
export function removeLog(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}

/** A logged mount's clock and scheduler, with the log attached to the bus from its first event. */
export function loggedMount(log: AuditLog, clock: Clock, scheduler: SchedulerLike | undefined) {
  return {
    clock: new CommandClock(clock),
    scheduler: new RecordingScheduler(scheduler ?? asapScheduler),
    sink: log.sink,
  };
}
