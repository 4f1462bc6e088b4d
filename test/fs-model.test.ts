import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FileSystem, MountInternals, MountOptions } from '../actors/index.js';
import { mkfs, mount } from '../actors/index.js';
import {
  applyLink,
  applyRename,
  planLink,
  planNewEntry,
  planOpen,
  planRename,
  planRmdir,
  planTruncate,
  planUnlink,
  planWriteFile,
} from '../cli/crashtest/model-plans.js';
import { readTree } from '../cli/crashtest/tree.js';
import { type Clock, logicalClock } from '../storage/clock.js';
import { CrashDevice, seededRandom } from '../storage/crash-device.js';
import { MemDevice } from '../storage/device.js';
import { dirHashBase } from '../storage/format/records.js';
import { fsck } from '../storage/fsck.js';
import {
  crashViolations,
  describeData,
  diffStates,
  Errno,
  errno,
  FsModel,
  type MInode,
  type Step,
  truncateTo,
  writeAt,
} from './support/fs-model.js';

/**
 * The public filesystem API against an in-memory POSIX model, with crashes.
 * Each run mounts a fresh volume on a CrashDevice with small flush knobs and
 * plays a random command sequence; every call's result or error code must be
 * the model's. A crash mounts a sampled crash image (dropped, reordered, torn
 * writes after the last device fsync, at a random point since the last durable
 * one) and checks the durability contract inode by inode and entry by entry
 * (support/fs-model.ts, crashViolations), then adopts the recovered tree.
 * HAMMERSTATE_MODEL_RUNS / _COMMANDS make a longer campaign; HAMMERSTATE_MODEL_SEED (and
 * HAMMERSTATE_MODEL_PATH, fast-check's path, and HAMMERSTATE_MODEL_REPLAY_PATH, the
 * replayPath fc.commands prints) replay a reported failure (HAMMERSTATE_MODEL_TRACE=1 prints
 * each command with its paths picked). The default seed is
 * fixed, so CI is reproducible; HAMMERSTATE_MODEL_SEED=random explores new ones.
 */
const RUNS = Number(process.env.HAMMERSTATE_MODEL_RUNS ?? 50);
const COMMANDS = Number(process.env.HAMMERSTATE_MODEL_COMMANDS ?? 50);
const SEED_ENV = process.env.HAMMERSTATE_MODEL_SEED ?? '20261126';
const SEED = SEED_ENV === 'random' ? undefined : Number(SEED_ENV);
/** fast-check's replay path of a reported failure (with its seed): straight to the shrunk counterexample. */
const REPLAY = process.env.HAMMERSTATE_MODEL_PATH;
/** fc.commands' own replay path (printed in the counterexample as replayPath), to replay the command shrinking too. */
const REPLAY_COMMANDS = process.env.HAMMERSTATE_MODEL_REPLAY_PATH;

const VOLUME_BYTES = 128 * 1024 * 1024;

type Tuning = Required<Pick<MountInternals, 'autoflush' | 'reclaimLimit' | 'truncateBatch'>> &
  Pick<MountInternals, 'dirtyDataLimitBytes' | 'metaLimitBytes' | 'cacheInodes'>;

/** File content as a seed and a length: readable in a counterexample, different per block. */
interface Bytes {
  length: number;
  seed: number;
}

/** A command; `P` is how paths are given (PathArg when generated, string once picked). */
type Cmd<P = string> =
  | { op: 'mkdir' | 'rmdir' | 'unlink' | 'readlink' | 'readFile' | 'readdir' | 'fsync'; path: P }
  | { op: 'writeFile' | 'appendFile'; path: P; data: Bytes }
  | { op: 'write'; path: P; flags: 'r+' | 'w' | 'a' | 'wx'; position: number; data: Bytes; fsync: boolean }
  | { op: 'truncate'; path: P; length: number }
  | { op: 'rename' | 'link'; from: P; to: P }
  | { op: 'symlink'; target: string; path: P }
  | { op: 'stat'; path: P; follow: boolean }
  | { op: 'sync' | 'remount' | 'verify' }
  | { op: 'crash'; at: number; torn: boolean; seed: number };

function bytesOf(spec: Bytes): Buffer {
  const out = Buffer.alloc(spec.length);
  for (let i = 0; i < spec.length; i++) out[i] = (spec.seed * 31 + i * 7 + (i >> 9) * 13) & 0xff;
  return out;
}

