import { describe, expect, it } from 'vitest';
import { type AnyStateMachine, createActor } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { flushGroupMachine } from '../machines/flush-group.js';
import { flusherMachine } from '../machines/flusher.js';
import { type InodeEmitted, type InodeEvent, inodeMachine } from '../machines/inode.js';
import { flagNames, InodeFlag, MODMASK } from '../machines/inode-flags.js';

interface Data {
  size: number;
  nlinks: number;
}

function inode(flags = 0) {
  const actor = createActor(inodeMachine<Data>(), { input: { data: { size: 0, nlinks: 1 }, flags } });
  const emitted: InodeEmitted[] = [];
  actor.on('*', (event) => emitted.push(event as InodeEmitted));
  actor.subscribe({ error: () => undefined }); // invariant breaks are read from the snapshot
  actor.start();
  return { actor, emitted, state: () => actor.getSnapshot() };
}

const flush = (goCount = 1, extra: Partial<Extract<InodeEvent<Data>, { type: 'FLUSH' }>> = {}) =>
  ({ type: 'FLUSH', group: 1, goCount, signal: false, targetListEmpty: true, ...extra }) as const;
const done = (extra: Partial<Extract<InodeEvent<Data>, { type: 'FLUSH_DONE' }>> = {}) =>
  ({
    type: 'FLUSH_DONE',
    unsynced: 0,
    listsEmpty: true,
    targetListEmpty: true,
    nlinksDiverged: false,
    ...extra,
  }) as const;

