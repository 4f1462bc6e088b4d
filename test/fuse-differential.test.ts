import { join } from 'node:path';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { calls, compareSides, HostSide } from './support/differential.js';
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
 * (docs/fuse.md, "Open files").
 *
 * HAMMERSTATE_FUSE_DIFF_RUNS (default 100) sequences of up to
 * HAMMERSTATE_FUSE_DIFF_CALLS (60) calls; HAMMERSTATE_FUSE_DIFF_SEED (or
 * 'random').
 */

const RUNS = Number(process.env.HAMMERSTATE_FUSE_DIFF_RUNS ?? 100);
const CALLS = Number(process.env.HAMMERSTATE_FUSE_DIFF_CALLS ?? 60);
const SEED = process.env.HAMMERSTATE_FUSE_DIFF_SEED ?? '20261126';

describeFuse('the mount against the host filesystem, call for call', [], () => {
  const state = mountedVolume(['--no-audit', '--attr-timeout', '0']);

  it(`gives the same answers and the same tree for ${RUNS} random sequences of up to ${CALLS} calls`, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(calls(true), { minLength: 1, maxLength: CALLS, size: 'max' }), async (sequence) => {
        const name = `run-${run++}`;
        await compareSides(
          new HostSide(join(state.mnt, name)),
          new HostSide(join(state.dir, 'host', name)),
          sequence,
          (got, want) => expect(got).toEqual(want),
        );
      }),
      { numRuns: RUNS, ...(SEED === 'random' ? {} : { seed: Number(SEED) }) },
    );
  });

  it('ends with SIGTERM, exit 0', async () => {
    expect(await stopMount(state.running)).toBe(0);
  });
});
