import { join } from 'node:path';
import type { Observable } from 'rxjs';
import type { AuditReader, LoggedEvent } from '../storage/audit-reader.js';
import { encodePayload, reviveBinary } from '../storage/audit-schema.js';
import { CommandClock } from '../storage/clock.js';
import { FsError } from '../storage/errors.js';
import type { BusEvent, FileHandle, FileSystem, MkfsOptions, MountOptions } from './api.js';
import type { HammerFs } from './fs.js';
import { type MountInternals, mkfs, mount } from './index.js';
import { executeCommand } from './replay-commands.js';
import { type SystemState, systemState } from './replay-state.js';
import { ReplayScheduler } from './schedulers.js';

/**
 * Replay of an event log (hammerstate replay): the logged commands
 * re-executed, in log order, on a fresh volume made with the logged mkfs
 * parameters, under the logged command times and scheduler decisions; every
 * event the replay derives is compared with the logged one, in order.
 */
export interface ReplayOptions {
  /** Stop after the event with this global seq (and report the state there). */
  to?: number;
  /** Stop at the first divergence. */
  check?: boolean;
  /** Where the fresh volume is made. */
  dir: string;
  /**
   * Let what the last command set going run (promise continuations: a call
   * finishing after a flush it waited for). The CLI passes one turn of the
   * event loop; the core has no timers of its own.
   */
  drain: () => Promise<void>;
}

/** An event as replay compares it: everything but its place in the log. */
export interface ComparedEvent {
  kind: 'command' | 'fact';
  time: number;
  tid: number | null;
  actor: string;
  type: string;
  from: string | null;
  to: string | null;
  payload: string | null;
}

export interface Divergence {
  /** The logged event's global seq (the log's last seq + 1 when the replay produced more than the log has). */
  seq: number;
  expected: ComparedEvent | null;
  got: ComparedEvent | null;
}

export interface ReplayReport {
  events: number;
  commands: number;
  divergences: number;
  first_divergence: Divergence | null;
  /** The last logged seq replay processed. */
  seq: number;
  /** With `to`: the system's state there (undefined when no mount was running). */
  state?: SystemState;
}

interface Running {
  fs: HammerFs;
  clock: CommandClock;
  scheduler: ReplayScheduler;
  handles: Map<number, FileHandle>;
}

function compared(event: BusEvent | LoggedEvent, payload: string | null): ComparedEvent {
  return {
    kind: event.kind,
    time: event.time,
    tid: event.tid ?? null,
    actor: event.actor,
    type: event.type,
    from: event.from ?? null,
    to: event.to ?? null,
    payload,
  };
}

function same(a: ComparedEvent, b: ComparedEvent): boolean {
  return (
    a.kind === b.kind &&
    a.time === b.time &&
    a.tid === b.tid &&
    a.actor === b.actor &&
    a.type === b.type &&
    a.from === b.from &&
    a.to === b.to &&
    a.payload === b.payload
  );
}

function parameters(event: LoggedEvent): Record<string, unknown> {
  const parameters = (JSON.parse(event.payloadText ?? '{}') as { parameters?: unknown }).parameters;
  if (typeof parameters !== 'object' || parameters === null) {
    throw new FsError('EINVAL', `event ${event.seq} (${event.type}) lacks its parameters`);
  }
  return parameters as Record<string, unknown>;
}

/** Refuse what cannot be replayed exactly, with the reason: a log without its start, or kept at the meta level. */
function checkReplayable(reader: AuditReader): void {
  if (!reader.startsAtMkfs) {
    throw new FsError(
      'EINVAL',
      'the log does not start at mkfs (it was deleted or rotated since): replay needs the whole history of the volume',
      { path: reader.path },
    );
  }
  for (const run of reader.runs()) {
    if (run.level !== 'full') {
      throw new FsError(
        'EINVAL',
        `run ${run.run} was logged at the '${run.level}' level, which keeps sizes and hashes but not the data written: it cannot be replayed`,
        { path: reader.path },
      );
    }
  }
}

