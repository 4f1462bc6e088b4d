import { VirtualTimeScheduler } from 'rxjs';
import type { FileSystem } from '../../../actors/api.js';
import type { Inode } from '../../../actors/inode.js';
import { dataLocalization, rangeHi, rangeLo } from '../../../actors/keys.js';
import type { Mount } from '../../../actors/mount.js';
import type { InodeEvent } from '../../../machines/inode.js';
import { InodeFlag } from '../../../machines/inode-flags.js';
import type { MemDevice } from '../../../storage/device.js';
import type { InodeData } from '../../../storage/format/records.js';
import { RecType, TID_MAX } from '../../../storage/layout.js';
import { internals, memVolume, mountMem } from '../fs.js';
import type { InodePath, ModelEvent } from './inode-model.js';
import { type BusCoverage, BusTap, type PathStep, type Realization, type Seen, type WalkWorld } from './walk.js';

/** Two 16 KiB blocks on disk: with truncateBatch 1, truncating them blocks exactly once (WOULDBLOCK). */
const FILE_BYTES = 2 * 16 * 1024;

/**
 * RDIRTY (REDO records pending) is the coordinator's bookkeeping around an
 * fsync'd inode's REDO log; the model's alphabet has no event for it, so the
 * comparison leaves it out.
 */
const COMPARED = ~InodeFlag.RDIRTY;

/** The volume every inode walk starts from: /f on disk, clean. Made once, cloned per path. */
export async function inodeImage(): Promise<MemDevice> {
  const { base } = await memVolume();
  const fs = await mountMem(base);
  await fs.writeFile('/f', new Uint8Array(FILE_BYTES).fill(1));
  await fs.unmount();
  return base;
}

/**
 * One walk's real system: a fresh mount of the image whose flush groups run
 * only when the walk says so (virtual time), tracking /f's inode actor.
 */
export class InodeWorld implements WalkWorld<ModelEvent> {
  private links = 0;

  private constructor(
    readonly fs: FileSystem,
    readonly mount: Mount,
    readonly scheduler: VirtualTimeScheduler,
    readonly tap: BusTap,
    readonly ip: Inode,
    readonly root: Inode,
    /** Every step goes to the inode's own send (the guard walks: events the system never sends there). */
    private readonly directOnly: boolean,
  ) {
    tap.tracked = ip.id;
  }

  /**
   * A path that blocks (WOULDBLOCK) gets truncateBatch 1, so the file's two
   * blocks take two runs; any other path keeps the default, so a truncation
   * it freezes finishes in one run (a blocked run asks for a re-flush, which
   * such a path does not predict).
   */
  static async open(
    image: MemDevice,
    coverage: BusCoverage | undefined,
    path: InodePath,
    directOnly = false,
  ): Promise<InodeWorld> {
    const scheduler = new VirtualTimeScheduler();
    const blocks = path.some((step) => step.event.type === 'WOULDBLOCK');
    const fs = await mountMem(image.clone(), { scheduler, ...(blocks ? { truncateBatch: 1 } : {}) });
    const mount = internals(fs);
    const tap = new BusTap(fs.events, coverage);
    const objId = (await fs.stat('/f')).ino;
    const ip = mount.find(0, objId);
    const root = mount.find(0, 1);
    if (ip === undefined || root === undefined) throw new Error('/f and / are cached after a stat');
    return new InodeWorld(fs, mount, scheduler, tap, ip, root, directOnly);
  }

  direct(event: ModelEvent): void {
    if ('data' in event) throw new Error('the model carries no inode data: the real inode keeps its own');
    this.ip.send(event as InodeEvent<InodeData>);
  }

  mismatch(seen: Seen, step: PathStep<ModelEvent>): string | undefined {
    if (seen.type !== step.event.type) return `event ${seen.type}`;
    const { value, context } = step.state as unknown as { value: string; context: { flags: number } };
    if (seen.to !== value) return `state ${seen.to}, predicted ${value}`;
    const flags = Number(seen.payload.flags);
    return sameFlags(flags, context.flags);
  }

  current(step: PathStep<ModelEvent>): string | undefined {
    const { value, context } = step.state as unknown as { value: string; context: { flags: number } };
    if (this.ip.state !== value) return `is ${this.ip.state}, predicted ${value}`;
    return sameFlags(this.ip.flags, context.flags);
  }

  plan(steps: readonly PathStep<ModelEvent>[], index: number): Realization {
    const step = steps[index] as PathStep<ModelEvent>;
    const before = (steps[index - 1] as PathStep<ModelEvent>).state.value as string;
    const event = step.event;
    if (this.directOnly) return this.directly(event);
    switch (event.type) {
      case 'MODIFY':
        return this.modify(event.flags);
      case 'DEPEND':
        return before === 'idle'
          ? { drive: 'fs', covers: 1, run: () => this.link() }
          : // mount.addRecord sends DEPEND only to an IDLE target (hammer_mem_add): a no-op here, never sent.
            this.directly(event);
      case 'FLUSH':
        return this.flush(steps, index, before);
      case 'CONN_DOWN':
        // hammer_flush_inode meets a parent that cannot join the file's group (setup_parent_inodes < 0).
        return this.parentBlocked()
          ? this.coordinator(() => this.mount.flusher.flushInode(this.ip))
          : this.directly(event);
      case 'WAIT':
        return this.coordinator(() => void this.mount.flusher.waitInode(this.ip));
      case 'WOULDBLOCK':
        return this.wouldBlock() ? { ...this.runGroup(), ranAhead: true } : this.directly(event);
      case 'FLUSH_DONE':
        return this.flushDone();
      case 'UNLOAD':
        // What the clean-inode cache does when it overflows (hammer_unload_inode).
        return this.coordinator(() => this.mount.unload(this.ip));
      default:
        throw new Error(`no realization for ${event.type}`);
    }
  }

