import { VirtualTimeScheduler } from 'rxjs';
import type { FileSystem } from '../../../actors/api.js';
import type { FlushGroup } from '../../../actors/flush-group.js';
import type { Mount } from '../../../actors/mount.js';
import type { FlushGroupContext, FlushGroupEvent } from '../../../machines/flush-group.js';
import type { MemDevice } from '../../../storage/device.js';
import { internals, memVolume, mountMem } from '../fs.js';
import { GROUP_INPUT, type GroupPath } from './group-model.js';
import { type BusCoverage, BusTap, type PathStep, type Realization, type Seen, type WalkWorld } from './walk.js';

/** Files for the group's inodes: plain (/g<n>) and two-block ones whose truncation blocks once (/t<n>). */
const FILES = 3;
const BLOCKS_BYTES = 2 * 16 * 1024;

export async function groupImage(): Promise<MemDevice> {
  const { base } = await memVolume();
  const fs = await mountMem(base);
  for (let n = 0; n < FILES; n++) {
    await fs.writeFile(`/g${n}`, `g${n}`);
    await fs.writeFile(`/t${n}`, new Uint8Array(BLOCKS_BYTES).fill(n));
  }
  await fs.unmount();
  return base;
}

/** What an inode staged into the group brings: nothing else, one DATA record (ADD_REF), or a truncation that blocks. */
type Cast = 'plain' | 'data' | 'blocking';

interface Plan {
  casts: Map<number, Cast>;
  /** From this step on the path is driven on the actor itself (see `planGroupPath`). */
  directFrom: number;
}

/**
 * Decide, for a whole path, which file each ADD_INODE stages and where the
 * real system can no longer follow. The system never sends REMOVE_INODE (a
 * backed-out inode's add and removal cancel in one batched step), never
 * drops a reference or adds an inode outside a run or to a closed group,
 * never closes a closed group, and sends ADD_REF only in the step that
 * staged its inode; a run that must block cannot also hold references
 * (a blocked inode keeps its records). From the first such step on, the
 * counts would disagree with the flush tree, so the rest of the path goes to
 * the real group actor's own send and the flusher never runs it.
 */
export function planGroupPath(steps: GroupPath): Plan {
  const blocks = steps.some((s, i) => s.event.type === 'RUN_FINISHED' && stateOf(steps, i) === 'closed');
  const casts = new Map<number, Cast>();
  let directFrom = steps.length;
  let refs = false;
  for (let i = 1; i < steps.length && directFrom === steps.length; i++) {
    const type = steps[i]?.event.type;
    const before = stateOf(steps, i - 1);
    const neverSent =
      type === 'REMOVE_INODE' ||
      (type === 'DROP_REF' && before !== 'running') ||
      (type === 'ADD_INODE' && before === 'closed') ||
      (type === 'CLOSE' && before === 'closed') ||
      (type === 'ADD_REF' && steps[i - 1]?.event.type !== 'ADD_INODE');
    if (neverSent || (type === 'RUN' && blocks && refs)) directFrom = i;
    if (type === 'ADD_INODE') {
      const data = steps[i + 1]?.event.type === 'ADD_REF';
      casts.set(i, data ? 'data' : blocks ? 'blocking' : 'plain');
      refs ||= data;
    }
  }
  return { casts, directFrom };
}

function stateOf(steps: GroupPath, index: number): string {
  return String(steps[index]?.state.value);
}

function contextOf(step: PathStep<FlushGroupEvent>): FlushGroupContext {
  return step.state.context as FlushGroupContext;
}

/** One walk's real system: a fresh mount, its first flush group tracked (flg:1), groups run in virtual time. */
export class GroupWorld implements WalkWorld<FlushGroupEvent> {
  private pathPlan: Plan | undefined;
  private used = 0;
  /** Files staged into the group, for an fsync that closes it. */
  private readonly staged: string[] = [];
  private closedByFsync = false;

  private constructor(
    readonly fs: FileSystem,
    readonly mount: Mount,
    readonly scheduler: VirtualTimeScheduler,
    readonly tap: BusTap,
    readonly group: FlushGroup,
  ) {
    tap.tracked = group.id;
  }

  static async open(image: MemDevice, coverage: BusCoverage | undefined): Promise<GroupWorld> {
    const scheduler = new VirtualTimeScheduler();
    const fs = await mountMem(image.clone(), { scheduler, autoflush: GROUP_INPUT.autoflush, truncateBatch: 1 });
    const mount = internals(fs);
    const tap = new BusTap(fs.events, coverage);
    // A group comes to be when something is first staged; the walk starts from the open group itself.
    const group = mount.flusher.fillGroup();
    const limits = mount.groupLimits();
    if (group.seq !== GROUP_INPUT.seq || limits.undoRecLimit !== GROUP_INPUT.undoRecLimit) {
      throw new Error(
        `the model's group input ${JSON.stringify(GROUP_INPUT)} is not the mount's (${group.seq}, ${JSON.stringify(limits)})`,
      );
    }
    return new GroupWorld(fs, mount, scheduler, tap, group);
  }

