import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { mount } from '../actors/index.js';
import { exportTree, planVolumeTree } from '../cli/commands/export.js';
import { importTree, planHostTree } from '../cli/commands/import.js';
import type { Progress } from '../cli/progress.js';
import { wallClock } from '../cli/wall-clock.js';
import { cli, cliAsync } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-cli-fs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const BIN = fileURLToPath(new URL('../cli/hammerstate.js', import.meta.url));
const TID = /^0x[0-9a-f]{16}$/;
const quiet: Progress = { advance() {}, stop() {} };

/** How many of each kind a host tree holds, counted here, independently of the command's own walk. */
interface Census {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

function census(top: string): Census {
  const count: Census = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  // Paths as bytes: names that are not UTF-8 are counted as the entries they are.
  const visit = (path: Buffer) => {
    const stats = lstatSync(path);
    if (stats.isSymbolicLink()) count.symlinks++;
    else if (stats.isFile()) {
      count.files++;
      count.bytes += stats.size;
    } else if (stats.isDirectory()) {
      count.dirs++;
      for (const name of readdirSync(path, { encoding: 'buffer' }))
        visit(Buffer.concat([path, Buffer.from('/'), name]));
    }
  };
  visit(Buffer.from(top));
  return count;
}

/** Bytes that do not compress and do not repeat (a file > 1 MiB spans several chunks and data records). */
function noise(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/**
 * The first `limit` regular files of /usr/share/doc (small ones, symlinks
 * kept as links), so the copy stays a few seconds; generated text files where
 * there is no /usr/share/doc. Then the cases a copy gets wrong: an empty file,
 * an empty directory, a file over 1 MiB, a UTF-8 name, symlinks (one dangling),
 * an executable, a deep path.
 */
function sampleTree(top: string, limit = 200): void {
  mkdirSync(top);
  let files = 0;
  const copy = (from: string, to: string) => {
    for (const name of readdirSync(from).sort()) {
      if (files >= limit) return;
      const source = join(from, name);
      const target = join(to, name);
      const stats = lstatSync(source);
      if (stats.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
      else if (stats.isFile() && stats.size <= 256 * 1024) {
        copyFileSync(source, target);
        files++;
      } else if (stats.isDirectory()) {
        mkdirSync(target);
        copy(source, target);
      }
    }
  };
  const docs = join(top, 'doc');
  mkdirSync(docs);
  if (existsSync('/usr/share/doc')) copy('/usr/share/doc', docs);
  for (let i = 0; files < limit; i++, files++) {
    mkdirSync(join(docs, `package-${i % 20}`), { recursive: true });
    writeFileSync(join(docs, `package-${i % 20}`, `notes-${i}.txt`), `notes ${i}\n`.repeat(i * 7));
  }
  const extras = join(top, 'extras');
  mkdirSync(join(extras, 'empty-dir'), { recursive: true });
  writeFileSync(join(extras, 'empty-file'), '');
  writeFileSync(join(extras, 'big.bin'), noise(1024 * 1024 + 300_000, 7));
  writeFileSync(join(extras, 'héllo wörld ☃ 日本語.txt'), 'grüße\n');
  symlinkSync('big.bin', join(extras, 'link-to-big'));
  symlinkSync('../no/such/target', join(extras, 'dangling'));
  writeFileSync(join(extras, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  mkdirSync(join(extras, 'a', 'b', 'c', 'd'), { recursive: true });
  writeFileSync(join(extras, 'a', 'b', 'c', 'd', 'deep.txt'), 'deep\n');
  // Names that are not UTF-8 (Latin-1 é and è: one byte each), which a lossy decoding would make one name.
  const odd = join(top, 'latin1');
  mkdirSync(odd);
  const latin1 = (...parts: Array<string | number[]>) =>
    Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))));
  writeFileSync(latin1(odd, '/caf', [0xe9]), 'e acute\n');
  writeFileSync(latin1(odd, '/caf', [0xe8]), 'e grave\n');
  mkdirSync(latin1(odd, '/d', [0xe9]));
  writeFileSync(latin1(odd, '/d', [0xe9], '/', [0xff]), 'inside\n');
  symlinkSync(latin1('caf', [0xe9]), latin1(odd, '/l', [0xe9]));
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** `diff -r` that compares symlinks as links (their targets), not what they point to. */
function expectSameTree(expected: string, actual: string): void {
  const run = spawnSync('diff', ['-r', '--no-dereference', expected, actual], { encoding: 'utf8' });
  expect(run.stdout + run.stderr).toBe('');
  expect(run.status).toBe(0);
}

function mkfs(name: string): string {
  const path = join(dir, name);
  expect(cli(['mkfs', path, '--size', '256M', '--undo-size', '16M'], dir).status).toBe(0);
  return path;
}

describe('hammerstate import, export, ls, cat, history, snapshot', () => {
  const source = join(dir, 'source');
  sampleTree(source);
  const sourceCensus = census(source);

  it('import then export gives a tree diff -r finds identical, on the same mount and after a remount', async () => {
    expect(sourceCensus.files).toBeGreaterThanOrEqual(205);
    const volume = mkfs('tree.img');
    // In-process, one mount: what export reads comes from the inodes just written (cached, dirty).
    const fs = await mount(volume, { clock: wallClock });
    const imported = await importTree(fs, source, '/copy', await planHostTree(source), quiet);
    expect(imported).toEqual({ ...sourceCensus, skipped: [] });
    const sameMount = join(dir, 'same-mount');
    expect(await exportTree(fs, '/copy', sameMount, await planVolumeTree(fs, '/copy'), quiet)).toEqual(imported);
    await fs.unmount();
    expectSameTree(source, sameMount);
    // A new process: a new mount reads everything back from the volume file.
    const remounted = cli(['export', volume, '/copy', join(dir, 'remounted'), '--json'], dir);
    expect(remounted.stderr).toBe('');
    expect(remounted.status).toBe(0);
    expect(remounted.json()).toMatchObject({ ...sourceCensus, skipped: [], path: '/copy' });
    expectSameTree(source, join(dir, 'remounted'));
    expect(statSync(join(dir, 'remounted', 'extras', 'run.sh')).mode & 0o777).toBe(0o755);

    // The same through the command line, into a second tree of the same volume.
    const run = cli(['import', volume, source, '/nested/again', '--json'], dir);
    expect(run.status).toBe(0);
    expect(run.json()).toMatchObject({
      ...sourceCensus,
      skipped: [],
      path: '/nested/again',
      tid: expect.stringMatching(TID),
    });
    expect(run.stderr).toBe(''); // no TTY: no progress bar
    const text = cli(['export', volume, 'nested/again/', join(dir, 'again')], dir);
    expect(text.stdout).toBe(
      `exported ${volume}:/nested/again to ${join(dir, 'again')}: ${sourceCensus.files} files, ` +
        `${sourceCensus.dirs} directories, ${sourceCensus.symlinks} symlinks, ` +
        `${(sourceCensus.bytes / 1024 / 1024).toFixed(1)} MiB (${sourceCensus.bytes} bytes)\n`,
    );
    expectSameTree(source, join(dir, 'again'));
    // A single file, both ways: the destination is the copy itself.
    const big = join(source, 'extras', 'big.bin');
    expect(cli(['import', volume, big, '/single/big.bin'], dir).status).toBe(0);
    expect(cli(['export', volume, '/single/big.bin', join(dir, 'big.out')], dir).status).toBe(0);
    expectSameTree(big, join(dir, 'big.out'));
    expect(cli(['fsck', volume], dir).stdout).toMatch(/^clean: /m);
  });

  it('ls lists a directory sorted, -l with modes, sizes, TIDs and symlink targets; reading leaves the volume file as it was', () => {
    const volume = join(dir, 'tree.img');
    const bytesBefore = sha256(volume);
    const plain = cli(['ls', volume, '/copy/extras'], dir);
    expect(plain.status).toBe(0);
    expect(plain.stdout.split('\n')).toEqual([
      'a',
      'big.bin',
      'dangling',
      'empty-dir',
      'empty-file',
      'héllo wörld ☃ 日本語.txt',
      'link-to-big',
      'run.sh',
      '',
    ]);
    const long = cli(['ls', volume, '/copy/extras', '-l'], dir);
    expect(long.stdout).toMatch(/^-rwxr-xr-x +1 +18 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d 0x[0-9a-f]{16} run\.sh$/m);
    expect(long.stdout).toMatch(/^l[-rwx]{9} .* link-to-big -> big\.bin$/m);
    expect(long.stdout).toMatch(/^d[-rwx]{9} .* empty-dir$/m);
    const json = cli(['ls', volume, '/copy/extras/big.bin', '-l', '--json'], dir).json<{
      entries: Array<Record<string, unknown>>;
    }>();
    expect(json.entries).toEqual([
      expect.objectContaining({
        name: 'big.bin',
        type: 'file',
        size: 1024 * 1024 + 300_000,
        tid: expect.stringMatching(TID),
      }),
    ]);
    const root = cli(['ls', volume, '--json'], dir).json<{
      path: string;
      entries: Array<{ name: string; type: string }>;
    }>();
    expect(root.path).toBe('/');
    expect(root.entries.map((e) => `${e.name}:${e.type}`)).toEqual(['copy:dir', 'nested:dir', 'single:dir']);
    // ls, cat, history and export mount read-only: the volume file is not touched.
    expect(cli(['cat', volume, '/copy/extras/run.sh'], dir).stdout).toBe('#!/bin/sh\necho hi\n');
    expect(cli(['history', volume, '/copy/extras/run.sh'], dir).status).toBe(0);
    expect(cli(['export', volume, '/copy/extras', join(dir, 'extras-again')], dir).status).toBe(0);
    expect(sha256(volume)).toBe(bytesBefore);
  });

  it('import over an existing file rewrites it in place: two versions in history, the old one readable as of its TID', () => {
    const volume = mkfs('history.img');
    const hostDir = join(dir, 'history-src');
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, 'a.txt'), 'first version\n');
    const first = cli(['import', volume, hostDir, '/d', '--json'], dir);
    expect(first.status).toBe(0);
    const firstTid = first.json<{ tid: string }>().tid;
    const inoBefore = cli(['ls', volume, '/d', '--json'], dir).json<{ entries: Array<{ ino: number }> }>().entries[0]
      ?.ino;
    writeFileSync(join(hostDir, 'a.txt'), 'second, longer version\n');
    writeFileSync(join(hostDir, 'b.txt'), 'new\n');
    expect(cli(['import', volume, hostDir, '/d'], dir).status).toBe(0);

    const listed = cli(['ls', volume, '/d', '--json'], dir).json<{ entries: Array<{ name: string; ino: number }> }>();
    expect(listed.entries.map((e) => e.name)).toEqual(['a.txt', 'b.txt']);
    expect(listed.entries[0]?.ino).toBe(inoBefore); // the same inode, not a new file under the old name

    const history = cli(['history', volume, '/d/a.txt', '--json'], dir);
    expect(history.status).toBe(0);
    const versions = history.json<{ versions: Array<{ tid: number; tidHex: string; what: string[]; size: number }> }>()
      .versions;
    expect(versions.map((v) => v.size)).toEqual([14, 23]);
    expect(versions[1]?.what).toContain('data');
    for (const v of versions) expect(v.tidHex).toMatch(TID);
    expect(versions[0]?.tid).toBeLessThan(versions[1]?.tid ?? 0);
    const text = cli(['history', volume, '/d/a.txt'], dir).stdout.split('\n');
    expect(text[0]).toMatch(new RegExp(`^${versions[0]?.tidHex} .* 14 bytes .*/d/a\\.txt@@${versions[0]?.tidHex}$`));
    expect(text).toHaveLength(3);

    expect(cli(['cat', volume, '/d/a.txt'], dir).stdout).toBe('second, longer version\n');
    expect(cli(['cat', volume, `/d/a.txt@@${versions[0]?.tidHex}`], dir).stdout).toBe('first version\n');
    expect(cli(['cat', volume, `/d/a.txt@@${firstTid}`], dir).stdout).toBe('first version\n');
    expect(cli(['cat', volume, `/d@@${firstTid}/a.txt`], dir).stdout).toBe('first version\n');
    const asOf = cli(['ls', volume, `/d@@${firstTid}`, '--json'], dir);
    expect(asOf.json<{ entries: Array<{ name: string }> }>().entries.map((e) => e.name)).toEqual(['a.txt']);
    expect(cli(['cat', volume, '/d/a.txt', '--json'], dir).json()).toMatchObject({
      path: '/d/a.txt',
      size: 23,
      encoding: 'utf8',
      data: 'second, longer version\n',
    });
  });

  it('snapshot prints a TID that ls, cat and export read the volume as of', () => {
    const volume = join(dir, 'history.img');
    const snap = cli(['snapshot', volume, '--label', 'before the third'], dir);
    expect(snap.status).toBe(0);
    expect(snap.stdout).toMatch(/^0x[0-9a-f]{16}\n$/);
    const tid = snap.stdout.trim();
    writeFileSync(join(dir, 'history-src', 'a.txt'), 'third\n');
    rmSync(join(dir, 'history-src', 'b.txt'));
    writeFileSync(join(dir, 'history-src', 'c.txt'), 'after the snapshot\n');
    expect(cli(['import', volume, join(dir, 'history-src'), '/d'], dir).status).toBe(0);

    expect(cli(['cat', volume, '/d/a.txt'], dir).stdout).toBe('third\n');
    expect(cli(['cat', volume, `/d/a.txt@@${tid}`], dir).stdout).toBe('second, longer version\n');
    const then = cli(['ls', volume, `/d@@${tid}`, '--json'], dir).json<{ entries: Array<{ name: string }> }>();
    expect(then.entries.map((e) => e.name)).toEqual(['a.txt', 'b.txt']);
    const now = cli(['ls', volume, '/d', '--json'], dir).json<{ entries: Array<{ name: string }> }>();
    expect(now.entries.map((e) => e.name)).toEqual(['a.txt', 'b.txt', 'c.txt']); // import adds, never deletes

    const out = join(dir, 'as-of-snapshot');
    expect(cli(['export', volume, `/d@@${tid}`, out], dir).status).toBe(0);
    const expected = join(dir, 'expected-at-snapshot');
    mkdirSync(expected);
    writeFileSync(join(expected, 'a.txt'), 'second, longer version\n');
    writeFileSync(join(expected, 'b.txt'), 'new\n');
    expectSameTree(expected, out);
    // --asof: the whole volume as of the TID (an as-of mount), the same view.
    const mounted = cli(['ls', volume, '/d', '--asof', tid, '--json'], dir).json<{
      entries: Array<{ name: string }>;
    }>();
    expect(mounted.entries.map((e) => e.name)).toEqual(['a.txt', 'b.txt']);
    expect(cli(['cat', volume, '/d/a.txt', '--asof', tid], dir).stdout).toBe('second, longer version\n');
    const whole = join(dir, 'as-of-mount');
    expect(cli(['export', volume, '/d', whole, '--asof', tid], dir).status).toBe(0);
    expectSameTree(expected, whole);
    expect(cli(['ls', volume, '/', '--asof', 'yesterday', '--json'], dir).json()).toMatchObject({
      error: { code: 'EINVAL' },
      exitCode: 2,
    });

    const second = cli(['snapshot', volume, '--label', 'two', '--json'], dir);
    const json = second.json<{ tid: number; tidHex: string; label: string }>();
    expect(json).toEqual({ volume, tid: expect.any(Number), tidHex: expect.stringMatching(TID), label: 'two' });
    expect(json.tidHex > tid).toBe(true);
  });

  it('bad input: node-style codes, exit 2, and nothing written', async () => {
    const volume = join(dir, 'history.img');
    const hostDir = join(dir, 'history-src');
    type Versions = { versions: Array<{ tidHex: string }> };
    // Read-only runs, and runs that fail before they mount, go side by side.
    const [
      missingLs,
      missingCat,
      missingHistory,
      missingSnapshot,
      noHost,
      noPath,
      exists,
      isDir,
      noFile,
      notDir,
      noHistory,
      noArgs,
      emptyPath,
      history,
    ] = await Promise.all(
      [
        ['ls', 'missing.img', '/', '--json'],
        ['cat', 'missing.img', '/x'],
        ['history', 'missing.img', '/x'],
        ['snapshot', 'missing.img'],
        ['import', volume, join(dir, 'no-such-host-dir'), '/x', '--json'],
        ['export', volume, '/no/such/path', join(dir, 'never'), '--json'],
        ['export', volume, '/d', hostDir],
        ['cat', volume, '/d', '--json'],
        ['cat', volume, '/d/none', '--json'],
        ['ls', volume, '/d/a.txt/x', '--json'],
        ['history', volume, '/d/none', '--json'],
        ['import', volume],
        ['cat', volume, ''],
        ['history', volume, '/d/a.txt', '--json'],
      ].map((args) => cliAsync(args, dir)),
    );
    expect(missingLs?.status).toBe(2);
    expect(missingLs?.json()).toMatchObject({ error: { code: 'ENOENT' }, exitCode: 2 });
    for (const run of [missingCat, missingHistory, missingSnapshot])
      expect(run).toMatchObject({ status: 2, stderr: expect.stringContaining('ENOENT') });
    expect(existsSync(join(dir, 'missing.img'))).toBe(false);
    expect(noHost?.status).toBe(2);
    expect(noHost?.json()).toMatchObject({
      error: { code: 'ENOENT', message: expect.stringContaining('no-such-host-dir') },
    });
    expect(noPath?.status).toBe(2);
    expect(noPath?.json()).toMatchObject({ error: { code: 'ENOENT' }, exitCode: 2 });
    expect(existsSync(join(dir, 'never'))).toBe(false);
    expect(exists).toMatchObject({ status: 2, stderr: expect.stringContaining('EEXIST') });
    expect(isDir?.json()).toMatchObject({ error: { code: 'EISDIR' }, exitCode: 2 });
    expect(noFile?.json()).toMatchObject({ error: { code: 'ENOENT' }, exitCode: 2 });
    expect(notDir?.json()).toMatchObject({ error: { code: 'ENOTDIR' }, exitCode: 2 });
    expect(noHistory?.json()).toMatchObject({ error: { code: 'ENOENT' }, exitCode: 2 });
    expect(noArgs?.status).toBe(2);
    expect(emptyPath).toMatchObject({ status: 2, stderr: expect.stringContaining('EINVAL') });

    // Writers one at a time. An as-of path is read-only: the write is refused, the volume keeps what it had.
    const before = history?.json<Versions>().versions ?? [];
    const tid = before[0]?.tidHex;
    const readOnly = cli(['import', volume, hostDir, `/d@@${tid}`, '--json'], dir);
    expect(readOnly.status).toBe(2);
    expect(readOnly.json()).toMatchObject({ error: { code: 'EROFS' }, exitCode: 2 });
    const single = cli(['import', volume, join(hostDir, 'a.txt'), `/d/a.txt@@${tid}`, '--json'], dir);
    expect(single.json()).toMatchObject({ error: { code: 'EROFS' }, exitCode: 2 });
    // A directory over a file is refused, not merged.
    const overFile = cli(['import', volume, hostDir, '/d/a.txt', '--json'], dir);
    expect(overFile.json()).toMatchObject({ error: { code: 'EEXIST' }, exitCode: 2 });
    const label = cli(['snapshot', volume, '--label', 'x'.repeat(64), '--json'], dir);
    expect(label.json()).toMatchObject({
      error: { code: 'EINVAL', message: expect.stringContaining('63') },
      exitCode: 2,
    });

    const [after, content, fsck] = await Promise.all([
      cliAsync(['history', volume, '/d/a.txt', '--json'], dir),
      cliAsync(['cat', volume, '/d/a.txt'], dir),
      cliAsync(['fsck', volume], dir),
    ]);
    expect(after.json<Versions>().versions).toEqual(before);
    expect(content.stdout).toBe('third\n');
    expect(fsck.stdout).toMatch(/^clean: /m);
  });

  it('a file larger than the volume is ENOSPC (exit 1) and leaves a volume fsck finds clean', () => {
    const volume = join(dir, 'small.img');
    expect(cli(['mkfs', volume, '--size', '64M', '--undo-size', '8M'], dir).status).toBe(0);
    const huge = join(dir, 'huge.bin');
    writeFileSync(huge, Buffer.alloc(80 * 1024 * 1024, 1));
    const run = cli(['import', volume, huge, '/huge.bin', '--json'], dir);
    rmSync(huge);
    expect(run.json()).toMatchObject({ error: { code: 'ENOSPC' }, exitCode: 1 });
    expect(run.status).toBe(1);
    expect(cli(['fsck', volume], dir)).toMatchObject({ status: 0, stdout: expect.stringMatching(/^clean: /m) });
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('draws a progress bar on stderr when it is a terminal (script(1) provides one)', () => {
    const volume = join(dir, 'history.img');
    const command = `"${process.execPath}" "${BIN}" import "${volume}" "${join(source, 'extras')}" /tty`;
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/import \[[^\]]*\] +\d+% \| \d+\/5 files \| [\d.]+\/1\.3 MiB/);
    expect(run.stdout).toMatch(/imported .*: 5 files/);
  });
});
