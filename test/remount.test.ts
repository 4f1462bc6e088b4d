import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BusEvent } from '../actors/api.js';
import { FaultDevice, mkfs, mount } from '../actors/index.js';
import { InodeFlag } from '../machines/inode-flags.js';
import { logicalClock } from '../storage/clock.js';
import type { MemDevice } from '../storage/device.js';
import { expectExactReplay } from './support/audit.js';
import { checkImage, code, internals, MiB, memVolume, mountMem } from './support/fs.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-remount-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every byte of an image, to compare before and after. */
function bytesOf(image: MemDevice): Buffer {
  const out = Buffer.alloc(image.size);
  image.read(0, out);
  return out;
}

/**
 * A crash image with work for both recovery stages: the last cycle's
 * meta-data is on disk without its header (stage 1 rolls it back), and
 * /journal has an fsynced REDO write not yet flushed (stage 2 replays it).
 */
async function crashImage(): Promise<MemDevice> {
  const { device } = await memVolume({ crash: true });
  if (!('ops' in device)) throw new Error('a crash-recording device');
  const fs = await mountMem(device);
  await fs.writeFile('/kept', 'alpha');
  await fs.sync();
  const journal = await fs.open('/journal', 'w+');
  await journal.write('one ');
  await journal.sync();
  await journal.write('two');
  await journal.sync(); // REDO fast path
  await fs.writeFile('/rolled-back', 'gamma');
  await fs.sync();
  const header = device.ops.findLastIndex((op) => op.kind === 'write');
  return device.crashImage(header);
}

describe('read-only mounts and recovery', () => {
  it('a read-only mount of a crash image writes nothing, reads the recovered state, and leaves stage 2 for read-write', async () => {
    const image = await crashImage();
    const before = bytesOf(image);
    const guard = new FaultDevice(image);
    const fs = await mount(guard, { clock: logicalClock(), readOnly: true });
    expect(fs.recovery.undone).toBeGreaterThan(0);
    expect(fs.recovery.redoPending).toBeGreaterThan(0);
    expect(fs.recovery.redoReplayed).toBe(0);
    expect(await fs.readFile('/kept', 'utf8')).toBe('alpha');
    expect(await fs.readFile('/journal', 'utf8')).toBe('one ');
    expect(await code(fs.stat('/rolled-back'))).toBe('ENOENT');
    expect(await code(fs.writeFile('/new', 'x'))).toBe('EROFS');
    expect(await code(fs.sync())).toBe('EROFS');
    await fs.unmount();
    expect([guard.calls.write, guard.calls.fsync]).toEqual([0, 0]);
    expect(bytesOf(image).equals(before)).toBe(true);
  });

  it('remounted read-write, it writes recovery stage 1, replays the REDO (stage 2) and takes changes', async () => {
    const image = await crashImage();
    const guard = new FaultDevice(image);
    const fs = await mount(guard, { clock: logicalClock(), readOnly: true });
    const events: BusEvent[] = [];
    fs.events.subscribe((event) => events.push(event));
    expect(await fs.readFile('/journal', 'utf8')).toBe('one ');
    await fs.remount({ readOnly: false });
    expect(events.find((e) => e.type === 'REMOUNT')?.payload).toEqual({ readOnly: false });
    expect(fs.recovery.redoReplayed).toBeGreaterThan(0);
    expect(guard.calls.fsync).toBeGreaterThan(0);
    expect(await fs.readFile('/journal', 'utf8')).toBe('one two');
    await fs.writeFile('/new', 'after the remount');
    await fs.unmount();
    expect(checkImage(image).errors).toBe(0);
    const again = await mountMem(image);
    expect(again.recovery.redoPending).toBe(0);
    expect(await again.readFile('/journal', 'utf8')).toBe('one two');
    expect(await again.readFile('/new', 'utf8')).toBe('after the remount');
    expect(await code(again.stat('/rolled-back'))).toBe('ENOENT');
    await again.unmount();
  });
});

