import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { mount } from '../actors/index.js';
import { logicalClock } from '../storage/clock.js';
import { applyDamage, TruncatedDevice } from '../storage/damage.js';
import { HEADER_SLOTS, readHeader } from '../storage/format/header.js';
import { fsck } from '../storage/fsck.js';
import { SECTOR_BYTES } from '../storage/layout.js';
import {
  type BaseImage,
  buildBaseImage,
  buildCrashImage,
  type CaseResult,
  runCase,
} from './support/corruption-fuzz.js';

/**
 * Seeded corruption fuzzing (docs/fuzzing.md). CI runs a slice; a campaign:
 *   HAMMERSTATE_FUZZ_CASES=10000 HAMMERSTATE_FUZZ_SEED=random npx vitest run test/corruption-fuzz.test.ts
 * One case alone: HAMMERSTATE_FUZZ_SEED=<seed> HAMMERSTATE_FUZZ_CASE=<index>.
 */
const CASES = Number(process.env.HAMMERSTATE_FUZZ_CASES ?? 300);
/** Room for a campaign on a loaded machine (each case has its own 5 s bound): vitest's 120 s cut 5000 cases short. */
const CAMPAIGN_TIMEOUT_MS = 120_000 + CASES * 250;
const SEED_TEXT = process.env.HAMMERSTATE_FUZZ_SEED ?? '20261126';
const SEED = SEED_TEXT === 'random' ? Math.floor(Math.random() * 2 ** 32) : Number(SEED_TEXT) >>> 0;
const ONE_CASE = process.env.HAMMERSTATE_FUZZ_CASE;

let base: BaseImage;
let crash: BaseImage;
beforeAll(async () => {
  base = await buildBaseImage();
  crash = await buildCrashImage(base);
});
/** Even cases damage the clean image, odd ones the crash image (UNDO in the FIFO span). */
const imageOf = (index: number) => (index % 2 === 0 ? base : crash);

function summary(results: CaseResult[], ms: number): string {
  const counts = new Map<string, number>();
  for (const result of results) {
    const key = `${result.outcome} (${result.damage.region}/${result.damage.kind})`;
    counts.set(result.outcome, (counts.get(result.outcome) ?? 0) + 1);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const lines = [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `  ${k}: ${n}`);
  const rate = (results.length / (ms / 1000)).toFixed(1);
  const slowest = Math.max(0, ...results.map((result) => result.ms)).toFixed(0);
  const head = `corruption fuzz: seed ${SEED}, ${results.length} cases, ${rate} cases/s, slowest case ${slowest} ms`;
  return [head, ...lines].join('\n');
}

function finding(result: CaseResult): string {
  const where = `HAMMERSTATE_FUZZ_SEED=${result.seed} HAMMERSTATE_FUZZ_CASE=${result.index}`;
  return `${where}: ${result.outcome} after ${JSON.stringify(result.damage)}\n${result.detail ?? ''}`;
}

describe('corruption fuzz', () => {
  it('the base image is healthy and every region kind is located', () => {
    expect(fsck(base.image.clone(), { clock: logicalClock() }).problems).toEqual([]);
    for (const [kind, regions] of base.regions) expect(regions.length, kind).toBeGreaterThan(0);
    expect(base.files.size).toBe(130);
    expect(base.regions.get('btree')?.length).toBeGreaterThan(3);
  });

  it('a truncated device refuses reads past its end with EIO; cut inside the header, mount says EINVAL', async () => {
    const device = new TruncatedDevice(base.image.clone(), 10_000);
    expect(() => device.read(9_999, new Uint8Array(2))).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(() => device.read(-1, new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'EIO' }));
    device.read(0, new Uint8Array(10_000));
    const header = { kind: 'header' as const, offset: 0, length: 1 };
    const { device: cut, damage } = applyDamage(base.image.clone(), 'truncate', header, () => 0);
    expect(damage).toMatchObject({ kind: 'truncate', offset: 0, length: base.image.size });
    await expect(mount(cut, { clock: logicalClock() })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('a damaged newest header slot of a crashed volume still rolls the crashed cycle back (regression)', async () => {
    // Seed 20261126, case 25: the read-write mount's seq jump was in one slot only, so
    // the other slot's recovery stopped at the jump and kept the crashed cycle applied.
    const chosen = readHeader(crash.image);
    const image = crash.image.clone();
    const slot = HEADER_SLOTS[chosen.slot] ?? 0;
    image.write(slot, new Uint8Array(SECTOR_BYTES));
    const fs = await mount(image, { clock: logicalClock(), readOnly: true });
    expect(fs.recovery.undone).toBeGreaterThan(0);
    for (const [path, hash] of crash.files) {
      expect(
        createHash('sha256')
          .update(await fs.readFile(path))
          .digest('hex'),
        path,
      ).toBe(hash);
    }
    await fs.unmount();
  });

  it(
    `damaged images mount clean with the damage reported, or refuse with EIO/EINVAL (${CASES} cases)`,
    async () => {
      const indexes = ONE_CASE === undefined ? [...Array(CASES).keys()] : [Number(ONE_CASE)];
      const results: CaseResult[] = [];
      const started = performance.now();
      for (const index of indexes) results.push(await runCase(imageOf(index), SEED, index));
      console.log(summary(results, performance.now() - started));
      const findings = results.filter((result) => result.outcome.startsWith('finding'));
      for (const result of findings.slice(0, 10)) console.log(finding(result));
      expect(findings.map(finding)).toEqual([]);
    },
    CAMPAIGN_TIMEOUT_MS,
  );
});
