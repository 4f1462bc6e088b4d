import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { FileHandle } from '../actors/api.js';
import { mount } from '../actors/index.js';
import { freshVolume, GiB, KiB, MiB, seconds } from './fs-workload.js';
import { type BenchContext, type BenchResult, interleave, median, percentile, result } from './harness.js';

const BLOCK_BYTES = 4 * KiB;
/** The fsync benchmark overwrites the blocks of a 1 MiB file in turn. */
const FSYNC_FILE_BLOCKS = 256;
const SEQ_CHUNK_BYTES = MiB;

/** Position of the i-th fsync write. */
function blockAt(i: number): number {
  return (i % FSYNC_FILE_BLOCKS) * BLOCK_BYTES;
}

/** Ours: the 1 MiB file is written and synced before the clock starts; then write 4 KiB + handle.sync(), `count` times. */
async function oursFsync(context: BenchContext, count: number, rep: number, latenciesMs: number[]): Promise<number> {
  const path = await freshVolume(context, `fsync-${rep}.hsvol`, 256 * MiB);
  const fs = await mount(path, { audit: false });
  const handle: FileHandle = await fs.open('/fsync.bin', 'w+');
  await handle.write(Buffer.alloc(FSYNC_FILE_BLOCKS * BLOCK_BYTES, 0x11), 0, FSYNC_FILE_BLOCKS * BLOCK_BYTES, 0);
  await handle.sync();
  const block = Buffer.alloc(BLOCK_BYTES, 0x5a);
  const own: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await handle.write(block, 0, BLOCK_BYTES, blockAt(i));
    await handle.sync();
    own.push(performance.now() - start);
  }
  await handle.close();
  await fs.unmount();
  rmSync(path, { force: true });
  latenciesMs.push(...own);
  return median(own);
}

/** The same pattern on a plain file in the scratch directory: writeSync + fsyncSync. */
function rawFsync(context: BenchContext, count: number, rep: number, latenciesMs: number[]): number {
  const path = join(context.dir, `fsync-${rep}.bin`);
  const fd = openSync(path, 'w+');
  writeSync(fd, Buffer.alloc(FSYNC_FILE_BLOCKS * BLOCK_BYTES, 0x11), 0, FSYNC_FILE_BLOCKS * BLOCK_BYTES, 0);
  fsyncSync(fd);
  const block = Buffer.alloc(BLOCK_BYTES, 0x5a);
  const own: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    writeSync(fd, block, 0, BLOCK_BYTES, blockAt(i));
    fsyncSync(fd);
    own.push(performance.now() - start);
  }
  closeSync(fd);
  rmSync(path, { force: true });
  latenciesMs.push(...own);
  return median(own);
}

/** `fsync`: latency of a 4 KiB overwrite made durable; ratio = ours / raw (lower is better). */
export async function fsyncBenchmark(context: BenchContext): Promise<BenchResult> {
  const count = context.quick ? 50 : 1000;
  const ours: number[] = [];
  const raw: number[] = [];
  const measured = await interleave(context.reps, {
    ours: (rep) => oursFsync(context, count, rep, ours),
    'raw-file': (rep) => rawFsync(context, count, rep, raw),
  });
  return result(
    'fsync',
    `median latency of a 4 KiB overwrite + handle.sync() (${count} per repetition, over a 1 MiB file)`,
    'ms',
    measured.ours.median,
    { 'raw-file': measured['raw-file'].median },
    {
      p99: percentile(ours, 99),
      rawP99: percentile(raw, 99),
      count,
      target: 2,
      targetNote: 'ratio at most 2 (a latency: lower is better)',
      reps: context.reps,
      samples: measured.ours.samples,
    },
  );
}

/** Ours: open, `total` bytes in SEQ_CHUNK_BYTES writes, handle.sync(); mkfs and mount are not timed. */
async function oursSeqwrite(context: BenchContext, total: number, rep: number): Promise<number> {
  const path = await freshVolume(context, `seqwrite-${rep}.hsvol`, 2 * total + 256 * MiB);
  const fs = await mount(path, { audit: false });
  const chunk = Buffer.alloc(SEQ_CHUNK_BYTES, 0xa5);
  const start = performance.now();
  const handle = await fs.open('/seq.bin', 'w');
  for (let at = 0; at < total; at += SEQ_CHUNK_BYTES) await handle.write(chunk, 0, SEQ_CHUNK_BYTES, at);
  await handle.sync();
  const elapsed = seconds(start);
  await handle.close();
  await fs.unmount();
  rmSync(path, { force: true });
  return total / MiB / elapsed;
}

function rawSeqwrite(context: BenchContext, total: number, rep: number): number {
  const path = join(context.dir, `seqwrite-${rep}.bin`);
  const chunk = Buffer.alloc(SEQ_CHUNK_BYTES, 0xa5);
  const start = performance.now();
  const fd = openSync(path, 'w');
  for (let at = 0; at < total; at += SEQ_CHUNK_BYTES) writeSync(fd, chunk, 0, SEQ_CHUNK_BYTES, at);
  fsyncSync(fd);
  const elapsed = seconds(start);
  closeSync(fd);
  rmSync(path, { force: true });
  return total / MiB / elapsed;
}

/** `seqwrite`: one large file through a FileHandle, then one sync; MiB/s against a plain file. */
export async function seqwriteBenchmark(context: BenchContext): Promise<BenchResult> {
  const total = context.quick ? 32 * MiB : GiB;
  const measured = await interleave(context.reps, {
    ours: (rep) => oursSeqwrite(context, total, rep),
    'raw-file': (rep) => rawSeqwrite(context, total, rep),
  });
  return result(
    'seqwrite',
    `sequential write of a ${total / MiB} MiB file in ${SEQ_CHUNK_BYTES / KiB} KiB writes through a FileHandle, then sync`,
    'MiB/s',
    measured.ours.median,
    { 'raw-file': measured['raw-file'].median },
    { bytes: total, chunkBytes: SEQ_CHUNK_BYTES, target: 0.6, reps: context.reps, samples: measured.ours.samples },
  );
}
