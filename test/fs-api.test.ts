import { describe, expect, it } from 'vitest';
import { formatTid } from '../storage/layout.js';
import { checkImage, code, internals, memVolume, mountMem } from './support/fs.js';

async function fresh() {
  const { device } = await memVolume();
  const fs = await mountMem(device);
  return { device, fs };
}

describe('the node:fs-like API', () => {
  it('creates, reads, lists and stats files and directories, before and after a remount', async () => {
    const { device, fs } = await fresh();
    await fs.mkdir('/a/b/c', { recursive: true });
    await fs.writeFile('/a/b/c/one.txt', 'one');
    await fs.writeFile('/a/two.bin', new Uint8Array([1, 2, 3, 4]));
    await fs.appendFile('/a/two.bin', new Uint8Array([5]));
    await fs.symlink('/a/b/c/one.txt', '/link');
    await fs.symlink('x'.repeat(100), '/long-link');
    for (const round of [0, 1]) {
      const mounted = round === 0 ? fs : await mountMem(device);
      expect(await mounted.readdir('/')).toEqual(expect.arrayContaining(['a', 'link', 'long-link']));
      expect((await mounted.readdir('/a')).sort()).toEqual(['b', 'two.bin']);
      expect(await mounted.readFile('/a/b/c/one.txt', 'utf8')).toBe('one');
      expect(await mounted.readFile('/link', 'utf8')).toBe('one');
      expect(await mounted.readlink('/long-link')).toBe('x'.repeat(100));
      expect([...(await mounted.readFile('/a/two.bin'))]).toEqual([1, 2, 3, 4, 5]);
      const st = await mounted.stat('/a/two.bin');
      expect(st.isFile()).toBe(true);
      expect(st.size).toBe(5);
      expect(st.nlink).toBe(1);
      expect((await mounted.stat('/a')).isDirectory()).toBe(true);
      expect((await mounted.lstat('/link')).isSymbolicLink()).toBe(true);
      const dirents = await mounted.readdir('/a', { withFileTypes: true });
      expect(dirents.find((d) => d.name === 'b')?.isDirectory()).toBe(true);
      await mounted.unmount();
    }
    expect(checkImage(device).errors).toBe(0);
  });

  it('file handles read and write at positions, append, truncate, and survive unlink until closed', async () => {
    const { device, fs } = await fresh();
    const fh = await fs.open('/f', 'w+');
    await fh.write('hello world');
    await fh.write('W', 0, 1, 6);
    const buf = new Uint8Array(5);
    const { bytesRead } = await fh.read(buf, 0, 5, 6);
    expect(bytesRead).toBe(5);
    expect(Buffer.from(buf).toString()).toBe('World');
    await fh.truncate(5);
    expect((await fh.stat()).size).toBe(5);
    await fs.unlink('/f');
    expect(await code(fs.stat('/f'))).toBe('ENOENT');
    expect((await fh.readFile()).toString()).toBe('hello');
    await fs.sync();
    expect(checkImage(device).errors).toBe(0);
    await fh.close();
    expect(await code(fh.read(buf))).toBe('EBADF');
    const append = await fs.open('/g', 'a');
    await append.write('ab');
    await append.write('cd', 0, 2, 0);
    await append.close();
    expect(await fs.readFile('/g', 'utf8')).toBe('abcd');
    const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 7) & 0xff);
    await fs.writeFile('/big', big);
    await fs.truncate('/big', 1024 * 1024 + 5);
    await fs.sync();
    const back = await fs.readFile('/big');
    expect(back.length).toBe(1024 * 1024 + 5);
    expect(Buffer.compare(back, Buffer.from(big.subarray(0, 1024 * 1024 + 5)))).toBe(0);
    await fs.truncate('/big', 2 * 1024 * 1024);
    const holes = await fs.readFile('/big');
    expect(holes.subarray(1024 * 1024 + 5).every((b) => b === 0)).toBe(true);
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('renames over targets, across directories, moves directories, and keeps hard links counted', async () => {
    const { device, fs } = await fresh();
    await fs.mkdir('/d1');
    await fs.mkdir('/d2');
    await fs.writeFile('/d1/a', 'A');
    await fs.writeFile('/d2/b', 'B');
    await fs.rename('/d1/a', '/d2/b');
    expect(await fs.readFile('/d2/b', 'utf8')).toBe('A');
    expect(await code(fs.stat('/d1/a'))).toBe('ENOENT');
    await fs.link('/d2/b', '/d1/hard');
    expect((await fs.stat('/d2/b')).nlink).toBe(2);
    await fs.sync();
    await fs.rename('/d1', '/d2/moved');
    expect(await fs.readFile('/d2/moved/hard', 'utf8')).toBe('A');
    expect(await code(fs.rename('/d2', '/d2/moved/inside'))).toBe('EINVAL');
    await fs.mkdir('/empty');
    await fs.mkdir('/full');
    await fs.writeFile('/full/x', 'x');
    expect(await code(fs.rename('/empty', '/full'))).toBe('ENOTEMPTY');
    expect(await code(fs.rename('/d2/b', '/empty'))).toBe('EISDIR');
    expect(await code(fs.rename('/empty', '/d2/b'))).toBe('ENOTDIR');
    await fs.rename('/full/x', '/full/x');
    // The source path runs through the very symlink the rename replaces.
    await fs.writeFile('/full/f', 'through');
    await fs.symlink('/full', '/via');
    await fs.rename('/via/f', '/via');
    expect(await fs.readFile('/via', 'utf8')).toBe('through');
    expect((await fs.readdir('/full')).includes('f')).toBe(false);
    await fs.unlink('/d2/b');
    expect((await fs.stat('/d2/moved/hard')).nlink).toBe(1);
    await fs.unmount();
    const again = await mountMem(device);
    expect(await again.readFile('/d2/moved/hard', 'utf8')).toBe('A');
    expect((await again.stat('/d2/moved/hard')).nlink).toBe(1);
    await again.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('gives node-style error codes and loses nothing on bad input', async () => {
    const { device, fs } = await fresh();
    await fs.writeFile('/file', 'data');
    await fs.mkdir('/dir');
    await fs.writeFile('/dir/x', 'x');
    expect(await code(fs.readFile('/nope'))).toBe('ENOENT');
    expect(await code(fs.readFile('/dir'))).toBe('EISDIR');
    expect(await code(fs.mkdir('/file'))).toBe('EEXIST');
    expect(await code(fs.mkdir('/file/sub'))).toBe('ENOTDIR');
    expect(await code(fs.writeFile('/file/sub', 'x'))).toBe('ENOTDIR');
    expect(await code(fs.rmdir('/dir'))).toBe('ENOTEMPTY');
    expect(await code(fs.rmdir('/file'))).toBe('ENOTDIR');
    expect(await code(fs.unlink('/dir'))).toBe('EISDIR');
    expect(await code(fs.rmdir('/'))).toBe('EBUSY');
    expect(await code(fs.link('/dir', '/dir2'))).toBe('EPERM');
    expect(await code(fs.writeFile('/n'.padEnd(300, 'n'), 'x'))).toBe('ENAMETOOLONG');
    expect(await code(fs.writeFile('relative', 'x'))).toBe('EINVAL');
    expect(await code(fs.open('/file', 'wx'))).toBe('EEXIST');
    expect(await code(fs.open('/file', 'bogus' as 'r'))).toBe('EINVAL');
    expect(await code(fs.truncate('/file', -1))).toBe('EINVAL');
    expect(await code(fs.truncate('/file', 1.5))).toBe('EINVAL');
    // Past the largest file size (2^52 bytes): EFBIG, as ftruncate(2) and pwrite(2) say; a read there is at end of file.
    expect(await code(fs.truncate('/file', 2 ** 60))).toBe('EFBIG');
    const far = await fs.open('/file', 'r+');
    expect(await code(far.write(Buffer.from('x'), 0, 1, 2 ** 52))).toBe('EFBIG');
    expect(await code(far.write(Buffer.from('x'), 0, 1, 2 ** 63))).toBe('EFBIG');
    expect((await far.read(Buffer.alloc(4), 0, 4, 2 ** 63)).bytesRead).toBe(0);
    await far.close();
    expect(await code(fs.readlink('/file'))).toBe('EINVAL');
    expect(await code(fs.chmod('/file', -5))).toBe('EINVAL');
    expect(await code(fs.utimes('/file', Number.NaN, 1))).toBe('EINVAL');
    await fs.symlink('/loop2', '/loop1');
    await fs.symlink('/loop1', '/loop2');
    expect(await code(fs.readFile('/loop1'))).toBe('ELOOP');
    expect(await code(fs.writeFile('/file', 42 as unknown as string))).toBe('EINVAL');
    expect(await code(fs.readdir(7 as unknown as string))).toBe('EINVAL');
    expect(await fs.readFile('/file', 'utf8')).toBe('data');
    // An answer (ENOENT, EEXIST, ...) comes without stack frames, as node:fs/promises gives it; a bad argument keeps its stack.
    const frames = (error: unknown) =>
      ((error as Error).stack ?? '').split('\n').filter((l) => l.trim().startsWith('at ')).length;
    const missing = await fs.stat('/nope').catch((error: unknown) => error);
    expect(missing).toMatchObject({ code: 'ENOENT', message: "ENOENT: no such file or directory, '/nope'" });
    expect(frames(missing)).toBe(0);
    expect(frames(await fs.truncate('/file', -1).catch((error: unknown) => error))).toBeGreaterThan(0);
    await fs.unmount();
    expect(await code(fs.readFile('/file'))).toBe('EIO');
    expect(checkImage(device).errors).toBe(0);
  });

  it('reads as-of paths read-only, with atime = mtime = ctime, and lists history and snapshots', async () => {
    const { fs } = await fresh();
    await fs.writeFile('/f', 'v1');
    const t1 = await fs.snapshot('first');
    await fs.writeFile('/f', 'version two');
    await fs.utimes('/f', 100, 200);
    await fs.sync();
    const asof = `/f@@${formatTid(t1)}`;
    expect(await fs.readFile(asof, 'utf8')).toBe('v1');
    expect(await fs.readFile('/f', 'utf8')).toBe('version two');
    const st = await fs.stat(asof);
    expect(st.atimeMs).toBe(st.ctimeMs);
    expect(st.mtimeMs).toBe(st.ctimeMs);
    expect(await code(fs.writeFile(asof, 'no'))).toBe('EROFS');
    expect(await code(fs.open(asof, 'r+'))).toBe('EROFS');
    expect(await code(fs.unlink(asof))).toBe('EROFS');
    const ro = await fs.open(asof, 'r');
    expect((await ro.readFile()).toString()).toBe('v1');
    await ro.close();
    const versions = await fs.history('/f');
    expect(versions.length).toBeGreaterThanOrEqual(2);
    expect(versions[0]?.tidHex).toMatch(/^0x[0-9a-f]{16}$/);
    expect(versions.some((v) => v.tid <= t1)).toBe(true);
    expect(await fs.snapshots()).toEqual([{ tid: t1, label: 'first' }]);
    await fs.unmount();
  });

  it('lchown and lutimes change a symbolic link itself, even a dangling one; chown and utimes follow it', async () => {
    const { fs } = await fresh();
    await fs.symlink('/not-yet', '/link');
    expect(await code(fs.chown('/link', 7, 8))).toBe('ENOENT');
    await fs.lchown('/link', 7, 8);
    await fs.lutimes('/link', 1000, 1000);
    const link = await fs.lstat('/link');
    expect([link.uid, link.gid, link.mtimeMs]).toEqual([7, 8, 1_000_000]);
    await fs.writeFile('/not-yet', 'x');
    await fs.chown('/link', 9, 9);
    await fs.utimes('/link', 2000, 2000);
    const target = await fs.stat('/link');
    expect([target.uid, target.mtimeMs]).toEqual([9, 2_000_000]);
    expect((await fs.lstat('/link')).uid).toBe(7);
    await fs.unmount();
  });

  it('statfs counts the volume in 16 KiB blocks and follows inodes and free space', async () => {
    const { fs } = await fresh();
    const before = await fs.statfs();
    expect(before.bsize).toBe(16 * 1024);
    // The 64 MiB volume's big-blocks (its first, the volume header's, is not counted).
    expect(before.blocks * before.bsize).toBe(7 * 8 * 1024 * 1024);
    expect(before.bfree).toBeGreaterThan(0);
    expect(before.bfree).toBeLessThan(before.blocks);
    expect(before.files).toBe(1);
    await fs.writeFile('/big', new Uint8Array(1024 * 1024));
    await fs.mkdir('/d');
    await fs.sync();
    const after = await fs.statfs('/d');
    expect(after.files).toBe(3);
    expect(after.bfree).toBeLessThanOrEqual(before.bfree - 64);
    expect(after.ffree).toBeLessThan(before.ffree);
    expect(await code(fs.statfs('/missing'))).toBe('ENOENT');
    await fs.unmount();
  });

  it('publishes commands, actor transitions, flush-group steps and storage writes on the bus', async () => {
    const { fs } = await fresh();
    const seen: string[] = [];
    fs.events.subscribe((e) => seen.push(`${e.kind}:${e.actor.split(':')[0]}:${e.type}`));
    await fs.writeFile('/x', 'x');
    await fs.sync();
    expect(seen).toContain('command:fs:writeFile');
    expect(seen).toContain('fact:inode:FLUSH');
    expect(seen).toContain('fact:inode:FLUSH_DONE');
    expect(seen).toContain('fact:flg:RUN');
    expect(seen).toContain('fact:volume:FINALIZE');
    expect(seen).toContain('fact:volume:HEADER_COMMIT');
    expect(internals(fs).dirty.size).toBe(0);
    await fs.unmount();
  });
});
