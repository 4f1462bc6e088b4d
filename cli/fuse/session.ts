import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FileSystem } from '../../actors/api.js';
import { mount } from '../../actors/index.js';
import { rethrowPathError } from '../filesystem.js';
import { UsageError } from '../output.js';
import { wallClock } from '../wall-clock.js';
import {
  bindingPatches,
  type FuseInstance,
  type FuseModule,
  fsnameOf,
  isUnavailable,
  loadFuse,
  mountOptions,
  unavailableMessage,
} from './binding.js';
import { BYTE_NAME_PATCHES } from './binding-patches.js';
import { allMounts, findMount, isMounted } from './mountinfo.js';
import { fuseOperations } from './operations.js';

/**
 * One FUSE mount of a volume, in the foreground: mount the volume through
 * the API, serve the kernel until a signal or an unmount from outside, then
 * flush and close. This is the CLI layer: timers, signals and the wall clock
 * are allowed here, never in actors/ or storage/.
 */

/** The filesystem type the mount shows (`fuse.hammerstate` in /proc/mounts). */
export const SUBTYPE = 'hammerstate';
export const FSTYPE = `fuse.${SUBTYPE}`;
/** How often the mount table is read to notice `fusermount -u` from outside. */
const UNMOUNT_POLL_MS = 200;
/**
 * The periodic sync: what a crash can lose is at most this old, unless it
 * was fsynced (HAMMER's syncer runs every 30 s; a mount people copy into
 * and then kill gets a shorter one).
 */
export const SYNC_INTERVAL_MS = 5_000;

export interface ServeOptions {
  audit?: string | false;
  /** Let other users in (the kernel still checks every access against the modes: default_permissions). */
  allowOther?: boolean;
  /** Seconds the kernel keeps attributes (libfuse's attr_timeout, 1 by default); docs/fuse.md, "Hard links". */
  attrTimeout?: number;
  /** A line for stderr. */
  log(line: string): void;
}

/** The FUSE module, or exit 2 with what to install. */
export function requireFuse(): FuseModule {
  const loaded = loadFuse();
  if (isUnavailable(loaded)) throw new UsageError('ENODEV', unavailableMessage(loaded));
  return loaded;
}

/**
 * The mount point as the kernel will name it, checked: an existing
 * directory, not already a hammerstate mount, and the volume not mounted
 * elsewhere. A dead FUSE mount left by a
 * killed process (ENOTCONN) is detached first, so the next mount just works.
 */
export async function prepareMountpoint(
  volume: string,
  mountpoint: string,
  log: (line: string) => void,
): Promise<string> {
  const target = resolve(mountpoint);
  if (isDead(target)) await detach(target, log);
  if (!statSync(target).isDirectory()) throw new UsageError('ENOTDIR', `mount point ${target} is not a directory`);
  const existing = findMount(target);
  if (existing?.fstype === FSTYPE)
    throw new UsageError('EBUSY', `${target} is already a hammerstate mount (of ${existing.source})`);
  // Two mounts of one volume would be two writers of one file: refuse the second (a FUSE mount shows its volume).
  const source = fsnameOf(resolve(volume));
  for (const twin of allMounts().filter((entry) => entry.fstype === FSTYPE && entry.source === source)) {
    if (!isDead(twin.mountpoint)) throw new UsageError('EBUSY', `${volume} is already mounted on ${twin.mountpoint}`);
    await detach(twin.mountpoint, log);
  }
  return target;
}

/** A FUSE mount whose process is gone answers ENOTCONN. */
function isDead(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOTCONN';
  }
}

async function detach(path: string, log: (line: string) => void): Promise<void> {
  log(`hammerstate: ${path} is a dead FUSE mount (its process is gone): detaching it`);
  await fusermount(['-u', '-z', path]);
}

function fusermount(args: string[]): Promise<void> {
  return new Promise((done, fail) =>
    execFile('fusermount', args, (error, _stdout, stderr) =>
      error === null ? done() : fail(new Error(`fusermount ${args.join(' ')}: ${stderr.trim() || error.message}`)),
    ),
  );
}

/**
 * Serve `volume` on `mountpoint` until SIGINT, SIGTERM or an unmount from
 * outside; then flush and close the volume. Resolves to the exit code (0:
 * flushed and closed, 1: the final flush failed). `ready` is called once
 * the kernel mount is in place.
 */
