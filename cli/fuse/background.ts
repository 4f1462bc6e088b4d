import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FsError } from '../../storage/errors.js';
import { UsageError } from '../output.js';
import { findMount } from './mountinfo.js';
import { FSTYPE, prepareMountpoint } from './session.js';

/** How long a background start waits for the mount to appear. */
const START_TIMEOUT_MS = 60_000;
const START_POLL_MS = 100;

/**
 * `hammerstate mount` without --foreground: start the same command with
 * --foreground as a detached process (its stdout and stderr appended to
 * `logPath`), wait until its mount is in the mount table, and return its
 * pid. If it ends first, its exit code and its log say why (exit 2 for
 * usage, 1 otherwise). Stop it with `fusermount -u` or a signal to the pid.
 */
export async function startInBackground(
  volume: string,
  mountpoint: string,
  args: string[],
  logPath: string,
  log: (line: string) => void,
): Promise<{ pid: number; mountpoint: string }> {
  if (!existsSync(volume)) throw new UsageError('ENOENT', `no such volume file, '${volume}'`);
  const target = await prepareMountpoint(volume, mountpoint, log);
  const script = fileURLToPath(new URL('../hammerstate.js', import.meta.url));
  const out = openSync(logPath, 'a');
  const child = spawn(process.execPath, [script, 'mount', volume, target, '--foreground', ...args], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new UsageError('EIO', `could not start the mount process (see ${logPath})`);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (findMount(target)?.fstype !== FSTYPE) {
    if (exited !== undefined) {
      const tail = readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-5).join('\n');
      const message = `the mount process exited with ${exited} before mounting:\n${tail}`;
      // Its own usage errors stay usage errors (exit 2), with the code it gave; anything else is exit 1.
      const code = /hammerstate: (E[A-Z]+):/.exec(tail)?.[1] ?? 'EINVAL';
      throw exited === 2 ? new UsageError(code, message) : new FsError('EIO', message);
    }
    if (performance.now() > deadline) {
      child.kill('SIGTERM');
      throw new UsageError(
        'ETIMEDOUT',
        `${target} was not mounted within ${START_TIMEOUT_MS / 1000} s (see ${logPath})`,
      );
    }
    await new Promise((done) => setTimeout(done, START_POLL_MS));
  }
  child.unref();
  return { pid, mountpoint: target };
}
