import { assign, enqueueActions, setup } from 'xstate';
import { InodeFlag, MODMASK, MODMASK_NOXDIRTY } from './inode-flags.js';

/**
 * An inode's flush state: HAMMER's IDLE / SETUP / FLUSH (HAMMER_FST_*).
 *
 * The machine holds the flags and the frozen backend copy (`syncFlags`,
 * `syncData`, `syncTruncOff`); the coordinator around it (actors/) holds the
 * records and target lists and tells the machine what it found in each event
 * (how many records a scan could bring, whether the lists are empty). So the
 * machine decides only from its context and the event, never calls out, and
 * a re-queue after a flush is an emitted `requeue` the coordinator acts on.
 *
 * `TData` is the inode data the frontend keeps changing; the backend works
 * from the copy frozen when the inode enters its flush group.
 */
export interface InodeContext<TData> {
  flags: number;
  syncFlags: number;
  data: TData;
  syncData: TData | undefined;
  /** Pending truncation offset (TRUNCATED), and the one frozen for the backend. */
  truncOff: number;
  syncTruncOff: number;
  /** Seq of the flush group the inode is in (FLUSH state), else undefined. */
  group: number | undefined;
  /** The last backend error, kept until a flush succeeds. */
  error: string | undefined;
}

export type InodeEvent<TData> =
  /**
   * The frontend changed the inode: modify flags, and the new data when it
   * changed. With `error`: the flush that had written the inode failed to
   * commit (a critical error), so it is dirty again and keeps the error.
   */
  | { type: 'MODIFY'; flags: number; data?: TData; truncOff?: number; error?: string }
  /** A directory record now targets this inode (IDLE -> SETUP). */
  | { type: 'DEPEND' }
  /**
   * hammer_flush_inode: nothing to flush, or queue into `group`. `goCount` is
   * what the downward scan of the inode's records reported (0: no record could
   * join; -1: the group filled up during the scan; > 0: records joined).
   * `targetListEmpty` says whether any record still targets this inode.
   */
  | { type: 'FLUSH'; group: number; goCount: number; signal: boolean; targetListEmpty: boolean; data?: TData }
  /** The coordinator sets bookkeeping flags (REFLUSH, CONN_DOWN, RECLAIM, RDIRTY, ...). */
  | { type: 'MARK'; flags: number }
  /** The coordinator clears bookkeeping flags that are not in the modify mask. */
  | { type: 'CLEAR'; flags: number }
  /** The inode's record tree became empty: XDIRTY goes from both copies. */
  | { type: 'RECORDS_EMPTY' }
  /** Upward resolution found a parent without connectivity: wait for it. */
  | { type: 'CONN_DOWN'; signal: boolean }
  /** The backend could not finish (truncation): re-run in the same group. */
  | { type: 'WOULDBLOCK' }
  /** A caller waits for this flush (wait_inode). */
  | { type: 'WAIT' }
  /** hammer_flush_inode_done: lists as the coordinator sees them after the backend ran. */
  | {
      type: 'FLUSH_DONE';
      /** The sync flags the backend did not complete (0: all written). */
      unsynced: number;
      error?: string;
      listsEmpty: boolean;
      targetListEmpty: boolean;
      nlinksDiverged: boolean;
      /** Flags the backend established (ONDISK, DELONDISK, DELETED). */
      setFlags?: number;
      /** The record tree is empty now (XDIRTY clears). */
      recordsEmpty?: boolean;
    }
  /** Unload the clean, idle inode (its actor stops). */
  | { type: 'UNLOAD' };

export type InodeEmitted =
  | { type: 'requeue'; signal: boolean }
  | { type: 'flushed'; group: number }
  | { type: 'waiters' };

export interface InodeInput<TData> {
  data: TData;
  flags?: number;
}

const has = (flags: number, bit: number) => (flags & bit) !== 0;

/** machines/ imports nothing of ours: its own invariant check, on in production like storage's. */
function invariant(condition: boolean, what: string): void {
  if (!condition) throw new Error(`invariant violated: ${what}`);
}

