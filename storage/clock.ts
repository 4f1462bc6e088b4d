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
