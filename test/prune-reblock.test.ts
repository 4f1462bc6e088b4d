import { describe, expect, it } from 'vitest';
import { logicalClock } from '../storage/clock.js';
import { CrashDevice } from '../storage/crash-device.js';
import { type BlockDevice, MemDevice } from '../storage/device.js';
import { MAX_BOUND, MIN_BOUND } from '../storage/format/btree-node.js';
import { encodeSnapshot } from '../storage/format/records.js';
import { fsck } from '../storage/fsck.js';
import { LOCALIZE_MISC, localization, RecType, ROOT_OBJ_ID, TID_MAX, Zone } from '../storage/layout.js';
import { prune } from '../storage/prune.js';
import { reblock } from '../storage/reblock.js';
import { Volume } from '../storage/volume.js';
import { type Model, mount, randomCycle, readModel, seededRandom } from './support/storage-workload.js';

/** 96 MiB with one FIFO big-block: room for sparse big-blocks to free. */
const VOLUME = { size: 96 * 1024 * 1024, undoBytes: 8 * 1024 * 1024 };

function freshVolume(): { device: MemDevice; volume: Volume } {
  const device = new MemDevice(VOLUME.size);
  Volume.mkfs(device, { ...VOLUME, clock: logicalClock(), label: 'maint' }).close();
  return { device, volume: mount(device) };
}

/** A SNAPSHOT record of PFS 0 at `tid`, as actors/versions.ts writes one. */
function recordSnapshot(volume: Volume, tid: number): void {
  volume.beginCycle();
  volume.insertRecord(
    {
      localization: localization(0, LOCALIZE_MISC),
      objId: ROOT_OBJ_ID,
      recType: RecType.SNAPSHOT,
      key: tid,
      objType: 0,
    },
    encodeSnapshot({ tid, ts: 0, label: `at ${tid}` }),
  );
  volume.commit();
}

interface History {
  device: MemDevice;
  /** The visible DATA records as of each TID of interest. */
  views: Map<number, Model>;
  snapshot: number;
  cut: number;
}

const BULK_LOC = localization(0, LOCALIZE_MISC);

/**
 * One cycle of bulk writes: deletes three in four live records (history kept),
 * then inserts `count` records of `length` bytes, so the big-blocks they fill
 * turn sparse once the history is pruned.
 */
function bulkCycle(volume: Volume, model: Model, next: () => number, length: number, count: number): void {
  volume.beginCycle();
  for (const id of [...model.keys()]) {
    if (next() < 0.25) continue;
    const [objId, key] = id.split(':').map(Number) as [number, number];
    const elm = volume.lookup({ localization: BULK_LOC, objId, recType: RecType.DATA, key });
    if (elm === undefined) throw new Error(`model has ${id} but the volume does not`);
    volume.deleteRecord(elm);
    model.delete(id);
  }
  for (let i = 0; i < count; i++) {
    const objId = 300 + Math.floor(next() * 20);
    const key = Math.floor(next() * 1e12);
    const data = new Uint8Array(length).fill(Math.floor(next() * 256));
    data[0] = i & 0xff;
    volume.insertRecord({ localization: BULK_LOC, objId, recType: RecType.DATA, key, objType: 2 }, data);
    model.set(`${objId}:${key}`, Buffer.from(data).toString('hex'));
  }
  volume.commit();
}

/**
 * Seeded cycles with deletes (history), a snapshot part-way, and the views
 * every later check compares with. `bulk` cycles of large and small writes
 * first spread the data zones over several big-blocks.
 */
function buildHistory(seed: number, cycles: number, bulk = 0): History {
  const { device, volume } = freshVolume();
  const model: Model = readModel(volume);
  const next = seededRandom(seed);
  for (let c = 0; c < bulk; c++) {
    bulkCycle(volume, model, next, 64 * 1024, 100);
    bulkCycle(volume, model, next, 4000, 1000);
  }
  let snapshot = 0;
  let cut = 0;
  for (let c = 0; c < cycles; c++) {
    randomCycle(volume, model, next, 40);
    if (c === Math.floor(cycles / 3)) {
      snapshot = volume.header().lastCommitTid;
      recordSnapshot(volume, snapshot);
    }
    if (c === cycles - 3) cut = volume.header().lastCommitTid;
  }
  const views = new Map<number, Model>();
  for (const tid of [snapshot, cut, TID_MAX]) views.set(tid, readModel(volume, tid));
  volume.close();
  return { device, views, snapshot, cut };
}

