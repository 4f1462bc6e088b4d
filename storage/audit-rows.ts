import { assert } from './assert.js';
import {
  type AuditLevel,
  type DeferredPayload,
  type FlushSynced,
  inodeFlagsJson,
  joinDeferred,
} from './audit-schema.js';

/**
 * The audit log's buffered rows, packed for the trip to the writer thread.
 * A structured clone costs per value, per object and per byte copied, so a
 * batch crosses as a few values whatever its size: the numeric columns of every row in one
 * Float64Array and the binary values in one byte array, both transferred
 * (moved, not copied); every text (actor, payload, or the pieces of a
 * payload whose binary values the thread encodes) in one string with the
 * texts' lengths (a string is cloned with one copy; an array of thousands
 * of short ones costs more than the rest together); the binary values' lengths; and the table of names (kinds, types, states)
 * the rows index. Rows hold consecutive seqs, in order.
 */

/**
 * Float64 slots of one row: run, bus_seq (NaN: NULL), kind, time, tid (NaN:
 * NULL), type, from, to (-1: NULL), then the payload's shape: -1 NULL, 0 one
 * text, k > 0 a deferred payload of k binary values (k + 1 texts), or an
 * inode's flags as numbers in the slots after it (FLAGS, FLAGS_GROUP: flags, syncFlags,
 * group; the _SYNCED shapes add a FLUSH_DONE's tid, flushed, inserted, deleted).
 */
const NUMS = 16;
const SHAPE = 8;
const VALUES = 9;
const NULL_PAYLOAD = -1;
/** {flags, syncFlags} */
const FLAGS = -2;
/** {flags, syncFlags, group} */
const FLAGS_GROUP = -3;
/** {flags, syncFlags, tid, flushed, inserted, deleted} */
const FLAGS_SYNCED = -4;
/** {flags, syncFlags, group, tid, flushed, inserted, deleted} */
const FLAGS_GROUP_SYNCED = -5;
const INITIAL_ROWS = 1024;
const INITIAL_BYTES = 64 * 1024;

/** What the writer thread receives for a batch: enough to make the table's rows (PackedReader). */
export interface PackedRows {
  firstSeq: number;
  count: number;
  nums: Float64Array<ArrayBuffer>;
  /** Every text, concatenated, and each one's length (UTF-16 units), in order. */
  text: string;
  textLengths: number[];
  binaries: Uint8Array<ArrayBuffer>;
  binaryLengths: number[];
  names: string[];
  level: AuditLevel;
}

export class EventRows {
  private nums = new Float64Array(INITIAL_ROWS * NUMS);
  private texts: string[] = [];
  private bytes = new Uint8Array(0);
  private bytesUsed = 0;
  private binaryLengths: number[] = [];
  private rows = 0;
  private first = 0;

  /** @param names the shared table of names (kinds, types, states): indexes stay valid for the writer's life. */
  constructor(
    private readonly names: NameTable,
    private readonly level: AuditLevel,
  ) {}

  get count(): number {
    return this.rows;
  }

  /** Where the next row's payload text goes (for setText), once its actor is pushed. */
  get nextPayloadText(): number {
    return this.texts.length + 1;
  }

  /** A row whose payload is an inode's {flags, syncFlags[, group][, what its flush wrote]} (EventSink.inodeFlags), kept as numbers. */
  pushInodeFlags(
    seq: number,
    run: number,
    busSeq: number,
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
    const at = this.row(seq, run, busSeq, 'fact', time, tid, actor, type, from, to);
    const nums = this.nums;
    nums[at + VALUES] = flags;
    nums[at + VALUES + 1] = syncFlags;
    nums[at + VALUES + 2] = group ?? 0;
    if (synced === undefined) {
      nums[at + SHAPE] = group === undefined ? FLAGS : FLAGS_GROUP;
      return;
    }
    nums[at + SHAPE] = group === undefined ? FLAGS_SYNCED : FLAGS_GROUP_SYNCED;
    nums[at + VALUES + 3] = synced.tid;
    nums[at + VALUES + 4] = synced.flushed;
    nums[at + VALUES + 5] = synced.inserted;
    nums[at + VALUES + 6] = synced.deleted;
  }

