import type { Observable, Subscription } from 'rxjs';
import { assert } from './assert.js';
import { EventRows, NameTable } from './audit-rows.js';
import {
  AUDIT_LEVELS,
  type AuditEvent,
  type AuditLevel,
  type DeferredPayload,
  encodePayloadDeferred,
  type FlushSynced,
  type RunStart,
  runRecord,
} from './audit-schema.js';
import { AuditStore, describe, type RunEnd } from './audit-store.js';
import { AuditWriter, type WriterReply } from './audit-writer.js';
import { FsError } from './errors.js';

export type { AuditEvent, RunStart } from './audit-schema.js';

/**
 * The writer of the audit log: every event of a mount's bus, batched into
 * SQLite beside the volume (docs/events.md). The volume never depends on it;
 * but a volume change that could not be logged is not made: when the log
 * cannot be written, `check()` throws EIO and the mount refuses to change the
 * volume until the log is written again (the failure policy, docs/events.md).
 * Events are encoded and given their global seq here, on the caller's stack;
 * batches go to the writer thread (storage/audit-writer.ts) every
 * `batchEvents` events or `batchBytes` bytes, one in flight at a time, and
 * synchronously on flush(), endRun(), close() and check() while failing.
 * No timers (determinism): what the file holds does not depend on when the
 * thread answers; only when a failure is noticed does.
 */

export interface AuditLogOptions {
  /** What binary payload values keep (default `full`). */
  level?: AuditLevel;
  /** A batch is written when this many events wait (default 4096)... */
  batchEvents?: number;
  /** ...or this many bytes of rows (default 8 MiB). */
  batchBytes?: number;
  /** The most events kept in memory while the log is failing (default 65,536). */
  bufferEvents?: number;
  /** The most bytes kept in memory while the log is failing (default 64 MiB). */
  bufferBytes?: number;
}

const MiB = 1024 * 1024;
const DEFAULTS = { batchEvents: 4096, batchBytes: 8 * MiB, bufferEvents: 65_536, bufferBytes: 64 * MiB };
/** What a row costs in memory beyond its strings (numbers, array slots), for the byte bounds. */
const ROW_OVERHEAD_BYTES = 96;
/** The actor of the events the log writes about itself (lost or missed bus events). */
const LOG_ACTOR = 'log';

/** Events dropped while the buffer was full: one EVENTS_LOST row (its payload is text `at` of `rows`) describes a run of them. */
interface LostMarker {
  at: number;
  info: { events: number; firstBusSeq: number; lastBusSeq: number; cause: string };
}

