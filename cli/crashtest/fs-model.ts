/**
 * An in-memory POSIX filesystem for model-based tests of the public API
 * (test/fs-model.test.ts) and of crash recovery (hammerstate crashtest). Inodes are keyed by the real filesystem's inode
 * numbers, so a crashed volume's recovered tree can be compared inode by inode
 * and adopted as the new model. Values are immutable: a state is a shallow
 * copy of the inode map, cheap to keep for every step since a durable point.
 */

export type MInode =
  | { kind: 'file'; data: Buffer; nlink: number }
  | { kind: 'symlink'; target: string; nlink: number }
  | { kind: 'dir'; entries: ReadonlyMap<string, number>; parent: number };

export type FsState = ReadonlyMap<number, MInode>;

/** An expected failure: every code POSIX (as Linux and node report it) allows here. */
export class Errno extends Error {
  constructor(readonly codes: string[]) {
    super(`expected ${codes.join(' | ')}`);
  }
}

export const errno = (...codes: string[]): Errno => new Errno(codes);

/** Where a path leads: the inode (if the last name exists), its directory and its name. */
export interface Resolved {
  ino: number | undefined;
  parent: number;
  name: string;
}

/** Symlinks followed in one walk before ELOOP (Linux MAXSYMLINKS). */
const SYMLINK_LIMIT = 40;

export class FsModel {
  inodes: Map<number, MInode>;

  constructor(
    readonly root: number,
    state?: FsState,
  ) {
    this.inodes = new Map(state ?? [[root, { kind: 'dir', entries: new Map(), parent: root }]]);
  }

  snapshot(): FsState {
    return new Map(this.inodes);
  }

  node(ino: number): MInode {
    const node = this.inodes.get(ino);
    if (node === undefined) throw new Error(`model: no inode ${ino}`);
    return node;
  }

  dir(ino: number): Extract<MInode, { kind: 'dir' }> {
    const node = this.node(ino);
    if (node.kind !== 'dir') throw new Error(`model: inode ${ino} is not a directory`);
    return node;
  }

  /**
   * path_lookup: walk from the root, following symlinks in the middle always
   * and in the last component when `follow`. With `parentOnly` a missing last
   * name resolves to its directory (create, rename and link targets).
   */
  resolve(path: string, follow: boolean, parentOnly = false): Resolved {
    let parts = path.split('/').filter((p) => p.length > 0 && p !== '.');
    let cur = this.root;
    let links = 0;
    if (parts.length === 0) return { ino: cur, parent: cur, name: '' };
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? '';
      const last = i === parts.length - 1;
      const dir = this.node(cur);
      if (dir.kind !== 'dir') throw errno('ENOTDIR');
      if (part === '..') {
        cur = dir.parent;
        if (last) return { ino: cur, parent: cur, name: '' };
        continue;
      }
      const child = dir.entries.get(part);
      if (child === undefined) {
        if (last && parentOnly) return { ino: undefined, parent: cur, name: part };
        throw errno('ENOENT');
      }
      const node = this.node(child);
      if (node.kind === 'symlink' && (!last || follow)) {
        if (++links > SYMLINK_LIMIT) throw errno('ELOOP');
        if (node.target.startsWith('/')) cur = this.root;
        parts = [...node.target.split('/').filter((p) => p.length > 0 && p !== '.'), ...parts.slice(i + 1)];
        i = -1;
        if (parts.length === 0) return { ino: cur, parent: cur, name: '' };
        continue;
      }
      if (last) return { ino: child, parent: cur, name: part };
      cur = child;
    }
    throw new Error('model: unreachable end of a path walk');
  }

  /** Every name reachable from the root (symlinks not followed), in a fixed order. */
  paths(): string[] {
    const out: string[] = [];
    const walk = (ino: number, path: string) => {
      const node = this.node(ino);
      if (node.kind !== 'dir') return;
      for (const [name, child] of [...node.entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const full = `${path}/${name}`;
        out.push(full);
        walk(child, full);
      }
    };
    walk(this.root, '');
    return out;
  }

  /** Whether directory `ino` is `ancestor` or lies below it. */
  isUnder(ino: number, ancestor: number): boolean {
    for (let cur = ino, depth = 0; depth < 10_000; depth++) {
      if (cur === ancestor) return true;
      if (cur === this.root) return false;
      cur = this.dir(cur).parent;
    }
    throw new Error('model: directory parents loop');
  }

  // --- changes (the caller checked the preconditions) --------------------

  setEntry(dir: number, name: string, ino: number | undefined): void {
    const node = this.dir(dir);
    const entries = new Map(node.entries);
    if (ino === undefined) entries.delete(name);
    else entries.set(name, ino);
    this.inodes.set(dir, { ...node, entries });
  }

  /** Add a new inode under `dir` as `name`. */
  create(dir: number, name: string, ino: number, node: MInode): void {
    if (this.inodes.has(ino)) throw new Error(`model: the real filesystem reused live inode ${ino}`);
    this.inodes.set(ino, node);
    this.setEntry(dir, name, ino);
  }

  /** Change a link count; a file or symlink with no links left is gone (tests hold no handles across commands). */
  relink(ino: number, delta: number): void {
    const node = this.node(ino);
    if (node.kind === 'dir') {
      if (delta < 0) this.inodes.delete(ino);
      return;
    }
    const nlink = node.nlink + delta;
    if (nlink === 0) this.inodes.delete(ino);
    else this.inodes.set(ino, { ...node, nlink });
  }

  /** Remove entry `name` of `dir` (unlink, rmdir, a replaced rename target). */
  removeEntry(dir: number, name: string): void {
    const ino = this.dir(dir).entries.get(name);
    if (ino === undefined) throw new Error(`model: no entry ${name} in ${dir}`);
    this.setEntry(dir, name, undefined);
    this.relink(ino, -1);
  }

  setData(ino: number, data: Buffer): void {
    const node = this.node(ino);
    if (node.kind !== 'file') throw new Error(`model: inode ${ino} is not a file`);
    this.inodes.set(ino, { ...node, data });
  }

  data(ino: number): Buffer {
    const node = this.node(ino);
    if (node.kind !== 'file') throw new Error(`model: inode ${ino} is not a file`);
    return node.data;
  }
}

