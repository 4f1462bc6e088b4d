import { GroupTracker, groupKey } from './groups.js';
import { commandLabel, type InodeSequence, type ReportEvent, type SequenceMessage } from './model.js';

/**
 * The sequence diagram of one inode actor: the commands that touched it,
 * its transitions and facts, the flush groups it joined and what they did.
 *
 * What the log gives and what is inferred:
 * - A command touched the inode when the inode's events follow it before the
 *   next command: the system is synchronous, a command's facts are published
 *   between it and the next one.
 * - The group an inode joined (its step into `flush`) is not in the step's
 *   payload: it is the group whose run synced the inode next (SYNC_INODE and
 *   FLUSH_DONE carry the run's TID), or, when the log ends before that run,
 *   the group opened last in the run.
 */
export const SEQUENCE_MESSAGES_MAX = 400;

const FS_LANE = 'fs';

interface PendingMessage extends Omit<SequenceMessage, 'from' | 'to'> {
  from: string;
  to: string;
}

/** An inode's step into `flush`: the group it joined once known, else the group opened last before it. */
interface Join {
  message: PendingMessage | undefined;
  run: number;
  fallback: string | undefined;
  group?: string;
}

function hexTid(tid: number): string {
  return `0x${tid.toString(16).padStart(16, '0')}`;
}

export class SequenceBuilder {
  private readonly groups = new GroupTracker();
  private readonly kept: PendingMessage[] = [];
  private inodeMessages = 0;
  private events = 0;
  private readonly lastCommand = new Map<number, { event: ReportEvent; shown: boolean }>();
  private readonly lastOpened = new Map<number, string>();
  private readonly joins: Join[] = [];
  /** Joins whose group is not known yet (the run that syncs the inode comes later). */
  private pendingJoins: Join[] = [];
  /** Each group's own steps worth drawing (RUN, done, COMMIT), for the groups the inode joins. */
  private readonly groupSteps = new Map<string, PendingMessage[]>();

  constructor(
    readonly inode: string,
    private readonly limit = SEQUENCE_MESSAGES_MAX,
  ) {}

  add(event: ReportEvent): void {
    this.groups.add(event);
    if (event.kind === 'command') {
      this.lastCommand.set(event.run, { event, shown: false });
      return;
    }
    if (event.actor.startsWith('flg:')) this.groupStep(event);
    else if (event.actor === 'volume' && event.type === 'COMMIT') this.commit(event);
    if (event.actor !== this.inode) return;
    this.events++;
    const command = this.lastCommand.get(event.run);
    if (command !== undefined && !command.shown) {
      command.shown = true;
      const label = commandLabel(command.event.payload);
      this.push(command.event, FS_LANE, this.inode, 'command', `${command.event.type}${label ? ` ${label}` : ''}`);
    }
    this.inodeStep(event);
  }

  private inodeStep(event: ReportEvent): void {
    const group = event.tid === undefined ? undefined : this.groups.groupOfTid(event.run, event.tid);
    // Only the backend's own steps of the inode say which run synced it (a re-queue inside a run carries that run's TID).
    if (group !== undefined && (event.type === 'SYNC_INODE' || event.type === 'FLUSH_DONE')) {
      this.resolveJoins(event.run, group);
    }
    const step = event.from === undefined ? event.type : `${event.type} ${event.from} -> ${event.to}`;
    if (event.to === 'flush' && event.from !== 'flush') {
      const message = this.push(event, this.inode, this.inode, 'join', step);
      const join: Join = { message, run: event.run, fallback: this.lastOpened.get(event.run) };
      this.joins.push(join);
      this.pendingJoins.push(join);
    } else if (group !== undefined && event.type === 'FLUSH_DONE') {
      this.push(event, group, this.inode, 'done', step);
    } else if (group !== undefined && event.type === 'SYNC_INODE') {
      this.push(event, group, this.inode, 'sync', `SYNC_INODE tid ${hexTid(event.tid ?? 0)}`);
    } else {
      this.push(event, this.inode, this.inode, 'transition', step);
    }
  }

  private resolveJoins(run: number, group: string): void {
    if (this.pendingJoins.length === 0) return;
    for (const join of this.pendingJoins) if (join.run === run) join.group = group;
    this.pendingJoins = this.pendingJoins.filter((join) => join.group === undefined);
  }

  private groupStep(event: ReportEvent): void {
    const key = groupKey(event.run, event.actor);
    if (event.type === 'OPEN') this.lastOpened.set(event.run, key);
    if ((event.type === 'RUN' && event.to === 'running') || event.to === 'done') {
      this.groupMessage(key, event, `${event.type} ${event.from} -> ${event.to}`);
    }
  }

  private commit(event: ReportEvent): void {
    const group = event.payload?.group;
    if (typeof group !== 'number') return;
    this.groupMessage(groupKey(event.run, `flg:${group}`), event, `COMMIT tid ${hexTid(event.tid ?? 0)}`);
  }

  private groupMessage(key: string, event: ReportEvent, label: string): void {
    let steps = this.groupSteps.get(key);
    if (steps === undefined) {
      steps = [];
      this.groupSteps.set(key, steps);
    }
    steps.push({ seq: event.seq, time: event.time, from: key, to: key, kind: 'group', label });
  }

  private push(
    event: ReportEvent,
    from: string,
    to: string,
    kind: SequenceMessage['kind'],
    label: string,
  ): PendingMessage | undefined {
    this.inodeMessages++;
    if (this.kept.length >= this.limit) return undefined;
    const message: PendingMessage = { seq: event.seq, time: event.time, from, to, kind, label };
    this.kept.push(message);
    return message;
  }

  /** The diagram so far: lanes `fs`, the inode, then its groups as first met; the first `limit` messages. */
  sequence(): InodeSequence {
    const joined = new Set<string>();
    const joinTo = new Map<PendingMessage, string>();
    for (const join of this.joins) {
      const group = join.group ?? join.fallback;
      if (group === undefined) continue;
      joined.add(group);
      if (join.message !== undefined) joinTo.set(join.message, group);
    }
    const groupMessages = [...joined].flatMap((key) => this.groupSteps.get(key) ?? []);
    const all = [...this.kept, ...groupMessages].sort((a, b) => a.seq - b.seq).slice(0, this.limit);
    const lanes = [FS_LANE, this.inode];
    const lane = (key: string): number => {
      let index = lanes.indexOf(key);
      if (index < 0) index = lanes.push(key) - 1;
      return index;
    };
    const messages = all.map((m) => {
      const group = joinTo.get(m);
      if (group === undefined) return { ...m, from: lane(m.from), to: lane(m.to) };
      return { ...m, from: lane(m.from), to: lane(group), label: `${m.label} (joins ${group})` };
    });
    return {
      inode: this.inode,
      events: this.events,
      lanes,
      messages,
      total: this.inodeMessages + groupMessages.length,
    };
  }
}

/** The sequence of `inode` over `events` (a log read once more, or the live server's window). */
export function inodeSequence(
  events: Iterable<ReportEvent>,
  inode: string,
  limit = SEQUENCE_MESSAGES_MAX,
): InodeSequence {
  const builder = new SequenceBuilder(inode, limit);
  for (const event of events) builder.add(event);
  return builder.sequence();
}
