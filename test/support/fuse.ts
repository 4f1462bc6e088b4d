import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDevice, logicalClock, mkfs } from '../../actors/index.js';
import { type FuseServer, startFuseServer, stopFuseServer, within } from '../../bench/fuse-server.js';
import { isUnavailable, loadFuse, unavailableMessage } from '../../cli/fuse/binding.js';
import { findMount } from '../../cli/fuse/mountinfo.js';
import { fsck } from '../../storage/fsck.js';

export { within };

/**
 * The FUSE tests drive `hammerstate mount --foreground` as a child process
 * and real programs against its mount point. Without FUSE (or a program they
 * need) they are skipped with the reason; under CI=true they fail instead,
 * since CI installs everything (.ci/run) and must run them.
 */

export const BIN = fileURLToPath(new URL('../../cli/hammerstate.js', import.meta.url));
const MiB = 1024 * 1024;

/** Why these tests cannot run here, or undefined when they can. */
export function fuseMissing(programs: string[] = []): string | undefined {
  const loaded = loadFuse();
  const reasons: string[] = [];
  if (isUnavailable(loaded)) reasons.push(unavailableMessage(loaded));
  const path = (process.env.PATH ?? '').split(':');
  const absent = programs.filter((program) => !path.some((dir) => canRun(join(dir, program))));
  if (absent.length > 0) reasons.push(`programs not installed: ${absent.join(', ')} (.ci/run installs them)`);
  return reasons.length === 0 ? undefined : reasons.join('; ');
}

function canRun(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** describe() when FUSE (and `programs`) are here; skipped with the reason locally; one failing test under CI. */
export function describeFuse(name: string, programs: string[], body: () => void): void {
  const missing = fuseMissing(programs);
  if (missing === undefined) describe(name, body);
  else if (process.env.CI === 'true')
    describe(name, () => {
      it('runs in CI, where FUSE and the programs are installed', () => {
        throw new Error(`CI must run the FUSE tests: ${missing}`);
      });
    });
  else describe.skip(`${name} [skipped: ${missing}]`, body);
}

/** A scratch directory with a fresh volume `vol.img` and an empty mount point `mnt`. */
export async function scratchVolume(sizeMiB = 512): Promise<{ dir: string; volume: string; mnt: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hammerstate-fuse-'));
  const volume = join(dir, 'vol.img');
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  await mkfs(volume, { size: sizeMiB * MiB, undoBytes: 32 * MiB });
  return { dir, volume, mnt };
}

export interface RunningMount extends FuseServer {
  mnt: string;
}

/** Start `hammerstate mount <volume> <mnt> --foreground` and resolve once it says it is mounted. */
export async function startMount(volume: string, mnt: string, args: string[] = []): Promise<RunningMount> {
  const server = await startFuseServer([BIN, 'mount', volume, mnt, '--foreground', ...args]);
  return { ...server, mnt };
}

/** Send `signal` and wait (at most 30 s) for the mount process to end; its exit code. */
export function stopMount(running: RunningMount, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
  return stopFuseServer(running, signal);
}

/** Run a shell command (bash -c) in `cwd`; its stdout, or a rejection with its stderr. */
export function sh(command: string, cwd: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((done, fail) =>
    execFile(
      'bash',
      ['-c', command],
      { cwd, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * MiB },
      (error, stdout, stderr) => {
        if (error === null) done(stdout);
        else fail(new Error(`${command}: ${error.message}\n${stderr}`));
      },
    ),
  );
}

/** After a test: no process left, no mount left, no scratch files left. */
export async function cleanUp(running: RunningMount | undefined, dir: string | undefined): Promise<void> {
  if (running !== undefined && running.child.exitCode === null && running.child.signalCode === null) {
    running.child.kill('SIGKILL');
    await within(running.exited, 10_000, 'the mount process did not die').catch(() => undefined);
  }
  if (dir === undefined) return;
  const mnt = join(dir, 'mnt');
  if (findMount(mnt) !== undefined) await sh(`fusermount -u -z ${JSON.stringify(mnt)}`, dir).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

export interface MountedVolume {
  dir: string;
  volume: string;
  mnt: string;
  running: RunningMount;
}

/**
 * For a describe(): beforeAll makes a fresh volume and mounts it (with
 * `args`), afterAll ends whatever is left. The object is filled in by beforeAll;
 * a test that remounts puts the new RunningMount in `running`.
 */
export function mountedVolume(args: string[] = []): MountedVolume {
  const state = {} as MountedVolume;
  beforeAll(async () => {
    Object.assign(state, await scratchVolume());
    state.running = await startMount(state.volume, state.mnt, args);
  });
  afterAll(() => cleanUp(state.running, state.dir));
  return state;
}

/** fsck of a volume file no mount holds: no problem, no error. */
export function expectClean(volume: string): void {
  const device = FileDevice.open(volume, { readOnly: true });
  try {
    const report = fsck(device, { clock: logicalClock() });
    expect(report.problems).toEqual([]);
    expect(report.errors).toBe(0);
  } finally {
    device.close();
  }
}
