import type { AnyStateMachine, Snapshot } from 'xstate';
import { type FlushGroupContext, type FlushGroupEvent, flushGroupMachine } from '../../../machines/flush-group.js';
import { type ModelPaths, modelPaths, type PathStep } from './walk.js';

/**
 * The flush-group machine as the walks see it. A group has no flags: its
 * identity is its value and its counts (inodes, record references, inodes
 * added, runs so far). Counts are bounded (at most three inodes), and in a
 * run the events come as the coordinator batches them: every record
 * reference dropped at once, then every completed inode at once.
 */
export type GroupPath = readonly PathStep<FlushGroupEvent>[];

/** What the real mount gives its first group: seq 1, undo_rec_limit of an 8 MiB FIFO, autoflush 2. */
export const GROUP_INPUT = { seq: 1, undoRecLimit: (8 * 1024 * 1024) / 8192 + 100, autoflush: 2 };

type GroupSnapshot = Snapshot<unknown> & { value: string; context: FlushGroupContext };

const MAX_INODES = 3;

function filling(c: FlushGroupContext, open: boolean): FlushGroupEvent[] {
  const out: FlushGroupEvent[] = [];
  if (c.totalCount < (open ? GROUP_INPUT.autoflush : MAX_INODES)) out.push({ type: 'ADD_INODE' });
  if (c.refs < c.inodes) out.push({ type: 'ADD_REF' });
  if (c.inodes > 0) out.push({ type: 'REMOVE_INODE' });
  if (c.refs > 0) out.push({ type: 'DROP_REF' });
  out.push({ type: 'CLOSE' });
  return out;
}

/** In a run: references first, then inodes; every inode completes, or (first run only) every inode would block. */
function running(c: FlushGroupContext): FlushGroupEvent[] {
  if (c.refs > 0) return [{ type: 'DROP_REF', count: c.refs }];
  const out: FlushGroupEvent[] = [];
  if (c.inodes > 0) out.push({ type: 'INODE_DONE', count: c.inodes });
  if (c.inodes === 0 || c.runs === 1) out.push({ type: 'RUN_FINISHED' });
  return out;
}

export function groupEvents(snapshot: Snapshot<unknown>): FlushGroupEvent[] {
  const { value, context } = snapshot as GroupSnapshot;
  const run = { type: 'RUN', flusherDone: GROUP_INPUT.seq - 1 } as const;
  switch (value) {
    case 'open':
      return filling(context, true);
    case 'closed':
      // Closed again after a run that would block: the flusher runs it again at once.
      return context.runs > 0 ? [run] : [...filling(context, false), run];
    case 'running':
      return running(context);
    default:
      return [];
  }
}

export function serializeGroup(snapshot: Snapshot<unknown>): string {
  const { value, context: c } = snapshot as GroupSnapshot;
  return `${value}:${c.inodes}:${c.refs}:${c.totalCount}:${c.runs}`;
}

const OPTIONS = { events: groupEvents, input: GROUP_INPUT, serializeState: serializeGroup };

/** The events the coordinator sends in each state (see planGroupPath for those it never sends). */
function sentBySystem(snapshot: Snapshot<unknown>, event: FlushGroupEvent): boolean {
  const { value } = snapshot as GroupSnapshot;
  if (value === 'running') return true;
  if (value === 'closed') return event.type === 'ADD_REF' || event.type === 'RUN';
  return event.type === 'ADD_INODE' || event.type === 'ADD_REF' || event.type === 'CLOSE';
}

/** Simple paths run to `done` over the events the real system sends in each state. */
export function groupPaths(model: AnyStateMachine = flushGroupMachine): ModelPaths<FlushGroupEvent> {
  return modelPaths(model, OPTIONS, {
    events: (snapshot) => groupEvents(snapshot).filter((event) => sentBySystem(snapshot, event)),
    toState: (snapshot) => (snapshot as GroupSnapshot).value === 'done',
  });
}