// --- arbitraries -----------------------------------------------------------

/**
 * Few names, so calls collide; directories tend to be 'a' and 'b' near the root, so deeper paths exist.
 * 'u9osz' and 'iv3rn' have one hash (CRC-31): their entries share a collision span.
 */
const name = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'c') },
  { weight: 1, arbitrary: fc.constantFrom('u9osz', 'iv3rn') },
);
const top = fc.oneof({ weight: 3, arbitrary: fc.constant('a') }, { weight: 2, arbitrary: fc.constant('b') }, name);
const namedPath: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: name.map((n) => `/${n}`) },
  { weight: 4, arbitrary: fc.tuple(top, name).map(([x, y]) => `/${x}/${y}`) },
  { weight: 2, arbitrary: fc.tuple(top, top, name).map(([x, y, z]) => `/${x}/${y}/${z}`) },
);
/** A path: spelled out, or (a number) the n-th path that exists in the model when the command runs. */
type PathArg = string | number;
const pathArb: fc.Arbitrary<PathArg> = fc.oneof(namedPath, fc.nat({ max: 63 }));
const dirPathArb: fc.Arbitrary<PathArg> = fc.oneof(
  { weight: 3, arbitrary: top.map((n) => `/${n}`) },
  { weight: 2, arbitrary: fc.tuple(top, top).map(([x, y]) => `/${x}/${y}`) },
  pathArb,
);
const targetArb: fc.Arbitrary<string> = fc.oneof(
  namedPath,
  fc.constantFrom('a', 'b', 'c/a', '../a', '../b/c', '/missing', 'zz'),
);
const bytesArb: fc.Arbitrary<Bytes> = fc.record({
  length: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 200 }) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 20_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 70_000 }) },
  ),
  seed: fc.integer({ min: 0, max: 255 }),
});
const offsetArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 70_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(16_383, 16_384, 32_768, 65_535, 65_536) },
);

const cmdArb: fc.Arbitrary<Cmd<PathArg>> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('mkdir' as const), path: dirPathArb }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('rmdir' as const), path: dirPathArb }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('writeFile' as const), path: pathArb, data: bytesArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('appendFile' as const), path: pathArb, data: bytesArb }) },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('write' as const),
      path: pathArb,
      flags: fc.constantFrom('r+' as const, 'w' as const, 'a' as const, 'wx' as const),
      position: offsetArb,
      data: bytesArb,
      fsync: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('truncate' as const), path: pathArb, length: offsetArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('unlink' as const), path: pathArb }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('rename' as const), from: pathArb, to: pathArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('link' as const), from: pathArb, to: pathArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('symlink' as const), target: targetArb, path: pathArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('readlink' as const), path: pathArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('readFile' as const), path: pathArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('readdir' as const), path: dirPathArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('stat' as const), path: pathArb, follow: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('fsync' as const), path: pathArb }) },
  { weight: 2, arbitrary: fc.constant({ op: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'remount' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'verify' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('crash' as const),
      at: fc.oneof(fc.constant(1000), fc.integer({ min: 0, max: 1000 })),
      torn: fc.boolean(),
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
    }),
  },
);

const tuningArb: fc.Arbitrary<Tuning> = fc.record({
  autoflush: fc.integer({ min: 1, max: 12 }),
  reclaimLimit: fc.constantFrom(8, 64),
  truncateBatch: fc.integer({ min: 1, max: 8 }),
  dirtyDataLimitBytes: fc.constantFrom(16 * 1024, 64 * 1024 * 1024),
  metaLimitBytes: fc.constantFrom(16 * 1024, 8 * 1024 * 1024),
  // A cache of two clean inodes: they unload and load again all the time.
  cacheInodes: fc.constantFrom(2, 50_000),
});

// --- outcomes ----------------------------------------------------------------

type Expected<T> = { ok: true; value: T } | { ok: false; codes: string[] };
type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

/** The model's verdict: a value, or the error codes POSIX allows. */
function expectation<T>(plan: () => T): Expected<T> {
  try {
    return { ok: true, value: plan() };
  } catch (error) {
    if (error instanceof Errno) return { ok: false, codes: error.codes };
    throw error;
  }
}

