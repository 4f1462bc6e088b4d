import type { Clock } from '../storage/clock.js';

/** The real clock, for the command line only: the core takes time from whoever calls it. */
export const wallClock: Clock = { now: () => Date.now() * 1000 };
