import { VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { BusEvent, FileSystem } from '../actors/api.js';
import { InodeFlag } from '../machines/inode-flags.js';
import { CrashDevice } from '../storage/crash-device.js';
import { decodeDirEntry } from '../storage/format/records.js';
import { formatTid, LOCALIZE_INODE, LOCALIZE_MISC, RecType, TID_MAX } from '../storage/layout.js';
import type { Volume } from '../storage/volume.js';
import { checkImage, internals, MiB, memVolume, mountMem } from './support/fs.js';

/** The B-tree's live records of one object, as of now. */
function liveRecords(volume: Volume, objId: number, space: number) {
  const lo = { localization: space, objId, recType: 0, key: Number.MIN_SAFE_INTEGER, createTid: 1 };
  const hi = { localization: space, objId, recType: 0xffff, key: Number.MAX_SAFE_INTEGER, createTid: 0 };
  return volume.scan(lo, hi, TID_MAX);
}

function inodeElm(fs: FileSystem, objId: number) {
  return liveRecords(internals(fs).volume, objId, LOCALIZE_INODE).find((e) => e.recType === RecType.INODE);
}

function collect(fs: FileSystem): BusEvent[] {
  const events: BusEvent[] = [];
  fs.events.subscribe((e) => events.push(e));
  return events;
}

describe('flush scenarios of hammer_inode.c', () => {
  it("a new file's ADD record pulls its directory into the same flush group (one TID)", async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.mkdir('/d');
    await fs.sync();
    const events = collect(fs);
    const fh = await fs.open('/d/new', 'w');
    await fh.write('data');
    await fh.sync();
    await fh.close();
    const d = (await fs.stat('/d')).ino;
    const f = (await fs.stat('/d/new')).ino;
    const runs = events.filter((e) => e.type === 'COMMIT');
    expect(runs).toHaveLength(1);
    const entry = liveRecords(internals(fs).volume, d, LOCALIZE_MISC).find((e) => e.recType === RecType.DIRENTRY);
    const inode = inodeElm(fs, f);
    expect(entry?.createTid).toBeDefined();
    expect(entry?.createTid).toBe(inode?.createTid);
    const flushed = events
      .filter((e) => e.type === 'FLUSH' && e.to === 'flush' && e.from !== 'flush')
      .map((e) => e.actor);
    expect(flushed).toEqual(expect.arrayContaining([`inode:0:${d}:live`, `inode:0:${f}:live`]));
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('a 25-deep directory chain hits the depth limit of 20 and still ends fully on disk', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    let path = '';
    for (let i = 0; i < 25; i++) {
      path += `/d${i}`;
      await fs.mkdir(path);
    }
    await fs.writeFile(`${path}/leaf`, 'deep');
    const fh = await fs.open(`${path}/leaf`, 'r+');
    await fh.sync();
    await fh.close();
    expect(internals(fs).counters.depthLimitHits).toBeGreaterThan(0);
    await fs.sync();
    await fs.unmount();
    const again = await mountMem(device);
    expect(await again.readFile(`${path}/leaf`, 'utf8')).toBe('deep');
    await again.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('an over-full group stops the directory scan; the directory drains over several groups', async () => {
    const { device } = await memVolume({ undoBytes: 8 * MiB });
    const fs = await mountMem(device, { autoflush: 100_000, reclaimLimit: 1_000_000 });
    const mount = internals(fs);
    expect(mount.undoRecLimit).toBe((8 * MiB) / 8192 + 100);
    await fs.mkdir('/big');
    await fs.sync();
    const n = mount.undoRecLimit + 200;
    for (let i = 0; i < n; i++) await fs.writeFile(`/big/f${i}`, `${i}`);
    const events = collect(fs);
    const dir = mount.find(0, (await fs.stat('/big')).ino);
    expect(dir).toBeDefined();
    if (dir === undefined) return;
    mount.flusher.flushInode(dir, { signal: true });
    mount.flusher.runAll();
    expect(mount.counters.overfullScans).toBeGreaterThan(0);
    await fs.sync();
    expect(events.filter((e) => e.type === 'COMMIT').length).toBeGreaterThan(1);
    await fs.unmount();
    const again = await mountMem(device);
    expect((await again.readdir('/big')).length).toBe(n);
    expect(await again.readFile(`/big/f${n - 1}`, 'utf8')).toBe(`${n - 1}`);
    await again.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('unlink of a never-flushed file drops its ADD; of a flushing one converts it to a DEL', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    const mount = internals(fs);
    const before = mount.volume.stats().inodes;
    await fs.writeFile('/gone', 'x');
    const root = mount.find(0, 1);
    expect(root?.records.size).toBe(1);
    await fs.unlink('/gone');
    expect(root?.records.size).toBe(0);
    expect(root?.has(InodeFlag.XDIRTY)).toBe(false);
    await fs.sync();
    expect(mount.volume.stats().inodes).toBe(before);
    expect(liveRecords(mount.volume, 1, LOCALIZE_MISC).filter((e) => e.recType === RecType.DIRENTRY)).toHaveLength(0);
    // Now the ADD is in an open flush group (FLUSH state) when the frontend unlinks it.
    await fs.writeFile('/flushing', 'y');
    const file = mount.find(0, (await fs.stat('/flushing')).ino);
    if (file === undefined || root === undefined) throw new Error('cached');
    mount.flusher.flushInode(file);
    const add = [...root.records][0];
    expect(add?.state).toBe('flush');
    await fs.unlink('/flushing');
    expect(add?.flags).toBeDefined();
    await fs.sync();
    expect(add?.type).toBe('DEL');
    const everything = mount.volume.scan(
      { localization: LOCALIZE_MISC, objId: 1, recType: RecType.DIRENTRY, key: 0, createTid: 1 },
      { localization: LOCALIZE_MISC, objId: 1, recType: RecType.DIRENTRY, key: Number.MAX_SAFE_INTEGER, createTid: 0 },
    );
    const written = everything.filter((e) => decodeDirEntry(mount.volume.readData(e), 'test').name === 'flushing');
    expect(written).toHaveLength(1);
    expect(written[0]?.deleteTid).toBeGreaterThan(written[0]?.createTid ?? 0);
    expect(mount.volume.stats().inodes).toBe(before);
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('nlinks on disk matches the on-disk entries through hard links, renames and unlink while open', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device, { autoflush: 3 });
    await fs.mkdir('/a');
    await fs.mkdir('/b');
    await fs.writeFile('/a/f', 'f');
    const check = async () => {
      await fs.sync();
      expect(checkImage(device).problems).toEqual([]);
    };
    await fs.link('/a/f', '/b/g');
    await check();
    await fs.link('/b/g', '/b/h');
    await fs.rename('/b/h', '/a/h');
    await check();
    await fs.rename('/a/f', '/b/g');
    await check();
    const fh = await fs.open('/b/g', 'r');
    await fs.unlink('/b/g');
    await fs.unlink('/a/h');
    await check();
    expect((await fh.stat()).nlink).toBe(1);
    await fs.unlink('/a/f');
    await check();
    expect((await fh.stat()).nlink).toBe(0);
    expect((await fh.readFile()).toString()).toBe('f');
    const report = checkImage(device);
    expect(report.notes.some((n) => n.includes('orphan'))).toBe(true);
    await fh.close();
    await check();
    expect(checkImage(device).notes.some((n) => n.includes('orphan'))).toBe(false);
    await fs.unmount();
  });

  it('a truncation that would block re-runs its group until every block is deleted', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device, { truncateBatch: 4 });
    await fs.writeFile('/t', new Uint8Array(40 * 16 * 1024).fill(7));
    await fs.sync();
    const events = collect(fs);
    await fs.truncate('/t', 100);
    await fs.sync();
    const runs = events.filter((e) => e.type === 'RUN' && e.actor.startsWith('flg:'));
    expect(runs.length).toBeGreaterThanOrEqual(10);
    expect(new Set(runs.map((e) => e.actor)).size).toBeLessThan(runs.length);
    expect(events.some((e) => e.type === 'WOULDBLOCK')).toBe(true);
    const f = (await fs.stat('/t')).ino;
    const blocks = liveRecords(internals(fs).volume, f, LOCALIZE_MISC).filter((e) => e.recType === RecType.DATA);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]?.dataLen).toBe(100);
    expect((await fs.readFile('/t')).every((b) => b === 7)).toBe(true);
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('atime-only and mtime-only changes patch the inode record in place; other changes write a new version', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    const mount = internals(fs);
    await fs.writeFile('/t', 'abcdef');
    await fs.sync();
    const f = (await fs.stat('/t')).ino;
    const first = inodeElm(fs, f);
    const fifoBefore = mount.volume.counters.fifoBytesWritten;
    const patches = mount.counters.itimesPatches;
    await fs.readFile('/t');
    await fs.sync();
    expect(inodeElm(fs, f)?.createTid).toBe(first?.createTid);
    expect(mount.counters.itimesPatches).toBe(patches + 1);
    const atimeFifo = mount.volume.counters.fifoBytesWritten - fifoBefore;
    const fh = await fs.open('/t', 'r+');
    await fh.write('X', 0, 1, 0);
    await fh.close();
    const beforeMtime = mount.volume.counters.fifoBytesWritten;
    await fs.sync();
    expect(inodeElm(fs, f)?.createTid).toBe(first?.createTid);
    expect(mount.counters.itimesPatches).toBe(patches + 2);
    expect(mount.volume.counters.fifoBytesWritten - beforeMtime).toBeGreaterThan(atimeFifo);
    await fs.chmod('/t', 0o600);
    await fs.sync();
    expect(inodeElm(fs, f)?.createTid).toBeGreaterThan(first?.createTid ?? 0);
    await fs.unmount();
    const again = await mountMem(device);
    expect(await again.readFile('/t', 'utf8')).toBe('Xbcdef');
    expect((await again.stat('/t')).mode & 0o777).toBe(0o600);
    await again.unmount();
  });

  it("a deleted inode's record gets its delete TID and the volume's inode count drops", async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    const mount = internals(fs);
    await fs.writeFile('/doomed', 'bye');
    const tid = await fs.sync();
    const f = (await fs.stat('/doomed')).ino;
    const count = mount.volume.stats().inodes;
    await fs.unlink('/doomed');
    await fs.sync();
    expect(mount.volume.stats().inodes).toBe(count - 1);
    expect(inodeElm(fs, f)).toBeUndefined();
    expect(await fs.readFile(`/doomed@@${formatTid(tid)}`, 'utf8')).toBe('bye');
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('reclaim back-pressure: creators wait while too many detached dirty inodes pile up', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device, { reclaimLimit: 16, autoflush: 1000 });
    const mount = internals(fs);
    let peak = 0;
    mount.reclaim.reclaims$.subscribe((n) => {
      peak = Math.max(peak, n);
    });
    for (let i = 0; i < 200; i++) await fs.writeFile(`/r${i}`, 'x');
    expect(mount.counters.reclaimWaits).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(16 + 1);
    await fs.sync();
    expect((await fs.readdir('/')).length).toBe(200);
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('a dummy inode stands in for an entry whose inode is gone as of the view', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    const mount = internals(fs);
    await fs.writeFile('/ghost', 'boo');
    const tid = await fs.sync();
    const f = (await fs.stat('/ghost')).ino;
    const elm = inodeElm(fs, f);
    if (elm === undefined) throw new Error('on disk');
    mount.volume.beginCycle();
    mount.volume.destroyRecord(elm);
    mount.volume.commit();
    await fs.unmount();
    const again = await mountMem(device);
    const asof = `/ghost@@${formatTid(tid)}`;
    const st = await again.stat(asof);
    expect(st.mode & 0o777).toBe(0);
    expect(internals(again).find(0, f, tid)?.has(InodeFlag.DUMMY)).toBe(true);
    expect((await again.readFile(asof)).length).toBe(0);
    await expect(again.readFile('/ghost')).rejects.toMatchObject({ code: 'EIO' });
    await again.unmount();
  });

  it('PFS: create, use through @@PFSnnnnn, ENOTEMPTY while in use, destroy', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    const pfs = await fs.pfs.create('projects');
    expect(pfs.id).toBe(1);
    expect(await fs.pfs.list()).toEqual([
      { id: 0, label: 'root' },
      { id: 1, label: 'projects' },
    ]);
    await fs.writeFile('/@@PFS00001/readme', 'in pfs 1');
    const fh = await fs.open('/@@PFS00001/readme', 'r');
    await expect(fs.pfs.destroy(1)).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await fh.close();
    await fs.sync();
    expect(await fs.readFile('/@@PFS00001/readme', 'utf8')).toBe('in pfs 1');
    await expect(fs.readFile('/readme')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.pfs.destroy(0)).rejects.toMatchObject({ code: 'EINVAL' });
    await fs.pfs.destroy(1);
    await expect(fs.readFile('/@@PFS00001/readme')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await fs.pfs.list()).toEqual([{ id: 0, label: 'root' }]);
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('the backend writes the frozen copy: a frontend change during the flush waits for the next one', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    const mount = internals(fs);
    await fs.writeFile('/racy', 'before');
    const f = (await fs.stat('/racy')).ino;
    let mutated = false;
    let tid = 0;
    fs.events.subscribe((e) => {
      if (!mutated && e.type === 'RUN' && e.actor.startsWith('flg:')) {
        mutated = true;
        void fs.chmod('/racy', 0o700);
        void fs.writeFile('/racy', 'after!');
      }
      if (tid === 0 && e.type === 'COMMIT') tid = e.tid ?? 0;
    });
    await fs.sync();
    expect(mutated).toBe(true);
    const first = await fs.stat(`/racy@@${formatTid(tid)}`);
    expect(first.mode & 0o777).toBe(0o644);
    expect(await fs.readFile(`/racy@@${formatTid(tid)}`, 'utf8')).toBe('before');
    expect(mount.find(0, f)?.dirty).toBe(false);
    expect(await fs.readFile('/racy', 'utf8')).toBe('after!');
    expect((await fs.stat('/racy')).mode & 0o777).toBe(0o700);
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });
});

describe('backend limits and failures', () => {
  it('finalizes part-way through a big flush when dirty meta-data passes its limit', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device, { metaLimitBytes: 64 * 1024, autoflush: 100_000, reclaimLimit: 1_000_000 });
    const mount = internals(fs);
    for (let i = 0; i < 600; i++) await fs.writeFile(`/many-${i}`, `content ${i}`);
    const events = collect(fs);
    await fs.sync();
    expect(mount.counters.partialFinalizes).toBeGreaterThan(0);
    const partial = events.findIndex((e) => e.type === 'FINALIZE' && e.payload?.final === false);
    const commit = events.findIndex((e) => e.type === 'COMMIT');
    expect(partial).toBeGreaterThanOrEqual(0);
    expect(partial).toBeLessThan(commit);
    // No header between the partial finalize and the cycle's own commit: the cycle stayed revocable.
    expect(events.slice(partial, commit).filter((e) => e.type === 'HEADER_COMMIT')).toHaveLength(1);
    await fs.unmount();
    const again = await mountMem(device);
    expect(await again.readFile('/many-599', 'utf8')).toBe('content 599');
    await again.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('a record that fails to sync fails the flush (never lost): the cycle is rolled back and the mount turns read-only', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    const mount = internals(fs);
    await fs.writeFile('/kept', 'committed');
    await fs.sync();
    await fs.writeFile('/doomed', 'never');
    const insert = mount.volume.insertRecord.bind(mount.volume);
    mount.volume.insertRecord = (input, data) => {
      if (input.recType === RecType.DATA) throw new Error('simulated media error while writing a DATA record');
      return insert(input, data);
    };
    await expect(fs.sync()).rejects.toMatchObject({ code: 'EIO' });
    await expect(fs.writeFile('/more', 'x')).rejects.toMatchObject({ code: 'EROFS' });
    expect(await fs.readFile('/kept', 'utf8')).toBe('committed');
    // Reported once, when it happened: unmount tears down and writes nothing.
    await fs.unmount();
    const again = await mountMem(device);
    expect(await again.readFile('/kept', 'utf8')).toBe('committed');
    await expect(again.readFile('/doomed')).rejects.toMatchObject({ code: 'ENOENT' });
    await again.unmount();
    expect(checkImage(device).errors).toBe(0);
  });
});

