import { createHash } from 'node:crypto';

/**
 * The audit log's SQLite schema and payload encoding, shared by the writer
 * (storage/audit-log.ts) and the reader (storage/audit-reader.ts). The schema
 * is documented for humans in docs/events.md; keep the two in step.
 */

/** What `log_info.format` holds in every hammerstate event log. */
export const LOG_FORMAT = 'hammerstate-events';
export const LOG_VERSION = '1';

/** `full` keeps binary payload values (write data) whole; `meta` keeps their size and SHA-256 only. */
export type AuditLevel = 'full' | 'meta';
export const AUDIT_LEVELS: readonly AuditLevel[] = ['full', 'meta'];

export type RunKind = 'mkfs' | 'mount';

/**
 * One event as a mount's bus publishes it (DESIGN.md, "Events"); the public
 * API names it BusEvent (actors/api.ts). It is defined here, below the
 * actors, because the log stores it. `seq` is the bus's own, restarting at 1
 * each mount.
 */
export interface AuditEvent {
  seq: number;
  kind: 'command' | 'fact';
  /** Time (µs) from the mount's clock. */
  time: number;
  tid: number | undefined;
  /** `inode:<loc>:<objid>:<asof>`, `flg:<seq>`, `flusher`, `volume`, `fs`. */
  actor: string;
  type: string;
  from?: string;
  to?: string;
  payload?: Record<string, unknown>;
}

