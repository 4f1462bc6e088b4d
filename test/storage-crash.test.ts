import { describe, expect, it } from 'vitest';
import { logicalClock } from '../storage/clock.js';
import { CrashDevice } from '../storage/crash-device.js';
import type { BlockDevice } from '../storage/device.js';
import { decodeFifoRecord, FifoType } from '../storage/format/fifo.js';
import { fsck } from '../storage/fsck.js';
import type { Volume } from '../storage/volume.js';
import {
  dataKey,
  freshImage,
  type Model,
  mount,
  randomCycle,
  readModel,
  seededRandom,
} from './support/storage-workload.js';

// Quick by default; HAMMERSTATE_CRASH_CYCLES / HAMMERSTATE_CRASH_SAMPLES make a longer campaign.
const CYCLES = Number(process.env.HAMMERSTATE_CRASH_CYCLES ?? 8);
const SAMPLES_PER_POINT = Number(process.env.HAMMERSTATE_CRASH_SAMPLES ?? 3);

interface Recording {
  device: CrashDevice;
  /** Model of the visible records after each committed cycle, by the cycle's TID. */
  states: Map<number, Model>;
  /** For each committed cycle's TID, the op index of the fsync that made its header durable. */
  durableAt: Map<number, number>;
}

/** Run seeded flush cycles on a CrashDevice, remembering what each commit promised. */
function record(seed: number): Recording {
  const device = new CrashDevice(freshImage());
  const volume = mount(device);
  const model: Model = readModel(volume);
  const first = volume.header().lastCommitTid;
  const states = new Map<number, Model>([[first, new Map(model)]]);
  const durableAt = new Map<number, number>([[first, -1]]);
  const next = seededRandom(seed);
  for (let c = 0; c < CYCLES; c++) {
    randomCycle(volume, model, next);
    const tid = volume.header().lastCommitTid;
    states.set(tid, new Map(model));
    durableAt.set(tid, device.ops.length - 1);
  }
  volume.close();
  return { device, states, durableAt };
}

/** The newest cycle whose header fsync completed before op `end`. */
function lastDurable(recording: Recording, end: number): number {
  let best = -1;
  for (const [tid, at] of recording.durableAt) if (at < end && tid > best) best = tid;
  return best;
}

/** Mount a crash image; it must hold exactly a committed cycle no older than the last durable one. */
function verify(recording: Recording, image: BlockDevice, end: number, what: string): Volume {
  const volume = mount(image);
  const tid = volume.header().lastCommitTid;
  const floor = lastDurable(recording, end);
  expect(tid, `${what}: recovered cycle ${tid} is older than the durable ${floor}`).toBeGreaterThanOrEqual(floor);
  const expected = recording.states.get(tid);
  expect(expected, `${what}: cycle ${tid} was never committed`).toBeDefined();
  expect(volume.btree.check(), `${what}: B-tree problems`).toEqual([]);
  expect(readModel(volume), `${what}: contents differ from cycle ${tid}`).toEqual(expected);
  expect(fsck(image, { clock: logicalClock() }).problems, `${what}: fsck`).toEqual([]);
  return volume;
}

describe('crash consistency of flush cycles (storage layer)', () => {
  const recording = record(7);
  const points = recording.device.writePoints();

  it('records a realistic number of writes and fsyncs', () => {
    expect(points.length).toBeGreaterThan(CYCLES * 4);
    expect(recording.device.ops.filter((op) => op.kind === 'fsync').length).toBeGreaterThanOrEqual(CYCLES * 3);
  });

  it('recovers the last durable cycle or a later one after a crash at every write (prefix order)', () => {
    for (const point of [...points, recording.device.ops.length]) {
      verify(recording, recording.device.crashImage(point), point, `crash before op ${point}`).close();
    }
  });

  it('recovers from reordered, dropped and torn writes in the unsynced window', () => {
    const next = seededRandom(99);
    for (const point of points) {
      for (let s = 0; s < SAMPLES_PER_POINT; s++) {
        const image = recording.device.sampleCrashImage(point + 1, next);
        verify(recording, image, point + 1, `sample ${s} at op ${point}`).close();
      }
    }
  });

  it('recovers again after a crash in the middle of recovery, and after a second crash on top', () => {
    const next = seededRandom(5);
    let tested = 0;
    for (const point of points) {
      const image = recording.device.crashImage(point);
      const probe = mount(image.clone(), true);
      const undone = probe.recovery.undone;
      probe.close();
      if (undone === 0) continue;
      const again = new CrashDevice(image);
      mount(again).close();
      for (const inner of again.writePoints()) {
        const twice = again.sampleCrashImage(inner + 1, next);
        verify(recording, twice, point, `recovery crash at ${inner} of ${point}`).close();
      }
      tested++;
    }
    expect(tested).toBeGreaterThan(0);
  });

  it('keeps history: every committed cycle is readable as of its TID', () => {
    const volume = mount(recording.device.currentImage());
    expect(readModel(volume)).toEqual(recording.states.get(volume.header().lastCommitTid));
    for (const [tid, state] of recording.states) {
      expect(readModel(volume, tid), `as of ${tid}`).toEqual(state);
    }
    volume.close();
  });

  it('survives crash, recovery, new cycles and a second crash that loses writes around stale FIFO sectors', () => {
    // A crash image with a gap in the FIFO, then new work on top of it, then another crash.
    const next = seededRandom(1234);
    for (let round = 0; round < 20; round++) {
      const point = points[Math.floor(next() * points.length)] as number;
      const image = recording.device.sampleCrashImage(point + 1, next);
      const second = new CrashDevice(image);
      const volume = verify(recording, second, point + 1, `round ${round}`);
      const model = readModel(volume);
      const tids = new Map<number, Model>([[volume.header().lastCommitTid, new Map(model)]]);
      for (let c = 0; c < 3; c++) {
        randomCycle(volume, model, next, 6);
        tids.set(volume.header().lastCommitTid, new Map(model));
      }
      volume.close();
      for (const inner of second.writePoints()) {
        const crashed = mount(second.sampleCrashImage(inner + 1, next));
        const expected = tids.get(crashed.header().lastCommitTid);
        expect(expected, `round ${round} inner ${inner}: unknown cycle`).toBeDefined();
        expect(readModel(crashed), `round ${round} inner ${inner}`).toEqual(expected);
        crashed.close();
      }
    }
  });
});

