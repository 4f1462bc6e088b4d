import { existsSync } from 'node:fs';
import { expect, it } from 'vitest';
import { mount } from '../actors/index.js';
import { describeFuse, mountedVolume, sh, startMount, stopMount } from './support/fuse.js';

/**
 * Real programs on a FUSE mount: a real tree copied in with cp -r and
 * compared with diff -r, again after an unmount and a remount; tar create
 * and extract inside the mount; a git repository made and committed in it.
 */

/** Bounded real trees (6.5 MB and 800 files in all on Debian 12): the kernel's headers and the licenses. */
const TREES = ['/usr/include/linux', '/usr/share/common-licenses'].filter((tree) => existsSync(tree));
/** What tar archives (part of the first tree: tar restores owner, mode and times, several requests a file). */
const TAR_PARTS = ['netfilter', 'netfilter_bridge', 'netfilter_ipv4', 'netfilter_ipv6', 'usb'];

describeFuse('real programs on a FUSE mount', ['cp', 'diff', 'tar', 'git', 'find'], () => {
  // The first mount keeps the event log (the default); the remount keeps none.
  const state = mountedVolume();

  it('copies real trees in with cp -r and diff -r finds them identical', async () => {
    expect(TREES[0]).toBe('/usr/include/linux');
    for (const tree of TREES) await sh(`cp -r ${tree} mnt/`, state.dir);
    for (const tree of TREES) await sh(`diff -r ${tree} mnt/${tree.split('/').at(-1)}`, state.dir);
    // cp -a keeps owners and modes, symlinks included (lchown on a link whose target is not copied yet).
    await sh(
      'cp -a /usr/share/common-licenses mnt/preserved && diff -r /usr/share/common-licenses mnt/preserved',
      state.dir,
    );
    const files = Number((await sh('find mnt -type f | wc -l', state.dir)).trim());
    expect(files).toBeGreaterThan(100);
  });

  it('creates a tar archive inside the mount and extracts it there identically', async () => {
    await sh(`tar -cf mnt/tree.tar -C mnt/linux ${TAR_PARTS.join(' ')}`, state.dir);
    await sh('mkdir mnt/extracted && tar -xf mnt/tree.tar -C mnt/extracted', state.dir);
    for (const part of TAR_PARTS) await sh(`diff -r mnt/linux/${part} mnt/extracted/${part}`, state.dir);
    const listed = (await sh('tar -tf mnt/tree.tar | wc -l', state.dir)).trim();
    expect(Number(listed)).toBeGreaterThan(100);
  });

  it('keeps names that are not UTF-8 byte for byte: a Latin-1 tree copied in is identical, no two names merged', async () => {
    // café, cafè (one byte each for é and è in Latin-1: not UTF-8), a directory and a symlink named likewise.
    await sh(
      `mkdir latin1 && cd latin1 && printf one > "$(printf 'caf\\351')" && printf two > "$(printf 'caf\\350')" && mkdir "$(printf 'd\\351')" && printf three > "$(printf 'd\\351/\\377')" && ln -s "$(printf 'caf\\351')" "$(printf 'l\\351')"`,
      state.dir,
    );
    await sh('cp -a latin1 mnt/ && diff -r --no-dereference latin1 mnt/latin1', state.dir);
    const names = await sh('LC_ALL=C ls mnt/latin1 | od -An -tx1 | tr -d " \\n"', state.dir);
    expect(names).toBe('636166e80a636166e90a64e90a6ce90a');
    expect(await sh(`cat mnt/latin1/"$(printf 'caf\\350')"`, state.dir)).toBe('two');
    expect(await sh(`readlink mnt/latin1/"$(printf 'l\\351')" | od -An -tx1 | tr -d " \\n"`, state.dir)).toBe(
      '636166e90a',
    );
  });

  it('runs git init, add and commit inside the mount, and git fsck finds the objects sound', async () => {
    const git = 'git -c user.name=hammerstate -c user.email=dev@hammerstate.invalid -c init.defaultBranch=main';
    await sh(
      `mkdir mnt/repo && cp -r /usr/share/common-licenses mnt/repo/ && cd mnt/repo && ${git} init -q && ${git} add . && ${git} commit -qm first && echo change >> common-licenses/GPL-3 && ${git} commit -qam second`,
      state.dir,
    );
    const log = await sh(`cd mnt/repo && ${git} log --format=%s`, state.dir);
    expect(log.trim().split('\n')).toEqual(['second', 'first']);
    await sh(`cd mnt/repo && ${git} fsck --full --strict`, state.dir);
  });

  it('after SIGTERM (exit 0) and a remount, everything is there: diff -r, the archive, the repository', async () => {
    expect(await stopMount(state.running)).toBe(0);
    expect(state.running.stderr()).toContain('flushed and closed');
    expect(existsSync(`${state.volume}.events.sqlite`)).toBe(true);
    // The volume is consistent and closed: the API mounts it and reads the same tree.
    const fs = await mount(state.volume, { readOnly: true });
    expect((await fs.readdir('/')).sort()).toEqual(expect.arrayContaining(['extracted', 'repo', 'tree.tar']));
    await fs.unmount();
    state.running = await startMount(state.volume, state.mnt, ['--no-audit']);
    for (const tree of TREES) await sh(`diff -r ${tree} mnt/${tree.split('/').at(-1)}`, state.dir);
    for (const part of TAR_PARTS) await sh(`diff -r mnt/linux/${part} mnt/extracted/${part}`, state.dir);
    await sh('diff -r --no-dereference latin1 mnt/latin1', state.dir);
    // tar -d compares the archive with what was extracted: contents, sizes, modes and modification times agree
    // (tar -x sets the modification time alone, atime UTIME_OMIT: the patched binding passes that through).
    expect(await sh('tar -df mnt/tree.tar -C mnt/extracted 2>&1; echo "exit $?"', state.dir)).toBe('exit 0\n');
    const status = await sh('cd mnt/repo && git status --porcelain && git log --format=%s', state.dir);
    expect(status.trim().split('\n')).toEqual(['second', 'first']);
    expect(await stopMount(state.running)).toBe(0);
  });
});