/** `data` with `bytes` written at `offset` (a hole before it reads as zeros). */
export function writeAt(data: Buffer, offset: number, bytes: Buffer): Buffer {
  if (bytes.length === 0) return data;
  const out = Buffer.alloc(Math.max(data.length, offset + bytes.length));
  data.copy(out);
  bytes.copy(out, offset);
  return out;
}

export function truncateTo(data: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  data.copy(out, 0, 0, Math.min(length, data.length));
  return out;
}

/** An inode's value for comparisons: its type and content (entries are compared one by one). */
export function inodeValue(node: MInode | undefined): string {
  if (node === undefined) return 'absent';
  if (node.kind === 'dir') return 'dir';
  if (node.kind === 'symlink') return `symlink -> ${node.target}`;
  return `file ${node.data.length} bytes ${describeData(node.data)}`;
}

/** A short, exact description of file content (runs of equal bytes), for messages and set membership. */
export function describeData(data: Buffer): string {
  if (data.length <= 64) return data.toString('hex');
  const runs: string[] = [];
  let start = 0;
  for (let i = 1; i <= data.length; i++) {
    if (i === data.length || data[i] !== data[start]) {
      runs.push(`${(data[start] ?? 0).toString(16)}x${i - start}`);
      start = i;
    }
  }
  return runs.length <= 16 ? runs.join(',') : `${runs.slice(0, 16).join(',')},... sha ${digest(data)}`;
}

function digest(data: Buffer): string {
  // FNV-1a over the whole content: exact enough to tell versions apart in a message.
  let h = 0x811c9dc5;
  for (const byte of data) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h.toString(16);
}

/** Every difference between two states (inodes reachable from `root`, entry by entry). */
export function diffStates(expected: FsState, actual: FsState, root: number): string[] {
  const out: string[] = [];
  const walk = (ino: number, path: string, depth: number) => {
    const want = expected.get(ino);
    const got = actual.get(ino);
    if (inodeValue(want) !== inodeValue(got)) {
      out.push(`${path} (ino ${ino}): expected ${inodeValue(want)}, got ${inodeValue(got)}`);
      return;
    }
    if (want?.kind === 'dir' && got?.kind === 'dir' && depth < 64) {
      const names = new Set([...want.entries.keys(), ...got.entries.keys()]);
      for (const name of [...names].sort()) {
        const w = want.entries.get(name);
        const g = got.entries.get(name);
        const child = path === '/' ? `/${name}` : `${path}/${name}`;
        if (w !== g)
          out.push(`${child}: expected ${w === undefined ? 'no entry' : `ino ${w}`}, got ${g ?? 'no entry'}`);
        else if (w !== undefined) walk(w, child, depth + 1);
      }
    }
    if (want !== undefined && got !== undefined && want.kind !== 'dir' && got.kind !== 'dir') {
      if (want.nlink !== got.nlink) out.push(`${path} (ino ${ino}): expected nlink ${want.nlink}, got ${got.nlink}`);
    }
  };
  walk(root, '/', 0);
  return out;
}