describe('inode machine (IDLE / SETUP / FLUSH)', () => {
  it('stays idle when asked to flush with nothing to write', () => {
    const { actor, state } = inode();
    actor.send(flush());
    expect(state().value).toBe('idle');
  });

  it('freezes the backend copy on entering a group; the frontend keeps changing its own', () => {
    const { actor, state, emitted } = inode();
    actor.send({ type: 'MODIFY', flags: InodeFlag.DDIRTY, data: { size: 10, nlinks: 1 } });
    actor.send(flush());
    expect(state().value).toBe('flush');
    expect(state().context).toMatchObject({ group: 1, syncData: { size: 10, nlinks: 1 } });
    expect(flagNames(state().context.syncFlags)).toEqual(['DDIRTY']);
    expect(state().context.flags & MODMASK).toBe(0);
    actor.send({ type: 'MODIFY', flags: InodeFlag.DDIRTY, data: { size: 99, nlinks: 1 } });
    expect(state().context.syncData).toEqual({ size: 10, nlinks: 1 });
    expect(state().context.data).toEqual({ size: 99, nlinks: 1 });
    actor.send(done());
    expect(state().value).toBe('idle');
    expect(emitted).toEqual([{ type: 'flushed', group: 1 }]);
    // Dirty again, but nobody asked for a re-flush: the periodic flush will take it.
    expect(flagNames(state().context.flags)).toEqual(['DDIRTY']);
  });

  it('a flush requested during a flush re-queues it when the flush completes, with a signal if asked', () => {
    const { actor, emitted } = inode();
    actor.send({ type: 'MODIFY', flags: InodeFlag.DDIRTY });
    actor.send(flush());
    actor.send({ type: 'MODIFY', flags: InodeFlag.MTIME });
    actor.send(flush(1, { signal: true }));
    actor.send({ type: 'WAIT' });
    actor.send(done());
    expect(emitted).toEqual([{ type: 'flushed', group: 1 }, { type: 'waiters' }, { type: 'requeue', signal: true }]);
  });

  it('with only XDIRTY and no record able to go, waits in SETUP with REFLUSH (RESIGNAL when signalled)', () => {
    const { actor, state } = inode();
    actor.send({ type: 'MODIFY', flags: InodeFlag.XDIRTY });
    actor.send({ type: 'DEPEND' });
    actor.send(flush(0, { signal: true, targetListEmpty: false }));
    expect(state().value).toBe('setup');
    expect(flagNames(state().context.flags)).toEqual(['XDIRTY', 'REFLUSH', 'RESIGNAL']);
    expect(state().context.group).toBeUndefined();
  });

  it('a parent without connectivity marks CONN_DOWN until the target list empties', () => {
    const { actor, state } = inode();
    actor.send({ type: 'DEPEND' });
    actor.send({ type: 'MODIFY', flags: InodeFlag.DDIRTY });
    actor.send({ type: 'CONN_DOWN', signal: false });
    expect(flagNames(state().context.flags)).toEqual(['DDIRTY', 'REFLUSH', 'CONN_DOWN']);
    actor.send(flush(1, { targetListEmpty: false }));
    actor.send(done({ listsEmpty: false, targetListEmpty: true }));
    expect(state().value).toBe('setup');
    expect(state().context.flags & InodeFlag.CONN_DOWN).toBe(0);
  });

  it('a SETUP inode with nothing left and no dependency returns to IDLE', () => {
    const { actor, state } = inode();
    actor.send({ type: 'DEPEND' });
    actor.send(flush(1, { targetListEmpty: true }));
    expect(state().value).toBe('idle');
  });

  it('truncation: the offset is frozen; WOULDBLOCK keeps the inode in the same group for a re-run', () => {
    const { actor, state, emitted } = inode();
    actor.send({ type: 'MODIFY', flags: InodeFlag.TRUNCATED, truncOff: 4096 });
    actor.send({ type: 'MODIFY', flags: InodeFlag.TRUNCATED, truncOff: 8192 });
    actor.send(flush());
    expect(state().context).toMatchObject({ syncTruncOff: 4096, truncOff: Number.MAX_SAFE_INTEGER });
    actor.send({ type: 'WOULDBLOCK' });
    actor.send(done({ unsynced: InodeFlag.TRUNCATED }));
    expect(state().value).toBe('flush');
    expect(state().context.group).toBe(1);
    expect(state().context.flags & InodeFlag.WOULDBLOCK).toBe(0);
    expect(state().context.syncFlags).toBe(InodeFlag.TRUNCATED);
    expect(emitted).toEqual([]);
    actor.send(done());
    expect(state().value).toBe('idle');
    expect(state().context.syncFlags).toBe(0);
  });

  it('DELETING moves to the backend copy with the rest of the modify mask (as the seed code does)', () => {
    const { actor, state } = inode();
    actor.send({ type: 'MODIFY', flags: InodeFlag.DELETING | InodeFlag.DDIRTY });
    actor.send(flush());
    expect(state().context.flags & InodeFlag.DELETING).toBe(0);
    expect(state().context.syncFlags & InodeFlag.DELETING).not.toBe(0);
  });

  it('unsynced flags merge back with REFLUSH, and nlinks divergence re-dirties', () => {
    const { actor, state, emitted } = inode();
    actor.send({ type: 'MODIFY', flags: InodeFlag.DDIRTY | InodeFlag.XDIRTY });
    actor.send(flush());
    actor.send(done({ unsynced: InodeFlag.XDIRTY, listsEmpty: false, nlinksDiverged: true }));
    expect(state().value).toBe('setup');
    expect(flagNames(state().context.flags)).toEqual(['DDIRTY', 'XDIRTY']);
    expect(emitted.at(-1)).toEqual({ type: 'requeue', signal: false });
  });

  it('unloads only when clean', () => {
    const dirty = inode(InodeFlag.DDIRTY);
    dirty.actor.send({ type: 'UNLOAD' });
    expect(dirty.state().value).toBe('idle');
    const clean = inode();
    clean.actor.send({ type: 'UNLOAD' });
    expect(clean.state().status).toBe('done');
  });

  it('breaks on purpose: flush_inode_core never sees WOULDBLOCK; TRUNCATED never twice in sync_flags', () => {
    const blocked = inode(InodeFlag.WOULDBLOCK | InodeFlag.DDIRTY);
    blocked.actor.send(flush());
    expect(blocked.state().status).toBe('error');
    expect(String(blocked.state().error)).toContain('flush_inode_core never sees WOULDBLOCK');
    const twice = inode();
    twice.actor.send({ type: 'MODIFY', flags: InodeFlag.TRUNCATED, truncOff: 1 });
    twice.actor.send(flush());
    twice.actor.send(done({ unsynced: InodeFlag.TRUNCATED, listsEmpty: false }));
    twice.actor.send({ type: 'MODIFY', flags: InodeFlag.TRUNCATED, truncOff: 0 });
    twice.actor.send(flush());
    expect(twice.state().status).toBe('error');
    expect(String(twice.state().error)).toContain('TRUNCATED is not already in sync_flags');
  });
});

