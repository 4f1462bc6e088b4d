import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileHandle, FileSystem } from '../actors/api.js';
import { mkfs, mount } from '../actors/index.js';
import { type ReplayOptions, replayLog } from '../actors/replay.js';
import type { Checkpoint } from '../actors/replay-checkpoints.js';
import { eventLoopTurn } from '../cli/event-loop.js';
import { AuditReader } from '../storage/audit-reader.js';
import { formatTid } from '../storage/layout.js';

/**
 * Determinism as a property: any sequence of calls, logged, replays to the
 * same events, byte for byte. Errors are part of a run (a call on a missing
 * path fails the same way in the replay). HAMMERSTATE_REPLAY_RUNS for more.
 */
const RUNS = Number(process.env.HAMMERSTATE_REPLAY_RUNS ?? 12);
/** Room for a longer campaign (HAMMERSTATE_REPLAY_RUNS): a run with a checkpoint after every command takes a few seconds. */
const TIMEOUT = Math.max(120_000, RUNS * 8_000);
const dir = mkdtempSync(join(tmpdir(), 'hammerstate-replay-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const names = ['/a', '/b', '/d/x', '/d/y', '/d/e/z'];
const path = fc.constantFrom(...names, '/d', '/d/e');
const bytes = fc.integer({ min: 0, max: 40_000 }).map((n) => new Uint8Array(n).fill(n % 251));

/** `fire`: run what the mount's scheduler holds (virtual time), as the clock would. */
type Call = (fs: FileSystem, open: FileHandle[], fire: () => void) => Promise<unknown>;

/** A call on two paths. */
function onTwo(make: (fs: FileSystem, a: string, b: string) => Promise<unknown>): fc.Arbitrary<Call> {
  return fc.tuple(path, path).map(
    ([a, b]) =>
      (fs: FileSystem) =>
        make(fs, a, b),
  );
}

const call: fc.Arbitrary<Call> = fc.oneof(
  path.map((p) => (fs: FileSystem) => fs.mkdir(p, { recursive: true })),
  fc.tuple(path, bytes).map(
    ([p, b]) =>
      (fs: FileSystem) =>
        fs.writeFile(p, b),
  ),
  fc.tuple(path, bytes).map(
    ([p, b]) =>
      (fs: FileSystem) =>
        fs.appendFile(p, b.subarray(0, 5000)),
  ),
  path.map((p) => (fs: FileSystem) => fs.unlink(p)),
  path.map((p) => (fs: FileSystem) => fs.rmdir(p)),
  onTwo((fs, a, b) => fs.rename(a, b)),
  onTwo((fs, a, b) => fs.link(a, b)),
  fc.tuple(path, fc.nat(50_000)).map(
    ([p, n]) =>
      (fs: FileSystem) =>
        fs.truncate(p, n),
  ),
  path.map((p) => (fs: FileSystem) => fs.readFile(p)),
  path.map((p) => async (fs: FileSystem, open: FileHandle[]) => open.push(await fs.open(p, 'a+'))),
  bytes.map((b) => (_fs: FileSystem, open: FileHandle[]) => open[open.length - 1]?.write(b) ?? Promise.resolve()),
  fc.constant((_fs: FileSystem, open: FileHandle[]) => open[open.length - 1]?.sync() ?? Promise.resolve()),
  fc.constant((_fs: FileSystem, open: FileHandle[]) => open.pop()?.close() ?? Promise.resolve()),
  // The oldest handle closed but kept: later calls on it fail (EBADF), and are logged all the same.
  fc.constant((_fs: FileSystem, open: FileHandle[]) => open[0]?.close() ?? Promise.resolve()),
  fc.constant((_fs: FileSystem, open: FileHandle[]) => open[0]?.stat() ?? Promise.resolve()),
  fc.constant((fs: FileSystem) => fs.sync()),
  fc.constant((fs: FileSystem) => fs.snapshot('s')),
  fc.tuple(path, fc.constantFrom(0o600, 0o755)).map(
    ([p, mode]) =>
      (fs: FileSystem) =>
        fs.chmod(p, mode),
  ),
  onTwo((fs, target, p) => fs.symlink(target, p)),
  path.map((p) => (fs: FileSystem) => fs.utimes(p, 1_000, 2_000)),
  path.map((p) => (fs: FileSystem) => fs.readdir(p)),
  // As-of reads (read-only inodes cached beside the live ones), a PFS, maintenance, a remount read-only and back.
  path.map((p) => async (fs: FileSystem) => {
    const tid = await fs.snapshot();
    return fs.stat(`${p}@@${formatTid(tid)}`);
  }),
  fc.constant((fs: FileSystem) => fs.pfs.create('p')),
  fc.constant(async (fs: FileSystem) => {
    const tid = await fs.snapshot();
    return fs.prune(tid);
  }),
  fc.constant((fs: FileSystem) => fs.reblock(90)),
  fc.constant(async (fs: FileSystem) => {
    await fs.remount({ readOnly: true });
    await fs.remount({ readOnly: false });
  }),
  // The scheduler's turn: flush runs that wait, and the periodic sync's ticks (mounts with timers).
  fc.constant(async (_fs: FileSystem, _open: FileHandle[], fire: () => void) => fire()),
);

let runs = 0;
async function logged(calls: Call[], remountAt: number, tuning: Tuning): Promise<string> {
  const volume = join(dir, `run-${++runs}.hsvol`);
  await mkfs(volume, { size: 64 * 1024 * 1024, undoBytes: 8 * 1024 * 1024 });
  // With timers: virtual time, a periodic sync, and flush runs that wait for the scheduler's turn.
  const virtual = tuning.timers ? new VirtualTimeScheduler(VirtualAction, 0) : undefined;
  const options = {
    autoflush: tuning.autoflush,
    cacheInodes: tuning.cacheInodes,
    ...(virtual === undefined ? {} : { scheduler: virtual, syncIntervalMs: 1_000 }),
  };
  const fire = () => {
    if (virtual === undefined) return;
    virtual.maxFrames = virtual.frame + 1_500; // the runs waiting and one tick of the periodic sync
    virtual.flush();
  };
  let fs = await mount(volume, options);
  let open: FileHandle[] = [];
  for (const [i, next] of calls.entries()) {
    if (i === remountAt) {
      await fs.unmount();
      fs = await mount(volume, options);
      open = [];
    }
    // A call can wait on a flush run (an fsync waits for its inode's group): the scheduler's turn comes while it waits.
    let settled = false;
    const call = next(fs, open, fire).then(
      () => (settled = true),
      () => (settled = true),
    );
    while (!settled) {
      await eventLoopTurn();
      if (!settled) fire();
    }
    await call;
  }
  await fs.unmount();
  return `${volume}.events.sqlite`;
}

/** How a run mounts: the autoflush, and the clean inodes kept cached (few: they age out and unload as the run goes). */
type Tuning = { autoflush: number; cacheInodes: number; timers: boolean };
/** A run: the calls, where the remount comes, the tuning. */
const run = fc.tuple(
  fc.array(call, { minLength: 5, maxLength: 40 }),
  fc.nat(40),
  fc.record({ autoflush: fc.constantFrom(2, 8, 500), cacheInodes: fc.constantFrom(3, 50_000), timers: fc.boolean() }),
);
const seed = (fixed: number) => (process.env.HAMMERSTATE_REPLAY_SEED === 'random' ? {} : { seed: fixed });

async function replay(log: string, extra: Partial<ReplayOptions> = {}) {
  const reader = AuditReader.open(log);
  try {
    return await replayLog(reader, { dir: mkdtempSync(join(dir, 'replay-')), drain: eventLoopTurn, ...extra });
  } finally {
    reader.close();
  }
}

describe('replay determinism (property)', () => {
  it(
    'every logged sequence of calls, with a remount, replays without a divergence',
    async () => {
      await fc.assert(
        fc.asyncProperty(run, async ([calls, remountAt, tuning]) => {
          const log = await logged(calls, remountAt, tuning);
          const report = await replay(log);
          expect(report.first_divergence).toBeNull();
          const reader = AuditReader.open(log);
          expect(report.events).toBe(reader.lastSeq);
          reader.close();
        }),
        { numRuns: RUNS, ...seed(20261126) },
      );
    },
    TIMEOUT,
  );

  it(
    'a replay resumed from any checkpoint (inside a mount or between two) derives the rest of the log and reaches the state a replay from mkfs reaches',
    async () => {
      let inside = 0;
      await fc.assert(
        fc.asyncProperty(run, async ([calls, remountAt, tuning]) => {
          const log = await logged(calls, remountAt, tuning);
          const store = mkdtempSync(join(dir, 'checkpoints-'));
          // A checkpoint after every command and at every mount boundary.
          const taking = await replay(log, { check: true, checkpoints: { dir: store, every: 1, use: false } });
          expect(taking.first_divergence).toBeNull();
          const taken = taking.checkpointsTaken ?? [];
          expect(taken.length).toBeGreaterThan(0);
          const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as { checkpoints: Checkpoint[] };
          inside += index.checkpoints.filter((checkpoint) => checkpoint.mount !== undefined).length;
          for (const [i, seq] of taken.entries()) {
            // Up to the next checkpoint, its command included: the index lists this one as the latest, so the replay starts here.
            const to = taken[i + 1] ?? taking.seq;
            const upTo = index.checkpoints.filter((checkpoint) => checkpoint.seq <= seq);
            writeFileSync(join(store, 'index.json'), JSON.stringify({ ...index, checkpoints: upTo }));
            const resumed = await replay(log, { to, check: true, checkpoints: { dir: store, every: 1e12, use: true } });
            const full = await replay(log, { to });
            expect(resumed.fromCheckpoint).toBe(seq);
            expect(resumed.first_divergence).toBeNull();
            expect(resumed.seq).toBe(full.seq);
            expect(resumed.state).toEqual(full.state);
          }
        }),
        { numRuns: RUNS, ...seed(20261127) },
      );
      // Inside the mounts, not only at boundaries.
      expect(inside).toBeGreaterThan(RUNS);
    },
    TIMEOUT,
  );
});
