import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logicalClock } from '../../storage/clock.js';
import type { FileDevice, MemDevice } from '../../storage/device.js';
import { LOCALIZE_MISC, localization, RecType } from '../../storage/layout.js';
import { Volume } from '../../storage/volume.js';
import { freshImage, mount } from './storage-workload.js';

/** Damaged images for the bad-input and FIFO-hole tests: the damage, and what to look at it with. */

export const clock = logicalClock();
export const LOC = localization(0, LOCALIZE_MISC);

/** What a read-write Volume.mount of `device` threw (undefined: it mounted). */
export function mountError(device: MemDevice | FileDevice): unknown {
  try {
    Volume.mount(device, { clock }).close();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Flip one bit of the byte at `offset`. */
export function flip(image: MemDevice, offset: number): void {
  const byte = new Uint8Array(1);
  image.read(offset, byte);
  byte[0] = (byte[0] ?? 0) ^ 0x04;
  image.write(offset, byte);
}

/** A memory image as a volume file in `dir`, for the CLI. */
export function saveImage(image: MemDevice, dir: string, name: string): string {
  const path = join(dir, name);
  const bytes = new Uint8Array(image.size);
  image.read(0, bytes);
  writeFileSync(path, bytes);
  return path;
}

/**
 * A cycle that reached the device without its commit: `records` inserts,
 * then `reached: 'meta'`: the FIFO written and fsynced, then the meta-data
 * (finalize(false)), no header; `reached: 'fifo'`: only the FIFO written (a
 * crash before the meta-data).
 */
export function crashedMidCycle(
  records = 400,
  reached: 'fifo' | 'meta' = 'meta',
): { image: MemDevice; first: number; fifoPhysical: (offset: number) => number } {
  const image = freshImage();
  const volume = mount(image);
  const first = volume.fifo.state.first;
  volume.beginCycle();
  for (let i = 0; i < records; i++) {
    volume.insertRecord(
      { localization: LOC, objId: 7, recType: RecType.DATA, key: i + 1, objType: 2 },
      new Uint8Array(10),
    );
  }
  if (reached === 'meta') volume.finalize(false);
  else volume.fifo.writeOut();
  return { image, first, fifoPhysical: (offset) => volume.fifo.physical(offset) };
}

/** `hammerstate fsck --json`'s output. */
export type FsckJson = {
  errors: number;
  problems: Array<{ where: string; what: string }>;
  notes: string[];
  stats: Record<string, number>;
};
