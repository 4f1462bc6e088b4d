import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FileSystem } from '../actors/api.js';
import { mkfs } from '../actors/index.js';
import type { BenchContext } from './harness.js';

/**
 * What the filesystem benchmarks (bench/fs.ts) share: the file tree they make,
 * fresh volume files in the scratch directory, and a garbage collector for
 * the heap figures.
 */
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** A create workload: `files` files of `fileBytes` each, dealt in blocks of equal size over `dirs` directories. */
export interface Tree {
  files: number;
  dirs: number;
  fileBytes: number;
}

export function dirPath(d: number): string {
  return `/d${d}`;
}

/** `/d<k>/f<i>`: files 0.. fill the first directory, then the next (the order an untar writes in). */
export function filePath(tree: Tree, i: number): string {
  const perDir = Math.ceil(tree.files / tree.dirs);
  return `${dirPath(Math.floor(i / perDir))}/f${i}`;
}

/** The same bytes in every file: what is measured is the metadata path, not the data's entropy. */
export function filePayload(tree: Tree): Buffer {
  return Buffer.alloc(tree.fileBytes, 0x5a);
}

export function seconds(start: number): number {
  return (performance.now() - start) / 1000;
}

/** A new volume file `name` in the scratch directory (sparse: mkfs only truncates it to `size`); the benchmarks measure the filesystem without its audit log (the `audit` benchmark adds it). */
export async function freshVolume(context: BenchContext, name: string, size: number): Promise<string> {
  const path = join(context.dir, name);
  rmSync(path, { force: true });
  await mkfs(path, { size, audit: false });
  return path;
}

/**
 * Make `tree` through the public API, one awaited call at a time (as a
 * program writing files in a loop does): the directories, then the files in
 * order. `every` files, `step(done)` is called (progress, heap samples).
 */
export async function createTree(
  fs: FileSystem,
  tree: Tree,
  every = 0,
  step: (done: number) => void = () => undefined,
): Promise<void> {
  const payload = filePayload(tree);
  for (let d = 0; d < tree.dirs; d++) await fs.mkdir(dirPath(d));
  for (let i = 0; i < tree.files; i++) {
    await fs.writeFile(filePath(tree, i), payload);
    if (every > 0 && (i + 1) % every === 0) step(i + 1);
  }
}

let gcFunction: (() => void) | undefined;

/**
 * A full garbage collection. The CLI does not start node with --expose-gc, so
 * the flag is set at run time and `gc` is taken from a fresh context (V8
 * installs it on contexts created after the flag is set).
 */
export function collectGarbage(): void {
  if (gcFunction === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed !== undefined) gcFunction = exposed;
    else {
      setFlagsFromString('--expose-gc');
      gcFunction = runInNewContext('gc') as () => void;
    }
  }
  gcFunction();
}

/** heapUsed after two full collections: live objects only, in bytes. */
export function liveHeapBytes(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}
