import { type SchedulerAction, type SchedulerLike, Subscription } from 'rxjs';

/** Told when a scheduled action runs: the mount logs it as a command (`scheduler.fire`). */
export type FireListener = (action: number) => void;

type Work<T> = (this: SchedulerAction<T>, state?: T) => void;

/**
 * What the scheduler decides (when a flush group runs, when the periodic
 * sync ticks) is an input from outside, like a command: a logged mount wraps
 * its scheduler so every action that runs is numbered (in the order it was
 * scheduled) and logged before it runs. Replay feeds the same numbers back
 * through ReplayScheduler.
 */
export class RecordingScheduler implements SchedulerLike {
  private nextAction = 1;
  onFire: FireListener = () => undefined;

  constructor(private readonly inner: SchedulerLike) {}

  now(): number {
    return this.inner.now();
  }

  schedule<T>(work: Work<T>, delay?: number, state?: T): Subscription {
    const action = this.nextAction++;
    const recording = this;
    return this.inner.schedule<T>(
      function (this: SchedulerAction<T>, value?: T) {
        recording.onFire(action);
        work.call(this, value);
      },
      delay,
      state,
    );
  }
}

/** A replay scheduler's numbering and waiting actions, as a replay checkpoint keeps them. */
export interface SchedulerMemo {
  next: number;
  waiting: number[];
  /** Which of `waiting` is the flusher's run (null: none waits). */
  flushRun: number | null;
}

interface Pending<T> {
  work: Work<T>;
  state: T | undefined;
  handle: SchedulerAction<T>;
  /** The action's number, as its handle's unsubscribe and re-schedule read it (resume renumbers). */
  slot: { action: number };
}

/**
 * Replay's scheduler: nothing runs by itself. Actions are numbered as
 * RecordingScheduler numbers them, and `fire(n)` runs action n when the log
 * says it ran. An action that re-schedules itself (rxjs interval) keeps its
 * number.
 */
export class ReplayScheduler implements SchedulerLike {
  private nextAction = 1;
  private readonly pending = new Map<number, Pending<unknown>>();
  onFire: FireListener = () => undefined;

  now(): number {
    return 0;
  }

  schedule<T>(work: Work<T>, _delay?: number, state?: T): Subscription {
    const slot = { action: this.nextAction++ };
    const pending = this.pending;
    const handle = new Subscription(() => pending.delete(slot.action)) as SchedulerAction<T>;
    handle.schedule = (next?: T) => {
      pending.set(slot.action, { work, state: next, handle, slot } as Pending<unknown>);
      return handle;
    };
    pending.set(slot.action, { work, state, handle, slot } as Pending<unknown>);
    return handle;
  }

  /** Run action `n` as the log says it ran; false when no such action is waiting (a divergence). */
  fire(action: number): boolean {
    const entry = this.pending.get(action);
    if (entry === undefined) return false;
    this.pending.delete(action);
    this.onFire(action);
    entry.work.call(entry.handle, entry.state);
    return true;
  }

  /**
   * Where the numbering stands and what waits (a replay checkpoint keeps
   * it); `flushRun`: the flusher's scheduled run, if one waits, so a resume
   * gives it back its own number.
   */
  memo(flushRun: Subscription | undefined): SchedulerMemo {
    return { next: this.nextAction, waiting: this.waiting(), flushRun: this.numberOf(flushRun) };
  }

  /**
   * Renumber what waits as `memo` says. A mount resumed from a replay
   * checkpoint scheduled its own periodic sync anew, and its flusher its
   * run (`flushRun`, when one waits): the same count of actions must be
   * waiting; the flusher's run takes the number its run had, the others
   * take the rest in order. (The run can have been scheduled before the
   * periodic sync, whose timer a remount starts again.)
   */
  resume(memo: SchedulerMemo, flushRun: Subscription | undefined): void {
    // A checkpoint an earlier version kept does not say which action was the run: refused, not guessed.
    if (!('flushRun' in memo))
      throw new Error("the checkpoint does not say which scheduled action is the flusher's run");
    const mine = this.waiting();
    if (mine.length !== memo.waiting.length) {
      throw new Error(`the resumed mount has ${mine.length} scheduled actions, the checkpoint ${memo.waiting.length}`);
    }
    const run = this.numberOf(flushRun);
    if ((run === null) !== (memo.flushRun === null)) throw new Error('the resumed flusher differs from the checkpoint');
    // Pairs of (number in the checkpoint, action waiting here): the run with the run, the rest in order.
    const others = mine.filter((action) => action !== run);
    const pairs: Array<[number, number]> = memo.waiting
      .filter((action) => action !== memo.flushRun)
      .map((action, i) => [action, others[i] as number]);
    if (run !== null) pairs.push([memo.flushRun as number, run]);
    const entries = new Map(this.pending);
    this.pending.clear();
    for (const [action, now] of pairs) {
      const entry = entries.get(now) as Pending<unknown>;
      entry.slot.action = action;
      this.pending.set(action, entry);
    }
    this.nextAction = memo.next;
  }

  /** The number of the waiting action `handle` (from schedule()) stands for; null when it does not wait. */
  private numberOf(handle: Subscription | undefined): number | null {
    if (handle === undefined) return null;
    for (const [action, entry] of this.pending) if (entry.handle === handle) return action;
    return null;
  }

  /** Actions waiting to run, by number (the state a replay stops at). */
  waiting(): number[] {
    return [...this.pending.keys()].sort((a, b) => a - b);
  }
}
