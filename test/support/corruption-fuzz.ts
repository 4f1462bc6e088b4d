import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { FileSystem } from '../../actors/api.js';
import { mkfs, mount } from '../../actors/index.js';
import { assert } from '../../storage/assert.js';
import { logicalClock } from '../../storage/clock.js';
import { CrashDevice, seededRandom } from '../../storage/crash-device.js';
import {
  applyDamage,
  DAMAGE_KINDS,
  type Damage,
  locateRegions,
  REGION_KINDS,
  type Region,
  type RegionKind,
} from '../../storage/damage.js';
import { type BlockDevice, MemDevice } from '../../storage/device.js';
import { FsError } from '../../storage/errors.js';
import { fsck } from '../../storage/fsck.js';

/**
 * The corruption fuzzer's cases (docs/fuzzing.md): a small known volume, one
 * seeded damage per case, then fsck, mount and a read of everything, with an
 * oracle that accepts a refusal, reported damage or EIO, and never an uncaught
 * non-FsError, wrong data, or a silent loss on a volume fsck calls clean.
 */

const MiB = 1024 * 1024;
const VOLUME = { size: 64 * MiB, undoBytes: 8 * MiB };
/** A case that takes longer than this is a finding (a near-hang; a true hang never returns). */
export const CASE_MS_MAX = 5000;
const MANY_FILES = 120;

export interface BaseImage {
  image: MemDevice;
  /** Every file: path -> SHA-256 of its contents. */
  files: Map<string, string>;
  /** The files as of each sync before the last (a header slot falls back to one): path -> SHA-256. */
  older: Map<string, string>[];
  /** Every directory, '/' included. */
  dirs: Set<string>;
  regions: Map<RegionKind, Region[]>;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Contents of `length` bytes from a seeded source (text-like runs and binary). */
function contents(next: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

/**
 * mkfs + a small tree: three directories, small files (SMALL_DATA), large
 * ones (LARGE_DATA, several 16 KiB blocks), a rewritten and an appended file
 * (history in the tree), synced and unmounted.
 */
export async function buildBaseImage(seed = 1): Promise<BaseImage> {
  const image = new MemDevice(VOLUME.size);
  await mkfs(image, { ...VOLUME, clock: logicalClock() });
  const fs = await mount(image, { clock: logicalClock(2_000_000_000_000_000), noatime: true });
  const next = seededRandom(seed);
  const files = new Map<string, string>();
  const dirs = new Set(['/', '/docs', '/docs/old', '/bin']);
  for (const dir of dirs) if (dir !== '/') await fs.mkdir(dir, { recursive: true });
  const sizes = [0, 1, 100, 700, 4096, 5000, 8192, 9000, 20_000, 70_000];
  for (const [i, size] of sizes.entries()) {
    const dir = [...dirs][i % dirs.size] ?? '/';
    const path = `${dir === '/' ? '' : dir}/f${i}`;
    const data = contents(next, size);
    await fs.writeFile(path, data);
    files.set(path, sha256(data));
  }
  // Enough small files that the tree has internal nodes and several leaves.
  await fs.mkdir('/many');
  dirs.add('/many');
  for (let i = 0; i < MANY_FILES; i++) {
    const data = contents(next, 10 + Math.floor(next() * 300));
    await fs.writeFile(`/many/m${i}`, data);
    files.set(`/many/m${i}`, sha256(data));
  }
  await fs.sync();
  const older = [new Map(files)];
  const rewritten = contents(next, 3000);
  await fs.writeFile('/docs/f1', rewritten);
  files.set('/docs/f1', sha256(rewritten));
  const tail = contents(next, 40_000);
  await fs.appendFile('/bin/f3', tail);
  files.set('/bin/f3', sha256(Buffer.concat([await fs.readFile('/bin/f3')])));
  await fs.unmount();
  return { image, files, older, dirs, regions: locateRegions(image, logicalClock()) };
}

/** Every file of `paths` read through the API: path -> SHA-256 (the oracle of a crash image). */
async function hashesOf(fs: FileSystem, paths: Iterable<string>): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const path of paths) hashes.set(path, sha256(await fs.readFile(path)));
  return hashes;
}

