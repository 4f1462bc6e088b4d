import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isUnavailable, loadFuse, unavailableMessage } from '../cli/fuse/binding.js';
import { dirPath, filePath, filePayload, freshVolume, GiB, KiB, MiB, seconds, type Tree } from './fs-workload.js';
import { type FuseServer, startFuseServer, stopFuseServer } from './fuse-server.js';
import { type BenchContext, type BenchResult, interleave, registerBenchmark, result } from './harness.js';

/**
 * The FUSE benchmarks: programs' system calls through `hammerstate mount`
 * (a child process, --no-audit like the other filesystem benchmarks), against
 * a minimal in-memory FUSE filesystem behind the same binding and mount
 * options (bench/fuse-memfs.ts: the transport's ceiling) and, for sequential
 * writes, a plain file. The calls are made from this process with node:fs;
 * the servers run in their own. Without FUSE both are skipped, saying why.
 */

const CLI = fileURLToPath(new URL('../cli/hammerstate.js', import.meta.url));
const MEMFS = fileURLToPath(new URL('./fuse-memfs.ts', import.meta.url));
/** The TypeScript loader, for the memfs child (the CLI registers it itself). */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
const WRITE_CHUNK = MiB;

type Server = 'ours' | 'memfs';

/** Mount a fresh volume (ours) or the in-memory filesystem on a new directory; run `body` on it; unmount. */
async function mounted<T>(context: BenchContext, server: Server, rep: number, body: (mnt: string) => T): Promise<T> {
  const mnt = join(context.dir, `mnt-${server}-${rep}`);
  mkdirSync(mnt, { recursive: true });
  let volume: string | undefined;
  let running: FuseServer;
  if (server === 'ours') {
    volume = await freshVolume(context, `fuse-${rep}.hsvol`, 2 * GiB);
    running = await startFuseServer([CLI, 'mount', volume, mnt, '--foreground', '--no-audit']);
  } else {
    running = await startFuseServer(['--import', TSX, MEMFS, mnt]);
  }
  const stop = async () => {
    const code = await stopFuseServer(running);
    if (volume !== undefined) rmSync(volume, { force: true });
    rmSync(mnt, { recursive: true, force: true });
    return code;
  };
  let measured: T;
  try {
    measured = body(mnt);
  } catch (error) {
    await stop();
    throw error;
  }
  // A server that did not end cleanly (flushed, unmounted, exit 0) makes the figure worthless.
  const code = await stop();
  if (code !== 0) throw new Error(`the ${server} FUSE server ended with ${code}: ${running.stderr()}`);
  return measured;
}

/** mkdir the directories, then one writeFileSync per file (open O_CREAT, write, close): files per second. */
function createFiles(mnt: string, tree: Tree): number {
  const payload = filePayload(tree);
  const start = performance.now();
  for (let d = 0; d < tree.dirs; d++) mkdirSync(join(mnt, dirPath(d)));
  for (let i = 0; i < tree.files; i++) writeFileSync(join(mnt, filePath(tree, i)), payload);
  return tree.files / seconds(start);
}

/** `bytes` in 1 MiB writes to one new file, then fsync and close: MiB per second. */
function writeSequential(dir: string, bytes: number): number {
  const path = join(dir, 'sequential.bin');
  const chunk = Buffer.alloc(WRITE_CHUNK, 0x5a);
  const start = performance.now();
  const fd = openSync(path, 'w');
  for (let written = 0; written < bytes; written += WRITE_CHUNK) writeSync(fd, chunk);
  fsyncSync(fd);
  closeSync(fd);
  const elapsed = seconds(start);
  rmSync(path, { force: true });
  return bytes / MiB / elapsed;
}

function skipped(name: string, context: BenchContext): boolean {
  const loaded = loadFuse();
  if (!isUnavailable(loaded)) return false;
  context.progress(`${name}: skipped: ${unavailableMessage(loaded)}`);
  return true;
}

async function fuseCreate(context: BenchContext): Promise<BenchResult[]> {
  if (skipped('fuse-create', context)) return [];
  const tree: Tree = context.quick
    ? { files: 300, dirs: 3, fileBytes: KiB }
    : { files: 5_000, dirs: 10, fileBytes: KiB };
  const measured = await interleave(context.reps, {
    ours: (rep) => mounted(context, 'ours', rep, (mnt) => createFiles(mnt, tree)),
    'fuse-memfs': (rep) => mounted(context, 'memfs', rep, (mnt) => createFiles(mnt, tree)),
  });
  return [
    result(
      'fuse-create',
      `files created per second through the mount (${tree.files} files of ${tree.fileBytes} bytes in ${tree.dirs} directories, writeFileSync each; the flush at unmount not timed)`,
      'files/s',
      measured.ours.median,
      { 'fuse-memfs': measured['fuse-memfs'].median },
      {
        files: tree.files,
        target: 0.8,
        targetBaseline: 'fuse-memfs',
        reps: context.reps,
        samples: measured.ours.samples,
      },
    ),
  ];
}

async function fuseSeqwrite(context: BenchContext): Promise<BenchResult[]> {
  if (skipped('fuse-seqwrite', context)) return [];
  const bytes = (context.quick ? 16 : 256) * MiB;
  const raw = join(context.dir, 'raw');
  mkdirSync(raw, { recursive: true });
  const measured = await interleave(context.reps, {
    ours: (rep) => mounted(context, 'ours', rep, (mnt) => writeSequential(mnt, bytes)),
    'fuse-memfs': (rep) => mounted(context, 'memfs', rep, (mnt) => writeSequential(mnt, bytes)),
    'raw-file': () => writeSequential(raw, bytes),
  });
  return [
    result(
      'fuse-seqwrite',
      `MiB/s written through the mount (${bytes / MiB} MiB in 1 MiB writes to one file, then fsync)`,
      'MiB/s',
      measured.ours.median,
      { 'raw-file': measured['raw-file'].median, 'fuse-memfs': measured['fuse-memfs'].median },
      { bytes, reps: context.reps, samples: measured.ours.samples },
    ),
  ];
}

registerBenchmark({
  name: 'fuse-create',
  description: '5k files of 1 KiB created through a FUSE mount (files/s; fuse-memfs, the transport ceiling)',
  run: fuseCreate,
});

registerBenchmark({
  name: 'fuse-seqwrite',
  description: '256 MiB written through a FUSE mount in 1 MiB writes, then fsync (MiB/s; raw-file, fuse-memfs)',
  run: fuseSeqwrite,
});
