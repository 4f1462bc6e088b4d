import { type ChildProcess, fork } from 'node:child_process';
import * as host from 'node:fs';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import type { Caller, FileHandle, FileSystem } from '../../actors/api.js';

/**
 * Differential testing against the host's own filesystem: the same random
 * calls on two sides, every answer compared (test/fuse-differential.test.ts:
 * the FUSE mount and a host directory, both through node:fs;
 * test/api-differential.test.ts: the library API and node:fs on a host
 * directory). A side answers each call with a value or `error <code>`.
 */

/** Open-file slots a sequence can hold at once. */
export const SLOTS = 3;
/** libfuse's name for an open file unlinked (docs/fuse.md, "Open files"): not compared. */
const HIDDEN = '.fuse_hidden';

export interface Call {
  op: string;
  p?: string;
  q?: string;
  data?: Uint8Array;
  at?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  slot?: number;
  flags?: string;
}

const path = fc.constantFrom(
  'a',
  'b',
  'c',
  'd0',
  'd1',
  'd0/a',
  'd0/b',
  'd1/a',
  'd0/d2',
  'd0/d2/a',
  'd0/../b',
  'a/',
  'd1/',
  'a/x',
  'd0/d2/../../c',
  'b/a',
  'c/d2',
  'd1/../d0/a',
  // One hash (CRC-31) for both: their entries share a collision span.
  'u9osz',
  'iv3rn',
  'd0/u9osz',
  'd0/iv3rn',
);
const data = fc.uint8Array({ maxLength: 3000 });
const slot = fc.nat(SLOTS - 1);

/**
 * The calls, `copyFile` among them when `withCopy`; chmod's modes within
 * `modes` and chown's groups among `groups` (the API keeps BSD's rules for
 * the set-user-ID and set-group-ID bits and for a new inode's group,
 * docs/api.md: its test leaves those out).
 */
export function calls(
  withCopy: boolean,
  modes = 0o7777,
  groups = [0, 100],
  remount = false,
  renameOp = 'rename',
): fc.Arbitrary<Call> {
  const arbitraries: fc.Arbitrary<Call>[] = [
    fc.record({ op: fc.constant('writeFile'), p: path, data }),
    fc.record({ op: fc.constant('appendFile'), p: path, data }),
    fc.record({ op: fc.constant('createExclusive'), p: path, data }),
    fc.record({ op: fc.constant('pwrite'), p: path, at: fc.nat(70_000), data }),
    fc.record({ op: fc.constant('truncate'), p: path, at: fc.nat(70_000) }),
    fc.record({ op: fc.constant('readFile'), p: path }),
    fc.record({ op: fc.constant('unlink'), p: path }),
    fc.record({ op: fc.constant('mkdir'), p: path }),
    fc.record({ op: fc.constant('rmdir'), p: path }),
    fc.record({ op: fc.constant(renameOp), p: path, q: path }),
    fc.record({ op: fc.constant('link'), p: path, q: path }),
    fc.record({ op: fc.constant('symlink'), p: path, q: path }),
    fc.record({ op: fc.constant('readlink'), p: path }),
    fc.record({ op: fc.constant('chmod'), p: path, mode: fc.nat(0o7777).map((mode) => mode & modes) }),
    fc.record({
      op: fc.constant('chown'),
      p: path,
      uid: fc.constantFrom(0, 1000, -1),
      gid: fc.constantFrom(...groups, -1),
    }),
    fc.record({ op: fc.constant('lchown'), p: path, uid: fc.constantFrom(0, 1000), gid: fc.constantFrom(...groups) }),
    fc.record({ op: fc.constant('stat'), p: path }),
    fc.record({ op: fc.constant('readdir'), p: fc.constantFrom('', 'd0', 'd1', 'd0/d2', 'a') }),
    fc.record({ op: fc.constant('utimes'), p: path, at: fc.nat(2_000_000_000), mode: fc.nat(2_000_000_000) }),
    fc.record({ op: fc.constant('lutimes'), p: path, at: fc.nat(2_000_000_000), mode: fc.nat(2_000_000_000) }),
    fc.record({ op: fc.constant('access'), p: path, mode: fc.nat(7) }),
    fc.record({ op: fc.constant('mkdirRecursive'), p: path }),
    fc.record({
      op: fc.constant('open'),
      p: path,
      slot,
      flags: fc.constantFrom('r', 'r+', 'w', 'w+', 'a', 'a+', 'wx'),
    }),
    fc.record({ op: fc.constant('fdWrite'), slot, at: fc.nat(20_000), data }),
    fc.record({ op: fc.constant('fdRead'), slot, at: fc.nat(20_000) }),
    fc.record({ op: fc.constant('fdTruncate'), slot, at: fc.nat(20_000) }),
    fc.record({ op: fc.constant('fdStat'), slot }),
    fc.record({ op: fc.constant('fdSync'), slot }),
    fc.record({ op: fc.constant('close'), slot }),
  ];
  if (withCopy) arbitraries.push(fc.record({ op: fc.constant('copyFile'), p: path, q: path }));
  if (remount) arbitraries.push(fc.record({ op: fc.constant('remount') }));
  return fc.oneof(...arbitraries);
}

