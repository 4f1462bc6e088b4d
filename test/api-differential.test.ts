import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ApiSide,
  type ApiVolume,
  calls,
  compareSides,
  HostSide,
  UserHostSide,
  UserProcess,
} from './support/differential.js';
import { checkImage, memVolume, mountMem } from './support/fs.js';

/**
 * The library API against node:fs on the host's own filesystem: the same
 * random sequences as the FUSE differential test (test/support/differential.ts:
 * writes at offsets, appends, truncates, renames, hard and symbolic links,
 * chmod, chown, utimes, open handles kept across other calls, paths through
 * '..' and trailing slashes), each answer compared (data, error codes, stat's
 * type, mode, owner, size and link count, listings), then the trees. The API
 * mirrors node:fs/promises, so node:fs on a real disk filesystem is its
 * oracle, with no kernel between to hide a difference. A `remount` call
 * unmounts the volume (a full flush) and mounts it again between two calls,
 * so what is compared after it was read back from the device. Not compared: times
 * (but those utimes sets), inode numbers, a directory's size and link count.
 * Run as root, every group 0, so BSD's group rule (the directory's) and
 * Linux's (the caller's) agree; chmod sets no set-user-ID or set-group-ID
 * bit, which the API treats as BSD does (root's chown keeps them, a
 * directory's set-group-ID bit is not inherited: docs/api.md).
 *
 * HAMMERSTATE_API_DIFF_RUNS (default 150) sequences of up to
 * HAMMERSTATE_API_DIFF_CALLS (60) calls; HAMMERSTATE_API_DIFF_SEED (or 'random').
 */

const RUNS = Number(process.env.HAMMERSTATE_API_DIFF_RUNS ?? 150);
const CALLS = Number(process.env.HAMMERSTATE_API_DIFF_CALLS ?? 60);
const SEED = process.env.HAMMERSTATE_API_DIFF_SEED ?? '20261126';
const NOBODY_RUNS = Math.ceil(RUNS / 2);
const asRoot = process.getuid?.() === 0;

describe('the API against the host filesystem, call for call', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hammerstate-apidiff-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // chown needs root on the host side.
  it.runIf(asRoot)(
    `gives the same answers and the same tree for ${RUNS} random sequences of up to ${CALLS} calls`,
    async () => {
      const { device } = await memVolume({ size: 512 * 1024 * 1024 });
      // A cache of two clean inodes: they unload and load again between (and during) the calls.
      const options = { cacheInodes: 2 };
      const volume: ApiVolume = {
        fs: await mountMem(device, options),
        // Between two calls: everything flushed by the unmount, read back from the device by the new mount.
        async remount() {
          await this.fs.unmount();
          expect(checkImage(device).errors).toBe(0);
          this.fs = await mountMem(device, options);
        },
      };
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(calls(false, 0o1777, [0], true), { minLength: 1, maxLength: CALLS, size: 'max' }),
          async (sequence) => {
            const name = `run-${run++}`;
            await compareSides(
              await ApiSide.make(volume, `/${name}`),
              new HostSide(join(dir, name)),
              sequence,
              (got, want) => expect(got).toEqual(want),
            );
          },
        ),
        { numRuns: RUNS, ...(SEED === 'random' ? {} : { seed: Number(SEED) }) },
      );
      await volume.fs.unmount();
      expect(checkImage(device).errors).toBe(0);
    },
  );

  // The same as nobody, in directories root owns (mode 0777, nobody's group, so BSD's group rule and Linux's
  // agree): permissions decide the answers now (EACCES, EPERM, the sticky bit, what chmod and chown may do).
  it.runIf(asRoot)(`answers as node:fs does for a user other than root, ${NOBODY_RUNS} sequences`, async () => {
    const nobody = { uid: 65534, gid: 65534 };
    const base = join(dir, 'as-nobody');
    mkdirSync(base);
    chmodSync(dir, 0o755);
    chmodSync(base, 0o777);
    const user = await UserProcess.start(nobody.uid, nobody.gid);
    const { device } = await memVolume({ size: 512 * 1024 * 1024 });
    const volume: ApiVolume = {
      fs: await mountMem(device),
      async remount() {
        await this.fs.unmount();
        this.fs = await mountMem(device);
      },
    };
    try {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(calls(false, 0o1777, [nobody.gid], true), { minLength: 1, maxLength: CALLS, size: 'max' }),
          async (sequence) => {
            const name = `run-${run++}`;
            const hostRoot = join(base, name);
            mkdirSync(hostRoot);
            chmodSync(hostRoot, 0o777);
            chownSync(hostRoot, 0, nobody.gid);
            await volume.fs.mkdir(`/${name}`, { mode: 0o777 });
            await volume.fs.chown(`/${name}`, 0, nobody.gid);
            await compareSides(
              await ApiSide.make(volume, `/${name}`, nobody),
              new UserHostSide(user, hostRoot),
              sequence,
              (got, want) => expect(got).toEqual(want),
            );
          },
        ),
        { numRuns: NOBODY_RUNS, ...(SEED === 'random' ? {} : { seed: Number(SEED) }) },
      );
    } finally {
      user.stop();
    }
    await volume.fs.unmount();
    expect(checkImage(device).errors).toBe(0);
  });
});