export async function serveMount(
  volume: string,
  mountpoint: string,
  options: ServeOptions & { ready(mountpoint: string): void },
): Promise<number> {
  const Fuse = requireFuse();
  const log = options.log;
  const target = await prepareMountpoint(volume, mountpoint, log);
  const fs = await mount(volume, { clock: wallClock, audit: options.audit, syncIntervalMs: SYNC_INTERVAL_MS }).catch(
    rethrowPathError,
  );
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const patches = bindingPatches();
  let fuse: FuseInstance | undefined;
  const { operations } = fuseOperations({
    fs,
    owner,
    log,
    wideIno: patches.has('wide-ino'),
    caller: patches.has('caller') ? () => fuse?.caller : undefined,
    byteNames: BYTE_NAME_PATCHES.every((name) => patches.has(name)),
  });
  fuse = new Fuse(target, operations, mountOptions(resolve(volume), SUBTYPE, options.allowOther, options.attrTimeout));
  try {
    await new Promise<void>((done, fail) => fuse.mount((error) => (error === null ? done() : fail(error))));
  } catch (error) {
    await closeVolume(fs, log);
    throw new UsageError('EIO', `FUSE mount on ${target} failed: ${(error as Error).message}`);
  }
  const entry = findMount(target);
  if (entry === undefined || entry.fstype !== FSTYPE) {
    await unmountFuse(fuse, target, log);
    await closeVolume(fs, log);
    throw new UsageError('EIO', `the FUSE mount on ${target} is not in the mount table`);
  }
  const guard = keepAlive(log);
  log(`hammerstate: mounted ${volume} on ${target} (pid ${process.pid})`);
  options.ready(target);
  const reason = await stopRequested(entry.id);
  log(`hammerstate: ${reason === 'unmounted' ? `${target} was unmounted` : `${reason}`}: flushing ${volume}`);
  if (reason !== 'unmounted') await unmountFuse(fuse, target, log);
  const ok = await closeVolume(fs, log);
  guard();
  if (ok) log(`hammerstate: ${volume} flushed and closed`);
  return ok ? 0 : 1;
}

/** Detach the mount (fusermount -u -z, lazy: a busy mount point does not stop the shutdown; a process that still has a file open there gets errors once the volume is closed). */
function unmountFuse(fuse: FuseInstance, target: string, log: (line: string) => void): Promise<void> {
  return new Promise((done) =>
    fuse.unmount((error) => {
      if (error !== null) log(`hammerstate: unmounting ${target}: ${error.message}`);
      done();
    }),
  );
}

/** Flush and close; false (logged) when the final flush failed. */
async function closeVolume(fs: FileSystem, log: (line: string) => void): Promise<boolean> {
  try {
    await fs.unmount();
    return true;
  } catch (error) {
    log(`hammerstate: the final flush failed: ${(error as Error).message}`);
    return false;
  }
}

/**
 * Wait for SIGINT or SIGTERM, or for the mount to leave the mount table
 * (`fusermount -u` from outside: the binding does not say). A signal that
 * comes while the volume is being flushed is noted and otherwise ignored.
 */
function stopRequested(mountId: number): Promise<'SIGINT' | 'SIGTERM' | 'unmounted'> {
  return new Promise((done) => {
    const finish = (reason: 'SIGINT' | 'SIGTERM' | 'unmounted') => {
      clearInterval(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      const busy = () => process.stderr.write('hammerstate: still flushing, please wait\n');
      process.on('SIGINT', busy);
      process.on('SIGTERM', busy);
      done(reason);
    };
    const onSignal = (signal: NodeJS.Signals) => finish(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const timer = setInterval(() => {
      let mounted = true;
      try {
        mounted = isMounted(mountId);
      } catch {
        // /proc unreadable for a moment: look again at the next tick
      }
      if (!mounted) finish('unmounted');
    }, UNMOUNT_POLL_MS);
  });
}

/**
 * While mounted, an error nobody caught is logged instead of ending the
 * process: ending it would leave a dead mount (ENOTCONN) and lose what is
 * not flushed. Returns the function that removes the guard.
 */
function keepAlive(log: (line: string) => void): () => void {
  const onError = (error: unknown) => log(`hammerstate mount: uncaught: ${(error as Error)?.stack ?? String(error)}`);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return () => {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  };
}
