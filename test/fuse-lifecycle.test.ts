import { spawnSync } from 'node:child_process';
import * as host from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mount } from '../actors/index.js';
import { bindingPatches } from '../cli/fuse/binding.js';
import { BINDING_PATCHES } from '../cli/fuse/binding-patches.js';
import { formatTid } from '../storage/layout.js';
import {
  BIN,
  cleanUp,
  describeFuse,
  expectClean,
  type RunningMount,
  scratchVolume,
  sh,
  startMount,
  stopMount,
  within,
} from './support/fuse.js';

/**
 * A FUSE mount's life: errors as errnos, as-of paths read-only, inode
 * numbers that stay, a file unlinked while open, and every way a mount ends
 * (SIGINT, `fusermount -u` from outside, kill -9 then a remount that
 * recovers, the background start).
 */

async function errorCode(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describeFuse(
  'the life of a FUSE mount',
  ['bash', 'fusermount', 'python3', 'dd', 'sha256sum', 'find', 'setpriv'],
  () => {
    let dir: string | undefined;
    let volume = '';
    let mnt = '';
    let running: RunningMount | undefined;
    let tid = 0;
    let docIno = 0;

    beforeAll(async () => {
      ({ dir, volume, mnt } = await scratchVolume(256));
      const fs = await mount(volume);
      await fs.writeFile('/doc.txt', 'version 1');
      await fs.mkdir('/dir');
      tid = await fs.snapshot('before the mount');
      docIno = (await fs.stat('/doc.txt')).ino;
      await fs.unmount();
      running = await startMount(volume, mnt, ['--allow-other']);
    });
    afterAll(() => cleanUp(running, dir));

    it('answers errors with their errno', async () => {
      expect(await errorCode(host.readFile(join(mnt, 'missing')))).toBe('ENOENT');
      expect(await errorCode(host.mkdir(join(mnt, 'dir')))).toBe('EEXIST');
      await host.writeFile(join(mnt, 'dir', 'child'), 'x');
      expect(await errorCode(host.rmdir(join(mnt, 'dir')))).toBe('ENOTEMPTY');
      expect(await errorCode(host.readFile(join(mnt, 'dir')))).toBe('EISDIR');
      // The API has no FIFOs or devices: mknod of one is EPERM.
      await expect(sh('mkfifo mnt/fifo', dir as string)).rejects.toThrow(/Operation not permitted/);
      expect(await errorCode(host.rename(join(mnt, 'dir'), join(mnt, 'dir', 'inside')))).toBe('EINVAL');
    });

    it('reads name@@0x<tid> as of the snapshot, and refuses to write there (EROFS)', async () => {
      await host.writeFile(join(mnt, 'doc.txt'), 'version 2');
      const asOf = join(mnt, `doc.txt@@${formatTid(tid)}`);
      expect(await host.readFile(asOf, 'utf8')).toBe('version 1');
      expect(await host.readFile(join(mnt, 'doc.txt'), 'utf8')).toBe('version 2');
      expect(await errorCode(host.writeFile(asOf, 'no'))).toBe('EROFS');
      expect(await errorCode(host.mkdir(join(mnt, `dir@@${formatTid(tid)}`, 'new')))).toBe('EROFS');
      expect(await errorCode(host.unlink(asOf))).toBe('EROFS');
    });

    it("lets the kernel check modes and owners (default_permissions): a non-owner is refused; new files are their maker's", async () => {
      await host.writeFile(join(mnt, 'private.txt'), 'secret', { mode: 0o600 });
      await host.writeFile(join(mnt, 'public.txt'), 'public', { mode: 0o644 });
      await host.mkdir(join(mnt, 'shared'));
      await host.chmod(join(mnt, 'shared'), 0o777);
      const nobody = (command: string) =>
        sh(`setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c '${command}' 2>&1; echo "exit $?"`, mnt);
      expect(await nobody('cat public.txt')).toBe('publicexit 0\n');
      expect(await nobody('cat private.txt')).toMatch(/Permission denied\nexit 1/);
      expect(await nobody('echo more >> public.txt')).toMatch(/Permission denied\nexit 2/);
      expect(await nobody('touch new.txt')).toMatch(/Permission denied\nexit 1/);
      expect(await nobody('chmod 666 public.txt')).toMatch(/Operation not permitted\nexit 1/);
      expect(await nobody('echo mine > shared/by-nobody.txt && mkdir shared/dir && ln -s dir shared/link')).toBe(
        'exit 0\n',
      );
      // The patched binding says who asked: what nobody made is nobody's, in nobody's group (Linux's rule:
      // the directory is not set-group-ID).
      const nobodyUid = Number((await sh('id -u nobody', mnt)).trim());
      const nobodyGid = Number((await sh('id -g nobody', mnt)).trim());
      expect((await host.stat(join(mnt, 'shared'))).gid).not.toBe(nobodyGid);
      for (const made of ['by-nobody.txt', 'dir', 'link']) {
        const st = await host.lstat(join(mnt, 'shared', made));
        expect([made, st.uid, st.gid]).toEqual([made, nobodyUid, nobodyGid]);
      }
      expect(await nobody('echo again >> shared/by-nobody.txt && chmod 600 shared/by-nobody.txt')).toBe('exit 0\n');
      // What root makes stays root's.
      await host.writeFile(join(mnt, 'shared', 'by-root.txt'), 'x');
      expect((await host.stat(join(mnt, 'shared', 'by-root.txt'))).uid).toBe(0);
      expect(await host.readFile(join(mnt, 'public.txt'), 'utf8')).toBe('public');
    });

    it('sets access and modification times apart (utimens), as tar -x and cp -p do', async () => {
      await host.writeFile(join(mnt, 'times.txt'), 'x');
      await host.utimes(join(mnt, 'times.txt'), 1_500_000_000, 1_600_000_000);
      const st = await host.stat(join(mnt, 'times.txt'));
      expect([st.atimeMs, st.mtimeMs]).toEqual([1_500_000_000_000, 1_600_000_000_000]);
    });

    it('sets one time alone and leaves the other (touch -m, touch -a: UTIME_OMIT), or sets both to now', async () => {
      // The binary the mount loads was rebuilt with every patch (postinstall); the times below depend on it.
      expect([...bindingPatches()].sort()).toEqual(BINDING_PATCHES.map((patch) => patch.name).sort());
      const times = async () => {
        const st = await host.stat(join(mnt, 'one-time.txt'));
        return [st.atimeMs, st.mtimeMs];
      };
      await host.writeFile(join(mnt, 'one-time.txt'), 'x');
      await host.utimes(join(mnt, 'one-time.txt'), 1_500_000_000, 1_600_000_000);
      await sh("touch -m -d '2001-02-03 04:05:06Z' mnt/one-time.txt", dir as string);
      expect(await times()).toEqual([1_500_000_000_000, 981_173_106_000]);
      await sh("touch -a -d '2002-02-03 04:05:06Z' mnt/one-time.txt", dir as string);
      expect(await times()).toEqual([1_012_709_106_000, 981_173_106_000]);
      const before = Date.now();
      await sh('touch mnt/one-time.txt', dir as string);
      const [atime = 0, mtime = 0] = await times();
      expect(atime).toBe(mtime);
      expect(atime).toBeGreaterThanOrEqual(before - 1000);
      expect(atime).toBeLessThanOrEqual(Date.now() + 1000);
    });

    it('refuses a second mount of the same volume while it is mounted (EBUSY, exit 2)', async () => {
      const other = join(dir as string, 'other');
      await host.mkdir(other);
      const second = spawnSync(process.execPath, [BIN, 'mount', volume, other, '--foreground'], { encoding: 'utf8' });
      expect(second.status).toBe(2);
      expect(second.stderr).toContain(`EBUSY: ${volume} is already mounted on ${mnt}`);
    });

    it('shows the obj_id as the inode number (all 64 bits), the root as 1', async () => {
      expect(docIno).toBeGreaterThan(2 ** 32);
      expect((await host.stat(join(mnt, 'doc.txt'), { bigint: true })).ino).toBe(BigInt(docIno));
      expect((await host.stat(mnt)).ino).toBe(1);
      const listed = (await sh('ls -i mnt/doc.txt', dir as string)).trim().split(/\s+/)[0];
      expect(listed).toBe(String(docIno));
      // readdir's entries carry it too (find -inum matches on them).
      expect((await sh(`find mnt -maxdepth 1 -inum ${docIno}`, dir as string)).trim()).toBe('mnt/doc.txt');
    });

    it('keeps a file unlinked while open readable and writable until closed, then deletes its inode', async () => {
      const out = await sh(
        [
          'exec 3<>mnt/open.txt',
          'echo before >&3',
          'rm mnt/open.txt',
          'test ! -e mnt/open.txt',
          'echo after >&3',
          'cat /proc/self/fd/3',
          'exec 3>&-',
        ].join('; '),
        dir as string,
      );
      expect(out).toBe('before\nafter\n');
      // libfuse parked the open file under a hidden name; the last close removed it.
      expect((await host.readdir(mnt)).filter((name) => name.startsWith('.fuse_hidden'))).toEqual([]);
    });

    it('ends on SIGINT with exit 0; the volume counts exactly the inodes the tree has; the session replays', async () => {
      const entries = Number((await sh('find mnt | wc -l', dir as string)).trim());
      expect(await stopMount(running as RunningMount, 'SIGINT')).toBe(0);
      const fs = await mount(volume, { readOnly: true });
      expect((await fs.statfs()).files).toBe(entries);
      await fs.unmount();
      // The FUSE session went through the API, into the volume's event log: replay re-executes it, event for event.
      const replay = spawnSync(process.execPath, [BIN, 'replay', `${volume}.events.sqlite`, '--check'], {
        encoding: 'utf8',
      });
      expect(replay.stdout + replay.stderr).toContain('every derived event matches the log');
      expect(replay.status).toBe(0);
    });

    it('ends after fusermount -u from outside: exit 0, and what was written is on the volume', async () => {
      running = await startMount(volume, mnt);
      expect((await host.stat(join(mnt, 'doc.txt'))).ino).toBe(docIno);
      await host.writeFile(join(mnt, 'late.txt'), 'written just before the unmount');
      await sh('fusermount -u mnt', dir as string);
      expect(await within(running.exited, 20_000, 'no exit after fusermount -u')).toBe(0);
      expect(running.stderr()).toContain('was unmounted');
      const fs = await mount(volume, { readOnly: true });
      expect(await fs.readFile('/late.txt', 'utf8')).toBe('written just before the unmount');
      await fs.unmount();
    });

    it('after kill -9, the next mount detaches the dead mount, recovers, and keeps what was fsynced', async () => {
      running = await startMount(volume, mnt);
      await sh(
        'printf durable > mnt/fsynced.txt && python3 -c "import os; fd=os.open(\'mnt/fsynced.txt\', os.O_RDWR); os.fsync(fd)"',
        dir as string,
      );
      await sh('dd if=/dev/urandom of=mnt/big.bin bs=64k count=64 conv=fsync status=none', dir as string);
      const sum = (await sh('sha256sum < mnt/big.bin', dir as string)).trim();
      expect(await stopMount(running, 'SIGKILL')).toBe('SIGKILL');
      expect(await errorCode(host.stat(mnt))).toBe('ENOTCONN');
      running = await startMount(volume, mnt);
      expect(running.stderr()).toContain('dead FUSE mount');
      expect(await host.readFile(join(mnt, 'fsynced.txt'), 'utf8')).toBe('durable');
      expect((await sh('sha256sum < mnt/big.bin', dir as string)).trim()).toBe(sum);
      expect(await stopMount(running)).toBe(0);
      expectClean(volume);
    });

    it('starts in the background by default, and that process ends with fusermount -u', async () => {
      const started = spawnSync(process.execPath, [BIN, 'mount', volume, mnt, '--json'], { encoding: 'utf8' });
      expect(started.status).toBe(0);
      const { pid, log } = JSON.parse(started.stdout.trim()) as { pid: number; log: string };
      expect(alive(pid)).toBe(true);
      expect(await host.readFile(join(mnt, 'doc.txt'), 'utf8')).toBe('version 2');
      await sh('fusermount -u mnt', dir as string);
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((done) => setTimeout(done, 100));
      expect(alive(pid)).toBe(false);
      expect(await host.readFile(log, 'utf8')).toContain('flushed and closed');
    });
  },
);
