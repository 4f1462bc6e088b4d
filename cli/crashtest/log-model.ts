import type { BusEvent, FileSystem } from '../../actors/index.js';
import { type CommandTarget, executeCommand } from '../../actors/replay-commands.js';
import { Errno, type FsModel, type FsState, truncateTo, writeAt } from './fs-model.js';
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
} from './model-plans.js';

/**
 * The expected states of a crash test, derived from the event log: every
 * logged command is made again, through replay's own executor
 * (actors/replay-commands.ts), on an in-memory POSIX model instead of a
 * volume. The model decides each call's outcome itself (model-plans.ts);
 * the only thing it takes from the system is the inode number a creation
 * got, from the `CREATED` fact the command caused. So the oracle is
 * independent of the tree the system reads back: a bug that made the live
 * tree and the recovered one wrong alike shows as a difference between the
 * live tree and this model.
 */

/** Commands that change nothing the model holds (reads, and what only moves data to disk). */
const NO_CHANGE = new Set([
  'readdir',
  'stat',
  'lstat',
  'access',
  'readlink',
  'readFile',
  'statfs',
  'snapshots',
  'history',
  'pfs.list',
  'read',
  'fstat',
  'fsync',
  'sync',
  'mount',
  'unmount',
  'scheduler.fire',
]);

/** A problem of the derivation itself (the log lacks what a call needs): never a POSIX outcome. */
export class LogModelError extends Error {}

/** A pseudo-filesystem as `pfs.list()` shows it. */
export interface ModelPfs {
  id: number;
  label: string;
}

/** The PFS list in one line, as states compare it: `1:crashtest 2:crashtest` (PFS 0 left out). */
export function describePfs(list: ReadonlyArray<ModelPfs>): string {
  return list
    .filter((p) => p.id !== 0)
    .map((p) => `${p.id}:${p.label}`)
    .join(' ');
}

/** `inode:<loc>:<objid>:live` → objid (the inode number stat gives). */
function createdIno(fact: BusEvent): number | undefined {
  if (fact.kind !== 'fact' || fact.type !== 'CREATED') return undefined;
  const [kind, , objId, asof] = fact.actor.split(':');
  if (kind !== 'inode' || asof !== 'live' || objId === undefined) return undefined;
  return Number(objId);
}

function bytesOf(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
}

/** An open file of the model: its inode, whether it appends, and its position. */
class ModelHandle {
  position = 0;

  constructor(
    readonly fd: number,
    private readonly log: LogModel,
    readonly ino: number,
    private readonly append: boolean,
  ) {}

  async write(
    data: Uint8Array | string,
    offset = 0,
    length?: number,
    position: number | null = null,
  ): Promise<{ bytesWritten: number }> {
    const bytes = bytesOf(data);
    const size = length ?? bytes.length - offset;
    const m = this.log.model;
    const at = this.append ? m.data(this.ino).length : (position ?? this.position);
    m.setData(this.ino, writeAt(m.data(this.ino), at, bytes.subarray(offset, offset + size)));
    if (position === null || this.append) this.position = at + size;
    return { bytesWritten: size };
  }

  async truncate(length = 0): Promise<void> {
    this.log.model.setData(this.ino, truncateTo(this.log.model.data(this.ino), length));
  }

  async close(): Promise<void> {}
}

export class LogModel {
  /** The PFSs created, PFS 0 first. */
  readonly pfs: ModelPfs[] = [{ id: 0, label: 'root' }];
  /** Every command applied: its type and outcome (`ok` or the codes the model allows). */
  readonly outcomes: Array<{ seq: number; type: string; outcome: string }> = [];
  private readonly target: CommandTarget;
  private nextFd = 3;
  /** The inode numbers the current command created, in order (its CREATED facts). */
  private created: number[] = [];
  private pending: { command: BusEvent; facts: BusEvent[] } | undefined;

  constructor(readonly model: FsModel) {
    const fs = this.modelFs() as unknown as FileSystem;
    this.target = { fs, handles: new Map() };
  }

  state(): FsState {
    return this.model.snapshot();
  }

  /** Take the next event of the bus; commands are applied once their facts are in (settle). */
  async push(event: BusEvent): Promise<void> {
    if (event.kind === 'command') {
      await this.settle();
      this.pending = { command: event, facts: [] };
    } else {
      this.pending?.facts.push(event);
    }
  }

