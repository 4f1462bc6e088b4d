import * as host from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { describeFuse, mountedVolume, stopMount } from './support/fuse.js';

/**
 * The mount against the host's own filesystem: random sequences of calls
 * (writes at offsets, appends, truncates, renames over files and
 * directories, hard and symbolic links, chmod, open files kept across
 * other calls and unlinked under them, paths through '..' and trailing
 * slashes) made with node:fs on both, every answer compared (data, error
 * codes, stat's type, mode and size, directory listings), then the whole
 * tree. fast-check shrinks a difference to the shortest sequence that
 * shows it. The mount runs with --attr-timeout 0 (docs/fuse.md, "Hard
 * links"). Not compared: times (but those utimes sets), inode numbers, a
 * directory's size and link count, and libfuse's `.fuse_hidden` names for
 * open files unlinked (docs/fuse.md, "Open files").
 *
 * HAMMERSTATE_FUSE_DIFF_RUNS (default 100) sequences of up to
 * HAMMERSTATE_FUSE_DIFF_CALLS (60) calls; HAMMERSTATE_FUSE_DIFF_SEED (or
 * 'random').
 */

const RUNS = Number(process.env.HAMMERSTATE_FUSE_DIFF_RUNS ?? 100);
const CALLS = Number(process.env.HAMMERSTATE_FUSE_DIFF_CALLS ?? 60);
const SEED = process.env.HAMMERSTATE_FUSE_DIFF_SEED ?? '20261126';
const HIDDEN = '.fuse_hidden';
/** Open-file slots a sequence can hold at once. */
const SLOTS = 3;

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
);
const data = fc.uint8Array({ maxLength: 3000 });
const slot = fc.nat(SLOTS - 1);
const call = fc.oneof(
  fc.record({ op: fc.constant('writeFile'), p: path, data }),
  fc.record({ op: fc.constant('appendFile'), p: path, data }),
  fc.record({ op: fc.constant('createExclusive'), p: path, data }),
  fc.record({ op: fc.constant('pwrite'), p: path, at: fc.nat(70_000), data }),
  fc.record({ op: fc.constant('truncate'), p: path, at: fc.nat(70_000) }),
  fc.record({ op: fc.constant('readFile'), p: path }),
  fc.record({ op: fc.constant('unlink'), p: path }),
  fc.record({ op: fc.constant('mkdir'), p: path }),
  fc.record({ op: fc.constant('rmdir'), p: path }),
  fc.record({ op: fc.constant('rename'), p: path, q: path }),
  fc.record({ op: fc.constant('link'), p: path, q: path }),
  fc.record({ op: fc.constant('symlink'), p: path, q: path }),
  fc.record({ op: fc.constant('readlink'), p: path }),
  fc.record({ op: fc.constant('chmod'), p: path, mode: fc.nat(0o7777) }),
  fc.record({ op: fc.constant('chown'), p: path, uid: fc.constantFrom(0, 1000, -1), gid: fc.constantFrom(0, 100, -1) }),
  fc.record({ op: fc.constant('lchown'), p: path, uid: fc.constantFrom(0, 1000), gid: fc.constantFrom(0, 100) }),
  fc.record({ op: fc.constant('stat'), p: path }),
  fc.record({ op: fc.constant('readdir'), p: fc.constantFrom('', 'd0', 'd1', 'd0/d2', 'a') }),
  fc.record({ op: fc.constant('utimes'), p: path, at: fc.nat(2_000_000_000), mode: fc.nat(2_000_000_000) }),
  fc.record({ op: fc.constant('copyFile'), p: path, q: path }),
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
);
type Call = {
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
};

/** What is compared of a stat. */
function shape(st: host.Stats) {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return {
    type,
    mode: st.mode & 0o7777,
    owner: `${st.uid}:${st.gid}`,
    size: type === 'dir' ? undefined : st.size,
    links: type === 'dir' ? undefined : st.nlink,
  };
}