/** What is compared of a stat: no times, no inode number, no directory size or link count. */
export function shape(st: {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}) {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return {
    type,
    mode: st.mode & 0o7777,
    owner: `${st.uid}:${st.gid}`,
    size: type === 'dir' ? undefined : st.size,
    links: type === 'dir' ? undefined : st.nlink,
  };
}

function entryType(entry: { isDirectory(): boolean; isSymbolicLink(): boolean }): string {
  return entry.isDirectory() ? 'dir' : entry.isSymbolicLink() ? 'symlink' : 'file';
}

/** A side of the comparison: a directory it works in and the files it holds open. */
export interface Side {
  apply(call: Call): Promise<unknown>;
  closeAll(): Promise<void> | void;
  /** Every name under the directory with its shape, a file's contents and a symlink's target. */
  tree(): Promise<Record<string, unknown>>;
}

function errorOf(error: unknown): string {
  return `error ${(error as { code?: string }).code}`;
}

const NOT_OPEN = Object.assign(new Error('nothing open in that slot'), { code: 'NOT_OPEN' });

/** node:fs on a directory (the host's, or one inside a FUSE mount). */
export class HostSide implements Side {
  private readonly open: Array<number | undefined> = new Array(SLOTS).fill(undefined);

  constructor(private readonly root: string) {
    host.mkdirSync(root, { recursive: true });
  }

  async apply(c: Call): Promise<unknown> {
    try {
      return this.run(c);
    } catch (error) {
      return errorOf(error);
    }
  }

  private fd(c: Call): number {
    const fd = this.open[c.slot as number];
    if (fd === undefined) throw NOT_OPEN;
    return fd;
  }

