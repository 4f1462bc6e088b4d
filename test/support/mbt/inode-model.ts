import type { AnyStateMachine, Snapshot } from 'xstate';
import { type InodeContext, type InodeEvent, inodeMachine } from '../../../machines/inode.js';
import { InodeFlag, MODMASK } from '../../../machines/inode-flags.js';
import { edgePaths, type ModelPaths, modelPaths, type PathStep } from './walk.js';

/**
 * The inode machine as the walks see it: the machine itself, with state
 * identity by value and flags (not the whole context: the frozen copy, the
 * group number and the data are the same machine state for these tests),
 * and a bounded set of concrete events, each offered only where the real
 * system can produce exactly that event for the tracked file (see
 * inode-world.ts). Everything here depends on the value and the flags only,
 * so states xstate/graph merges by that identity offer the same events.
 */
export type ModelData = { file: '/f' };
export type ModelEvent = InodeEvent<ModelData>;

export const inodeModel = inodeMachine<ModelData>();

/** The tracked file starts on disk, clean, idle. */
export const INODE_INPUT = { data: { file: '/f' } as ModelData, flags: InodeFlag.ONDISK };

const has = (flags: number, bit: number) => (flags & bit) !== 0;
const dirty = (flags: number) => (flags & MODMASK) !== 0;

type InodeSnapshot = Snapshot<unknown> & { value: string; context: InodeContext<ModelData> };

/**
 * A truncation (up one byte, then to 0), a chmod, a one-byte append. The
 * truncation comes first: shortest paths then reach a flushing inode through
 * it, and its frozen truncation can block in the run (WOULDBLOCK) for real.
 */
function modifications(flags: number): ModelEvent[] {
  const out: ModelEvent[] = [];
  // Truncating drops in-memory blocks (RECORDS_EMPTY): only offered where there are none.
  if (!has(flags, InodeFlag.XDIRTY)) {
    out.push({ type: 'MODIFY', flags: InodeFlag.DDIRTY | InodeFlag.TRUNCATED, truncOff: 0 });
  }
  out.push({ type: 'MODIFY', flags: InodeFlag.DDIRTY }, { type: 'MODIFY', flags: InodeFlag.XDIRTY | InodeFlag.DDIRTY });
  return out;
}

const FLUSH_BASE = { type: 'FLUSH', group: 1, signal: false } as const;

function idleEvents(flags: number): ModelEvent[] {
  const out: ModelEvent[] = [];
  // A link changes nlinks (DDIRTY): exact only when DDIRTY is already set.
  if (has(flags, InodeFlag.DDIRTY)) out.push({ type: 'DEPEND' });
  // An IDLE inode has no target; its records (XDIRTY) all join the group.
  out.push({ ...FLUSH_BASE, goCount: has(flags, InodeFlag.XDIRTY) ? 1 : 0, targetListEmpty: true });
  if (!dirty(flags)) out.push({ type: 'UNLOAD' });
  return out;
}

function setupEvents(): ModelEvent[] {
  return [
    { type: 'DEPEND' },
    { type: 'CONN_DOWN', signal: false },
    // The link's ADD still targets us; the parent's resolution brings it along.
    { ...FLUSH_BASE, goCount: 1, targetListEmpty: false },
  ];
}

function flushEvents(flags: number): ModelEvent[] {
  const done = { type: 'FLUSH_DONE', unsynced: 0, targetListEmpty: true, nlinksDiverged: false } as const;
  // A run that would block re-runs at once: nothing happens in between.
  if (has(flags, InodeFlag.WOULDBLOCK)) return [{ ...done, listsEmpty: false }];
  const out: ModelEvent[] = [
    { type: 'DEPEND' },
    { ...FLUSH_BASE, goCount: 1, targetListEmpty: true },
    { type: 'WAIT' },
  ];
  // The backend blocks in the run itself: only with nothing changed since the freeze.
  if (!dirty(flags)) out.push({ type: 'WOULDBLOCK' });
  // A re-queue (REFLUSH and dirty) would flush again within the same run: not offered.
  if (!(has(flags, InodeFlag.REFLUSH) && dirty(flags))) {
    const recordsEmpty = !has(flags, InodeFlag.XDIRTY);
    out.push({ ...done, listsEmpty: recordsEmpty, recordsEmpty });
  }
  return out;
}

export function inodeEvents(snapshot: Snapshot<unknown>): ModelEvent[] {
  const { value, context } = snapshot as InodeSnapshot;
  const flags = context.flags;
  switch (value) {
    case 'idle':
      return [...modifications(flags), ...idleEvents(flags)];
    case 'setup':
      return [...modifications(flags), ...setupEvents()];
    case 'flush':
      return has(flags, InodeFlag.WOULDBLOCK) ? flushEvents(flags) : [...modifications(flags), ...flushEvents(flags)];
    default:
      return [];
  }
}

export function serializeInode(snapshot: Snapshot<unknown>): string {
  const { value, context } = snapshot as InodeSnapshot;
  return `${value}:${context.flags}`;
}

const OPTIONS = { events: inodeEvents, input: INODE_INPUT, serializeState: serializeInode };

/** A smaller alphabet for simple paths (every route, not just the shortest): links, flushes, waits. */
const SIMPLE_TYPES = new Set(['DEPEND', 'FLUSH', 'FLUSH_DONE', 'CONN_DOWN', 'WAIT']);

export type InodePath = readonly PathStep<ModelEvent>[];

/** The paths of `model` (the machine, or a copy with a guard changed to show the walks can fail). */
export function inodePaths(model: AnyStateMachine = inodeModel): ModelPaths<ModelEvent> {
  return modelPaths(model, OPTIONS, {
    events: (snapshot) =>
      inodeEvents(snapshot).filter(
        (event) =>
          SIMPLE_TYPES.has(event.type) ||
          (event.type === 'MODIFY' && event.flags === InodeFlag.DDIRTY && snapshotValue(snapshot) === 'idle'),
      ),
  });
}

function snapshotValue(snapshot: Snapshot<unknown>): string {
  return (snapshot as InodeSnapshot).value;
}

/**
 * Guards the running system never reaches (docs/model-based-testing.md says
 * why), over events it never sends in these situations: a record tree with
 * nothing but XDIRTY, a flush request that no record can join (goCount 0),
 * a clean SETUP inode whose last dependency went away. None of them leads to
 * FLUSH, so no flush group is involved: these walks drive the real inode's
 * own send, and still check the real actor after each step.
 */
export function unreachedGuardPaths(): InodePath[] {
  const none = { ...FLUSH_BASE, goCount: 0 } as const;
  const events = (snapshot: Snapshot<unknown>): ModelEvent[] => {
    const value = snapshotValue(snapshot);
    if (value !== 'idle' && value !== 'setup') return [];
    return [
      { type: 'MODIFY', flags: InodeFlag.XDIRTY },
      { type: 'DEPEND' },
      { ...none, targetListEmpty: true },
      { ...none, signal: true, targetListEmpty: false },
    ];
  };
  const paths = edgePaths(inodeModel, { ...OPTIONS, events } as never).map(
    (path) => path.steps as unknown as InodePath,
  );
  if (paths.some((path) => path.some((step) => step.state.value === 'flush'))) {
    throw new Error('the guard walks never put an inode in a flush group');
  }
  return paths;
}
