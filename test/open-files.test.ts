import { describe, expect, it } from 'vitest';
import type { FileSystem, Stats } from '../actors/api.js';
import { dataLocalization, inodeLocalization, rangeHi, rangeLo } from '../actors/keys.js';
import { InodeFlag } from '../machines/inode-flags.js';
import { CrashDevice, seededRandom } from '../storage/crash-device.js';
import { KEY_MAX, KEY_MIN, ORPHAN_OBJ_ID, RecType, TID_MAX } from '../storage/layout.js';
import { checkImage, code, internals, memVolume, mountMem } from './support/fs.js';

/** Live B-tree records of inode `objId` of PFS 0 (its inode record, data, entries) and its ORPHAN record. */
function onDisk(fs: FileSystem, objId: number) {
  const volume = internals(fs).volume;
  const own = (loc: number) =>
    volume.scan(rangeLo(loc, objId, 0, KEY_MIN), rangeHi(loc, objId, 0xffff, KEY_MAX), TID_MAX);
  const orphan = volume.lookup({
    localization: dataLocalization(0),
    objId: ORPHAN_OBJ_ID,
    recType: RecType.ORPHAN,
    key: objId,
  });
  return {
    inode: own(inodeLocalization(0)).length,
    data: own(dataLocalization(0)).length,
    orphan: orphan !== undefined,
  };
}

function inodeCount(fs: FileSystem): number {
  return internals(fs).volume.header().inodes;
}

const MiB = 1024 * 1024;

