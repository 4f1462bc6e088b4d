import type { FileSystem } from '../../actors/api.js';
import { type MountInternals, type MountOptions, mkfs, mount } from '../../actors/index.js';
import { type Clock, logicalClock } from '../../storage/clock.js';
import { CrashDevice } from '../../storage/crash-device.js';
import { MemDevice } from '../../storage/device.js';
import type { FsState, Step } from './fs-model.js';
import { readTree } from './tree.js';
import { type Operation, SETUP_DIRS, SETUP_FILES, touchedFile, type Workload } from './workloads.js';

const MiB = 1024 * 1024;
export const VOLUME_BYTES = 48 * MiB;
const UNDO_BYTES = 8 * MiB;

/** The content a write, append or setup puts in a file: recognisable per byte, sector-crossing. */
const FILL = { setup: 0x53, write: 0x57, append: 0x41 } as const;

/** Mount options of every crashtest mount: deterministic time, no atime (reads write nothing). */
export function mountOptions(clock: Clock = logicalClock()): MountOptions & MountInternals {
  return { clock, noatime: true, autoflush: 4 };
}

/** A durable point of the whole tree (a sync that returned), or of one inode (an fsync). */
export interface Durable {
  /** Index into `steps` of the state it made durable. */
  step: number;
  /** device.ops.length when the call returned. */
  opsEnd: number;
}

/** A snapshot that returned, with the tree it showed as of its TID then. */
export interface SnapshotSeen {
  tid: number;
  opsEnd: number;
  state: FsState;
}

/** One workload run on a CrashDevice: the states it went through and its durable points. */
export interface Recording {
  device: CrashDevice;
  root: number;
  steps: Step[];
  syncs: Durable[];
  fsyncs: Map<number, Durable[]>;
  snapshots: SnapshotSeen[];
  /** Each operation's outcome: `ok` or its error code. */
  outcomes: string[];
}

/**
 * The volume every workload starts from: mkfs, the setup namespace (two
 * directories, a file in each, an empty subdirectory), a sync and a snapshot
 * whose as-of tree every crash state must still show. Built once per run.
 */
export async function setupVolume(): Promise<{ base: MemDevice; snapshot: SnapshotSeen; root: number }> {
  const base = new MemDevice(VOLUME_BYTES);
  await mkfs(base, { size: VOLUME_BYTES, undoBytes: UNDO_BYTES, clock: logicalClock() });
  const fs = await mount(base, mountOptions());
  for (const dir of SETUP_DIRS) await fs.mkdir(dir);
  for (const file of SETUP_FILES) await fs.writeFile(file, Buffer.alloc(6000, FILL.setup));
  const tid = await fs.snapshot('crashtest setup');
  const root = (await fs.stat('/')).ino;
  const { state } = await readTree(fs, root, asOf(tid));
  await fs.unmount();
  return { base, snapshot: { tid, opsEnd: 0, state }, root };
}

export function asOf(tid: number): string {
  return `/@@0x${tid.toString(16).padStart(16, '0')}`;
}

/** Run one operation; a coded error (ENOENT, EEXIST...) is an outcome, not a failure. */
async function apply(fs: FileSystem, operation: Operation): Promise<string> {
  try {
    await perform(fs, operation);
    return 'ok';
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string') throw error;
    return code;
  }
}

async function perform(fs: FileSystem, operation: Operation): Promise<void> {
  switch (operation.op) {
    case 'create':
      return (await fs.open(operation.path, 'wx')).close();
    case 'mkdir':
      return fs.mkdir(operation.path);
    case 'rmdir':
      return fs.rmdir(operation.path);
    case 'unlink':
      return fs.unlink(operation.path);
    case 'write': {
      const fh = await fs.open(operation.path, 'r+');
      await fh.write(Buffer.alloc(3000, FILL.write), 0, 3000, 1000);
      return fh.close();
    }
    case 'append':
      return fs.appendFile(operation.path, Buffer.alloc(2000, FILL.append));
    case 'truncate':
      return fs.truncate(operation.path, 700);
    case 'link':
      return fs.link(operation.from, operation.to);
    case 'rename':
      return fs.rename(operation.from, operation.to);
    case 'symlink':
      return fs.symlink(operation.target, operation.path);
    case 'fsync':
    case 'fdatasync':
      return fileSync(fs, operation.path, operation.op);
    case 'sync':
      await fs.sync();
      return;
    case 'snapshot':
      throw new Error('a snapshot is taken by record(), which keeps its TID');
  }
}

async function fileSync(fs: FileSystem, path: string, how: 'fsync' | 'fdatasync'): Promise<void> {
  const fh = await fs.open(path, 'r');
  try {
    if (how === 'fsync') await fh.sync();
    else await fh.datasync();
  } finally {
    await fh.close();
  }
}

/**
 * Run `workload` on a CrashDevice over a copy of `base`, reading the whole
 * tree after every operation (the states a crash may fall back to) and noting
 * every durable point: a sync or snapshot that returned (the whole tree), an
 * fsync or fdatasync that returned (that inode). No unmount: the recording
 * ends where the last persistence point left the device.
 */
export async function record(
  base: MemDevice,
  root: number,
  setupSnapshot: SnapshotSeen,
  workload: Workload,
): Promise<Recording> {
  const device = new CrashDevice(base);
  const fs = await mount(device, mountOptions());
  const steps: Step[] = [{ state: (await readTree(fs, root)).state, opsStart: 0 }];
  const rec: Recording = {
    device,
    root,
    steps,
    syncs: [{ step: 0, opsEnd: device.ops.length }],
    fsyncs: new Map(),
    snapshots: [setupSnapshot],
    outcomes: [],
  };
  for (const { operation, persistence } of workload) {
    const opsStart = device.ops.length;
    let outcome: string;
    if (operation.op === 'snapshot') {
      const tid = await fs.snapshot('crashtest');
      rec.snapshots.push({ tid, opsEnd: device.ops.length, state: (await readTree(fs, root, asOf(tid))).state });
      outcome = 'ok';
    } else outcome = await apply(fs, operation);
    rec.outcomes.push(outcome);
    steps.push({ state: (await readTree(fs, root)).state, opsStart });
    const step = steps.length - 1;
    if (outcome === 'ok' && (operation.op === 'sync' || operation.op === 'snapshot'))
      rec.syncs.push({ step, opsEnd: device.ops.length });
    if (outcome === 'ok' && (operation.op === 'fsync' || operation.op === 'fdatasync'))
      await noteFsync(fs, rec, operation.path, step);
    await persist(fs, rec, operation, persistence, step);
  }
  return rec;
}

/** The persistence point after an operation; an fsync of a file the operation left missing is skipped. */
async function persist(
  fs: FileSystem,
  rec: Recording,
  operation: Operation,
  persistence: Workload[number]['persistence'],
  step: number,
): Promise<void> {
  if (persistence === 'none') return;
  if (persistence === 'sync') {
    await fs.sync();
    rec.syncs.push({ step, opsEnd: rec.device.ops.length });
    return;
  }
  const path = touchedFile(operation);
  if (path === undefined) throw new Error(`no file to ${persistence} after ${operation.op}`);
  if ((await apply(fs, { op: persistence, path })) === 'ok') await noteFsync(fs, rec, path, step);
}

async function noteFsync(fs: FileSystem, rec: Recording, path: string, step: number): Promise<void> {
  const ino = (await fs.stat(path)).ino;
  const list = rec.fsyncs.get(ino) ?? [];
  list.push({ step, opsEnd: rec.device.ops.length });
  rec.fsyncs.set(ino, list);
}