/**
 * Whether `data` could be unsynced writes partly replayed: its length lies
 * within the versions' lengths and every byte is that byte of some version
 * (or a zero where some version ended before it: a gap a later write or
 * extension left). The crash model promises no more for writes nobody
 * waited for: REDO logs a write in several records, and a crash keeps a prefix.
 */
export function mixedFrom(data: Buffer, versions: Buffer[]): boolean {
  if (versions.length === 0) return false;
  const lengths = versions.map((v) => v.length);
  if (data.length < Math.min(...lengths) || data.length > Math.max(...lengths)) return false;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (!versions.some((v) => (i < v.length ? v[i] === byte : byte === 0))) return false;
  }
  return true;
}

/** One step of history since the last durable point: the state after it and where its device ops began. */
export interface Step {
  state: FsState;
  /** device.ops.length when the step's call began (for the durable base: when it became durable). */
  opsStart: number;
  /** The PFSs after it, as the crash test compares them (log-model.ts, describePfs); undefined: not tracked. */
  pfs?: string;
}

/** The last step that issued a device op before op `end` (0: none since the durable base). */
export function lastStepBefore(steps: ReadonlyArray<Step>, end: number): number {
  let last = 0;
  for (let i = 1; i < steps.length; i++) if ((steps[i] as Step).opsStart < end) last = i;
  return last;
}

/**
 * The crash contract, checked inode by inode and entry by entry (HAMMER
 * commits whole inodes and whole directory entries, in flush groups that may
 * not follow call order): a crash at device op `end` may leave any value an
 * inode or an entry had from its durable point (the base, or its last fsync
 * that completed before `end`) up to the last step that issued a write before
 * `end` (or that fsync's step, if later: it returned, so it happened); a file's content may also be a byte-wise mix of those values
 * (mixedFrom), listed in `torn`. Nothing else may appear, and a state with no
 * change since the base is recovered exactly.
 */
export function crashViolations(
  steps: Step[],
  fsyncs: ReadonlyMap<number, ReadonlyArray<{ step: number; opsEnd: number }>>,
  end: number,
  recovered: FsState,
  root: number,
  torn: string[] = [],
): string[] {
  const last = lastStepBefore(steps, end);
  const window = steps.slice(0, last + 1).map((s) => s.state);
  const out: string[] = [];
  const seen = new Set<number>();
  const walk = (ino: number, path: string, depth: number) => {
    if (seen.has(ino) || depth > 64) return;
    seen.add(ino);
    const node = recovered.get(ino);
    let floor = 0;
    for (const fsync of fsyncs.get(ino) ?? []) if (fsync.opsEnd <= end) floor = Math.max(floor, fsync.step);
    // An fsync that returned before the crash happened, with its step, even one that issued no
    // device op (an fsync that wrote nothing must have had nothing to write: its state is durable).
    const top = Math.max(last, floor);
    const allowed = new Set<string>();
    const versions: Buffer[] = [];
    for (const state of steps.slice(floor, top + 1).map((s) => s.state)) {
      const then = state.get(ino);
      if (then !== undefined) allowed.add(inodeValue(then));
      if (then?.kind === 'file') versions.push(then.data);
    }
    if (!allowed.has(inodeValue(node)) && node?.kind === 'file' && mixedFrom(node.data, versions)) {
      torn.push(`${path} (ino ${ino})`);
    } else if (!allowed.has(inodeValue(node))) {
      const why = floor > 0 ? ` (fsynced at step ${floor})` : '';
      out.push(
        `${path} (ino ${ino}): recovered ${inodeValue(node)}; allowed${why}: ${[...allowed].join(' | ') || 'nothing'}`,
      );
      return;
    }
    if (node?.kind !== 'dir') return;
    const names = new Set(node.entries.keys());
    for (const state of window) {
      const then = state.get(ino);
      if (then?.kind === 'dir') for (const name of then.entries.keys()) names.add(name);
    }
    for (const name of [...names].sort()) {
      const child = path === '/' ? `/${name}` : `${path}/${name}`;
      const got = node.entries.get(name);
      const options = new Set<number | undefined>();
      for (const state of window) {
        const then = state.get(ino);
        if (then?.kind === 'dir') options.add(then.entries.get(name));
      }
      if (!options.has(got)) {
        const list = [...options].map((o) => (o === undefined ? 'no entry' : `ino ${o}`)).join(' | ');
        out.push(`${child}: recovered ${got === undefined ? 'no entry' : `ino ${got}`}; allowed: ${list}`);
      } else if (got !== undefined) {
        walk(got, child, depth + 1);
      }
    }
  };
  walk(root, '/', 0);
  return out;
}