/** One side of the comparison: a directory, and the files it has open. */
class Side {
  readonly open: Array<number | undefined> = new Array(SLOTS).fill(undefined);
  constructor(readonly root: string) {
    host.mkdirSync(root, { recursive: true });
  }

  /** The call's answer: a value, or the error's code. */
  apply(c: Call): unknown {
    try {
      return this.run(c);
    } catch (error) {
      return `error ${(error as NodeJS.ErrnoException).code}`;
    }
  }

  private fd(c: Call): number {
    const fd = this.open[c.slot as number];
    if (fd === undefined) throw Object.assign(new Error('nothing open in that slot'), { code: 'NOT_OPEN' });
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
      case 'truncate':
        return host.truncateSync(p, c.at);
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
        const followed = (() => {
          try {
            return shape(host.statSync(p));
          } catch (error) {
            return (error as NodeJS.ErrnoException).code;
          }
        })();
        return [shape(host.lstatSync(p)), followed];
      }
      case 'readdir':
        return host
          .readdirSync(p, { withFileTypes: true })
          .filter((entry) => !entry.name.startsWith(HIDDEN))
          .map((entry) => `${entry.name} ${entry.isDirectory() ? 'dir' : entry.isSymbolicLink() ? 'symlink' : 'file'}`)
          .sort();
      case 'utimes': {
        // Whole seconds (the binding passes milliseconds); what stat says right after.
        host.utimesSync(p, c.at as number, c.mode as number);
        const st = host.statSync(p);
        return [st.atimeMs, st.mtimeMs];
      }
      case 'copyFile':
        // Not of a directory: libuv copies st_size bytes, and a directory's size is 0 here (4096 on ext4,
        // which then fails the copy with EISDIR; POSIX leaves a directory's size open).
        if (host.statSync(p).isDirectory()) return 'a directory';
        return host.copyFileSync(p, `${this.root}/${c.q}`);
      case 'open': {
        this.close(c.slot as number);
        this.open[c.slot as number] = host.openSync(p, c.flags as string);
        return 'opened';
      }
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

  close(slot: number): void {
    const fd = this.open[slot];
    if (fd !== undefined) host.closeSync(fd);
    this.open[slot] = undefined;
  }

  closeAll(): void {
    for (let i = 0; i < SLOTS; i++) this.close(i);
  }

  /** Every name under the root with its stat's shape, a file's contents and a symlink's target. */
  tree(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const walk = (relative: string) => {
      const names = host
        .readdirSync(join(this.root, relative))
        .filter((name) => !name.startsWith(HIDDEN))
        .sort();
      for (const name of names) {
        const rel = relative === '' ? name : `${relative}/${name}`;
        const full = join(this.root, rel);
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

describeFuse('the mount against the host filesystem, call for call', [], () => {
  // No attribute cache: each hard link is its own kernel inode under libfuse's path API, and with the
  // default 1 s cache a link would show its sibling's old size and link count for that long.
  const state = mountedVolume(['--no-audit', '--attr-timeout', '0']);

  it(`gives the same answers and the same tree for ${RUNS} random sequences of up to ${CALLS} calls`, () => {
    let run = 0;
    fc.assert(
      fc.property(fc.array(call, { minLength: 1, maxLength: CALLS, size: 'max' }), (calls) => {
        const name = `run-${run++}`;
        const mounted = new Side(join(state.mnt, name));
        const reference = new Side(join(state.dir, 'host', name));
        try {
          for (const [index, c] of (calls as Call[]).entries()) {
            const answer = { index, call: c.op, mount: mounted.apply(c) };
            expect(answer).toEqual({ index, call: c.op, mount: reference.apply(c) });
          }
        } finally {
          mounted.closeAll();
          reference.closeAll();
        }
        expect(mounted.tree()).toEqual(reference.tree());
      }),
      { numRuns: RUNS, ...(SEED === 'random' ? {} : { seed: Number(SEED) }) },
    );
  });

  it('ends with SIGTERM, exit 0', async () => {
    expect(await stopMount(state.running)).toBe(0);
  });
});
