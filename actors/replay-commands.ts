import { FsError } from '../storage/errors.js';
import type { Caller, FileHandle, FileSystem, OpenFlags } from './api.js';

/**
 * Re-execution of one logged command on a filesystem: the API call the
 * command event describes, with the arguments the front end logged
 * (actors/fs*.ts, file-handle.ts). Handles are found by the fd the log
 * names; the replay's handles get the same fds, since fds are handed out in
 * command order.
 */
export interface CommandTarget {
  fs: FileSystem;
  handles: Map<number, FileHandle>;
}

type Args = Record<string, unknown>;

function text(args: Args, name: string): string {
  const value = args[name];
  if (typeof value !== 'string') throw new FsError('EINVAL', `logged command lacks the string argument '${name}'`);
  return value;
}

function optionalNumber(args: Args, name: string): number | undefined {
  const value = args[name];
  return typeof value === 'number' ? value : undefined;
}

function number(args: Args, name: string): number {
  const value = args[name];
  if (typeof value !== 'number') throw new FsError('EINVAL', `logged command lacks the number argument '${name}'`);
  return value;
}

/** Logged write data: bytes, or null for what was neither string nor bytes (the call fails with EINVAL again). */
function data(args: Args): Uint8Array | string {
  const value = args.data;
  if (value instanceof Uint8Array) return value;
  if (value === null) return null as unknown as string;
  throw new FsError('EINVAL', 'logged write lacks its data (a log kept at the meta level cannot be replayed)');
}

function handle(target: CommandTarget, args: Args): FileHandle {
  const fd = number(args, 'fd');
  const found = target.handles.get(fd);
  if (found === undefined) throw new FsError('EBADF', `replay: no handle with fd ${fd} is open`);
  return found;
}

type Executor = (target: CommandTarget, args: Args) => Promise<unknown>;

const handleCommands: Record<string, Executor> = {
  read: (t, a) => {
    const size = number(a, 'size');
    const position = a.position === null ? null : optionalNumber(a, 'position');
    return handle(t, a).read(new Uint8Array(size), optionalNumber(a, 'offset'), optionalNumber(a, 'length'), position);
  },
  write: (t, a) =>
    handle(t, a).write(
      data(a),
      optionalNumber(a, 'offset'),
      optionalNumber(a, 'length'),
      a.position === null ? null : optionalNumber(a, 'position'),
    ),
  readFile: (t, a) => handle(t, a).readFile(),
  ftruncate: (t, a) => handle(t, a).truncate(optionalNumber(a, 'length')),
  fsync: (t, a) => handle(t, a).sync(),
  fstat: (t, a) => handle(t, a).stat(),
  close: (t, a) => handle(t, a).close(),
};

const pathCommands: Record<string, Executor> = {
  mkdir: (t, a) => {
    // The options as the caller gave them (mkdir logs them spread: an option left out stays out).
    const options: { recursive?: boolean; mode?: number } = {};
    if (typeof a.recursive === 'boolean') options.recursive = a.recursive;
    if (typeof a.mode === 'number') options.mode = a.mode;
    return t.fs.mkdir(text(a, 'path'), options);
  },
  rmdir: (t, a) => t.fs.rmdir(text(a, 'path')),
  readdir: (t, a) => t.fs.readdir(text(a, 'path')),
  stat: (t, a) => t.fs.stat(text(a, 'path')),
  lstat: (t, a) => t.fs.lstat(text(a, 'path')),
  access: (t, a) => t.fs.access(text(a, 'path'), optionalNumber(a, 'mode')),
  open: async (t, a) => {
    const opened = await t.fs.open(text(a, 'path'), a.flags as OpenFlags, optionalNumber(a, 'mode'));
    t.handles.set(opened.fd, opened);
    return opened;
  },
  readFile: (t, a) => t.fs.readFile(text(a, 'path')),
  writeFile: (t, a) => t.fs.writeFile(text(a, 'path'), data(a), { mode: optionalNumber(a, 'mode') }),
  appendFile: (t, a) => t.fs.appendFile(text(a, 'path'), data(a)),
  truncate: (t, a) => t.fs.truncate(text(a, 'path'), optionalNumber(a, 'length')),
  statfs: (t, a) => t.fs.statfs(text(a, 'path')),
  sync: (t) => t.fs.sync(),
  snapshot: (t, a) => t.fs.snapshot(typeof a.label === 'string' ? a.label : undefined),
  snapshots: (t) => t.fs.snapshots(),
  history: (t, a) => t.fs.history(text(a, 'path')),
  prune: (t, a) => t.fs.prune(number(a, 'before')),
  reblock: (t, a) => t.fs.reblock(number(a, 'fillPercent')),
  'pfs.create': (t, a) => t.fs.pfs.create(text(a, 'label')),
  'pfs.list': (t) => t.fs.pfs.list(),
  'pfs.destroy': (t, a) => t.fs.pfs.destroy(number(a, 'id')),
  unlink: (t, a) => t.fs.unlink(text(a, 'path')),
  link: (t, a) => t.fs.link(text(a, 'existing'), text(a, 'path')),
  symlink: (t, a) => t.fs.symlink(text(a, 'target'), text(a, 'path')),
  readlink: (t, a) => t.fs.readlink(text(a, 'path')),
  rename: (t, a) => t.fs.rename(text(a, 'path'), text(a, 'to')),
  utimes: (t, a) => t.fs.utimes(text(a, 'path'), a.atime as number, a.mtime as number),
  lutimes: (t, a) => t.fs.lutimes(text(a, 'path'), a.atime as number, a.mtime as number),
  chmod: (t, a) => t.fs.chmod(text(a, 'path'), number(a, 'mode')),
  chown: (t, a) => t.fs.chown(text(a, 'path'), number(a, 'uid'), number(a, 'gid')),
  lchown: (t, a) => t.fs.lchown(text(a, 'path'), number(a, 'uid'), number(a, 'gid')),
  chflags: (t, a) => t.fs.chflags(text(a, 'path'), number(a, 'flags')),
  remount: (t, a) => t.fs.remount({ readOnly: a.readOnly as boolean }),
  unmount: (t) => t.fs.unmount(),
};

/** The command types replay knows how to re-execute on a mounted filesystem. */
export function isFsCommand(type: string, args: Args): boolean {
  return type in pathCommands || ('fd' in args && type in handleCommands);
}

/**
 * Start the call a logged command describes. The promise settles as the call
 * does (failures are part of the run: an error the original call met, the
 * replay meets too, and the events show it).
 */
export function executeCommand(target: CommandTarget, type: string, args: Args): Promise<unknown> {
  const executor = 'fd' in args ? handleCommands[type] : pathCommands[type];
  if (executor === undefined) {
    return Promise.reject(new FsError('EINVAL', `replay does not know the command '${type}'`));
  }
  try {
    // A call made through fs.as(caller) logged its caller: it is made through the same view again.
    const as = args.caller === undefined ? target : { ...target, fs: target.fs.as(args.caller as Caller) };
    return executor(as, args);
  } catch (error) {
    return Promise.reject(error);
  }
}
