import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { PATCH_MARKER } from './binding-patches.js';

/**
 * The FUSE binding (fuse-native 2.2.6, an optional dependency: docs/fuse.md
 * says why this one) and what it needs from the machine. Nothing else in the
 * project loads it: only `hammerstate mount`, the FUSE benchmarks and the
 * FUSE tests.
 */

/** The callback every operation answers through: 0 or a value on success, a negative errno on failure. */
export type Reply<T = void> = T extends void ? (code: number) => void : (code: number, value?: T) => void;

/**
 * The stat fields fuse-native copies into `struct stat` (times as
 * milliseconds; every field 32-bit but size/blocks). With the `wide-ino`
 * patch, `dev` carries the high half of the inode number.
 */
export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  dev: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** The operations hammerstate implements (fuse-native's names and argument order). */
export interface FuseOperations {
  init(cb: Reply): void;
  statfs(path: string, cb: Reply<FuseStatfs>): void;
  getattr(path: string, cb: Reply<FuseStat>): void;
  /** getattr of an open file, by its handle (fstat; libfuse's own getattr after create). */
  fgetattr(path: string, fd: number, cb: Reply<FuseStat>): void;
  access(path: string, mode: number, cb: Reply): void;
  readdir(path: string, cb: (code: number, names?: string[], stats?: FuseStat[]) => void): void;
  opendir(path: string, flags: number, cb: Reply<number>): void;
  releasedir(path: string, fd: number, cb: Reply): void;
  fsyncdir(path: string, datasync: boolean, fd: number, cb: Reply): void;
  open(path: string, flags: number, cb: Reply<number>): void;
  create(path: string, mode: number, cb: Reply<number>): void;
  read(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
  write(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
  fsync(path: string, datasync: boolean, fd: number, cb: Reply): void;
  release(path: string, fd: number, cb: Reply): void;
  truncate(path: string, size: number, cb: Reply): void;
  ftruncate(path: string, fd: number, size: number, cb: Reply): void;
  utimens(path: string, atime: number, mtime: number, cb: Reply): void;
  chmod(path: string, mode: number, cb: Reply): void;
  chown(path: string, uid: number, gid: number, cb: Reply): void;
  readlink(path: string, cb: Reply<string>): void;
  symlink(target: string, path: string, cb: Reply): void;
  link(existing: string, path: string, cb: Reply): void;
  unlink(path: string, cb: Reply): void;
  rename(from: string, to: string, cb: Reply): void;
  mkdir(path: string, mode: number, cb: Reply): void;
  rmdir(path: string, cb: Reply): void;
  mknod(path: string, mode: number, dev: number, cb: Reply): void;
}

export interface FuseMountOptions {
  /** Spliced into `-o fsname=…` as is: fuse-native has no option of its own for use_ino, big_writes, max_write. */
  fsname: string;
  subtype?: string;
  defaultPermissions?: boolean;
  /** Other users may use the mount too (as root, or with user_allow_other in /etc/fuse.conf). */
  allowOther?: boolean;
  /** Per-operation answer deadline in ms, or false for none. */
  timeout?: number | false;
  force?: boolean;
}

export interface FuseInstance {
  mount(cb: (error: Error | null) => void): void;
  unmount(cb: (error: Error | null) => void): void;
  /** With the `caller` patches: uid, gid and pid of the request an operation is being called for. */
  readonly caller?: Uint32Array;
}

export interface FuseModule {
  new (mountpoint: string, ops: Partial<FuseOperations>, options: FuseMountOptions): FuseInstance;
  /** Negative errnos by name (Fuse.ENOENT === -2). */
  readonly [code: string]: unknown;
}

/** What is missing for a FUSE mount, each with what to install. */
export interface FuseUnavailable {
  missing: string[];
  install: string[];
}

/**
 * The mount options every hammerstate FUSE mount uses (the benchmark's
 * in-memory filesystem too, so both see the same kernel behaviour). fuse-native
 * has no names for use_ino (our obj_ids as st_ino), big_writes and
 * max_write (128 KiB writes instead of 4 KiB pieces): they are spliced in
 * after fsname, which it copies into `-o` unchecked. No per-operation
 * deadline: a late answer after a time-out would tell the kernel a write
 * failed that in fact happened. `attrTimeout` (seconds) replaces libfuse's
 * 1 s attribute cache (docs/fuse.md, "Hard links").
 */
export function mountOptions(
  label: string,
  subtype: string,
  allowOther = false,
  attrTimeout?: number,
): FuseMountOptions {
  return {
    allowOther,
    fsname: `${fsnameOf(label)},use_ino,big_writes,max_write=131072${attrTimeout === undefined ? '' : `,attr_timeout=${attrTimeout}`}`,
    subtype,
    defaultPermissions: true,
    timeout: false,
  };
}

/** The mount table's source field for `label` (a volume's absolute path): what would break the option string replaced. */
export function fsnameOf(label: string): string {
  return label.replace(/[^A-Za-z0-9._/+-]/g, '_');
}

const DEBIAN_PACKAGES = 'apt-get install -y libfuse2 fuse3';

/** fusermount (libfuse2's helper, which Debian's fuse3 package also provides as fusermount3): on PATH? */
function fusermountPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    for (const name of ['fusermount', 'fusermount3']) {
      const path = join(dir, name);
      try {
        accessSync(path, constants.X_OK);
        return path;
      } catch {
        // not in this directory
      }
    }
  }
  return undefined;
}

let cached: FuseModule | FuseUnavailable | undefined;

/**
 * Load the binding and check the machine: /dev/fuse readable and writable,
 * fusermount on PATH, fuse-native installed and its native part loadable
 * (it links libfuse.so.2). Answers the module, or what is missing and the
 * commands that install it. Never throws.
 */
export function loadFuse(): FuseModule | FuseUnavailable {
  if (cached !== undefined) return cached;
  const missing: string[] = [];
  const install = new Set<string>();
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch (error) {
    missing.push(`/dev/fuse (${(error as NodeJS.ErrnoException).code ?? 'unusable'}: the kernel's FUSE device)`);
    install.add('modprobe fuse (in a container: run it with --device /dev/fuse --cap-add SYS_ADMIN)');
  }
  if (fusermountPath() === undefined) {
    missing.push('fusermount (not on PATH)');
    install.add(DEBIAN_PACKAGES);
  }
  let module: FuseModule | undefined;
  try {
    module = createRequire(import.meta.url)('fuse-native') as FuseModule;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    if (/libfuse/.test(message ?? '')) {
      missing.push(`libfuse.so.2 (${message})`);
      install.add(DEBIAN_PACKAGES);
    } else {
      missing.push(`the fuse-native package (${message})`);
      install.add('npm install fuse-native@2.2.6 (an optional dependency of hammerstate)');
    }
  }
  cached = module !== undefined && missing.length === 0 ? module : { missing, install: [...install] };
  return cached;
}

/**
 * The patches the loaded binary was built with (binding-patches.ts): those
 * the postinstall rebuild listed beside build/Release/fuse.node, which
 * node-gyp-build loads before the prebuilt one. None when the rebuild did
 * not happen or failed (the prebuilt binary is loaded then).
 */
export function bindingPatches(): ReadonlySet<string> {
  try {
    const dir = dirname(createRequire(import.meta.url).resolve('fuse-native/package.json'));
    const release = join(dir, 'build', 'Release');
    if (!existsSync(join(release, 'fuse.node'))) return new Set();
    const marker = JSON.parse(readFileSync(join(release, PATCH_MARKER), 'utf8')) as { patches?: unknown };
    return new Set(Array.isArray(marker.patches) ? marker.patches.filter((p) => typeof p === 'string') : []);
  } catch {
    return new Set();
  }
}

export function isUnavailable(loaded: FuseModule | FuseUnavailable): loaded is FuseUnavailable {
  return typeof loaded !== 'function';
}

/** The text the mount command (exit 2) and the skipped tests print. */
export function unavailableMessage(unavailable: FuseUnavailable): string {
  return `FUSE is not available here: missing ${unavailable.missing.join('; ')}. Install: ${unavailable.install.join(' && ')}`;
}