describe('remount between read-write and read-only (hammer_reload_inode)', () => {
  it('read-only flushes first and cached inodes turn RO; read-write clears RO and takes changes again', async () => {
    const { base: disk } = await memVolume();
    const device = new FaultDevice(disk);
    const fs = await mount(device, { clock: logicalClock() });
    await fs.writeFile('/x', 'unsynced before the remount');
    const cached = () =>
      internals(fs)
        .cached()
        .find((ip) => ip.ino.size === 27);
    expect(cached()?.has(InodeFlag.RO)).toBe(false);
    const writer = await fs.open('/x', 'r+');
    await fs.remount({ readOnly: true });
    expect(await code(writer.write('through a handle opened read-write'))).toBe('EROFS');
    await writer.sync(); // nothing of it is dirty: the remount flushed it
    await writer.close();
    expect(cached()?.has(InodeFlag.RO)).toBe(true);
    expect(internals(fs).dirty.size).toBe(0);
    const crashed = await mountMem(disk.clone());
    expect(await crashed.readFile('/x', 'utf8')).toBe('unsynced before the remount');
    await crashed.unmount();
    const handle = await fs.open('/x', 'r');
    expect(await code(fs.writeFile('/y', 'y'))).toBe('EROFS');
    expect(await code(fs.open('/x', 'r+'))).toBe('EROFS');
    const atime = (await fs.stat('/x')).atimeMs;
    expect(await fs.readFile('/x', 'utf8')).toBe('unsynced before the remount');
    expect((await fs.stat('/x')).atimeMs).toBe(atime);
    const writes = device.calls.write;
    await fs.remount({ readOnly: true });
    expect(device.calls.write).toBe(writes);
    await fs.remount({ readOnly: false });
    expect(cached()?.has(InodeFlag.RO)).toBe(false);
    await fs.writeFile('/y', 'read-write again');
    await handle.close();
    expect(await code(fs.remount({ readOnly: 'yes' as unknown as boolean }))).toBe('EINVAL');
    await fs.unmount();
    const again = await mountMem(disk);
    expect(await again.readFile('/y', 'utf8')).toBe('read-write again');
    await again.unmount();
  });

  it('a read-only mount of a volume file keeps no log, so it will not turn read-write; without a log it does', async () => {
    const volume = join(dir, 'ro.hsvol');
    await mkfs(volume, { size: 64 * MiB, undoBytes: 8 * MiB });
    const logged = await mount(volume, { readOnly: true });
    const error = await logged.remount({ readOnly: false }).catch((e: unknown) => e as Error & { code: string });
    expect(error).toMatchObject({ code: 'EROFS' });
    expect(error?.message).toMatch(/keeps no audit log/);
    expect(await code(logged.writeFile('/a', 'a'))).toBe('EROFS');
    await logged.unmount();
    const unlogged = await mount(volume, { readOnly: true, audit: false });
    await unlogged.remount({ readOnly: false });
    await unlogged.writeFile('/a', 'written after a remount');
    await unlogged.unmount();
    const again = await mount(volume, { readOnly: true });
    expect(await again.readFile('/a', 'utf8')).toBe('written after a remount');
    await again.unmount();
  });

  it('a logged mount logs its remounts, and replay re-executes them exactly', async () => {
    const volume = join(dir, 'logged.hsvol');
    await mkfs(volume, { size: 64 * MiB, undoBytes: 8 * MiB });
    const fs = await mount(volume);
    await fs.writeFile('/a', 'before');
    await fs.remount({ readOnly: true });
    await fs.readFile('/a');
    await fs.writeFile('/b', 'refused').catch(() => undefined);
    await fs.remount({ readOnly: false });
    await fs.writeFile('/b', 'after');
    await fs.unmount();
    await expectExactReplay(volume, dir);
  });
});

describe('as-of (snapshot) mounts', () => {
  it('show the whole filesystem as of a TID, read-only', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.mkdir('/d');
    await fs.writeFile('/d/f', 'version 1');
    const tid = await fs.snapshot('one');
    await fs.writeFile('/d/f', 'version 2');
    await fs.writeFile('/later', 'not in the snapshot');
    await fs.unmount();
    const snap = await mountMem(device, { asof: tid });
    expect(await snap.readFile('/d/f', 'utf8')).toBe('version 1');
    expect((await snap.readdir('/')).sort()).toEqual(['d']);
    expect((await snap.stat('/d/f')).tid).toBeLessThanOrEqual(tid);
    expect(await code(snap.writeFile('/d/f', 'x'))).toBe('EROFS');
    expect(await code(snap.mkdir('/e'))).toBe('EROFS');
    expect(await code(snap.remount({ readOnly: false }))).toBe('EROFS');
    await snap.unmount();
    expect(await code(mountMem(device, { asof: -1 }))).toBe('EINVAL');
    expect(await code(mountMem(device, { asof: 1 }))).toBe('ENOENT'); // before mkfs made the root
    const live = await mountMem(device);
    expect(await live.readFile('/d/f', 'utf8')).toBe('version 2');
    await live.unmount();
  });
});

describe('atime', () => {
  it('noatime: reads leave atime alone', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device, { noatime: true });
    await fs.writeFile('/f', 'x');
    const before = (await fs.stat('/f')).atimeMs;
    await fs.readFile('/f');
    expect((await fs.stat('/f')).atimeMs).toBe(before);
    expect(internals(fs).dirty.size).toBeGreaterThan(0);
    await fs.sync();
    await fs.readFile('/f');
    expect(internals(fs).dirty.size).toBe(0);
    await fs.unmount();
  });

  it('a read while ATIME is pending only updates the frontend copy (hammer_update_atime_quick); the flush writes the newest', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.writeFile('/f', 'x');
    await fs.sync();
    const mount = internals(fs);
    await fs.readFile('/f');
    expect(mount.counters.atimeQuick).toBe(0);
    const first = (await fs.stat('/f')).atimeMs;
    await fs.readFile('/f');
    expect(mount.counters.atimeQuick).toBe(1);
    const second = (await fs.stat('/f')).atimeMs;
    expect(second).toBeGreaterThan(first);
    await fs.unmount();
    const again = await mountMem(device, { noatime: true });
    expect((await again.stat('/f')).atimeMs).toBe(second);
    await again.unmount();
  });
});
