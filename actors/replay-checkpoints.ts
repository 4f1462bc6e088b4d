import { createHash } from 'node:crypto';
import { constants, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoggedEvent } from '../storage/audit-reader.js';

/**
 * Replay checkpoints: the system's whole state at a point of the log, so a
 * replay to a late seq starts there instead of at mkfs. They are taken at
 * mount boundaries (after an unmount, before the next mount): there, every
 * actor is stopped and the state of the system is the volume image alone,
 * so a replay resumed from the image derives exactly the events the logged
 * run did (that run, too, started from nothing but the volume). A mount that
 * runs for more than `every` events has no checkpoint inside it.
 *
 * They live beside the log (`<log>.checkpoints/`): an index and one volume
 * image per checkpoint, written by replay (the log itself is never changed).
 */
export interface Checkpoint {
  /** The last event replayed before the image was taken (the next one starts a mount). */
  seq: number;
  file: string;
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
      if (best === undefined || checkpoint.seq > best.seq) best = checkpoint;
    }
    return best;
  }

  /** The seq of the latest checkpoint (0 for none). */
  get last(): number {
    return this.index.checkpoints.reduce((max, checkpoint) => Math.max(max, checkpoint.seq), 0);
  }

  /** Keep a copy of the volume image as the state after event `seq` (a clone where the filesystem can). */
  save(seq: number, volume: string): void {
    if (this.index.checkpoints.some((checkpoint) => checkpoint.seq === seq)) return;
    mkdirSync(this.dir, { recursive: true });
    const file = `seq-${seq}.hsvol`;
    copyFileSync(volume, join(this.dir, file), constants.COPYFILE_FICLONE);
    this.index.checkpoints.push({ seq, file });
    this.index.checkpoints.sort((a, b) => a.seq - b.seq);
    const indexPath = join(this.dir, 'index.json');
    writeFileSync(`${indexPath}.tmp`, JSON.stringify(this.index, null, 2));
    renameSync(`${indexPath}.tmp`, indexPath);
  }

  /** Put checkpoint `checkpoint`'s image where the replay's volume goes. */
  restore(checkpoint: Checkpoint, volume: string): void {
    copyFileSync(join(this.dir, checkpoint.file), volume, constants.COPYFILE_FICLONE);
  }
}