  /** Apply the command still waiting for facts (its call has returned, so all of them are in). */
  async settle(): Promise<void> {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    await this.apply(pending.command, pending.facts);
  }

  private async apply(command: BusEvent, facts: BusEvent[]): Promise<void> {
    const { type, seq } = command;
    if (NO_CHANGE.has(type)) return;
    this.created = facts.map(createdIno).filter((ino): ino is number => ino !== undefined);
    let outcome = 'ok';
    try {
      await executeCommand(this.target, type, command.payload ?? {});
    } catch (error) {
      if (!(error instanceof Errno)) {
        const why = error instanceof Error ? error.message : String(error);
        throw new LogModelError(`event ${seq} (${type} ${JSON.stringify(command.payload)}): ${why}`);
      }
      outcome = error.codes.join('|');
    }
    if (this.created.length > 0)
      throw new LogModelError(
        `event ${seq} (${type}): the log shows inode ${this.created.join(', ')} created, the model created none`,
      );
    this.outcomes.push({ seq, type, outcome });
  }

  /** The inode number the system gave the file the model is creating now. */
  private take(path: string): number {
    const ino = this.created.shift();
    if (ino === undefined) throw new LogModelError(`the model creates ${path}, but the log shows no CREATED fact`);
    return ino;
  }

  /** The calls the crash test's workloads make, on the model; anything else is a LogModelError. */
  private modelFs() {
    const m = this.model;
    const unknown = (what: string) => () => {
      throw new LogModelError(`the log model does not model ${what}`);
    };
    return {
      mkdir: async (path: string, options: { recursive?: boolean } = {}) => {
        if (options.recursive) unknown('mkdir -p')();
        const r = planNewEntry(m, path);
        m.create(r.parent, r.name, this.take(path), { kind: 'dir', entries: new Map(), parent: r.parent });
      },
      rmdir: async (path: string) => {
        const r = planRmdir(m, path);
        m.removeEntry(r.parent, r.name);
      },
      unlink: async (path: string) => {
        const r = planUnlink(m, path);
        m.removeEntry(r.parent, r.name);
      },
      writeFile: async (path: string, data: Uint8Array | string) => this.writeFile(path, bytesOf(data), false),
      appendFile: async (path: string, data: Uint8Array | string) => this.writeFile(path, bytesOf(data), true),
      truncate: async (path: string, length = 0) => {
        const ino = planTruncate(m, path);
        m.setData(ino, truncateTo(m.data(ino), length));
      },
      link: async (existing: string, path: string) => applyLink(m, planLink(m, existing, path)),
      symlink: async (target: string, path: string) => {
        const r = planNewEntry(m, path);
        m.create(r.parent, r.name, this.take(path), { kind: 'symlink', target, nlink: 1 });
      },
      rename: async (from: string, to: string) => applyRename(m, planRename(m, from, to)),
      open: async (path: string, flags: string) => this.open(path, flags),
      snapshot: async () => 0,
      pfs: {
        create: async (label: string) => {
          const id = Math.max(...this.pfs.map((p) => p.id)) + 1;
          this.pfs.push({ id, label });
          return { id, label };
        },
        destroy: unknown('pfs.destroy'),
      },
      as: unknown('fs.as'),
      utimes: unknown('utimes'),
      chmod: unknown('chmod'),
      chown: unknown('chown'),
      prune: unknown('prune'),
      reblock: unknown('reblock'),
      remount: unknown('remount'),
    };
  }

  private async writeFile(path: string, bytes: Buffer, append: boolean): Promise<void> {
    const m = this.model;
    const r = planWriteFile(m, path);
    if (r.ino === undefined) m.create(r.parent, r.name, this.take(path), { kind: 'file', data: bytes, nlink: 1 });
    else m.setData(r.ino, append ? Buffer.concat([m.data(r.ino), bytes]) : bytes);
  }

  private async open(path: string, flags: string): Promise<ModelHandle> {
    const m = this.model;
    const r = planOpen(m, path, flags);
    let ino = r.ino;
    if (ino === undefined) {
      ino = this.take(path);
      m.create(r.parent, r.name, ino, { kind: 'file', data: Buffer.alloc(0), nlink: 1 });
    } else if (flags.startsWith('w') && m.node(ino).kind === 'file') {
      m.setData(ino, Buffer.alloc(0));
    }
    return new ModelHandle(this.nextFd++, this, ino, flags.startsWith('a'));
  }
}