/**
 * The base image left mid-cycle: rewrite and append to some files, sync
 * through a crash recorder, and keep the image of a crash after the cycle's
 * UNDO reached the FIFO and before its header did, so the FIFO span has UNDO
 * that mount rolls back. Its oracle is what the undamaged image recovers to,
 * checked to be the state before the cycle.
 */
export async function buildCrashImage(base: BaseImage, seed = 2): Promise<BaseImage> {
  const recorder = new CrashDevice(base.image.clone());
  const fs = await mount(recorder, { clock: logicalClock(2_500_000_000_000_000), noatime: true });
  const next = seededRandom(seed);
  for (let i = 0; i < 20; i++) await fs.writeFile(`/many/m${i * 5}`, contents(next, 200 + i * 500));
  await fs.appendFile('/bin/f3', contents(next, 9000));
  await fs.sync();
  const points = recorder.writePoints();
  for (let p = points.length - 1; p >= 0 && p >= points.length - 200; p--) {
    const image = recorder.crashImage(points[p] ?? 0);
    const report = fsck(image, { clock: logicalClock() });
    if (report.errors > 0 || report.stats.fifoSpanUndo === 0) continue;
    const recovered = await mount(image.clone(), { clock: logicalClock(), readOnly: true });
    const files = await hashesOf(recovered, base.files.keys());
    await recovered.unmount();
    const same = [...base.files].every(([path, hash]) => files.get(path) === hash);
    assert(same, 'a crash before the header commit recovers to the state before the cycle');
    return { image, files, older: base.older, dirs: base.dirs, regions: locateRegions(image, logicalClock()) };
  }
  throw new Error('buildCrashImage: no crash point with UNDO in the FIFO span');
}

export type Outcome =
  | 'refused'
  | 'clean'
  | 'reported'
  | 'read-eio'
  | 'rolled-back'
  | 'finding:exception'
  | 'finding:wrong-data'
  | 'finding:silent-loss'
  | 'finding:slow';

export interface CaseResult {
  seed: number;
  index: number;
  damage: Damage;
  outcome: Outcome;
  fsckErrors: number;
  detail?: string;
  ms: number;
}

/** The per-case seed: cases of one campaign are independent and each replays alone. */
export function caseSeed(seed: number, index: number): number {
  return (seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
}

function pickOf<T>(next: () => number, items: readonly T[]): T {
  const item = items[Math.min(items.length - 1, Math.floor(next() * items.length))];
  if (item === undefined) throw new Error('pickOf: an empty list');
  return item;
}

/** An error the oracle accepts: an FsError with a code (which codes, the caller decides). */
function codeOf(error: unknown): string | undefined {
  return error instanceof FsError && typeof error.code === 'string' ? error.code : undefined;
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
}

interface ReadTally {
  eio: number;
  wrong: string[];
  /** Files that equal an older synced version, not the last (with the indexes of the versions in `older`). */
  olderMatches: { path: string; versions: number[] }[];
  missing: string[];
  odd: string[];
}

/** Read one file through the API and compare with the original's hash. */
async function readOne(fs: FileSystem, path: string, base: BaseImage, tally: ReadTally): Promise<void> {
  try {
    await fs.stat(path);
    const hash = sha256(await fs.readFile(path));
    if (hash === base.files.get(path)) return;
    const versions = [...base.older.keys()].filter((i) => base.older[i]?.get(path) === hash);
    if (versions.length === 0) tally.wrong.push(path);
    else tally.olderMatches.push({ path, versions });
  } catch (error) {
    const code = codeOf(error);
    if (code === undefined) throw error;
    if (code === 'EIO') tally.eio++;
    else tally.odd.push(`${path}: ${code}`);
  }
}

/** Walk every directory from '/', reading every file; unknown names are wrong data. */
async function readEverything(fs: FileSystem, base: BaseImage): Promise<ReadTally> {
  const tally: ReadTally = { eio: 0, wrong: [], olderMatches: [], missing: [], odd: [] };
  const seen = new Set<string>();
  const pending = ['/'];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    seen.add(dir);
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (error) {
      const code = codeOf(error);
      if (code === undefined) throw error;
      if (code === 'EIO') tally.eio++;
      else tally.odd.push(`${dir}: ${code}`);
      continue;
    }
    for (const name of names) {
      const path = `${dir === '/' ? '' : dir}/${name}`;
      if (base.dirs.has(path)) pending.push(path);
      else if (base.files.has(path)) {
        seen.add(path);
        await readOne(fs, path, base, tally);
      } else tally.wrong.push(`${path} (unknown name)`);
    }
  }
  for (const path of [...base.dirs, ...base.files.keys()]) if (!seen.has(path)) tally.missing.push(path);
  return tally;
}