/** Replay the log `reader` reads; see ReplayOptions. */
export async function replayLog(reader: AuditReader, options: ReplayOptions): Promise<ReplayReport> {
  checkReplayable(reader);
  const volume = join(options.dir, 'replay.hsvol');
  const produced: BusEvent[] = [];
  const report: ReplayReport = { events: 0, commands: 0, divergences: 0, first_divergence: null, seq: 0 };
  let running: Running | undefined;

  const diverge = (divergence: Divergence): boolean => {
    report.divergences++;
    report.first_divergence ??= divergence;
    return options.check === true;
  };
  /** Compare a logged event with the next one the replay produced; true to stop. */
  const compare = (event: LoggedEvent): boolean => {
    const expected = compared(event, event.payloadText ?? null);
    const next = produced.shift();
    const got =
      next === undefined
        ? null
        : compared(next, next.payload === undefined ? null : encodePayload(next.payload, 'full'));
    if (got !== null && same(expected, got)) return false;
    return diverge({ seq: event.seq, expected, got });
  };

  for (const event of reader.events({ toSeq: options.to }, { parse: false })) {
    report.events++;
    report.seq = event.seq;
    if (event.busSeq === undefined) {
      // Written by the log itself: a run's start (mkfs is re-executed here; a mount's own command follows), or a note of events it lost.
      if (event.type === 'mkfs') await remake(volume, event);
      else if (event.type === 'mount') continue;
      else if (diverge({ seq: event.seq, expected: compared(event, event.payloadText ?? null), got: null })) break;
      continue;
    }
    if (event.kind === 'command') {
      report.commands++;
      const started = await runCommand(event, running, volume, produced);
      running = started.running;
      await settle(started.call, options.drain);
      if (event.type === 'unmount') running = undefined;
    }
    if (compare(event)) break;
  }
  if (options.to === undefined && report.first_divergence === null && produced.length > 0) {
    const extra = produced[0] as BusEvent;
    diverge({
      seq: report.seq + 1,
      expected: null,
      got: compared(extra, extra.payload === undefined ? null : encodePayload(extra.payload, 'full')),
    });
  }
  if (options.to !== undefined && running !== undefined) report.state = systemState(running.fs, running.scheduler);
  return report;
}

/** The mkfs the log starts with, on a fresh volume file, at the logged time. */
async function remake(volume: string, event: LoggedEvent): Promise<void> {
  const logged = parameters(event) as MkfsOptions & { fsid?: string };
  const clock = new CommandClock(undefined);
  clock.replayNext(event.time);
  clock.beginCommand();
  await mkfs(volume, {
    size: logged.size,
    undoBytes: logged.undoBytes,
    label: logged.label,
    fsid: logged.fsid,
    clock,
    audit: false,
  });
}

/** Microtask turns a call gets to finish before the event loop is turned (a call's own promise chain is short). */
const SETTLE_TURNS = 8;

/**
 * Let what the last command set going run before the next logged event is
 * read. A call that finishes within a few microtask turns needs nothing more
 * (most do: the front end runs synchronously inside its promise); one that
 * waits (an fsync on its flush group, back-pressure), a scheduler firing and
 * a mount get a full turn of the event loop (`drain`), so every continuation
 * they release runs, as it did in the logged run before its next call.
 */
async function settle(call: Promise<unknown> | undefined, drain: () => Promise<void>): Promise<void> {
  if (call !== undefined) {
    let settled = false;
    call.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (let turn = 0; turn < SETTLE_TURNS && !settled; turn++) await Promise.resolve();
    if (settled) return;
  }
  await drain();
}

/** Start one logged command (mount, a scheduler firing, an fs call); returns the running mount after it and the call. */
async function runCommand(
  event: LoggedEvent,
  running: Running | undefined,
  volume: string,
  produced: BusEvent[],
): Promise<{ running: Running | undefined; call?: Promise<unknown> }> {
  const args = (reviveBinary(JSON.parse(event.payloadText ?? '{}')) ?? {}) as Record<string, unknown>;
  if (event.type === 'mount') {
    const clock = new CommandClock(undefined);
    clock.replayNext(event.time);
    const scheduler = new ReplayScheduler();
    const observe = (events: Observable<BusEvent>) => {
      events.subscribe((bus) => produced.push(bus));
    };
    const options: MountOptions & MountInternals = { ...args, logged: { clock, scheduler, observe } };
    const fs = (await mount(volume, options)) as HammerFs;
    return { running: { fs, clock, scheduler, handles: new Map() } };
  }
  if (running === undefined) throw new FsError('EINVAL', `event ${event.seq}: a ${event.type} command outside a mount`);
  running.clock.replayNext(event.time);
  if (event.type === 'scheduler.fire') {
    // An action that is not waiting produces nothing: the comparison reports it.
    running.scheduler.fire(Number(args.action));
    return { running };
  }
  const call = executeCommand({ fs: running.fs as FileSystem, handles: running.handles }, event.type, args);
  call.catch(() => undefined); // an error the original call met is met again; the events show it
  return { running, call };
}
