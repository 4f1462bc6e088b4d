import { VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { type FileSystem, UF_NOHISTORY } from '../actors/api.js';
import { CrashDevice, seededRandom } from '../storage/crash-device.js';
import type { MemDevice } from '../storage/device.js';
import { checkImage, internals, MiB, memVolume, mountMem } from './support/fs.js';

/**
 * Resource exhaustion, each limit an explicit path with nothing lost:
 * a full volume (ENOSPC at the front end, thanks to the space reservation;
 * never in a flush), a FIFO filling up (REDO capped at half of it, an extra
 * finalize between groups when less than ¾ is free, the emergency finalize
 * inside a group when less than ¼ is: test/emergency-finalize.test.ts), too
 * many dirty inodes (reclaim back-pressure: creators wait).
 */

/** Run `call`: true when it succeeded, false on ENOSPC; any other error fails the test. */
async function orEnospc(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOSPC') throw error;
    return false;
  }
}

async function writeAt(fs: FileSystem, path: string, bytes: Buffer, position: number): Promise<void> {
  const fh = await fs.open(path, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, position);
  } finally {
    await fh.close();
  }
}

/** Every file of the model reads back as the model has it, and nothing else is in `dir`. */
async function expectModel(fs: FileSystem, dir: string, model: Map<string, Buffer>): Promise<void> {
  const names = (await fs.readdir(dir)).map((name) => (dir === '/' ? `/${name}` : `${dir}/${name}`)).sort();
  expect(names).toEqual([...model.keys()].sort());
  for (const [path, bytes] of model) {
    const found = await fs.readFile(path);
    expect(found.length, path).toBe(bytes.length);
    expect(Buffer.compare(found, bytes), path).toBe(0);
  }
}

/** A buffer of `length` bytes, each byte from `seed` (recognisable per write). */
const filled = (length: number, seed: number) => Buffer.alloc(length, (seed % 251) + 1);

