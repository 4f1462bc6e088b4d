import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { FileDevice } from '../../storage/device.js';
import {
  DIRHASH_COLLISION_SPAN,
  decodeDirEntry,
  decodeInode,
  dirHashBase,
  encodeDirEntry,
  encodeInode,
} from '../../storage/format/records.js';
import { fsck } from '../../storage/fsck.js';
import {
  formatTid,
  KEY_MAX,
  LOCALIZE_INODE,
  LOCALIZE_MISC,
  localization,
  ObjType,
  RecType,
  ROOT_OBJ_ID,
  TID_MAX,
} from '../../storage/layout.js';
import { Volume } from '../../storage/volume.js';
import { EXIT_OK, EXIT_PROBLEMS, mib, note, say } from '../output.js';
import { wallClock } from '../wall-clock.js';
import { mkfsVolume } from './mkfs.js';

const INODE_LOC = localization(0, LOCALIZE_INODE);
const DATA_LOC = localization(0, LOCALIZE_MISC);
const PIECE = 16 * 1024;

/**
 * The storage-level demo (`npm start`): real files written as HAMMER records
 * (inode, directory entry, data) in flush cycles, an edit that keeps history,
 * a delete, a crash in the middle of a flush, recovery, the history of one
 * file, and fsck. The filesystem API and actors of later issues replace the
 * hand-made records here.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('make a volume, write files as records, crash mid-flush, recover, show history, fsck')
    .option('--dir <dir>', 'where to put the volume', 'data')
    .action((options: { dir: string }) => {
      process.exitCode = runDemo(resolve(options.dir)) ? EXIT_OK : EXIT_PROBLEMS;
    });
}

interface DemoFile {
  name: string;
  objId: number;
  content: Buffer;
}

/** This project's own TypeScript sources: a small, real tree of text files. */
function sourceFiles(): DemoFile[] {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const files: DemoFile[] = [];
  for (const folder of ['storage', 'storage/format', 'cli', 'cli/commands', 'bench', 'test', 'test/support']) {
    for (const name of readdirSync(join(root, folder)).sort()) {
      if (!name.endsWith('.ts')) continue;
      files.push({
        name: `${folder.replaceAll('/', '_')}_${name}`,
        objId: 100 + files.length,
        content: readFileSync(join(root, folder, name)),
      });
    }
  }
  return files;
}

function inodeBytes(file: DemoFile, now: number): Uint8Array {
  return encodeInode({
    version: 1,
    mode: 0o644,
    uflags: 0,
    rmajor: 0,
    rminor: 0,
    ctime: now,
    parentObjId: ROOT_OBJ_ID,
    uid: 0,
    gid: 0,
    objType: ObjType.REGFILE,
    capFlags: 0,
    nlinks: 1,
    size: file.content.length,
    symlink: new Uint8Array(0),
    mtime: now,
    atime: now,
  });
}

function writeData(volume: Volume, file: DemoFile): void {
  for (let at = 0; at < file.content.length; at += PIECE) {
    const piece = file.content.subarray(at, at + PIECE);
    volume.insertRecord(
      {
        localization: DATA_LOC,
        objId: file.objId,
        recType: RecType.DATA,
        key: at + piece.length,
        objType: ObjType.REGFILE,
      },
      piece,
    );
  }
}

function createFile(volume: Volume, file: DemoFile): void {
  const now = wallClock.now();
  volume.insertRecord(
    { localization: INODE_LOC, objId: file.objId, recType: RecType.INODE, key: 0, objType: ObjType.REGFILE },
    inodeBytes(file, now),
  );
  const entry = encodeDirEntry({ objId: file.objId, localization: INODE_LOC, name: file.name });
  volume.insertRecord(
    {
      localization: INODE_LOC,
      objId: ROOT_OBJ_ID,
      recType: RecType.DIRENTRY,
      key: freeDirKey(volume, file.name),
      objType: ObjType.REGFILE,
    },
    entry,
  );
  writeData(volume, file);
  volume.adjustInodeCount(1);
}

/** The root's live directory entries in the collision range of `name`'s hash. */
function entriesNear(volume: Volume, name: string) {
  const base = dirHashBase(name);
  const at = (key: number, createTid: number) => ({
    localization: INODE_LOC,
    objId: ROOT_OBJ_ID,
    recType: RecType.DIRENTRY,
    key,
    createTid,
  });
  return volume.scan(at(base, 1), at(base + DIRHASH_COLLISION_SPAN - 1, 0), TID_MAX);
}

/** The directory-entry key of `name` in the root: its hash, plus i for the i-th name colliding on it (as HAMMER). */
function freeDirKey(volume: Volume, name: string): number {
  const base = dirHashBase(name);
  const used = new Set(entriesNear(volume, name).map((elm) => elm.key));
  for (let i = 0; i < DIRHASH_COLLISION_SPAN; i++) if (!used.has(base + i)) return base + i;
  throw new Error(`no free directory key for ${name}`);
}

/** The root's live directory entry named `name`, if any. */
function findDirEntry(volume: Volume, name: string) {
  return entriesNear(volume, name).find((elm) => decodeDirEntry(volume.readData(elm), name).name === name);
}

/** Replace a file's data and inode: the old versions are deleted as of this cycle, so history keeps them. */
function rewriteFile(volume: Volume, file: DemoFile): void {
  for (const elm of fileRecords(volume, file.objId, TID_MAX)) volume.deleteRecord(elm);
  volume.insertRecord(
    { localization: INODE_LOC, objId: file.objId, recType: RecType.INODE, key: 0, objType: ObjType.REGFILE },
    inodeBytes(file, wallClock.now()),
  );
  writeData(volume, file);
}

