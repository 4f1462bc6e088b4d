/**
 * One turn of the event loop: everything already queued (promise
 * continuations, I/O callbacks) runs first. The core has no timers of its
 * own; the command line, the benchmarks and the tests hand this to what
 * needs it (replay's `drain`, a pause between benchmark repetitions).
 */
export function eventLoopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
