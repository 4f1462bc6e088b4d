import { BehaviorSubject, defer, filter, firstValueFrom, type Observable } from 'rxjs';
import type { Inode } from './inode.js';

/** Per-creator reclaim statistics (hammer_inode_inostats): a count that halves every second. */
export interface InoStats {
  count: number;
  time: number;
}

/** What a creator told to wait is waiting for, and why (for the RECLAIM_WAIT fact). */
export interface ReclaimWait {
  creator: string;
  reclaims: number;
  mark: number;
  inodes: Inode[];
}

/**
 * The reclaim pipeline (hammer_inode_waitreclaims, inostats): dirty inodes
 * nobody references, counted on a BehaviorSubject, and the per-creator
 * counts that decide how far a heavy creator waits. The mount files inodes
 * in and out; a creator asks `wait` before it creates more.
 */
export class ReclaimPipeline {
  private readonly counts = new BehaviorSubject(0);
  /**
   * How many inodes are on the pipeline, as it changes: counted afresh for
   * each subscriber, then every change while anyone listens (with nobody
   * listening, filing an inode in and out pays no emission).
   */
  readonly reclaims$: Observable<number> = defer(() => {
    this.counts.next(this.reclaiming.size);
    return this.counts;
  });
  private readonly reclaiming = new Set<Inode>();
  private readonly inostats = new Map<string, InoStats>();

  get size(): number {
    return this.reclaiming.size;
  }

  has(ip: Inode): boolean {
    return this.reclaiming.has(ip);
  }

  add(ip: Inode): void {
    if (this.reclaiming.has(ip)) return;
    this.reclaiming.add(ip);
    if (this.counts.observed) this.counts.next(this.reclaiming.size);
  }

  delete(ip: Inode): void {
    if (this.reclaiming.delete(ip) && this.counts.observed) this.counts.next(this.reclaiming.size);
  }

  /**
   * Count one creation by `creator` at `now` (µs); undefined while the
   * pipeline is shorter than `limit`, else the wait: heavy creators
   * (per-creator count, halving every second of the mount's clock) wait down
   * to a lower mark, never below half the limit.
   */
  wait(creator: string, now: number, limit: number): ReclaimWait | undefined {
    const stats = this.inostats.get(creator) ?? { count: 0, time: now };
    const halvings = Math.floor((now - stats.time) / 1e6);
    if (halvings > 0) {
      stats.count = Math.floor(stats.count / 2 ** Math.min(halvings, 52));
      stats.time = now;
    }
    stats.count++;
    this.inostats.set(creator, stats);
    if (this.reclaiming.size < limit) return undefined;
    const mark = Math.max(limit / 2, limit - stats.count);
    return { creator, reclaims: this.reclaiming.size, mark, inodes: [...this.reclaiming] };
  }

  /** The inodes on the pipeline, in the order they joined (a replay checkpoint keeps it: waits flush them in it). */
  get members(): Inode[] {
    return [...this.reclaiming];
  }

  /** The per-creator counts (a replay checkpoint keeps them: they decide later waits). */
  get stats(): Array<[string, InoStats]> {
    return [...this.inostats].map(([creator, stats]) => [creator, { ...stats }]);
  }

  /** Take back what `stats` gave (a mount resumed from a replay checkpoint). */
  resumeStats(stats: ReadonlyArray<[string, InoStats]>): void {
    this.inostats.clear();
    for (const [creator, entry] of stats) this.inostats.set(creator, { ...entry });
  }

  /** Waiters look again at their stop condition (the mount failed). */
  wake(): void {
    this.counts.next(this.reclaiming.size);
  }

  /** Resolves once the pipeline is at or below `mark`, or `stop()` says to stop waiting (a critical error). */
  until(mark: number, stop: () => boolean): Promise<void> {
    return firstValueFrom(this.reclaims$.pipe(filter((count) => count <= mark || stop()))).then(() => undefined);
  }
}