describe('autoflush', () => {
  it('groups close at hammer_autoflush inodes (or a quarter of the reclaim limit) and run before any sync', async () => {
    for (const options of [{ autoflush: 10 }, { autoflush: 500, reclaimLimit: 40 }]) {
      const { device } = await memVolume();
      const fs = await mountMem(device, options);
      const events = collect(fs);
      for (let i = 0; i < 60; i++) await fs.writeFile(`/auto-${i}`, `${i}`);
      await new Promise((resolve) => setImmediate(resolve));
      const closed = events.filter((e) => e.type === 'ADD_INODE' && e.to === 'closed');
      expect(closed.length, JSON.stringify(options)).toBeGreaterThan(0);
      // A directory scan may pull more than the limit into one group (the seed checks autoflush
      // after staging, and only undo_rec_limit stops a scan); groups still close and run on their own.
      expect(events.filter((e) => e.type === 'COMMIT').length).toBeGreaterThanOrEqual(2);
      expect(internals(fs).dirty.size).toBeLessThan(60);
      await fs.unmount();
      expect(checkImage(device).errors).toBe(0);
    }
  });
});

describe('names across groups', () => {
  it('a name whose flushing ADD is unlinked and then created again is never on disk twice', async () => {
    const { base } = await memVolume();
    const device = new CrashDevice(base);
    const fs = await mountMem(device, { autoflush: 4 });
    const mount = internals(fs);
    await fs.symlink('/b', '/a');
    const link = mount.find(0, (await fs.lstat('/a')).ino);
    if (link === undefined) throw new Error('cached');
    mount.flusher.flushInode(link); // the ADD of /a is now in an open group (FLUSH)
    await fs.unlink('/a'); // DELETED_FE: it will be written, then deleted by a later group
    const fh = await fs.open('/a', 'w');
    await fh.sync();
    await fh.close();
    await fs.unmount();
    for (const point of device.writePoints().concat(device.ops.length)) {
      const crashed = await mountMem(device.crashImage(point));
      const names = await crashed.readdir('/');
      expect(new Set(names).size, `crash before op ${point}: ${names.join(' ')}`).toBe(names.length);
      await crashed.unmount();
    }
  });
});