describe('flush-group machine', () => {
  const group = (autoflush = 3, undoRecLimit = 100) => {
    const actor = createActor(flushGroupMachine, { input: { seq: 4, autoflush, undoRecLimit } });
    actor.subscribe({ error: () => undefined });
    actor.start();
    return actor;
  };

  it('closes itself when it reaches autoflush inodes', () => {
    const g = group(3);
    g.send({ type: 'ADD_INODE' });
    g.send({ type: 'ADD_INODE' });
    expect(g.getSnapshot().value).toBe('open');
    g.send({ type: 'ADD_INODE' });
    expect(g.getSnapshot().value).toBe('closed');
    expect(g.getSnapshot().context.totalCount).toBe(3);
  });

  it('counts records in FLUSH against undo_rec_limit', () => {
    const g = group(500, 4);
    g.send({ type: 'ADD_REF' });
    g.send({ type: 'ADD_REF' });
    g.send({ type: 'ADD_INODE' });
    expect(g.getSnapshot().value).toBe('open');
    g.send({ type: 'ADD_INODE' });
    expect(g.getSnapshot().value).toBe('closed');
  });

  it('runs only as the head group, re-runs when inodes would block, then is done', () => {
    const g = group();
    g.send({ type: 'ADD_INODE' });
    g.send({ type: 'RUN', flusherDone: 3 });
    expect(g.getSnapshot().value).toBe('open');
    g.send({ type: 'CLOSE' });
    g.send({ type: 'RUN', flusherDone: 2 });
    expect(g.getSnapshot().value).toBe('closed');
    g.send({ type: 'RUN', flusherDone: 3 });
    expect(g.getSnapshot().value).toBe('running');
    g.send({ type: 'ADD_INODE' }); // a running group is never filled
    expect(g.getSnapshot().context.totalCount).toBe(1);
    g.send({ type: 'RUN_FINISHED' });
    expect(g.getSnapshot().value).toBe('closed');
    g.send({ type: 'RUN', flusherDone: 3 });
    g.send({ type: 'INODE_DONE' });
    g.send({ type: 'RUN_FINISHED' });
    expect(g.getSnapshot().status).toBe('done');
    expect(g.getSnapshot().context.runs).toBe(2);
  });

  it('breaks on purpose: dropping a reference it does not hold', () => {
    const g = group();
    g.send({ type: 'DROP_REF' });
    expect(g.getSnapshot().status).toBe('error');
  });
});

describe('flusher machine', () => {
  it('runs groups in seq order, one TID each, and done never decreases', () => {
    const f = createActor(flusherMachine).start();
    f.send({ type: 'ALLOC_SEQ' });
    f.send({ type: 'ALLOC_SEQ' });
    f.send({ type: 'START', seq: 2, tid: 100 });
    expect(f.getSnapshot().value).toBe('idle');
    f.send({ type: 'START', seq: 1, tid: 100 });
    expect(f.getSnapshot().context).toMatchObject({ running: 1, tid: 100 });
    f.send({ type: 'FINALIZE' });
    f.send({ type: 'FINALIZED', groupDone: false });
    expect(f.getSnapshot().context.done).toBe(0);
    f.send({ type: 'START', seq: 1, tid: 101 });
    f.send({ type: 'FINALIZE' });
    f.send({ type: 'FINALIZED', groupDone: true });
    expect(f.getSnapshot().context).toMatchObject({ done: 1, running: undefined });
    f.send({ type: 'START', seq: 3, tid: 102 });
    expect(f.getSnapshot().value).toBe('idle');
  });
});

/** Every state value of a machine reached by the shortest paths over `events`. */
function reachable(machine: AnyStateMachine, events: Array<{ type: string }>, input?: unknown): Set<string> {
  const paths = getShortestPaths(machine, { events, input } as never);
  return new Set(paths.map((path) => JSON.stringify(path.state.value)));
}

describe('coverage of the machines (xstate/graph)', () => {
  it('reaches every state of the inode machine', () => {
    const events: InodeEvent<Data>[] = [
      { type: 'MODIFY', flags: InodeFlag.DDIRTY },
      { type: 'MODIFY', flags: InodeFlag.XDIRTY },
      { type: 'DEPEND' },
      flush(1),
      flush(0, { targetListEmpty: false }),
      { type: 'CONN_DOWN', signal: true },
      { type: 'WOULDBLOCK' },
      done(),
      done({ listsEmpty: false }),
      { type: 'UNLOAD' },
    ];
    const states = reachable(inodeMachine<Data>(), events, { data: { size: 0, nlinks: 1 } });
    expect([...states].sort()).toEqual(['"flush"', '"idle"', '"setup"', '"unloaded"']);
  });
});
