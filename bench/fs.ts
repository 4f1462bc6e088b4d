import { auditBenchmark } from './fs-audit.js';
import { createBenchmark } from './fs-create.js';
import { fsyncBenchmark, seqwriteBenchmark } from './fs-io.js';
import { memory1mBenchmark, memoryBenchmark } from './fs-memory.js';
import { replayBenchmark } from './fs-replay.js';
import { type BenchContext, type BenchResult, registerBenchmark } from './harness.js';

/**
 * The filesystem benchmarks: the public API (actors/index.ts, mkfs + mount)
 * against node:fs, a plain file, SQLite and a JS Map, measured in the same
 * run. One result line each; the workloads live in bench/fs-*.ts.
 */
function single(run: (context: BenchContext) => Promise<BenchResult>) {
  return async (context: BenchContext): Promise<BenchResult[]> => [await run(context)];
}

registerBenchmark({
  name: 'create',
  description: '100k files of 1 KiB in 100 directories, then sync (files/s; node-fs, sqlite)',
  run: single(createBenchmark),
});

registerBenchmark({
  name: 'audit',
  description: 'the create workload with every bus event logged to SQLite, against no log (files/s; no-audit, meta)',
  run: single(auditBenchmark),
});

registerBenchmark({
  name: 'replay',
  description: 'a ~1M-event log (140k small files) replayed with --check (events/s; log-read, logged-run)',
  run: single(replayBenchmark),
});

registerBenchmark({
  name: 'fsync',
  description: '4 KiB overwrite + FileHandle.sync(), median latency (raw-file)',
  run: single(fsyncBenchmark),
});

registerBenchmark({
  name: 'seqwrite',
  description: '1 GiB written through a FileHandle in 1 MiB writes, then sync (MiB/s; raw-file)',
  run: single(seqwriteBenchmark),
});

registerBenchmark({
  name: 'memory',
  description: 'heap per cached inode after remount + stat of 100k files (js-map)',
  run: single(memoryBenchmark),
});

registerBenchmark({
  name: 'memory-1m',
  description: 'peak heap while one mount creates 1M files (after-mount heap)',
  run: single(memory1mBenchmark),
});