/** The real call's result; an error without a code is a crash of the implementation and propagates. */
async function attempt<T>(call: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string') throw error;
    return { ok: false, code, message: (error as Error).message };
  }
}

/** Model and filesystem agree on success or on the error code; the model's value when both succeeded. */
/** How often each call succeeded or failed with each code (printed with HAMMERSTATE_MODEL_STATS). */
const tally = new Map<string, number>();

function agree<T>(what: string, expected: Expected<T>, got: Outcome<unknown>): { value: T } | undefined {
  const key = `${what.slice(0, what.indexOf(',')).replace(/[{"]/g, '')} ${got.ok ? 'ok' : got.code}`;
  tally.set(key, (tally.get(key) ?? 0) + 1);
  if (expected.ok && !got.ok) throw new Error(`${what}: expected success, got ${got.message}`);
  if (!expected.ok && got.ok) throw new Error(`${what}: expected ${expected.codes.join(' | ')}, but it succeeded`);
  if (!expected.ok && !got.ok && !expected.codes.includes(got.code))
    throw new Error(`${what}: expected ${expected.codes.join(' | ')}, got ${got.message}`);
  return expected.ok ? { value: expected.value } : undefined;
}

/** Fail with every listed problem spelled out. */
function none(problems: string[], what: string): void {
  if (problems.length > 0) throw new Error(`${what}:\n  ${problems.join('\n  ')}`);
}

// --- the real tree -------------------------------------------------------------

// --- one run -------------------------------------------------------------------

/**
 * One call of the sequence as fast-check's model-based testing sees it
 * (fc.commands, fc.asyncModelRun): always applicable (a path is picked in
 * the model when it runs, and a call the model says fails must fail), run
 * against the model and the filesystem together by Run.run.
 */
class FsCommand implements fc.AsyncCommand<FsModel, Run> {
  constructor(readonly cmd: Cmd<PathArg>) {}

  check(): boolean {
    return true;
  }

  run(_model: FsModel, real: Run): Promise<void> {
    return real.run(this.cmd);
  }

  toString(): string {
    return JSON.stringify(this.cmd);
  }
}

class Run {
  /** Every state since the last durable point (steps[0]); see crashViolations. */
  steps: Step[] = [];
  /** fsyncs since the last durable point, per inode. */
  readonly fsyncs = new Map<number, Array<{ step: number; opsEnd: number }>>();
  readonly crashes = { count: 0, torn: 0 };

  private constructor(
    public device: CrashDevice,
    public fs: FileSystem,
    public model: FsModel,
    readonly clock: Clock,
    readonly tuning: Tuning,
  ) {
    this.durable();
  }

  /** A fresh volume (a copy of `base`) on a CrashDevice, mounted with `tuning`. */
  static async start(base: MemDevice, tuning: Tuning): Promise<Run> {
    const device = new CrashDevice(base);
    const clock = logicalClock();
    const fs = await mount(device, { clock, ...tuning });
    const model = new FsModel((await fs.stat('/')).ino);
    return new Run(device, fs, model, clock, tuning);
  }

  private options(): MountOptions & MountInternals {
    return { clock: this.clock, ...this.tuning };
  }

  /** Everything in the model is on disk now (sync, unmount, recovery). */
  private durable(): void {
    this.steps = [{ state: this.model.snapshot(), opsStart: this.device.ops.length }];
    this.fsyncs.clear();
  }

  /** The model changed by a call that began at device op `opsStart`. */
  private record(opsStart: number): void {
    this.steps.push({ state: this.model.snapshot(), opsStart });
  }

  private async ino(path: string, follow: boolean): Promise<number> {
    return (await (follow ? this.fs.stat(path) : this.fs.lstat(path))).ino;
  }

  /** A generated path: as spelled, or the n-th path of the model (mod how many there are). */
  private pick(path: PathArg): string {
    if (typeof path === 'string') return path;
    const all = this.model.paths();
    return all.length === 0 ? '/a' : (all[path % all.length] as string);
  }

  /** Pick the command's paths in the current model, then run it. */
  async run(cmd: Cmd<PathArg>): Promise<void> {
    const picked = { ...cmd } as Record<string, unknown>;
    for (const key of ['path', 'from', 'to'] as const) {
      const value = picked[key];
      if (typeof value === 'string' || typeof value === 'number') picked[key] = this.pick(value);
    }
    if (process.env.HAMMERSTATE_MODEL_TRACE) console.log('CMD', JSON.stringify(picked));
    return this.apply(picked as Cmd);
  }