export function inodeMachine<TData>() {
  return setup({
    types: {
      context: {} as InodeContext<TData>,
      events: {} as InodeEvent<TData>,
      emitted: {} as InodeEmitted,
      input: {} as InodeInput<TData>,
    },
    guards: {
      /** Nothing in the modify mask: a flush request has nothing to write. */
      nothingToFlush: ({ context }) => (context.flags & MODMASK) === 0,
      /** SETUP with no record targeting us and nothing to write: back to IDLE. */
      setupDrained: ({ context, event }) =>
        event.type === 'FLUSH' && event.targetListEmpty && (context.flags & MODMASK) === 0,
      /**
       * flush_inode_core's early return: no record could join and nothing but
       * XDIRTY is pending, so the inode waits in SETUP with REFLUSH.
       */
      noRecordCanGo: ({ context, event }) =>
        event.type === 'FLUSH' && event.goCount === 0 && (context.flags & MODMASK_NOXDIRTY) === 0,
      wouldBlock: ({ context }) => has(context.flags, InodeFlag.WOULDBLOCK),
      doneToIdle: ({ event }) => event.type === 'FLUSH_DONE' && event.listsEmpty,
      unloadable: ({ context }) => (context.flags & MODMASK) === 0,
    },
    actions: {
      markModified: assign(({ context, event }) => {
        if (event.type !== 'MODIFY') return {};
        const truncated = has(event.flags, InodeFlag.TRUNCATED) && event.truncOff !== undefined;
        return {
          flags: context.flags | event.flags,
          data: event.data ?? context.data,
          truncOff: truncated ? Math.min(context.truncOff, event.truncOff ?? context.truncOff) : context.truncOff,
          error: event.error ?? context.error,
        };
      }),
      /**
       * Enter the flush group: freeze the backend's copy. TRUNCATED moves to
       * syncFlags with its offset; the rest of the modify mask moves too
       * (DELETING stays set in flags: it is sticky).
       */
      freezeForBackend: assign(({ context, event }) => {
        if (event.type !== 'FLUSH') return {};
        invariant(!has(context.flags, InodeFlag.WOULDBLOCK), 'flush_inode_core never sees WOULDBLOCK');
        let { flags, syncFlags, truncOff, syncTruncOff } = context;
        if (has(flags, InodeFlag.TRUNCATED)) {
          invariant(!has(syncFlags, InodeFlag.TRUNCATED), 'TRUNCATED is not already in sync_flags');
          syncTruncOff = truncOff;
          truncOff = Number.MAX_SAFE_INTEGER;
          flags &= ~InodeFlag.TRUNCATED;
          syncFlags |= InodeFlag.TRUNCATED;
        }
        syncFlags |= flags & MODMASK & ~InodeFlag.TRUNCATED;
        // As the seed's code does (its comment calls DELETING sticky, its code clears it): the whole modify mask moves.
        flags &= ~MODMASK;
        return { flags, syncFlags, truncOff, syncTruncOff, syncData: event.data ?? context.data, group: event.group };
      }),
      waitForReflush: assign(({ context, event }) => {
        const signal = (event.type === 'FLUSH' || event.type === 'CONN_DOWN') && event.signal;
        return { flags: context.flags | InodeFlag.REFLUSH | (signal ? InodeFlag.RESIGNAL : 0) };
      }),
      markFlags: assign(({ context, event }) => (event.type === 'MARK' ? { flags: context.flags | event.flags } : {})),
      clearFlags: assign(({ context, event }) => {
        if (event.type !== 'CLEAR') return {};
        invariant((event.flags & MODMASK) === 0, 'CLEAR never drops modify-mask flags');
        return { flags: context.flags & ~event.flags };
      }),
      recordsEmpty: assign(({ context }) => ({
        flags: context.flags & ~InodeFlag.XDIRTY,
        syncFlags: context.syncFlags & ~InodeFlag.XDIRTY,
      })),
      connDown: assign(({ context }) => ({ flags: context.flags | InodeFlag.CONN_DOWN })),
      setWouldBlock: assign(({ context }) => ({ flags: context.flags | InodeFlag.WOULDBLOCK })),
      setFlushWaiter: assign(({ context }) => ({ flags: context.flags | InodeFlag.FLUSHW })),
      /**
       * hammer_flush_inode_done's bookkeeping: the sync flags the backend left
       * merge back (REFLUSH if any; a pending truncation stays frozen for the
       * re-run), the error is kept, nlinks divergence re-dirties, and REFLUSH
       * stays only while something remains to write.
       */
      mergeBack: assign(({ context, event }) => {
        if (event.type !== 'FLUSH_DONE') return {};
        invariant((event.unsynced & ~context.syncFlags) === 0, 'the backend leaves only flags it was given');
        let flags = context.flags | (event.setFlags ?? 0);
        if (event.unsynced & MODMASK) flags |= InodeFlag.REFLUSH;
        flags |= event.unsynced & ~InodeFlag.TRUNCATED;
        if (event.recordsEmpty) flags &= ~InodeFlag.XDIRTY;
        const syncFlags = event.unsynced & InodeFlag.TRUNCATED;
        if (event.nlinksDiverged) flags |= InodeFlag.DDIRTY;
        // No vnode will flush us later, but the periodic flush will: REFLUSH only as asked, and never when clean.
        if ((flags & MODMASK) === 0) flags &= ~InodeFlag.REFLUSH;
        if (event.targetListEmpty) flags &= ~InodeFlag.CONN_DOWN;
        return { flags, syncFlags, error: event.error };
      }),
      clearWouldBlock: assign(({ context }) => ({ flags: context.flags & ~InodeFlag.WOULDBLOCK })),
      /**
       * The flush completed (not WOULDBLOCK): leave the group, wake whoever
       * waits on it (FLUSHW), then re-queue on REFLUSH, signalling the flusher
       * if RESIGNAL was asked for. The coordinator acts on `requeue`.
       */
      completeFlush: enqueueActions(({ context, enqueue }) => {
        enqueue.emit({ type: 'flushed', group: context.group ?? -1 });
        let flags = context.flags;
        if (has(flags, InodeFlag.FLUSHW)) {
          enqueue.emit({ type: 'waiters' });
          flags &= ~InodeFlag.FLUSHW;
        }
        if (has(flags, InodeFlag.REFLUSH)) {
          enqueue.emit({ type: 'requeue', signal: has(flags, InodeFlag.RESIGNAL) });
          flags &= ~(InodeFlag.REFLUSH | InodeFlag.RESIGNAL);
        }
        enqueue.assign({ flags, group: undefined, syncData: undefined });
      }),
    },
  }).createMachine({
    id: 'inode',
    initial: 'idle',
    context: ({ input }) => ({
      flags: input.flags ?? 0,
      syncFlags: 0,
      data: input.data,
      syncData: undefined,
      truncOff: Number.MAX_SAFE_INTEGER,
      syncTruncOff: Number.MAX_SAFE_INTEGER,
      group: undefined,
      error: undefined,
    }),
    on: {
      MODIFY: { actions: 'markModified' },
      MARK: { actions: 'markFlags' },
      CLEAR: { actions: 'clearFlags' },
      RECORDS_EMPTY: { actions: 'recordsEmpty' },
      WAIT: { actions: 'setFlushWaiter' },
    },
    states: {
      idle: {
        on: {
          DEPEND: { target: 'setup' },
          FLUSH: [
            { guard: 'nothingToFlush' },
            { guard: 'noRecordCanGo', target: 'setup', actions: 'waitForReflush' },
            { target: 'flush', actions: 'freezeForBackend' },
          ],
          UNLOAD: { guard: 'unloadable', target: 'unloaded' },
        },
      },
      setup: {
        on: {
          DEPEND: {},
          FLUSH: [
            { guard: 'setupDrained', target: 'idle' },
            { guard: 'noRecordCanGo', actions: 'waitForReflush' },
            { target: 'flush', actions: 'freezeForBackend' },
          ],
          CONN_DOWN: { actions: ['connDown', 'waitForReflush'] },
        },
      },
      flush: {
        on: {
          DEPEND: {},
          FLUSH: { actions: 'waitForReflush' },
          WOULDBLOCK: { actions: 'setWouldBlock' },
          FLUSH_DONE: [
            { guard: 'wouldBlock', actions: ['mergeBack', 'clearWouldBlock'] },
            { guard: 'doneToIdle', target: 'idle', actions: ['mergeBack', 'completeFlush'] },
            { target: 'setup', actions: ['mergeBack', 'completeFlush'] },
          ],
        },
      },
      unloaded: { type: 'final' },
    },
  });
}
