import { describe, expect, it } from 'vitest';
import { allocBytes, encodeFreemapEntry, FREEMAP_ENTRY_BYTES } from '../storage/blockmap.js';
import { logicalClock } from '../storage/clock.js';
import type { MemDevice } from '../storage/device.js';
import { fsck } from '../storage/fsck.js';
import { offPart, Zone } from '../storage/layout.js';
import { freshImage, mount, randomCycle, readModel, seededRandom } from './support/storage-workload.js';

const clock = logicalClock();

function busyImage(): MemDevice {
  const image = freshImage();
  const volume = mount(image);
  const model = readModel(volume);
  const next = seededRandom(42);
  for (let i = 0; i < 6; i++) randomCycle(volume, model, next, 40);
  volume.close();
  return image;
}

function flip(image: MemDevice, offset: number, mask = 0x10): void {
  const byte = new Uint8Array(1);
  image.read(offset, byte);
  byte[0] = (byte[0] ?? 0) ^ mask;
  image.write(offset, byte);
}

describe('fsck', () => {
  it('finds nothing wrong with a fresh volume or one after many cycles', () => {
    expect(fsck(freshImage(), { clock })).toMatchObject({ errors: 0, problems: [] });
    const report = fsck(busyImage(), { clock });
    expect(report.problems).toEqual([]);
    expect(report.stats.records).toBeGreaterThan(100);
    expect(report.stats.liveInodes).toBe(1);
    expect(report.stats.headerInodes).toBe(1);
  });

  it('reports a damaged B-tree node with its offset and both CRCs, without throwing', () => {
    const image = busyImage();
    const volume = mount(image);
    const leaf = [...volume.btree.walk()].find((entry) => entry.depth > 0)?.node;
    const bufBeg = volume.header().bufBeg;
    volume.close();
    expect(leaf).toBeDefined();
    flip(image, bufBeg + offPart(leaf?.offset ?? 0) + 200);
    const report = fsck(image, { clock });
    expect(report.errors).toBeGreaterThan(0);
    expect(report.problems[0]?.where).toBe(`node 0x${(leaf?.offset ?? 0).toString(16)}`);
    expect(report.problems[0]?.what).toMatch(/CRC expected 0x[0-9a-f]{8}, found 0x[0-9a-f]{8}/);
  });

  it('reports damaged record data', () => {
    const image = busyImage();
    const volume = mount(image);
    const elm = volume.scan(
      { localization: 0, objId: 100, recType: 0, key: 0, createTid: 1 },
      { localization: 0xffff, objId: 200, recType: 0xffff, key: 2 ** 40, createTid: 0 },
    )[0];
    const bufBeg = volume.header().bufBeg;
    volume.close();
    expect(elm).toBeDefined();
    flip(image, bufBeg + offPart(elm?.dataOffset ?? 0));
    const report = fsck(image, { clock });
    expect(report.problems.some((p) => p.what.includes('CRC expected'))).toBe(true);
  });

  it('reports freemap entries that disagree with the tree', () => {
    const image = busyImage();
    const volume = mount(image);
    const header = volume.header();
    const bigblock = volume
      .freemap()
      .allEntries()
      .findIndex((entry) => entry.zone === Zone.SMALL_DATA);
    const entry = volume.freemap().entry(bigblock);
    volume.close();
    // A well-formed entry (valid CRC) whose bytes_free disagrees with the tree by one allocation.
    const bytes = new Uint8Array(FREEMAP_ENTRY_BYTES);
    encodeFreemapEntry(bytes, 0, { ...entry, bytesFree: entry.bytesFree - allocBytes(Zone.SMALL_DATA, 16) });
    image.write(header.freemapBeg + bigblock * FREEMAP_ENTRY_BYTES, bytes);
    const report = fsck(image, { clock });
    expect(report.problems).toEqual([
      { where: `big-block ${bigblock}`, what: expect.stringMatching(/bytes in use, the tree references/) },
    ]);
  });

  it('reports a wrong inode count in the header', () => {
    const image = freshImage();
    const volume = mount(image);
    volume.beginCycle();
    volume.adjustInodeCount(5);
    volume.commit();
    volume.close();
    const report = fsck(image, { clock });
    expect(report.problems).toEqual([{ where: 'header', what: 'inode count 6, but the tree holds 1 live inodes' }]);
  });

  it('turns a volume it cannot mount into one problem, not an exception', () => {
    const image = freshImage();
    image.write(0, new Uint8Array(16384));
    const report = fsck(image, { clock });
    expect(report.errors).toBe(1);
    expect(report.problems[0]?.what).toMatch(/not a hammerstate volume/);
  });
});

describe('B-tree structural check', () => {
  it('reports a wrong parent link, elements out of order and a bad delete_tid', () => {
    const volume = mount(busyImage());
    expect(volume.btree.check()).toEqual([]);
    const [root, child] = [...volume.btree.walk()];
    if (root === undefined || child === undefined) throw new Error('expected a tree of two levels at least');
    child.node.parent = root.node.offset + 4096;
    const leaf = [...volume.btree.walk()].find((entry) => entry.node.type === 0x4c && entry.node.count > 2)?.node;
    if (leaf === undefined) throw new Error('expected a leaf with records');
    const elms = leaf.elms as Array<{ key: number; deleteTid: number; createTid: number }>;
    [elms[0], elms[1]] = [elms[1] as (typeof elms)[0], elms[0] as (typeof elms)[0]];
    (elms[2] as (typeof elms)[0]).deleteTid = (elms[2] as (typeof elms)[0]).createTid;
    const problems = volume.btree.check();
    expect(problems).toContain(
      `node 0x${child.node.offset.toString(16)}: parent 0x${child.node.parent.toString(16)}, linked from 0x${root.node.offset.toString(16)}`,
    );
    expect(problems.some((p) => p.endsWith('elements 0 and 1 out of order'))).toBe(true);
    expect(problems.some((p) => p.endsWith('element 2 delete_tid is not after create_tid'))).toBe(true);
  });
});
