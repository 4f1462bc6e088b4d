import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileSystem } from '../actors/api.js';
import { mkfs, mount } from '../actors/index.js';
import { type ReplayOptions, replayLog } from '../actors/replay.js';
import type { Checkpoint, MountState } from '../actors/replay-checkpoints.js';
import { eventLoopTurn } from '../cli/event-loop.js';
import { AuditReader } from '../storage/audit-reader.js';
import { cli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let scratch = 0;
function options(extra: Partial<ReplayOptions> = {}): ReplayOptions {
  const where = join(dir, `replay-${++scratch}`);
  return { dir: mkdtempSync(where), drain: eventLoopTurn, ...extra };
}

/** A workload touching every kind of command: names, data, handles, fsync (REDO), snapshots, PFS, a remount. */
async function workload(fs: FileSystem): Promise<void> {
  await fs.mkdir('/src/lib', { recursive: true });
  for (let i = 0; i < 40; i++) await fs.writeFile(`/src/lib/f${i}.txt`, `file ${i} `.repeat(i + 1));
  await fs.writeFile('/src/big.bin', new Uint8Array(70_000).fill(7));
  const handle = await fs.open('/src/log.txt', 'w+');
  await handle.write('first line\n');
  await handle.sync();
  await handle.write('second line\n');
  await handle.sync();
  await handle.close();
  await fs.rename('/src/lib/f1.txt', '/src/renamed.txt');
  await fs.unlink('/src/lib/f2.txt');
  await fs.symlink('lib/f3.txt', '/src/link');
  await fs.link('/src/lib/f4.txt', '/src/hard');
  await fs.chmod('/src/hard', 0o600);
  await fs.utimes('/src/renamed.txt', 1_000, 2_000);
  await fs.truncate('/src/big.bin', 100);
  await fs.snapshot('one');
  await fs.appendFile('/src/renamed.txt', 'more');
  await fs.readFile('/src/lib/f5.txt');
  await fs.readdir('/src/lib');
  await Promise.all([fs.writeFile('/src/p1', 'a'), fs.writeFile('/src/p2', 'b'), fs.stat('/src')]);
  await fs.rmdir('/src/lib').catch(() => undefined); // ENOTEMPTY: an error is part of the run too
  await fs.sync();
}

async function loggedVolume(name: string): Promise<{ volume: string; log: string }> {
  const volume = join(dir, `${name}.hsvol`);
  await mkfs(volume, { size: 64 * 1024 * 1024, undoBytes: 8 * 1024 * 1024 });
  const first = await mount(volume);
  await workload(first);
  await first.unmount();
  const second = await mount(volume, { autoflush: 20 });
  for (let i = 0; i < 60; i++) await second.writeFile(`/second-${i}`, `again ${i}`);
  await second.unlink('/src/renamed.txt');
  await second.unmount();
  return { volume, log: `${volume}.events.sqlite` };
}

async function replay(log: string, extra: Partial<ReplayOptions> = {}) {
  const reader = AuditReader.open(log);
  try {
    return await replayLog(reader, options(extra));
  } finally {
    reader.close();
  }
}

describe('replay of an event log', () => {
  it('re-executes two logged mounts on a fresh volume and derives every logged event again, exactly', async () => {
    const { log } = await loggedVolume('exact');
    const reader = AuditReader.open(log);
    const logged = reader.lastSeq;
    reader.close();
    const report = await replay(log);
    expect(report.first_divergence).toBeNull();
    expect(report.divergences).toBe(0);
    expect(report.events).toBe(logged);
    expect(report.commands).toBeGreaterThan(120);
  });

  it('reports the first divergence with both events when the log was changed', async () => {
    const { log } = await loggedVolume('tampered');
    const db = new Database(log);
    const target = db
      .prepare("SELECT seq FROM events WHERE kind = 'fact' AND type = 'FLUSH_DONE' ORDER BY seq LIMIT 1 OFFSET 5")
      .pluck()
      .get() as number;
    db.prepare("UPDATE events SET to_state = 'nowhere' WHERE seq = ?").run(target);
    db.close();
    const report = await replay(log, { check: true });
    expect(report.divergences).toBe(1);
    expect(report.first_divergence?.seq).toBe(target);
    expect(report.first_divergence?.expected?.to).toBe('nowhere');
    expect(report.first_divergence?.got?.type).toBe('FLUSH_DONE');
    expect(report.seq).toBe(target);
  });

  it('reports an event the log lacks against the row it has instead, and events past the end of the log', async () => {
    const { log } = await loggedVolume('missing');
    const db = new Database(log);
    const dropped = db
      .prepare("SELECT seq FROM events WHERE kind = 'fact' AND type = 'FLUSH_DONE' ORDER BY seq LIMIT 1 OFFSET 7")
      .pluck()
      .get() as number;
    db.prepare('DELETE FROM events WHERE seq = ?').run(dropped);
    const rows = db.prepare('SELECT COUNT(*) FROM events').pluck().get() as number;
    db.close();
    const checked = await replay(log, { check: true });
    expect(checked.divergences).toBe(1);
    expect(checked.first_divergence?.seq).toBe(dropped + 1);
    expect(checked.first_divergence?.got?.type).toBe('FLUSH_DONE');
    expect(checked.first_divergence?.expected).not.toBeNull();
    // Without --check the replay goes on to the end (the rows after the gap no longer line up), reporting the same first one.
    const counted = await replay(log);
    expect(counted.divergences).toBeGreaterThan(1);
    expect(counted.events).toBe(rows);
    expect(counted.first_divergence).toEqual(checked.first_divergence);

    // The log cut short after a flush's first events: what the replay derives past its end is reported once.
    const cut = await loggedVolume('cut');
    const cutDb = new Database(cut.log);
    const last = cutDb.prepare('SELECT MAX(seq) FROM events').pluck().get() as number;
    const end = cutDb
      .prepare("SELECT seq FROM events WHERE type = 'FLUSH_DONE' AND seq < ? ORDER BY seq DESC LIMIT 1")
      .pluck()
      .get(last - 50) as number;
    cutDb.prepare('DELETE FROM events WHERE seq > ?').run(end);
    cutDb.close();
    const short = await replay(cut.log);
    expect(short.divergences).toBe(1);
    expect(short.first_divergence?.seq).toBe(end + 1);
    expect(short.first_divergence?.expected).toBeNull();
    expect(short.first_divergence?.got).not.toBeNull();
  });

  it('stops at --to with the state of the system there', async () => {
    const { log } = await loggedVolume('partial');
    const db = new Database(log, { readonly: true });
    const seq = db
      .prepare("SELECT seq FROM events WHERE type = 'FLUSH' AND to_state = 'flush' ORDER BY seq LIMIT 1 OFFSET 3")
      .pluck()
      .get() as number;
    db.close();
    const report = await replay(log, { to: seq });
    expect(report.divergences).toBe(0);
    expect(report.seq).toBe(seq);
    const state = report.state;
    expect(state).toBeDefined();
    expect(state?.inodes.some((ip) => ip.state === 'flush' && ip.group !== null)).toBe(true);
    const groups = state?.flushGroups ?? [];
    expect(groups.length).toBeGreaterThan(0);
    for (const flg of groups) expect(['open', 'closed', 'running']).toContain(flg.state);
    expect(state?.volume.nextTid).toMatch(/^0x[0-9a-f]{16}$/);
  });

  it('keeps checkpoints at mount boundaries and between commands inside mounts; a replay to a late seq starts from the nearest and reaches the same state as one from mkfs', async () => {
    const { volume, log } = await loggedVolume('checkpointed');
    for (let round = 0; round < 2; round++) {
      const fs = await mount(volume);
      for (let i = 0; i < 20; i++) await fs.writeFile(`/round-${round}-${i}`, `round ${round} file ${i}`);
      await fs.unmount();
    }
    const db = new Database(log, { readonly: true });
    const lastRun = db.prepare('SELECT MAX(run) FROM runs').pluck().get() as number;
    const late = db
      .prepare("SELECT seq FROM events WHERE run = ? AND type = 'writeFile' ORDER BY seq LIMIT 1 OFFSET 9")
      .pluck()
      .get(lastRun) as number;
    db.close();
    const store = join(dir, 'checkpoints');
    const taking = await replay(log, { checkpoints: { dir: store, every: 1, use: false } });
    expect(taking.divergences).toBe(0);
    const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as { checkpoints: Checkpoint[] };
    expect(index.checkpoints.map((checkpoint) => checkpoint.seq)).toEqual(taking.checkpointsTaken);
    // Before each of the four mounts (the first one right after mkfs), and inside the mounts.
    expect(index.checkpoints.filter((checkpoint) => checkpoint.mount === undefined)).toHaveLength(4);
    expect(index.checkpoints.filter((checkpoint) => checkpoint.mount !== undefined).length).toBeGreaterThan(4);
    const full = await replay(log, { to: late });
    const resumed = await replay(log, { to: late, checkpoints: { dir: store, every: 1, use: true } });
    expect(full.fromCheckpoint).toBeUndefined();
    expect(resumed.fromCheckpoint).toBe(Math.max(...(taking.checkpointsTaken ?? []).filter((seq) => seq <= late)));
    expect(resumed.events).toBeLessThan(full.events);
    expect(resumed.divergences).toBe(0);
    expect(resumed.seq).toBe(late);
    expect(resumed.state).toEqual(full.state);
    expect(resumed.state?.inodes.some((ip) => ip.flags.includes('DDIRTY'))).toBe(true);
  });

  it('resumes a long mount from a checkpoint inside it, and drops a checkpoint whose memo does not resume', async () => {
    const volume = join(dir, 'long.hsvol');
    await mkfs(volume, { size: 64 * 1024 * 1024, undoBytes: 8 * 1024 * 1024 });
    // A small cache: clean inodes unload as they age out (the resumed cache must age in the same order).
    const fs = await mount(volume, { autoflush: 16, cacheInodes: 32 });
    await fs.mkdir('/d');
    // A log kept open all along, and a handle closed early that is still called on.
    const kept = await fs.open('/log', 'a');
    const early = await fs.open('/early', 'w');
    await early.close();
    for (let i = 0; i < 240; i++) {
      await fs.writeFile(`/d/f${i}`, `file ${i}`.repeat(i % 17));
      if (i % 3 === 0) await fs.readFile(`/d/f${i >> 1}`); // atime, and the cache's order
      if (i % 40 === 39) {
        await kept.write(`line ${i}\n`);
        await fs.sync();
        await expect(early.stat()).rejects.toMatchObject({ code: 'EBADF' });
      }
    }
    await kept.close();
    await fs.unmount();
    const log = `${volume}.events.sqlite`;
    const reader = AuditReader.open(log);
    const end = reader.lastSeq;
    reader.close();
    const store = join(dir, 'long-checkpoints');
    const taking = await replay(log, { check: true, checkpoints: { dir: store, every: 250, use: false } });
    expect(taking.divergences).toBe(0);
    const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as { checkpoints: Checkpoint[] };
    // One mount: every checkpoint is inside it, the kept log open, the early handle closed (its inode long unloaded).
    expect(index.checkpoints.length).toBeGreaterThanOrEqual(3);
    let pending = 0;
    for (const checkpoint of index.checkpoints) {
      const inside = JSON.parse(readFileSync(join(store, checkpoint.mount as string), 'utf8')) as MountState;
      expect(inside.memo.session.handles.map((handle) => [handle.path, handle.open])).toEqual([
        ['/log', true],
        ['/early', false],
      ]);
      // Taken where they fell, with work in memory: dirty inodes, records not flushed, open flush groups.
      if (inside.memo.dirty.length > 0 && inside.memo.records.length > 0) pending++;
    }
    expect(pending).toBeGreaterThan(0);
    const to = end - 2; // before the unmount's events
    const full = await replay(log, { to });
    const resumed = await replay(log, { to, check: true, checkpoints: { dir: store, every: 250, use: true } });
    const last = index.checkpoints.at(-1) as Checkpoint;
    expect(resumed.fromCheckpoint).toBe(last.seq);
    expect(resumed.divergences).toBe(0);
    expect(resumed.events).toBe(to - last.seq);
    expect(resumed.state).toEqual(full.state);
    expect(resumed.state?.inodes.length).toBeGreaterThanOrEqual(32);

    // A memo that does not describe the image (here: the record of one inode) is caught when resumed: dropped, replayed from mkfs.
    const memoPath = join(store, last.mount as string);
    const memo = JSON.parse(readFileSync(memoPath, 'utf8')) as MountState;
    const tampered = memo.memo.inodes.find((inode) => inode.onDisk !== undefined)?.onDisk;
    if (tampered === undefined || tampered === null) throw new Error('no clean inode in the memo');
    tampered.dataCrc ^= 1;
    writeFileSync(memoPath, JSON.stringify(memo));
    const refused = await replay(log, { to, check: true, checkpoints: { dir: store, every: 1e9, use: true } });
    expect(refused.checkpointRefused).toMatch(/^checkpoint \d+: .*EIO: replay checkpoint/);
    expect(refused.fromCheckpoint).toBeUndefined();
    expect(refused.divergences).toBe(0);
    expect(refused.state).toEqual(full.state);
    const after = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as { checkpoints: Checkpoint[] };
    expect(after.checkpoints.map((checkpoint) => checkpoint.seq)).not.toContain(last.seq);
  });

  it("resumes a checkpoint where the flusher's run waits with a lower number than the periodic sync a remount restarted", async () => {
    const volume = join(dir, 'timers.hsvol');
    await mkfs(volume, { size: 64 * 1024 * 1024, undoBytes: 8 * 1024 * 1024 });
    // Virtual time: nothing the scheduler holds runs until the test says so.
    const virtual = new VirtualTimeScheduler(VirtualAction, 50_000);
    const fs = await mount(volume, { scheduler: virtual, syncIntervalMs: 1_000, autoflush: 2 });
    for (let i = 0; i < 6; i++) await fs.writeFile(`/f${i}`, 'x'); // groups close: the flusher's run waits
    await fs.remount({ readOnly: true });
    await fs.remount({ readOnly: false }); // the periodic sync starts again, numbered after the run
    await fs.writeFile('/g', 'y');
    virtual.maxFrames = virtual.frame + 1_500;
    virtual.flush(); // the run, then the periodic sync
    await fs.writeFile('/h', 'z');
    await fs.unmount();
    const log = `${volume}.events.sqlite`;
    const store = join(dir, 'timers-checkpoints');
    const taking = await replay(log, { check: true, checkpoints: { dir: store, every: 1, use: false } });
    expect(taking.divergences).toBe(0);
    const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as { checkpoints: Checkpoint[] };
    let runFirst = 0;
    for (const checkpoint of index.checkpoints) {
      if (checkpoint.mount !== undefined) {
        const { scheduler } = (JSON.parse(readFileSync(join(store, checkpoint.mount), 'utf8')) as MountState).memo;
        if (scheduler.flushRun !== null && scheduler.waiting.some((action) => action > (scheduler.flushRun as number)))
          runFirst++;
      }
      // From this checkpoint (the only one the index lists) to the end of the log, across the scheduler's actions.
      writeFileSync(join(store, 'index.json'), JSON.stringify({ ...index, checkpoints: [checkpoint] }));
      const resumed = await replay(log, {
        to: taking.seq,
        check: true,
        checkpoints: { dir: store, every: 1e9, use: true },
      });
      expect(resumed.fromCheckpoint).toBe(checkpoint.seq);
      expect(resumed.first_divergence).toBeNull();
    }
    expect(runFirst).toBeGreaterThan(0);

    // A memo from before it said which action is the flusher's run: refused, and the replay starts at mkfs.
    const inside = index.checkpoints.filter((checkpoint) => checkpoint.mount !== undefined).at(-1) as Checkpoint;
    const memoPath = join(store, inside.mount as string);
    const older = JSON.parse(readFileSync(memoPath, 'utf8')) as MountState;
    delete (older.memo.scheduler as Partial<typeof older.memo.scheduler>).flushRun;
    writeFileSync(memoPath, JSON.stringify(older));
    writeFileSync(join(store, 'index.json'), JSON.stringify({ ...index, checkpoints: [inside] }));
    const refused = await replay(log, {
      to: taking.seq,
      check: true,
      checkpoints: { dir: store, every: 1e9, use: true },
    });
    expect(refused.checkpointRefused).toMatch(/does not say which scheduled action is the flusher's run/);
    expect(refused.fromCheckpoint).toBeUndefined();
    expect(refused.first_divergence).toBeNull();
  });

  it('refuses a log that does not start at mkfs, and one kept at the meta level, saying why', async () => {
    const { volume } = await loggedVolume('refused');
    const late = join(dir, 'late.events.sqlite');
    const fs = await mount(volume, { audit: late });
    await fs.writeFile('/x', 'x');
    await fs.unmount();
    await expect(replay(late)).rejects.toThrow(/does not start at mkfs/);
    const meta = join(dir, 'meta.hsvol');
    await mkfs(meta, { size: 64 * 1024 * 1024, undoBytes: 8 * 1024 * 1024, auditLevel: 'meta' });
    const metaFs = await mount(meta, { auditLevel: 'meta' });
    await metaFs.writeFile('/y', 'y');
    await metaFs.unmount();
    await expect(replay(`${meta}.events.sqlite`)).rejects.toThrow(/'meta' level/);
  });

  it('keeps at most --checkpoint-keep checkpoints, spread over the log, the newest always; a replay --to starts from one of them', async () => {
    const { log } = await loggedVolume('kept');
    const store = `${log}.checkpoints`;
    const taking = cli(['replay', log, '--checkpoint-every', '1', '--checkpoint-keep', '3'], dir);
    expect(taking.status).toBe(0);
    const taken = (/checkpoints taken at seq ([\d, ]+)/.exec(taking.stdout)?.[1] ?? '').split(', ').map(Number);
    expect(taken.length).toBeGreaterThan(3);
    const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as { checkpoints: Checkpoint[] };
    expect(index.checkpoints).toHaveLength(3);
    const files = readdirSync(store).filter((name) => name !== 'index.json');
    const named = index.checkpoints.flatMap((checkpoint) => [checkpoint.file, checkpoint.mount ?? []].flat());
    expect(files.sort()).toEqual(named.sort());
    // Spread: not the last three taken.
    const seqs = index.checkpoints.map((checkpoint) => checkpoint.seq);
    expect((seqs[2] as number) - (seqs[1] as number)).toBeGreaterThan(1);
    expect(seqs.at(-1)).toBe(taken.at(-1));
    expect(seqs).not.toEqual(taken.slice(-3));
    const reader = AuditReader.open(log);
    const last = reader.lastSeq;
    reader.close();
    const late = cli(
      ['replay', log, '--to', String(last - 1), '--checkpoint-every', '1', '--checkpoint-keep', '3'],
      dir,
    );
    expect(late.status).toBe(0);
    expect(late.stdout).toMatch(/every derived event matches the log/);
    const from = Number(/from the checkpoint at seq (\d+)/.exec(late.stdout)?.[1]);
    expect(seqs).toContain(from);
    const bad = cli(['replay', log, '--checkpoint-keep', '0'], dir);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--checkpoint-keep must be a whole number from 1/);
  });

  it('hammerstate replay --json prints one line; a divergence exits 1', async () => {
    const { log } = await loggedVolume('cli');
    const ok = cli(['replay', log, '--json'], dir);
    expect(ok.status).toBe(0);
    const result = ok.json<{ events: number; commands: number; divergences: number; first_divergence: unknown }>();
    expect(Object.keys(result)).toEqual(['events', 'commands', 'divergences', 'first_divergence']);
    expect(result.divergences).toBe(0);
    const db = new Database(log);
    db.prepare("UPDATE events SET time = time + 1 WHERE seq = (SELECT MAX(seq) FROM events WHERE kind = 'fact')").run();
    db.close();
    const bad = cli(['replay', log, '--check'], dir);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/expected \(log\):/);
    expect(bad.stdout).toMatch(/got \(replay\):/);
  });

  it('the command line logs what changes a volume (mkfs, import, snapshot) under the wall clock, and replays it exactly', () => {
    const volume = join(dir, 'cli-made.hsvol');
    const made = cli(['mkfs', volume, '--size', '64M', '--undo-size', '8M', '--json'], dir);
    expect(made.status).toBe(0);
    expect(existsSync(`${volume}.events.sqlite`)).toBe(true);
    const source = fileURLToPath(new URL('../machines', import.meta.url));
    expect(cli(['import', volume, source, '/machines', '--json'], dir).status).toBe(0);
    expect(cli(['snapshot', volume, '--label', 'after import'], dir).status).toBe(0);
    expect(cli(['ls', volume, '/machines'], dir).status).toBe(0); // read-only: not logged
    const replayed = cli(['replay', `${volume}.events.sqlite`, '--json'], dir);
    expect(replayed.status).toBe(0);
    const result = replayed.json<{ commands: number; divergences: number }>();
    expect(result.divergences).toBe(0);
    expect(result.commands).toBeGreaterThan(10);
    const log = cli(['log', `${volume}.events.sqlite`, '--runs', '--json'], dir);
    const runs = log.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string });
    expect(runs.map((run) => run.kind)).toEqual(['mkfs', 'mount', 'mount']);
    const bare = join(dir, 'cli-bare.hsvol');
    expect(cli(['mkfs', bare, '--size', '64M', '--undo-size', '8M', '--no-audit'], dir).status).toBe(0);
    expect(existsSync(`${bare}.events.sqlite`)).toBe(false);
  });

  it('a volume keeps working without its log', async () => {
    const { volume, log } = await loggedVolume('nolog');
    rmSync(log);
    const fs = await mount(volume, { readOnly: true });
    expect(await fs.readFile('/second-1', 'utf8')).toBe('again 1');
    await fs.unmount();
    expect(existsSync(log)).toBe(false);
    // Read-write again: a new log, which says it does not start at mkfs.
    const again = await mount(volume);
    await again.writeFile('/third', 'new log');
    await again.unmount();
    const reader = AuditReader.open(log);
    expect(reader.startsAtMkfs).toBe(false);
    reader.close();
    // A log that is not a log: the mount says so and changes nothing; without a log it goes on.
    rmSync(log);
    writeFileSync(log, 'not an event log, just text that is long enough to look like a header'.repeat(4));
    await expect(mount(volume)).rejects.toMatchObject({ code: 'EINVAL' });
    const unlogged = await mount(volume, { audit: false });
    expect(await unlogged.readFile('/third', 'utf8')).toBe('new log');
    await unlogged.unmount();
  });
});
