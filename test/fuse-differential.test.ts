import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { calls, compareSides, HostSide, UserHostSide, UserProcess } from './support/differential.js';
import { describeFuse, mountedVolume, stopMount } from './support/fuse.js';

/**
 * The mount against the host's own filesystem: random sequences of calls
 * (writes at offsets, appends, truncates, renames over files and
 * directories, hard and symbolic links, chmod, chown, utimes, copyFile,
 * open files kept across other calls and unlinked under them, paths through
 * '..' and trailing slashes) made with node:fs on both, every answer
 * compared (data, error codes, stat's type, mode, owner, size and link
 * count, directory listings), then the whole tree
 * (test/support/differential.ts). fast-check shrinks a difference to the
 * shortest sequence that shows it. The mount runs with --attr-timeout 0
 * (docs/fuse.md, "Limits": each hard link is its own kernel inode under
 * libfuse's path API, and with the default 1 s attribute cache a link would
 * show its sibling's old size and link count for that long). Not compared:
 * times (but those utimes sets), inode numbers, a directory's size and link
 * count, and libfuse's `.fuse_hidden` names for open files unlinked
 * (docs/fuse.md, "Open files"); a rename of one hard link onto another is
 * left out (libfuse parks an open target under a hidden name first, and the
 * source's name goes: docs/fuse.md, "Limits").
 *
 * HAMMERSTATE_FUSE_DIFF_RUNS (default 100) sequences of up to
 * HAMMERSTATE_FUSE_DIFF_CALLS (60) calls; HAMMERSTATE_FUSE_DIFF_SEED (or
 * 'random').
 */

const RUNS = Number(process.env.HAMMERSTATE_FUSE_DIFF_RUNS ?? 100);
const CALLS = Number(process.env.HAMMERSTATE_FUSE_DIFF_CALLS ?? 60);
const SEED = process.env.HAMMERSTATE_FUSE_DIFF_SEED ?? '20261126';

describeFuse('the mount against the host filesystem, call for call', [], () => {
  const state = mountedVolume(['--no-audit', '--attr-timeout', '0', '--allow-other']);

  it(`gives the same answers and the same tree for ${RUNS} random sequences of up to ${CALLS} calls`, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(calls(true, 0o7777, [0, 100], false, 'renameOtherFile'), {
          minLength: 1,
          maxLength: CALLS,
          size: 'max',
        }),
        async (sequence) => {
          const name = `run-${run++}`;
          await compareSides(
            new HostSide(join(state.mnt, name)),
            new HostSide(join(state.dir, 'host', name)),
            sequence,
            (got, want) => expect(got).toEqual(want),
          );
        },
      ),
      { numRuns: RUNS, ...(SEED === 'random' ? {} : { seed: Number(SEED) }) },
    );
  });

  // The same as nobody (both sides' calls from a child process that drops to uid 65534), in directories root
  // owns (mode 0777, nobody's group): the kernel's permission checks against the modes and owners the mount
  // reports, and what the mount does with a caller's chmod, chown and new files.
  it(`answers as the host does for a user other than root, ${Math.ceil(RUNS / 2)} sequences`, async () => {
    const nobody = { uid: 65534, gid: 65534 };
    chmodSync(state.dir, 0o755);
    const user = await UserProcess.start(nobody.uid, nobody.gid);
    try {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(calls(true, 0o7777, [nobody.gid], false, 'renameOtherFile'), {
            minLength: 1,
            maxLength: CALLS,
            size: 'max',
          }),
          async (sequence) => {
            const name = `nobody-${run++}`;
            const roots = [join(state.mnt, name), join(state.dir, 'host', name)];
            for (const root of roots) {
              mkdirSync(root, { recursive: true });
              chmodSync(root, 0o777);
              chownSync(root, 0, nobody.gid);
            }
            await compareSides(
              new UserHostSide(user, roots[0] as string),
              new UserHostSide(user, roots[1] as string),
              sequence,
              (got, want) => expect(got).toEqual(want),
            );
          },
        ),
        { numRuns: Math.ceil(RUNS / 2), ...(SEED === 'random' ? {} : { seed: Number(SEED) }) },
      );
    } finally {
      user.stop();
    }
  });

  it('ends with SIGTERM, exit 0', async () => {
    expect(await stopMount(state.running)).toBe(0);
  });
});
