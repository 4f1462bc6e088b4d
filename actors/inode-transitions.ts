import { transition } from 'xstate';
import { type InodeContext, type InodeEmitted, type InodeEvent, inodeMachine } from '../machines/inode.js';
import { assert } from '../storage/assert.js';
import type { InodeData } from '../storage/format/records.js';

export const inodeLogic = inodeMachine<InodeData>();

export type InodeStateValue = 'idle' | 'setup' | 'flush' | 'unloaded';

/** The part of an inode actor's snapshot a transition reads and writes. */
interface InodeSnapshot {
  state: InodeStateValue;
  context: InodeContext<InodeData>;
}

/**
 * The inode data is opaque to the machine (its `TData` is generic): it only
 * moves references between `data`, `syncData` and the event's `data`. So a
 * transition is computed once on stand-ins for those references and the
 * result says which one ends up where.
 */
const CONTEXT_DATA = Object.freeze({ standIn: 'context.data' }) as unknown as InodeData;
const CONTEXT_SYNC_DATA = Object.freeze({ standIn: 'context.syncData' }) as unknown as InodeData;
const EVENT_DATA = Object.freeze({ standIn: 'event.data' }) as unknown as InodeData;

type DataSource = 'context.data' | 'context.syncData' | 'event.data' | 'none';

interface Outcome {
  state: InodeStateValue;
  /** The context with the data fields left out (they are rebuilt from `dataFrom` / `syncDataFrom`). */
  control: Omit<InodeContext<InodeData>, 'data' | 'syncData'>;
  dataFrom: DataSource;
  syncDataFrom: DataSource;
  emitted: InodeEmitted[];
}

/** Bound on remembered transitions; past it the memo starts over (a few distinct keys per flush group in practice). */
const MEMO_LIMIT = 8192;

/** What a remembered transition was computed from: the control context and the event, data reduced to presence. */
interface Remembered {
  state: InodeStateValue;
  flags: number;
  syncFlags: number;
  truncOff: number;
  syncTruncOff: number;
  group: number | undefined;
  error: string | undefined;
  hasSyncData: boolean;
  /** The event's fields; `data` is kept as whether it was there. */
  event: Record<string, unknown>;
  fields: number;
  outcome: Outcome;
}

/**
 * Remembered transitions by a hash of their inputs, each bucket checked
 * field by field: looking one up allocates nothing (a string key built per
 * event was most of the garbage an event made).
 */
const memo = new Map<number, Remembered[]>();
let remembered = 0;
let misses = 0;

const STATE_CODES: Record<InodeStateValue, number> = { idle: 1, setup: 2, flush: 3, unloaded: 4 };

function mix(hash: number, value: number): number {
  return Math.imul(hash ^ value, 0x9e3779b1) >>> 0;
}

function valueCode(value: unknown): number {
  if (typeof value === 'number') return value === Number.MAX_SAFE_INTEGER ? 0x7fffffff : value | 0;
  if (typeof value === 'string') return value.length * 31 + value.charCodeAt(0);
  if (value === true) return 0x55;
  if (value === false) return 0xaa;
  return value === undefined ? 0x33 : 0x77;
}

/** Tests: every input hashes alike, so lookups rest on the field-by-field check alone. */
let collide = false;
export function collideHashesForTests(on: boolean): void {
  collide = on;
  memo.clear();
  remembered = 0;
}

function hashOf(mirror: InodeMirror, event: InodeEvent<InodeData>): number {
  if (collide) return 0;
  let hash = mix(STATE_CODES[mirror.state], mirror.flags);
  hash = mix(hash, mirror.syncFlags);
  hash = mix(hash, valueCode(mirror.truncOff));
  hash = mix(hash, valueCode(mirror.syncTruncOff));
  hash = mix(hash, valueCode(mirror.group));
  hash = mix(hash, valueCode(mirror.error));
  hash = mix(hash, mirror.syncData === undefined ? 0 : 1);
  const fields = event as unknown as Record<string, unknown>;
  for (const name in fields)
    hash = mix(
      mix(hash, name.length),
      name === 'data' ? valueCode(fields.data !== undefined) : valueCode(fields[name]),
    );
  return hash;
}

function matches(entry: Remembered, mirror: InodeMirror, event: InodeEvent<InodeData>): boolean {
  if (
    entry.state !== mirror.state ||
    entry.flags !== mirror.flags ||
    entry.syncFlags !== mirror.syncFlags ||
    entry.truncOff !== mirror.truncOff ||
    entry.syncTruncOff !== mirror.syncTruncOff ||
    entry.group !== mirror.group ||
    entry.error !== mirror.error ||
    entry.hasSyncData !== (mirror.syncData !== undefined)
  ) {
    return false;
  }
  const fields = event as unknown as Record<string, unknown>;
  let count = 0;
  for (const name in fields) {
    count++;
    const value = name === 'data' ? fields.data !== undefined : fields[name];
    if (!(name in entry.event) || entry.event[name] !== value) return false;
  }
  return count === entry.fields;
}

