import { constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { posix } from 'node:path';
import type { FuseOperations, FuseStat } from '../cli/fuse/binding.js';
import { isUnavailable, loadFuse, mountOptions, unavailableMessage } from '../cli/fuse/binding.js';

/**
 * The transport ceiling for the FUSE benchmarks (bench/fuse.ts): the least a
 * filesystem can do behind the same binding and mount options as
 * `hammerstate mount`. Paths in a Map, file data in a growing Buffer, no
 * durability, no checks beyond what the calls need. Run as its own process:
 * `node --import <tsx> bench/fuse-memfs.ts <mountpoint>`; prints `mounted`
 * once ready; SIGTERM unmounts and exits.
 */

interface Node {
  ino: number;
  mode: number;
  data: Buffer;
  size: number;
  mtime: number;
  target?: string;
}

const nodes = new Map<string, Node>();
let nextIno = 1;

function makeNode(mode: number): Node {
  return { ino: nextIno++, mode, data: Buffer.alloc(0), size: 0, mtime: Date.now() };
}

function statOf(node: Node): FuseStat {
  return {
    mode: node.mode,
    uid: 0,
    gid: 0,
    size: node.size,
    nlink: 1,
    ino: node.ino,
    dev: 0,
    blksize: 128 * 1024,
    blocks: Math.ceil(node.size / 512),
    atime: node.mtime,
    mtime: node.mtime,
    ctime: node.mtime,
  };
}

/** Make room for `end` bytes, doubling (an append loop costs amortised O(1) a byte). */
function grow(node: Node, end: number): void {
  if (end <= node.data.length) return;
  const bigger = Buffer.alloc(Math.max(end, node.data.length * 2));
  node.data.copy(bigger, 0, 0, node.size);
  node.data = bigger;
}

const ENOENT = -osConstants.errno.ENOENT;
const EEXIST = -osConstants.errno.EEXIST;

const ops: Partial<FuseOperations> = {
  init: (cb) => cb(0),
  getattr: (path, cb) => {
    const node = nodes.get(path);
    if (node === undefined) cb(ENOENT);
    else cb(0, statOf(node));
  },
  readdir: (path, cb) => {
    const prefix = path === '/' ? '/' : `${path}/`;
    const names = [...nodes.keys()]
      .filter((key) => key !== path && key.startsWith(prefix) && !key.slice(prefix.length).includes('/'))
      .map((key) => key.slice(prefix.length));
    cb(0, ['.', '..', ...names]);
  },
  create: (path, mode, cb) => {
    if (nodes.has(path)) return cb(EEXIST);
    nodes.set(path, makeNode(constants.S_IFREG | (mode & 0o7777)));
    cb(0, 1);
  },
  open: (path, _flags, cb) => (nodes.has(path) ? cb(0, 1) : cb(ENOENT)),
  release: (_path, _fd, cb) => cb(0),
  fsync: (_path, _datasync, _fd, cb) => cb(0),
  read: (path, _fd, buffer, length, position, cb) => {
    const node = nodes.get(path);
    if (node === undefined) return cb(ENOENT);
    const end = Math.min(node.size, position + length);
    cb(end > position ? node.data.copy(buffer, 0, position, end) : 0);
  },
  write: (path, _fd, buffer, length, position, cb) => {
    const node = nodes.get(path);
    if (node === undefined) return cb(ENOENT);
    grow(node, position + length);
    buffer.copy(node.data, position, 0, length);
    node.size = Math.max(node.size, position + length);
    cb(length);
  },
  truncate: (path, size, cb) => {
    const node = nodes.get(path);
    if (node === undefined) return cb(ENOENT);
    grow(node, size);
    node.data.fill(0, Math.min(size, node.size));
    node.size = size;
    cb(0);
  },
  utimens: (path, _atime, mtime, cb) => {
    const node = nodes.get(path);
    if (node === undefined) return cb(ENOENT);
    node.mtime = mtime;
    cb(0);
  },
  mkdir: (path, mode, cb) => {
    if (nodes.has(path)) return cb(EEXIST);
    if (!nodes.has(posix.dirname(path))) return cb(ENOENT);
    nodes.set(path, makeNode(constants.S_IFDIR | (mode & 0o7777)));
    cb(0);
  },
  unlink: (path, cb) => cb(nodes.delete(path) ? 0 : ENOENT),
  rmdir: (path, cb) => cb(nodes.delete(path) ? 0 : ENOENT),
};

const Fuse = loadFuse();
if (isUnavailable(Fuse)) {
  process.stderr.write(`${unavailableMessage(Fuse)}\n`);
  process.exit(2);
}
const mountpoint = process.argv[2];
if (mountpoint === undefined) {
  process.stderr.write('usage: fuse-memfs.ts <mountpoint>\n');
  process.exit(2);
}
nodes.set('/', makeNode(constants.S_IFDIR | 0o755));
const fuse = new Fuse(mountpoint, ops, mountOptions('memfs', 'hammerstate-memfs'));
fuse.mount((error) => {
  if (error !== null) {
    process.stderr.write(`memfs: mount failed: ${error.message}\n`);
    process.exit(1);
  }
  process.stdout.write('mounted\n');
});
process.once('SIGTERM', () => fuse.unmount(() => process.exit(0)));
