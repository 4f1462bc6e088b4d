import { assert } from '../../storage/assert.js';
import type { DeviceOp, GroupRow, ReportEvent } from './model.js';

/**
 * Flush groups and the device work they caused, read from the log's facts.
 *
 * A group's TID is not in its own facts' payloads, but every event of its
 * run carries it (the bus stamps the running flush's TID): the group that
 * went to `running` last in a run owns the next TID seen in that run. The
 * volume's facts say what was written: FINALIZE {final, dataBytes,
 * fifoBytes, metaBytes, fsyncs}, HEADER_COMMIT {slot}, REDO_SYNC {fifoBytes}:
 * one fsync after the header, one per REDO_SYNC, and FINALIZE's own (logs
 * older than its `fsyncs` field: derived from finalize's order).
 */

/** A group row keeps this many of the inodes it synced (the count is whole). */
const SAMPLE_INODES = 8;

export function groupKey(run: number, actor: string): string {
  return `${run}:${actor}`;
}

function numberField(payload: Record<string, unknown> | undefined, name: string): number {
  const value = payload?.[name];
  return typeof value === 'number' ? value : 0;
}

export class GroupTracker {
  private readonly rows = new Map<string, GroupRow>();
  /** Group keys in the order they opened (the timeline's order). */
  private readonly order: string[] = [];
  private readonly ops: DeviceOp[] = [];
  private readonly running = new Map<number, string>();
  /** `<run>:<tid>` -> group key. */
  private readonly byTid = new Map<string, string>();
  private readonly syncedBy = new Map<string, Set<string>>();

  /** The group whose run used `tid` in `run`, once any event of that run was seen. */
  groupOfTid(run: number, tid: number): string | undefined {
    return this.byTid.get(`${run}:${tid}`);
  }

  /** Take one event (any actor: flush-group steps, volume facts, inode syncs). */
  add(event: ReportEvent): void {
    if (event.tid !== undefined) this.claimTid(event.run, event.tid);
    if (event.actor.startsWith('flg:')) this.groupStep(event);
    else if (event.actor === 'volume') this.volumeFact(event);
    else if ((event.type === 'SYNC_INODE' || event.type === 'FLUSH_DONE') && event.tid !== undefined) {
      this.inodeSynced(event, event.tid);
    }
  }

  private claimTid(run: number, tid: number): void {
    const tidKey = `${run}:${tid}`;
    if (this.byTid.has(tidKey)) return;
    const key = this.running.get(run);
    const row = key === undefined ? undefined : this.rows.get(key);
    if (row === undefined || row.tid !== undefined) return;
    row.tid = tid;
    this.byTid.set(tidKey, row.key);
  }

  private groupStep(event: ReportEvent): void {
    const key = groupKey(event.run, event.actor);
    let row = this.rows.get(key);
    if (row === undefined || event.type === 'OPEN') {
      row = this.open(event, key);
    }
    row.lastSeq = event.seq;
    row.lastTime = event.time;
    if (event.to !== undefined) row.state = event.to;
    row.inodes = Math.max(row.inodes, numberField(event.payload, 'totalCount'));
    row.refs = Math.max(row.refs, numberField(event.payload, 'refs'));
    if (event.type === 'CLOSE' || (event.from === 'open' && event.to === 'closed')) row.closeSeq ??= event.seq;
    if (event.type === 'RUN' && event.to === 'running') {
      row.runSeq ??= event.seq;
      row.runs++;
      this.running.set(event.run, key);
    }
    if (event.to === 'done') row.doneSeq = event.seq;
  }

  private open(event: ReportEvent, key: string): GroupRow {
    const row: GroupRow = {
      key,
      run: event.run,
      actor: event.actor,
      state: 'open',
      openSeq: event.seq,
      openTime: event.time,
      lastSeq: event.seq,
      lastTime: event.time,
      inodes: 0,
      refs: 0,
      synced: 0,
      sample: [],
      runs: 0,
      finalizes: 0,
      dataBytes: 0,
      fifoBytes: 0,
      metaBytes: 0,
      fsyncs: 0,
      headerCommits: 0,
    };
    if (!this.rows.has(key)) this.order.push(key);
    this.rows.set(key, row);
    return row;
  }

