import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileHandle, FileSystem } from '../actors/api.js';
import { mkfs, mount } from '../actors/index.js';
import { replayLog } from '../actors/replay.js';
import { eventLoopTurn } from '../cli/event-loop.js';
import { AuditReader } from '../storage/audit-reader.js';

/**
 * Determinism as a property: any sequence of calls, logged, replays to the
 * same events, byte for byte. Errors are part of a run (a call on a missing
 * path fails the same way in the replay). HAMMERSTATE_REPLAY_RUNS for more.
 */
const RUNS = Number(process.env.HAMMERSTATE_REPLAY_RUNS ?? 12);
const dir = mkdtempSync(join(tmpdir(), 'hammerstate-replay-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const names = ['/a', '/b', '/d/x', '/d/y', '/d/e/z'];
const path = fc.constantFrom(...names, '/d', '/d/e');
const bytes = fc.integer({ min: 0, max: 40_000 }).map((n) => new Uint8Array(n).fill(n % 251));

type Call = (fs: FileSystem, open: FileHandle[]) => Promise<unknown>;

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
  fc.tuple(path, path).map(
    ([a, b]) =>
      (fs: FileSystem) =>
        fs.rename(a, b),
  ),
  fc.tuple(path, path).map(
    ([a, b]) =>
      (fs: FileSystem) =>
        fs.link(a, b),
  ),
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
  fc.constant((fs: FileSystem) => fs.sync()),
  fc.constant((fs: FileSystem) => fs.snapshot('s')),
);

let runs = 0;
async function logged(calls: Call[], remountAt: number, autoflush: number): Promise<string> {
  const volume = join(dir, `run-${++runs}.hsvol`);
  await mkfs(volume, { size: 64 * 1024 * 1024, undoBytes: 8 * 1024 * 1024 });
  let fs = await mount(volume, { autoflush });
  let open: FileHandle[] = [];
  for (const [i, next] of calls.entries()) {
    if (i === remountAt) {
      await fs.unmount();
      fs = await mount(volume, { autoflush });
      open = [];
    }
    await next(fs, open).catch(() => undefined);
  }
  await fs.unmount();
  return `${volume}.events.sqlite`;
}

describe('replay determinism (property)', () => {
  it('every logged sequence of calls, with a remount, replays without a divergence', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(call, { minLength: 5, maxLength: 40 }),
        fc.nat(40),
        fc.constantFrom(2, 8, 500),
        async (calls, remountAt, autoflush) => {
          const log = await logged(calls, remountAt, autoflush);
          const reader = AuditReader.open(log);
          try {
            const report = await replayLog(reader, {
              dir: mkdtempSync(join(dir, 'replay-')),
              drain: eventLoopTurn,
            });
            expect(report.first_divergence).toBeNull();
            expect(report.events).toBe(reader.lastSeq);
          } finally {
            reader.close();
          }
        },
      ),
      { numRuns: RUNS, ...(process.env.HAMMERSTATE_REPLAY_SEED === 'random' ? {} : { seed: 20261126 }) },
    );
  });
});
