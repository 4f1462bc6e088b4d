import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import {
  type AuditEvent,
  type AuditLevel,
  EVENT_COLUMNS,
  LOG_FORMAT,
  LOG_VERSION,
  type RunInfo,
  type RunRow,
  runInfo,
} from './audit-schema.js';
import { FsError } from './errors.js';

/**
 * The reader of an audit log (docs/events.md): read-only, never needed to
 * mount or read the volume. Opening takes no lock a writer would wait on (WAL),
 * so a log can be read while its mount is running; it then sees the batches
 * written so far.
 */

/**
 * One stored event: the bus event, its place in the log (global seq, run) and
 * its seq on its mount's bus. The payload is as stored: binary values as
 * {bytes, base64} (full) or {bytes, sha256} (meta); see reviveBinary.
 */
export interface LoggedEvent extends Omit<AuditEvent, 'seq'> {
  /** Global: continues across the runs of one log file. */
  seq: number;
  run: number;
  /** The bus's own seq in its mount; undefined for events the log wrote (run start, lost or missed events). */
  busSeq: number | undefined;
  /** The payload as stored (JSON text), when read with `parse: false` (replay compares the text). */
  payloadText?: string;
}

/** Which events: every bound is inclusive; an absent one does not filter. */
export interface EventFilter {
  actor?: string;
  type?: string;
  fromSeq?: number;
  toSeq?: number;
  run?: number;
}

/** A row of `events`, its columns in EVENT_COLUMNS order (seq, run, bus_seq, kind, time, tid, actor, type, from_state, to_state, payload). */
type EventTuple = [
  number,
  number,
  number | null,
  'command' | 'fact',
  number,
  number | null,
  string,
  string,
  string | null,
  string | null,
  string | null,
];

function loggedEvent(row: EventTuple, parse: boolean): LoggedEvent {
  const [seq, run, busSeq, kind, time, tid, actor, type, from, to, payload] = row;
  const event: LoggedEvent = { seq, run, busSeq: busSeq ?? undefined, kind, time, tid: tid ?? undefined, actor, type };
  if (from !== null) event.from = from;
  if (to !== null) event.to = to;
  if (payload !== null) {
    if (parse) event.payload = JSON.parse(payload) as Record<string, unknown>;
    else event.payloadText = payload;
  }
  return event;
}

/** The filter's WHERE clause, with named parameters; only the bounds that are given. */
function whereClause(filter: EventFilter): string {
  const clauses: string[] = [];
  if (filter.actor !== undefined) clauses.push('actor = @actor');
  if (filter.type !== undefined) clauses.push('type = @type');
  if (filter.fromSeq !== undefined) clauses.push('seq >= @fromSeq');
  if (filter.toSeq !== undefined) clauses.push('seq <= @toSeq');
  if (filter.run !== undefined) clauses.push('run = @run');
  return clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
}

/** Events read per query: a page at a time is much cheaper per row than a row-by-row iterator, and still bounded. */
const PAGE_EVENTS = 1024;

export class AuditReader {
  /**
   * Open the log at `path` read-only: ENOENT when there is no such file,
   * EINVAL when it is not a hammerstate event log (not SQLite, another schema,
   * another version), EIO when SQLite fails otherwise.
   */
  static open(path: string): AuditReader {
    if (!existsSync(path)) throw new FsError('ENOENT', 'no such audit log', { path });
    if (statSync(path).isDirectory())
      throw new FsError('EINVAL', 'not a hammerstate event log (a directory)', { path });
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (error) {
      throw new FsError('EIO', `audit log cannot be opened: ${error instanceof Error ? error.message : error}`, {
        path,
      });
    }
    try {
      const read = db.prepare('SELECT value FROM log_info WHERE key = ?').pluck();
      const format = read.get('format');
      const version = read.get('version');
      if (format !== LOG_FORMAT) throw new FsError('EINVAL', 'not a hammerstate event log', { path });
      if (version !== LOG_VERSION) {
        throw new FsError('EINVAL', `event log version ${version}, this reader knows ${LOG_VERSION}`, { path });
      }
    } catch (error) {
      db.close();
      if (error instanceof FsError) throw error;
      throw new FsError('EINVAL', 'not a hammerstate event log', { path });
    }
    return new AuditReader(db, path);
  }

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {}

  /** Every run, in order: kind, volume, level, parameters, seed, clock, start and end. */
  runs(): RunInfo[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY run').all() as RunRow[]).map(runInfo);
  }

  /** The level run `run` was logged at (undefined: no such run). */
  level(run: number): AuditLevel | undefined {
    return this.db.prepare('SELECT level FROM runs WHERE run = ?').pluck().get(run) as AuditLevel | undefined;
  }

  /**
   * True when the log holds the volume's whole history: its first event
   * (seq 1) is the `mkfs` command of a mkfs run. A log started at a later mount
   * (made after the volume, or replaced) says false: replay cannot start from it.
   */
  get startsAtMkfs(): boolean {
    const first = this.db
      .prepare(
        'SELECT r.kind AS run_kind, e.seq, e.kind, e.type FROM runs r JOIN events e ON e.seq = r.first_seq ORDER BY r.run LIMIT 1',
      )
      .get() as { run_kind: string; seq: number; kind: string; type: string } | undefined;
    return (
      first !== undefined &&
      first.run_kind === 'mkfs' &&
      first.seq === 1 &&
      first.kind === 'command' &&
      first.type === 'mkfs'
    );
  }

  /** The global seq of the last stored event (0 for an empty log). */
  get lastSeq(): number {
    return (this.db.prepare('SELECT MAX(seq) FROM events').pluck().get() as number | null) ?? 0;
  }

  /**
   * The events that pass `filter`, in seq order, read from SQLite a page
   * (PAGE_EVENTS rows, by seq) at a time: a log of millions of events is
   * never held in memory, and the connection is free between pages.
   */
  *events(filter: EventFilter = {}, options: { parse?: boolean } = {}): Generator<LoggedEvent, void, undefined> {
    const parse = options.parse ?? true;
    // The lower bound is the page's own (seq > @afterSeq), never a second one: given two, SQLite
    // seeks by one of them and may scan from fromSeq on every page, which made a long read quadratic.
    const { fromSeq, ...rest } = filter;
    const where = whereClause(rest);
    const after = `${where === '' ? 'WHERE' : `${where} AND`} seq > @afterSeq`;
    // Rows as arrays (raw): cheaper to make than objects, a page at a time; columns in EVENT_COLUMNS order.
    const statement = this.db
      .prepare(`SELECT ${EVENT_COLUMNS.join(', ')} FROM events ${after} ORDER BY seq LIMIT ${PAGE_EVENTS}`)
      .raw(true);
    const params: Record<string, string | number> = { afterSeq: Math.max(0, (fromSeq ?? 1) - 1) };
    for (const [key, value] of Object.entries(rest)) if (value !== undefined) params[key] = value;
    for (;;) {
      const page = statement.all(params) as EventTuple[];
      for (const row of page) yield loggedEvent(row, parse);
      const last = page[page.length - 1];
      if (page.length < PAGE_EVENTS || last === undefined) return;
      params.afterSeq = last[0];
    }
  }

  close(): void {
    this.db.close();
  }
}
