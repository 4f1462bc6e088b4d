import { join } from 'node:path';
import type { AuditReader, LoggedEvent } from '../storage/audit-reader.js';
import { reviveBinary } from '../storage/audit-schema.js';
import { CommandClock } from '../storage/clock.js';
import { FileDevice } from '../storage/device.js';
import { FsError } from '../storage/errors.js';
import type { FileHandle, FileSystem, MkfsOptions, MountOptions } from './api.js';
import type { HammerFs } from './fs.js';
import { type MountInternals, mkfs, mount } from './index.js';
import { captureMemo } from './mount-memo.js';
import { type Checkpoint, Checkpoints, logIdentity } from './replay-checkpoints.js';
import { executeCommand } from './replay-commands.js';
import { type Divergence, LogCursor, loggedCompared, ReplaySink } from './replay-compare.js';
import { type SystemState, systemState } from './replay-state.js';
import { ReplayScheduler } from './schedulers.js';

/**
 * Replay of an event log (hammerstate replay): the logged commands
 * re-executed, in log order, on a fresh volume made with the logged mkfs
 * parameters, under the logged command times and scheduler decisions; every
 * event the replay derives is compared with the logged one, in order.
 */
export interface ReplayOptions {
  /**
   * Stop after the event with this global seq and report the state there:
   * the state once the command that produced that event has run (the events
   * up to `to` are checked; a command's own events come all at once).
   */
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
  /**
   * Checkpoints (actors/replay-checkpoints.ts): `dir` holds them; a replay
   * with `to` starts from the nearest one at or before it (`use`); a replay
   * takes one at the first mount boundary or point between two commands
   * `every` events or more after the last where the mount can be taken
   * (actors/mount-memo.ts), and keeps at most `keep` (spread over the log).
   */
  checkpoints?: { dir: string; every: number; use: boolean; keep?: number };
  /** Told the seq reached every PROGRESS_EVENTS events (the CLI's progress bar). */
  progress?: (seq: number) => void;
}

const PROGRESS_EVENTS = 1000;

export type { ComparedEvent, Divergence } from './replay-compare.js';

export interface ReplayReport {
  events: number;
  commands: number;
  divergences: number;
  first_divergence: Divergence | null;
  /** The last logged seq replay processed. */
  seq: number;
  /** With `to`: the system's state there (undefined when no mount was running). */
  state?: SystemState;
  /** The checkpoint the replay started from (its seq), if any. */
  fromCheckpoint?: number;
  /** Checkpoints this replay took (their seqs). */
  checkpointsTaken?: number[];
  /** The checkpoint the replay could not resume from (dropped; the replay started at mkfs), and why. */
  checkpointRefused?: string;
}

interface Running {
  fs: HammerFs;
  clock: CommandClock;
  scheduler: ReplayScheduler;
  handles: Map<number, FileHandle>;
  /** The mount command's arguments (its payload), as logged: a checkpoint inside the mount keeps them. */
  args: string;
  /**
   * Checkpoints may be taken inside it: not in a mount made read-only (a
   * remount read-write later would resume read-only).
   */
  checkpointable: boolean;
}

function runningMount(fs: HammerFs, clock: CommandClock, scheduler: ReplayScheduler, args: string): Running {
  const checkpointable = (JSON.parse(args) as { readOnly?: unknown }).readOnly !== true;
  return { fs, clock, scheduler, handles: new Map(), args, checkpointable };
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
  return new Replayer(reader, options).run();
}

/** One replay: the fresh volume, the running mount, the log's cursor and the sink comparing what the mount derives, the report. */
class Replayer {
  private readonly volume: string;
  private readonly report: ReplayReport = { events: 0, commands: 0, divergences: 0, first_divergence: null, seq: 0 };
  private running: Running | undefined;
  private unmounting: Promise<unknown> | undefined;
  private readonly checkpoints: Checkpoints | undefined;
  private checkpointed = 0;

  constructor(
    private readonly reader: AuditReader,
    private readonly options: ReplayOptions,
  ) {
    this.volume = join(options.dir, 'replay.hsvol');
    this.checkpoints = openCheckpoints(reader, options);
  }