describe('reclaim statistics per creator (hammer_inode_inostats)', () => {
  it('a heavy creator waits down to a lower mark; its count halves every second of the clock', async () => {
    const { device } = await memVolume();
    let now = 1_700_000_000_000_000;
    const scheduler = new VirtualTimeScheduler();
    const fs = await mountMem(device, { clock: { now: () => now }, scheduler, reclaimLimit: 8, autoflush: 1000 });
    const mount = internals(fs);
    const marks: Array<{ creator: unknown; mark: unknown }> = [];
    fs.events.subscribe((e) => {
      if (e.type === 'RECLAIM_WAIT') marks.push({ creator: e.payload?.creator, mark: e.payload?.mark });
    });
    for (let i = 0; i < 8; i++) await fs.writeFile(`/r${i}`, 'x'); // creator 'fs': 8 creations, 8 detached dirty inodes
    const light = mount.reclaimWait('light');
    const heavy = mount.reclaimWait('fs');
    expect(light).toBeDefined();
    expect(heavy).toBeDefined();
    expect(marks).toEqual([
      { creator: 'light', mark: 7 },
      { creator: 'fs', mark: 4 },
    ]);
    now += 4_000_000; // four seconds: 9 -> 0 after four halvings
    void mount.reclaimWait('fs');
    expect(marks[2]).toEqual({ creator: 'fs', mark: 7 });
    scheduler.flush(); // the flush groups the waits asked for run (virtual time)
    await Promise.all([light, heavy]);
    expect(mount.dirty.size).toBe(0);
    await fs.unmount();
  });
});

