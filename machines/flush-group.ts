import { assign, setup } from 'xstate';

/**
 * A flush group (hammer_flush_group): inodes gathered under one flush, run
 * under one TID. open -> closed -> running -> done, and back from running to
 * closed when inodes returned WOULDBLOCK and the group must run again.
 *
 * `totalCount` counts inodes added, `refs` records in FLUSH state; a group
 * accepts more only while `totalCount + refs` stays within `undoRecLimit`
 * and `totalCount` within `autoflush` (both given at creation).
 */
export interface FlushGroupContext {
  seq: number;
  totalCount: number;
  refs: number;
  /** Inodes still in the group's flush tree. */
  inodes: number;
  runs: number;
  undoRecLimit: number;
  autoflush: number;
}

export type FlushGroupEvent =
  | { type: 'ADD_INODE'; count?: number }
  /** flush_inode_core backed out (no record could go): the inode leaves before the group runs. */
  | { type: 'REMOVE_INODE'; count?: number }
  | { type: 'ADD_REF'; count?: number }
  | { type: 'DROP_REF'; count?: number }
  | { type: 'CLOSE' }
  /** The flusher starts it; only the head group (seq = done + 1) may run. */
  | { type: 'RUN'; flusherDone: number }
  /** An inode's flush completed (it leaves the flush tree). */
  | { type: 'INODE_DONE'; count?: number }
  /** The run finished: done when the tree is empty, else closed again for a re-run. */
  | { type: 'RUN_FINISHED' };

export interface FlushGroupInput {
  seq: number;
  undoRecLimit: number;
  autoflush: number;
}

/** ADD_INODE / REMOVE_INODE / ADD_REF / DROP_REF / INODE_DONE may carry a count (the coordinator batches one step's worth). */
function countOf(event: FlushGroupEvent): number {
  const count = 'count' in event ? (event.count ?? 1) : 1;
  if (!Number.isInteger(count) || count < 1)
    throw new Error('invariant violated: a batched count is a positive integer');
  return count;
}

export const flushGroupMachine = setup({
  types: {
    context: {} as FlushGroupContext,
    events: {} as FlushGroupEvent,
    input: {} as FlushGroupInput,
  },
  guards: {
    /** After adding one more inode, the group can still take others (else it closes: autoflush). */
    roomAfterAdd: ({ context, event }) =>
      context.totalCount + countOf(event) + context.refs < context.undoRecLimit &&
      context.totalCount + countOf(event) < context.autoflush,
    isHead: ({ context, event }) => event.type === 'RUN' && context.seq === event.flusherDone + 1,
    treeEmpty: ({ context }) => context.inodes === 0 && context.refs === 0,
  },
  actions: {
    addInode: assign(({ context, event }) => ({
      totalCount: context.totalCount + countOf(event),
      inodes: context.inodes + countOf(event),
    })),
    removeInode: assign(({ context, event }) => {
      const count = countOf(event);
      if (context.inodes < count) throw new Error('invariant violated: only an inode in the group backs out');
      return { totalCount: context.totalCount - count, inodes: context.inodes - count };
    }),
    addRef: assign(({ context, event }) => ({ refs: context.refs + countOf(event) })),
    dropRef: assign(({ context, event }) => {
      const count = countOf(event);
      if (context.refs < count) throw new Error('invariant violated: a group drops only references it holds');
      return { refs: context.refs - count };
    }),
    inodeDone: assign(({ context, event }) => {
      const count = countOf(event);
      if (context.inodes < count) throw new Error('invariant violated: only an inode in the flush tree completes');
      return { inodes: context.inodes - count };
    }),
    countRun: assign(({ context }) => ({ runs: context.runs + 1 })),
  },
}).createMachine({
  id: 'flushGroup',
  initial: 'open',
  context: ({ input }) => ({
    seq: input.seq,
    totalCount: 0,
    refs: 0,
    inodes: 0,
    runs: 0,
    undoRecLimit: input.undoRecLimit,
    autoflush: input.autoflush,
  }),
  states: {
    open: {
      on: {
        ADD_INODE: [
          { guard: 'roomAfterAdd', actions: 'addInode' },
          { target: 'closed', actions: 'addInode' },
        ],
        REMOVE_INODE: { actions: 'removeInode' },
        ADD_REF: { actions: 'addRef' },
        DROP_REF: { actions: 'dropRef' },
        CLOSE: { target: 'closed' },
      },
    },
    closed: {
      on: {
        // A closed group still takes the inodes dependency resolution pulls in.
        ADD_INODE: { actions: 'addInode' },
        REMOVE_INODE: { actions: 'removeInode' },
        ADD_REF: { actions: 'addRef' },
        DROP_REF: { actions: 'dropRef' },
        CLOSE: {},
        RUN: { guard: 'isHead', target: 'running', actions: 'countRun' },
      },
    },
    running: {
      on: {
        DROP_REF: { actions: 'dropRef' },
        INODE_DONE: { actions: 'inodeDone' },
        RUN_FINISHED: [{ guard: 'treeEmpty', target: 'done' }, { target: 'closed' }],
      },
    },
    done: { type: 'final' },
  },
});
