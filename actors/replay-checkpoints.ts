import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoggedEvent } from '../storage/audit-reader.js';
import { FsError } from '../storage/errors.js';
import { copyVolumeImage } from '../storage/image-copy.js';
import type { MountMemo } from './mount-memo.js';

/**
 * Replay checkpoints: the system's whole state at a point of the log, so a
 * replay to a late seq starts there instead of at mkfs. Two kinds:
 * - at a mount boundary (after an unmount, before the next mount): every
 *   actor is stopped and the state of the system is the volume image alone,
 *   so a replay resumed from the image derives exactly the events the logged
 *   run did (that run, too, started from nothing but the volume);
 * - inside a mount, between two commands (the volume at rest, nothing half
 *   done): the image and the mount's memo (actors/mount-memo.ts), from
 *   which the replay resumes that mount as it was.
 *
 * They live beside the log (`<log>.checkpoints/`): an index, one volume image
 * per checkpoint and, inside a mount, its memo, written by replay (the log
 * itself is never changed).
 */
export interface Checkpoint {
  /** The last event replayed before the image was taken (at a boundary, the next one starts a mount). */
  seq: number;
  file: string;
  /** Inside a mount: the file of its arguments and memo (MountState). */
  mount?: string;
}

/** A checkpoint inside a mount: the mount command's logged arguments (its payload) and the memo. */
export interface MountState {
  mount: string;
  memo: MountMemo;
}

interface Index {
  /** Which log these belong to: a digest of its first event (the mkfs, with its time and parameters). */
  log: string;
  checkpoints: Checkpoint[];
}

export function checkpointDir(logPath: string): string {
  return `${logPath}.checkpoints`;
}

/** A log's identity: its mkfs event (time, parameters) as a digest. */
export function logIdentity(first: LoggedEvent): string {
  return createHash('sha256')
    .update(`${first.seq}|${first.time}|${first.type}|${first.payloadText ?? ''}`)
    .digest('hex');
}

export class Checkpoints {
  private constructor(
    private readonly dir: string,
    private readonly index: Index,
  ) {}

  /** The checkpoints in `dir` made from this log (none when the directory is missing or made from another log). */
  static open(dir: string, identity: string): Checkpoints {
    const indexPath = join(dir, 'index.json');
    if (existsSync(indexPath)) {
      try {
        const index = JSON.parse(readFileSync(indexPath, 'utf8')) as Index;
        if (index.log === identity && Array.isArray(index.checkpoints)) return new Checkpoints(dir, index);
      } catch {
        // An unreadable index is as good as none: checkpoints are derived data, made again by the next replay.
      }
    }
    return new Checkpoints(dir, { log: identity, checkpoints: [] });
  }

  get all(): readonly Checkpoint[] {
    return this.index.checkpoints;
  }

  /** The latest checkpoint at or before `seq` whose image is there. */
  nearest(seq: number): Checkpoint | undefined {
    let best: Checkpoint | undefined;
    for (const checkpoint of this.index.checkpoints) {
      if (checkpoint.seq > seq || !existsSync(join(this.dir, checkpoint.file))) continue;
      if (checkpoint.mount !== undefined && !existsSync(join(this.dir, checkpoint.mount))) continue;
      if (best === undefined || checkpoint.seq > best.seq) best = checkpoint;
    }
    return best;
  }

  /** The seq of the latest checkpoint (0 for none). */
  get last(): number {
    return this.index.checkpoints.reduce((max, checkpoint) => Math.max(max, checkpoint.seq), 0);
  }

  /**
   * Keep a copy of the volume image as the state after event `seq` (a clone
   * where the filesystem can, else a sparse copy of what it uses), and
   * inside a mount its state.
   */
  save(seq: number, volume: string, inside?: MountState, keep = Number.POSITIVE_INFINITY): void {
    if (this.index.checkpoints.some((checkpoint) => checkpoint.seq === seq)) return;
    mkdirSync(this.dir, { recursive: true });
    const file = `seq-${seq}.hsvol`;
    copyVolumeImage(volume, join(this.dir, file));
    const checkpoint: Checkpoint = { seq, file };
    if (inside !== undefined) {
      checkpoint.mount = `seq-${seq}.mount.json`;
      writeFileSync(join(this.dir, checkpoint.mount), JSON.stringify(inside));
    }
    this.index.checkpoints.push(checkpoint);
    this.index.checkpoints.sort((a, b) => a.seq - b.seq);
    while (this.index.checkpoints.length > Math.max(1, keep)) this.remove(this.thinnest());
    this.writeIndex();
  }

  /**
   * The checkpoint to give up when more are kept than allowed: the one whose
   * loss leaves the shortest stretch of the log without one (mkfs counts as
   * one at seq 0), never the newest. So those kept stay spread over the log.
   */
  private thinnest(): Checkpoint {
    const all = this.index.checkpoints;
    let best = 0;
    let bestGap = Number.POSITIVE_INFINITY;
    for (let i = 0; i < all.length - 1; i++) {
      const gap = (all[i + 1] as Checkpoint).seq - (i === 0 ? 0 : (all[i - 1] as Checkpoint).seq);
      if (gap < bestGap) {
        best = i;
        bestGap = gap;
      }
    }
    return all[best] as Checkpoint;
  }

  /** Forget a checkpoint and remove its files. */
  private remove(checkpoint: Checkpoint): void {
    this.index.checkpoints = this.index.checkpoints.filter((kept) => kept.seq !== checkpoint.seq);
    rmSync(join(this.dir, checkpoint.file), { force: true });
    if (checkpoint.mount !== undefined) rmSync(join(this.dir, checkpoint.mount), { force: true });
  }

  private writeIndex(): void {
    const indexPath = join(this.dir, 'index.json');
    writeFileSync(`${indexPath}.tmp`, JSON.stringify(this.index, null, 2));
    renameSync(`${indexPath}.tmp`, indexPath);
  }

  /** A checkpoint inside a mount: its state (undefined at a mount boundary). EIO when the file cannot be read. */
  mountState(checkpoint: Checkpoint): MountState | undefined {
    if (checkpoint.mount === undefined) return undefined;
    const path = join(this.dir, checkpoint.mount);
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as MountState;
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new FsError('EIO', `replay checkpoint ${checkpoint.seq}: its mount state cannot be read (${why})`, {
        path,
      });
    }
  }

  /** Give up a checkpoint that could not be resumed from. */
  drop(checkpoint: Checkpoint): void {
    this.remove(checkpoint);
    this.writeIndex();
  }

  /** Put checkpoint `checkpoint`'s image where the replay's volume goes. */
  restore(checkpoint: Checkpoint, volume: string): void {
    copyVolumeImage(join(this.dir, checkpoint.file), volume);
  }
}