  async run(): Promise<ReplayReport> {
    const { to } = this.options;
    const checkpoint =
      this.checkpoints !== undefined && to !== undefined && this.options.checkpoints?.use === true
        ? this.checkpoints.nearest(to)
        : undefined;
    let { cursor, sink } = this.reading(checkpoint?.seq ?? 0);
    if (checkpoint !== undefined && this.checkpoints !== undefined) {
      try {
        this.running = await resumeFrom(this.checkpoints, checkpoint, this.volume, sink);
        this.report.fromCheckpoint = checkpoint.seq;
        this.report.seq = checkpoint.seq;
        this.checkpointed = checkpoint.seq;
      } catch (error) {
        // Checkpoints are derived data: one that does not resume is dropped, and the replay starts at mkfs.
        this.report.checkpointRefused = `checkpoint ${checkpoint.seq}: ${error instanceof Error ? error.message : String(error)}`;
        this.checkpoints.drop(checkpoint);
        ({ cursor, sink } = this.reading(0));
      }
    }
    for (let row = cursor.take(); row !== undefined; row = cursor.take()) {
      if (await this.step(row, sink)) break;
    }
    this.finish();
    return this.report;
  }

  /** The log's rows after `from`, and the sink comparing what the replay derives with them. */
  private reading(from: number): { cursor: LogCursor; sink: ReplaySink } {
    const rows = this.reader.events({ fromSeq: from + 1, toSeq: this.options.to }, { parse: false });
    const cursor = new LogCursor(rows, (row) => this.taken(row));
    const sink = new ReplaySink(cursor, {
      bounded: this.options.to !== undefined,
      diverged: (divergence) => this.diverge(divergence),
      lastSeq: () => this.report.seq,
    });
    return { cursor, sink };
  }

  private taken(row: LoggedEvent): void {
    this.report.events++;
    this.report.seq = row.seq;
    if (this.report.events % PROGRESS_EVENTS === 0) this.options.progress?.(row.seq);
  }

  /**
   * One row the loop takes: a row the log wrote itself, a command (executed;
   * the events it derives are checked by the sink as they come), or a derived
   * event the replay did not derive when its turn came. True to stop.
   */
  private async step(row: LoggedEvent, sink: ReplaySink): Promise<boolean> {
    if (row.busSeq === undefined) {
      // Written by the log itself: a run's start (mkfs is re-executed here; a mount's own command follows), or a note of events it lost.
      if (row.type === 'mkfs') await remake(this.volume, row);
      else if (row.type === 'mount') await this.boundary(row);
      else return this.diverge({ seq: row.seq, expected: loggedCompared(row), got: null });
      return false;
    }
    if (row.kind !== 'command') return this.diverge({ seq: row.seq, expected: loggedCompared(row), got: null });
    this.report.commands++;
    sink.command = row;
    const started = await runCommand(row, this.running, this.volume, sink);
    this.running = started.running;
    await settle(started.call, this.options.drain);
    if (row.type === 'unmount') this.unmounting = started.call;
    if (sink.command === undefined) {
      if (row.type !== 'unmount') this.betweenCommands();
      return this.stopped();
    }
    // The command made no event of its own (a scheduler firing with nothing waiting).
    sink.command = undefined;
    return this.diverge({ seq: row.seq, expected: loggedCompared(row), got: null });
  }

  /** A mount boundary: nothing runs, the volume image is the whole state; a checkpoint every so many events. */
  private async boundary(event: LoggedEvent): Promise<void> {
    const every = this.options.checkpoints?.every;
    // A run that ended without its unmount (the process was killed) leaves no clean boundary.
    const clean = this.running === undefined || this.unmounting !== undefined;
    await this.unmounting;
    this.unmounting = undefined;
    this.running = undefined;
    if (!clean) return;
    if (this.checkpoints === undefined || every === undefined || event.seq - 1 - this.checkpointed < every) return;
    if (this.report.divergences > 0) return;
    this.checkpointed = event.seq - 1;
    this.checkpoints.save(this.checkpointed, this.volume, undefined, this.options.checkpoints?.keep);
    this.report.checkpointsTaken = [...(this.report.checkpointsTaken ?? []), this.checkpointed];
  }

