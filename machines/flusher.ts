import { assign, setup } from 'xstate';

/**
 * The flusher's master loop (hammer_flusher_master): take the group with
 * seq = done + 1, give the run one TID, sync its inodes, finalize, then
 * advance `done` and wake the waiters of every seq up to it. `next` hands out
 * group seqs; `done` never decreases.
 */
export interface FlusherContext {
  next: number;
  done: number;
  /** The TID of the running flush, undefined between runs. */
  tid: number | undefined;
  running: number | undefined;
}

export type FlusherEvent =
  /** A new flush group takes a seq (the coordinator reads `next` before sending). */
  | { type: 'ALLOC_SEQ' }
  /** Start the head group with the TID the volume gave it. */
  | { type: 'START'; seq: number; tid: number }
  /** The run's inodes are synced; finalize (data, FIFO, meta-data, header). */
  | { type: 'FINALIZE' }
  /** Finalize returned: the group is durable (or re-queued when inodes would block). */
  | { type: 'FINALIZED'; groupDone: boolean };

export const flusherMachine = setup({
  types: { context: {} as FlusherContext, events: {} as FlusherEvent },
  guards: {
    isHead: ({ context, event }) =>
      event.type === 'START' && event.seq === context.done + 1 && event.seq < context.next,
    groupDone: ({ event }) => event.type === 'FINALIZED' && event.groupDone,
  },
  actions: {
    allocSeq: assign(({ context }) => ({ next: context.next + 1 })),
    start: assign(({ event }) => (event.type === 'START' ? { running: event.seq, tid: event.tid } : {})),
    advanceDone: assign(({ context }) => {
      if (context.running === undefined || context.running !== context.done + 1) {
        throw new Error('invariant violated: done advances one group at a time');
      }
      return { done: context.running, running: undefined, tid: undefined };
    }),
    endRun: assign({ running: undefined, tid: undefined }),
  },
}).createMachine({
  id: 'flusher',
  initial: 'idle',
  context: { next: 1, done: 0, tid: undefined, running: undefined },
  on: { ALLOC_SEQ: { actions: 'allocSeq' } },
  states: {
    idle: { on: { START: { guard: 'isHead', target: 'syncing', actions: 'start' } } },
    syncing: { on: { FINALIZE: { target: 'finalizing' } } },
    finalizing: {
      on: {
        FINALIZED: [
          { guard: 'groupDone', target: 'idle', actions: 'advanceDone' },
          { target: 'idle', actions: 'endRun' },
        ],
      },
    },
  },
});
