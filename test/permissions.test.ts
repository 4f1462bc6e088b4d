import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileSystem } from '../actors/api.js';
import { F_OK, mkfs, mount, R_OK, W_OK, X_OK } from '../actors/index.js';
import { formatTid } from '../storage/layout.js';
import { expectExactReplay } from './support/audit.js';
import { checkImage, code, memVolume, mountMem } from './support/fs.js';

const ALICE = { uid: 1001, gid: 100 };
const BOB = { uid: 1002, gid: 100 };
const EVE = { uid: 1003, gid: 300, groups: [400] };

/** A volume where root made /home/alice (alice's, 0755) and /shared (root's, group 100, 0775). */
async function homes() {
  const { device } = await memVolume();
  const fs = await mountMem(device);
  await fs.mkdir('/home/alice', { recursive: true });
  await fs.chown('/home/alice', ALICE.uid, ALICE.gid);
  await fs.mkdir('/shared', { mode: 0o775 });
  await fs.chown('/shared', 0, 100);
  return { device, fs, alice: fs.as(ALICE), bob: fs.as(BOB), eve: fs.as(EVE) };
}

describe('permissions: mode bits, owner and group for a caller', () => {
  it('the default identity is root; fs.as(...) checks as another caller and validates it', async () => {
    const { fs, alice } = await homes();
    expect(fs.caller).toEqual({ uid: 0, gid: 0, groups: [] });
    expect(alice.caller).toEqual({ uid: 1001, gid: 100, groups: [] });
    expect(alice.as(BOB).caller.uid).toBe(BOB.uid);
    for (const bad of [{ uid: -1, gid: 0 }, { uid: 1.5, gid: 0 }, { uid: 1, gid: 1, groups: ['x'] }, null]) {
      expect(() => fs.as(bad as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    // Root reads and writes whatever the mode says.
    await fs.writeFile('/locked', 'secret', { mode: 0o000 });
    expect(await fs.readFile('/locked', 'utf8')).toBe('secret');
    await fs.appendFile('/locked', '!');
    // ...but executes a file only when some x bit is set.
    expect(await code(fs.access('/locked', X_OK))).toBe('EACCES');
    await fs.chmod('/locked', 0o010);
    expect(await code(fs.access('/locked', X_OK))).toBeUndefined();
    expect(await code(fs.access('/', R_OK | W_OK | X_OK))).toBeUndefined();
    expect(await code(fs.access('/nope'))).toBe('ENOENT');
    expect(await code(fs.access('/locked', 8))).toBe('EINVAL');
    await fs.unmount();
  });

  it('new files get the caller uid and the directory group; the owner class decides, not a union', async () => {
    const { device, fs, alice, bob, eve } = await homes();
    await alice.writeFile('/home/alice/notes', 'mine', { mode: 0o640 });
    await alice.mkdir('/home/alice/dir');
    await alice.symlink('notes', '/home/alice/link');
    const fh = await alice.open('/home/alice/opened', 'w');
    await fh.close();
    for (const name of ['notes', 'dir', 'link', 'opened']) {
      const st = await fs.lstat(`/home/alice/${name}`);
      expect([name, st.uid, st.gid]).toEqual([name, ALICE.uid, ALICE.gid]);
    }
    // In /shared (group 100, set by root) eve's file takes group 100, not her own 300.
    await fs.chmod('/shared', 0o777);
    await eve.writeFile('/shared/eve', 'e');
    expect(await fs.stat('/shared/eve')).toMatchObject({ uid: EVE.uid, gid: 100 });
    // Group class: bob (group 100) may read alice's 0640 file; eve (other) may not.
    expect(await bob.readFile('/home/alice/notes', 'utf8')).toBe('mine');
    expect(await code(eve.readFile('/home/alice/notes'))).toBe('EACCES');
    expect(await code(bob.writeFile('/home/alice/notes', 'x'))).toBe('EACCES');
    expect(await code(bob.appendFile('/home/alice/notes', 'x'))).toBe('EACCES');
    expect(await code(bob.truncate('/home/alice/notes'))).toBe('EACCES');
    expect(await code(bob.open('/home/alice/notes', 'r+'))).toBe('EACCES');
    expect(await code(bob.open('/home/alice/notes', 'a'))).toBe('EACCES');
    expect(await code(bob.access('/home/alice/notes', W_OK))).toBe('EACCES');
    expect(await code(bob.access('/home/alice/notes', R_OK))).toBeUndefined();
    // The owner class applies to the owner even when the group class would grant more.
    await alice.chmod('/home/alice/notes', 0o070);
    expect(await code(alice.readFile('/home/alice/notes'))).toBe('EACCES');
    expect(await bob.readFile('/home/alice/notes', 'utf8')).toBe('mine');
    expect(await fs.readFile('/home/alice/notes', 'utf8')).toBe('mine');
    await fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });

  it('search (x) on every directory of a path; read on readdir; write and search to add or remove', async () => {
    const { fs, alice, bob } = await homes();
    await alice.mkdir('/home/alice/private/deep', { recursive: true });
    await alice.writeFile('/home/alice/private/deep/f', 'f');
    await alice.chmod('/home/alice/private', 0o700);
    await fs.symlink('/home/alice/private/deep', '/shortcut');
    for (const call of [
      bob.readFile('/shortcut/f'),
      bob.stat('/home/alice/private/deep/f'),
      bob.readFile('/home/alice/private/deep/f'),
      bob.readdir('/home/alice/private/deep'),
      bob.access('/home/alice/private/deep'),
      bob.stat('/home/alice/private/nothing'),
      bob.stat('/home/alice/private/deep/../deep/f'),
    ]) {
      expect(await code(call)).toBe('EACCES');
    }
    // x without r: names can be looked up, not listed.
    await alice.chmod('/home/alice/private', 0o711);
    expect((await bob.stat('/home/alice/private/deep/f')).size).toBe(1);
    expect(await code(bob.readdir('/home/alice/private'))).toBe('EACCES');
    // r without x: listed, but nothing below is reachable.
    await alice.chmod('/home/alice/private', 0o744);
    expect(await bob.readdir('/home/alice/private')).toEqual(['deep']);
    expect(await code(bob.stat('/home/alice/private/deep'))).toBe('EACCES');
    // Adding and removing entries needs write and search on the directory (alice's home is 0755).
    for (const call of [
      bob.writeFile('/home/alice/new', 'x'),
      bob.open('/home/alice/new', 'wx'),
      bob.appendFile('/home/alice/new', 'x'),
      bob.mkdir('/home/alice/newdir'),
      bob.symlink('/x', '/home/alice/newlink'),
      bob.link('/home/alice/private/deep/f', '/home/alice/hard'),
      bob.unlink('/home/alice/private/deep/f'),
      bob.rmdir('/home/alice/private/deep'),
      bob.rename('/home/alice/private', '/home/alice/moved'),
      bob.rename('/shared', '/home/alice/shared'),
    ]) {
      expect(await code(call)).toBe('EACCES');
    }
    expect(await fs.readdir('/home/alice')).toEqual(['private']);
    // A directory moved to another parent needs write on itself ('..' changes).
    await alice.chmod('/home/alice/private/deep', 0o555);
    await alice.mkdir('/home/alice/other');
    expect(await code(alice.rename('/home/alice/private/deep', '/home/alice/other/deep'))).toBe('EACCES');
    await alice.rename('/home/alice/private/deep', '/home/alice/private/same-parent');
    await alice.chmod('/home/alice/private/same-parent', 0o755);
    await alice.rename('/home/alice/private/same-parent', '/home/alice/other/deep');
    expect(await alice.readFile('/home/alice/other/deep/f', 'utf8')).toBe('f');
    // Root ignores all of it (directories are always searchable for root).
    await fs.chmod('/home/alice/other', 0o000);
    expect(await fs.readFile('/home/alice/other/deep/f', 'utf8')).toBe('f');
    await fs.unmount();
  });

  it('chmod, chflags and utimes are the owner’s or root’s; chown of the owner is root’s, of the group the owner’s', async () => {
    const { device, fs, alice, bob, eve } = await homes();
    await alice.writeFile('/home/alice/f', 'f', { mode: 0o666 });
    expect(await code(bob.chmod('/home/alice/f', 0o777))).toBe('EPERM');
    expect(await code(bob.chflags('/home/alice/f', 0))).toBe('EPERM');
    expect(await code(bob.utimes('/home/alice/f', 1, 2))).toBe('EPERM');
    expect(await code(bob.chown('/home/alice/f', BOB.uid, -1))).toBe('EPERM');
    await alice.chmod('/home/alice/f', 0o600);
    await alice.utimes('/home/alice/f', 10, 20);
    expect((await fs.stat('/home/alice/f')).mtimeMs).toBe(20_000);
    // The owner may not give the file away, nor pick a group it is not in.
    expect(await code(alice.chown('/home/alice/f', BOB.uid, -1))).toBe('EPERM');
    expect(await code(alice.chown('/home/alice/f', -1, 300))).toBe('EPERM');
    // Setting set-group-id on a file of a group the caller is not in: EPERM (BSD's ufs_chmod).
    await fs.chown('/home/alice/f', -1, 300);
    expect(await code(alice.chmod('/home/alice/f', 0o2644))).toBe('EPERM');
    // The owner may change the group to one of its groups; set-id bits go with the change.
    await fs.chown('/home/alice/f', EVE.uid, 300);
    await fs.chmod('/home/alice/f', 0o6755);
    await eve.chown('/home/alice/f', -1, 400);
    expect(await fs.stat('/home/alice/f')).toMatchObject({ uid: EVE.uid, gid: 400 });
    expect((await fs.stat('/home/alice/f')).mode & 0o7777).toBe(0o755);
    // Root gives anything to anyone, set-id bits kept.
    await fs.chmod('/home/alice/f', 0o4755);
    await fs.chown('/home/alice/f', ALICE.uid, ALICE.gid);
    expect(await fs.stat('/home/alice/f')).toMatchObject({ uid: ALICE.uid, gid: ALICE.gid, mode: 0o104755 });
    expect(await code(fs.chown('/home/alice/f', -2, 0))).toBe('EINVAL');
    // Nothing changed by a refusal: what each call left is what was committed.
    await fs.unmount();
    const again = await mountMem(device);
    expect(await again.stat('/home/alice/f')).toMatchObject({ uid: ALICE.uid, gid: ALICE.gid, mode: 0o104755 });
    await again.unmount();
  });

  it('a sticky directory: only the entry’s owner, the directory’s owner or root may unlink or rename', async () => {
    const { fs, alice, bob, eve } = await homes();
    await fs.mkdir('/tmp', { mode: 0o1777 });
    await alice.writeFile('/tmp/alice', 'a');
    await bob.writeFile('/tmp/bob', 'b');
    expect(await code(bob.unlink('/tmp/alice'))).toBe('EPERM');
    expect(await code(bob.rename('/tmp/alice', '/tmp/taken'))).toBe('EPERM');
    expect(await code(bob.rename('/tmp/bob', '/tmp/alice'))).toBe('EPERM');
    await alice.mkdir('/tmp/adir');
    expect(await code(bob.rmdir('/tmp/adir'))).toBe('EPERM');
    await bob.rename('/tmp/bob', '/tmp/bob2');
    await bob.unlink('/tmp/bob2');
    await alice.unlink('/tmp/alice');
    await eve.writeFile('/tmp/eve', 'e');
    await fs.unlink('/tmp/eve');
    // The directory's owner may remove anything in it.
    await fs.chown('/tmp', ALICE.uid, ALICE.gid);
    await bob.writeFile('/tmp/bob', 'b');
    await alice.unlink('/tmp/bob');
    expect((await fs.readdir('/tmp')).sort()).toEqual(['adir']);
    await fs.unmount();
  });

  it('snapshot, PFS create/destroy, prune and reblock are root’s (HAMMER ioctls)', async () => {
    const { fs, alice } = await homes();
    expect(await code(alice.snapshot('x'))).toBe('EPERM');
    expect(await code(alice.pfs.create('x'))).toBe('EPERM');
    expect(await code(alice.prune(1))).toBe('EPERM');
    expect(await code(alice.reblock(100))).toBe('EPERM');
    const pfs = await fs.pfs.create('p');
    expect(await code(alice.pfs.destroy(pfs.id))).toBe('EPERM');
    expect(await alice.snapshots()).toEqual([]);
    await fs.pfs.destroy(pfs.id);
    // W_OK on an as-of view is EROFS (access(2) on a read-only file system), for root too.
    const tid = await fs.snapshot('ro');
    expect(await code(fs.access(`/shared@@${formatTid(tid)}`, W_OK))).toBe('EROFS');
    expect(await code(alice.access(`/shared@@${formatTid(tid)}`, R_OK | X_OK))).toBeUndefined();
    await fs.unmount();
  });

  it('a mount made as a caller checks every call as it, and a logged run with fs.as() replays exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hammerstate-perms-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const volume = join(dir, 'perms.hsvol');
    await mkfs(volume, { size: 64 * 1024 * 1024, undoBytes: 8 * 1024 * 1024 });
    const root = await mount(volume);
    await root.mkdir('/home/alice', { recursive: true });
    await root.chown('/home/alice', ALICE.uid, ALICE.gid);
    await workload(root.as(ALICE), root.as(BOB));
    await root.unmount();
    const asAlice = await mount(volume, { caller: ALICE });
    expect(asAlice.caller.uid).toBe(ALICE.uid);
    expect(await code(asAlice.writeFile('/at-root', 'x'))).toBe('EACCES');
    await asAlice.writeFile('/home/alice/second', 'two');
    expect((await asAlice.as({ uid: 0, gid: 0 }).stat('/home/alice/second')).uid).toBe(ALICE.uid);
    await asAlice.unmount();
    expect(await code(mount(volume, { caller: { uid: 'x' } as never }))).toBe('EINVAL');
    await expectExactReplay(volume, dir);
  });

  it('F_OK and the access bits are exported with their POSIX values', () => {
    expect([F_OK, R_OK, W_OK, X_OK]).toEqual([0, 4, 2, 1]);
  });
});

/** Calls as two users, denials included (they are part of the logged run). */
async function workload(alice: FileSystem, bob: FileSystem): Promise<void> {
  await alice.writeFile('/home/alice/a', 'alice', { mode: 0o600 });
  const fh = await alice.open('/home/alice/log', 'w+');
  await fh.write('line');
  await fh.close();
  await code(bob.readFile('/home/alice/a'));
  await code(bob.unlink('/home/alice/a'));
  await bob.readFile('/home/alice/log');
  await alice.chmod('/home/alice/a', 0o644);
  await bob.readFile('/home/alice/a');
  await code(bob.access('/home/alice/a', W_OK));
}
