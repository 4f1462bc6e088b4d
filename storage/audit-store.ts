import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { assert } from './assert.js';
import { PackedReader, type PackedRows } from './audit-rows.js';
import { EVENT_WIDTH, LOG_FORMAT, LOG_VERSION, type RunRecord, SCHEMA_SQL } from './audit-schema.js';
import { FsError } from './errors.js';

/**
 * The audit log's file: one SQLite connection (WAL), the schema, and the
 * statements the writer (storage/audit-log.ts) needs. Every write checks first
 * that the path still names the file the connection writes: on Linux a removed
 * or replaced file keeps taking writes through the open descriptor, which
 * would lose them silently. Buffering and the failure policy live above, in
 * the writer; here a failure is simply thrown.
 */

/**
 * WAL pages between automatic checkpoints (64 MiB with 4 KiB pages): each
 * checkpoint copies the WAL into the file and fsyncs it; fewer, larger ones
 * cost less in all (measured: about 10% less time per event than the default 1000).
 */
const WAL_CHECKPOINT_PAGES = 16384;
/** Rows per multi-row INSERT: fewer statement steps per batch (measured: 1.7x faster than one row each). */
const CHUNK_ROWS = 16;

/** Which file a path names: its device and inode (bigints: an inode number may pass 2^53). */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

function identityOf(path: string): FileIdentity | undefined {
  const stat = statSync(path, { bigint: true, throwIfNoEntry: false });
  return stat === undefined ? undefined : { dev: stat.dev, ino: stat.ino };
}

function sameFile(a: FileIdentity | undefined, b: FileIdentity): boolean {
  return a !== undefined && a.dev === b.dev && a.ino === b.ino;
}

/** Throws unless `path` names `file`: removed, or replaced by another file. */
function verifyFile(path: string, file: FileIdentity): void {
  const found = identityOf(path);
  if (found === undefined) throw new Error('the log file was removed');
  if (!sameFile(found, file)) throw new Error('the log file was replaced by another file');
}