  push(
    seq: number,
    run: number,
    busSeq: number | null,
    kind: string,
    time: number,
    tid: number | undefined,
    actor: string,
    type: string,
    from: string | undefined,
    to: string | undefined,
    payload: string | DeferredPayload | null,
  ): void {
    const at = this.row(seq, run, busSeq, kind, time, tid, actor, type, from, to);
    const nums = this.nums;
    if (payload === null) {
      nums[at + SHAPE] = NULL_PAYLOAD;
    } else if (typeof payload === 'string') {
      nums[at + SHAPE] = 0;
      this.texts.push(payload);
    } else {
      nums[at + SHAPE] = payload.binaries.length;
      for (const part of payload.parts) this.texts.push(part);
      for (const binary of payload.binaries) this.keep(binary);
    }
  }

  /** A new row's columns but its payload; returns where its numbers start. */
  private row(
    seq: number,
    run: number,
    busSeq: number | null,
    kind: string,
    time: number,
    tid: number | undefined,
    actor: string,
    type: string,
    from: string | undefined,
    to: string | undefined,
  ): number {
    if (this.rows === 0) this.first = seq;
    assert(seq === this.first + this.rows, 'audit rows: seqs are consecutive');
    if ((this.rows + 1) * NUMS > this.nums.length) this.grow(this.rows + 1);
    const at = this.rows * NUMS;
    const nums = this.nums;
    const names = this.names;
    nums[at] = run;
    nums[at + 1] = busSeq ?? Number.NaN;
    nums[at + 2] = names.id(kind);
    nums[at + 3] = time;
    nums[at + 4] = tid ?? Number.NaN;
    nums[at + 5] = names.id(type);
    nums[at + 6] = from === undefined ? -1 : names.id(from);
    nums[at + 7] = to === undefined ? -1 : names.id(to);
    this.texts.push(actor);
    this.rows++;
    return at;
  }

  /** Replace text `index` (the payload of an EVENTS_LOST row, counting on; see nextPayloadText). */
  setText(index: number, text: string): void {
    assert(index < this.texts.length, 'audit rows: a text is set on a buffered row');
    this.texts[index] = text;
  }

  /** How many texts the rows hold: when these rows are put back in front of others (prepend), the others' text indexes (a lost-events marker's) move by this. */
  get textCount(): number {
    return this.texts.length;
  }

  /** Put `earlier` (rows just before these, by seq) in front: a batch the writer could not write, to be retried. */
  prepend(earlier: EventRows): void {
    if (earlier.rows === 0) return;
    assert(
      this.rows === 0 || earlier.first + earlier.rows === this.first,
      'audit rows: a retried batch comes just before',
    );
    const total = earlier.rows + this.rows;
    const nums = new Float64Array(Math.max(total, INITIAL_ROWS) * NUMS);
    nums.set(earlier.nums.subarray(0, earlier.rows * NUMS));
    nums.set(this.nums.subarray(0, this.rows * NUMS), earlier.rows * NUMS);
    const bytes = new Uint8Array(earlier.bytesUsed + this.bytesUsed);
    bytes.set(earlier.bytes.subarray(0, earlier.bytesUsed));
    bytes.set(this.bytes.subarray(0, this.bytesUsed), earlier.bytesUsed);
    this.nums = nums;
    this.bytes = bytes;
    this.bytesUsed = bytes.length;
    this.texts = earlier.texts.concat(this.texts);
    this.binaryLengths = earlier.binaryLengths.concat(this.binaryLengths);
    this.first = earlier.first;
    this.rows = total;
  }

  /**
   * The rows as the writer thread takes them, and the buffers to transfer
   * with them (moved, not copied: these rows are unusable afterwards; a
   * batch that fails comes back whole, see fromPacked).
   */
  packed(): { rows: PackedRows; transfer: ArrayBuffer[] } {
    const transfer = [this.nums.buffer as ArrayBuffer];
    if (this.bytes.buffer.byteLength > 0) transfer.push(this.bytes.buffer as ArrayBuffer);
    const rows: PackedRows = {
      firstSeq: this.first,
      count: this.rows,
      nums: this.nums.subarray(0, this.rows * NUMS),
      text: this.texts.join(''),
      textLengths: this.texts.map((text) => text.length),
      binaries: this.bytes.subarray(0, this.bytesUsed),
      binaryLengths: this.binaryLengths,
      names: this.names.all(),
      level: this.level,
    };
    return { rows, transfer };
  }

  /** Rows the writer thread gave back (a batch it could not write), to be retried. */
  static fromPacked(packed: PackedRows, names: NameTable): EventRows {
    const rows = new EventRows(names, packed.level);
    rows.nums = packed.nums;
    rows.texts = splitTexts(packed);
    rows.bytes = packed.binaries;
    rows.bytesUsed = packed.binaries.length;
    rows.binaryLengths = packed.binaryLengths;
    rows.rows = packed.count;
    rows.first = packed.firstSeq;
    return rows;
  }