describe('removed directories', () => {
  it("a directory's entry never leaves the disk before the removals inside it (no orphaned subtree)", async () => {
    const { base } = await memVolume();
    const device = new CrashDevice(base);
    const options = { autoflush: 4, reclaimLimit: 64, truncateBatch: 1 };
    let fs = await mountMem(device, options);
    await fs.mkdir('/a');
    await fs.writeFile('/a/a', '');
    await fs.link('/a/a', '/b');
    await fs.unmount();
    fs = await mountMem(device, options);
    await fs.rename('/a/a', '/a/b');
    await fs.unlink('/a/b');
    await fs.unlink('/b');
    await fs.rmdir('/a');
    const fh = await fs.open('/a', 'w'); // the name /a again: pulls the old directory's removal along
    await fh.sync();
    await fh.close();
    for (const point of device.writePoints().concat(device.ops.length)) {
      const crashed = await mountMem(device.crashImage(point));
      // Every file's nlink equals the names reachable from the root.
      const names = new Map<number, number>();
      const links = new Map<number, number>();
      const walk = async (dir: string): Promise<void> => {
        for (const name of await crashed.readdir(dir)) {
          const path = `${dir === '/' ? '' : dir}/${name}`;
          const st = await crashed.lstat(path);
          if (st.isDirectory()) await walk(path);
          else {
            names.set(st.ino, (names.get(st.ino) ?? 0) + 1);
            links.set(st.ino, st.nlink);
          }
        }
      };
      await walk('/');
      for (const [ino, count] of names) expect(links.get(ino), `crash before op ${point}, inode ${ino}`).toBe(count);
      await crashed.unmount();
    }
  });
});

describe('rename over an existing name', () => {
  it('the name is never missing after a crash: its removal flushes with the new entry', async () => {
    const { base } = await memVolume();
    const device = new CrashDevice(base);
    const options = { autoflush: 2, reclaimLimit: 8 };
    let fs = await mountMem(device, options);
    await fs.writeFile('/m', 'm');
    await fs.link('/m', '/b');
    await fs.symlink('/missing', '/a');
    await fs.unmount();
    fs = await mountMem(device, options);
    const start = device.ops.length; // everything before is durable (unmount)
    await fs.rename('/a', '/b'); // /b: the link to /m, replaced by the symlink
    const fh = await fs.open('/m', 'r+'); // flushing /m pulls the removal of /b -> /m ...
    await fh.sync(); // ... which must bring the new /b along
    await fh.close();
    for (const point of device
      .writePoints()
      .filter((p) => p >= start)
      .concat(device.ops.length)) {
      const crashed = await mountMem(device.crashImage(point));
      expect(await crashed.readdir('/'), `crash before op ${point}`).toContain('b');
      await crashed.unmount();
    }
  });
});