  private inodeSynced(event: ReportEvent, tid: number): void {
    const key = this.groupOfTid(event.run, tid);
    const row = key === undefined ? undefined : this.rows.get(key);
    if (row === undefined) return;
    let synced = this.syncedBy.get(row.key);
    if (synced === undefined) {
      synced = new Set();
      this.syncedBy.set(row.key, synced);
    }
    if (synced.has(event.actor)) return;
    synced.add(event.actor);
    row.synced = synced.size;
    if (row.sample.length < SAMPLE_INODES) row.sample.push(event.actor);
  }

  private volumeFact(event: ReportEvent): void {
    const { payload } = event;
    let op: DeviceOp;
    if (event.type === 'FINALIZE') {
      const final = payload?.final === true;
      op = this.op(event, numberField(payload, 'dataBytes'), numberField(payload, 'fifoBytes'));
      op.metaBytes = numberField(payload, 'metaBytes');
      op.final = final;
      // Logs from before FINALIZE carried its fsyncs: derived from finalize's order then.
      op.fsyncs =
        typeof payload?.fsyncs === 'number'
          ? payload.fsyncs
          : (op.fifoBytes > 0 ? 1 : 0) + (op.metaBytes > 0 || !final ? 1 : 0);
    } else if (event.type === 'HEADER_COMMIT') {
      op = this.op(event, 0, 0);
      op.slot = numberField(payload, 'slot');
      op.fsyncs = 1;
    } else if (event.type === 'REDO_SYNC') {
      op = this.op(event, 0, numberField(payload, 'fifoBytes'));
      op.fsyncs = 1;
    } else {
      if (event.type === 'COMMIT') this.commit(event);
      return;
    }
    this.ops.push(op);
    const row = op.group === undefined ? undefined : this.rows.get(op.group);
    if (row === undefined) return;
    if (op.type === 'FINALIZE') row.finalizes++;
    if (op.type === 'HEADER_COMMIT') row.headerCommits++;
    row.dataBytes += op.dataBytes;
    row.fifoBytes += op.fifoBytes;
    row.metaBytes += op.metaBytes;
    row.fsyncs += op.fsyncs;
  }

  private op(event: ReportEvent, dataBytes: number, fifoBytes: number): DeviceOp {
    const type = event.type as DeviceOp['type'];
    const op: DeviceOp = {
      seq: event.seq,
      run: event.run,
      time: event.time,
      type,
      dataBytes,
      fifoBytes,
      metaBytes: 0,
      fsyncs: 0,
    };
    if (event.tid !== undefined) {
      op.tid = event.tid;
      const group = this.groupOfTid(event.run, event.tid);
      if (group !== undefined) op.group = group;
    }
    return op;
  }

  /** COMMIT {tid, group}: the run's durability point; it names its group outright. */
  private commit(event: ReportEvent): void {
    const group = numberField(event.payload, 'group');
    const row = this.rows.get(groupKey(event.run, `flg:${group}`));
    if (row === undefined) return;
    row.commitSeq = event.seq;
    row.lastSeq = Math.max(row.lastSeq, event.seq);
    row.lastTime = Math.max(row.lastTime, event.time);
  }

  get groupCount(): number {
    return this.order.length;
  }

  get opCount(): number {
    return this.ops.length;
  }

  /** The last `limit` groups, in the order they opened (copies). */
  groups(limit: number): GroupRow[] {
    return this.order.slice(Math.max(0, this.order.length - limit)).map((key) => {
      const row = this.rows.get(key);
      assert(row !== undefined, 'every group in the timeline order has its row');
      return { ...row, sample: [...row.sample] };
    });
  }

  /** The last `limit` device ops, in seq order (copies). */
  deviceOps(limit: number): DeviceOp[] {
    return this.ops.slice(Math.max(0, this.ops.length - limit)).map((op) => ({ ...op }));
  }
}
