import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SYMLINK_LIMIT } from '../actors/resolve.js';
import { MAX_BOUND, MIN_BOUND } from '../storage/format/btree-node.js';
import { nameBytes, nameOf } from '../storage/format/names.js';
import { DIRHASH_COLLISION_SPAN, dirHashBase } from '../storage/format/records.js';
import { RecType, TID_MAX } from '../storage/layout.js';
import { checkImage, code, internals, memVolume, mountMem } from './support/fs.js';

async function fresh() {
  const { device } = await memVolume();
  const fs = await mountMem(device);
  await fs.mkdir('/a/b', { recursive: true });
  await fs.writeFile('/a/f', 'f');
  return { device, fs };
}

describe('names', () => {
  it('NUL is EINVAL anywhere in a path or a symlink target; "/" only ever separates names', async () => {
    const { device, fs } = await fresh();
    for (const call of [
      fs.mkdir('/a/x\0y'),
      fs.writeFile('/a/x\0', 'x'),
      fs.open('/a/\0', 'w'),
      fs.stat('/a/f\0'),
      fs.rename('/a/f', '/a/g\0'),
      fs.link('/a/f', '/a/\0g'),
      fs.symlink('/a/f', '/a/l\0'),
      fs.symlink('/a/\0f', '/a/l'),
      fs.unlink('/a/f\0'),
    ]) {
      expect(await code(call)).toBe('EINVAL');
    }
    // A '/' in what looks like a name makes two names: the path walks through a.
    await fs.writeFile('/a//b///g', 'g');
    expect(await fs.readdir('/a/b')).toEqual(['g']);
    expect((await fs.readdir('/a')).sort()).toEqual(['b', 'f']);
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('"@@" is only special in the three view forms: such names cannot be created, any other is a name', async () => {
    const { device, fs } = await fresh();
    // dbench's load creates this one.
    await fs.writeFile('/a/@@@CDRW.TMP', 'tmp');
    await fs.mkdir('/a/x@@y');
    await fs.rename('/a/@@@CDRW.TMP', '/a/x@@y/@@b@@');
    expect(await fs.readFile('/a/x@@y/@@b@@', 'utf8')).toBe('tmp');
    expect((await fs.readdir('/a')).sort()).toEqual(['b', 'f', 'x@@y']);
    // `x@@0x<tid>` is x as of a TID, read-only; the root view forms only exist at a root.
    for (const [name, refused] of [
      ['f@@0x0000000000000001', 'EROFS'],
      ['g@@0x0000000000000001', 'EROFS'],
      ['@@0x0000000000000001', 'EINVAL'],
      ['@@PFS00001', 'EINVAL'],
    ]) {
      expect(await code(fs.writeFile(`/a/${name}`, 'x')), name).toBe(refused);
      expect(await code(fs.mkdir(`/a/b/${name}`)), name).toBe(refused);
      expect(await code(fs.rename('/a/f', `/a/${name}`)), name).toBe(refused);
    }
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('a name is at most 255 bytes (UTF-8 bytes, not characters), a path at most 4096', async () => {
    const { fs } = await fresh();
    const max = 'n'.repeat(255);
    await fs.writeFile(`/a/${max}`, 'x');
    expect(await fs.readFile(`/a/${max}`, 'utf8')).toBe('x');
    // 'é' is two bytes: 128 of them are 256 bytes in 128 characters.
    const wide = 'é'.repeat(128);
    expect(await code(fs.writeFile(`/a/${wide}`, 'x'))).toBe('ENAMETOOLONG');
    expect(await code(fs.mkdir(`/a/${wide}`))).toBe('ENAMETOOLONG');
    expect(await code(fs.symlink('/a/f', `/a/${wide}`))).toBe('ENAMETOOLONG');
    expect(await code(fs.rename('/a/f', `/a/${wide}`))).toBe('ENAMETOOLONG');
    // A lookup of a name too long is ENAMETOOLONG too, not ENOENT.
    expect(await code(fs.stat(`/a/${wide}`))).toBe('ENAMETOOLONG');
    const fits = `${'é'.repeat(127)}a`;
    await fs.writeFile(`/a/${fits}`, 'fits');
    expect(await fs.readdir('/a')).toContain(fits);
    // The path limit counts bytes too: 1366 three-byte characters are 4098 bytes.
    const euros = `/${'€'.repeat(200)}`.repeat(7).slice(0, 1367);
    expect(euros.length).toBeLessThan(4096);
    expect(await code(fs.stat(euros))).toBe('ENAMETOOLONG');
    expect(await code(fs.symlink(`/${'x'.repeat(4096)}`, '/a/long'))).toBe('ENAMETOOLONG');
    await fs.unmount();
  });

  it('bytes and names map one to one: any bytes read back as themselves, any text as itself', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
        const name = nameOf(bytes);
        expect(nameBytes(name)).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 3000 },
    );
    // Bytes near the edges of UTF-8: overlong forms, encoded surrogates, past U+10FFFF, cut sequences.
    for (const hex of ['c0af', 'e0808f', 'eda080', 'f4908080', 'f0', 'e282', 'e282ac', 'f09f92a9', 'ff', 'c3a9e9']) {
      const bytes = Buffer.from(hex, 'hex');
      expect(nameBytes(nameOf(bytes))?.toString('hex')).toBe(hex);
    }
    expect(nameOf(Buffer.from('e282ac', 'hex'))).toBe('€');
    expect(nameOf(Buffer.from('e9', 'hex'))).toBe('\udce9');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), (text) => {
        expect(nameOf(nameBytes(text) as Buffer)).toBe(text);
      }),
      { numRuns: 2000 },
    );
    // Strings that stand for no bytes: a lone surrogate outside U+DC80-U+DCFF, or escapes that spell UTF-8 text.
    expect(nameBytes('a\ud800')).toBeUndefined();
    expect(nameBytes('\udc41')).toBeUndefined();
    expect(nameBytes('\udcc3\udca9')).toBeUndefined();
  });

  it('a name of bytes that are not UTF-8 is stored as those bytes: Latin-1 names do not collide', async () => {
    const { device, fs } = await fresh();
    type Fs = typeof fs;
    // 'é' and 'è' in Latin-1: one byte each, neither UTF-8. Decoded lossily both would be U+FFFD.
    const e1 = nameOf(Buffer.from([0xe9]));
    const e2 = nameOf(Buffer.from([0xe8]));
    await fs.writeFile(`/a/caf${e1}`, 'one');
    await fs.writeFile(`/a/caf${e2}`, 'two');
    await fs.mkdir(`/a/d${e1}`);
    await fs.symlink(`/a/caf${e1}`, `/a/l${e2}`);
    const long = nameOf(Buffer.alloc(255, 0x80));
    await fs.writeFile(`/a/${long}`, 'long');
    expect(await code(fs.writeFile(`/a/${long}x`, 'x'))).toBe('ENAMETOOLONG');
    expect(await code(fs.writeFile('/a/\ud800', 'x'))).toBe('EINVAL');
    expect(await code(fs.stat('/a/\udcc3\udca9'))).toBe('EINVAL');
    expect(await code(fs.symlink('/a/\udc41', '/a/bad'))).toBe('EINVAL');
    const check = async (fs: Fs) => {
      expect(await fs.readFile(`/a/caf${e1}`, 'utf8')).toBe('one');
      expect(await fs.readFile(`/a/caf${e2}`, 'utf8')).toBe('two');
      expect(await fs.readFile(`/a/l${e2}`, 'utf8')).toBe('one');
      expect(await fs.readlink(`/a/l${e2}`)).toBe(`/a/caf${e1}`);
      expect(await fs.readFile(`/a/${long}`, 'utf8')).toBe('long');
      const names = (await fs.readdir('/a')).map((name) => nameBytes(name)?.toString('hex'));
      expect(names.sort()).toEqual(
        ['b', 'f', `caf\xe9`, `caf\xe8`, `d\xe9`, `l\xe8`, '\x80'.repeat(255)]
          .map((name) => Buffer.from(name, 'latin1').toString('hex'))
          .sort(),
      );
    };
    // In memory, flushed, and read back from the volume by a new mount.
    await check(fs);
    await fs.sync();
    await check(fs);
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
    const again = await mountMem(device);
    await check(again);
    await again.unmount();
  });

  it('two names of one hash get distinct keys, also when one was looked up before the other reached the volume', async () => {
    // Found by a search of random names: the CRC-31 of both is the same, so their entries share a collision span.
    const [a, b] = ['983KztVS4ClR', 'vaq79VQTRpVR'];
    expect(dirHashBase(a)).toBe(dirHashBase(b));
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.mkdir('/d');
    await fs.sync();
    // The miss for `a` is remembered with the span's keys then in use (none); `b` then takes the first and is committed.
    expect(await code(fs.stat(`/d/${a}`))).toBe('ENOENT');
    await fs.writeFile(`/d/${b}`, 'b');
    await fs.sync();
    await fs.writeFile(`/d/${a}`, 'a');
    await fs.sync();
    const span = dirHashBase(a);
    const keys = [...internals(fs).volume.scan(MIN_BOUND, { ...MAX_BOUND, createTid: 0 }, TID_MAX)]
      .filter((elm) => elm.recType === RecType.DIRENTRY && elm.key >= span && elm.key < span + DIRHASH_COLLISION_SPAN)
      .map((elm) => elm.key);
    expect(keys).toEqual([span, span + 1]);
    await fs.unlink(`/d/${b}`);
    expect(await fs.readFile(`/d/${a}`, 'utf8')).toBe('a');
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it(`symlinks are followed up to ${SYMLINK_LIMIT} times in one walk; a loop is ELOOP`, async () => {
    const { fs } = await fresh();
    expect(SYMLINK_LIMIT).toBe(32);
    await fs.symlink('/a/f', '/l0');
    for (let i = 1; i < SYMLINK_LIMIT; i++) await fs.symlink(`/l${i - 1}`, `/l${i}`);
    expect(await fs.readFile(`/l${SYMLINK_LIMIT - 1}`, 'utf8')).toBe('f');
    await fs.symlink(`/l${SYMLINK_LIMIT - 1}`, `/l${SYMLINK_LIMIT}`);
    expect(await code(fs.readFile(`/l${SYMLINK_LIMIT}`))).toBe('ELOOP');
    expect((await fs.lstat(`/l${SYMLINK_LIMIT}`)).isSymbolicLink()).toBe(true);
    await fs.symlink('self', '/a/self');
    expect(await code(fs.stat('/a/self'))).toBe('ELOOP');
    expect(await code(fs.writeFile('/a/self/x', 'x'))).toBe('ELOOP');
    await fs.symlink('../a/ping', '/a/pong');
    await fs.symlink('pong', '/a/ping');
    expect(await code(fs.open('/a/ping', 'r'))).toBe('ELOOP');
    expect(await code(fs.readdir('/a/pong/'))).toBe('ELOOP');
    await fs.unmount();
  });

  it('"." and ".." as POSIX says: walked through, never created, removed or renamed', async () => {
    const { device, fs } = await fresh();
    // Walking: '.' stays, '..' goes up ('/..' is '/'), also after a symlink (the target's parent).
    expect(await fs.readFile('/a/./b/../f', 'utf8')).toBe('f');
    expect(await fs.readFile('/../../a/f', 'utf8')).toBe('f');
    await fs.symlink('/a/b', '/tob');
    expect(await fs.readFile('/tob/../f', 'utf8')).toBe('f');
    await fs.writeFile('/a/b/../made', 'through ..');
    expect(await fs.readFile('/a/made', 'utf8')).toBe('through ..');
    expect((await fs.stat('/a/b/.')).ino).toBe((await fs.stat('/a/b')).ino);
    // '.' or a trailing '/' after a file: ENOTDIR.
    expect(await code(fs.stat('/a/f/.'))).toBe('ENOTDIR');
    expect(await code(fs.stat('/a/f/'))).toBe('ENOTDIR');
    expect(await code(fs.readFile('/a/f/..'))).toBe('ENOTDIR');
    expect((await fs.stat('/tob/')).isDirectory()).toBe(true);
    // Creating one: it exists.
    for (const call of [
      fs.mkdir('/a/.'),
      fs.mkdir('/a/..'),
      fs.mkdir('/'),
      fs.symlink('/x', '/a/.'),
      fs.link('/a/f', '/a/b/..'),
      fs.open('/a/.', 'wx'),
    ]) {
      expect(await code(call)).toBe('EEXIST');
    }
    expect(await code(fs.writeFile('/a/.', 'x'))).toBe('EISDIR');
    // Removing one.
    expect(await code(fs.rmdir('/a/b/.'))).toBe('EINVAL');
    expect(await code(fs.rmdir('/a/b/..'))).toBe('ENOTEMPTY');
    expect(await code(fs.rmdir('/a/f/.'))).toBe('ENOTDIR');
    expect(await code(fs.unlink('/a/b/.'))).toBe('EISDIR');
    expect(await code(fs.unlink('/a/f/.'))).toBe('ENOTDIR');
    expect(await code(fs.rmdir('/.'))).toBe('EINVAL');
    expect(await code(fs.rmdir('/'))).toBe('EBUSY');
    // Renaming from or to one.
    for (const [from, to] of [
      ['/a/b/.', '/c'],
      ['/a/b/..', '/c'],
      ['/a/f', '/a/b/.'],
      ['/a/f', '/a/b/..'],
    ]) {
      expect(await code(fs.rename(from as string, to as string))).toBe('EINVAL');
    }
    expect(await fs.readdir('/a/b')).toEqual([]);
    expect((await fs.readdir('/a')).sort()).toEqual(['b', 'f', 'made']);
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('a directory cannot be moved into itself or anything below it (EINVAL), however the path reaches it', async () => {
    const { device, fs } = await fresh();
    await fs.mkdir('/a/b/c/d', { recursive: true });
    await fs.symlink('/a/b/c', '/toc');
    await fs.sync();
    for (const [from, to] of [
      ['/a', '/a/x'],
      ['/a', '/a/b/c/d/x'],
      ['/a/b', '/a/b/c/x'],
      ['/a/b', '/toc/d/x'],
      ['/a/b/c/..', '/a/b/c/x'],
    ]) {
      const got = await code(fs.rename(from as string, to as string));
      expect([from, to, got]).toEqual([from, to, 'EINVAL']);
    }
    // Sideways and upwards are fine.
    await fs.rename('/a/b/c/d', '/a/d');
    await fs.rename('/a/b', '/a/d/b');
    expect((await fs.stat('/a/d/b/c')).isDirectory()).toBe(true);
    await fs.unmount();
    const again = await mountMem(device);
    expect(await code(again.rename('/a', '/a/d/b/c/under'))).toBe('EINVAL');
    await again.unmount();
    expect(checkImage(device).errors).toBe(0);
  });
});
