import { assert } from '../../storage/assert.js';
import { commandLabel, machineOf, type ReportEvent, type TravelWindow } from './model.js';

/**
 * The time-travel window: the last `maxEvents` events in a ring, each cut
 * to what the page needs to step through them (actor, type, from/to states,
 * the diagram transition it took, a command's path). An event pushed out of
 * the ring leaves its actor's state in `base`, so the page still knows every
 * actor's state at the window's first seq. Memory is bounded by the ring,
 * plus one entry per actor in `base`.
 */
export const MAX_EVENTS_DEFAULT = 200_000;

export interface TravelEntry {
  seq: number;
  run: number;
  time: number;
  actor: string;
  type: string;
  from: string | undefined;
  to: string | undefined;
  transition: number;
  label: string | undefined;
}

/**
 * Facts that start an actor without a transition (no from/to): it is in its
 * machine's initial state from then on, so the time travel shows a group
 * from its OPEN and a new inode from its CREATED, not from their first step.
 */
function bornIn(event: ReportEvent): string | undefined {
  if (event.type === 'OPEN' && event.actor.startsWith('flg:')) return 'open';
  if (event.type === 'CREATED' && event.actor.startsWith('inode:')) return 'idle';
  return undefined;
}

/** What the window keeps of an event. */
export function travelEntry(event: ReportEvent, transition: number): TravelEntry {
  return {
    seq: event.seq,
    run: event.run,
    time: event.time,
    actor: event.actor,
    type: event.type,
    from: event.from,
    to: event.to ?? bornIn(event),
    transition,
    label: event.kind === 'command' ? commandLabel(event.payload) : undefined,
  };
}

/** Strings as small integers, in the order first asked for. */
class StringTable {
  readonly values: string[] = [];
  private readonly index = new Map<string, number>();

  of(value: string | undefined): number {
    if (value === undefined) return -1;
    let i = this.index.get(value);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(value);
      this.index.set(value, i);
    }
    return i;
  }
}

export class TravelRecorder {
  private readonly ring: Array<TravelEntry | undefined>;
  private head = 0;
  private size = 0;
  private total = 0;
  /** `<run>\0<actor>` -> the state its last event pushed out of the ring left it in. */
  private readonly base = new Map<string, { run: number; actor: string; state: string }>();

  constructor(readonly maxEvents: number) {
    assert(Number.isSafeInteger(maxEvents) && maxEvents >= 1, 'the time-travel window holds at least one event');
    this.ring = new Array<TravelEntry | undefined>(Math.min(maxEvents, 1 << 16));
  }

  /** Take one event; `transition` is the diagram transition it took (-1: none). */
  add(event: ReportEvent, transition: number): void {
    this.total++;
    const entry = travelEntry(event, transition);
    if (this.size === this.maxEvents) {
      const oldest = this.ring[this.head];
      assert(oldest !== undefined, 'a full ring has an event at its head');
      this.forget(oldest);
      this.ring[this.head] = entry;
      this.head = (this.head + 1) % this.ring.length;
      return;
    }
    if (this.size === this.ring.length) this.grow();
    this.ring[(this.head + this.size) % this.ring.length] = entry;
    this.size++;
  }

  /** Double the ring up to maxEvents (it starts small: most logs are short). */
  private grow(): void {
    const entries = this.entries();
    this.ring.length = Math.min(this.maxEvents, this.ring.length * 2);
    this.ring.fill(undefined);
    entries.forEach((entry, i) => {
      this.ring[i] = entry;
    });
    this.head = 0;
  }

  private forget(entry: TravelEntry): void {
    if (entry.to === undefined || machineOf(entry.actor) === undefined) return;
    this.base.set(`${entry.run}\u0000${entry.actor}`, { run: entry.run, actor: entry.actor, state: entry.to });
  }

  private entries(): TravelEntry[] {
    const out: TravelEntry[] = [];
    for (let i = 0; i < this.size; i++) {
      const entry = this.ring[(this.head + i) % this.ring.length];
      assert(entry !== undefined, 'the ring holds `size` events from its head');
      out.push(entry);
    }
    return out;
  }

  /** Events seen, and the seq of the last one in the window (0: none). */
  get seen(): number {
    return this.total;
  }

  /** The events of the window with seq > `after`, oldest first (the live page's catch-up). */
  since(after: number): TravelEntry[] {
    return this.entries().filter((entry) => entry.seq > after);
  }

  /** The window, compact (model.ts, TravelWindow): string tables, delta columns, base states. */
  window(): TravelWindow {
    const actors = new StringTable();
    const types = new StringTable();
    const states = new StringTable();
    const entries = this.entries();
    const first = entries[0];
    const rows: number[][] = [];
    const labels: Record<number, string> = {};
    let seq = first?.seq ?? 0;
    let time = first?.time ?? 0;
    entries.forEach((entry, i) => {
      rows.push([
        entry.seq - seq,
        entry.run,
        actors.of(entry.actor),
        types.of(entry.type),
        states.of(entry.from),
        states.of(entry.to),
        entry.time - time,
        entry.transition,
      ]);
      seq = entry.seq;
      time = entry.time;
      if (entry.label !== undefined) labels[i] = entry.label;
    });
    const base = [...this.base.values()].map((b) => [b.run, actors.of(b.actor), states.of(b.state)]);
    return {
      maxEvents: this.maxEvents,
      total: this.total,
      actors: actors.values,
      types: types.values,
      states: states.values,
      rows,
      firstSeq: first?.seq ?? 0,
      firstTime: first?.time ?? 0,
      labels,
      base,
    };
  }
}

/** One event as the live page receives it: [seq, run, actor, type, from, to, time, transition, label]. */
export type LiveRow = [number, number, string, string, string | null, string | null, number, number, string | null];

export function liveRow(entry: TravelEntry): LiveRow {
  return [
    entry.seq,
    entry.run,
    entry.actor,
    entry.type,
    entry.from ?? null,
    entry.to ?? null,
    entry.time,
    entry.transition,
    entry.label ?? null,
  ];
}