describe('volume full', () => {
  it('every call succeeds or says ENOSPC and changes nothing; no flush runs out; all of it survives remount; freeing space lets writes in again', async () => {
    const { device } = await memVolume({ size: 48 * MiB, undoBytes: 8 * MiB });
    let fs = await mountMem(device);
    const critical: unknown[] = [];
    fs.events.subscribe((event) => {
      if (event.type === 'CRITICAL') critical.push(event.payload);
    });
    await fs.mkdir('/s');
    await fs.mkdir('/empty');
    await fs.chflags('/s', UF_NOHISTORY); // deleting frees the data (no history kept)
    // A write whose first blocks fit but not the whole: refused before it changes anything (or reserves).
    const space = internals(fs).space;
    await (await fs.open('/s/first', 'wx')).close();
    const available = space.available();
    await expect(writeAt(fs, '/s/first', filled(available + MiB, 1), 0)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect((await fs.stat('/s/first')).size).toBe(0);
    expect(space.available()).toBe(available);
    await fs.unlink('/s/first');
    const model = new Map<string, Buffer>();
    const next = seededRandom(2026);
    const pick = (n: number) => Math.floor(next() * n);
    let ok = 0;
    let refused = 0;
    for (let i = 0; refused < 25 && i < 3000; i++) {
      const names = [...model.keys()];
      const kind = names.length < 4 ? 0 : pick(4);
      const path = kind === 0 || kind === 3 ? `/s/f${i}` : (names[pick(names.length)] ?? '');
      const before = model.get(path);
      const size = before?.length ?? 0;
      let after: Buffer | undefined;
      let done: boolean;
      if (kind === 0 || kind === 3) {
        // A new file: created (its own call), then written whole.
        done = await orEnospc(async () => (await fs.open(path, 'wx')).close());
        if (done) {
          model.set(path, Buffer.alloc(0));
          const bytes = filled(kind === 0 ? 1 + pick(600_000) : 1 + pick(300), i);
          done = await orEnospc(() => writeAt(fs, path, bytes, 0));
          after = bytes;
        }
      } else {
        // An append, or an overwrite inside the file that may run past its end.
        const bytes = filled(1 + pick(kind === 1 ? 200_000 : 60_000), i);
        const position = kind === 1 ? size : pick(size + 1);
        done = await orEnospc(() => writeAt(fs, path, bytes, position));
        after = Buffer.alloc(Math.max(size, position + bytes.length));
        before?.copy(after);
        bytes.copy(after, position);
      }
      if (done) {
        ok++;
        if (after !== undefined) model.set(path, after);
      } else {
        refused++;
        // A refused call left the file exactly as it was (or absent).
        const now = model.get(path);
        if (now === undefined) await expect(fs.stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
        else expect(Buffer.compare(await fs.readFile(path), now), `${path} after ENOSPC`).toBe(0);
      }
      if (i % 16 === 15) await fs.sync(); // a flush never fails for want of space
    }
    expect(refused).toBe(25);
    expect(ok).toBeGreaterThan(40);
    await fs.sync();
    await expectModel(fs, '/s', model);
    await fs.unmount();
    expect(critical).toEqual([]);
    expect(checkImage(device).problems).toEqual([]);

    fs = await mountMem(device);
    await expectModel(fs, '/s', model);
    // Still full: a big file does not fit. Removing the files frees their big-blocks (space inside a
    // big-block still in use comes back only with reblocking, as in HAMMER); then it does.
    const big = filled(2 * MiB, 7);
    expect(await orEnospc(() => fs.writeFile('/s/big', big))).toBe(false);
    // writeFile may have created the file before its write was refused: then it is there, empty.
    const made = await fs.stat('/s/big').then(
      (stat) => stat.size,
      () => undefined,
    );
    expect(made === undefined || made === 0).toBe(true);
    if (made === 0) model.set('/s/big', Buffer.alloc(0));
    await fs.rmdir('/empty'); // removals work on a full volume: they are the way out
    const names = [...model.keys()].filter((name) => name !== '/s/big');
    for (const name of names) {
      await fs.unlink(name);
      model.delete(name);
    }
    await fs.sync();
    await fs.writeFile('/s/big', big);
    model.set('/s/big', big);
    await fs.sync();
    await fs.unmount();
    expect(checkImage(device).problems).toEqual([]);
    fs = await mountMem(device);
    await expectModel(fs, '/s', model);
    await fs.unmount();
  }, 60_000);
});

describe('FIFO nearly full', () => {
  it('REDO stops at half the FIFO, an extra finalize frees what commits made redundant; every crash point recovers the fsynced state', async () => {
    const { base } = await memVolume({ size: 64 * MiB, undoBytes: 8 * MiB });
    const device = new CrashDevice(base);
    const fs = await mountMem(device);
    const facts: Array<{ type: string; payload?: Record<string, unknown>; ops: number }> = [];
    fs.events.subscribe((event) => {
      if (['REDO_OFF', 'EARLY_FINALIZE', 'CRITICAL', 'REDO_FSYNC'].includes(event.type))
        facts.push({ type: event.type, payload: event.payload, ops: device.ops.length });
    });
    const files = ['/a', '/b', '/c'];
    // The state after every fsync that returned, and the device op count then.
    const contents = files.map(() => Buffer.alloc(0));
    const states: Array<{ contents: Buffer[]; opsEnd: number }> = [{ contents: [...contents], opsEnd: 0 }];
    const fsync = async (index: number) => {
      const fh = await fs.open(files[index] ?? '', 'r');
      await fh.sync();
      await fh.close();
      states.push({ contents: contents.map((c) => Buffer.from(c)), opsEnd: device.ops.length });
    };
    for (let f = 0; f < files.length; f++) {
      await fs.writeFile(files[f] ?? '', 'x');
      contents[f] = Buffer.from('x');
      await fsync(f); // the first fsync is a full flush; later writes go to the REDO log too
    }
    const chunk = 160 * 1024;
    for (let round = 0; round < 10; round++) {
      for (let f = 0; f < files.length; f++) {
        const bytes = filled(chunk, round * 3 + f);
        await writeAt(fs, files[f] ?? '', bytes, (contents[f] ?? Buffer.alloc(0)).length);
        contents[f] = Buffer.concat([contents[f] ?? Buffer.alloc(0), bytes]);
        await fsync(f);
      }
    }
    await fs.unmount();
    const mount = facts.filter((fact) => fact.type !== 'REDO_FSYNC');
    expect(mount.filter((fact) => fact.type === 'CRITICAL')).toEqual([]);
    const off = mount.filter((fact) => fact.type === 'REDO_OFF');
    const early = mount.filter((fact) => fact.type === 'EARLY_FINALIZE');
    expect(off.length).toBeGreaterThan(0);
    expect(early.length).toBeGreaterThan(0);
    expect(facts.filter((fact) => fact.type === 'REDO_FSYNC').length).toBeGreaterThan(10);
    for (const fact of off) expect(Number(fact.payload?.fifoUsedBytes)).toBeGreaterThan(2 * MiB);
    for (const fact of early) {
      expect(Number(fact.payload?.usedBytes)).toBeGreaterThan(2 * MiB); // less than ¾ was free
      expect(Number(fact.payload?.usedBytesAfter)).toBeLessThan(Number(fact.payload?.usedBytes));
    }
    // Crash points: the device writes of the first early finalize and the group before it, and every 16th elsewhere.
    const first = early[0]?.ops ?? 0;
    const points = device.writePoints().filter((p, i) => i % 16 === 0 || (p > first - 12 && p <= first + 1));
    for (const point of [...points, device.ops.length]) {
      let k = 0;
      for (let i = 0; i < states.length; i++) if ((states[i]?.opsEnd ?? 0) <= point) k = i;
      const image = device.crashImage(point);
      const pristine = image.clone();
      const crashed = await mountMem(image).catch(async (e) => {
        const { fsck } = await import('../storage/fsck.js');
        const { logicalClock } = await import('../storage/clock.js');
        const r = fsck(pristine, { clock: logicalClock() });
        console.log('POINT', point, device.ops.length, e.message, JSON.stringify(r.stats), r.notes, r.problems);
        throw e;
      });
      const found = await Promise.all(files.map((file) => crashed.readFile(file).catch(() => Buffer.alloc(0))));
      // The state of the last fsync that returned, or of the one in flight.
      const allowed = [states[k], states[k + 1]].filter((state) => state !== undefined);
      const matches = allowed.some((state) =>
        state.contents.every((bytes, i) => Buffer.compare(bytes, found[i] ?? Buffer.alloc(0)) === 0),
      );
      expect(matches, `crash before op ${point}: sizes ${found.map((b) => b.length)}`).toBe(true);
      await crashed.unmount();
    }
    expect(checkImage(device).problems).toEqual([]);
  }, 60_000);
});

describe('a big flush on the smallest FIFO', () => {
  it("a group's run stays far under a quarter of the FIFO (undo_rec_limit): only a truncation's re-runs need the emergency finalize", async () => {
    const { device } = await memVolume({ size: 128 * MiB, undoBytes: 8 * MiB });
    const fs = await mountMem(device, { autoflush: 5000 });
    const mount = internals(fs);
    const fifo = mount.volume.fifo;
    // The FIFO's high-water mark, seen after every UNDO append (inside the cycles).
    let high = 0;
    const append = fifo.appendUndo.bind(fifo);
    fifo.appendUndo = (target: number, bytes: Uint8Array) => {
      const at = append(target, bytes);
      high = Math.max(high, fifo.usedBytes());
      return at;
    };
    const commits: number[] = [];
    fs.events.subscribe((event) => {
      if (event.type === 'COMMIT') commits.push(Number(event.payload?.group));
    });
    await fs.mkdir('/d');
    for (let i = 0; i < 1500; i++) await fs.writeFile(`/d/f${(i * 7919) % 1500}`, filled(100, i));
    await fs.sync();
    // 1500 new inodes and their entries in a few groups, each closed at 1000 inodes (reclaim limit / 4) or
    // at undo_rec_limit inodes + records (8 MiB / 8192 + 100 = 1124), whichever comes first.
    expect(mount.undoRecLimit).toBe(1124);
    expect(commits.length).toBeGreaterThanOrEqual(2);
    expect(high).toBeGreaterThan(0);
    expect(high).toBeLessThan(fifo.size / 4);
    await fs.unmount();
    expect(checkImage(device).problems).toEqual([]);
  }, 30_000);
});

describe('too many dirty inodes', () => {
  it('creators past the reclaim limit wait for the flusher (RECLAIM_WAIT), and every file they made is there', async () => {
    const { device } = await memVolume();
    const scheduler = new VirtualTimeScheduler();
    let fs = await mountMem(device, { scheduler, reclaimLimit: 8, autoflush: 1000 });
    const waits: Array<{ reclaims: number; mark: number }> = [];
    fs.events.subscribe((event) => {
      if (event.type === 'RECLAIM_WAIT')
        waits.push({ reclaims: Number(event.payload?.reclaims), mark: Number(event.payload?.mark) });
    });
    const mount = internals(fs);
    const model = new Map<string, Buffer>();
    let settled = 0;
    const creations: Array<Promise<void>> = [];
    for (let i = 0; i < 40; i++) {
      const path = `/d${i}`;
      const bytes = filled(100 + i, i);
      model.set(path, bytes);
      creations.push(fs.writeFile(path, bytes).then(() => void settled++));
      await Promise.resolve();
    }
    // Nothing flushes until the scheduler runs: creators past the limit are still waiting.
    for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(waits.length).toBeGreaterThan(0);
    expect(settled).toBeLessThan(40);
    expect(mount.reclaim.size).toBeGreaterThanOrEqual(8);
    for (const wait of waits) {
      expect(wait.reclaims).toBeGreaterThanOrEqual(8);
      expect(wait.mark).toBeGreaterThanOrEqual(4); // never below half the limit
    }
    // The flusher runs (virtual time): the pipeline drains and every creator goes on.
    for (let round = 0; settled < 40 && round < 100; round++) {
      scheduler.flush();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(creations);
    expect(settled).toBe(40);
    expect(mount.counters.reclaimWaits).toBe(waits.length);
    await fs.sync();
    await expectModel(fs, '/', model);
    await fs.unmount();
    expect(checkImage(device as MemDevice).problems).toEqual([]);
    fs = await mountMem(device);
    await expectModel(fs, '/', model);
    await fs.unmount();
  }, 30_000);
});
