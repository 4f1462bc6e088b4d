import { type Actor, createActor } from 'xstate';
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
  ) {
    this.seq = seq;
    this.id = `flg:${seq}`;
    this.actor = createActor(flushGroupMachine, { input: { seq, ...limits } });
    this.actor.start();
    bus.fact(this.id, 'OPEN', { ...limits });
  }

  send(event: FlushGroupEvent): void {
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
    return this.actor.getSnapshot().context.totalCount;
  }

  get refs(): number {
    return this.actor.getSnapshot().context.refs;
  }

  get runs(): number {
    return this.actor.getSnapshot().context.runs;
  }
}
