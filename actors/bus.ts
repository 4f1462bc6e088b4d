import { Subject } from 'rxjs';
import { type Clock, CommandClock } from '../storage/clock.js';
import type { BusEvent } from './api.js';

/**
 * The event bus of one mount: every command from outside and every fact the
 * system derives (actor transitions, flush-group steps, storage writes) goes
 * through here, in one order (`seq`). Nothing is built when nobody listens:
 * producers ask `active` first, so the hot paths pay one branch.
 */
export class EventBus {
  private readonly subject = new Subject<BusEvent>();
  readonly events = this.subject.asObservable();
  private seq = 0;
  /** The TID of the running flush, stamped on the events it causes. */
  tid: number | undefined;

  constructor(private readonly clock: Clock) {}

  get active(): boolean {
    return this.subject.observed;
  }

  fact(actor: string, type: string, payload?: Record<string, unknown>, from?: string, to?: string): void {
    if (!this.subject.observed) return;
    this.publish('fact', actor, type, payload, from, to);
  }

  /** A command from outside (an fs call, a scheduler firing): a command clock takes its time here, unless `begun` already did. */
  command(type: string, payload?: Record<string, unknown>, begun?: number): void {
    const time = begun ?? (this.clock instanceof CommandClock ? this.clock.beginCommand() : undefined);
    if (!this.subject.observed) return;
    this.publish('command', 'fs', type, payload, undefined, undefined, time);
  }

  private publish(
    kind: BusEvent['kind'],
    actor: string,
    type: string,
    payload: Record<string, unknown> | undefined,
    from: string | undefined,
    to: string | undefined,
    time = this.clock.now(),
  ): void {
    const event: BusEvent = { seq: ++this.seq, kind, time, tid: this.tid, actor, type };
    if (from !== undefined) event.from = from;
    if (to !== undefined) event.to = to;
    if (payload !== undefined) event.payload = payload;
    this.subject.next(event);
  }

  complete(): void {
    this.subject.complete();
  }
}