/** What an encoded payload holds in memory, near enough for the buffer's byte bound. */
function payloadBytes(payload: string | DeferredPayload | null): number {
  if (payload === null) return 0;
  if (typeof payload === 'string') return payload.length;
  let bytes = 0;
  for (const part of payload.parts) bytes += part.length;
  for (const binary of payload.binaries) bytes += binary.length;
  return bytes;
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new FsError('EINVAL', `audit log option ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** The options' bounds, checked: positive, and a buffer that holds at least one batch. */
function limitsOf(options: AuditLogOptions): typeof DEFAULTS {
  const limits = {
    batchEvents: positive('batchEvents', options.batchEvents ?? DEFAULTS.batchEvents),
    batchBytes: positive('batchBytes', options.batchBytes ?? DEFAULTS.batchBytes),
    bufferEvents: positive('bufferEvents', options.bufferEvents ?? DEFAULTS.bufferEvents),
    bufferBytes: positive('bufferBytes', options.bufferBytes ?? DEFAULTS.bufferBytes),
  };
  if (limits.bufferEvents < limits.batchEvents || limits.bufferBytes < limits.batchBytes) {
    throw new FsError('EINVAL', 'audit log buffer bounds must hold at least one batch');
  }
  return limits;
}

/**
 * The log's direct line from the bus (EventBus.attachSink): an event as
 * loose fields, in the order of BusEvent's; and an inode's transition, whose
 * payload is always its flags, sync flags and group, as numbers (the hot
 * path: most events are these, and they cost no object and no JSON here).
 */
export interface EventSink {
  event(
    seq: number,
    kind: AuditEvent['kind'],
    time: number,
    tid: number | undefined,
    actor: string,
    type: string,
    from: string | undefined,
    to: string | undefined,
    payload: Record<string, unknown> | undefined,
  ): void;
  inodeFlags(
    seq: number,
    time: number,
    tid: number | undefined,
    actor: string,
    type: string,
    from: string,
    to: string,
    flags: number,
    syncFlags: number,
    group: number | undefined,
    /** A FLUSH_DONE's account of what the flush wrote, as numbers too. */
    synced?: FlushSynced,
  ): void;
}

export class AuditLog {
  private nextSeq: number;
  private nextRun: number;
  private run: { id: number; busSeq: number } | undefined;
  /** Kinds, types and states by index, for the rows' packing (storage/audit-rows.ts). */
  private readonly names = new NameTable();
  /** Rows not yet sent to the writer, in seq order. */
  private rows: EventRows;
  private bufferedBytes = 0;
  /** The batch the writer is writing (its rows moved there): given back to `rows` if it fails. */
  private inflight: { count: number; texts: number; bytes: number } | undefined;
  /** A batch is sent when `rows` reaches these (a batch more after a failure). */
  private flushAtLength: number;
  private flushAtBytes: number;
  private failure: Error | undefined;
  private lostMarker: LostMarker | undefined;
  private lostTotal = 0;
  private closed = false;
  private readonly subscriptions = new Set<Subscription>();

  /**
   * Open (or make) the log at `path` and start its writer thread. Throws
   * EINVAL for a file that is not an event log (or bad options), ENOENT
   * without its directory, EIO when SQLite cannot open it. Once per mount.
   */
  static open(path: string, options: AuditLogOptions = {}): AuditLog {
    const level = options.level ?? 'full';
    if (!AUDIT_LEVELS.includes(level)) {
      throw new FsError('EINVAL', `audit log level must be full or meta, got ${level}`);
    }
    const limits = limitsOf(options);
    const store = AuditStore.open(path);
    return new AuditLog(store, AuditWriter.start(path, store.identity), level, limits);
  }

  private constructor(
    private readonly store: AuditStore,
    private readonly writer: AuditWriter,
    readonly level: AuditLevel,
    private readonly limits: typeof DEFAULTS,
  ) {
    this.nextSeq = store.lastSeq + 1;
    this.nextRun = store.lastRun + 1;
    this.rows = new EventRows(this.names, level);
    this.flushAtLength = limits.batchEvents;
    this.flushAtBytes = limits.batchBytes;
  }

  get path(): string {
    return this.store.path;
  }

  /** The error that keeps the log from being written, or undefined while it is healthy (as far as is known). */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Events in memory, not yet known to be in the file. */
  get buffered(): number {
    return this.rows.count + (this.inflight?.count ?? 0);
  }

  /** Events dropped (buffer full while failing) since open; each run of drops is described by an EVENTS_LOST row. */
  get lost(): number {
    return this.lostTotal;
  }

  /** The global seq of the last event recorded (written or buffered); 0 for an empty log. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /**
   * Start a run (mkfs or mount): writes its `runs` row and its first event, a
   * command of type `mkfs` or `mount` carrying the volume, parameters, seed,
   * clock and level, at once (not batched). A mkfs starts a log: EEXIST if this
   * one already holds events. EIO when it cannot be written.
   */
  beginRun(start: RunStart): number {
    assert(!this.closed, 'audit log: beginRun on an open log');
    assert(this.run === undefined, 'audit log: one run at a time (endRun before the next beginRun)');
    assert(this.buffered === 0, 'audit log: nothing is buffered between runs (endRun wrote it)');
    if (start.kind === 'mkfs' && this.nextSeq > 1) {
      throw new FsError('EEXIST', `audit log already holds ${this.nextSeq - 1} events; a mkfs starts a new log`, {
        path: this.path,
      });
    }
    const run = this.nextRun;
    const seq = this.nextSeq;
    const { record, payload } = runRecord(run, start, this.level);
    try {
      this.store.beginRun(record, { startTime: start.time, firstSeq: seq, payload });
    } catch (error) {
      throw new FsError('EIO', `audit log: cannot begin the ${start.kind} run: ${describe(error)}`, {
        path: this.path,
      });
    }
    this.nextRun = run + 1;
    this.nextSeq = seq + 1;
    this.run = { id: run, busSeq: 0 };
    return run;
  }

  /** Record every event of `events$` (a mount's fs.events) until the subscription ends or the log closes. */
  attach(events$: Observable<AuditEvent>): Subscription {
    const subscription = events$.subscribe({ next: (event) => this.record(event) });
    this.subscriptions.add(subscription);
    subscription.add(() => this.subscriptions.delete(subscription));
    return subscription;
  }

  /**
   * One bus event, on the bus's own call stack: encoded now (the caller may
   * reuse a buffer it wrote), given its seq, buffered; a batch is sent when
   * one is full. Never throws for a failing log (a bus subscriber must not):
   * the failure is kept for check(). Waits for the writer only when the
   * buffer is full and the log healthy (back-pressure). Asserts it is inside
   * a run and that bus seqs increase.
   */
  record(event: AuditEvent): void {
    const { seq, kind, time, tid, actor, type, from, to, payload } = event;
    this.sink.event(seq, kind, time, tid, actor, type, from, to, payload);
  }

  /** The bus's direct line (EventBus.attachSink): record() without an event object. */
  readonly sink: EventSink = {
    event: (seq, kind, time, tid, actor, type, from, to, payload) => {
      const run = this.admit(seq, time);
      if (run === undefined) return;
      const encoded = payload === undefined ? null : encodePayloadDeferred(payload, this.level);
      this.rows.push(this.nextSeq++, run, seq, kind, time, tid, actor, type, from, to, encoded);
      this.bufferedBytes += ROW_OVERHEAD_BYTES + actor.length + type.length + payloadBytes(encoded);
      if (this.due()) this.pump();
    },
    inodeFlags: (seq, time, tid, actor, type, from, to, flags, syncFlags, group, synced) => {
      const run = this.admit(seq, time);
      if (run === undefined) return;
      this.rows.pushInodeFlags(
        this.nextSeq++,
        run,
        seq,
        time,
        tid,
        actor,
        type,
        from,
        to,
        flags,
        syncFlags,
        group,
        synced,
      );
      this.bufferedBytes += ROW_OVERHEAD_BYTES + actor.length + type.length;
      if (this.due()) this.pump();
    },
  };

  /**
   * An event's way in: the run it belongs to, or undefined when it is not
   * kept (the log is closed: the line is cut, as close() ends the
   * subscriptions, and a scheduler may still fire after an unmount; or the
   * buffer is full while the log fails: counted as lost). Marks bus seqs
   * that were skipped.
   */
  private admit(seq: number, time: number): number | undefined {
    if (this.closed) return undefined;
    const run = this.run;
    assert(run !== undefined, 'audit log: events are recorded inside a run (beginRun before attach)');
    assert(seq > run.busSeq, 'audit log: bus seqs increase within a run (one run per mount)');
    const expected = run.busSeq + 1;
    run.busSeq = seq;
    if (this.full()) this.relieve();
    if (this.full()) {
      assert(this.failure !== undefined, 'audit log: events are dropped only while the log is failing');
      this.drop(run.id, seq, time);
      return undefined;
    }
    if (seq !== expected) {
      const missed = { events: seq - expected, firstBusSeq: expected, lastBusSeq: seq - 1 };
      this.pushLogFact(run.id, time, 'EVENTS_MISSED', JSON.stringify(missed));
    }
    return run.id;
  }

  /** Write what is buffered now and wait for it. Throws EIO when it cannot (the events stay buffered and are retried). */
  flush(): void {
    if (!this.writeNow()) throw this.eio('cannot write buffered events');
  }

  /**
   * Called by the mount before every operation that changes the volume. Cheap
   * while the log is healthy (it only looks for the writer's answer); while it
   * is failing it retries the write and throws EIO (naming the log and the
   * cause) if it still fails, so the volume is not changed by an operation the
   * log could not record.
   */
  check(): void {
    if (this.writer.busy) this.take(this.writer.poll());
    if (this.failure === undefined) return;
    if (this.writeNow()) return;
    throw this.eio('the volume is not changed while its audit log cannot be written');
  }

  /**
   * End the current run: its last events and its end (`end_time`, `last_seq`)
   * in one transaction. Throws EIO when they cannot be written; the run then
   * stays open and endRun may be called again.
   */
  endRun(time: number): void {
    const run = this.run;
    assert(!this.closed && run !== undefined, 'audit log: endRun inside a run');
    if (!this.writeNow({ run: run.id, endTime: time, lastSeq: this.nextSeq - 1 })) throw this.eio('cannot end the run');
    this.run = undefined;
  }

  /**
   * Write what is buffered, stop the writer and close the connections, also
   * when writing fails; then throw EIO if events could not be written (they
   * are lost with the process, and the error says how many). A run not ended
   * stays open in the file, as after a crash.
   */
  close(): void {
    if (this.closed) return;
    for (const subscription of [...this.subscriptions]) subscription.unsubscribe();
    const written = this.writeNow();
    const error = written ? undefined : this.eio('closed with events not written');
    this.closed = true;
    this.rows = new EventRows(this.names, this.level);
    const stopped = this.writer.stop();
    this.store.close();
    if (error !== undefined) throw error;
    if (stopped !== undefined) {
      throw new FsError('EIO', `audit log: its writer could not close the file: ${stopped}`, { path: this.path });
    }
  }

  /** The EIO every failing path throws: what failed, the log, the cause, what waits in memory. */
  private eio(what: string): FsError {
    const lost = this.lostTotal > 0 ? `, dropped: ${this.lostTotal}` : '';
    const cause = this.failure === undefined ? 'unknown cause' : describe(this.failure);
    return new FsError('EIO', `audit log: ${what}: ${cause} (events in memory: ${this.buffered}${lost})`, {
      path: this.path,
    });
  }

  /** The buffer bound (sent and unsent rows): at it, the writer is waited for, or while failing, events are dropped. */
  private full(): boolean {
    const length = this.buffered;
    const bytes = this.bufferedBytes + (this.inflight?.bytes ?? 0);
    return length > 0 && (length >= this.limits.bufferEvents || bytes >= this.limits.bufferBytes);
  }

  private due(): boolean {
    return this.rows.count >= this.flushAtLength || this.bufferedBytes >= this.flushAtBytes;
  }

  /**
   * The buffer is full: take the writer's answer and, while the log is
   * healthy, wait for the writer and send what waits until it is not
   * (back-pressure; an event larger than the byte bound is written alone).
   * While failing it returns full, and the caller drops.
   */
  private relieve(): void {
    this.take(this.writer.poll());
    for (let round = 0; this.full() && this.failure === undefined; round++) {
      assert(round < 3, 'audit log: a full buffer empties within one batch answered and one sent');
      if (this.writer.busy) this.take(this.writer.wait());
      else this.send();
    }
  }

  /** Progress without waiting: take the answer if it came, send the next batch if the writer is free and one is due. */
  private pump(): void {
    this.take(this.writer.poll());
    if (!this.writer.busy && this.due()) this.send();
  }

  /** An event the log writes about itself (lost or missed bus events), at `time`. */
  private pushLogFact(run: number, time: number, type: string, payload: string | null): void {
    this.rows.push(this.nextSeq++, run, null, 'fact', time, undefined, LOG_ACTOR, type, undefined, undefined, payload);
    this.bufferedBytes += ROW_OVERHEAD_BYTES + LOG_ACTOR.length + type.length + (payload?.length ?? 0);
  }

  /**
   * The buffer is full and the log failing: the event is not kept, but counted
   * in an EVENTS_LOST row (placed where the events would have been; a new one
   * after each try) that is written with the buffer once the log recovers. A
   * try is made every batch of drops, so a log that recovers while nothing
   * calls check() catches up.
   */
  private drop(run: number, seq: number, time: number): void {
    this.lostTotal++;
    let marker = this.lostMarker;
    if (marker === undefined) {
      const cause = describe(this.failure);
      marker = { at: this.rows.nextPayloadText, info: { events: 0, firstBusSeq: seq, lastBusSeq: seq, cause } };
      this.pushLogFact(run, time, 'EVENTS_LOST', JSON.stringify(marker.info));
      this.lostMarker = marker;
    }
    marker.info.events++;
    marker.info.lastBusSeq = seq;
    this.rows.setText(marker.at, JSON.stringify(marker.info));
    if (marker.info.events % this.limits.batchEvents === 0) {
      this.take(this.writer.poll());
      if (!this.writer.busy) this.send();
    }
  }

  /** Send every buffered row (and the run's `end`) as one batch; the writer must be free. */
  private send(end?: RunEnd): void {
    this.inflight = { count: this.rows.count, texts: this.rows.textCount, bytes: this.bufferedBytes };
    const { rows, transfer } = this.rows.packed();
    this.writer.send({ type: 'write', rows, end }, transfer);
    this.rows = new EventRows(this.names, this.level);
    this.bufferedBytes = 0;
    this.lostMarker = undefined;
    this.flushAtLength = this.limits.batchEvents;
    this.flushAtBytes = this.limits.batchBytes;
  }

  /**
   * The writer's answer for the batch in flight. Written: the log is healthy.
   * Failed: nothing of it is in the file (its transaction rolled back); its
   * rows go back in front of the buffer with their seqs, the failure is kept,
   * and the next automatic try waits for another batch.
   */
  private take(reply: WriterReply | undefined): void {
    if (reply === undefined) return;
    const sent = this.inflight;
    assert(sent !== undefined, 'audit log: an answer comes for a batch in flight');
    this.inflight = undefined;
    if (reply.error === undefined) {
      this.failure = undefined;
      return;
    }
    this.failure = new Error(reply.error);
    if (reply.rows === undefined) {
      // The thread stopped with the batch: those events cannot be written any more (nor anything after them).
      this.lostTotal += sent.count;
      return;
    }
    if (this.lostMarker !== undefined) this.lostMarker.at += sent.texts;
    this.rows.prepend(EventRows.fromPacked(reply.rows, this.names));
    this.bufferedBytes += sent.bytes;
    this.flushAtLength = this.rows.count + this.limits.batchEvents;
    this.flushAtBytes = this.bufferedBytes + this.limits.batchBytes;
  }

  /** Write everything buffered (and `end`) now, waiting for the writer; true when it is all in the file. */
  private writeNow(end?: RunEnd): boolean {
    if (this.writer.busy) this.take(this.writer.wait());
    this.send(end);
    this.take(this.writer.wait());
    return this.failure === undefined;
  }
}
