import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FileSystem } from '../actors/api.js';
import type { FuseOperations, FuseStat } from '../cli/fuse/binding.js';
import { applyPatches, type BindingPatch, UTIME_NOW_MS, UTIME_OMIT_MS } from '../cli/fuse/binding-patches.js';
import { parseMountinfo } from '../cli/fuse/mountinfo.js';
import { errnoOf, fuseIno, fuseOperations, inodeNumber } from '../cli/fuse/operations.js';
import { FsError } from '../storage/errors.js';
import { memVolume, mountMem } from './support/fs.js';
import { BIN } from './support/fuse.js';

/**
 * The FUSE adapter without a kernel: the operation table called the way
 * fuse-native calls it, on an in-memory volume, and on a filesystem whose
 * calls blow up (a handler never throws; a bug answers EIO and is logged).
 * Runs everywhere, FUSE or not.
 */

/** Call an operation and resolve with what it answered through its callback. */
function call<T extends unknown[]>(invoke: (cb: (...answer: T) => void) => void): Promise<T> {
  return new Promise((done) => invoke((...answer) => done(answer)));
}

/** Just the code an operation answered. */
async function answer(invoke: (cb: (code: number) => void) => void): Promise<number> {
  return (await call<[number]>(invoke))[0];
}

async function adapter(fs: FileSystem) {
  const lines: string[] = [];
  const { operations, handles } = fuseOperations({ fs, owner: { uid: 0, gid: 0 }, log: (line) => lines.push(line) });
  return { ops: operations as FuseOperations, handles, lines };
}