describe('open files hold their inode (vnode references)', () => {
  it('an unlinked file stays readable and writable until its last close, then its inode and data leave the disk', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.writeFile('/keep', 'k');
    await fs.sync();
    const before = inodeCount(fs);
    const first = await fs.open('/f', 'w+');
    await first.write(new Uint8Array(3 * MiB).fill(0xab));
    await first.sync();
    const second = await fs.open('/f', 'r');
    const ino = (await first.stat()).ino;
    expect(inodeCount(fs)).toBe(before + 1);
    expect(onDisk(fs, ino)).toMatchObject({ inode: 1, orphan: false });
    expect(onDisk(fs, ino).data).toBeGreaterThan(0);
    // What the inode's actor goes through: DELETING only once the last reference goes, then DELETED.
    const flags: number[] = [];
    fs.events.subscribe((event) => {
      const set = event.payload?.flags;
      if (event.actor === `inode:0:${ino}:live` && typeof set === 'number') flags.push(set);
    });
    const deleting = () => flags.some((f) => f & InodeFlag.DELETING);
    const deleted = () => flags.some((f) => f & InodeFlag.DELETED);
    await fs.unlink('/f');
    expect(await code(fs.stat('/f'))).toBe('ENOENT');
    expect((await first.stat()).nlink).toBe(0);
    // Still usable through either handle, data written after the unlink included, and durable on fsync.
    await first.write('tail', 0, 4, 3 * MiB);
    await first.sync();
    const buffer = new Uint8Array(4);
    await second.read(buffer, 0, 4, 3 * MiB);
    expect(Buffer.from(buffer).toString()).toBe('tail');
    await fs.sync();
    // On disk: no entry, nlinks 0, an ORPHAN record; counted, and fsck calls it an orphan, not corruption.
    expect(onDisk(fs, ino)).toMatchObject({ inode: 1, orphan: true });
    expect(inodeCount(fs)).toBe(before + 1);
    const open = checkImage(device);
    expect(open.errors).toBe(0);
    expect(open.notes.join('\n')).toContain(`inode 0:${ino} has no links left`);
    await first.close();
    await fs.sync();
    expect(onDisk(fs, ino).inode).toBe(1); // the second handle still holds it
    expect(deleting()).toBe(false);
    expect((await second.readFile()).length).toBe(3 * MiB + 4);
    await second.close();
    expect([deleting(), deleted()]).toEqual([true, false]);
    await fs.sync();
    expect(deleted()).toBe(true);
    // The last close: DELETING, then DELETED; nothing of it is left live, and the count follows.
    expect(onDisk(fs, ino)).toEqual({ inode: 0, data: 0, orphan: false });
    expect(inodeCount(fs)).toBe(before);
    expect(await code(second.read(buffer))).toBe('EBADF');
    await fs.unmount();
    const report = checkImage(device);
    expect(report.errors).toBe(0);
    expect(report.notes).toEqual([]);
    expect(report.stats.liveInodes).toBe(before);
  });

  it('a file unlinked and closed before any flush never reaches the disk; a rename over an open file keeps it open', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.sync();
    const before = inodeCount(fs);
    const handle = await fs.open('/scratch', 'w+');
    await handle.write('never on disk');
    await fs.unlink('/scratch');
    expect((await handle.readFile()).toString()).toBe('never on disk');
    await handle.close();
    await fs.sync();
    expect(inodeCount(fs)).toBe(before);
    await fs.writeFile('/victim', 'old contents');
    await fs.writeFile('/new', 'new contents');
    const victim = await fs.open('/victim', 'r');
    const ino = (await victim.stat()).ino;
    await fs.rename('/new', '/victim');
    await fs.sync();
    expect(await fs.readFile('/victim', 'utf8')).toBe('new contents');
    expect((await victim.readFile()).toString()).toBe('old contents');
    expect(onDisk(fs, ino)).toMatchObject({ inode: 1, orphan: true });
    await victim.close();
    await fs.sync();
    expect(onDisk(fs, ino)).toEqual({ inode: 0, data: 0, orphan: false });
    await fs.unmount();
    expect(checkImage(device)).toMatchObject({ errors: 0, notes: [] });
  });

  it('unmount with an unlinked file still open closes it: the inode is deleted, the handle is dead', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.sync();
    const before = inodeCount(fs);
    const handle = await fs.open('/open', 'w+');
    await handle.write('bytes');
    await fs.sync();
    await fs.unlink('/open');
    const kept = await fs.open('/kept', 'w');
    await kept.write('kept');
    await fs.unmount();
    expect(await code(handle.read(new Uint8Array(1)))).toBe('EIO');
    const report = checkImage(device);
    expect(report).toMatchObject({ errors: 0, notes: [] });
    expect(report.stats.liveInodes).toBe(before + 1);
    const again = await mountMem(device);
    expect(again.recovery.orphansDeleted).toBe(0);
    expect(await again.readFile('/kept', 'utf8')).toBe('kept');
    await again.unmount();
  });

  it('a crash while an unlinked file is open leaves an orphan fsck accepts; the next read-write mount deletes it', async () => {
    const { device } = await memVolume({ crash: true });
    const fs = await mountMem(device);
    await fs.writeFile('/other', 'o');
    await fs.sync();
    const before = inodeCount(fs);
    const handle = await fs.open('/doomed', 'w+');
    await handle.write(new Uint8Array(200_000).fill(7));
    await handle.sync();
    const ino = (await handle.stat()).ino;
    await fs.unlink('/doomed');
    await fs.sync();
    if (!(device instanceof CrashDevice)) throw new Error('a crash device');
    // The process dies here: the handle is never closed, unmount never runs.
    const crashed = device.crashImage(device.ops.length);
    const found = checkImage(crashed);
    expect(found.errors).toBe(0);
    expect(found.notes.join('\n')).toContain(`inode 0:${ino} has no links left`);
    expect(found.stats.headerInodes).toBe(before + 1);
    // A read-only mount writes nothing: the orphan stays until a remount read-write (root's call).
    const copy = crashed.clone();
    const readOnly = await mountMem(copy, { readOnly: true });
    expect(readOnly.recovery.orphansDeleted).toBe(0);
    expect(onDisk(readOnly, ino)).toMatchObject({ inode: 1, orphan: true });
    expect(await code(readOnly.as({ uid: 1, gid: 1 }).remount({ readOnly: false }))).toBe('EPERM');
    await readOnly.remount({ readOnly: false });
    expect(readOnly.recovery.orphansDeleted).toBe(1);
    expect(onDisk(readOnly, ino)).toEqual({ inode: 0, data: 0, orphan: false });
    await readOnly.unmount();
    expect(checkImage(copy)).toMatchObject({ errors: 0, notes: [] });
    const seen: string[] = [];
    const after = await mountMem(crashed);
    expect(after.recovery.orphansDeleted).toBe(1);
    after.events.subscribe((event) => seen.push(event.type));
    expect(onDisk(after, ino)).toEqual({ inode: 0, data: 0, orphan: false });
    expect(inodeCount(after)).toBe(before);
    expect(await after.readFile('/other', 'utf8')).toBe('o');
    await after.unmount();
    const clean = checkImage(crashed);
    expect(clean).toMatchObject({ errors: 0, notes: [] });
    expect(clean.stats.liveInodes).toBe(before);
    // And once only: the next mount finds nothing to delete.
    const third = await mountMem(crashed);
    expect(third.recovery.orphansDeleted).toBe(0);
    await third.unmount();
  });

  it('at every crash point, also inside the cleanup, fsck finds no problem and the next mount leaves no orphan', async () => {
    const { base } = await memVolume();
    const device = new CrashDevice(base);
    const fs = await mountMem(device, { autoflush: 4 });
    await fs.writeFile('/a', 'a');
    await fs.writeFile('/c', 'c');
    await fs.sync();
    const first = await fs.open('/a', 'r+');
    await fs.unlink('/a');
    await first.write('more');
    await fs.sync();
    const second = await fs.open('/b', 'w+');
    await second.write(new Uint8Array(70_000).fill(1));
    await second.sync();
    await fs.rename('/c', '/b');
    await first.close();
    await fs.sync();
    await second.truncate(10);
    await second.sync();
    const points = [...device.writePoints(), device.ops.length];
    const settled = (image: Parameters<typeof checkImage>[0], label: string) => {
      const report = checkImage(image);
      expect([label, report.problems]).toEqual([label, []]);
      return report;
    };
    const random = seededRandom(7);
    for (const point of points) {
      // The writes since the last fsync as they were, and a seeded subset of them, torn and reordered.
      for (const [kind, image] of [
        ['prefix', device.crashImage(point)],
        ['sampled', device.sampleCrashImage(point, random)],
      ] as const) {
        settled(image, `${kind} crash before op ${point}`);
        const after = await mountMem(image);
        await after.unmount();
        expect(settled(image, `mounted after a ${kind} crash before op ${point}`).notes).toEqual([]);
      }
    }
    // The last image holds the open, unlinked '/b' (the old /b's inode): crash its cleanup at every write.
    const recorder = new CrashDevice(device.crashImage(device.ops.length));
    const cleaning = await mountMem(recorder);
    expect(cleaning.recovery.orphansDeleted).toBe(1);
    await cleaning.unmount();
    for (const point of recorder.writePoints()) {
      const image = recorder.crashImage(point);
      settled(image, `cleanup crashed before op ${point}`);
      const again = await mountMem(image);
      await again.unmount();
      expect(settled(image, `mounted after the cleanup crashed before op ${point}`).notes).toEqual([]);
    }
    expect(points.length + recorder.writePoints().length).toBeGreaterThan(20);
  });

  it('fsck reports an inode with no links and no ORPHAN record, and an ORPHAN record naming a linked inode', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.writeFile('/linked', 'x');
    const handle = await fs.open('/lost', 'w');
    await fs.unlink('/lost');
    await fs.sync();
    const mount = internals(fs);
    const linked = mount.find(0, (await fs.stat('/linked')).ino);
    const lost = mount.find(0, (await handle.stat()).ino);
    if (linked === undefined || lost === undefined) throw new Error('both cached');
    // Move the ORPHAN record from the orphan to a linked inode, in one cycle, behind the mount's back.
    const volume = mount.volume;
    volume.beginCycle();
    const key = { localization: dataLocalization(0), objId: ORPHAN_OBJ_ID, recType: RecType.ORPHAN };
    const elm = volume.lookup({ ...key, key: lost.objId });
    if (elm === undefined) throw new Error('the orphan has its record');
    volume.destroyRecord(elm);
    volume.insertRecord({ ...key, key: linked.objId, objType: 2 });
    volume.commit();
    const report = checkImage(device);
    expect(report.problems.map((p) => p.what).join('\n')).toMatch(/no links left and no ORPHAN record/);
    expect(report.problems.map((p) => p.what).join('\n')).toMatch(
      /an ORPHAN record names inode 0:\d+, which is linked/,
    );
  });
});