/** fsck, mount, read: the outcome of one damaged device. */
async function judge(device: BlockDevice, base: BaseImage, readOnly: boolean) {
  const report = fsck(device, { clock: logicalClock() });
  let fs: FileSystem;
  try {
    fs = await mount(device, { clock: logicalClock(3_000_000_000_000_000), readOnly, noatime: true });
  } catch (error) {
    const code = codeOf(error);
    if (code === 'EIO' || code === 'EINVAL') return { outcome: 'refused' as const, report };
    throw error;
  }
  const tally = await readEverything(fs, base);
  try {
    await fs.unmount();
  } catch (error) {
    if (codeOf(error) !== 'EIO') throw error;
    tally.eio++;
  }
  const reported = report.errors > 0 || report.notes.length > 0;
  return { outcome: classify(tally, report.errors, reported, base), report, tally };
}

/**
 * A volume may come back as of an older commit only as a whole (a damaged
 * newest header slot: the other slot's commit) and only with the damage
 * reported; one file older than the rest is wrong data.
 */
function olderAsAWhole(tally: ReadTally, base: BaseImage, reported: boolean): boolean {
  if (!reported || tally.olderMatches.length === 0) return false;
  return [...base.older.keys()].some((version) => {
    const snapshot = base.older[version];
    if (snapshot === undefined) return false;
    return [...base.files.keys()].every(
      (path) =>
        tally.olderMatches.some((m) => m.path === path && m.versions.includes(version)) ||
        snapshot.get(path) === base.files.get(path),
    );
  });
}

function classify(tally: ReadTally, fsckErrors: number, reported: boolean, base: BaseImage): Outcome {
  if (tally.wrong.length > 0) return 'finding:wrong-data';
  if (tally.olderMatches.length > 0) return olderAsAWhole(tally, base, reported) ? 'rolled-back' : 'finding:wrong-data';
  const unexplained = tally.missing.length + tally.odd.length > 0;
  if (unexplained && fsckErrors === 0 && tally.eio === 0) return 'finding:silent-loss';
  if (fsckErrors > 0) return 'reported';
  return tally.eio > 0 ? 'read-eio' : 'clean';
}

/** One case: pick a region kind, a region and a damage kind from the case seed, apply, judge. */
export async function runCase(base: BaseImage, seed: number, index: number): Promise<CaseResult> {
  const next = seededRandom(caseSeed(seed, index));
  const kinds = REGION_KINDS.filter((kind) => (base.regions.get(kind)?.length ?? 0) > 0);
  const region = pickOf(next, base.regions.get(pickOf(next, kinds)) ?? []);
  const { device, damage } = applyDamage(base.image.clone(), pickOf(next, DAMAGE_KINDS), region, next);
  const readOnly = next() < 0.5;
  const started = performance.now();
  const result: CaseResult = { seed, index, damage, outcome: 'clean', fsckErrors: 0, ms: 0 };
  try {
    const judged = await judge(device, base, readOnly);
    result.outcome = judged.outcome;
    result.fsckErrors = judged.report.errors;
    if (judged.tally !== undefined && judged.outcome.startsWith('finding')) {
      result.detail = JSON.stringify({ readOnly, ...judged.tally, problems: judged.report.problems.slice(0, 3) });
    }
  } catch (error) {
    result.outcome = 'finding:exception';
    result.detail = `readOnly=${readOnly} ${describeError(error)}`;
  }
  result.ms = performance.now() - started;
  if (result.ms > CASE_MS_MAX && !result.outcome.startsWith('finding')) result.outcome = 'finding:slow';
  return result;
}
