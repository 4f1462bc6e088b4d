import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mount as mountFs } from '../actors/index.js';
import { CrashDevice } from '../storage/crash-device.js';
import { isFsError } from '../storage/errors.js';
import { fsck } from '../storage/fsck.js';
import { RecType } from '../storage/layout.js';
import { clock, crashedMidCycle, type FsckJson, flip, LOC, mountError, saveImage } from './support/bad-image.js';
import { cli } from './support/cli.js';
import { freshImage, mount, randomCycle, readModel, seededRandom } from './support/storage-workload.js';

/**
 * Holes in the FIFO span (storage/recovery.ts, scanSpan): a damaged record
 * followed by records that continue the sequence. Recovery steps over it and
 * rolls back every UNDO it can read; a torn FIFO write is a note, damage to a
 * written cycle's FIFO is an fsck error and never data read as good.
 */

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-fifo-holes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('holes in the FIFO span', () => {
  it('a flipped bit in a FIFO record the meta-data never followed: recovery steps over the hole, nothing else changes', () => {
    // The FIFO reaches the device, nothing else (a crash before the meta-data).
    const { image, first, fifoPhysical } = crashedMidCycle(200, 'fifo');
    const intact = mount(image.clone(), true).recovery;
    const damaged = first + 4096 + 40;
    expect(intact.end).toBeGreaterThan(damaged);
    flip(image, fifoPhysical(first) + 4096 + 40);
    // fsck: nothing wrong (no meta-data was written, every UNDO past the hole matches the disk), a note on the hole.
    const report = fsck(image, { clock });
    expect(report.problems).toEqual([]);
    const sector = damaged - (damaged % 512);
    expect(report.stats.fifoFirst).toBe(first);
    expect(report.stats.fifoEnd).toBe(intact.end);
    expect(report.notes.join('\n')).toMatch(
      new RegExp(
        `FIFO span has a hole at offset ${sector} \\(CRC expected .*\\): \\d+ records lost, the sequence goes on at ${sector + 512} .*every UNDO past it matches the disk`,
      ),
    );
    const after = mount(image);
    expect(after.recovery.end).toBe(intact.end);
    expect(after.recovery.records).toBeLessThan(intact.records);
    expect(after.recovery.damage).toEqual([]);
    expect(readModel(after).has('7:1')).toBe(false);
    expect(after.btree.check()).toEqual([]);
    after.close();
  });

  it('a flipped bit at the start of the span after the meta-data was written: the rest is rolled back, the node whose pre-image was lost is EIO', () => {
    const { image, first, fifoPhysical } = crashedMidCycle();
    const intact = fsck(image.clone(), { clock });
    expect(intact.problems).toEqual([]);
    expect(intact.stats.fifoSpanUndo).toBeGreaterThan(0);
    flip(image, fifoPhysical(first) + 40);
    // HAMMER would end the span at the damaged record and leave the whole cycle applied, half-written and read as
    // good. Recovery steps over the hole and rolls back every UNDO it can read; the first record held the root
    // node's header granule (its CRC): that pre-image is lost, so the root fails its CRC and the volume is refused
    // with an EIO naming it, never read with the crashed cycle's records in it.
    const report = fsck(image, { clock });
    expect(report.errors).toBeGreaterThan(0);
    expect(report.problems).toContainEqual({
      where: 'volume',
      what: expect.stringMatching(
        /^EIO: B-tree node at offset 0x[0-9a-f]+: CRC expected 0x[0-9a-f]+, found 0x[0-9a-f]+$/,
      ),
    });
    const path = saveImage(image, dir, 'fifo-hole.img');
    const run = cli(['fsck', path, '--json'], dir);
    expect(run.status).toBe(1);
    expect(run.json<FsckJson>().errors).toBe(report.errors);
    const show = cli(['show', path], dir);
    expect(show.status).toBe(1);
    expect(show.stderr).toMatch(/hammerstate: EIO: B-tree node at offset 0x[0-9a-f]+: CRC expected/);
    const error = mountError(image);
    expect(isFsError(error, 'EIO')).toBe(true);
  });

  it('a damaged FIFO record inside the span of a written cycle: fsck counts the lost pre-images, reads say EIO or the committed data', async () => {
    const image = freshImage();
    let volume = mount(image);
    volume.beginCycle();
    for (let i = 0; i < 400; i++)
      volume.insertRecord(
        { localization: LOC, objId: 7, recType: RecType.DATA, key: 2 * i + 1, objType: 2 },
        new Uint8Array(10).fill(i & 0xff),
      );
    volume.commit();
    volume.close();
    const committed = readModel(mount(image.clone(), true));
    volume = mount(image);
    const first = volume.fifo.state.first;
    volume.beginCycle();
    for (let i = 0; i < 400; i += 3)
      volume.insertRecord(
        { localization: LOC, objId: 7, recType: RecType.DATA, key: 2 * i + 2, objType: 2 },
        new Uint8Array(10),
      );
    volume.finalize(false); // the FIFO, then the meta-data; a crash before the header
    const hole = first + 8 * 512;
    flip(image, volume.fifo.physical(hole) + 40);
    const report = fsck(image.clone(), { clock });
    expect(report.problems).toContainEqual({
      where: 'fifo',
      what: expect.stringMatching(
        new RegExp(`^FIFO span has a hole at offset ${hole} .*the cycle's meta-data had reached the disk`),
      ),
    });
    expect(report.problems).toContainEqual({
      where: expect.stringMatching(/^node 0x/),
      what: expect.stringMatching(/^EIO: B-tree node at offset .*: CRC expected/),
    });
    // Read-only and read-write: every record is the committed one or EIO; none of the crashed cycle's is seen.
    for (const readOnly of [true, false]) {
      const after = mount(image.clone(), readOnly);
      expect(after.recovery.damage).toHaveLength(1);
      let eio = 0;
      for (const key of committed.keys()) {
        const n = Number(key.split(':')[1]);
        const base = { localization: LOC, objId: 7, recType: RecType.DATA };
        try {
          const elm = after.lookup({ ...base, key: n });
          expect(elm && Buffer.from(after.readData(elm)).toString('hex')).toBe(committed.get(key));
          expect(after.lookup({ ...base, key: n + 1 })).toBeUndefined();
        } catch (error) {
          if (!isFsError(error, 'EIO')) throw error;
          eio++;
        }
      }
      expect(eio).toBeGreaterThan(0);
      after.close();
    }
    // Through the API: a read-write mount commits what it recovered, so fsck no longer sees the hole;
    // the mount's recovery report says what was lost.
    const fs = await mountFs(image.clone(), { clock });
    expect(fs.recovery.damage).toEqual([expect.stringMatching(new RegExp(`^FIFO span has a hole at offset ${hole} `))]);
    expect(fs.recovery.undone).toBeGreaterThan(0);
    await fs.unmount();
  });

  it('torn, dropped and reordered writes: fsck before any mount (recovery in memory) finds nothing wrong', () => {
    const device = new CrashDevice(freshImage());
    const volume = mount(device);
    const model = readModel(volume);
    const next = seededRandom(11);
    for (let c = 0; c < 6; c++) randomCycle(volume, model, next, 30);
    volume.close();
    const sample = seededRandom(12);
    let unclean = 0;
    for (const point of device.writePoints()) {
      for (const image of [device.crashImage(point), device.sampleCrashImage(point, sample)]) {
        const report = fsck(image, { clock });
        expect(report.problems, `crash at op ${point}`).toEqual([]);
        if (report.stats.fifoSpanUndo > 0) unclean++;
      }
    }
    expect(unclean).toBeGreaterThan(0); // some images did need their rollback
  });
});
