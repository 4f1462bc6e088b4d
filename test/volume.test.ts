import { describe, expect, it } from 'vitest';
import { CrashDevice } from '../storage/crash-device.js';
import { isFsError } from '../storage/errors.js';
import { RedoFlag } from '../storage/format/fifo.js';
import { decodeInode, decodePfs } from '../storage/format/records.js';
import {
  BIGBLOCK_BYTES,
  LOCALIZE_INODE,
  LOCALIZE_MISC,
  localization,
  ObjType,
  RecType,
  ROOT_OBJ_ID,
  TID_MAX,
} from '../storage/layout.js';
import { dataKey, freshImage, mount, readModel } from './support/storage-workload.js';

const MISC = localization(0, LOCALIZE_MISC);
const INODE = localization(0, LOCALIZE_INODE);

function bytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text));
}

describe('volume', () => {
  it('mkfs makes the root directory inode and the PFS 0 record, like newfs_hammer', () => {
    const volume = mount(freshImage());
    const root = volume.lookup({ localization: INODE, objId: ROOT_OBJ_ID, recType: RecType.INODE, key: 0 });
    expect(root).toBeDefined();
    const inode = decodeInode(volume.readData(root as NonNullable<typeof root>), 'root');
    expect(inode).toMatchObject({ objType: ObjType.DIRECTORY, mode: 0o755, nlinks: 1, parentObjId: 0 });
    const pfs = volume.lookup({ localization: MISC, objId: ROOT_OBJ_ID, recType: RecType.PFS, key: 0 });
    expect(decodePfs(volume.readData(pfs as NonNullable<typeof pfs>), 'pfs').label).toBe('root');
    expect(volume.stats()).toMatchObject({ inodes: 1 });
    expect(volume.btree.check()).toEqual([]);
    volume.close();
  });

  it('keeps history: a deleted record stays readable as of an earlier TID', () => {
    const volume = mount(freshImage());
    volume.beginCycle();
    volume.insertRecord({ localization: MISC, objId: 50, recType: RecType.DATA, key: 5, objType: 2 }, bytes('v1'));
    const t1 = volume.commit();
    const t2 = volume.beginCycle();
    const old = volume.lookup({ localization: MISC, objId: 50, recType: RecType.DATA, key: 5 });
    volume.deleteRecord(old as NonNullable<typeof old>);
    volume.insertRecord({ localization: MISC, objId: 50, recType: RecType.DATA, key: 5, objType: 2 }, bytes('v2'));
    volume.commit();
    const base = { localization: MISC, objId: 50, recType: RecType.DATA, key: 5 };
    const at = (tid: number) => {
      const elm = volume.lookup(base, tid);
      return elm === undefined ? undefined : Buffer.from(volume.readData(elm)).toString();
    };
    expect(at(t1 - 1)).toBeUndefined();
    expect(at(t1)).toBe('v1');
    expect(at(t2 - 1)).toBe('v1');
    expect(at(t2)).toBe('v2');
    expect(at(TID_MAX)).toBe('v2');
    volume.close();
  });

  it('an aborted cycle leaves nothing behind, in memory or after remount', () => {
    const image = freshImage();
    const volume = mount(image);
    volume.beginCycle();
    volume.insertRecord({ localization: MISC, objId: 60, recType: RecType.DATA, key: 9, objType: 2 }, bytes('kept'));
    volume.commit();
    const before = readModel(volume);
    const stats = volume.stats();
    volume.beginCycle();
    for (let i = 0; i < 300; i++) {
      volume.insertRecord(
        { localization: MISC, objId: 61, recType: RecType.DATA, key: i + 1, objType: 2 },
        bytes(`x${i}`),
      );
    }
    volume.abort();
    expect(readModel(volume)).toEqual(before);
    expect(volume.btree.check()).toEqual([]);
    expect(volume.stats().btreeRoot).toBe(stats.btreeRoot);
    volume.beginCycle();
    volume.insertRecord({ localization: MISC, objId: 62, recType: RecType.DATA, key: 1, objType: 2 }, bytes('after'));
    volume.commit();
    volume.close();
    const again = mount(image);
    expect(readModel(again)).toEqual(new Map([...before, ['62:1', Buffer.from('after').toString('hex')]]));
    again.close();
  });

  it('an aborted cycle whose pre-images fill several slabs, after cycles that used them, rolls back exactly', () => {
    // Pre-images live in 256 KiB slabs reused cycle after cycle (buffers.ts); keys spread over every leaf so
    // the later committed cycles fill two slabs and the aborted one four (measured when written).
    const image = freshImage();
    const volume = mount(image);
    const key = (i: number) => ((i * 7919) % 12007) + 1;
    for (let cycle = 0; cycle < 3; cycle++) {
      volume.beginCycle();
      for (let i = 0; i < 3000; i++) {
        volume.insertRecord(
          { localization: MISC, objId: 80, recType: RecType.DATA, key: key(i) * 4 + cycle, objType: 2 },
          bytes(`c${cycle}-${i}`),
        );
      }
      volume.commit();
    }
    const before = readModel(volume);
    volume.beginCycle();
    for (let i = 0; i < 4000; i++) {
      volume.insertRecord(
        { localization: MISC, objId: 80, recType: RecType.DATA, key: key(i) * 4 + 3, objType: 2 },
        bytes(`aborted-${i}`),
      );
    }
    volume.abort();
    expect(readModel(volume)).toEqual(before);
    expect(volume.btree.check()).toEqual([]);
    volume.close();
    const again = mount(image);
    expect(readModel(again)).toEqual(before);
    expect(again.btree.check()).toEqual([]);
    again.close();
  });

  it('a mid-flush finalize writes meta-data that recovery rolls back when the cycle never commits', () => {
    const image = freshImage();
    const volume = mount(image);
    const before = readModel(volume);
    volume.beginCycle();
    for (let i = 0; i < 500; i++) {
      volume.insertRecord(
        { localization: MISC, objId: 70, recType: RecType.DATA, key: i + 1, objType: 2 },
        bytes(`r${i}`),
      );
      if (i % 100 === 99) volume.finalize(false);
    }
    expect(volume.counters.metaBytesWritten).toBeGreaterThan(0);
    // Crash: the device keeps what was written, the process is gone.
    const after = mount(image);
    expect(after.recovery.undone).toBeGreaterThan(0);
    expect(after.btree.check()).toEqual([]);
    expect(readModel(after)).toEqual(before);
    after.close();
  });

  it('a read-only mount recovers in memory and writes nothing', () => {
    const image = freshImage();
    const volume = mount(image);
    volume.beginCycle();
    volume.insertRecord({ localization: MISC, objId: 80, recType: RecType.DATA, key: 1, objType: 2 }, bytes('gone'));
    volume.finalize(false);
    const recorder = new CrashDevice(image);
    const readOnly = mount(recorder, true);
    expect(readOnly.recovery.undone).toBeGreaterThan(0);
    expect(readModel(readOnly).has('80:1')).toBe(false);
    expect(recorder.ops).toEqual([]);
    let error: unknown;
    try {
      readOnly.beginCycle();
    } catch (e) {
      error = e;
    }
    expect(isFsError(error, 'EROFS')).toBe(true);
    readOnly.close();
  });

  it('patches mtime under UNDO and atime without, no new version', () => {
    const image = freshImage();
    const volume = mount(image);
    const key = { localization: INODE, objId: ROOT_OBJ_ID, recType: RecType.INODE, key: 0 };
    const root = volume.lookup(key);
    if (root === undefined) throw new Error('no root');
    const original = decodeInode(volume.readData(root), 'root');
    volume.beginCycle();
    volume.patchInodeTimes(root, { mtime: 111, atime: 222 });
    volume.commit();
    expect(decodeInode(volume.readData(root), 'root')).toMatchObject({ mtime: 111, atime: 222 });
    expect(volume.scan({ ...key, createTid: 1 }, { ...key, createTid: 0 })).toHaveLength(1);
    // atime alone logs no UNDO; mtime does.
    volume.beginCycle();
    const used = volume.fifo.usedBytes();
    volume.patchInodeTimes(root, { atime: 444 });
    expect(volume.fifo.usedBytes()).toBe(used);
    volume.patchInodeTimes(root, { mtime: 333 });
    expect(volume.fifo.usedBytes()).toBeGreaterThan(used);
    volume.finalize(false); // crash before the header: the mtime patch rolls back
    const after = mount(image);
    const recovered = after.lookup(key);
    if (recovered === undefined) throw new Error('no root after recovery');
    const inode = decodeInode(after.readData(recovered), 'root');
    expect(inode.mtime).toBe(111);
    expect(inode.ctime).toBe(original.ctime);
    after.close();
  });

  it('frees an emptied big-block only after the cycle that emptied it commits', () => {
    const volume = mount(freshImage());
    const free0 = volume.stats().freeBigblocks;
    volume.beginCycle();
    const big = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 9; i++) {
      volume.insertRecord(
        { localization: MISC, objId: 90, recType: RecType.DATA, key: (i + 1) * big.length, objType: 2 },
        big,
      );
    }
    volume.commit();
    expect(volume.stats().freeBigblocks).toBe(free0 - 2);
    volume.beginCycle();
    for (let i = 0; i < 8; i++) {
      const elm = volume.lookup({ ...dataKey(90, (i + 1) * big.length) });
      if (elm === undefined) throw new Error(`record ${i} missing`);
      volume.destroyRecord(elm);
    }
    expect(volume.stats().freeBigblocks).toBe(free0 - 1);
    volume.commit();
    const free = volume
      .freemap()
      .allEntries()
      .filter((e) => e.zone === 0);
    expect(free.every((e) => e.bytesFree === BIGBLOCK_BYTES && e.appendOff === 0)).toBe(true);
    expect(free.length).toBe(free0 - 1);
    volume.close();
  });
});