  /** Copy a binary value in (the caller may reuse its buffer once the event is recorded). */
  private keep(binary: Uint8Array): void {
    const need = this.bytesUsed + binary.length;
    if (need > this.bytes.length) {
      const bytes = new Uint8Array(Math.max(need, this.bytes.length * 2, INITIAL_BYTES));
      bytes.set(this.bytes.subarray(0, this.bytesUsed));
      this.bytes = bytes;
    }
    this.bytes.set(binary, this.bytesUsed);
    this.bytesUsed = need;
    this.binaryLengths.push(binary.length);
  }

  private grow(rows: number): void {
    const nums = new Float64Array(Math.max(rows, this.rows * 2) * NUMS);
    nums.set(this.nums.subarray(0, this.rows * NUMS));
    this.nums = nums;
  }
}

/** Names (kinds, event types, states) by index, for the life of one writer; they are a small fixed set. */
export class NameTable {
  private readonly ids = new Map<string, number>();
  private readonly list: string[] = [];

  id(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.list.length;
      this.ids.set(name, id);
      this.list.push(name);
    }
    return id;
  }

  all(): string[] {
    return this.list;
  }
}

/**
 * The writer thread's side: the events table's values of packed rows, flat,
 * in column order (storage/audit-schema.ts EVENT_COLUMNS), a few rows at a
 * time, in order.
 */
export class PackedReader {
  private row = 0;
  private readonly texts: string[];
  private text = 0;
  private binary = 0;
  private byte = 0;

  constructor(private readonly rows: PackedRows) {
    this.texts = splitTexts(rows);
  }

  get remaining(): number {
    return this.rows.count - this.row;
  }

  /** The next `count` rows' values. */
  take(count: number): unknown[] {
    assert(count <= this.remaining, 'packed rows: no more rows than were packed');
    const { nums, names, level, firstSeq } = this.rows;
    const num = (slot: number): number | null => {
      const value = nums[slot] as number;
      return Number.isNaN(value) ? null : value;
    };
    const name = (slot: number): string | null => {
      const index = nums[slot] as number;
      return index < 0 ? null : (names[index] as string);
    };
    const values: unknown[] = [];
    for (const end = this.row + count; this.row < end; this.row++) {
      const at = this.row * NUMS;
      const actor = this.texts[this.text++];
      values.push(
        firstSeq + this.row,
        num(at),
        num(at + 1),
        name(at + 2),
        num(at + 3),
        num(at + 4),
        actor,
        name(at + 5),
        name(at + 6),
        name(at + 7),
        this.payload(nums, at, level),
      );
    }
    return values;
  }

  private payload(nums: Float64Array, at: number, level: AuditLevel): string | null {
    const shape = nums[at + SHAPE] as number;
    if (shape === NULL_PAYLOAD) return null;
    if (shape <= FLAGS) {
      const grouped = shape === FLAGS_GROUP || shape === FLAGS_GROUP_SYNCED;
      const synced =
        shape === FLAGS_SYNCED || shape === FLAGS_GROUP_SYNCED
          ? {
              tid: nums[at + VALUES + 3] as number,
              flushed: nums[at + VALUES + 4] as number,
              inserted: nums[at + VALUES + 5] as number,
              deleted: nums[at + VALUES + 6] as number,
            }
          : undefined;
      return inodeFlagsJson(
        nums[at + VALUES] as number,
        nums[at + VALUES + 1] as number,
        grouped ? (nums[at + VALUES + 2] as number) : undefined,
        synced,
      );
    }
    if (shape === 0) return this.texts[this.text++] as string;
    const parts = this.texts.slice(this.text, this.text + shape + 1);
    this.text += shape + 1;
    const binaries: Uint8Array[] = [];
    for (let i = 0; i < shape; i++) {
      const length = this.rows.binaryLengths[this.binary++] as number;
      binaries.push(this.rows.binaries.subarray(this.byte, this.byte + length));
      this.byte += length;
    }
    return joinDeferred({ parts, binaries }, level);
  }
}

/** The texts of packed rows, one string each again. */
function splitTexts(rows: PackedRows): string[] {
  const texts: string[] = [];
  let at = 0;
  for (const length of rows.textLengths) {
    texts.push(rows.text.slice(at, at + length));
    at += length;
  }
  assert(at === rows.text.length, 'packed rows: the text lengths add up to the text');
  return texts;
}