/** The volume reads as `views` says at each of its TIDs, and fsck finds nothing. */
function expectIntact(device: BlockDevice, views: Map<number, Model>, what: string): void {
  const report = fsck(device, { clock: logicalClock() });
  expect(report.problems, what).toEqual([]);
  const volume = mount(device, true);
  for (const [tid, view] of views) expect(readModel(volume, tid), `${what}: as of ${tid}`).toEqual(view);
  volume.close();
}

describe('prune', () => {
  it('destroys history deleted at or before the cut that no snapshot sees, frees its data, keeps every view', () => {
    const history = buildHistory(7, 12);
    const volume = mount(history.device);
    const before = volume.scan(MIN_BOUND, MAX_BOUND);
    const report = prune(volume, { before: history.cut, batch: 25 });
    const after = volume.scan(MIN_BOUND, MAX_BOUND);
    volume.close();
    const sees = (e: { createTid: number; deleteTid: number }) =>
      e.createTid <= history.snapshot && history.snapshot < e.deleteTid;
    const doomed = before.filter((e) => e.deleteTid !== 0 && e.deleteTid <= history.cut && !sees(e));
    expect(doomed.length).toBeGreaterThan(25);
    expect(report.recordsPruned).toBe(doomed.length);
    expect(report.bytesPruned).toBe(doomed.reduce((sum, e) => sum + e.dataLen, 0));
    expect(report.keptForSnapshots).toBeGreaterThan(0);
    expect(report.snapshots).toBe(1);
    expect(report.cycles).toBe(Math.ceil(doomed.length / 25));
    expect(after.length).toBe(before.length - doomed.length);
    expect(after.filter((e) => e.deleteTid !== 0 && e.deleteTid <= history.cut && !sees(e))).toEqual([]);
    // History deleted after the cut, and everything the snapshot sees, stays.
    expect(after.some((e) => e.deleteTid > history.cut)).toBe(true);
    expectIntact(history.device, history.views, 'after prune');
    // A second prune at the same cut finds nothing left to do.
    const again = mount(history.device);
    expect(prune(again, { before: history.cut }).recordsPruned).toBe(0);
    again.close();
  });

  it('refuses a cut that is not a TID (EINVAL) and changes nothing', () => {
    const { device, volume } = freshVolume();
    expect(() => prune(volume, { before: -1 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(volume.cycleTid).toBeUndefined();
    volume.close();
    expect(fsck(device, { clock: logicalClock() }).errors).toBe(0);
  });
});

/** History with most of its data pruned away: sparse big-blocks in the data zones. */
function sparseVolume(seed: number): History {
  const history = buildHistory(seed, 12, 3);
  const volume = mount(history.device);
  prune(volume, { before: history.cut });
  volume.close();
  return history;
}

/**
 * A B-tree spread over two big-blocks of its zone (some 65 000 records
 * without data), then thinned (all but one record in a hundred destroyed), so
 * the older big-block's nodes are sparse and it is not the zone's current one.
 */
function sparseTree(): History {
  const { device, volume } = freshVolume();
  const btreeBigblocks = () =>
    volume
      .freemap()
      .allEntries()
      .filter((entry) => entry.zone === Zone.BTREE).length;
  for (let key = 0; btreeBigblocks() < 2; ) {
    volume.beginCycle();
    for (const end = key + 5000; key < end; key++) {
      volume.insertRecord({ localization: BULK_LOC, objId: 400 + (key % 7), recType: RecType.DATA, key, objType: 2 });
    }
    volume.commit();
  }
  const records = volume.scan(MIN_BOUND, MAX_BOUND).filter((elm) => elm.objId >= 400);
  for (let start = 0; start < records.length; start += 4000) {
    volume.beginCycle();
    for (const elm of records.slice(start, start + 4000)) if (elm.key % 100 !== 0) volume.destroyRecord(elm);
    volume.commit();
  }
  const views = new Map<number, Model>([[TID_MAX, readModel(volume)]]);
  volume.close();
  return { device, views, snapshot: 0, cut: 0 };
}

describe('reblock', () => {
  it('moves the nodes out of a sparse B-tree big-block and frees it; the tree is sound and reads the same', () => {
    const history = sparseTree();
    const volume = mount(history.device);
    const before = volume.scan(MIN_BOUND, MAX_BOUND);
    const report = reblock(volume, { fillPercent: 100 });
    expect(report.nodesMoved).toBeGreaterThan(100);
    expect(report.bigblocksEmptied).toBe(report.bigblocksExamined);
    expect(report.bigblocksFreed).toBeGreaterThanOrEqual(1);
    expect(volume.btree.check()).toEqual([]);
    expect(volume.scan(MIN_BOUND, MAX_BOUND)).toEqual(before);
    volume.close();
    expectIntact(history.device, history.views, 'after moving the nodes');
  });

  it('empties sparse big-blocks by moving their data; every version reads the same, fsck is clean', () => {
    const history = sparseVolume(11);
    const volume = mount(history.device);
    const freeBefore = volume.stats().freeBigblocks;
    const report = reblock(volume, { fillPercent: 100, batch: 50 });
    expect(report.bigblocksExamined).toBeGreaterThan(0);
    // Every source emptied; the net gain is what the moves did not fill again.
    expect(report.bigblocksEmptied).toBe(report.bigblocksExamined);
    expect(report.bigblocksFreed).toBeLessThanOrEqual(report.bigblocksEmptied);
    expect(report.recordsMoved).toBeGreaterThan(0);
    expect(report.bigblocksFreed).toBeGreaterThan(0);
    expect(volume.stats().freeBigblocks).toBe(freeBefore + report.bigblocksFreed);
    volume.close();
    expectIntact(history.device, history.views, 'after reblock');
    // The data now fits its append points: a second pass has nothing below the level to empty.
    const again = mount(history.device);
    expect(reblock(again, { fillPercent: 1 }).recordsMoved).toBe(0);
    again.close();
  });

  it('moves B-tree nodes too: every node relocated, the tree and its records unchanged', () => {
    const history = buildHistory(5, 6);
    const volume = mount(history.device);
    const records = volume.scan(MIN_BOUND, MAX_BOUND);
    const offsets = [...volume.btree.walk()].map((entry) => entry.node.offset);
    expect(offsets.length).toBeGreaterThan(1);
    volume.beginCycle();
    const moved = offsets.map((offset) => volume.moveNode(offset));
    volume.commit();
    expect(new Set(moved).size).toBe(offsets.length);
    expect(moved.filter((offset) => offsets.includes(offset))).toEqual([]);
    expect(volume.scan(MIN_BOUND, MAX_BOUND)).toEqual(records);
    volume.close();
    expectIntact(history.device, history.views, 'after moving every node');
  });

  it('stops with ENOSPC when the moves find no room, rolling its cycle back; the volume stays intact', () => {
    const history = sparseVolume(13);
    const volume = mount(history.device);
    // Fill every free big-block, so the moves have nowhere to go until their cycle commits
    // (DB records: in the data zones, outside the DATA views compared).
    for (let key = 0; ; key++) {
      volume.beginCycle();
      try {
        const data = new Uint8Array(4 * 1024 * 1024).fill(key & 0xff);
        volume.insertRecord({ localization: BULK_LOC, objId: 900, recType: RecType.DB, key, objType: 2 }, data);
        volume.commit();
      } catch (error) {
        volume.abort();
        expect(error).toMatchObject({ code: 'ENOSPC' });
        break;
      }
    }
    const generation = volume.header().generation;
    expect(() => reblock(volume, { fillPercent: 100 })).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    expect(volume.cycleTid).toBeUndefined();
    expect(volume.header().generation).toBe(generation);
    volume.close();
    expectIntact(history.device, history.views, 'after ENOSPC');
  });

  it('refuses a fill level outside 0..100 (EINVAL)', () => {
    const { volume } = freshVolume();
    expect(() => reblock(volume, { fillPercent: 101 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    volume.close();
  });
});

describe('prune and reblock survive a crash at any write', () => {
  /** Crash images at up to `points` write points spread over the run: each mounts to a volume with every view intact. */
  function crashEverywhere(history: History, run: (volume: Volume) => void, points: number): void {
    const device = new CrashDevice(history.device);
    const volume = Volume.mount(device, { clock: logicalClock() });
    run(volume);
    volume.close();
    const writes = device.writePoints();
    const step = Math.max(1, Math.floor(writes.length / points));
    const next = seededRandom(3);
    for (let i = 0; i < writes.length; i += step) {
      const end = writes[i] as number;
      const image = i % 2 === 0 ? device.crashImage(end) : device.sampleCrashImage(end, next);
      mount(image).close(); // recovery stage 1, written back
      expectIntact(image, history.views, `crash before op ${end}`);
    }
  }

  it('prune', () => {
    const history = buildHistory(21, 12);
    crashEverywhere(history, (volume) => prune(volume, { before: history.cut, batch: 10 }), 24);
  });

  it('reblock', () => {
    const history = sparseVolume(23);
    crashEverywhere(history, (volume) => reblock(volume, { fillPercent: 100, batch: 200 }), 6);
  });

  it('reblock moving B-tree nodes', () => {
    crashEverywhere(sparseTree(), (volume) => reblock(volume, { fillPercent: 100, batch: 150 }), 12);
  });
});
