import { describe, expect, it } from 'vitest';
import { UF_NOHISTORY } from '../actors/api.js';
import { createInode } from '../actors/namespace.js';
import { formatTid, ObjType } from '../storage/layout.js';
import { checkImage, internals, MiB, memVolume, mountMem } from './support/fs.js';

describe('filesystem rules', () => {
  it('creating in a directory whose last link is gone is EINVAL at the front end', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    const mount = internals(fs);
    await fs.mkdir('/doomed');
    const dir = mount.find(0, (await fs.stat('/doomed')).ino);
    if (dir === undefined) throw new Error('cached');
    mount.ref(dir); // a FUSE lookup or a cwd keeps it, like a vnode would
    await fs.rmdir('/doomed');
    expect(dir.ino.nlinks).toBe(0);
    expect(() => createInode(mount, dir, 'late', { objType: ObjType.REGFILE, mode: 0o644 }, '/doomed/late')).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    mount.rel(dir);
    await fs.sync();
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('object ids are never reused across delete, create, remount and a crash', async () => {
    const { device } = await memVolume({ crash: true });
    const fs = await mountMem(device);
    await fs.writeFile('/a', 'a');
    const first = (await fs.stat('/a')).ino;
    await fs.unlink('/a');
    await fs.sync();
    await fs.writeFile('/a', 'again');
    const second = (await fs.stat('/a')).ino;
    expect(second).toBeGreaterThan(first);
    await fs.unmount();
    const again = await mountMem(device);
    await again.writeFile('/b', 'b');
    const third = (await again.stat('/b')).ino;
    expect(third).toBeGreaterThan(second);
    await again.mkdir('/unsynced');
    await again.writeFile('/unsynced/x', 'x');
    const lost = (await again.stat('/unsynced/x')).ino;
    if (!('crashImage' in device)) throw new Error('a crash device');
    const crashed = device.crashImage(device.ops.length);
    const after = await mountMem(crashed);
    await after.writeFile('/c', 'c');
    const fourth = (await after.stat('/c')).ino;
    // /b and /unsynced never reached the disk (their ids may come again, as in HAMMER); ids that did never do.
    expect(fourth).toBeGreaterThan(second);
    expect([first, second]).not.toContain(fourth);
    expect(lost).toBeGreaterThan(third);
    await after.unmount();
  });

  it('a no-history directory passes the flag on; its files keep no old versions', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.mkdir('/tmpdir');
    await fs.chflags('/tmpdir', UF_NOHISTORY);
    await fs.writeFile('/tmpdir/scratch', 'v1');
    await fs.writeFile('/kept', 'v1');
    const t1 = await fs.sync();
    await fs.writeFile('/tmpdir/scratch', 'v2');
    await fs.writeFile('/kept', 'v2');
    await fs.sync();
    expect((await fs.stat('/tmpdir/scratch')).flags & UF_NOHISTORY).toBe(UF_NOHISTORY);
    expect((await fs.history('/tmpdir/scratch')).length).toBe(1);
    expect((await fs.history('/kept')).length).toBe(2);
    expect(await fs.readFile(`/kept@@${formatTid(t1)}`, 'utf8')).toBe('v1');
    // The old inode version is gone: an as-of view finds only a placeholder (dummy inode), never 'v1'.
    expect((await fs.readFile(`/tmpdir/scratch@@${formatTid(t1)}`)).toString()).not.toBe('v1');
    await expect(fs.chflags('/kept', 0x1000)).rejects.toMatchObject({ code: 'EINVAL' });
    await fs.unlink('/tmpdir/scratch');
    await fs.sync();
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('a volume filled to the brim says ENOSPC at the front end; every flush still completes', async () => {
    const { device } = await memVolume({ size: 64 * MiB, undoBytes: 8 * MiB });
    const fs = await mountMem(device);
    const chunk = new Uint8Array(256 * 1024).fill(0x5a);
    let written = 0;
    let failure: unknown;
    for (let i = 0; i < 1000; i++) {
      try {
        await fs.writeFile(`/fill-${i}`, chunk);
        written++;
        if (i % 16 === 15) await fs.sync();
      } catch (error) {
        failure = error;
        break;
      }
    }
    expect(failure).toMatchObject({ code: 'ENOSPC' });
    expect(written).toBeGreaterThan(10);
    await expect(fs.writeFile('/one-more', chunk)).rejects.toMatchObject({ code: 'ENOSPC' });
    await fs.sync();
    await fs.writeFile('/tiny', 'still fits');
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
    const again = await mountMem(device);
    expect(Buffer.compare(await again.readFile(`/fill-${written - 1}`), Buffer.from(chunk))).toBe(0);
    expect(await again.readFile('/tiny', 'utf8')).toBe('still fits');
    await again.unmount();
  });

  it('the root can be read as of a TID (/@@0x...)', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.writeFile('/a', 'x');
    const t = await fs.snapshot();
    await fs.writeFile('/b', 'y');
    await fs.sync();
    expect(await fs.readdir(`/@@${formatTid(t)}`)).toEqual(['a']);
    expect(await fs.readFile(`/@@${formatTid(t)}/a`, 'utf8')).toBe('x');
    await expect(fs.writeFile(`/@@${formatTid(t)}/c`, 'z')).rejects.toMatchObject({ code: 'EROFS' });
    await fs.unmount();
  });
});
