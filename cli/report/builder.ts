import type { MachineDiagram } from '../../machines/diagram/index.js';
import { UsageError } from '../output.js';
import { GroupTracker } from './groups.js';
import {
  type InodeSequence,
  machineOf,
  type ReportEvent,
  type ReportMachine,
  type ReportModel,
  type ReportSummary,
  type ReportTotals,
  type RunSpan,
} from './model.js';
import { reportDiagrams, UsageCounter } from './transitions.js';
import { MAX_EVENTS_DEFAULT, TravelRecorder } from './travel.js';

/**
 * The report's numbers, built one event at a time in seq order, from an
 * audit log (cli/report/log-report.ts) or from a mount's bus while it runs
 * (cli/report/server.ts): machine usage, flush groups and device work, the
 * inodes' activity, the runs, and the time-travel window. Memory: the
 * window, plus a few numbers per actor and per group.
 */
export const GROUPS_SHOWN_MAX = 2000;
export const DEVICE_OPS_SHOWN_MAX = 6000;
/** Notes about the log itself (events it lost or missed): the first ones are enough to say where. */
const NOTES_MAX = 20;

export interface ReportOptions {
  title: string;
  live?: boolean;
  maxEvents?: number;
}

export class ReportBuilder {
  readonly diagrams: Record<ReportMachine, MachineDiagram> = reportDiagrams();
  private readonly usage: Record<ReportMachine, UsageCounter> = {
    inode: new UsageCounter('inode', this.diagrams.inode),
    flushGroup: new UsageCounter('flushGroup', this.diagrams.flushGroup),
  };
  private readonly groups = new GroupTracker();
  readonly travel: TravelRecorder;
  /** Events per inode actor (the default sequence shows the busiest). */
  private readonly activity = new Map<string, number>();
  /** `<run>\0<actor>` of every machine actor met: its first step counts its from state as entered. */
  private readonly met = new Set<string>();
  private readonly runs: RunSpan[] = [];
  private readonly totals: ReportTotals = {
    events: 0,
    commands: 0,
    facts: 0,
    inodes: 0,
    groups: 0,
    firstSeq: 0,
    lastSeq: 0,
  };
  readonly notes: string[] = [];

  constructor(private readonly options: ReportOptions) {
    this.travel = new TravelRecorder(options.maxEvents ?? MAX_EVENTS_DEFAULT);
  }

  /** Take the next event (seqs increase); returns the diagram transition it took, -1 for none. */
  add(event: ReportEvent): number {
    const totals = this.totals;
    if (totals.events > 0 && event.seq <= totals.lastSeq) {
      throw new Error(`invariant violated: report events come in seq order (${event.seq} after ${totals.lastSeq})`);
    }
    if (totals.events === 0) totals.firstSeq = event.seq;
    totals.events++;
    totals.lastSeq = event.seq;
    if (event.kind === 'command') totals.commands++;
    else totals.facts++;
    this.runSpan(event);
    if (event.actor === 'log') this.logFact(event);
    this.groups.add(event);
    const machine = machineOf(event.actor);
    if (machine === 'inode') {
      const count = this.activity.get(event.actor);
      if (count === undefined) totals.inodes++;
      this.activity.set(event.actor, (count ?? 0) + 1);
    }
    let transition = -1;
    if (machine !== undefined && event.from !== undefined && event.to !== undefined) {
      const key = `${event.run}\u0000${event.actor}`;
      const first = !this.met.has(key);
      if (first) this.met.add(key);
      transition = this.usage[machine].count(event.from, event.type, event.to, first);
    }
    this.travel.add(event, transition);
    return transition;
  }

  /** EVENTS_LOST / EVENTS_MISSED (docs/events.md): the page says where the log has holes. */
  private logFact(event: ReportEvent): void {
    if (this.notes.length >= NOTES_MAX) return;
    const events = typeof event.payload?.events === 'number' ? event.payload.events : '?';
    this.notes.push(`${event.type} at seq ${event.seq} (run ${event.run}): ${events} events are not in the log.`);
  }

  private runSpan(event: ReportEvent): void {
    const last = this.runs[this.runs.length - 1];
    if (last !== undefined && last.run === event.run) {
      last.lastSeq = event.seq;
      return;
    }
    const kind = event.kind === 'command' && (event.type === 'mkfs' || event.type === 'mount') ? event.type : 'run';
    this.runs.push({ run: event.run, kind, firstSeq: event.seq, lastSeq: event.seq });
  }

  /** The inode actor with the most events (the first met among equals); undefined when no inode acted. */
  mostActiveInode(): string | undefined {
    let best: string | undefined;
    let most = 0;
    for (const [actor, count] of this.activity) {
      if (count > most) {
        best = actor;
        most = count;
      }
    }
    return best;
  }

  /**
   * The inode `spec` names: an actor id (`inode:<loc>:<objid>:<asof>`) or an
   * obj_id (decimal or 0x hex), the busiest of its actors then (live first).
   * EINVAL when the log has no such inode actor.
   */
  resolveInode(spec: string): string {
    if (spec.startsWith('inode:')) {
      if (!this.activity.has(spec)) throw new UsageError('EINVAL', `--inode: no events of ${spec} in the log`);
      return spec;
    }
    if (!/^(\d+|0x[0-9a-f]+)$/i.test(spec)) {
      throw new UsageError('EINVAL', `--inode must be an inode actor id or an obj_id, got '${spec}'`);
    }
    const objId = BigInt(spec).toString();
    let best: string | undefined;
    let rank = -1;
    for (const [actor, count] of this.activity) {
      const parts = actor.split(':');
      if (parts[2] !== objId) continue;
      const score = count * 2 + (parts[3] === 'live' ? 1 : 0);
      if (score > rank) {
        best = actor;
        rank = score;
      }
    }
    if (best === undefined) throw new UsageError('EINVAL', `--inode: no inode actor with obj_id ${objId} in the log`);
    return best;
  }

  summary(sequence: InodeSequence | undefined): ReportSummary {
    return {
      title: this.options.title,
      live: this.options.live ?? false,
      totals: { ...this.totals, groups: this.groups.groupCount },
      runs: this.runs.map((run) => ({ ...run })),
      machines: { inode: this.usage.inode.usage(), flushGroup: this.usage.flushGroup.usage() },
      groups: this.groups.groups(GROUPS_SHOWN_MAX),
      groupsTotal: this.groups.groupCount,
      device: this.groups.deviceOps(DEVICE_OPS_SHOWN_MAX),
      deviceTotal: this.groups.opCount,
      sequence,
      notes: [...this.notes],
    };
  }

  model(sequence: InodeSequence | undefined): ReportModel {
    return { summary: this.summary(sequence), travel: this.travel.window() };
  }
}