  /**
   * After a command, inside a mount: a checkpoint of the mount's whole state
   * (image and memo) when the last one is `every` events behind and the
   * mount can be taken (actors/mount-memo.ts says what that takes).
   */
  private betweenCommands(): void {
    const every = this.options.checkpoints?.every;
    const running = this.running;
    if (this.checkpoints === undefined || every === undefined || running === undefined) return;
    if (this.report.seq - this.checkpointed < every || this.report.divergences > 0) return;
    if (!running.checkpointable) return;
    const taken = captureMemo(running.fs, running.clock, running.scheduler, running.handles);
    if (!('memo' in taken)) return;
    this.checkpointed = this.report.seq;
    const inside = { mount: running.args, memo: taken.memo };
    this.checkpoints.save(this.checkpointed, this.volume, inside, this.options.checkpoints?.keep);
    this.report.checkpointsTaken = [...(this.report.checkpointsTaken ?? []), this.checkpointed];
  }

  /** Count a divergence (the first is kept); true when the replay stops at it (check mode). */
  private diverge(divergence: Divergence): boolean {
    this.report.divergences++;
    this.report.first_divergence ??= divergence;
    return this.stopped();
  }

  private stopped(): boolean {
    return this.options.check === true && this.report.divergences > 0;
  }

  /** With `to`: the state of the system there. */
  private finish(): void {
    if (this.options.to !== undefined && this.running !== undefined) {
      this.report.state = systemState(this.running.fs, this.running.scheduler);
    }
  }
}

function openCheckpoints(reader: AuditReader, options: ReplayOptions): Checkpoints | undefined {
  if (options.checkpoints === undefined) return undefined;
  const first = reader.events({ toSeq: 1 }, { parse: false }).next().value;
  if (first === undefined) return undefined;
  return Checkpoints.open(options.checkpoints.dir, logIdentity(first));
}

/**
 * Put checkpoint `checkpoint`'s image where the replay's volume goes; one
 * taken inside a mount also resumes that mount from its memo (the running
 * mount to go on with; undefined at a mount boundary).
 */
async function resumeFrom(
  checkpoints: Checkpoints,
  checkpoint: Checkpoint,
  volume: string,
  sink: ReplaySink,
): Promise<Running | undefined> {
  checkpoints.restore(checkpoint, volume);
  const inside = checkpoints.mountState(checkpoint);
  if (inside === undefined) return undefined;
  const clock = new CommandClock(undefined);
  clock.replayNext(inside.memo.clock.base);
  const scheduler = new ReplayScheduler();
  const args = (reviveBinary(JSON.parse(inside.mount)) ?? {}) as Record<string, unknown>;
  const handles = new Map<number, FileHandle>();
  const resume = { memo: inside.memo, handles };
  const options: MountOptions & MountInternals = { ...args, logged: { clock, scheduler, sink }, resume };
  const fs = (await mount(FileDevice.open(volume, { durable: false }), options)) as HammerFs;
  const resumed = runningMount(fs, clock, scheduler, inside.mount);
  for (const [fd, handle] of handles) resumed.handles.set(fd, handle);
  return resumed;
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
  sink: ReplaySink,
): Promise<{ running: Running | undefined; call?: Promise<unknown> }> {
  const args = (reviveBinary(JSON.parse(event.payloadText ?? '{}')) ?? {}) as Record<string, unknown>;
  if (event.type === 'mount') {
    const clock = new CommandClock(undefined);
    clock.replayNext(event.time);
    const scheduler = new ReplayScheduler();
    const options: MountOptions & MountInternals = { ...args, logged: { clock, scheduler, sink } };
    // The replay's volume is scratch: its fsyncs are counted (FINALIZE says how many) but need not reach the disk.
    const fs = (await mount(FileDevice.open(volume, { durable: false }), options)) as HammerFs;
    return { running: runningMount(fs, clock, scheduler, event.payloadText ?? '{}') };
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