  async apply(cmd: Cmd): Promise<void> {
    const what = JSON.stringify(cmd);
    const m = this.model;
    const fs = this.fs;
    const start = this.device.ops.length;
    switch (cmd.op) {
      case 'mkdir': {
        const plan = expectation(() => planNewEntry(m, cmd.path));
        const ok = agree(what, plan, await attempt(() => fs.mkdir(cmd.path)));
        if (ok === undefined) return;
        const ino = await this.ino(cmd.path, false);
        m.create(ok.value.parent, ok.value.name, ino, { kind: 'dir', entries: new Map(), parent: ok.value.parent });
        return this.record(start);
      }
      case 'rmdir': {
        const plan = expectation(() => planRmdir(m, cmd.path));
        const ok = agree(what, plan, await attempt(() => fs.rmdir(cmd.path)));
        if (ok === undefined) return;
        m.removeEntry(ok.value.parent, ok.value.name);
        return this.record(start);
      }
      case 'unlink': {
        const plan = expectation(() => planUnlink(m, cmd.path));
        const ok = agree(what, plan, await attempt(() => fs.unlink(cmd.path)));
        if (ok === undefined) return;
        m.removeEntry(ok.value.parent, ok.value.name);
        return this.record(start);
      }
      case 'writeFile':
      case 'appendFile': {
        const bytes = bytesOf(cmd.data);
        const plan = expectation(() => planWriteFile(m, cmd.path));
        const call =
          cmd.op === 'writeFile' ? () => fs.writeFile(cmd.path, bytes) : () => fs.appendFile(cmd.path, bytes);
        const ok = agree(what, plan, await attempt(call));
        if (ok === undefined) return;
        const r = ok.value;
        if (r.ino === undefined) {
          m.create(r.parent, r.name, await this.ino(cmd.path, true), { kind: 'file', data: bytes, nlink: 1 });
        } else {
          m.setData(r.ino, cmd.op === 'writeFile' ? bytes : Buffer.concat([m.data(r.ino), bytes]));
        }
        return this.record(start);
      }
      case 'write':
        return this.write(cmd, what);
      case 'fsync':
        return this.write(
          { op: 'write', path: cmd.path, flags: 'r+', position: 0, data: { length: 0, seed: 0 }, fsync: true },
          what,
        );
      case 'truncate': {
        const plan = expectation(() => planTruncate(m, cmd.path));
        const ok = agree(what, plan, await attempt(() => fs.truncate(cmd.path, cmd.length)));
        if (ok === undefined) return;
        m.setData(ok.value, truncateTo(m.data(ok.value), cmd.length));
        return this.record(start);
      }
      case 'rename':
        return this.rename(cmd.from, cmd.to, what);
      case 'link': {
        const plan = expectation(() => planLink(m, cmd.from, cmd.to));
        const ok = agree(what, plan, await attempt(() => fs.link(cmd.from, cmd.to)));
        if (ok === undefined) return;
        applyLink(m, ok.value);
        return this.record(start);
      }
      case 'symlink': {
        const plan = expectation(() => planNewEntry(m, cmd.path));
        const ok = agree(what, plan, await attempt(() => fs.symlink(cmd.target, cmd.path)));
        if (ok === undefined) return;
        const node: MInode = { kind: 'symlink', target: cmd.target, nlink: 1 };
        m.create(ok.value.parent, ok.value.name, await this.ino(cmd.path, false), node);
        return this.record(start);
      }
      case 'readlink': {
        const plan = expectation(() => {
          const node = m.node(m.resolve(cmd.path, false).ino ?? -1);
          if (node.kind !== 'symlink') throw errno('EINVAL');
          return node.target;
        });
        const got = await attempt(() => fs.readlink(cmd.path));
        const ok = agree(what, plan, got);
        if (ok !== undefined && got.ok) expect(got.value, what).toBe(ok.value);
        return;
      }
      case 'readFile': {
        const plan = expectation(() => {
          const r = m.resolve(cmd.path, true);
          if (m.node(r.ino ?? -1).kind === 'dir') throw errno('EISDIR');
          return m.data(r.ino ?? -1);
        });
        const got = await attempt(() => fs.readFile(cmd.path));
        const ok = agree(what, plan, got);
        if (ok !== undefined && got.ok) expect(describeData(Buffer.from(got.value)), what).toBe(describeData(ok.value));
        return;
      }
      case 'readdir': {
        const plan = expectation(() => {
          const node = m.node(m.resolve(cmd.path, true).ino ?? -1);
          if (node.kind !== 'dir') throw errno('ENOTDIR');
          return [...node.entries.keys()].sort();
        });
        const got = await attempt(() => fs.readdir(cmd.path));
        const ok = agree(what, plan, got);
        if (ok !== undefined && got.ok) expect([...got.value].sort(), what).toEqual(ok.value);
        return;
      }
      case 'stat': {
        const plan = expectation(() => {
          const ino = m.resolve(cmd.path, cmd.follow).ino ?? -1;
          return { ino, node: m.node(ino) };
        });
        const got = await attempt(() => (cmd.follow ? fs.stat(cmd.path) : fs.lstat(cmd.path)));
        const ok = agree(what, plan, got);
        if (ok === undefined || !got.ok) return;
        const st = got.value;
        const { ino, node } = ok.value;
        const seen = { ino: st.ino, dir: st.isDirectory(), file: st.isFile(), symlink: st.isSymbolicLink() };
        const want = { ino, dir: node.kind === 'dir', file: node.kind === 'file', symlink: node.kind === 'symlink' };
        expect(seen, what).toEqual(want);
        if (node.kind === 'file')
          expect({ size: st.size, nlink: st.nlink }, what).toEqual({ size: node.data.length, nlink: node.nlink });
        if (node.kind === 'symlink')
          expect({ size: st.size, nlink: st.nlink }, what).toEqual({
            size: Buffer.byteLength(node.target),
            nlink: node.nlink,
          });
        return;
      }
      case 'sync':
        await fs.sync();
        return this.durable();
      case 'remount':
        await fs.unmount();
        this.fs = await mount(this.device, this.options());
        await this.verify('after remount');
        return this.durable();
      case 'verify':
        return this.verify(what);
      case 'crash':
        return this.crash(cmd);
    }
  }