describe('the FUSE adapter', () => {
  it('maps error codes to negative errnos, and anything else to EIO', () => {
    expect(errnoOf(new FsError('ENOENT', 'x'))).toBe(-2);
    expect(errnoOf(new FsError('EROFS', 'x'))).toBe(-30);
    expect(errnoOf(new FsError('ENOTEMPTY', 'x'))).toBe(-39);
    expect(errnoOf(new TypeError('bug'))).toBe(-5);
    expect(errnoOf(undefined)).toBe(-5);
    expect(errnoOf({ code: 'ENOT_A_CODE' })).toBe(-5);
  });

  it('folds obj_ids into 32-bit inode numbers: the root keeps 1, allocated ids count on from 2', () => {
    expect(fuseIno(1)).toBe(1);
    expect(fuseIno(2 ** 32)).toBe(2);
    expect(fuseIno(2 ** 32 + 1)).toBe(3);
    const folded = new Set(Array.from({ length: 5000 }, (_, i) => fuseIno(2 ** 32 + i * 7)));
    expect(folded.size).toBe(5000);
    for (const ino of folded) expect(ino).toBeLessThan(2 ** 32);
  });

  it('passes the obj_id whole to a binding with 64-bit inode numbers: low half as ino, high half as dev', () => {
    expect(inodeNumber(1, true)).toEqual({ ino: 1, dev: 0 });
    expect(inodeNumber(2 ** 32 + 5, true)).toEqual({ ino: 5, dev: 1 });
    expect(inodeNumber(3 * 2 ** 32 + 2 ** 31, true)).toEqual({ ino: 2 ** 31, dev: 3 });
    expect(inodeNumber(2 ** 32 + 5, false)).toEqual({ ino: fuseIno(2 ** 32 + 5), dev: 0 });
  });

  it('patches the binding source once: applied, kept when already there, refused when the text is missing', () => {
    const patches: BindingPatch[] = [
      { name: 'one', file: 'index.js', broken: 'a = 1;', fixed: 'a = 2;' },
      { name: 'two', file: 'index.js', broken: 'b();\n', fixed: 'b();\nc();\n' },
    ];
    const once = applyPatches('x; a = 1; b();\n', patches);
    expect(once).toEqual({ text: 'x; a = 2; b();\nc();\n' });
    expect(applyPatches('text' in once ? once.text : '', patches)).toEqual(once);
    expect(applyPatches('x; a = 3; b();\n', patches)).toEqual({ unexpected: 'one' });
  });

  it('sets one time and leaves the other (UTIME_OMIT), or sets a time to now (UTIME_NOW)', async () => {
    const fs = await mountMem((await memVolume()).device);
    const { operations: ops } = fuseOperations({
      fs,
      owner: { uid: 0, gid: 0 },
      log: () => undefined,
      now: () => 1_700_000_000_000,
    });
    await fs.writeFile('/t.txt', 'x');
    const times = async () => {
      const st = await fs.stat('/t.txt');
      return [st.atimeMs, st.mtimeMs];
    };
    expect(await answer((cb) => ops.utimens('/t.txt', 1_500_000_000_000, 1_600_000_000_000, cb))).toBe(0);
    expect(await answer((cb) => ops.utimens('/t.txt', UTIME_OMIT_MS, 981_173_106_000, cb))).toBe(0);
    expect(await times()).toEqual([1_500_000_000_000, 981_173_106_000]);
    expect(await answer((cb) => ops.utimens('/t.txt', UTIME_NOW_MS, UTIME_OMIT_MS, cb))).toBe(0);
    expect(await times()).toEqual([1_700_000_000_000, 981_173_106_000]);
    expect(await answer((cb) => ops.utimens('/missing', UTIME_OMIT_MS, UTIME_NOW_MS, cb))).toBe(-2);
    await fs.unmount();
  });

  it("owns what a caller makes as Linux does: the caller's, in the caller's group or a set-group-ID directory's", async () => {
    const fs = await mountMem((await memVolume()).device);
    await fs.mkdir('/shared', { mode: 0o777 });
    await fs.lchown('/shared', 0, 42);
    await fs.mkdir('/team', { mode: 0o777 });
    await fs.lchown('/team', 0, 42);
    await fs.chmod('/team', 0o2777);
    let who = [1234, 7, 99];
    const { operations: ops } = fuseOperations({
      fs,
      owner: { uid: 0, gid: 0 },
      log: () => undefined,
      caller: () => who,
    });
    for (const dir of ['shared', 'team']) {
      const [created, fd] = await call<[number, number?]>((cb) => ops.create(`/${dir}/f`, 0o644, cb));
      expect(created).toBe(0);
      expect(await answer((cb) => ops.release(`/${dir}/f`, fd as number, cb))).toBe(0);
      expect(await answer((cb) => ops.mkdir(`/${dir}/d`, 0o755, cb))).toBe(0);
      expect(await answer((cb) => ops.symlink('d', `/${dir}/l`, cb))).toBe(0);
    }
    // A plain directory: the caller's group (not the directory's 42, BSD's rule, which the API keeps).
    for (const name of ['f', 'd', 'l']) {
      const st = await fs.lstat(`/shared/${name}`);
      expect([name, st.uid, st.gid]).toEqual([name, 1234, 7]);
    }
    expect((await fs.stat('/shared/d')).mode & 0o7777).toBe(0o755);
    // A set-group-ID directory: its group, and a new directory in it is set-group-ID too (mkdir(2) on Linux).
    for (const name of ['f', 'd', 'l']) {
      const st = await fs.lstat(`/team/${name}`);
      expect([name, st.uid, st.gid]).toEqual([name, 1234, 42]);
    }
    expect((await fs.stat('/team/d')).mode & 0o7777).toBe(0o2755);
    expect((await fs.stat('/team/f')).mode & 0o7777).toBe(0o644);
    // Read when the operation is called: a request answered later still belongs to who made it.
    const pending = answer((cb) => ops.mkdir('/shared/first', 0o755, cb));
    who = [0, 0, 1];
    expect(await answer((cb) => ops.mkdir('/shared/second', 0o755, cb))).toBe(0);
    expect(await pending).toBe(0);
    expect((await fs.stat('/shared/first')).uid).toBe(1234);
    expect((await fs.stat('/shared/second')).uid).toBe(0);
    await fs.unmount();
  });

  it('parses /proc/self/mountinfo, octal escapes included', () => {
    const text = [
      '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      '42 22 0:39 / /tmp/with\\040space rw,nosuid,nodev,relatime - fuse.hammerstate /tmp/vol.img rw,user_id=0',
      '',
    ].join('\n');
    expect(parseMountinfo(text)).toEqual([
      { id: 22, mountpoint: '/', fstype: 'ext4', source: '/dev/sda1' },
      { id: 42, mountpoint: '/tmp/with space', fstype: 'fuse.hammerstate', source: '/tmp/vol.img' },
    ]);
  });

  it('creates, writes, reads, lists, stats and releases through the operations, with real file handles', async () => {
    const fs = await mountMem((await memVolume()).device);
    const { ops, handles, lines } = await adapter(fs);
    const [created, fd] = await call<[number, number?]>((cb) => ops.create('/a.txt', 0o640, cb));
    expect(created).toBe(0);
    const data = Buffer.from('hello fuse');
    const [written] = await call<[number]>((cb) => ops.write('/a.txt', fd as number, data, data.length, 0, cb));
    expect(written).toBe(data.length);
    // The binding's buffer is reused after the answer: the API kept a copy.
    data.fill(0);
    const buffer = Buffer.alloc(64);
    const [read] = await call<[number]>((cb) => ops.read('/a.txt', fd as number, buffer, 64, 0, cb));
    expect(buffer.subarray(0, read).toString()).toBe('hello fuse');
    // Unlinked while open: the handle still reads, as the kernel's open file does.
    expect(await answer((cb) => ops.unlink('/a.txt', cb))).toBe(0);
    const [again] = await call<[number]>((cb) => ops.read('/a.txt', fd as number, buffer, 5, 6, cb));
    expect(buffer.subarray(0, again).toString()).toBe('fuse');
    expect(await answer((cb) => ops.release('/a.txt', fd as number, cb))).toBe(0);
    expect(handles.size).toBe(0);
    expect(await answer((cb) => ops.mkdir('/d', 0o750, cb))).toBe(0);
    const [code, stat] = await call<[number, FuseStat?]>((cb) => ops.getattr('/d', cb));
    expect(code).toBe(0);
    expect(stat?.mode).toBe(0o040750);
    const [listed, names] = await call<[number, string[]?]>((cb) => ops.readdir('/', cb));
    expect(listed).toBe(0);
    expect(names).toEqual(['.', '..', 'd']);
    expect(await answer((cb) => ops.getattr('/a.txt', cb))).toBe(-2);
    expect(await answer((cb) => ops.read('/a.txt', 99, buffer, 1, 0, cb))).toBe(-9);
    // fgetattr answers for the handle's file, whatever its path has become since.
    const [, kept] = await call<[number, number?]>((cb) => ops.create('/b.txt', 0o600, cb));
    expect(await answer((cb) => ops.rename('/b.txt', '/c.txt', cb))).toBe(0);
    const [statted, byHandle] = await call<[number, FuseStat?]>((cb) => ops.fgetattr('/b.txt', kept as number, cb));
    expect(statted).toBe(0);
    expect(byHandle?.mode).toBe(0o100600);
    expect(byHandle?.ino).toBe((await call<[number, FuseStat?]>((cb) => ops.getattr('/c.txt', cb)))[1]?.ino);
    expect(await answer((cb) => ops.fgetattr('/c.txt', 99, cb))).toBe(-9);
    expect(await answer((cb) => ops.release('/c.txt', kept as number, cb))).toBe(0);
    expect(lines).toEqual([]);
    await fs.unmount();
  });

  it('with the byte-names binding, takes paths as bytes (a character a byte) and gives names and link targets back so', async () => {
    const fs = await mountMem((await memVolume()).device);
    const { operations } = fuseOperations({ fs, owner: { uid: 0, gid: 0 }, log: () => undefined, byteNames: true });
    const ops = operations as FuseOperations;
    // What the kernel sends for Latin-1 café and cafè, and for UTF-8 "€" (three bytes, three characters here).
    const acute = '/caf\xe9';
    const grave = '/caf\xe8';
    const euro = Buffer.from('/€').toString('latin1');
    for (const path of [acute, grave, euro]) {
      const [created, fd] = await call<[number, number?]>((cb) => ops.create(path, 0o644, cb));
      expect(created).toBe(0);
      const data = Buffer.from(path, 'latin1');
      await call((cb) => ops.write(path, fd as number, data, data.length, 0, cb));
      expect(await answer((cb) => ops.release(path, fd as number, cb))).toBe(0);
    }
    expect(await answer((cb) => ops.symlink(acute, '/l\xe8', cb))).toBe(0);
    // The API names them as storage/format/names.ts says: escaped bytes, and text as text.
    expect((await fs.readdir('/')).sort()).toEqual(['caf\udce8', 'caf\udce9', 'l\udce8', '€']);
    expect((await fs.readFile('/caf\udce8')).toString('latin1')).toBe(grave);
    const [, names] = await call<[number, string[]?]>((cb) => ops.readdir('/', cb));
    expect(names?.slice(2).sort()).toEqual(['caf\xe8', 'caf\xe9', 'l\xe8', euro.slice(1)].sort());
    expect(await call((cb) => ops.readlink('/l\xe8', cb))).toEqual([0, acute]);
    await fs.unmount();
  });

  it('never throws: a call that throws or rejects with a bug answers EIO, is logged, and the next call works', async () => {
    const fs = await mountMem((await memVolume()).device);
    const broken = new Proxy(fs, {
      get(target, name, receiver) {
        // A synchronous throw from inside the call, as a bug in the API would give.
        if (name === 'lstat')
          return () => {
            throw new TypeError('broken lstat');
          };
        if (name === 'readdir') return () => Promise.reject(new RangeError('broken readdir'));
        return Reflect.get(target, name, receiver);
      },
    });
    const { ops, lines } = await adapter(broken);
    expect(await answer((cb) => ops.getattr('/', cb))).toBe(-5);
    expect(await answer((cb) => ops.readdir('/', cb))).toBe(-5);
    expect(lines.join('\n')).toMatch(/getattr \/: TypeError: broken lstat/);
    expect(lines.join('\n')).toMatch(/readdir \/: RangeError: broken readdir/);
    expect(await answer((cb) => ops.mkdir('/still-works', 0o755, cb))).toBe(0);
    await fs.unmount();
  });

  it('without FUSE (here: no fusermount on PATH), mount says what to install and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hammerstate-nofuse-'));
    try {
      const run = spawnSync(process.execPath, [BIN, 'mount', join(dir, 'vol.img'), dir], {
        encoding: 'utf8',
        env: { ...process.env, PATH: join(dir, 'empty') },
      });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('FUSE is not available here: missing fusermount');
      expect(run.stderr).toContain('apt-get install -y libfuse2 fuse3');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
