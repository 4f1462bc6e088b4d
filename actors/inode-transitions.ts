import { transition } from 'xstate';
import { type InodeContext, type InodeEmitted, type InodeEvent, inodeMachine } from '../machines/inode.js';
import { assert } from '../storage/assert.js';
import type { InodeData } from '../storage/format/records.js';

export const inodeLogic = inodeMachine<InodeData>();

export type InodeStateValue = 'idle' | 'setup' | 'flush' | 'unloaded';

/** The part of an inode actor's snapshot a transition reads and writes. */
export interface InodeSnapshot {
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
const memo = new Map<string, Outcome>();
let misses = 0;

function sourceOf(value: InodeData | undefined): DataSource {
  if (value === undefined) return 'none';
  if (value === CONTEXT_DATA) return 'context.data';
  if (value === CONTEXT_SYNC_DATA) return 'context.syncData';
  assert(value === EVENT_DATA, 'the inode machine only moves the data references it was given');
  return 'event.data';
}

/** Everything a transition may read, with the data references reduced to whether they are there. */
function memoKey(snapshot: InodeSnapshot, event: InodeEvent<InodeData>): string {
  const c = snapshot.context;
  let key = `${snapshot.state}|${c.flags}|${c.syncFlags}|${c.truncOff}|${c.syncTruncOff}|${c.group}|${c.error}|${c.syncData === undefined ? 0 : 1}`;
  const fields = event as unknown as Record<string, unknown>;
  for (const name in fields) {
    key += name === 'data' ? (fields.data === undefined ? '|data:-' : '|data:+') : `|${name}:${String(fields[name])}`;
  }
  return key;
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
  const snapshot: InodeSnapshot = {
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
  };
  const key = memoKey(snapshot, event);
  let outcome = memo.get(key);
  if (outcome === undefined) {
    outcome = compute(snapshot, event);
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(key, outcome);
  }
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
