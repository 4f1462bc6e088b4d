import type { EventSink } from '../storage/audit-log.js';
import type { LoggedEvent } from '../storage/audit-reader.js';
import { encodePayload, type FlushSynced, inodeFlagsJson } from '../storage/audit-schema.js';

/**
 * Replay's comparison, event by event as the replayed system derives them:
 * the replay mount's bus has this sink on its direct line (EventBus.attachSink),
 * so a derived event is checked against the next logged row the moment it is
 * made, from its loose fields: no event object, no payload object for an
 * inode's flags, no queue of produced events.
 */

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

export function loggedCompared(event: LoggedEvent): ComparedEvent {
  return {
    kind: event.kind,
    time: event.time,
    tid: event.tid ?? null,
    actor: event.actor,
    type: event.type,
    from: event.from ?? null,
    to: event.to ?? null,
    payload: event.payloadText ?? null,
  };
}

/** The log's rows in order, each taken once: by the replay loop (commands, the log's own rows) or by the sink (derived facts). */
export class LogCursor {
  private next: LoggedEvent | undefined;
  private ended = false;

  constructor(
    private readonly rows: Iterator<LoggedEvent>,
    /** Told of every row taken (the replay's count and progress). */
    private readonly taken: (row: LoggedEvent) => void,
  ) {}

  peek(): LoggedEvent | undefined {
    if (this.next === undefined && !this.ended) {
      const step = this.rows.next();
      if (step.done === true) this.ended = true;
      else this.next = step.value;
    }
    return this.next;
  }

  take(): LoggedEvent | undefined {
    const row = this.peek();
    if (row !== undefined) {
      this.next = undefined;
      this.taken(row);
    }
    return row;
  }
}

export interface CompareOptions {
  /** The log was read only up to a seq (`replay --to`): events derived beyond it are not compared. */
  bounded: boolean;
  /** Told of every divergence; returns true once the replay stops (check mode): nothing more is compared. */
  diverged: (divergence: Divergence) => boolean;
  /** The last seq taken, for a divergence past the end of the log. */
  lastSeq: () => number;
}

export class ReplaySink implements EventSink {
  /** The command row the replay loop is executing: the command's own event is checked against it. */
  command: LoggedEvent | undefined;
  private stopped = false;
  /** Past the end of the log, the first extra event is the divergence; the rest add nothing. */
  private beyondReported = false;

  constructor(
    private readonly cursor: LogCursor,
    private readonly options: CompareOptions,
  ) {}

  event(
    _seq: number,
    kind: 'command' | 'fact',
    time: number,
    tid: number | undefined,
    actor: string,
    type: string,
    from: string | undefined,
    to: string | undefined,
    payload: Record<string, unknown> | undefined,
  ): void {
    if (this.stopped) return;
    const row = this.expected();
    if (row === null) return;
    const text = payload === undefined ? null : encodePayload(payload, 'full');
    if (row !== undefined && matches(row, kind, time, tid, actor, type, from, to, text)) return;
    this.report(row, { kind, time, tid: tid ?? null, actor, type, from: from ?? null, to: to ?? null, payload: text });
  }

  inodeFlags(
    _seq: number,
    time: number,
    tid: number | undefined,
    actor: string,
    type: string,
    from: string,
    to: string,
    flags: number,
    syncFlags: number,
    group: number | undefined,
    synced?: FlushSynced,
  ): void {
    if (this.stopped) return;
    const row = this.expected();
    if (row === null) return;
    const text = inodeFlagsJson(flags, syncFlags, group, synced);
    if (row !== undefined && matches(row, 'fact', time, tid, actor, type, from, to, text)) return;
    this.report(row, { kind: 'fact', time, tid: tid ?? null, actor, type, from, to, payload: text });
  }

  /**
   * The logged row a derived event is checked against: the command being
   * executed, else the next row when it is a derived event. A command row or
   * a row the log wrote itself is left for the replay loop (the event is extra:
   * undefined). Null: nothing to compare (past `to`, or past the first extra
   * event beyond the end of the log).
   */
  private expected(): LoggedEvent | undefined | null {
    const command = this.command;
    if (command !== undefined) {
      this.command = undefined;
      return command;
    }
    const next = this.cursor.peek();
    if (next === undefined) return this.options.bounded || this.beyondReported ? null : undefined;
    if (next.busSeq === undefined || next.kind === 'command') return undefined;
    return this.cursor.take();
  }

  private report(row: LoggedEvent | undefined, got: ComparedEvent): void {
    let divergence: Divergence;
    if (row !== undefined) {
      divergence = { seq: row.seq, expected: loggedCompared(row), got };
    } else {
      // An extra event: against the row the log has next, or past its end (reported once).
      const next = this.cursor.peek();
      if (next === undefined) this.beyondReported = true;
      divergence =
        next === undefined
          ? { seq: this.options.lastSeq() + 1, expected: null, got }
          : { seq: next.seq, expected: loggedCompared(next), got };
    }
    if (this.options.diverged(divergence)) this.stopped = true;
  }
}

function matches(
  row: LoggedEvent,
  kind: 'command' | 'fact',
  time: number,
  tid: number | undefined,
  actor: string,
  type: string,
  from: string | undefined,
  to: string | undefined,
  payload: string | null,
): boolean {
  return (
    row.kind === kind &&
    row.time === time &&
    (row.tid ?? null) === (tid ?? null) &&
    row.actor === actor &&
    row.type === type &&
    (row.from ?? null) === (from ?? null) &&
    (row.to ?? null) === (to ?? null) &&
    (row.payloadText ?? null) === payload
  );
}