  direct(event: FlushGroupEvent): void {
    this.group.send(event);
  }

  mismatch(seen: Seen, step: PathStep<FlushGroupEvent>): string | undefined {
    if (seen.type !== step.event.type) return `event ${seen.type}`;
    if (seen.to !== step.state.value) return `state ${seen.to}, predicted ${String(step.state.value)}`;
    return sameCounts(seen.payload, contextOf(step));
  }

  current(step: PathStep<FlushGroupEvent>): string | undefined {
    if (this.group.state !== step.state.value) return `is ${this.group.state}, predicted ${String(step.state.value)}`;
    return sameCounts(
      { totalCount: this.group.totalCount, refs: this.group.refs, inodes: this.group.inodes },
      contextOf(step),
    );
  }

  plan(steps: readonly PathStep<FlushGroupEvent>[], index: number): Realization {
    this.pathPlan ??= planGroupPath(steps);
    const event = (steps[index] as PathStep<FlushGroupEvent>).event;
    if (index >= this.pathPlan.directFrom) return { drive: 'direct', covers: 1, run: () => this.direct(event) };
    switch (event.type) {
      case 'ADD_INODE':
        return this.stage(steps, index, this.pathPlan.casts.get(index) ?? 'plain');
      case 'CLOSE':
        return this.close();
      case 'RUN':
        // The scheduler runs what the close queued: the whole run (and a re-run) happens now.
        return {
          drive: this.closedByFsync ? 'fs' : 'coordinator',
          covers: 1,
          ranAhead: true,
          run: () => this.scheduler.flush(),
        };
      default:
        // ADD_REF comes with its inode's staging; DROP_REF, INODE_DONE, RUN_FINISHED with the run.
        throw new Error(`${event.type} at step ${index} is not where the real system sends it`);
    }
  }

  /**
   * Stage the next file: by the coordinator's hammer_flush_inode, or, when the
   * path closes the group right after, by an fsync of that file (which stages
   * it, closes its group and waits for the run).
   */
  private stage(steps: readonly PathStep<FlushGroupEvent>[], index: number, cast: Cast): Realization {
    const path = cast === 'blocking' ? `/t${this.used}` : `/g${this.used}`;
    this.used++;
    const withRef = cast === 'data' ? 1 : 0;
    const closes =
      steps[index + 1 + withRef]?.event.type === 'CLOSE' && index + 1 + withRef < (this.pathPlan?.directFrom ?? 0);
    const prepare = async () => {
      if (cast === 'data') await this.fs.appendFile(path, 'x');
      else if (cast === 'blocking') {
        await this.fs.truncate(path, BLOCKS_BYTES + 1);
        await this.fs.truncate(path, 0);
      } else await this.fs.chmod(path, 0o600);
    };
    this.staged.push(path);
    if (closes) {
      this.closedByFsync = true;
      const run = async () => {
        await prepare();
        await this.fsync(path);
      };
      return { drive: 'fs', covers: 2 + withRef, run };
    }
    return {
      drive: 'coordinator',
      covers: 1 + withRef,
      run: async () => {
        await this.tap.as('fs', prepare);
        const ip = this.mount.find(0, (await this.fs.stat(path)).ino);
        if (ip === undefined) throw new Error(`${path} is cached`);
        this.mount.flusher.flushInode(ip);
      },
    };
  }

  /** An fsync of a staged file closes its group (hammer_flush_inode with SIGNAL); an empty group is closed by the flusher. */
  private close(): Realization {
    const path = this.staged[0];
    if (path !== undefined) {
      this.closedByFsync = true;
      return { drive: 'fs', covers: 1, run: () => this.fsync(path) };
    }
    return { drive: 'coordinator', covers: 1, run: () => this.mount.flusher.flusherAsync(this.group) };
  }

  /** fsync returns once the group ran; the walk lets the scheduler run it later, so the promise is left pending. */
  private async fsync(path: string): Promise<void> {
    const handle = await this.fs.open(path, 'r+');
    void handle.sync();
  }
}

function sameCounts(real: Record<string, unknown>, predicted: FlushGroupContext): string | undefined {
  const { totalCount, refs, inodes } = predicted;
  if (real.totalCount === totalCount && real.refs === refs && real.inodes === inodes) return undefined;
  return `counts ${JSON.stringify(real)}, predicted ${JSON.stringify({ totalCount, refs, inodes })}`;
}
