import { Subject } from 'rxjs';
import { assert } from '../storage/assert.js';
import type { EventSink } from '../storage/audit-log.js';
import type { FlushSynced } from '../storage/audit-schema.js';
import { type Clock, CommandClock } from '../storage/clock.js';
import type { BusEvent } from './api.js';

/**
 * The event bus of one mount: every command from outside and every fact the
 * system derives (actor transitions, flush-group steps, storage writes) goes
 * through here, in one order (`seq`). Nothing is built when nobody listens:
 * producers ask `active` first, so the hot paths pay one branch.
 */
export class EventBus {
  private readonly subject = new Subject<BusEvent>();
  readonly events = this.subject.asObservable();
  private seq = 0;
  /** The TID of the running flush, stamped on the events it causes. */
  tid: number | undefined;
  /**
   * The audit log's direct line (storage/audit-log.ts record): every event,
   * before the subscribers, as loose fields. The log is on the path of every
   * change, so it gets no event object to allocate and no Subject to go
   * through; the events observable still sees the same events, same seqs.
   */
  private sink: EventSink | undefined;

  constructor(private readonly clock: Clock) {}

  get active(): boolean {
    return this.sink !== undefined || this.subject.observed;
  }

  /** Attach the one sink (the mount's audit log), from the bus's first event on. */
  attachSink(sink: EventSink): void {
    assert(this.sink === undefined && this.seq === 0, 'event bus: one sink, attached before the first event');
    this.sink = sink;
  }

  /** The seq of the last event (a replay checkpoint keeps it). */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Attach the sink to a bus that was silent so far, going on from `seq`
   * (a mount resumed from a replay checkpoint: its events continue the
   * checkpointed run's numbering).
   */
  resumeAt(seq: number, sink: EventSink | undefined): void {
    assert(this.sink === undefined && !this.subject.observed, 'event bus: resumed while nobody listened');
    this.seq = seq;
    this.sink = sink;
  }

  fact(actor: string, type: string, payload?: Record<string, unknown>, from?: string, to?: string): void {
    if (!this.active) return;
    this.publish('fact', actor, type, payload, from, to);
  }

  /**
   * An inode's transition, whose payload is {flags, syncFlags[, group]}, and
   * for a FLUSH_DONE what the flush wrote ({tid, flushed, inserted, deleted},
   * `synced`): the sink takes the numbers as they are; the payload object is
   * made only for subscribers.
   */
  inodeFact(
    actor: string,
    type: string,
    from: string,
    to: string,
    flags: number,
    syncFlags: number,
    group: number | undefined,
    synced?: FlushSynced,
  ): void {
    if (!this.active) return;
    const time = this.clock.now();
    const seq = ++this.seq;
    this.sink?.inodeFlags(seq, time, this.tid, actor, type, from, to, flags, syncFlags, group, synced);
    if (!this.subject.observed) return;
    const payload = inodePayload(flags, syncFlags, group);
    if (synced !== undefined) {
      payload.tid = synced.tid;
      payload.flushed = synced.flushed;
      payload.inserted = synced.inserted;
      payload.deleted = synced.deleted;
    }
    this.subject.next({ seq, kind: 'fact', time, tid: this.tid, actor, type, from, to, payload });
  }

  /** A command from outside (an fs call, a scheduler firing): a command clock takes its time here, unless `begun` already did. */
  command(type: string, payload?: Record<string, unknown>, begun?: number): void {
    const time = begun ?? (this.clock instanceof CommandClock ? this.clock.beginCommand() : undefined);
    if (!this.active) return;
    this.publish('command', 'fs', type, payload, undefined, undefined, time);
  }

  private publish(
    kind: BusEvent['kind'],
    actor: string,
    type: string,
    payload: Record<string, unknown> | undefined,
    from: string | undefined,
    to: string | undefined,
    time = this.clock.now(),
  ): void {
    const seq = ++this.seq;
    this.sink?.event(seq, kind, time, this.tid, actor, type, from, to, payload);
    if (!this.subject.observed) return;
    const event: BusEvent = { seq, kind, time, tid: this.tid, actor, type };
    if (from !== undefined) event.from = from;
    if (to !== undefined) event.to = to;
    if (payload !== undefined) event.payload = payload;
    this.subject.next(event);
  }

  complete(): void {
    this.subject.complete();
  }
}

/** An inode fact's payload: its flags and sync flags, and the group it is in (FLUSH state). */
function inodePayload(flags: number, syncFlags: number, group: number | undefined): Record<string, unknown> {
  return group === undefined ? { flags, syncFlags } : { flags, syncFlags, group };
}
