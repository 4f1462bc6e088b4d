import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileDevice, MemDevice } from '../storage/device.js';
import { isFsError } from '../storage/errors.js';
import type { LeafElm } from '../storage/format/btree-node.js';
import { HEADER_SLOTS } from '../storage/format/header.js';
import { fsck } from '../storage/fsck.js';
import { BUFFER_BYTES, NODE_BYTES, offPart, RecType } from '../storage/layout.js';
import { Volume } from '../storage/volume.js';
import { clock, type FsckJson, flip, LOC, mountError } from './support/bad-image.js';
import { cli } from './support/cli.js';
import { freshImage, mount, readModel } from './support/storage-workload.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-bad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function flipInFile(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset] = (bytes[offset] ?? 0) ^ 0x04;
  writeFileSync(path, bytes);
}

function makeVolumeFile(name: string): string {
  const path = join(dir, name);
  expect(cli(['mkfs', path, '--size', '64M', '--undo-size', '8M'], dir).status).toBe(0);
  return path;
}

describe('bad input', () => {
  it('a file that is not a volume: EINVAL, through the API and the CLI', () => {
    const path = join(dir, 'text.txt');
    writeFileSync(path, 'just some text\n'.repeat(2000));
    const error = mountError(FileDevice.open(path));
    expect(isFsError(error, 'EINVAL')).toBe(true);
    expect(String(error)).toContain('not a hammerstate volume');
    const run = cli(['show', path], dir);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('hammerstate: EINVAL: not a hammerstate volume');
    expect(run.stderr).not.toContain('    at ');
    const json = cli(['show', path, '--json'], dir);
    expect(json.status).toBe(1);
    expect(json.json()).toMatchObject({ error: { code: 'EINVAL' }, exitCode: 1 });
    const check = cli(['fsck', path, '--json'], dir);
    expect(check.status).toBe(1);
    expect(check.json<FsckJson>()).toMatchObject({
      errors: 1,
      problems: [{ where: 'volume', what: expect.stringContaining('EINVAL: not a hammerstate volume') }],
    });
  });

  it('a truncated volume: EIO saying how big it is and should be', () => {
    const path = makeVolumeFile('truncated.img');
    truncateSync(path, 20 * 1024 * 1024);
    const error = mountError(FileDevice.open(path));
    expect(isFsError(error, 'EIO')).toBe(true);
    expect(String(error)).toMatch(/truncated volume: the device holds 20971520 bytes/);
    const run = cli(['fsck', path, '--json'], dir);
    expect(run.status).toBe(1);
    expect(run.json<FsckJson>()).toMatchObject({
      errors: 1,
      problems: [{ where: 'volume', what: expect.stringMatching(/^EIO: truncated volume/) }],
    });
    const show = cli(['show', path], dir);
    expect(show.status).toBe(1);
    expect(show.stderr).toMatch(/^hammerstate: EIO: truncated volume/m);
  });

  it('a flipped bit in a B-tree node: EIO naming the node and both CRCs', () => {
    const path = makeVolumeFile('node.img');
    const volume = Volume.mount(FileDevice.open(path), { clock });
    volume.beginCycle();
    for (let i = 0; i < 500; i++)
      volume.insertRecord({ localization: LOC, objId: 5, recType: RecType.DATA, key: i + 1, objType: 2 });
    volume.commit();
    const leaf = [...volume.btree.walk()].find((entry) => entry.depth === 1)?.node;
    const rootOffset = volume.stats().btreeRoot;
    const bufBeg = volume.header().bufBeg;
    volume.close();
    if (leaf === undefined) throw new Error('expected a two-level tree');
    flipInFile(path, bufBeg + offPart(leaf.offset) + 300);
    const name = `0x${leaf.offset.toString(16)}`;
    const show = cli(['show', path], dir);
    expect(show.status).toBe(1);
    expect(show.stdout).toMatch(
      new RegExp(`^\\s*B NODE 0x0*${leaf.offset.toString(16)} EIO: B-tree node at offset ${name}: CRC expected`, 'm'),
    );
    const fsckRun = cli(['fsck', path, '--json'], dir);
    expect(fsckRun.status).toBe(1);
    expect(fsckRun.json<FsckJson>().problems[0]).toEqual({
      where: `node ${name}`,
      what: expect.stringMatching(/CRC expected 0x[0-9a-f]{8}, found 0x[0-9a-f]{8}/),
    });
    // The root itself damaged: the mount is refused with the EIO naming it.
    flipInFile(path, bufBeg + offPart(rootOffset) + 100);
    const error = mountError(FileDevice.open(path));
    expect(isFsError(error, 'EIO')).toBe(true);
    expect(String(error)).toContain(`B-tree node at offset 0x${rootOffset.toString(16)}: CRC expected`);
    const refused = cli(['fsck', path], dir);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toContain(`volume: EIO: B-tree node at offset 0x${rootOffset.toString(16)}: CRC expected`);
  });

  it('a read-only mount of an unclean volume CRC-checks nodes in the buffers recovery rolled back', () => {
    const image = freshImage();
    let volume = mount(image);
    volume.beginCycle();
    for (let i = 0; i < 300; i++)
      volume.insertRecord({ localization: LOC, objId: 5, recType: RecType.DATA, key: i + 1, objType: 2 });
    volume.commit();
    const entries = [...volume.btree.walk()];
    const bufBeg = volume.header().bufBeg;
    const leaf = entries.find((e) => e.depth === 1)?.node;
    if (leaf === undefined) throw new Error('expected two levels');
    const bufferOf = (offset: number) => offPart(offset) - (offPart(offset) % BUFFER_BYTES);
    const neighbour = entries
      .map((e) => e.node.offset)
      .find((offset) => offset !== leaf.offset && bufferOf(offset) === bufferOf(leaf.offset));
    if (neighbour === undefined) throw new Error('expected a neighbour node in the same buffer');
    volume.beginCycle();
    volume.deleteRecord((leaf.elms as LeafElm[])[0] as LeafElm); // an UNDO for the leaf's buffer
    volume.finalize(false); // FIFO and meta-data on the device, no commit
    flip(image, bufBeg + offPart(neighbour) + NODE_BYTES / 2); // damage the untouched neighbour
    const damage = `B-tree node at offset 0x${neighbour.toString(16)}: CRC expected`;
    expect(fsck(image, { clock }).problems.some((p) => p.what.includes(damage))).toBe(true);
    let error: unknown;
    try {
      volume = mount(image, true);
      volume.nodeAt(neighbour);
    } catch (e) {
      error = e;
    }
    expect(isFsError(error, 'EIO')).toBe(true);
  });

  it('a flipped bit in one header slot: the other slot is used; in both: EIO', () => {
    const image = freshImage();
    const volume = mount(image);
    const generation = volume.header().generation;
    volume.close();
    const current = HEADER_SLOTS[generation % 2] as number;
    const other = HEADER_SLOTS[1 - (generation % 2)] as number;
    flip(image, current + 250);
    const fallback = mount(image, true);
    expect(fallback.header().generation).toBe(generation - 1);
    fallback.close();
    flip(image, other + 250);
    const error = mountError(image);
    expect(isFsError(error, 'EIO')).toBe(true);
    expect(String(error)).toMatch(/both volume header slots are damaged: .*CRC expected/);
  });

  it('header slots through the CLI: a damaged newest slot rolls its cycle back, both damaged is exit 1', () => {
    const path = makeVolumeFile('slots.img');
    const volume = Volume.mount(FileDevice.open(path), { clock });
    volume.beginCycle();
    volume.insertRecord(
      { localization: LOC, objId: 3, recType: RecType.DATA, key: 16, objType: 2 },
      new Uint8Array(16),
    );
    volume.commit();
    const generation = volume.header().generation;
    volume.close();
    const newest = HEADER_SLOTS[generation % 2] as number;
    const older = HEADER_SLOTS[1 - (generation % 2)] as number;
    expect(cli(['fsck', path], dir).status).toBe(0);
    flipInFile(path, newest + 300);
    const run = cli(['fsck', path, '--json'], dir);
    expect(run.status).toBe(0);
    const report = run.json<FsckJson>();
    expect(report.errors).toBe(0);
    expect(report.notes.join('\n')).toMatch(
      new RegExp(
        `header slot ${1 - (generation % 2)} in use \\(generation ${generation - 1}\\); the other: volume header slot at offset ${newest}: CRC expected`,
      ),
    );
    // The older header's FIFO span still holds the cycle: it is rolled back, the record is not there.
    expect(report.stats.fifoSpanUndo).toBeGreaterThan(0);
    const show = cli(['show', path, '--json'], dir);
    expect(show.status).toBe(0);
    const elms = show.json<{ nodes: Array<{ elms: Array<{ objId: string }> }> }>().nodes.flatMap((n) => n.elms);
    expect(elms.some((e) => e.objId === '0x0000000000000003')).toBe(false);
    flipInFile(path, older + 300);
    const broken = cli(['fsck', path, '--json'], dir);
    expect(broken.status).toBe(1);
    expect(broken.json<FsckJson>().problems).toEqual([
      { where: 'volume', what: expect.stringMatching(/^EIO: both volume header slots are damaged: .*CRC expected/) },
    ]);
    const shown = cli(['show', path], dir);
    expect(shown.status).toBe(1);
    expect(shown.stderr).toMatch(/^hammerstate: EIO: both volume header slots are damaged/m);
    expect(shown.stderr).not.toContain('    at ');
  });

  it('a full volume: ENOSPC at insert, and everything committed before is there after remount, fsck clean', () => {
    const image = new MemDevice(48 * 1024 * 1024);
    Volume.mkfs(image, { size: image.size, undoBytes: 8 * 1024 * 1024, clock, label: 'full' }).close();
    const volume = mount(image);
    const payload = (n: number) => new Uint8Array(8192).fill(n % 251);
    let committed = 0;
    let error: unknown;
    for (let cycle = 0; error === undefined && cycle < 1000; cycle++) {
      volume.beginCycle();
      try {
        for (let i = 0; i < 100; i++) {
          const n = committed + i + 1;
          volume.insertRecord(
            { localization: LOC, objId: 9, recType: RecType.DATA, key: n * 8192, objType: 2 },
            payload(n),
          );
        }
        volume.commit();
        committed += 100;
      } catch (e) {
        error = e;
        volume.abort();
      }
    }
    expect(isFsError(error, 'ENOSPC')).toBe(true);
    expect(committed).toBeGreaterThan(0);
    volume.close();
    const report = fsck(image, { clock });
    expect(report.problems).toEqual([]);
    expect(report.stats.freeBigblocks).toBe(0);
    const again = mount(image);
    const model = readModel(again);
    const keys = [...model.keys()].filter((k) => k.startsWith('9:'));
    expect(keys).toHaveLength(committed);
    for (let n = 1; n <= committed; n++) {
      expect(model.get(`9:${n * 8192}`), `record ${n}`).toBe(Buffer.from(payload(n)).toString('hex'));
    }
    again.close();
    expect(fsck(image, { clock }).problems).toEqual([]);
  });

  it('a directory is not a volume, read-only or read-write: EINVAL', () => {
    for (const readOnly of [true, false]) {
      let error: unknown;
      try {
        FileDevice.open(dir, { readOnly }).close();
      } catch (e) {
        error = e;
      }
      expect(isFsError(error, 'EINVAL'), `readOnly ${readOnly}`).toBe(true);
      expect(String(error)).toContain('a directory is not a volume');
    }
  });

  it('a volume whose only commit is damaged says mkfs did not finish', () => {
    const device = new MemDevice(48 * 1024 * 1024);
    Volume.mkfs(device, { size: device.size, undoBytes: 8 * 1024 * 1024, clock }).close();
    const byte = new Uint8Array(1);
    device.read(HEADER_SLOTS[1] + 300, byte);
    byte[0] = (byte[0] ?? 0) ^ 1;
    device.write(HEADER_SLOTS[1] + 300, byte);
    const error = mountError(device);
    expect(isFsError(error, 'EIO')).toBe(true);
    expect(String(error)).toContain('has no B-tree root: mkfs did not finish');
  });
});