describe('clean, unreferenced inodes are unloaded and come back from disk the same', () => {
  function fields(st: Stats) {
    // The type tests are methods (as node's Stats has them): called on the object.
    return { ...st, file: st.isFile(), directory: st.isDirectory(), symlink: st.isSymbolicLink() };
  }

  it('with a small cache, inodes leave it (UNLOADED) and a later lookup loads them with identical state', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device, { cacheInodes: 4 });
    const unloaded = new Set<string>();
    fs.events.subscribe((event) => {
      if (event.type === 'UNLOADED') unloaded.add(event.actor);
    });
    await fs.mkdir('/d');
    for (let i = 0; i < 24; i++) {
      await fs.writeFile(`/d/f${i}`, `contents ${i}`.repeat(i + 1), { mode: 0o600 + i });
      await fs.utimes(`/d/f${i}`, 1000 + i, 2000 + i);
    }
    await fs.chown('/d/f3', 1234, 99);
    await fs.symlink('/d/f1', '/d/link');
    const held = await fs.open('/d/f0', 'r');
    await fs.sync();
    const paths = [...Array.from({ length: 24 }, (_, i) => `/d/f${i}`), '/d/link'];
    const first = new Map<string, ReturnType<typeof fields>>();
    for (const path of paths) first.set(path, fields(await fs.lstat(path)));
    expect(unloaded.size).toBeGreaterThan(10);
    const mount = internals(fs);
    // The cache keeps at most `cacheInodes` clean inodes beside the referenced ones (the root, the open file).
    const cached = mount.cached();
    expect(cached.filter((ip) => ip.refs === 0 && !ip.dirty).length).toBeLessThanOrEqual(4);
    expect(cached.some((ip) => ip.objId === first.get('/d/f0')?.ino)).toBe(true);
    const loads = mount.counters.loads;
    for (const path of paths) expect([path, fields(await fs.lstat(path))]).toEqual([path, first.get(path)]);
    expect(mount.counters.loads).toBeGreaterThan(loads);
    expect(await fs.readFile('/d/f7', 'utf8')).toBe('contents 7'.repeat(8));
    expect(await fs.readFile('/d/link', 'utf8')).toBe('contents 1'.repeat(2));
    // A dirty inode is never unloaded: its unflushed change survives any amount of cache pressure.
    await fs.writeFile('/d/f5', 'unflushed');
    for (const path of paths) await fs.lstat(path);
    expect(await fs.readFile('/d/f5', 'utf8')).toBe('unflushed');
    await held.close();
    await fs.sync();
    const last = new Map<string, ReturnType<typeof fields>>();
    for (const path of paths) last.set(path, fields(await fs.lstat(path)));
    await fs.unmount();
    // The same state again from a fresh mount (the reads above moved two atimes, the write f5).
    const again = await mountMem(device, { cacheInodes: 4 });
    for (const path of paths) expect([path, fields(await again.lstat(path))]).toEqual([path, last.get(path)]);
    await again.unmount();
  });
});