describe('stale FIFO sectors after a lost write', () => {
  /** The first `count` of the same 40 inserts, so two runs log the same UNDO records. */
  function sameCycle(volume: Volume, model: Model, count: number): void {
    volume.beginCycle();
    for (let i = 0; i < count; i++) {
      const data = new Uint8Array(200).fill(i);
      volume.insertRecord({ ...dataKey(500, (i + 1) * 1000), objType: 2 }, data);
      model.set(`500:${(i + 1) * 1000}`, Buffer.from(data).toString('hex'));
    }
  }

  it('commits shorter cycles over a FIFO whose first sector was lost, leaving stale sectors behind', () => {
    // Cycle A logs 40 inserts; a crash loses only the FIFO sector holding its
    // first records, so A's later sectors stay on disk, stale. After recovery a
    // shorter cycle B (the first N inserts) commits over them, for every N.
    const device = new CrashDevice(freshImage());
    const volume = mount(device);
    const before = readModel(volume);
    const firstOffset = volume.fifo.state.first;
    sameCycle(volume, new Map(before), 40);
    volume.finalize(false);
    volume.abort();
    volume.close();
    const target = volume.fifo.physical(firstOffset);
    const fifoWrite = device.ops.findIndex(
      (op) => op.kind === 'write' && op.offset <= target && target < op.offset + op.data.length,
    );
    expect(fifoWrite).toBeGreaterThan(0);
    const fates = device.pendingWrites(fifoWrite + 1).map((write) => {
      if (write.offset > target || write.offset + write.data.length <= target) return 'whole' as const;
      const lost = Math.floor((target - write.offset) / 512);
      return { sectors: Array.from({ length: write.data.length / 512 }, (_, s) => s !== lost) };
    });
    const image = device.crashImage(fifoWrite + 1, fates);
    for (let count = 1; count < 40; count++) {
      const copy = image.clone();
      const second = mount(copy);
      expect(readModel(second)).toEqual(before);
      const expected = new Map(before);
      sameCycle(second, expected, count);
      second.commit();
      second.close();
      const third = mount(copy);
      expect(third.btree.check(), `B of ${count} inserts`).toEqual([]);
      expect(readModel(third), `B of ${count} inserts`).toEqual(expected);
      third.close();
    }
  });

  it('after a read-write mount, no record left in the FIFO carries a seq the new sequence can reach', () => {
    const recording = record(11);
    const next = seededRandom(3);
    for (const point of recording.device.writePoints()) {
      const image = recording.device.sampleCrashImage(point + 1, next);
      const volume = mount(image);
      const { nextSeq } = volume.fifo.state;
      const reach = volume.fifo.size / 48; // the most records the ring can hold
      const sector = new Uint8Array(512);
      for (let offset = 0; offset < volume.fifo.size; offset += 512) {
        image.read(volume.fifo.physical(offset), sector);
        const found = decodeFifoRecord(sector, 0);
        if (!found.ok || found.record.type === FifoType.PAD) continue;
        const ahead = (found.record.seq - nextSeq) >>> 0;
        expect(
          ahead,
          `record at FIFO offset ${offset} (seq ${found.record.seq}) vs next seq ${nextSeq}`,
        ).toBeGreaterThan(reach);
      }
      volume.close();
    }
  });
});