  /** open + write at an offset (+ fsync) + close; each call that changes the file is a step. */
  private async write(cmd: Extract<Cmd, { op: 'write' }>, what: string): Promise<void> {
    const m = this.model;
    const bytes = bytesOf(cmd.data);
    const plan = expectation(() => planOpen(m, cmd.path, cmd.flags));
    let start = this.device.ops.length;
    const opened = await attempt(() => this.fs.open(cmd.path, cmd.flags));
    const ok = agree(what, plan, opened);
    if (ok === undefined || !opened.ok) return;
    const handle = opened.value;
    try {
      const r = ok.value;
      let ino = r.ino;
      if (ino === undefined) {
        ino = (await handle.stat()).ino;
        m.create(r.parent, r.name, ino, { kind: 'file', data: Buffer.alloc(0), nlink: 1 });
        this.record(start);
      } else if (cmd.flags === 'w' && m.data(ino).length > 0) {
        m.setData(ino, Buffer.alloc(0));
        this.record(start);
      }
      expect((await handle.stat()).ino, `${what}: the handle's inode`).toBe(ino);
      if (bytes.length > 0) {
        start = this.device.ops.length;
        const { bytesWritten } = await handle.write(bytes, 0, bytes.length, cmd.position);
        expect(bytesWritten, what).toBe(bytes.length);
        const at = cmd.flags === 'a' ? m.data(ino).length : cmd.position;
        m.setData(ino, writeAt(m.data(ino), at, bytes));
        this.record(start);
      }
      if (cmd.fsync) {
        await handle.sync();
        const list = this.fsyncs.get(ino) ?? [];
        list.push({ step: this.steps.length - 1, opsEnd: this.device.ops.length });
        this.fsyncs.set(ino, list);
      }
    } finally {
      await handle.close();
    }
  }

  /**
   * rename(2) as Linux orders its checks; where several apply, any of their
   * codes is accepted (POSIX names no order).
   */
  private async rename(from: string, to: string, what: string): Promise<void> {
    const m = this.model;
    const start = this.device.ops.length;
    const plan = expectation(() => planRename(m, from, to));
    const ok = agree(what, plan, await attempt(() => this.fs.rename(from, to)));
    if (ok === undefined || ok.value.same) return;
    applyRename(m, ok.value);
    this.record(start);
  }