function fileRecords(volume: Volume, objId: number, asof: number) {
  const inode = volume.lookup({ localization: INODE_LOC, objId, recType: RecType.INODE, key: 0 }, asof);
  const data = volume.scan(
    { localization: DATA_LOC, objId, recType: RecType.DATA, key: 0, createTid: 1 },
    { localization: DATA_LOC, objId, recType: RecType.DATA, key: KEY_MAX, createTid: 0 },
    asof,
  );
  return inode === undefined ? data : [inode, ...data];
}

function readFileAsOf(volume: Volume, objId: number, asof: number): Buffer | undefined {
  const records = fileRecords(volume, objId, asof);
  if (records.length === 0) return undefined;
  return Buffer.concat(records.filter((e) => e.recType === RecType.DATA).map((e) => volume.readData(e)));
}

function runDemo(dir: string): boolean {
  const started = performance.now();
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'demo.hsvol');
  rmSync(path, { force: true });
  let volume = mkfsVolume(path, { size: '256M', undoSize: '32M', label: 'demo', force: true });
  say(`made ${path}: ${volume.stats().bigblocks} big-blocks, FIFO ${mib(volume.stats().fifoBytes)}`);

  const files = sourceFiles();
  const tids: Array<{ tid: number; what: string }> = [];
  for (let i = 0; i < files.length; i += 5) {
    volume.beginCycle();
    for (const file of files.slice(i, i + 5)) createFile(volume, file);
    tids.push({
      tid: volume.commit(),
      what: `created ${files.slice(i, i + 5).length} files`,
    });
  }
  const bytes = files.reduce((n, f) => n + f.content.length, 0);
  say(`wrote ${files.length} files (${bytes} bytes) of this project's sources in ${tids.length} flush cycles`);

  const edited = files.find((f) => f.name === 'storage_volume.ts') ?? (files[0] as DemoFile);
  const original = edited.content;
  for (let round = 1; round <= 2; round++) {
    volume.beginCycle();
    edited.content = Buffer.concat([edited.content, Buffer.from(`\n// edit ${round} by the demo\n`)]);
    rewriteFile(volume, edited);
    tids.push({ tid: volume.commit(), what: `edited ${edited.name} (${edited.content.length} bytes)` });
  }
  const removed = files.find((f) => f.name === 'storage_crc.ts') ?? (files[1] as DemoFile);
  volume.beginCycle();
  for (const elm of fileRecords(volume, removed.objId, TID_MAX)) volume.deleteRecord(elm);
  const entry = findDirEntry(volume, removed.name);
  if (entry !== undefined) volume.deleteRecord(entry);
  volume.adjustInodeCount(-1);
  tids.push({ tid: volume.commit(), what: `deleted ${removed.name}` });
  say(
    `edited ${edited.name} twice, deleted ${removed.name}; ${volume.counters.cycles} cycles, ${volume.counters.fsyncs} fsyncs so far`,
  );

  // A crash in the middle of a flush: meta-data written past the FIFO, no header commit.
  volume.beginCycle();
  const doomed: DemoFile = { name: 'half-written.bin', objId: 999, content: Buffer.alloc(512 * 1024, 7) };
  createFile(volume, doomed);
  volume.finalize(false);
  const dirtyWrites = volume.counters.metaBytesWritten;
  volume.device.close();
  say(`crashed mid-flush after writing ${mib(dirtyWrites)} of meta-data in total, with no header commit`);

  volume = Volume.mount(FileDevice.open(path), { clock: wallClock });
  const r = volume.recovery;
  say(`recovery: ${r.records} FIFO records in the span, ${r.undone} UNDO records rolled back (${r.undoneBytes} bytes)`);
  const gone = readFileAsOf(volume, doomed.objId, TID_MAX) === undefined;
  say(`  the half-written file is ${gone ? 'gone, as it must be' : 'STILL THERE (bug)'}`);

  say(`history of ${edited.name}:`);
  let historyOk = true;
  for (const { tid, what } of tids) {
    const content = readFileAsOf(volume, edited.objId, tid);
    const inode = volume.lookup({ localization: INODE_LOC, objId: edited.objId, recType: RecType.INODE, key: 0 }, tid);
    const size = inode === undefined ? 0 : decodeInode(volume.readData(inode), edited.name).size;
    if (content !== undefined && content.length !== size) historyOk = false;
    say(`  as of ${formatTid(tid)}: ${content === undefined ? 'absent' : `${size} bytes`}  (${what})`);
  }
  // The first version readable is the file as imported; now it has both edits.
  const oldest = tids.find((t) => readFileAsOf(volume, edited.objId, t.tid) !== undefined);
  const asCreated = oldest === undefined ? undefined : readFileAsOf(volume, edited.objId, oldest.tid);
  historyOk &&= asCreated?.equals(original) === true;
  historyOk &&= readFileAsOf(volume, edited.objId, TID_MAX)?.equals(edited.content) === true;
  volume.close();

  const device = FileDevice.open(path, { readOnly: true });
  const report = fsck(device, { clock: wallClock });
  device.close();
  say(
    `fsck: ${report.errors === 0 ? 'clean' : `${report.errors} errors`} (${report.stats.nodes} nodes, ${report.stats.records} records, ${report.stats.liveInodes} live inodes)`,
  );
  say(`done in ${Math.round(performance.now() - started)} ms; inspect with: hammerstate show ${path}`);
  note(historyOk ? 'demo: history verified' : 'demo: history check FAILED');
  return gone && historyOk && report.errors === 0;
}
