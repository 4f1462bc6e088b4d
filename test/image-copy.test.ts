import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileDevice, logicalClock, mkfs, mount } from '../actors/index.js';
import { fsck } from '../storage/fsck.js';
import { copyVolumeImage } from '../storage/image-copy.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-image-copy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 256 * 1024 * 1024;

function check(path: string): number {
  const device = FileDevice.open(path, { readOnly: true });
  try {
    return fsck(device, { clock: logicalClock() }).errors;
  } finally {
    device.close();
  }
}

describe('volume image copies (replay checkpoints)', () => {
  it('copy what the volume uses, sparse: the copy is the same volume and takes a fraction of its size', async () => {
    const volume = join(dir, 'v.hsvol');
    await mkfs(volume, { size: SIZE, audit: false });
    const fs = await mount(volume, { audit: false });
    await fs.mkdir('/d');
    for (let i = 0; i < 50; i++) await fs.writeFile(`/d/f${i}`, new Uint8Array(3000 + i * 700).fill(i));
    await fs.writeFile('/big', new Uint8Array(3 * 1024 * 1024).fill(9));
    await fs.unmount();
    const copy = join(dir, 'copy.hsvol');
    copyVolumeImage(volume, copy);
    expect(statSync(copy).size).toBe(SIZE);
    // A few big-blocks of 8 MiB (header area, FIFO, B-tree, data), not the 32 of the volume.
    expect(statSync(copy).blocks * 512).toBeLessThan(SIZE / 2);
    expect(check(copy)).toBe(0);
    // Byte for byte the same volume (nothing was ever written to the big-blocks left out).
    expect(Buffer.compare(readFileSync(copy), readFileSync(volume))).toBe(0);
    const again = await mount(copy, { audit: false, readOnly: true });
    expect((await again.readFile('/d/f49')).length).toBe(3000 + 49 * 700);
    expect(await again.readdir('/d')).toHaveLength(50);
    await again.unmount();
  });

  it('copies a file whose header cannot be read whole, as it is', () => {
    const junk = join(dir, 'junk.hsvol');
    const bytes = new Uint8Array(100_000).map((_, i) => (i * 7) % 256);
    writeFileSync(junk, bytes);
    const copy = join(dir, 'junk-copy.hsvol');
    copyVolumeImage(junk, copy);
    expect(Buffer.compare(readFileSync(copy), Buffer.from(bytes))).toBe(0);
  });
});
