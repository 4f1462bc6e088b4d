import { assert } from './assert.js';
import { type AuditLevel, type DeferredPayload, joinDeferred } from './audit-schema.js';

/**
 * The audit log's buffered rows, packed for the trip to the writer thread:
 * the numeric columns of every row in one Float64Array, the two free-text
 * columns (actor, payload) in a string array, and the columns whose values
 * come from a small set (type, from/to state, kind) as indexes into a table
 * of names that travels with each batch. Cloning that to the thread costs a
 * fraction of cloning eleven loose values a row (measured: ~80 against ~300
 * ns an event), and it is all the main thread pays for a row beyond
 * encoding its payload. Rows hold consecutive seqs, in order.
 */

/** Float64 slots of one row: run, bus_seq (NaN: NULL), kind, time, tid (NaN: NULL), type, from, to (-1: NULL). */
const NUMS = 8;
/** Slots of one row in `strs`: actor, payload (null: NULL; a DeferredPayload: binary values the thread encodes). */
const STRS = 2;
const PAYLOAD_SLOT = 1;
const INITIAL_ROWS = 1024;

/** What the writer thread receives for a batch: enough to make the table's rows (rowValues). */
export interface PackedRows {
  firstSeq: number;
  count: number;
  nums: Float64Array;
  strs: Array<string | DeferredPayload | null>;
  names: string[];
  level: AuditLevel;
}

export class EventRows {
  private nums = new Float64Array(INITIAL_ROWS * NUMS);
  private strs: Array<string | DeferredPayload | null> = [];
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

  get firstSeq(): number {
    return this.first;
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
    this.strs.push(actor, payload);
    this.rows++;
  }

  /** Replace the payload of row `index` (an EVENTS_LOST row counting on). */
  setPayload(index: number, payload: string): void {
    assert(index < this.rows, 'audit rows: a payload is set on a buffered row');
    this.strs[index * STRS + PAYLOAD_SLOT] = payload;
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
    this.nums = nums;
    this.strs = earlier.strs.concat(this.strs);
    this.first = earlier.first;
    this.rows = total;
  }

  /** The rows as the writer thread takes them (numbers copied to their exact length). */
  packed(): PackedRows {
    return {
      firstSeq: this.first,
      count: this.rows,
      nums: this.nums.slice(0, this.rows * NUMS),
      strs: this.strs,
      names: this.names.all(),
      level: this.level,
    };
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
 * The events table's values of packed rows `from` to `to` (exclusive), flat,
 * in column order (storage/audit-schema.ts EVENT_COLUMNS): the writer
 * thread's side of the packing.
 */
export function rowValues(rows: PackedRows, from: number, to: number): unknown[] {
  const { nums, strs, names, level } = rows;
  const num = (slot: number): number | null => {
    const value = nums[slot] as number;
    return Number.isNaN(value) ? null : value;
  };
  const name = (slot: number): string | null => {
    const index = nums[slot] as number;
    return index < 0 ? null : (names[index] as string);
  };
  const values: unknown[] = [];
  for (let row = from; row < to; row++) {
    const at = row * NUMS;
    const s = row * STRS;
    values.push(
      rows.firstSeq + row,
      num(at),
      num(at + 1),
      name(at + 2),
      num(at + 3),
      num(at + 4),
      strs[s],
      name(at + 5),
      name(at + 6),
      name(at + 7),
      payloadText(strs[s + PAYLOAD_SLOT], level),
    );
  }
  return values;
}

function payloadText(payload: string | DeferredPayload | null | undefined, level: AuditLevel): string | null {
  if (payload === undefined || payload === null || typeof payload === 'string') return payload ?? null;
  return joinDeferred(payload, level);
}