/** An error as one line: SQLite's code (SQLITE_FULL) before its message when it has one. */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.startsWith(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** Why an open failed, with node's codes: EINVAL for a file that is not a log, ENOENT for a missing directory. */
function openError(path: string, error: unknown): FsError {
  if (error instanceof FsError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB') return new FsError('EINVAL', 'not a hammerstate event log', { path });
  if (!existsSync(dirname(path))) return new FsError('ENOENT', 'no such directory for the audit log', { path });
  return new FsError('EIO', `audit log cannot be opened: ${describe(error)}`, { path });
}

/** Make the schema in a new file, or check that an existing one is an event log of our version. */
function prepareSchema(db: Database.Database, path: string): void {
  db.transaction(() => {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    if (tables.length > 0 && !tables.includes('log_info')) {
      throw new FsError('EINVAL', 'not a hammerstate event log (an SQLite file with other tables)', { path });
    }
    if (tables.length === 0) {
      db.exec(SCHEMA_SQL);
      const info = db.prepare('INSERT INTO log_info (key, value) VALUES (?, ?)');
      info.run('format', LOG_FORMAT);
      info.run('version', LOG_VERSION);
    }
    const read = db.prepare('SELECT value FROM log_info WHERE key = ?').pluck();
    if (read.get('format') !== LOG_FORMAT || read.get('version') !== LOG_VERSION) {
      throw new FsError('EINVAL', `not a hammerstate event log of version ${LOG_VERSION}`, { path });
    }
  }).immediate();
}

/** The start of a run: when, its first seq, and the payload of its first event (the mkfs or mount command). */
export interface RunBegin {
  startTime: number;
  firstSeq: number;
  payload: string;
}

/** The end of a run, written in the same transaction as its last events. */
export interface RunEnd {
  run: number;
  endTime: number;
  lastSeq: number;
}

export class AuditStore {
  private readonly insertOne: Database.Statement;
  private readonly insertChunk: Database.Statement;
  private readonly insertRun: Database.Statement;
  private readonly finishRun: Database.Statement;
  /** The file this connection writes, as it was when opened. */
  readonly identity: FileIdentity;
  private walIdentity: FileIdentity | undefined;
  /** The largest seq and run in the file when it was opened (0 for a new log). */
  readonly lastSeq: number;
  readonly lastRun: number;

  /**
   * Open the log file. The owner (the log's main side) makes the schema in a
   * new file and checks an existing one. The writer thread passes the file
   * the owner opened (`file`): it opens that file or fails (never one put in
   * its place), and never waits on a lock: its writes are serialized with the
   * owner's by the writer's protocol, so a lock it meets is someone else's and
   * fails the batch at once (SQLITE_BUSY), to be retried. EINVAL for a file
   * that is not an event log, ENOENT without its directory, else EIO.
   */
  static open(path: string, file?: FileIdentity): AuditStore {
    if (file !== undefined) verifyFile(path, file);
    let db: Database.Database;
    try {
      db = new Database(path, file === undefined ? {} : { fileMustExist: true, timeout: 0 });
    } catch (error) {
      throw openError(path, error);
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
      if (file === undefined) prepareSchema(db, path);
      return new AuditStore(db, path);
    } catch (error) {
      db.close();
      throw openError(path, error);
    }
  }

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    const values = `(${Array(EVENT_WIDTH).fill('?').join(', ')})`;
    this.insertOne = db.prepare(`INSERT INTO events VALUES ${values}`);
    this.insertChunk = db.prepare(`INSERT INTO events VALUES ${Array(CHUNK_ROWS).fill(values).join(', ')}`);
    this.insertRun = db.prepare(
      'INSERT INTO runs (run, kind, volume, level, parameters, seed, clock, start_time, first_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.finishRun = db.prepare('UPDATE runs SET end_time = ?, last_seq = ? WHERE run = ?');
    this.lastSeq = (db.prepare('SELECT MAX(seq) FROM events').pluck().get() as number | null) ?? 0;
    this.lastRun = (db.prepare('SELECT MAX(run) FROM runs').pluck().get() as number | null) ?? 0;
    const identity = identityOf(path);
    assert(identity !== undefined, 'the audit log file exists once its schema is written');
    this.identity = identity;
    this.walIdentity = identityOf(`${path}-wal`);
  }

  /**
   * A run's row and its first event, in one transaction: the command `mkfs`
   * or `mount` (actor `fs`), which no bus publishes (its bus_seq is NULL).
   */
  beginRun(run: RunRecord, begin: RunBegin): void {
    this.verifyIdentity();
    const { startTime, firstSeq, payload } = begin;
    this.db.transaction(() => {
      this.insertRun.run(
        run.run,
        run.kind,
        run.volume,
        run.level,
        run.parameters,
        run.seed,
        run.clock,
        startTime,
        firstSeq,
      );
      this.insertOne.run(firstSeq, run.run, null, 'command', startTime, null, 'fs', run.kind, null, null, payload);
    })();
  }

  /**
   * Write `rows` (packed by the log's main side, storage/audit-rows.ts) and the run's
   * `end` if given, in one transaction: all of it or, on a throw, none of it.
   */
  write(rows: PackedRows, end?: RunEnd): void {
    this.verifyIdentity();
    if (rows.count === 0 && end === undefined) return;
    const reader = new PackedReader(rows);
    this.db.transaction(() => {
      while (reader.remaining >= CHUNK_ROWS) this.insertChunk.run(reader.take(CHUNK_ROWS));
      while (reader.remaining > 0) this.insertOne.run(reader.take(1));
      if (end !== undefined) this.finishRun.run(end.endTime, end.lastSeq, end.run);
    })();
    this.walIdentity ??= identityOf(`${this.path}-wal`);
  }

  /**
   * Copy the WAL into the file as far as no reader holds it back (SQLite's
   * PASSIVE checkpoint; fsyncs the file). The writer thread does this between
   * batches, after answering, so the WAL stays short and the close, which
   * checkpoints what is left on the caller's thread, stays cheap.
   */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  close(): void {
    this.db.close();
  }

  /** Throws when the path no longer names the file we write (removed or replaced): writes would go nowhere. */
  private verifyIdentity(): void {
    verifyFile(this.path, this.identity);
    const wal = this.walIdentity;
    if (wal !== undefined && !sameFile(identityOf(`${this.path}-wal`), wal)) {
      throw new Error('the log write-ahead file (-wal) was removed or replaced');
    }
  }
}
