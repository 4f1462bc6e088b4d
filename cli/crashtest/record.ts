import type { FileSystem } from '../../actors/api.js';
import type { BusEvent } from '../../actors/index.js';
import { type MountInternals, type MountOptions, mkfs, mount } from '../../actors/index.js';
import { type Clock, logicalClock } from '../../storage/clock.js';
import { CrashDevice } from '../../storage/crash-device.js';
import { MemDevice } from '../../storage/device.js';
import { diffStates, FsModel, type FsState, type Step } from './fs-model.js';
import { describePfs, LogModel, LogModelError } from './log-model.js';
import { readTree } from './tree.js';
import { describeOperation, type Operation, SETUP_DIRS, SETUP_FILES, touchedFile, type Workload } from './workloads.js';

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
  /**
   * Where the live run disagreed with the states derived from its event log
   * (log-model.ts): the tree read back after a step, a call's outcome, or
   * the derivation itself. Empty when the oracle's states are sound.
   */
  oracle: string[];
}

/** The setup every workload starts from: the volume, its root, the setup snapshot and the log model's state there. */
export interface Setup {
  base: MemDevice;
  root: number;
  snapshot: SnapshotSeen;
  /** The setup's state as derived from its event log (the workloads' log models start from it). */
  state: FsState;
}

/** Bus events collected as they come, and fed to a log model step by step. */
class EventTap {
  private readonly events: BusEvent[] = [];
  private fed = 0;
  readonly subscription;

  constructor(
    fs: FileSystem,
    readonly log: LogModel,
  ) {
    this.subscription = fs.events.subscribe((event) => this.events.push(event));
  }

  /** Apply everything logged so far (the calls made have returned). */
  async catchUp(): Promise<void> {
    while (this.fed < this.events.length) await this.log.push(this.events[this.fed++] as BusEvent);
    await this.log.settle();
  }
}

/**
 * The volume every workload starts from: mkfs, the setup namespace (two
 * directories, a file in each, an empty subdirectory), a sync and a snapshot
 * whose as-of tree every crash state must still show. Built once per run.
 */
export async function setupVolume(): Promise<Setup> {
  const base = new MemDevice(VOLUME_BYTES);
  await mkfs(base, { size: VOLUME_BYTES, undoBytes: UNDO_BYTES, clock: logicalClock() });
  const fs = await mount(base, mountOptions());
  const root = (await fs.stat('/')).ino;
  const tap = new EventTap(fs, new LogModel(new FsModel(root)));
  for (const dir of SETUP_DIRS) await fs.mkdir(dir);
  for (const file of SETUP_FILES) await fs.writeFile(file, Buffer.alloc(6000, FILL.setup));
  const tid = await fs.snapshot('crashtest setup');
  await tap.catchUp();
  const state = tap.log.state();
  const seen = await readTree(fs, root, asOf(tid));
  tap.subscription.unsubscribe();
  await fs.unmount();
  // The setup is fixed: a disagreement here is a bug of the system or of the model, before any workload.
  const problems = [...seen.problems, ...diffStates(state, seen.state, root)];
  if (problems.length > 0)
    throw new Error(`crashtest setup: the tree differs from its event log:\n  ${problems.join('\n  ')}`);
  return { base, snapshot: { tid, opsEnd: 0, state }, root, state };
}

export function asOf(tid: number): string {
  return `/@@0x${tid.toString(16).padStart(16, '0')}`;
}

