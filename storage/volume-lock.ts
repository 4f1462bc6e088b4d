import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { FsError } from './errors.js';

/**
 * One writer per volume file: `<volume>.lock` holds the process id of
 * whoever has the file open for writing (a read-write mount, mkfs, a
 * replay's scratch volume), from open to close. Two writers would each
 * believe their cached blockmap and FIFO append point, and corrupt the
 * volume the first time both committed; a block device has its kernel to
 * say EBUSY, a plain file has this. A lock whose process is gone (killed,
 * crashed) is stale and taken over: what it left is for recovery, as after
 * any crash. Readers take no lock.
 */
export class VolumeLock {
  private constructor(
    readonly path: string,
    private held: boolean,
  ) {}

  /** Take the lock of `volume`, or EBUSY naming the process that has it. */
  static acquire(volume: string): VolumeLock {
    const path = `${volume}.lock`;
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') {
          throw new FsError('EIO', `cannot create the volume lock ${path} (${code})`, { path: volume });
        }
        const holder = holderOf(path);
        if (holder !== undefined && alive(holder)) {
          const who = holder === process.pid ? 'this process' : `process ${holder}`;
          throw new FsError('EBUSY', `the volume is open for writing by ${who} (lock ${path})`, { path: volume });
        }
        // Stale: its process is gone. Whoever removes it first and creates it again wins.
        try {
          unlinkSync(path);
        } catch {}
        continue;
      }
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return new VolumeLock(path, true);
    }
    throw new FsError('EBUSY', `the volume lock ${path} was taken by another process meanwhile`, { path: volume });
  }

  /** Give the lock up (once); a lock file that is no longer ours is left alone. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    if (holderOf(this.path) !== process.pid) return;
    try {
      unlinkSync(this.path);
    } catch {}
  }
}

/** The process id a lock file names (undefined: unreadable or not a lock). */
function holderOf(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` exists (EPERM: it does, and is someone else's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
