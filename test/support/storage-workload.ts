import { logicalClock } from '../../storage/clock.js';
import { seededRandom } from '../../storage/crash-device.js';
import { type BlockDevice, MemDevice } from '../../storage/device.js';
import type { BTreeKey } from '../../storage/format/btree-node.js';
import { KEY_MAX, KEY_MIN, LOCALIZE_MISC, localization, RecType, TID_MAX } from '../../storage/layout.js';
import { Volume } from '../../storage/volume.js';

/** A small volume for storage tests: 48 MiB with one 8 MiB FIFO big-block. */
export const SMALL_VOLUME = { size: 48 * 1024 * 1024, undoBytes: 8 * 1024 * 1024 };

export function freshImage(options = SMALL_VOLUME): MemDevice {
  const device = new MemDevice(options.size);
  Volume.mkfs(device, { ...options, clock: logicalClock(), label: 'test' }).close();
  return device;
}

/** The visible state of a volume's DATA records: "objId:key" -> data as hex. */
export type Model = Map<string, string>;

const LOC = localization(0, LOCALIZE_MISC);
const ALL_LO: BTreeKey = { localization: 0, objId: KEY_MIN, recType: 0, key: KEY_MIN, createTid: 1 };
const ALL_HI: BTreeKey = { localization: 0xffffffff, objId: KEY_MAX, recType: 0xffff, key: KEY_MAX, createTid: 0 };

export function dataKey(objId: number, key: number): BTreeKey {
  return { localization: LOC, objId, recType: RecType.DATA, key, createTid: 0 };
}

/** Read every visible DATA record with its data (CRC-checked) into a model. */
export function readModel(volume: Volume, asof = TID_MAX): Model {
  const model: Model = new Map();
  for (const elm of volume.scan(ALL_LO, ALL_HI, asof)) {
    if (elm.recType !== RecType.DATA) continue;
    model.set(`${elm.objId}:${elm.key}`, Buffer.from(volume.readData(elm)).toString('hex'));
  }
  return model;
}

/**
 * One seeded flush cycle: inserts new DATA records (some small, some large),
 * deletes some live ones (history kept; destroyed when created by this same
 * cycle). Applies the same to `model`.
 */
export function randomCycle(volume: Volume, model: Model, next: () => number, ops = 12): void {
  const tid = volume.beginCycle();
  for (let i = 0; i < ops; i++) {
    const live = [...model.keys()];
    if (live.length > 0 && next() < 0.3) {
      const victim = live[Math.floor(next() * live.length)] as string;
      const [objId, key] = victim.split(':').map(Number) as [number, number];
      const elm = volume.lookup({ localization: LOC, objId, recType: RecType.DATA, key });
      if (elm === undefined) throw new Error(`model has ${victim} but the volume does not`);
      // A record created by this cycle never reaches history (delete_tid may not equal create_tid).
      if (elm.createTid === tid) volume.destroyRecord(elm);
      else volume.deleteRecord(elm);
      model.delete(victim);
      continue;
    }
    const objId = 100 + Math.floor(next() * 40);
    const length = next() < 0.15 ? 8192 + Math.floor(next() * 40000) : 1 + Math.floor(next() * 3000);
    const key = Math.floor(next() * 1e9) + length;
    const id = `${objId}:${key}`;
    if (model.has(id)) continue;
    const data = new Uint8Array(length);
    for (let b = 0; b < length; b += 97) data[b] = Math.floor(next() * 256);
    volume.insertRecord({ localization: LOC, objId, recType: RecType.DATA, key, objType: 2 }, data);
    model.set(id, Buffer.from(data).toString('hex'));
  }
  volume.commit();
}

export function mount(device: BlockDevice, readOnly = false): Volume {
  return Volume.mount(device, { clock: logicalClock(), readOnly });
}

export { seededRandom };