  /** The real tree is the model, exactly. */
  async verify(what: string): Promise<void> {
    const { state, problems } = await readTree(this.fs, this.model.root);
    none(problems, `${what}: consistency`);
    none(diffStates(this.model.snapshot(), state, this.model.root), `${what}: tree differs from the model`);
  }

  /**
   * Crash at a point since the last durable one, recover from the image
   * (checked by fsck first), check the durability contract, adopt what came back.
   */
  private async crash(cmd: Extract<Cmd, { op: 'crash' }>): Promise<void> {
    const from = this.steps[0]?.opsStart ?? 0;
    const end = from + Math.round(((this.device.ops.length - from) * cmd.at) / 1000);
    const image = cmd.torn ? this.device.sampleCrashImage(end, seededRandom(cmd.seed)) : this.device.crashImage(end);
    const what = `crash at op ${end} of ${this.device.ops.length} (durable at ${from}, ${cmd.torn ? `torn seed ${cmd.seed}` : 'prefix'})`;
    await this.fs.unmount().catch(() => undefined);
    const report = fsck(image, { clock: logicalClock() });
    none(
      report.problems.map((p) => `${p.where}: ${p.what}`),
      `${what}: fsck of the crash image`,
    );
    this.device = new CrashDevice(image);
    this.fs = await mount(this.device, this.options());
    const { state, problems } = await readTree(this.fs, this.model.root);
    none(problems, `${what}: consistency after recovery`);
    const torn: string[] = [];
    none(crashViolations(this.steps, this.fsyncs, end, state, this.model.root, torn), `${what}: durability`);
    this.crashes.count++;
    this.crashes.torn += torn.length;
    this.model = new FsModel(this.model.root, state);
    this.durable();
  }

  async finish(): Promise<void> {
    await this.verify('at the end');
    await this.fs.unmount();
    // What the run left on the volume: fsck finds nothing wrong (two live entries at one key, say).
    const report = fsck(this.device.currentImage(), { clock: logicalClock() });
    none(
      report.problems.map((p) => `${p.where}: ${p.what}`),
      'at the end: fsck of the volume',
    );
    this.fs = await mount(this.device, this.options());
    await this.verify('after the final remount');
    await this.fs.unmount();
  }
}

describe('the filesystem API against a POSIX model, with crashes', () => {
  it('agrees on results, error codes, durability and recovered trees', async () => {
    expect(dirHashBase('u9osz')).toBe(dirHashBase('iv3rn')); // the names that share a hash do
    const base = new MemDevice(VOLUME_BYTES);
    await mkfs(base, { size: VOLUME_BYTES, undoBytes: 8 * 1024 * 1024, clock: logicalClock() });
    let commands = 0;
    let crashes = 0;
    let torn = 0;
    await fc.assert(
      fc.asyncProperty(
        tuningArb,
        fc.commands([cmdArb.map((cmd) => new FsCommand(cmd))], {
          maxCommands: COMMANDS,
          size: 'max',
          ...(REPLAY_COMMANDS === undefined ? {} : { replayPath: REPLAY_COMMANDS }),
        }),
        async (tuning, cmds) => {
          const run = await Run.start(base, tuning);
          try {
            await fc.asyncModelRun(() => ({ model: run.model, real: run }), cmds);
            await run.finish();
          } catch (error) {
            await run.fs.unmount().catch(() => undefined);
            throw error;
          }
          commands += [...cmds].length;
          crashes += run.crashes.count;
          torn += run.crashes.torn;
        },
      ),
      {
        numRuns: RUNS,
        ...(SEED === undefined ? {} : { seed: SEED }),
        ...(REPLAY === undefined ? {} : { path: REPLAY }),
      },
    );
    if (process.env.HAMMERSTATE_MODEL_STATS) console.log([...tally].sort(), { commands, crashes, torn });
    if (REPLAY === undefined) {
      expect(commands).toBeGreaterThan(RUNS * 5);
      expect(crashes).toBeGreaterThan(0);
    }
  });
});

/** A fresh volume on a CrashDevice for the examples below. */
async function fresh(tuning: Partial<Tuning> = {}): Promise<{ device: CrashDevice; fs: FileSystem }> {
  const base = new MemDevice(VOLUME_BYTES);
  await mkfs(base, { size: VOLUME_BYTES, undoBytes: 8 * 1024 * 1024, clock: logicalClock() });
  const device = new CrashDevice(base);
  return { device, fs: await mount(device, { clock: logicalClock(), ...tuning }) };
}

