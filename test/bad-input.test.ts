import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { logicalClock } from '../storage/clock.js';
import { FileDevice, type MemDevice } from '../storage/device.js';
import { isFsError } from '../storage/errors.js';
import { HEADER_SLOTS } from '../storage/format/header.js';
import { LOCALIZE_MISC, localization, offPart, RecType } from '../storage/layout.js';
import { Volume } from '../storage/volume.js';
import { cli } from './support/cli.js';
import { freshImage, mount, readModel } from './support/storage-workload.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-bad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clock = logicalClock();

function mountError(device: MemDevice | FileDevice): unknown {
  try {
    Volume.mount(device, { clock }).close();
  } catch (error) {
    return error;
  }
  return undefined;
}

function flip(image: MemDevice, offset: number): void {
  const byte = new Uint8Array(1);
  image.read(offset, byte);
  byte[0] = (byte[0] ?? 0) ^ 0x04;
  image.write(offset, byte);
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
    expect(run.stderr).toContain('EINVAL: not a hammerstate volume');
    expect(run.stderr).not.toContain('    at ');
  });

  it('a truncated volume: EIO saying how big it is and should be', () => {
    const path = makeVolumeFile('truncated.img');
    truncateSync(path, 20 * 1024 * 1024);
    const error = mountError(FileDevice.open(path));
    expect(isFsError(error, 'EIO')).toBe(true);
    expect(String(error)).toMatch(/truncated volume: the device holds 20971520 bytes/);
    const run = cli(['fsck', path, '--json'], dir);
    expect(run.status).toBe(1);
    expect(run.json<{ errors: number }>().errors).toBe(1);
  });

  it('a flipped bit in a B-tree node: EIO naming the node and both CRCs', () => {
    const path = makeVolumeFile('node.img');
    const volume = Volume.mount(FileDevice.open(path), { clock });
    const loc = localization(0, LOCALIZE_MISC);
    volume.beginCycle();
    for (let i = 0; i < 500; i++)
      volume.insertRecord({ localization: loc, objId: 5, recType: RecType.DATA, key: i + 1, objType: 2 });
    volume.commit();
    const leaf = [...volume.btree.walk()].find((entry) => entry.depth === 1)?.node;
    const rootOffset = volume.stats().btreeRoot;
    const bufBeg = volume.header().bufBeg;
    volume.close();
    if (leaf === undefined) throw new Error('expected a two-level tree');
    const bytes = readFileSync(path);
    const at = bufBeg + offPart(leaf.offset) + 300;
    bytes[at] = (bytes[at] ?? 0) ^ 1;
    writeFileSync(path, bytes);
    const name = `0x${leaf.offset.toString(16)}`;
    const show = cli(['show', path], dir);
    expect(show.status).toBe(1);
    expect(show.stdout).toMatch(
      new RegExp(`^\\s*B NODE 0x0*${leaf.offset.toString(16)} EIO: B-tree node at offset ${name}: CRC expected`, 'm'),
    );
    const fsck = cli(['fsck', path, '--json'], dir);
    expect(fsck.status).toBe(1);
    expect(fsck.json<{ problems: Array<{ where: string; what: string }> }>().problems[0]).toEqual({
      where: `node ${name}`,
      what: expect.stringMatching(/CRC expected 0x[0-9a-f]{8}, found 0x[0-9a-f]{8}/),
    });
    // The root itself damaged: the mount is refused with the EIO naming it.
    const root = bufBeg + offPart(rootOffset) + 100;
    bytes[root] = (bytes[root] ?? 0) ^ 1;
    writeFileSync(path, bytes);
    const error = mountError(FileDevice.open(path));
    expect(isFsError(error, 'EIO')).toBe(true);
    expect(String(error)).toContain(`B-tree node at offset 0x${rootOffset.toString(16)}: CRC expected`);
  });

  it('a flipped bit in a FIFO record ends the span at that record, as a lost write would', () => {
    const image = freshImage();
    const volume = mount(image);
    const first = volume.fifo.state.first;
    volume.beginCycle();
    const loc = localization(0, LOCALIZE_MISC);
    for (let i = 0; i < 200; i++) {
      volume.insertRecord(
        { localization: loc, objId: 7, recType: RecType.DATA, key: i + 1, objType: 2 },
        new Uint8Array(10),
      );
    }
    volume.fifo.writeOut(); // the FIFO reaches the device, nothing else (a crash before the meta-data)
    const intact = mount(image.clone(), true).recovery;
    const damaged = first + 4096 + 40;
    expect(intact.end).toBeGreaterThan(damaged);
    flip(image, volume.fifo.physical(first) + 4096 + 40);
    const after = mount(image);
    const sector = damaged - (damaged % 512);
    expect(after.recovery.end).toBeGreaterThanOrEqual(sector);
    expect(after.recovery.end).toBeLessThanOrEqual(damaged);
    expect(after.recovery.records).toBeLessThan(intact.records);
    expect(readModel(after).has('7:1')).toBe(false);
    expect(after.btree.check()).toEqual([]);
    after.close();
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

  it('a full volume: ENOSPC at insert, and everything committed before is there after remount', () => {
    const image = freshImage();
    const volume = mount(image);
    const loc = localization(0, LOCALIZE_MISC);
    const data = new Uint8Array(8192).fill(3);
    let committed = 0;
    let error: unknown;
    for (let cycle = 0; error === undefined && cycle < 1000; cycle++) {
      volume.beginCycle();
      try {
        for (let i = 0; i < 100; i++) {
          volume.insertRecord(
            { localization: loc, objId: 9, recType: RecType.DATA, key: (committed + i + 1) * 8192, objType: 2 },
            data,
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
    const again = mount(image);
    const model = readModel(again);
    expect([...model.keys()].filter((k) => k.startsWith('9:'))).toHaveLength(committed);
    again.close();
  });
});
