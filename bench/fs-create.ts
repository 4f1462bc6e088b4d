import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { mount } from '../actors/index.js';
import {
  createTree,
  dirPath,
  filePath,
  filePayload,
  freshVolume,
  GiB,
  KiB,
  seconds,
  type Tree,
} from './fs-workload.js';
import { type BenchContext, type BenchResult, interleave, result } from './harness.js';

/** Files per SQLite transaction: about one of our flush groups (autoflush, 500 dirty inodes). */
const SQLITE_BATCH = 500;
/** HAMMER's inode record data is 128 bytes. */
const INODE_BYTES = 128;
const ROOT_OBJ_ID = 1;

export function createTreeSize(quick: boolean): Tree {
  return quick ? { files: 2_000, dirs: 10, fileBytes: KiB } : { files: 100_000, dirs: 100, fileBytes: KiB };
}

/** Ours: mkdir + writeFile through the API, then fs.sync(); mkfs and mount are not timed. */
async function oursCreate(context: BenchContext, tree: Tree, rep: number): Promise<number> {
  const path = await freshVolume(context, `create-${rep}.hsvol`, 2 * GiB);
  const fs = await mount(path, { audit: false });
  const start = performance.now();
  await createTree(fs, tree);
  await fs.sync();
  const elapsed = seconds(start);
  await fs.unmount();
  rmSync(path, { force: true });
  return tree.files / elapsed;
}

/**
 * The kernel's filesystem through node:fs: mkdirSync, writeFileSync per file,
 * then one fsync of each directory (and of the tree's root). On ext4 that
 * commits the journal with every new entry and inode; file data still under
 * delayed allocation is not forced out, so this is a lower bound on the cost
 * of the durability ours gives, not the same durability.
 */
function nodeFsCreate(context: BenchContext, tree: Tree, rep: number): number {
  const root = join(context.dir, `create-node-fs-${rep}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root);
  const payload = filePayload(tree);
  const start = performance.now();
  for (let d = 0; d < tree.dirs; d++) mkdirSync(join(root, dirPath(d)));
  for (let i = 0; i < tree.files; i++) writeFileSync(join(root, filePath(tree, i)), payload);
  for (const dir of [root, ...Array.from({ length: tree.dirs }, (_, d) => join(root, dirPath(d)))]) {
    const fd = openSync(dir, 'r');
    fsyncSync(fd);
    closeSync(fd);
  }
  const elapsed = seconds(start);
  rmSync(root, { recursive: true, force: true });
  return tree.files / elapsed;
}

/**
 * A filesystem's tables in SQLite (better-sqlite3): inode (128-byte record),
 * entry (clustered on dir, name, like HAMMER's directory records), data
 * (obj_id, offset). WAL, synchronous=FULL (each commit fsyncs the WAL),
 * SQLITE_BATCH files per transaction. Opening and the schema are not timed.
 */
function sqliteCreate(context: BenchContext, tree: Tree, rep: number): number {
  const path = join(context.dir, `create-${rep}.sqlite`);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`
    CREATE TABLE inode (obj_id INTEGER PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE entry (dir INTEGER NOT NULL, name TEXT NOT NULL, obj_id INTEGER NOT NULL, PRIMARY KEY (dir, name)) WITHOUT ROWID;
    CREATE TABLE data (obj_id INTEGER NOT NULL, off INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY (obj_id, off));`);
  const inode = db.prepare('INSERT INTO inode VALUES (?, ?)');
  const entry = db.prepare('INSERT INTO entry VALUES (?, ?, ?)');
  const data = db.prepare('INSERT INTO data VALUES (?, ?, ?)');
  const inodeData = Buffer.alloc(INODE_BYTES, 0x11);
  const payload = filePayload(tree);
  const dirObjId = (d: number) => ROOT_OBJ_ID + 1 + d;
  const fileObjId = (i: number) => ROOT_OBJ_ID + 1 + tree.dirs + i;
  const perDir = Math.ceil(tree.files / tree.dirs);
  const start = performance.now();
  db.transaction(() => {
    for (let d = 0; d < tree.dirs; d++) {
      inode.run(dirObjId(d), inodeData);
      entry.run(ROOT_OBJ_ID, `d${d}`, dirObjId(d));
    }
  })();
  for (let first = 0; first < tree.files; first += SQLITE_BATCH) {
    db.transaction(() => {
      for (let i = first; i < Math.min(tree.files, first + SQLITE_BATCH); i++) {
        inode.run(fileObjId(i), inodeData);
        entry.run(dirObjId(Math.floor(i / perDir)), `f${i}`, fileObjId(i));
        data.run(fileObjId(i), 0, payload);
      }
    })();
  }
  const elapsed = seconds(start);
  db.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  return tree.files / elapsed;
}

/** `create`: many small files, then one sync; files per second against node:fs and SQLite. */
export async function createBenchmark(context: BenchContext): Promise<BenchResult> {
  const tree = createTreeSize(context.quick);
  const measured = await interleave(context.reps, {
    ours: (rep) => oursCreate(context, tree, rep),
    'node-fs': (rep) => nodeFsCreate(context, tree, rep),
    sqlite: (rep) => sqliteCreate(context, tree, rep),
  });
  return result(
    'create',
    `files created per second (${tree.files} files of ${tree.fileBytes} bytes in ${tree.dirs} directories, then one sync)`,
    'files/s',
    measured.ours.median,
    { 'node-fs': measured['node-fs'].median, sqlite: measured.sqlite.median },
    {
      files: tree.files,
      dirs: tree.dirs,
      target: 0.5,
      targetBaseline: 'sqlite',
      reps: context.reps,
      samples: measured.ours.samples,
    },
  );
}