/** Mount the crash image of every prefix of the recorded ops (no reordering) and hand each to `check`. */
async function everyCrashPoint(device: CrashDevice, check: (fs: FileSystem, end: number) => Promise<void>) {
  for (let end = 0; end <= device.ops.length; end++) {
    const fs = await mount(new CrashDevice(device.crashImage(end)), { clock: logicalClock() });
    await check(fs, end);
    await fs.unmount();
  }
}

describe('sequences the model found (minimal forms)', () => {
  it('a rename whose target loads while the cache is full does not unload the inode it moves', async () => {
    // A cache of two clean inodes: loading '/a' to replace it aged the symlink out mid-rename, which then
    // changed an inode whose actor had stopped (EIO, "an unloaded inode gets no events"). Unloads wait for the end.
    const { fs } = await fresh({ autoflush: 1, truncateBatch: 1, cacheInodes: 2 });
    await fs.writeFile('/a', '');
    await fs.mkdir('/b');
    await fs.symlink('/a/b/a', '/b/a');
    await fs.rename('/b/a', '/a');
    expect(await fs.readlink('/a')).toBe('/a/b/a');
    await fs.unmount();
  });

  it("open(path, 'wx') on a symlink is EEXIST and creates nothing (O_CREAT|O_EXCL never follows)", async () => {
    const { fs } = await fresh();
    await fs.symlink('/x', '/s');
    await expect(fs.open('/s', 'wx')).rejects.toMatchObject({ code: 'EEXIST' });
    expect((await fs.readdir('/')).sort()).toEqual(['s']);
    await fs.unmount();
  });

  it('a truncation after a REDO-logged write stays truncated across unmount and mount', async () => {
    const { device, fs } = await fresh();
    await fs.writeFile('/a', '');
    const first = await fs.open('/a', 'r+');
    await first.sync(); // the inode's first fsync: its later writes go to the REDO log
    await first.close();
    const handle = await fs.open('/a', 'r+');
    await handle.write('x', 0, 1, 0);
    await handle.close();
    await fs.truncate('/a', 0);
    await fs.unmount();
    const again = await mount(device, { clock: logicalClock() });
    expect(await again.readFile('/a', 'utf8')).toBe('');
    await again.unmount();
  });

  it('a crash never leaves a renamed directory under both names', async () => {
    const { device, fs } = await fresh({ autoflush: 1 });
    await fs.mkdir('/b');
    await fs.rename('/b', '/a');
    await fs.unmount();
    await everyCrashPoint(device, async (crashed, end) => {
      expect((await crashed.readdir('/')).length, `crash before op ${end}`).toBeLessThanOrEqual(1);
    });
  });

  it('a crash never leaves two entries of one name (rename away, then create the name again)', async () => {
    const { device, fs } = await fresh({ autoflush: 2 });
    await fs.writeFile('/a', '');
    await fs.sync();
    await fs.rename('/a', '/b');
    await fs.mkdir('/a');
    await fs.mkdir('/a/a');
    await fs.unmount();
    await everyCrashPoint(device, async (crashed, end) => {
      const names = await crashed.readdir('/');
      expect(new Set(names).size, `crash before op ${end}: ${names.join(' ')}`).toBe(names.length);
    });
  });

  it('a crash during writeFile over a file leaves the old or the new content, never zeros', async () => {
    const { device, fs } = await fresh({ truncateBatch: 1, dirtyDataLimitBytes: 16 * 1024 });
    const before = bytesOf({ length: 16_385, seed: 0 });
    const after = bytesOf({ length: 60_000, seed: 0 });
    await fs.writeFile('/a', before);
    await fs.writeFile('/a', after);
    await fs.unmount();
    await everyCrashPoint(device, async (crashed, end) => {
      const names = await crashed.readdir('/');
      if (!names.includes('a')) return;
      const data = await crashed.readFile('/a');
      const which = data.equals(before) ? 'before' : data.equals(after) ? 'after' : describeData(data);
      expect(['before', 'after', ''], `crash before op ${end}`).toContain(data.length === 0 ? '' : which);
    });
  });
});