/** The events table's columns, in order: one buffered row is this many values. */
export const EVENT_COLUMNS = [
  'seq',
  'run',
  'bus_seq',
  'kind',
  'time',
  'tid',
  'actor',
  'type',
  'from_state',
  'to_state',
  'payload',
] as const;
export const EVENT_WIDTH = EVENT_COLUMNS.length;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS log_info (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
  run INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('mkfs', 'mount')),
  volume TEXT NOT NULL,
  level TEXT NOT NULL CHECK (level IN ('full', 'meta')),
  parameters TEXT NOT NULL,
  seed TEXT,
  clock TEXT NOT NULL,
  start_time INTEGER NOT NULL,
  end_time INTEGER,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  run INTEGER NOT NULL REFERENCES runs (run),
  bus_seq INTEGER,
  kind TEXT NOT NULL CHECK (kind IN ('command', 'fact')),
  time INTEGER NOT NULL,
  tid INTEGER,
  actor TEXT NOT NULL,
  type TEXT NOT NULL,
  from_state TEXT,
  to_state TEXT,
  payload TEXT
);`;

/** One run as the `runs` table holds it, JSON columns parsed. */
export interface RunInfo {
  run: number;
  kind: RunKind;
  volume: string;
  level: AuditLevel;
  parameters: Record<string, unknown>;
  seed: number | string | undefined;
  clock: Record<string, unknown>;
  /** µs, from the caller's clock. */
  startTime: number;
  /** Undefined: the run did not end (still running, or the process stopped without endRun). */
  endTime: number | undefined;
  firstSeq: number;
  lastSeq: number | undefined;
}

/** What a `runs` row says of its run when it begins (parameters, seed and clock as JSON texts). */
export interface RunRecord {
  run: number;
  kind: RunKind;
  volume: string;
  level: AuditLevel;
  parameters: string;
  seed: string | null;
  clock: string;
}

/** What a run records about itself: the first event of the run is a command carrying all of it. */
export interface RunStart {
  kind: RunKind;
  /** The volume's path (or a name for a device). */
  volume: string;
  /** mkfs options, or mount options. */
  parameters: Record<string, unknown>;
  seed?: number | string;
  /** How the mount's clock is made, e.g. {type: 'logical', start, step} or {type: 'wall'}. */
  clock: Record<string, unknown>;
  /** When the run starts, µs, read by the caller from its clock. */
  time: number;
}

/** A run's `runs` row (JSON columns as text) and the payload of its first event, the mkfs or mount command. */
export function runRecord(run: number, start: RunStart, level: AuditLevel): { record: RunRecord; payload: string } {
  const { kind, volume, parameters, seed, clock } = start;
  const record: RunRecord = {
    run,
    kind,
    volume,
    level,
    parameters: encodePayload(parameters, level),
    seed: seed === undefined ? null : JSON.stringify(seed),
    clock: JSON.stringify(clock),
  };
  return { record, payload: encodePayload({ volume, parameters, seed, clock, level }, level) };
}

/** The row shape of `runs`, as SQLite returns it. */
export interface RunRow extends RunRecord {
  start_time: number;
  end_time: number | null;
  first_seq: number;
  last_seq: number | null;
}

export function runInfo(row: RunRow): RunInfo {
  return {
    run: row.run,
    kind: row.kind,
    volume: row.volume,
    level: row.level,
    parameters: JSON.parse(row.parameters) as Record<string, unknown>,
    seed: row.seed === null ? undefined : (JSON.parse(row.seed) as number | string),
    clock: JSON.parse(row.clock) as Record<string, unknown>,
    startTime: row.start_time,
    endTime: row.end_time ?? undefined,
    firstSeq: row.first_seq,
    lastSeq: row.last_seq ?? undefined,
  };
}

/** Nesting deeper than this is not searched for binary values; JSON.stringify's replacer handles it. */
const SCAN_DEPTH_MAX = 16;

/** True when `value` holds a Uint8Array or a bigint anywhere: plain JSON.stringify would mangle or throw. */
function needsReplacer(value: unknown, depth: number): boolean {
  if (typeof value === 'bigint' || value instanceof Uint8Array) return true;
  if (typeof value !== 'object' || value === null) return false;
  if (depth >= SCAN_DEPTH_MAX) return true;
  for (const key in value) {
    if (needsReplacer((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

/** A binary value as the level keeps it: whole (base64) at `full`, size and hash at `meta`. */
function encodeBinary(bytes: Uint8Array, level: AuditLevel): Record<string, unknown> {
  if (level === 'meta') return { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  return {
    bytes: bytes.length,
    base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
  };
}

/**
 * A bus payload as the `payload` column keeps it: JSON, binary values as
 * {bytes, base64} (full) or {bytes, sha256} (meta), a bigint as {bigint: "<decimal>"}.
 * Called by the writer as each event arrives (the caller may reuse its buffer
 * afterwards). Never throws: a payload JSON cannot hold (a cycle) is kept as
 * {unencodable: "<why>"}, so the event itself is still logged.
 */
export function encodePayload(payload: Record<string, unknown>, level: AuditLevel): string {
  const flat = flatJson(payload);
  if (flat !== undefined) return flat;
  // A flat payload with binary values (a write's command): cut at them and joined, no copy, no generic walk.
  const cut = flatDeferred(payload);
  if (cut !== undefined) return joinDeferred(cut, level);
  try {
    if (!needsReplacer(payload, 0)) return JSON.stringify(payload);
    // Encoded before stringify sees them: JSON.stringify would first turn a Buffer into an array of numbers (toJSON).
    return JSON.stringify(encodedCopy(payload, level, 0));
  } catch (error) {
    return JSON.stringify({ unencodable: error instanceof Error ? error.message : String(error) });
  }
}

/** What an inode's flush wrote, carried by its FLUSH_DONE: the cycle's TID, the sync flags it was given, B-tree records inserted and marked deleted. */
export interface FlushSynced {
  tid: number;
  flushed: number;
  inserted: number;
  deleted: number;
}

/**
 * What JSON.stringify writes for an inode fact's payload {flags, syncFlags[,
 * group][, tid, flushed, inserted, deleted]} (integers): the log's text and replay's.
 */
export function inodeFlagsJson(
  flags: number,
  syncFlags: number,
  group: number | undefined,
  synced?: FlushSynced,
): string {
  let text = `{"flags":${flags},"syncFlags":${syncFlags}`;
  if (group !== undefined) text += `,"group":${group}`;
  if (synced !== undefined) {
    text += `,"tid":${synced.tid},"flushed":${synced.flushed},"inserted":${synced.inserted},"deleted":${synced.deleted}`;
  }
  return `${text}}`;
}

/** Keys as JSON writes them before a value (`"key":`), remembered: payload keys are a small fixed set. */
const quotedKeys = new Map<string, string>();
const QUOTED_KEYS_MAX = 4096;

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = `${JSON.stringify(key)}:`;
    if (quotedKeys.size < QUOTED_KEYS_MAX) quotedKeys.set(key, quoted);
  }
  return quoted;
}

/**
 * JSON.stringify's text for a flat payload (numbers, booleans, strings,
 * null, undefined), built without its generic walk: most bus payloads are
 * a few numbers (an inode's flags), and this is the log's main cost per
 * event. Undefined for anything else (objects, binary, bigint), which takes
 * the general path. Same output as JSON.stringify (test/audit-log.test.ts).
 */
export function flatJson(payload: Record<string, unknown>): string | undefined {
  if (Object.getPrototypeOf(payload) !== Object.prototype) return undefined;
  let out = '{';
  let separator = '';
  for (const key in payload) {
    const text = scalarJson(payload[key]);
    if (text === undefined) return undefined;
    if (text === '') continue;
    out += separator + quotedKey(key) + text;
    separator = ',';
  }
  return `${out}}`;
}

/** A scalar's JSON as a member value; '' for undefined (JSON leaves the member out); undefined for anything else. */
function scalarJson(value: unknown): string | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'undefined':
      return '';
    case 'object':
      return value === null ? 'null' : undefined;
    default:
      return undefined;
  }
}

/**
 * A payload whose binary values are encoded later, by the writer thread:
 * its JSON cut where each binary value goes, and those values: views of
 * the caller's buffers, to be copied before the caller may reuse them (the
 * log's EventRows.push copies them at once). Joined by `joinDeferred`.
 */
export interface DeferredPayload {
  parts: string[];
  binaries: Uint8Array[];
}

/** What stands for a binary value in the JSON a deferred payload is cut from (a string no user text can make unnoticed: see below). */
const BINARY_MARK = '\u0000hammerstate-binary\u0000';
const BINARY_MARK_JSON = JSON.stringify(BINARY_MARK);

/**
 * encodePayload, with the base64 (full) or SHA-256 (meta) of binary values
 * left to the writer thread: the main thread only copies the bytes. A
 * payload without binary values comes back encoded. The JSON is cut at the
 * marks; if a string of the payload itself held a mark, the cut would make
 * more parts than binaries, and the payload is encoded here instead, so the
 * result is always exactly encodePayload's.
 */
export function encodePayloadDeferred(payload: Record<string, unknown>, level: AuditLevel): string | DeferredPayload {
  const flat = flatJson(payload) ?? flatDeferred(payload);
  if (flat !== undefined) return flat;
  const binaries: Uint8Array[] = [];
  let json: string;
  try {
    if (!needsReplacer(payload, 0)) return JSON.stringify(payload);
    json = JSON.stringify(encodedCopy(payload, level, 0, binaries));
  } catch {
    return encodePayload(payload, level);
  }
  const parts = json.split(BINARY_MARK_JSON);
  if (parts.length !== binaries.length + 1) return encodePayload(payload, level);
  return { parts, binaries };
}

/**
 * flatJson for a flat payload with binary values too (a write's command:
 * its path and data), cut at them: no copy of the payload, no JSON.stringify
 * of it, nothing to split. Undefined for anything else.
 */
function flatDeferred(payload: Record<string, unknown>): DeferredPayload | undefined {
  if (Object.getPrototypeOf(payload) !== Object.prototype) return undefined;
  const parts: string[] = [];
  const binaries: Uint8Array[] = [];
  let out = '{';
  let separator = '';
  for (const key in payload) {
    const value = payload[key];
    if (value instanceof Uint8Array) {
      parts.push(out + separator + quotedKey(key));
      binaries.push(value);
      out = '';
      separator = ',';
      continue;
    }
    const text = scalarJson(value);
    if (text === undefined) return undefined;
    if (text === '') continue;
    out += separator + quotedKey(key) + text;
    separator = ',';
  }
  parts.push(`${out}}`);
  return { parts, binaries };
}

/** A deferred payload's JSON: its parts joined by its binary values, encoded at `level`. */
export function joinDeferred(deferred: DeferredPayload, level: AuditLevel): string {
  const { parts, binaries } = deferred;
  let out = parts[0] as string;
  for (let i = 0; i < binaries.length; i++) {
    out += JSON.stringify(encodeBinary(binaries[i] as Uint8Array, level)) + (parts[i + 1] as string);
  }
  return out;
}

/** `value` with its binary and bigint values encoded (containers copied; the caller's objects stay as they are). */
function encodedCopy(value: unknown, level: AuditLevel, depth: number, deferred?: Uint8Array[]): unknown {
  if (value instanceof Uint8Array) {
    if (deferred === undefined) return encodeBinary(value, level);
    deferred.push(value);
    return BINARY_MARK;
  }
  if (typeof value === 'bigint') return { bigint: value.toString() };
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= SCAN_DEPTH_MAX) throw new Error(`payload nested deeper than ${SCAN_DEPTH_MAX} levels`);
  if (Array.isArray(value)) return value.map((item) => encodedCopy(item, level, depth + 1, deferred));
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  // No prototype: a key named __proto__ stays a key of the copy (on a plain {} the assignment would set its prototype).
  const copy: Record<string, unknown> = Object.create(null);
  for (const key in value) copy[key] = encodedCopy((value as Record<string, unknown>)[key], level, depth + 1, deferred);
  return copy;
}

/** True for exactly {bytes: number, base64: string} or {bigint: string}: the shapes encodePayload makes. */
function revivable(value: Record<string, unknown>): Buffer | bigint | undefined {
  const keys = Object.keys(value);
  if (keys.length === 2 && typeof value.bytes === 'number' && typeof value.base64 === 'string') {
    return Buffer.from(value.base64, 'base64');
  }
  if (keys.length === 1 && typeof value.bigint === 'string') return BigInt(value.bigint);
  return undefined;
}

/**
 * A stored payload with its binary values (full level) back as Buffers and
 * bigints back as bigints: what replay feeds the filesystem. Meta-level
 * {bytes, sha256} values stay as they are: the bytes are not in the log.
 */
export function reviveBinary(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reviveBinary);
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  const revived = revivable(record);
  if (revived !== undefined) return revived;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(record)) out[key] = reviveBinary(child);
  return out;
}