function remember(hash: number, mirror: InodeMirror, event: InodeEvent<InodeData>, outcome: Outcome): void {
  if (remembered >= MEMO_LIMIT) {
    memo.clear();
    remembered = 0;
  }
  const copy: Record<string, unknown> = {};
  let fields = 0;
  const source = event as unknown as Record<string, unknown>;
  for (const name in source) {
    copy[name] = name === 'data' ? source.data !== undefined : source[name];
    fields++;
  }
  const entry: Remembered = {
    state: mirror.state,
    flags: mirror.flags,
    syncFlags: mirror.syncFlags,
    truncOff: mirror.truncOff,
    syncTruncOff: mirror.syncTruncOff,
    group: mirror.group,
    error: mirror.error,
    hasSyncData: mirror.syncData !== undefined,
    event: copy,
    fields,
    outcome,
  };
  const bucket = memo.get(hash);
  if (bucket === undefined) memo.set(hash, [entry]);
  else bucket.push(entry);
  remembered++;
}

function sourceOf(value: InodeData | undefined): DataSource {
  if (value === undefined) return 'none';
  if (value === CONTEXT_DATA) return 'context.data';
  if (value === CONTEXT_SYNC_DATA) return 'context.syncData';
  assert(value === EVENT_DATA, 'the inode machine only moves the data references it was given');
  return 'event.data';
}

/** Run XState's pure transition on the stand-ins and record where everything went. */
function compute(snapshot: InodeSnapshot, event: InodeEvent<InodeData>): Outcome {
  misses++;
  const context = {
    ...snapshot.context,
    data: CONTEXT_DATA,
    syncData: snapshot.context.syncData === undefined ? undefined : CONTEXT_SYNC_DATA,
  };
  const standInEvent = (
    'data' in event && event.data !== undefined ? { ...event, data: EVENT_DATA } : event
  ) as InodeEvent<InodeData>;
  const resolved = inodeLogic.resolveState({ value: snapshot.state, context });
  const [next, actions] = transition(inodeLogic, resolved, standInEvent);
  if (next.status === 'error') throw next.error;
  const { data, syncData, ...control } = next.context;
  const emitted: InodeEmitted[] = [];
  for (const action of actions as ReadonlyArray<{ type: string; params?: unknown }>) {
    // enqueue.emit's executable action (XState's typings leave the built-in action types out).
    if (action.type !== 'xstate.emit') continue;
    emitted.push((action.params as { event: InodeEmitted }).event);
  }
  return {
    state: next.value as InodeStateValue,
    control,
    dataFrom: sourceOf(data),
    syncDataFrom: sourceOf(syncData),
    emitted,
  };
}

/** Where a virtual inode actor keeps its snapshot between events (the Inode's mirrored fields). */
export interface InodeMirror {
  state: InodeStateValue;
  flags: number;
  syncFlags: number;
  ino: InodeData;
  syncData: InodeData | undefined;
  truncOff: number;
  syncTruncOff: number;
  group: number | undefined;
  error: string | undefined;
}

function outcomeFor(mirror: InodeMirror, event: InodeEvent<InodeData>): Outcome {
  const hash = hashOf(mirror, event);
  const bucket = memo.get(hash);
  if (bucket !== undefined) for (const entry of bucket) if (matches(entry, mirror, event)) return entry.outcome;
  const outcome = compute(
    {
      state: mirror.state,
      context: {
        flags: mirror.flags,
        syncFlags: mirror.syncFlags,
        data: mirror.ino,
        syncData: mirror.syncData,
        truncOff: mirror.truncOff,
        syncTruncOff: mirror.syncTruncOff,
        group: mirror.group,
        error: mirror.error,
      },
    },
    event,
  );
  remember(hash, mirror, event, outcome);
  return outcome;
}

/**
 * One event through the inode machine: XState's own pure `transition()`,
 * remembered per (state, control context, event) since the machine is a pure
 * function of those. The mirror's fields become the next snapshot; returns
 * the events the transition emitted.
 */
export function inodeStep(mirror: InodeMirror, event: InodeEvent<InodeData>): readonly InodeEmitted[] {
  const outcome = outcomeFor(mirror, event);
  const data = pickData(outcome.dataFrom, mirror, event);
  assert(data !== undefined, 'an inode always has its data');
  const syncData = pickData(outcome.syncDataFrom, mirror, event);
  const control = outcome.control;
  mirror.state = outcome.state;
  mirror.flags = control.flags;
  mirror.syncFlags = control.syncFlags;
  mirror.ino = data;
  mirror.syncData = syncData;
  mirror.truncOff = control.truncOff;
  mirror.syncTruncOff = control.syncTruncOff;
  mirror.group = control.group;
  mirror.error = control.error;
  return outcome.emitted;
}

function pickData(source: DataSource, mirror: InodeMirror, event: InodeEvent<InodeData>): InodeData | undefined {
  switch (source) {
    case 'context.data':
      return mirror.ino;
    case 'context.syncData':
      return mirror.syncData;
    case 'event.data':
      return (event as { data?: InodeData }).data;
    case 'none':
      return undefined;
  }
}

/** How many transitions were computed rather than remembered (tests, benchmarks). */
export function inodeTransitionMisses(): number {
  return misses;
}
