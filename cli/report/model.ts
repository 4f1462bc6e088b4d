/**
 * What a report shows, as plain JSON-able data: the page (cli/report/page.ts)
 * embeds it, the live server (cli/report/server.ts) sends it again as it
 * changes. Built from the events of an audit log or of a mount's bus by
 * ReportBuilder (cli/report/builder.ts); nothing here reads a clock.
 */

/** One event as the report takes it: a LoggedEvent of the audit log, or a bus event given its run. */
export interface ReportEvent {
  seq: number;
  run: number;
  kind: 'command' | 'fact';
  /** Logical time, µs, from the mount's clock. */
  time: number;
  tid?: number | undefined;
  actor: string;
  type: string;
  from?: string;
  to?: string;
  payload?: Record<string, unknown>;
}

/** The two machines whose actors the log names: inode actors (`inode:…`) and flush groups (`flg:…`). */
export const REPORT_MACHINES = ['inode', 'flushGroup'] as const;
export type ReportMachine = (typeof REPORT_MACHINES)[number];

/** The machine an actor id belongs to; undefined for `fs`, `volume`, `flusher`, `log`. */
export function machineOf(actor: string): ReportMachine | undefined {
  if (actor.startsWith('inode:')) return 'inode';
  if (actor.startsWith('flg:')) return 'flushGroup';
  return undefined;
}

/** How much of a machine the log exercised: visits and events per state, takes per diagram transition. */
export interface MachineUsage {
  machine: ReportMachine;
  /** Per state id: times an actor entered it (its first logged state counts as an entry) and events it handled there. */
  states: Record<string, { visits: number; events: number }>;
  /** Per transition index of the diagram (`<m>-transition-<n>`): how often the log took it. */
  transitions: Record<number, number>;
  /** Logged transitions no transition of the diagram explains (a machine changed since the log was written). */
  unmatched: Array<{ from: string; type: string; to: string; count: number }>;
  /** Logged transitions of this machine's actors. */
  total: number;
}

/** A flush group's life in the log (one row of the timeline). Seqs are global, times µs. */
export interface GroupRow {
  /** `<run>:flg:<seq>`: group seqs start again at each mount. */
  key: string;
  run: number;
  actor: string;
  state: string;
  openSeq: number;
  openTime: number;
  closeSeq?: number;
  runSeq?: number;
  doneSeq?: number;
  commitSeq?: number;
  /** The last event of the group's life so far (done, commit, or its latest step). */
  lastSeq: number;
  lastTime: number;
  /** The TID its run used (none when every inode backed out and no cycle ran). */
  tid?: number;
  /** Inodes added (the machine's totalCount) and record references, at their largest. */
  inodes: number;
  refs: number;
  /** Inodes the group's run synced (SYNC_INODE or FLUSH_DONE under its TID), and the first few of them. */
  synced: number;
  sample: string[];
  runs: number;
  finalizes: number;
  dataBytes: number;
  fifoBytes: number;
  metaBytes: number;
  fsyncs: number;
  headerCommits: number;
}

/** A device write (and the fsyncs it ends with) that a volume fact tells of. */
export interface DeviceOp {
  seq: number;
  run: number;
  time: number;
  type: 'FINALIZE' | 'HEADER_COMMIT' | 'REDO_SYNC';
  /** The flush group whose TID the op ran under; undefined outside a group run (a snapshot's, an fsync's REDO). */
  group?: string;
  tid?: number;
  final?: boolean;
  dataBytes: number;
  fifoBytes: number;
  metaBytes: number;
  /** The header slot's offset (HEADER_COMMIT). */
  slot?: number;
  fsyncs: number;
}

/** A message of the sequence diagram: `from` and `to` are lane indexes (equal: a note on the lane). */
export interface SequenceMessage {
  seq: number;
  time: number;
  from: number;
  to: number;
  kind: 'command' | 'transition' | 'join' | 'sync' | 'done' | 'group';
  label: string;
}

export interface InodeSequence {
  inode: string;
  /** Events of the inode actor in the log. */
  events: number;
  /** `fs` (commands), the inode, then each flush group it joined (keys), in the order first met. */
  lanes: string[];
  messages: SequenceMessage[];
  /** Messages there were; `messages` holds the first SEQUENCE_MESSAGES_MAX. */
  total: number;
}

export interface RunSpan {
  run: number;
  kind: string;
  firstSeq: number;
  lastSeq: number;
}

export interface ReportTotals {
  events: number;
  commands: number;
  facts: number;
  inodes: number;
  groups: number;
  firstSeq: number;
  lastSeq: number;
}

/** What changes as events arrive: everything but the time-travel window. */
export interface ReportSummary {
  title: string;
  live: boolean;
  totals: ReportTotals;
  runs: RunSpan[];
  machines: Record<ReportMachine, MachineUsage>;
  groups: GroupRow[];
  /** Groups there were; `groups` holds the last GROUPS_SHOWN_MAX. */
  groupsTotal: number;
  device: DeviceOp[];
  deviceTotal: number;
  sequence: InodeSequence | undefined;
  /** A note for the reader (a log that does not start at mkfs, ...). */
  notes: string[];
}

/**
 * The time-travel window: the last `maxEvents` events, compact (string tables
 * and one column per field, seq and time as deltas), and the state of every
 * inode and group actor just before its first event, so the page can compute
 * each actor's state at any seq of the window.
 */
export interface TravelWindow {
  maxEvents: number;
  /** Events seen in all; the window holds the last `rows.length`. */
  total: number;
  actors: string[];
  types: string[];
  states: string[];
  /** One row per event: [seqDelta, run, actor, type, from, to, timeDelta, transition]; -1 for none. */
  rows: number[][];
  /** The first row's seq and time (the deltas count from them). */
  firstSeq: number;
  firstTime: number;
  /** A command's path (or other short argument), by row index. */
  labels: Record<number, string>;
  /** [run, actor, state] before the window's first event. */
  base: number[][];
}

export interface ReportModel {
  summary: ReportSummary;
  travel: TravelWindow;
}

/** A command's argument in a few characters: its path (a rename's target too), else its file descriptor. */
export function commandLabel(payload: Record<string, unknown> | undefined): string | undefined {
  if (typeof payload?.path === 'string') {
    return typeof payload.to === 'string' ? `${payload.path} -> ${payload.to}` : payload.path;
  }
  if (typeof payload?.fd === 'number') return `fd ${payload.fd}`;
  return undefined;
}
