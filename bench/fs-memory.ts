import { rmSync } from 'node:fs';
import { mount } from '../actors/index.js';
import { createTreeSize } from './fs-create.js';
import { createTree, filePath, freshVolume, GiB, KiB, liveHeapBytes, MiB, seconds, type Tree } from './fs-workload.js';
import { type BenchContext, type BenchResult, interleave, median, result } from './harness.js';

/** One decimal place, for MiB figures in the JSON. */
function tenths(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Make `tree` on a fresh volume, sync and unmount it: the set-up of `memory`, not timed. */
async function populatedVolume(context: BenchContext, tree: Tree): Promise<string> {
  const path = await freshVolume(context, 'memory.hsvol', 2 * GiB);
  const fs = await mount(path, { audit: false });
  await createTree(fs, tree);
  await fs.sync();
  await fs.unmount();
  return path;
}

/**
 * Ours: a fresh mount of the populated volume with an inode cache large
 * enough for every file; the live heap (after a full GC) before and after a
 * stat() of each file, which loads its inode into the cache (and checks the
 * size the create left). The Stats objects are dropped: what stays is what
 * the mount keeps per inode.
 */
async function oursBytesPerInode(path: string, tree: Tree, buffers: number[]): Promise<number> {
  const fs = await mount(path, { cacheInodes: tree.files + tree.dirs + 1024, audit: false });
  const before = liveHeapBytes();
  const buffersBefore = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < tree.files; i++) {
    const stats = await fs.stat(filePath(tree, i));
    if (stats.size !== tree.fileBytes) throw new Error(`${filePath(tree, i)} has ${stats.size} bytes after remount`);
  }
  const after = liveHeapBytes();
  buffers.push((process.memoryUsage().arrayBuffers - buffersBefore) / tree.files);
  await fs.unmount();
  return (after - before) / tree.files;
}

/** The floor: a JS Map of small stat-like objects, live heap per entry. */
function mapBytesPerEntry(tree: Tree): number {
  const before = liveHeapBytes();
  const map = new Map<number, { ino: number; size: number; mode: number; mtime: number }>();
  for (let i = 0; i < tree.files; i++)
    map.set(i + 2, { ino: i + 2, size: tree.fileBytes, mode: 0o100644, mtime: 1_790_000_000_000 + i });
  const after = liveHeapBytes();
  // Used after the measurement, so the map is live when the heap is read.
  if (map.size !== tree.files) throw new Error(`the map holds ${map.size} entries, not ${tree.files}`);
  return (after - before) / tree.files;
}

/** `memory`: heap per cached inode after remount + stat of every file, against a JS Map entry. */
export async function memoryBenchmark(context: BenchContext): Promise<BenchResult> {
  const tree = createTreeSize(context.quick);
  context.progress(`  memory: creating ${tree.files} files (not measured)`);
  const path = await populatedVolume(context, tree);
  const buffers: number[] = [];
  const measured = await interleave(context.reps, {
    ours: () => oursBytesPerInode(path, tree, buffers),
    'js-map': () => mapBytesPerEntry(tree),
  });
  rmSync(path, { force: true });
  return result(
    'memory',
    `live heap per cached inode after remount and a stat() of each of ${tree.files} files`,
    'bytes/inode',
    measured.ours.median,
    { 'js-map': measured['js-map'].median },
    {
      files: tree.files,
      cacheInodes: tree.files + tree.dirs + 1024,
      arrayBufferBytesPerInode: median(buffers),
      target: 4096,
      targetNote: 'at most 4096 bytes per inode',
      reps: context.reps,
      samples: measured.ours.samples,
    },
  );
}

/**
 * `memory-1m`: the live heap while one mount (default options) creates 1M
 * files, sampled every 10k files (quick: every 2k), then after the final
 * sync; against the heap right after mount. One run, whatever --reps says: it is a profile.
 */
export async function memory1mBenchmark(context: BenchContext): Promise<BenchResult> {
  const files = context.quick ? 20_000 : 1_000_000;
  const tree: Tree = { files, dirs: files / 1000, fileBytes: KiB };
  const every = Math.min(10_000, files / 10);
  const path = await freshVolume(context, 'memory-1m.hsvol', context.quick ? 512 * MiB : 4 * GiB);
  const fs = await mount(path, { audit: false });
  const afterMount = liveHeapBytes();
  let peak = afterMount;
  let peakRss = process.memoryUsage().rss;
  const series: number[] = [];
  const start = performance.now();
  await createTree(fs, tree, every, (done) => {
    const heap = liveHeapBytes();
    series.push(tenths(heap / MiB));
    peak = Math.max(peak, heap);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (done % (every * 10) === 0)
      context.progress(`  memory-1m: ${done} of ${files} files, heap ${tenths(heap / MiB)} MiB`);
  });
  await fs.sync();
  const elapsed = seconds(start);
  const final = liveHeapBytes();
  peak = Math.max(peak, final);
  await fs.unmount();
  rmSync(path, { force: true });
  return result(
    'memory-1m',
    `peak live heap while creating ${files} files of 1 KiB in ${tree.dirs} directories (sampled every ${every} files, after a full GC)`,
    'MiB',
    tenths(peak / MiB),
    { 'after-mount': tenths(afterMount / MiB) },
    {
      finalMiB: tenths(final / MiB),
      peakRssMiB: tenths(peakRss / MiB),
      files,
      dirs: tree.dirs,
      sampleEvery: every,
      seconds: tenths(elapsed),
      reps: 1,
      heapMiB: series,
    },
  );
}
