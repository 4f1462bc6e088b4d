import { closeSync, copyFileSync, fsyncSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { logicalClock } from '../storage/clock.js';
import { seededRandom } from '../storage/crash-device.js';
import { FileDevice } from '../storage/device.js';
import { type BTreeKey, compareKeys } from '../storage/format/btree-node.js';
import {
  BIGBLOCK_BYTES,
  KEY_MAX,
  KEY_MIN,
  LOCALIZE_INODE,
  LOCALIZE_MISC,
  localization,
  ObjType,
  RecType,
  SECTOR_BYTES,
} from '../storage/layout.js';
import { type RecordInput, Volume } from '../storage/volume.js';
import { type BenchContext, type BenchResult, interleave, percentile, registerBenchmark, result } from './harness.js';

const MiB = 1024 * 1024;
const LOC = localization(0, LOCALIZE_INODE);
const CYCLE_RECORDS = 10_000;

function volumeAt(context: BenchContext, name: string, size: number, undoBytes: number): Volume {
  const path = join(context.dir, name);
  rmSync(path, { force: true });
  return Volume.mkfs(FileDevice.create(path, size), { size, undoBytes, clock: logicalClock() });
}

/** Seeded, distinct obj_ids scattered over 2^40, as a file-create workload scatters inodes over the tree. */
function objIds(count: number, seed: number): number[] {
  const next = seededRandom(seed);
  const out = new Set<number>();
  while (out.size < count) out.add(2 + Math.floor(next() * 2 ** 40));
  return [...out];
}

/** An INODE-like leaf record, without data (the B-tree and UNDO cost alone). */
function inodeRecord(objId: number): RecordInput {
  return { localization: LOC, objId, recType: RecType.INODE, key: 0, objType: ObjType.REGFILE };
}

/** Insert `ids` through the volume in committed cycles of `batch` records. */
function insertCommitted(volume: Volume, ids: number[], batch: number, progress?: (done: number) => void): void {
  for (let i = 0; i < ids.length; i += batch) {
    volume.beginCycle();
    for (const objId of ids.slice(i, i + batch)) volume.insertRecord(inodeRecord(objId));
    volume.commit();
    progress?.(Math.min(ids.length, i + batch));
  }
}

function seconds(start: number): number {
  return (performance.now() - start) / 1000;
}

async function btreeInsert(context: BenchContext): Promise<BenchResult> {
  const count = context.quick ? 20_000 : 200_000;
  const ids = objIds(count, 1);
  const measured = await interleave(context.reps, {
    ours: (rep) => {
      const volume = volumeAt(context, `insert-${rep}.hsvol`, 512 * MiB, 64 * MiB);
      const start = performance.now();
      insertCommitted(volume, ids, CYCLE_RECORDS);
      const elapsed = seconds(start);
      volume.close();
      rmSync(join(context.dir, `insert-${rep}.hsvol`));
      return count / elapsed;
    },
    sqlite: (rep) => {
      const path = join(context.dir, `insert-${rep}.sqlite`);
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(
        'CREATE TABLE records (loc INTEGER, obj INTEGER, rec INTEGER, key INTEGER, tid INTEGER, PRIMARY KEY (loc, obj, rec, key, tid)) WITHOUT ROWID',
      );
      const insert = db.prepare('INSERT INTO records VALUES (?, ?, ?, ?, ?)');
      const start = performance.now();
      for (let i = 0; i < count; i += CYCLE_RECORDS) {
        db.transaction(() => {
          for (const objId of ids.slice(i, i + CYCLE_RECORDS)) insert.run(LOC, objId, RecType.INODE, 0, 1);
        })();
      }
      const elapsed = seconds(start);
      db.close();
      rmSync(path, { force: true });
      return count / elapsed;
    },
    'sorted-array': () => {
      const sorted: BTreeKey[] = [];
      const start = performance.now();
      for (const objId of ids) {
        const key = { localization: LOC, objId, recType: RecType.INODE, key: 0, createTid: 1 };
        let lo = 0;
        let hi = sorted.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (compareKeys(sorted[mid] as BTreeKey, key) < 0) lo = mid + 1;
          else hi = mid;
        }
        sorted.splice(lo, 0, key);
      }
      return count / seconds(start);
    },
  });
  return result(
    'btree-insert',
    'records inserted per second (10k-record flush cycles, each committed)',
    'records/s',
    measured.ours.median,
    { sqlite: measured.sqlite.median, 'sorted-array': measured['sorted-array'].median },
    { records: count, reps: context.reps, samples: measured.ours.samples },
  );
}

