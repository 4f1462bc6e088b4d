import { closeSync, copyFileSync, fsyncSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { logicalClock } from '../storage/clock.js';
import { seededRandom } from '../storage/crash-device.js';
import { FileDevice } from '../storage/device.js';
import { type BTreeKey, compareKeys } from '../storage/format/btree-node.js';
import { KEY_MAX, KEY_MIN, LOCALIZE_INODE, LOCALIZE_MISC, localization, RecType } from '../storage/layout.js';
import { Volume } from '../storage/volume.js';
import { type BenchContext, type BenchResult, registerBenchmark, repeat, result } from './harness.js';

const MiB = 1024 * 1024;
const LOC = localization(0, LOCALIZE_INODE);

function volumeAt(context: BenchContext, name: string, size = 512 * MiB, undoBytes = 64 * MiB): Volume {
  const path = join(context.dir, name);
  rmSync(path, { force: true });
  return Volume.mkfs(FileDevice.create(path, size), { size, undoBytes, clock: logicalClock() });
}

/** Seeded record keys: random obj_ids, as a file-create workload scatters them over the tree. */
function keys(count: number, seed: number): number[] {
  const next = seededRandom(seed);
  const out = new Set<number>();
  while (out.size < count) out.add(2 + Math.floor(next() * 2 ** 40));
  return [...out];
}

async function btreeInsert(context: BenchContext): Promise<BenchResult> {
  const count = context.quick ? 20_000 : 200_000;
  const batch = 10_000;
  const ids = keys(count, 1);
  const ours = await repeat(context.reps, (rep) => {
    const volume = volumeAt(context, `insert-${rep}.hsvol`);
    const start = performance.now();
    for (let i = 0; i < count; i += batch) {
      volume.beginCycle();
      for (const objId of ids.slice(i, i + batch)) {
        volume.insertRecord({ localization: LOC, objId, recType: RecType.INODE, key: 0, objType: 2 });
      }
      volume.commit();
    }
    const seconds = (performance.now() - start) / 1000;
    volume.close();
    return count / seconds;
  });
  const sqlite = await repeat(context.reps, (rep) => {
    const path = join(context.dir, `insert-${rep}.sqlite`);
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(
      'CREATE TABLE records (loc INTEGER, obj INTEGER, rec INTEGER, key INTEGER, tid INTEGER, PRIMARY KEY (loc, obj, rec, key, tid)) WITHOUT ROWID',
    );
    const insert = db.prepare('INSERT INTO records VALUES (?, ?, ?, ?, ?)');
    const start = performance.now();
    for (let i = 0; i < count; i += batch) {
      db.transaction(() => {
        for (const objId of ids.slice(i, i + batch)) insert.run(LOC, objId, RecType.INODE, 0, 1);
      })();
    }
    const seconds = (performance.now() - start) / 1000;
    db.close();
    return count / seconds;
  });
  const array = await repeat(context.reps, () => {
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
    return count / ((performance.now() - start) / 1000);
  });
  return result(
    'btree-insert',
    'records inserted per second (10k-record flush cycles, committed)',
    'records/s',
    ours.median,
    {
      sqlite: sqlite.median,
      'sorted-array': array.median,
    },
    { records: count, reps: context.reps },
  );
}

async function flushCycle(context: BenchContext): Promise<BenchResult> {
  const cycles = context.quick ? 50 : 400;
  const data = new Uint8Array(4096).fill(0x5a);
  let fsyncsPerCycle = 0;
  const ours = await repeat(context.reps, (rep) => {
    const volume = volumeAt(context, `cycles-${rep}.hsvol`, 256 * MiB, 32 * MiB);
    const fsyncs = volume.counters.fsyncs;
    const start = performance.now();
    for (let c = 0; c < cycles; c++) {
      volume.beginCycle();
      for (let r = 0; r < 20; r++) {
        volume.insertRecord({
          localization: LOC,
          objId: 1000 + c * 20 + r,
          recType: RecType.INODE,
          key: 0,
          objType: 2,
        });
      }
      const misc = localization(0, LOCALIZE_MISC);
      volume.insertRecord({ localization: misc, objId: 1000 + c, recType: RecType.DATA, key: 4096, objType: 2 }, data);
      volume.commit();
    }
    const seconds = (performance.now() - start) / 1000;
    fsyncsPerCycle = (volume.counters.fsyncs - fsyncs) / cycles;
    volume.close();
    return cycles / seconds;
  });
  const raw = await repeat(context.reps, (rep) => {
    const path = join(context.dir, `raw-fsync-${rep}.bin`);
    const fd = openSync(path, 'w');
    const start = performance.now();
    for (let c = 0; c < cycles; c++) {
      for (let i = 0; i < 3; i++) {
        writeSync(fd, data, 0, data.length, (c * 3 + i) * data.length);
        fsyncSync(fd);
      }
    }
    const seconds = (performance.now() - start) / 1000;
    closeSync(fd);
    return cycles / seconds;
  });
  return result(
    'flush-cycle',
    'committed flush cycles per second (20 records + 4 KiB data each)',
    'cycles/s',
    ours.median,
    {
      'raw-fsync': raw.median,
    },
    { fsyncsPerCycle, cycles, reps: context.reps, rawFsyncsPerCycle: 3 },
  );
}

/**
 * Recovery of a long UNDO span: a tree of many records, then one cycle that
 * marks every record deleted (each leaf's elements logged) and pushes its
 * meta-data out with mid-flush finalizes, then a crash (no commit). We time
 * the read-write mount that rolls it all back, against reading as many bytes
 * raw from the same file.
 */
async function recovery(context: BenchContext): Promise<BenchResult> {
  const count = context.quick ? 20_000 : 600_000;
  const path = join(context.dir, 'recovery.hsvol');
  const volume = volumeAt(context, 'recovery.hsvol', 1024 * MiB, 128 * MiB);
  const ids = keys(count, 2);
  for (let i = 0; i < count; i += 20_000) {
    volume.beginCycle();
    for (const objId of ids.slice(i, i + 20_000)) {
      volume.insertRecord({ localization: LOC, objId, recType: RecType.INODE, key: 0, objType: 2 });
    }
    volume.commit();
    context.progress(`  recovery: ${Math.min(count, i + 20_000)} of ${count} records`);
  }
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
  const spanBytes = volume.fifo.usedBytes();
  volume.device.close(); // crash: no commit
  const ours = await repeat(context.reps, (rep) => {
    const copy = join(context.dir, `recovery-${rep}.hsvol`);
    copyFileSync(path, copy);
    const start = performance.now();
    const mounted = Volume.mount(FileDevice.open(copy), { clock: logicalClock() });
    const seconds = (performance.now() - start) / 1000;
    mounted.close();
    rmSync(copy);
    return spanBytes / MiB / seconds;
  });
  const raw = await repeat(context.reps, () => {
    const fd = openSync(path, 'r');
    const buffer = Buffer.alloc(MiB);
    const start = performance.now();
    for (let at = 0; at < spanBytes; at += MiB) readSync(fd, buffer, 0, MiB, 16 * 1024 + at);
    const seconds = (performance.now() - start) / 1000;
    closeSync(fd);
    return spanBytes / MiB / seconds;
  });
  return result(
    'recovery',
    'UNDO span rolled back by a read-write mount, MiB of span per second',
    'MiB/s',
    ours.median,
    {
      'raw-read': raw.median,
    },
    { spanMiB: spanBytes / MiB, records: count, mountSeconds: spanBytes / MiB / ours.median, reps: context.reps },
  );
}

async function seqwriteRaw(context: BenchContext): Promise<BenchResult> {
  const total = context.quick ? 32 * MiB : 256 * MiB;
  const chunk = Buffer.alloc(MiB, 0xa5);
  const raw = await repeat(context.reps, (rep) => {
    const path = join(context.dir, `seq-${rep}.bin`);
    const fd = openSync(path, 'w');
    const start = performance.now();
    for (let at = 0; at < total; at += MiB) writeSync(fd, chunk, 0, MiB, at);
    fsyncSync(fd);
    const seconds = (performance.now() - start) / 1000;
    closeSync(fd);
    rmSync(path);
    return total / MiB / seconds;
  });
  return result(
    'seqwrite-raw',
    'raw sequential write + fsync of a plain file (the baseline for later issues)',
    'MiB/s',
    raw.median,
    {},
    {
      bytes: total,
      reps: context.reps,
    },
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
