import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { BusEvent, FileSystem } from '../../actors/api.js';
import { mkfs, mount } from '../../actors/index.js';
import { replayLog } from '../../actors/replay.js';
import { eventLoopTurn } from '../../cli/event-loop.js';
import { AuditLog } from '../../storage/audit-log.js';
import { AuditReader, type EventFilter, type LoggedEvent } from '../../storage/audit-reader.js';
import { encodePayload } from '../../storage/audit-schema.js';
import { type Clock, logicalClock } from '../../storage/clock.js';
import { MiB } from './fs.js';

/**
 * What the audit log tests share: a volume file made and mounted with its log
 * attached the way the mount will do it (beginRun, attach, endRun), and the
 * log read back.
 */
export const MKFS_PARAMETERS = { size: 64 * MiB, undoBytes: 8 * MiB };
export const CLOCK_START = 1_700_000_000_000_000;
export const CLOCK_SPEC = { type: 'logical', start: CLOCK_START, step: 1000 };

export function removeLog(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}

/** mkfs of a fresh volume file, logged as run 1 when `log` is given. */
export async function makeVolume(volume: string, clock: Clock, log?: AuditLog): Promise<void> {
  rmSync(volume, { force: true });
  log?.beginRun({ kind: 'mkfs', volume, parameters: MKFS_PARAMETERS, clock: CLOCK_SPEC, time: clock.now() });
  await mkfs(volume, { ...MKFS_PARAMETERS, clock, audit: false });
  log?.endRun(clock.now());
}

/**
 * One logged mount: a run begun, the bus attached, `work` done, unmounted,
 * the run ended. Returns the bus events as a second subscriber saw them.
 */
export async function loggedMount(
  log: AuditLog,
  volume: string,
  clock: Clock,
  work: (fs: FileSystem) => Promise<void>,
): Promise<BusEvent[]> {
  log.beginRun({ kind: 'mount', volume, parameters: {}, seed: 7, clock: CLOCK_SPEC, time: clock.now() });
  const fs = await mount(volume, { clock, audit: false });
  const seen: BusEvent[] = [];
  const subscription = fs.events.subscribe((event) => seen.push(event));
  log.attach(fs.events);
  await work(fs);
  await fs.unmount();
  subscription.unsubscribe();
  log.endRun(clock.now());
  return seen;
}

/** Every stored event passing `filter`, read back with a fresh reader. */
export function readEvents(path: string, filter: EventFilter = {}): LoggedEvent[] {
  const reader = AuditReader.open(path);
  try {
    return [...reader.events(filter)];
  } finally {
    reader.close();
  }
}

/** A bus event of a synthetic run (tests that need payloads the bus does not send yet, or gaps). */
export function busEvent(seq: number, payload?: Record<string, unknown>): BusEvent {
  return { seq, kind: 'command', time: CLOCK_START + seq, tid: undefined, actor: 'fs', type: 'write', payload };
}

/** A fresh logical clock, as each test's mkfs and mounts share one. */
export function testClock(): Clock {
  return logicalClock(CLOCK_START, 1000);
}

/** The bus event as the log must give it back: same fields, its bus seq, payload unchanged. */
export function asStored(event: BusEvent): Partial<LoggedEvent> {
  const stored: Partial<LoggedEvent> = {
    busSeq: event.seq,
    kind: event.kind,
    time: event.time,
    tid: event.tid,
    actor: event.actor,
    type: event.type,
  };
  if (event.from !== undefined) stored.from = event.from;
  if (event.to !== undefined) stored.to = event.to;
  if (event.payload !== undefined) stored.payload = JSON.parse(encodePayload(event.payload, 'full'));
  return stored;
}

/**
 * A volume made and mounted once to do `work`, logged into a new log at
 * `path` from its mkfs on (or from the mount only, when `fromMkfs` is false).
 */
export async function loggedVolume(
  volume: string,
  path: string,
  work: (fs: FileSystem) => Promise<void>,
  fromMkfs = true,
): Promise<BusEvent[]> {
  const clock = testClock();
  const log = AuditLog.open(path);
  try {
    await makeVolume(volume, clock, fromMkfs ? log : undefined);
    return await loggedMount(log, volume, clock, work);
  } finally {
    log.close();
  }
}

/** Replay the log beside `volume` on a fresh volume in a new directory under `dir`: no divergence, from the first event on. */
export async function expectExactReplay(volume: string, dir: string): Promise<void> {
  const reader = AuditReader.open(`${volume}.events.sqlite`);
  try {
    const report = await replayLog(reader, { dir: mkdtempSync(join(dir, 'replay-')), drain: eventLoopTurn });
    expect(report.first_divergence).toBeNull();
    expect(report.divergences).toBe(0);
  } finally {
    reader.close();
  }
}