async function flushCycle(context: BenchContext): Promise<BenchResult> {
  const cycles = context.quick ? 50 : 400;
  const data = new Uint8Array(4096).fill(0x5a);
  const misc = localization(0, LOCALIZE_MISC);
  const latenciesMs: number[] = [];
  let fsyncsPerCycle = 0;
  const measured = await interleave(context.reps, {
    ours: (rep) => {
      const volume = volumeAt(context, `cycles-${rep}.hsvol`, 256 * MiB, 32 * MiB);
      const fsyncs = volume.counters.fsyncs;
      const start = performance.now();
      for (let c = 0; c < cycles; c++) {
        const begin = performance.now();
        volume.beginCycle();
        for (let r = 0; r < 20; r++) volume.insertRecord(inodeRecord(1000 + c * 20 + r));
        volume.insertRecord(
          { localization: misc, objId: 1000 + c, recType: RecType.DATA, key: 4096, objType: ObjType.REGFILE },
          data,
        );
        volume.commit();
        latenciesMs.push(performance.now() - begin);
      }
      const elapsed = seconds(start);
      fsyncsPerCycle = (volume.counters.fsyncs - fsyncs) / cycles;
      volume.close();
      rmSync(join(context.dir, `cycles-${rep}.hsvol`));
      return cycles / elapsed;
    },
    'raw-fsync': (rep) => {
      const path = join(context.dir, `raw-fsync-${rep}.bin`);
      const fd = openSync(path, 'w');
      const start = performance.now();
      for (let c = 0; c < cycles; c++) {
        for (let i = 0; i < 3; i++) {
          writeSync(fd, data, 0, data.length, (c * 3 + i) * data.length);
          fsyncSync(fd);
        }
      }
      const elapsed = seconds(start);
      closeSync(fd);
      rmSync(path);
      return cycles / elapsed;
    },
  });
  return result(
    'flush-cycle',
    'committed flush cycles per second (20 records + 4 KiB data each)',
    'cycles/s',
    measured.ours.median,
    { 'raw-fsync': measured['raw-fsync'].median },
    {
      cycles,
      fsyncsPerCycle,
      rawFsyncsPerCycle: 3,
      p99Ms: percentile(latenciesMs, 99),
      reps: context.reps,
      samples: measured.ours.samples,
    },
  );
}

interface UndoSpan {
  path: string;
  spanBytes: number;
  /** Where the span lies in the volume file: (physical offset, length) pieces of at most 1 MiB. */
  pieces: Array<{ physical: number; length: number }>;
  /** Records committed or inserted before the crash. */
  records: number;
  /** FIFO records in the span (seq numbers from first to next). */
  fifoRecords: number;
}

/**
 * Build a crashed volume whose FIFO holds at least `target` bytes of one
 * uncommitted cycle: `count` records committed, then one cycle that marks
 * every record deleted (each leaf's changed granules logged), inserting fresh
 * records if that is not yet enough, with mid-flush finalize(false)s pushing
 * the meta-data out, and no commit.
 */
function buildUndoSpan(context: BenchContext, count: number, target: number): UndoSpan {
  const volume = volumeAt(context, 'recovery.hsvol', 512 * MiB, 128 * MiB);
  const ids = objIds(count, 2);
  insertCommitted(volume, ids, 20_000, (done) => context.progress(`  recovery: ${done} of ${count} records`));
  volume.beginCycle();
  const all = volume.scan(
    { localization: LOC, objId: KEY_MIN, recType: 0, key: KEY_MIN, createTid: 1 },
    { localization: LOC, objId: KEY_MAX, recType: 0xffff, key: KEY_MAX, createTid: 0 },
  );
  all.forEach((elm, i) => {
    volume.deleteRecord(elm);
    if (i % 50_000 === 49_999) volume.finalize(false);
  });
  volume.finalize(false);
  // Normally the deletes alone reach the target; fresh inserts (at most `count` more) top it up.
  const existing = new Set(ids);
  const random = seededRandom(3);
  let records = count;
  while (volume.fifo.usedBytes() < target) {
    if (records >= 2 * count) throw new Error(`${records} records left an UNDO span under ${target} bytes`);
    for (let i = 0; i < CYCLE_RECORDS; i++) {
      const objId = 2 + Math.floor(random() * 2 ** 40);
      if (existing.has(objId)) continue;
      existing.add(objId);
      volume.insertRecord(inodeRecord(objId));
      records++;
    }
    volume.finalize(false);
  }
  const { first, firstSeq, next, nextSeq } = volume.fifo.state;
  const spanBytes = (next - first + volume.fifo.size) % volume.fifo.size;
  const pieces: UndoSpan['pieces'] = [];
  for (let done = 0; done < spanBytes; ) {
    const at = (first + done) % volume.fifo.size;
    const length = Math.min(MiB, BIGBLOCK_BYTES - (at % BIGBLOCK_BYTES), spanBytes - done);
    pieces.push({ physical: volume.fifo.physical(at), length });
    done += length;
  }
  volume.device.close(); // the crash: the cycle never commits
  const fifoRecords = (nextSeq - firstSeq) >>> 0;
  return { path: join(context.dir, 'recovery.hsvol'), spanBytes, pieces, records, fifoRecords };
}