  private run(c: Call): unknown {
    // Joined as text: '..' and a trailing '/' reach the filesystem as written.
    const p = `${this.root}/${c.p ?? ''}`;
    const bytes = Buffer.from(c.data ?? []);
    switch (c.op) {
      case 'writeFile':
        return host.writeFileSync(p, bytes);
      case 'appendFile':
        return host.appendFileSync(p, bytes);
      case 'createExclusive':
        return host.writeFileSync(p, bytes, { flag: 'wx' });
      case 'pwrite': {
        const fd = host.openSync(p, 'r+');
        try {
          return host.writeSync(fd, bytes, 0, bytes.length, c.at);
        } finally {
          host.closeSync(fd);
        }
      }
      case 'truncate': {
        // truncate(2), which needs write permission only (node's truncate opens the file read-write).
        const fd = host.openSync(p, host.constants.O_WRONLY);
        try {
          return host.ftruncateSync(fd, c.at);
        } finally {
          host.closeSync(fd);
        }
      }
      case 'readFile':
        return host.readFileSync(p).toString('hex');
      case 'unlink':
        return host.unlinkSync(p);
      case 'mkdir':
        return host.mkdirSync(p);
      case 'rmdir':
        return host.rmdirSync(p);
      case 'rename':
        return host.renameSync(p, `${this.root}/${c.q}`);
      case 'renameOtherFile': {
        // Not one hard link onto another (docs/fuse.md, "Limits": libfuse parks an open target first).
        const q = `${this.root}/${c.q}`;
        const from = host.lstatSync(p, { throwIfNoEntry: false })?.ino;
        if (from !== undefined && from === host.lstatSync(q, { throwIfNoEntry: false })?.ino) return 'one file';
        return host.renameSync(p, q);
      }
      case 'link':
        return host.linkSync(p, `${this.root}/${c.q}`);
      case 'symlink':
        return host.symlinkSync(c.q as string, p);
      case 'readlink':
        return host.readlinkSync(p);
      case 'chmod':
        return host.chmodSync(p, c.mode as number);
      case 'chown':
        return host.chownSync(p, c.uid as number, c.gid as number);
      case 'lchown':
        return host.lchownSync(p, c.uid as number, c.gid as number);
      case 'stat': {
        let followed: unknown;
        try {
          followed = shape(host.statSync(p));
        } catch (error) {
          followed = errorOf(error);
        }
        return [shape(host.lstatSync(p)), followed];
      }
      case 'readdir':
        return host
          .readdirSync(p, { withFileTypes: true })
          .filter((entry) => !entry.name.startsWith(HIDDEN))
          .map((entry) => `${entry.name} ${entryType(entry)}`)
          .sort();
      case 'utimes': {
        host.utimesSync(p, c.at as number, c.mode as number);
        const st = host.statSync(p);
        return [st.atimeMs, st.mtimeMs];
      }
      case 'lutimes': {
        host.lutimesSync(p, c.at as number, c.mode as number);
        const st = host.lstatSync(p);
        return [st.atimeMs, st.mtimeMs];
      }
      case 'access':
        return host.accessSync(p, c.mode);
      case 'mkdirRecursive':
        // node answers the first directory it made, the API nothing: compared as done or failed.
        host.mkdirSync(`${p}/x/y`, { recursive: true });
        return undefined;
      case 'remount':
        // The other side's volume is unmounted and mounted again; here its open files close the same.
        this.closeAll();
        return 'remounted';
      case 'copyFile':
        // Not of a directory: libuv copies st_size bytes, and a directory's size is 0 on the mount (4096 on
        // ext4, which then fails the copy with EISDIR; POSIX leaves a directory's size open).
        if (host.statSync(p).isDirectory()) return 'a directory';
        return host.copyFileSync(p, `${this.root}/${c.q}`);
      case 'open':
        this.close(c.slot as number);
        this.open[c.slot as number] = host.openSync(p, c.flags as string);
        return 'opened';
      case 'fdWrite':
        return host.writeSync(this.fd(c), bytes, 0, bytes.length, c.at);
      case 'fdRead': {
        const buffer = Buffer.alloc(5000);
        return buffer.subarray(0, host.readSync(this.fd(c), buffer, 0, buffer.length, c.at as number)).toString('hex');
      }
      case 'fdTruncate':
        return host.ftruncateSync(this.fd(c), c.at);
      case 'fdStat':
        return shape(host.fstatSync(this.fd(c)));
      case 'fdSync':
        return host.fsyncSync(this.fd(c));
      case 'close':
        host.closeSync(this.fd(c));
        this.open[c.slot as number] = undefined;
        return 'closed';
    }
    throw new Error(`unknown call ${c.op}`);
  }

  private close(slot: number): void {
    const fd = this.open[slot];
    if (fd !== undefined) host.closeSync(fd);
    this.open[slot] = undefined;
  }

  closeAll(): void {
    for (let i = 0; i < SLOTS; i++) this.close(i);
  }

  async tree(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    const walk = (relative: string) => {
      const names = host
        .readdirSync(`${this.root}/${relative}`)
        .filter((name) => !name.startsWith(HIDDEN))
        .sort();
      for (const name of names) {
        const rel = relative === '' ? name : `${relative}/${name}`;
        const full = `${this.root}/${rel}`;
        const st = host.lstatSync(full);
        out[rel] = shape(st);
        if (st.isDirectory()) walk(rel);
        else if (st.isFile()) out[`${rel} data`] = host.readFileSync(full).toString('hex');
        else if (st.isSymbolicLink()) out[`${rel} ->`] = host.readlinkSync(full);
      }
    };
    walk('');
    return out;
  }
}

