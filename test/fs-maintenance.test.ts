import { describe, expect, it } from 'vitest';
import { logicalClock } from '../storage/clock.js';
import { LOCALIZE_MISC, localization, RecType } from '../storage/layout.js';
import { Volume } from '../storage/volume.js';
import { checkImage, internals, MiB, memVolume, mountMem } from './support/fs.js';

/** Bytes that say which file and version they are. */
function content(name: string, version: number, bytes = 64): Buffer {
  return Buffer.alloc(bytes, `${name} v${version};`);
}

describe('fs.prune', () => {
  it('drops the versions deleted at or before the cut that no snapshot sees; snapshots, the cut and now read the same', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.mkdir('/d');
    const tids: number[] = [];
    for (let v = 1; v <= 6; v++) {
      await fs.writeFile('/d/f', content('f', v));
      await fs.writeFile(`/d/gone${v}`, content('gone', v));
      if (v > 1) await fs.unlink(`/d/gone${v - 1}`);
      tids.push(await fs.sync());
    }
    const snapshot = await fs.snapshot('v2');
    expect(snapshot).toBeGreaterThanOrEqual(tids[5] as number);
    const cut = tids[4] as number;
    // Version 2 of /d/f is what an as-of read at the second sync sees.
    const asOf = (tid: number) => `/d/f@@0x${tid.toString(16).padStart(16, '0')}`;
    const before = await fs.history('/d/f');
    expect(before).toHaveLength(6);
    const report = await fs.prune(cut);
    expect(report.recordsPruned).toBeGreaterThan(0);
    expect(report.bytesPruned).toBeGreaterThan(0);
    const after = await fs.history('/d/f');
    // The versions replaced at or before the cut go; the one visible at the cut and later stay.
    expect(after.map((v) => v.tid)).toEqual(before.filter((v) => v.tid >= (tids[4] as number)).map((v) => v.tid));
    expect(await fs.readFile(asOf(cut), 'utf8')).toBe(content('f', 5).toString());
    expect(await fs.readFile('/d/f', 'utf8')).toBe(content('f', 6).toString());
    expect((await fs.readdir('/d')).sort()).toEqual(['f', 'gone6']);
    await fs.unmount();
    expect(checkImage(device).problems).toEqual([]);
  });

  it('keeps what a snapshot sees, and refuses on a read-only mount (EROFS)', async () => {
    const { device } = await memVolume();
    const fs = await mountMem(device);
    await fs.writeFile('/f', content('f', 1));
    const snapshot = await fs.snapshot('first');
    await fs.writeFile('/f', content('f', 2));
    const now = await fs.sync();
    const report = await fs.prune(now);
    expect(report.keptForSnapshots).toBeGreaterThan(0);
    expect(report.snapshots).toBe(1);
    expect(await fs.readFile(`/f@@0x${snapshot.toString(16).padStart(16, '0')}`, 'utf8')).toBe(
      content('f', 1).toString(),
    );
    await fs.unmount();
    const readOnly = await mountMem(device, { readOnly: true });
    await expect(readOnly.prune(now)).rejects.toMatchObject({ code: 'EROFS' });
    await readOnly.unmount();
  });
});

describe('fs.reblock', () => {
  it('frees big-blocks left sparse by deletes; every file and snapshot reads the same; an open file keeps working', async () => {
    const { device } = await memVolume({ size: 96 * MiB });
    const fs = await mountMem(device);
    const names = Array.from({ length: 24 }, (_, i) => `/big${i}`);
    for (const [i, name] of names.entries()) await fs.writeFile(name, content(name, 1, MiB + (i % 3) * 4096));
    await fs.sync();
    const keep = new Set(['/big0', '/big9', '/big18', '/big23']);
    for (const name of names) if (!keep.has(name)) await fs.unlink(name);
    const snapshot = await fs.snapshot('kept');
    await fs.prune(snapshot);
    const handle = await fs.open('/big9', 'r+');
    const free = internals(fs).volume.stats().freeBigblocks;
    const report = await fs.reblock(100);
    expect(report.bigblocksExamined).toBeGreaterThan(0);
    // Every source emptied; the net gain is what the moves did not fill again.
    expect(report.bigblocksEmptied).toBe(report.bigblocksExamined);
    expect(report.bigblocksFreed).toBeLessThanOrEqual(report.bigblocksEmptied);
    expect(report.recordsMoved).toBeGreaterThan(0);
    expect(report.bigblocksFreed).toBeGreaterThan(0);
    expect(internals(fs).volume.stats().freeBigblocks).toBe(free + report.bigblocksFreed);
    for (const name of keep) {
      const expected = content(name, 1, MiB + (Number(name.slice(4)) % 3) * 4096);
      expect((await fs.readFile(name)).equals(expected), name).toBe(true);
      const old = await fs.readFile(`${name}@@0x${snapshot.toString(16).padStart(16, '0')}`);
      expect(old.equals(expected), `${name} as of the snapshot`).toBe(true);
    }
    await handle.write(Buffer.from('rewritten'), 0, 9, 0);
    await handle.sync();
    await handle.close();
    await fs.unmount();
    expect(checkImage(device).problems).toEqual([]);
    const again = await mountMem(device, { readOnly: true });
    expect((await again.readFile('/big9')).subarray(0, 9).toString()).toBe('rewritten');
    await again.unmount();
  });

  it("re-reads a cached inode's element when its record moved: a later time patch lands on the moved copy", async () => {
    const { device } = await memVolume({ size: 96 * MiB });
    const fs = await mountMem(device);
    await fs.writeFile('/f', 'x'.repeat(1000));
    await fs.unmount();
    // Filler meta-data fills the big-block holding the inode records, then goes: that big-block is left
    // sparse and no longer the meta-data zone's current one, so reblock moves the inode records.
    const volume = Volume.mount(device, { clock: logicalClock() });
    volume.beginCycle();
    const filler = Array.from({ length: 9 }, (_, key) =>
      volume.insertRecord(
        { localization: localization(0, LOCALIZE_MISC), objId: 7777, recType: RecType.CONFIG, key, objType: 0 },
        new Uint8Array(MiB),
      ),
    );
    volume.commit();
    volume.beginCycle();
    for (const elm of filler) volume.destroyRecord(elm);
    volume.commit();
    volume.close();
    const later = await mountMem(device, { clock: logicalClock(3_000_000_000_000_000) });
    const handle = await later.open('/f', 'r+');
    const report = await later.reblock(100);
    expect(report.recordsMoved).toBeGreaterThan(0);
    const patches = internals(later).counters.itimesPatches;
    await handle.write(Buffer.from('yyyy'), 0, 4, 0); // same size: only the mtime changes, patched in place
    await handle.sync();
    expect(internals(later).counters.itimesPatches).toBe(patches + 1);
    const written = (await handle.stat()).mtimeMs;
    await handle.close();
    await later.unmount();
    const check = await mountMem(device, { readOnly: true });
    expect((await check.stat('/f')).mtimeMs).toBe(written);
    expect((await check.readFile('/f', 'utf8')).slice(0, 6)).toBe('yyyyxx');
    await check.unmount();
    expect(checkImage(device).problems).toEqual([]);
  });
});