/**
 * Recovery of a long UNDO span: the read-write mount of a crashed volume
 * (scan the span, roll every UNDO back, write and fsync the restored buffers,
 * commit the mount header), against reading the same span's bytes raw.
 */
async function recovery(context: BenchContext): Promise<BenchResult> {
  const span = buildUndoSpan(context, context.quick ? 20_000 : 600_000, context.quick ? 2 * MiB : 64 * MiB);
  let undone = 0;
  const measured = await interleave(context.reps, {
    ours: (rep) => {
      const copy = join(context.dir, `recovery-${rep}.hsvol`);
      copyFileSync(span.path, copy);
      const fd = openSync(copy, 'r+');
      fsyncSync(fd); // the mount's own fsyncs must not pay for writing back the copy
      closeSync(fd);
      const start = performance.now();
      const mounted = Volume.mount(FileDevice.open(copy), { clock: logicalClock() });
      const elapsed = seconds(start);
      const report = mounted.recovery;
      // The scan also walks the provisional PAD after the last record, to the sector end.
      const recovered = (report.end - report.first + mounted.fifo.size) % mounted.fifo.size;
      const padBytes = recovered - span.spanBytes;
      if (report.records !== span.fifoRecords || report.undone === 0 || padBytes < 0 || padBytes >= SECTOR_BYTES)
        throw new Error(
          `recovery scanned ${report.records} records over ${recovered} bytes (${report.undone} UNDOs), expected ${span.fifoRecords} over ${span.spanBytes}`,
        );
      undone = report.undone;
      mounted.close();
      rmSync(copy);
      return span.spanBytes / MiB / elapsed;
    },
    'raw-read': () => {
      const fd = openSync(span.path, 'r');
      const buffer = Buffer.alloc(MiB);
      const start = performance.now();
      for (const piece of span.pieces) readSync(fd, buffer, 0, piece.length, piece.physical);
      const elapsed = seconds(start);
      closeSync(fd);
      return span.spanBytes / MiB / elapsed;
    },
  });
  return result(
    'recovery',
    'UNDO span rolled back by a read-write mount, MiB of span per second',
    'MiB/s',
    measured.ours.median,
    { 'raw-read': measured['raw-read'].median },
    {
      spanMiB: span.spanBytes / MiB,
      undoRecords: undone,
      mountSeconds: span.spanBytes / MiB / measured.ours.median,
      records: span.records,
      reps: context.reps,
      samples: measured.ours.samples,
    },
  );
}

async function seqwriteRaw(context: BenchContext): Promise<BenchResult> {
  const total = context.quick ? 32 * MiB : 256 * MiB;
  const chunk = Buffer.alloc(MiB, 0xa5);
  const measured = await interleave(context.reps, {
    raw: (rep) => {
      const path = join(context.dir, `seq-${rep}.bin`);
      const fd = openSync(path, 'w');
      const start = performance.now();
      for (let at = 0; at < total; at += MiB) writeSync(fd, chunk, 0, MiB, at);
      fsyncSync(fd);
      const elapsed = seconds(start);
      closeSync(fd);
      rmSync(path);
      return total / MiB / elapsed;
    },
  });
  return result(
    'seqwrite-raw',
    'raw sequential write of a plain file, 1 MiB writes + one fsync (no hammerstate code: the baseline for later issues)',
    'MiB/s',
    measured.raw.median,
    {},
    { bytes: total, reps: context.reps, samples: measured.raw.samples },
  );
}

registerBenchmark({
  name: 'storage',
  description: 'B-tree inserts, flush cycles, recovery of a long UNDO span, raw sequential write',
  async run(context) {
    const out: BenchResult[] = [];
    for (const [name, run] of [
      ['btree-insert', btreeInsert],
      ['flush-cycle', flushCycle],
      ['recovery', recovery],
      ['seqwrite-raw', seqwriteRaw],
    ] as const) {
      context.progress(` ${name}`);
      out.push(await run(context));
    }
    return out;
  },
});