describe('REDO and recovery stage 2', () => {
  it('exposes an fsynced REDO WRITE that was never committed', () => {
    const image = freshImage();
    const volume = mount(image);
    volume.appendRedo({
      flags: RedoFlag.WRITE,
      objId: 42,
      localization: MISC,
      offset: 4096,
      mtime: 7,
      payload: bytes('hello'),
    });
    volume.syncRedo();
    const after = mount(image);
    expect(after.recovery.redo).toHaveLength(1);
    expect(after.recovery.redo[0]?.record).toMatchObject({ objId: 42, offset: 4096, flags: RedoFlag.WRITE });
    expect(Buffer.from(after.recovery.redo[0]?.record.payload ?? []).toString()).toBe('hello');
    after.close();
  });

  it('replays an operation logged as several REDO records whole or not at all (CHAIN)', () => {
    const image = freshImage();
    const recorder = new CrashDevice(image);
    const volume = mount(recorder);
    const payload = new Uint8Array(3000).map((_, i) => i & 0xff);
    volume.appendRedo(
      { flags: RedoFlag.TRUNC, objId: 7, localization: MISC, offset: 0, mtime: 1, payload: new Uint8Array(0) },
      true,
    );
    volume.appendRedo({ flags: RedoFlag.WRITE, objId: 7, localization: MISC, offset: 0, mtime: 1, payload });
    const before = recorder.ops.length;
    volume.syncRedo();
    const whole = mount(recorder.crashImage(recorder.ops.length));
    const records = whole.recovery.redo.map((r) => r.record);
    expect(records[0]?.flags).toBe(RedoFlag.TRUNC | RedoFlag.CHAIN);
    expect(records.slice(1).reduce((n, r) => n + r.payload.length, 0)).toBe(3000);
    expect(records[records.length - 1]?.flags).toBe(RedoFlag.WRITE);
    whole.close();
    // Every image with only part of the chain on disk replays none of it.
    let partial = 0;
    for (const point of recorder.writePoints().filter((p) => p >= before)) {
      const pending = recorder.pendingWrites(point + 1);
      const last = pending[pending.length - 1];
      const sectors = Math.ceil((last?.data.length ?? 0) / 512);
      // Torn: only the first sectors of the FIFO write land (a chain cut in the middle).
      const torn = Array.from({ length: sectors }, (_, i) => i < sectors / 2);
      for (const fate of ['drop', 'whole', { sectors: torn }] as const) {
        const fates = pending.map((_, i) => (i === pending.length - 1 ? fate : 'whole'));
        const crashed = mount(recorder.crashImage(point + 1, fates));
        const found = crashed.recovery.redo.filter((r) => r.record.objId === 7);
        expect([0, records.length]).toContain(found.length);
        if (found.length === 0) partial++;
        crashed.close();
      }
    }
    expect(partial).toBeGreaterThan(0);
  });

  it('reaches REDO before first_offset through the header after a commit, and a TERM there cancels it', () => {
    const image = freshImage();
    const volume = mount(image);
    const w1 = volume.appendRedo({
      flags: RedoFlag.WRITE,
      objId: 1,
      localization: MISC,
      offset: 0,
      mtime: 1,
      payload: bytes('a'),
    });
    volume.appendRedo({
      flags: RedoFlag.WRITE,
      objId: 2,
      localization: MISC,
      offset: 0,
      mtime: 1,
      payload: bytes('b'),
    });
    volume.syncRedo();
    // A cycle that commits object 1's data (with its TERM) but not object 2's.
    volume.beginCycle({ redoSyncOffset: w1 });
    volume.insertRecord({ localization: MISC, objId: 1, recType: RecType.DATA, key: 1, objType: 2 }, bytes('a'));
    volume.appendRedo({
      flags: RedoFlag.TERM_WRITE,
      objId: 1,
      localization: MISC,
      offset: 0,
      mtime: 0,
      payload: new Uint8Array(0),
      termBytes: 1,
    });
    volume.commit();
    const after = mount(image);
    expect(after.recovery.stage2From).toBe(w1);
    expect(after.recovery.redo.map((r) => r.record.objId)).toEqual([2]);
    after.close();
  });

  it('ignores a TERM inside the span: its meta-data was just undone', () => {
    const image = freshImage();
    const volume = mount(image);
    const w = volume.appendRedo({
      flags: RedoFlag.WRITE,
      objId: 3,
      localization: MISC,
      offset: 0,
      mtime: 1,
      payload: bytes('c'),
    });
    volume.syncRedo();
    volume.beginCycle({ redoSyncOffset: w });
    volume.insertRecord({ localization: MISC, objId: 3, recType: RecType.DATA, key: 1, objType: 2 }, bytes('c'));
    volume.appendRedo({
      flags: RedoFlag.TERM_WRITE,
      objId: 3,
      localization: MISC,
      offset: 0,
      mtime: 0,
      payload: new Uint8Array(0),
    });
    volume.finalize(false); // crash before the header
    const after = mount(image);
    expect(after.recovery.redo.map((r) => r.record.objId)).toEqual([3]);
    expect(readModel(after).has('3:1')).toBe(false);
    after.close();
  });

  it('splits a large REDO WRITE across sectors with increasing offsets', () => {
    const image = freshImage();
    const volume = mount(image);
    const payload = new Uint8Array(5000).map((_, i) => i & 0xff);
    volume.appendRedo({ flags: RedoFlag.WRITE, objId: 9, localization: MISC, offset: 10_000, mtime: 1, payload });
    volume.syncRedo();
    const after = mount(image);
    const pieces = after.recovery.redo.map((r) => r.record);
    expect(pieces.length).toBeGreaterThan(10);
    let offset = 10_000;
    const joined: number[] = [];
    for (const piece of pieces) {
      expect(piece.offset).toBe(offset);
      offset += piece.payload.length;
      joined.push(...piece.payload);
    }
    expect(Buffer.from(joined).equals(Buffer.from(payload))).toBe(true);
    after.close();
  });
});
