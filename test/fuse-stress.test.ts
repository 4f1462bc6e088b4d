import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeFuse, expectClean, mountedVolume, sh, stopMount } from './support/fuse.js';

/**
 * stress-ng's filesystem stressors on a FUSE mount, each with --verify (it
 * checks what it wrote and read back), a second each, then a dozen of them
 * at once for a few seconds. They found two things the other programs had
 * not: names that are not UTF-8 (the filename stressor probes every byte)
 * and EFBIG past the largest file size (fsize). Success is stress-ng's
 * exit 0, no `fail:` line, and work done by every stressor (its bogo-ops in
 * the YAML report); then the mount stops cleanly and fsck finds the volume
 * clean.
 */

/** One at a time: names of every byte, data verified, renames, links, directories, seeks, open files. */
const ALONE = ['filename', 'hdd', 'rename', 'link', 'symlink', 'dir', 'dentry', 'seek', 'open', 'chmod', 'utime'];
/** Together, so requests of different kinds interleave in the server. */
const MIXED = ['hdd', 'rename', 'dir', 'link', 'symlink', 'seek', 'dentry', 'getdent', 'chmod', 'utime'];

/** Each stressor's bogo-ops from stress-ng's YAML report. */
function bogoOps(yaml: string): Record<string, number> {
  const ops: Record<string, number> = {};
  for (const match of yaml.matchAll(/- stressor: (\S+)\n\s+bogo-ops: (\d+)/g))
    ops[match[1] as string] = Number(match[2]);
  return ops;
}

describeFuse('stress-ng on a FUSE mount', ['stress-ng'], () => {
  const state = mountedVolume(['--no-audit']);

  async function stress(stressors: string[], seconds: number, dir: string): Promise<Record<string, number>> {
    const yaml = join(state.dir, `${dir}.yaml`);
    const args = stressors.map((name) => `--${name} 1`).join(' ');
    const out = await sh(
      `mkdir mnt/${dir} && stress-ng ${args} -t ${seconds} --temp-path mnt/${dir} --verify --metrics-brief --yaml ${yaml} 2>&1`,
      state.dir,
    );
    expect(out).not.toMatch(/^stress-ng: (fail|error):/m);
    expect(out).toMatch(/successful run completed/);
    return bogoOps(readFileSync(yaml, 'utf8'));
  }

  it(`runs ${ALONE.length} file stressors one at a time, each verified, each doing work`, async () => {
    for (const name of ALONE) {
      const ops = await stress([name], 1, name);
      expect(ops[name], name).toBeGreaterThan(0);
    }
  });

  it(`runs ${MIXED.length} of them at once, and a size past the largest file is "File too large"`, async () => {
    const ops = await stress(MIXED, 3, 'mixed');
    for (const name of MIXED) expect(ops[name], name).toBeGreaterThan(0);
    // 2^52 bytes is the largest file; one byte more is EFBIG, as truncate(1) reports it.
    await sh('truncate -s 4P mnt/largest && rm mnt/largest', state.dir);
    expect(await sh('truncate -s 5P mnt/too-large 2>&1; echo "exit $?"', state.dir)).toMatch(
      /File too large\nexit 1\n$/,
    );
  });

  it('ends with SIGTERM, exit 0, and fsck finds the volume clean', async () => {
    expect(await stopMount(state.running)).toBe(0);
    expectClean(state.volume);
  });
});
