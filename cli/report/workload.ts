import { setTimeout as sleep } from 'node:timers/promises';
import type { FileSystem } from '../../actors/api.js';

/**
 * The small workload `hammerstate inspect` runs so there is something to
 * watch: one filesystem call every `intervalMs`, cycling through writes,
 * appends, an fsync on a handle (the REDO fast path), renames, unlinks and
 * syncs over 32 files in 4 directories under /inspect. Deterministic in what
 * it does (step n does the same thing every time); only its pace is wall
 * time. A call that fails (ENOSPC on a full volume, ...) stops the workload
 * and is kept in `error`: the server goes on serving what happened.
 */
const ROOT = '/inspect';
const DIRECTORIES = 4;
const FILES = 32;

export class InspectWorkload {
  steps = 0;
  error: Error | undefined;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly fs: FileSystem,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  /** Stop after the call in progress (never in the middle of one); resolves when it has. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { signal } = this.stopping;
    try {
      for (let d = 0; d < DIRECTORIES; d++) await this.fs.mkdir(`${ROOT}/d${d}`, { recursive: true });
      while (!signal.aborted) {
        await this.step(this.steps);
        this.steps++;
        await sleep(this.intervalMs, undefined, { signal }).catch(() => undefined);
      }
    } catch (error) {
      this.error = error instanceof Error ? error : new Error(String(error));
    }
  }

  private path(n: number): string {
    return `${ROOT}/d${n % DIRECTORIES}/f${n % FILES}.txt`;
  }

  /** Step n: a write each time, and on some steps one more call of another kind. */
  private async step(n: number): Promise<void> {
    const fs = this.fs;
    const path = this.path(n);
    await fs.writeFile(path, `step ${n}: written by hammerstate inspect\n`);
    if (n % 5 === 1) await fs.appendFile(path, `step ${n}: appended\n`);
    if (n % 7 === 3) {
      const handle = await fs.open(this.path(n + 1), 'a');
      try {
        await handle.write(`step ${n}: written and fsynced\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    if (n % 11 === 5) await fs.rename(this.path(n + 2), `${this.path(n + 2)}.moved`).catch(ignoreMissing);
    if (n % 13 === 7) await fs.unlink(`${this.path(n + 2)}.moved`).catch(ignoreMissing);
    if (n % 6 === 0) await fs.sync();
  }
}

/** A file the cycle has not written yet (or already moved) is not a failure of the workload. */
function ignoreMissing(error: unknown): void {
  if ((error as { code?: string }).code !== 'ENOENT') throw error;
}
