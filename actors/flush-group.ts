import { type Actor, createActor, type Snapshot } from 'xstate';
import { type FlushGroupEvent, flushGroupMachine } from '../machines/flush-group.js';
import type { EventBus } from './bus.js';
import type { Inode } from './inode.js';

export type FlushGroupState = 'open' | 'closed' | 'running' | 'done';

/**
 * One flush group (hammer_flush_group): its actor counts inodes and record
 * references and decides when it closes; the flush tree (the inodes to sync,
 * in key order at run time) lives here beside it.
 */
export class FlushGroup {
  readonly seq: number;
  readonly id: string;
  readonly tree = new Set<Inode>();
  private readonly actor: Actor<typeof flushGroupMachine>;

  constructor(
    seq: number,
    limits: { undoRecLimit: number; autoflush: number },
    private readonly bus: EventBus,
    /** A replay checkpoint's persisted snapshot of the group's machine: the group goes on from it (no OPEN). */
    snapshot?: Snapshot<unknown>,
  ) {
    this.seq = seq;
    this.id = `flg:${seq}`;
    // The input is what a new group starts from; a snapshot, where it is, replaces the state it would make.
    this.actor = createActor(flushGroupMachine, { input: { seq, ...limits }, snapshot });
    this.actor.start();
    if (snapshot === undefined) bus.fact(this.id, 'OPEN', { ...limits });
  }

  /** The machine's persisted snapshot, when no count waits to be delivered (a replay checkpoint keeps it). */
  memo(): Snapshot<unknown> | undefined {
    const waiting = this.inodesAdded !== 0 || this.addRefs !== 0 || this.dropRefs !== 0 || this.inodesDone !== 0;
    return waiting ? undefined : this.actor.getPersistedSnapshot();
  }

  /** Record references and completed inodes counted since the last event, sent as one batched step. */
  private addRefs = 0;
  private dropRefs = 0;
  private inodesDone = 0;
  /** Inodes staged (net of those that backed out) since the last event. */
  private inodesAdded = 0;

  addInode(): void {
    this.inodesAdded++;
  }

  removeInode(): void {
    this.inodesAdded--;
  }

  addRef(): void {
    this.addRefs++;
  }

  dropRef(): void {
    this.dropRefs++;
  }

  inodeDone(): void {
    this.inodesDone++;
  }

  /** Send the batched counts (before any other event, and at the end of each staging or sync step). */
  settle(): void {
    const added = this.inodesAdded;
    this.inodesAdded = 0;
    if (added > 0) this.deliver({ type: 'ADD_INODE', count: added });
    if (added < 0) this.deliver({ type: 'REMOVE_INODE', count: -added });
    if (this.addRefs > 0) this.deliver({ type: 'ADD_REF', count: this.addRefs });
    this.addRefs = 0;
    if (this.dropRefs > 0) this.deliver({ type: 'DROP_REF', count: this.dropRefs });
    this.dropRefs = 0;
    if (this.inodesDone > 0) this.deliver({ type: 'INODE_DONE', count: this.inodesDone });
    this.inodesDone = 0;
  }

  send(event: FlushGroupEvent): void {
    this.settle();
    this.deliver(event);
  }

  private deliver(event: FlushGroupEvent): void {
    const from = this.state;
    this.actor.send(event);
    if (this.bus.active) {
      const c = this.actor.getSnapshot().context;
      this.bus.fact(
        this.id,
        event.type,
        { totalCount: c.totalCount, refs: c.refs, inodes: c.inodes },
        from,
        this.state,
      );
    }
    if (this.state === 'done') this.actor.stop();
  }

  get state(): FlushGroupState {
    return this.actor.getSnapshot().value as FlushGroupState;
  }

  get totalCount(): number {
    return this.actor.getSnapshot().context.totalCount + this.inodesAdded;
  }

  /** Inodes the group's actor counts in its flush tree (the tree itself is `tree`). */
  get inodes(): number {
    return this.actor.getSnapshot().context.inodes;
  }

  get refs(): number {
    return this.actor.getSnapshot().context.refs + this.addRefs - this.dropRefs;
  }
}