/** Run one operation; a coded error (ENOENT, EEXIST...) is an outcome, not a failure. */
async function apply(fs: FileSystem, operation: Operation): Promise<{ outcome: string; value?: unknown }> {
  try {
    return { outcome: 'ok', value: await perform(fs, operation) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string') throw error;
    return { outcome: code };
  }
}

/** Make the call; a snapshot gives its TID. */
async function perform(fs: FileSystem, operation: Operation): Promise<unknown> {
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
      return fs.snapshot('crashtest');
    case 'pfs-create':
      return fs.pfs.create('crashtest');
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
 * Run `workload` on a CrashDevice over a copy of the setup volume, noting
 * every durable point: a sync or snapshot that returned (the whole tree), an
 * fsync or fdatasync that returned (that inode). The state after each
 * operation (what a crash may fall back to) is derived from the event log
 * (log-model.ts), and the tree read back through the API must equal it; a
 * disagreement goes to `oracle`. No unmount: the recording ends where the
 * last persistence point left the device.
 */
export async function record(setup: Setup, workload: Workload): Promise<Recording> {
  const { root } = setup;
  const device = new CrashDevice(setup.base);
  const fs = await mount(device, mountOptions());
  const tap = new EventTap(fs, new LogModel(new FsModel(root, setup.state)));
  const rec: Recording = {
    device,
    root,
    steps: [{ state: setup.state, opsStart: 0, pfs: '' }],
    syncs: [{ step: 0, opsEnd: device.ops.length }],
    fsyncs: new Map(),
    snapshots: [setup.snapshot],
    outcomes: [],
    oracle: [],
  };
  for (const { operation, persistence } of workload) {
    const opsStart = device.ops.length;
    const { outcome, value } = await apply(fs, operation);
    rec.outcomes.push(outcome);
    const state = await derive(tap, rec, operation, outcome);
    rec.steps.push({ state, opsStart, pfs: describePfs(tap.log.pfs) });
    await crossCheck(fs, rec, state);
    const step = rec.steps.length - 1;
    if (outcome === 'ok' && operation.op === 'snapshot') {
      const tid = value as number;
      rec.snapshots.push({ tid, opsEnd: device.ops.length, state });
    }
    if (outcome === 'ok' && (operation.op === 'sync' || operation.op === 'snapshot'))
      rec.syncs.push({ step, opsEnd: device.ops.length });
    if (outcome === 'ok' && (operation.op === 'fsync' || operation.op === 'fdatasync'))
      await noteFsync(fs, rec, operation.path, step);
    await persist(fs, rec, operation, persistence, step);
    // The persistence point's own calls, so the next operation's outcomes are its own.
    await catchUp(tap, rec, `${describeOperation(operation)}; ${persistence}`);
  }
  tap.subscription.unsubscribe();
  return rec;
}

/**
 * The state after `operation` as its logged commands make it on the log
 * model, and the model's outcomes for them against the real one: a real
 * success needs every modelled call to succeed, a real error one the model
 * allows. A derivation error keeps the previous state and is noted.
 */
async function derive(tap: EventTap, rec: Recording, operation: Operation, outcome: string): Promise<FsState> {
  const what = describeOperation(operation);
  const before = tap.log.outcomes.length;
  await catchUp(tap, rec, what);
  const modelled = tap.log.outcomes.slice(before);
  const failed = modelled.filter((o) => o.outcome !== 'ok');
  const agrees = outcome === 'ok' ? failed.length === 0 : failed.some((o) => o.outcome.split('|').includes(outcome));
  if (!agrees) {
    const model = modelled.map((o) => `${o.type} ${o.outcome}`).join(', ') || 'no call';
    rec.oracle.push(`${what}: the call returned ${outcome}; from the event log the model says ${model}`);
  }
  return tap.log.state();
}

/** Apply what was logged; what cannot be modelled is an oracle problem (the state stays as it was). */
async function catchUp(tap: EventTap, rec: Recording, what: string): Promise<void> {
  try {
    await tap.catchUp();
  } catch (error) {
    if (!(error instanceof LogModelError)) throw error;
    rec.oracle.push(`${what}: the event log cannot be modelled: ${error.message}`);
  }
}

/** The live tree must read back as the state derived from the log. */
async function crossCheck(fs: FileSystem, rec: Recording, state: FsState): Promise<void> {
  const live = await readTree(fs, rec.root);
  const step = rec.steps.length - 1;
  for (const problem of [...live.problems, ...diffStates(state, live.state, rec.root)])
    rec.oracle.push(`step ${step}: the live tree against the event log: ${problem}`);
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
  if ((await apply(fs, { op: persistence, path })).outcome === 'ok') await noteFsync(fs, rec, path, step);
}

async function noteFsync(fs: FileSystem, rec: Recording, path: string, step: number): Promise<void> {
  const ino = (await fs.stat(path)).ino;
  const list = rec.fsyncs.get(ino) ?? [];
  list.push({ step, opsEnd: rec.device.ops.length });
  rec.fsyncs.set(ino, list);
}