  private modify(flags: number): Realization {
    if (flags === InodeFlag.DDIRTY) {
      // The frontend sends MODIFY only for flags not yet set: a chmod of a DDIRTY inode is silent.
      return { drive: 'fs', covers: 1, silentOk: true, run: () => this.fs.chmod('/f', 0o640) };
    }
    if (flags === (InodeFlag.XDIRTY | InodeFlag.DDIRTY)) {
      return { drive: 'fs', covers: 1, run: () => this.fs.appendFile('/f', 'x') };
    }
    return {
      drive: 'fs',
      covers: 1,
      run: async () => {
        const size = (await this.fs.stat('/f')).size;
        await this.fs.truncate('/f', size + 1);
        await this.fs.truncate('/f', 0);
      },
    };
  }

  /**
   * hammer_flush_inode. FLUSH then FLUSH_DONE is a sync; FLUSH, WAIT,
   * FLUSH_DONE an fsync (while it still flushes: after an fsync, writes go to
   * REDO and the next fsync may not flush at all). Otherwise the coordinator's
   * own call, which stages without running (groups run in virtual time).
   */
  private flush(steps: readonly PathStep<ModelEvent>[], index: number, before: string): Realization {
    const step = steps[index] as PathStep<ModelEvent>;
    const next = steps[index + 1]?.event.type;
    const after = steps[index + 2]?.event.type;
    // Nothing to write: hammer_flush_inode returns before flush_inode_core, the event is never sent.
    if (before === 'idle' && step.state.value === 'idle') return this.directly(step.event);
    // With its parent blocked, a sync or fsync would meet CONN_DOWN first (a step the path does not take).
    const runsThrough = before !== 'flush' && !this.parentBlocked();
    if (runsThrough && next === 'WAIT' && after === 'FLUSH_DONE' && !(this.ip.redoMode && !this.ip.structural)) {
      return { drive: 'fs', covers: 3, run: () => this.fsync() };
    }
    if (runsThrough && next === 'FLUSH_DONE') return { drive: 'fs', covers: 2, run: () => this.sync() };
    return this.coordinator(async () => {
      if (before === 'setup' && this.parentBlocked()) {
        // The parent's group runs first; a parent that was asked to re-flush pulls the file into its next group.
        await this.runScheduled();
        if (this.ip.state === 'flush') return;
      }
      this.mount.flusher.flushInode(this.ip);
    });
  }

  /** The group runs: a sync while nothing changed since the freeze (its re-queue test finds nothing), else the group alone. */
  private flushDone(): Realization {
    if (this.ip.has(InodeFlag.WOULDBLOCK)) return { ...this.runGroup(), ranAhead: true };
    if (!this.ip.dirty) return { drive: 'fs', covers: 1, run: () => this.sync() };
    return this.runGroup();
  }

  /** Close the inode's group and let the scheduler run it (what fsync asks for). */
  private runGroup(): Realization {
    return this.coordinator(async () => {
      const group = this.mount.flusher.group(this.ip.group);
      if (group === undefined) throw new Error('a flushing inode is in a group');
      if (group.state === 'open') this.mount.flusher.flusherAsync(group);
      await this.runScheduled();
    });
  }

  private async sync(): Promise<void> {
    await this.fs.sync();
  }

  private async runScheduled(): Promise<void> {
    this.scheduler.flush();
    await Promise.resolve();
  }

  private async fsync(): Promise<void> {
    const handle = await this.fs.open('/f', 'r+');
    const synced = handle.sync();
    await this.runScheduled();
    await synced;
    await handle.close();
  }

  /**
   * A hard link in / while / flushes in a closed group of its own: the
   * link's ADD record waits in SETUP, so the file depends on a parent that
   * cannot join the file's group until that group has run.
   */
  private async link(): Promise<void> {
    await this.tap.as('coordinator', async () => {
      if (this.root.state !== 'flush') {
        await this.fs.chmod('/', 0o755);
        this.mount.flusher.flushInode(this.root);
      }
      const group = this.mount.flusher.group(this.root.group);
      if (group?.state === 'open') this.mount.flusher.flusherAsync(group);
    });
    await this.fs.link('/f', `/l${this.links++}`);
  }

  /** A record targeting the file sits in a directory that flushes in a closed group. */
  private parentBlocked(): boolean {
    return this.ip.targetList.some((record) => {
      const group = this.mount.flusher.group(record.ip.group);
      return record.state === 'setup' && record.ip.state === 'flush' && group?.state === 'closed';
    });
  }

  /** The frozen copy truncates, and more blocks are on disk past it than one run deletes. */
  private wouldBlock(): boolean {
    if ((this.ip.syncFlags & InodeFlag.TRUNCATED) === 0) return false;
    const loc = dataLocalization(this.ip.localization);
    const blocks = this.mount.volume
      .scan(rangeLo(loc, this.ip.objId, RecType.DATA, 1), rangeHi(loc, this.ip.objId, RecType.DATA, 2 ** 52), TID_MAX)
      .filter((elm) => elm.key - elm.dataLen >= this.ip.syncTruncOff);
    return blocks.length > this.mount.options.truncateBatch;
  }

  private coordinator(run: () => unknown): Realization {
    return { drive: 'coordinator', covers: 1, run: async () => void (await run()) };
  }

  private directly(event: ModelEvent): Realization {
    return { drive: 'direct', covers: 1, run: () => this.direct(event) };
  }
}

function sameFlags(real: number, predicted: number): string | undefined {
  if ((real & COMPARED) === (predicted & COMPARED)) return undefined;
  return `flags 0x${real.toString(16)}, predicted 0x${predicted.toString(16)}`;
}
