/**
 * Time comes from outside the core (DESIGN.md, determinism): the CLI passes a
 * wall clock, tests and replay pass a logical one. Microseconds since the epoch.
 */
export interface Clock {
  now(): number;
}

/** A deterministic clock: starts at `start` and advances `step` µs per reading. */
export function logicalClock(start = 1_700_000_000_000_000, step = 1_000): Clock {
  let time = start;
  return {
    now() {
      const value = time;
      time += step;
      return value;
    },
  };
}

/**
 * The clock of a logged mount (audit on, and replay): time is taken from the
 * source once per command from outside, and readings inside the command are
 * that time plus 1 µs each, never going back. So a run's times are a
 * function of its commands' times, which the log keeps: replay hands each
 * logged command time back (`replayNext`) and gets the same readings.
 */
export interface CommandClockState {
  base: number;
  readings: number;
  last: number;
}

export class CommandClock implements Clock {
  private base = 0;
  private readings = 0;
  private last = Number.NEGATIVE_INFINITY;
  private replayed: number | undefined;

  constructor(private readonly source: Clock | undefined) {}

  /** A command starts: its time (the logged one in replay). */
  beginCommand(): number {
    const taken = this.replayed ?? this.source?.now();
    this.replayed = undefined;
    if (taken === undefined) throw new Error('a replay clock is told each command time before the command runs');
    this.base = Math.max(taken, this.last + 1);
    this.readings = 0;
    return this.now();
  }

  /** Where the clock stands (a replay checkpoint keeps it). */
  get state(): CommandClockState {
    return { base: this.base, readings: this.readings, last: this.last };
  }

  /** Stand where `state` says (a replay resumed from a checkpoint). */
  resume(state: CommandClockState): void {
    this.base = state.base;
    this.readings = state.readings;
    this.last = state.last;
    this.replayed = undefined;
  }

  /** Replay: the next command's time, as logged. */
  replayNext(time: number): void {
    this.replayed = time;
  }

  now(): number {
    const value = Math.max(this.base + this.readings, this.last + 1);
    this.readings++;
    this.last = value;
    return value;
  }
}