/** A mounted volume the API side works on; `remount` unmounts it (a full flush) and mounts it again as `fs`. */
export interface ApiVolume {
  fs: FileSystem;
  remount(): Promise<void>;
}

/**
 * node:fs as another user: the calls go to a child process forked with that
 * uid and gid (test/support/differential-child.ts); the tree is read here,
 * with this process's rights, so what the user may not read is compared too.
 */
export class UserHostSide implements Side {
  private readonly reader: HostSide;

  constructor(
    private readonly user: UserProcess,
    private readonly root: string,
  ) {
    this.reader = new HostSide(root);
  }

  apply(c: Call): Promise<unknown> {
    return this.user.ask({ root: this.root, kind: 'apply', call: c });
  }

  async closeAll(): Promise<void> {
    await this.user.ask({ root: this.root, kind: 'closeAll' });
  }

  tree(): Promise<Record<string, unknown>> {
    return this.reader.tree();
  }
}

/** A child process running as `uid`:`gid` that makes node:fs calls for UserHostSide. */
export class UserProcess {
  private next = 1;
  private readonly waiting = new Map<number, (value: unknown) => void>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: { id: number; value: unknown }) => {
      this.waiting.get(reply.id)?.(reply.value);
      this.waiting.delete(reply.id);
    });
  }

  static start(uid: number, gid: number): Promise<UserProcess> {
    const script = new URL('./differential-child.ts', import.meta.url).pathname;
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const child = fork(script, [String(uid), String(gid)], {
      execArgv: ['--import', tsx],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const user = new UserProcess(child);
    return new Promise((done, fail) => {
      user.waiting.set(0, () => done(user));
      child.once('exit', (code, signal) => fail(new Error(`the ${uid}:${gid} child ended (${code ?? signal})`)));
    });
  }

  ask(request: { root: string; kind: 'apply' | 'closeAll'; call?: Call }): Promise<unknown> {
    const id = this.next++;
    return new Promise((done) => {
      this.waiting.set(id, done);
      this.child.send({ id, ...request });
    });
  }

  stop(): void {
    this.child.kill();
  }
}

/** The library API (actors/api.ts), in a directory of a mounted volume. */
export class ApiSide implements Side {
  private readonly open: Array<FileHandle | undefined> = new Array(SLOTS).fill(undefined);

  private constructor(
    private readonly volume: ApiVolume,
    private readonly root: string,
    private readonly caller: Caller | undefined,
  ) {}

  /** Calls made as `caller` (root by default); the tree is read as root. */
  static async make(volume: ApiVolume, root: string, caller?: Caller): Promise<ApiSide> {
    await volume.fs.mkdir(root, { recursive: true });
    return new ApiSide(volume, root, caller);
  }

  private get fs(): FileSystem {
    return this.caller === undefined ? this.volume.fs : this.volume.fs.as(this.caller);
  }

  private get rootFs(): FileSystem {
    return this.volume.fs;
  }

  async apply(c: Call): Promise<unknown> {
    try {
      return await this.run(c);
    } catch (error) {
      return errorOf(error);
    }
  }

  private handle(c: Call): FileHandle {
    const handle = this.open[c.slot as number];
    if (handle === undefined) throw NOT_OPEN;
    return handle;
  }

  private async run(c: Call): Promise<unknown> {
    const fs = this.fs;
    const p = `${this.root}/${c.p ?? ''}`;
    const bytes = Buffer.from(c.data ?? []);
    switch (c.op) {
      case 'writeFile':
        return fs.writeFile(p, bytes);
      case 'appendFile':
        return fs.appendFile(p, bytes);
      case 'createExclusive': {
        const file = await fs.open(p, 'wx');
        try {
          await file.write(bytes, 0, bytes.length, 0);
        } finally {
          await file.close();
        }
        return undefined;
      }
      case 'pwrite': {
        const file = await fs.open(p, 'r+');
        try {
          return (await file.write(bytes, 0, bytes.length, c.at)).bytesWritten;
        } finally {
          await file.close();
        }
      }
      case 'truncate':
        return fs.truncate(p, c.at);
      case 'readFile':
        return (await fs.readFile(p)).toString('hex');
      case 'unlink':
        return fs.unlink(p);
      case 'mkdir':
        return fs.mkdir(p);
      case 'rmdir':
        return fs.rmdir(p);
      case 'rename':
        return fs.rename(p, `${this.root}/${c.q}`);
      case 'link':
        return fs.link(p, `${this.root}/${c.q}`);
      case 'symlink':
        return fs.symlink(c.q as string, p);
      case 'readlink':
        return fs.readlink(p);
      case 'chmod':
        return fs.chmod(p, c.mode as number);
      case 'chown':
        return fs.chown(p, c.uid as number, c.gid as number);
      case 'lchown':
        return fs.lchown(p, c.uid as number, c.gid as number);
      case 'stat': {
        let followed: unknown;
        try {
          followed = shape(await fs.stat(p));
        } catch (error) {
          followed = errorOf(error);
        }
        return [shape(await fs.lstat(p)), followed];
      }
      case 'readdir':
        return (await fs.readdir(p, { withFileTypes: true }))
          .map((entry) => `${entry.name} ${entryType(entry)}`)
          .sort();
      case 'utimes': {
        await fs.utimes(p, c.at as number, c.mode as number);
        const st = await fs.stat(p);
        return [st.atimeMs, st.mtimeMs];
      }
      case 'lutimes': {
        await fs.lutimes(p, c.at as number, c.mode as number);
        const st = await fs.lstat(p);
        return [st.atimeMs, st.mtimeMs];
      }
      case 'access':
        return fs.access(p, c.mode);
      case 'mkdirRecursive':
        return fs.mkdir(`${p}/x/y`, { recursive: true });
      case 'remount':
        await this.closeAll();
        await this.volume.remount();
        return 'remounted';
      case 'open':
        await this.close(c.slot as number);
        this.open[c.slot as number] = await fs.open(p, c.flags as 'r');
        return 'opened';
      case 'fdWrite':
        return (await this.handle(c).write(bytes, 0, bytes.length, c.at)).bytesWritten;
      case 'fdRead': {
        const buffer = Buffer.alloc(5000);
        const { bytesRead } = await this.handle(c).read(buffer, 0, buffer.length, c.at);
        return buffer.subarray(0, bytesRead).toString('hex');
      }
      case 'fdTruncate':
        return this.handle(c).truncate(c.at);
      case 'fdStat':
        return shape(await this.handle(c).stat());
      case 'fdSync':
        return this.handle(c).sync();
      case 'close':
        await this.handle(c).close();
        this.open[c.slot as number] = undefined;
        return 'closed';
    }
    throw new Error(`unknown call ${c.op}`);
  }

  private async close(slot: number): Promise<void> {
    const handle = this.open[slot];
    this.open[slot] = undefined;
    if (handle !== undefined) await handle.close();
  }

  async closeAll(): Promise<void> {
    for (let i = 0; i < SLOTS; i++) await this.close(i);
  }

  async tree(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    const walk = async (relative: string) => {
      const fs = this.rootFs;
      const names = (await fs.readdir(`${this.root}/${relative}`)).sort();
      for (const name of names) {
        const rel = relative === '' ? name : `${relative}/${name}`;
        const full = `${this.root}/${rel}`;
        const st = await fs.lstat(full);
        out[rel] = shape(st);
        if (st.isDirectory()) await walk(rel);
        else if (st.isFile()) out[`${rel} data`] = (await fs.readFile(full)).toString('hex');
        else if (st.isSymbolicLink()) out[`${rel} ->`] = await fs.readlink(full);
      }
    };
    await walk('');
    return out;
  }
}

/** Run `calls` on both sides, comparing each answer, then the trees; the first difference fails. */
export async function compareSides(
  subject: Side,
  reference: Side,
  sequence: Call[],
  expectEqual: (got: unknown, want: unknown) => void,
): Promise<void> {
  try {
    for (const [index, c] of sequence.entries()) {
      const got = { index, call: c.op, answer: await subject.apply(c) };
      expectEqual(got, { index, call: c.op, answer: await reference.apply(c) });
    }
  } finally {
    await subject.closeAll();
    await reference.closeAll();
  }
  expectEqual(await subject.tree(), await reference.tree());
}
