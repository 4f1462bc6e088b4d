import { assert } from './assert.js';
import type { BufferCache } from './buffers.js';
import type { BlockDevice } from './device.js';
import { FsError } from './errors.js';
import { FifoType, RedoFlag, type RedoRecord, TERM_ALL } from './format/fifo.js';
import { HEADER_AREA_BYTES } from './format/header.js';
import { BUFFER_BYTES, offPart, offZone, Zone } from './layout.js';
import type { ScannedRecord, UndoFifo } from './undo-fifo.js';

/** A REDO WRITE or TRUNC that no TERM matched: the layer above re-executes it (stage 2). */
export interface PendingRedo {
  fifoOffset: number;
  record: RedoRecord;
}

export interface RecoveryReport {
  /** FIFO offset where the active span started (the header's first_offset). */
  first: number;
  /** The true end found by seq numbers. */
  end: number;
  /** Records in the active span (PADs excluded). */
  records: number;
  /** UNDO records applied, newest first. */
  undone: number;
  /** Bytes of pre-image written back. */
  undoneBytes: number;
  /** Where stage 2 starts (a SYNC record may reach before `first`). */
  stage2From: number;
  /** REDO WRITE/TRUNC records without a TERM, oldest first. */
  redo: PendingRedo[];
  /** Things noticed but survivable (a broken extended REDO chain, a hole a torn FIFO write left). */
  notes: string[];
  /**
   * Damage found in the span (fsck counts each as an error): a hole whose
   * cycle's meta-data had reached the disk, so the pre-images in it are lost.
   */
  damage: string[];
}

/** Holes a scan steps over before it calls the span ended. */
const HOLES_MAX = 8;

/**
 * Recovery stage 1, run by every mount before the B-tree is touched: find the
 * true end of the FIFO by seq numbers from first_offset, then roll every UNDO
 * in the span back, newest first, so the oldest pre-image wins. The restored
 * buffers are written and fsynced (kept in memory on a read-only mount). The
 * header is not rewritten: first_offset stays, so a crash during recovery, or
 * before the next commit, simply repeats this. Stage 2's REDO list is computed
 * here and exposed; re-executing it is the business of the layer above.
 */
export function recoverStage1(
  device: BlockDevice,
  fifo: UndoFifo,
  cache: BufferCache,
  options: { readOnly: boolean; skipScan: boolean; redoStart: number | undefined },
): RecoveryReport {
  const start = fifo.state;
  const report: RecoveryReport = {
    first: start.first,
    end: start.first,
    records: 0,
    undone: 0,
    undoneBytes: 0,
    stage2From: start.first,
    redo: [],
    notes: [],
    damage: [],
  };
  if (options.skipScan) return report;
  const scan = scanSpan(device, fifo, start.first, start.firstSeq, report);
  report.end = scan.end;
  report.records = scan.records.length;
  for (let i = scan.records.length - 1; i >= 0; i--) {
    const entry = scan.records[i];
    assert(entry !== undefined, 'scanned record exists');
    if (entry.record.type !== FifoType.UNDO) continue;
    applyUndo(device, cache, entry);
    report.undone++;
    report.undoneBytes += entry.record.payload.length;
  }
  if (report.undone > 0 && !options.readOnly) {
    cache.writeDirty('meta');
    device.fsync();
  }
  fifo.resetTo({ ...start, next: scan.end, nextSeq: scan.endSeq });
  collectRedo(fifo, scan.records.slice(0, scan.beforeHole), report, options.redoStart);
  return report;
}

/**
 * The active span by seq numbers from `first`, stepping over holes: a
 * damaged record followed, within the lookahead, by records that continue
 * the sequence (UndoFifo.resumeAfter). A hole is either a FIFO write a crash
 * tore before its fsync, so no meta-data followed it and every UNDO past it
 * holds what the disk still has (applying it changes nothing), or damage to
 * a FIFO that was whole, whose cycle's meta-data did reach the disk (an UNDO
 * past it differs from the disk). Either way every UNDO that can be read is
 * rolled back: ending the span at the hole (HAMMER's rule) would leave the
 * crashed cycle applied and read as good (found by the corruption fuzzer).
 * Only the pre-images in the hole are lost, and damage says so. REDO past
 * the first hole is not replayed (`beforeHole`): an operation logged in the
 * hole would be missing under it.
 */
function scanSpan(device: BlockDevice, fifo: UndoFifo, first: number, firstSeq: number, report: RecoveryReport) {
  const scan = fifo.scan(first, firstSeq);
  const records = [...scan.records];
  let { end, endSeq } = scan;
  let beforeHole = records.length;
  for (let hole = 0; hole < HOLES_MAX; hole++) {
    const resume = fifo.resumeAfter(end, endSeq, first);
    if (resume === undefined) break;
    const more = fifo.scan(resume.offset, resume.seq);
    if (hole === 0) beforeHole = records.length;
    const lost = (resume.seq - endSeq) >>> 0;
    const written = more.records.find((entry) => undoDiffersFromDisk(device, entry));
    const what =
      `FIFO span has a hole at offset ${end} (${resume.problem}): ${lost} records lost, ` +
      `the sequence goes on at ${resume.offset} (seq ${resume.seq})`;
    if (written === undefined)
      report.notes.push(`${what}; every UNDO past it matches the disk (a FIFO write torn by a crash)`);
    else
      report.damage.push(
        `${what}; the cycle's meta-data had reached the disk (UNDO at ${written.offset} differs from it), ` +
          "so the UNDO in the hole is lost: what it covered keeps the crashed cycle's bytes",
      );
    records.push(...more.records);
    end = more.end;
    endSeq = more.endSeq;
  }
  return { records, end, endSeq, beforeHole };
}

/** Whether an UNDO record's pre-image differs from what its target holds on the device now. */
function undoDiffersFromDisk(device: BlockDevice, entry: ScannedRecord): boolean {
  if (entry.record.type !== FifoType.UNDO) return false;
  const { target, payload } = entry.record;
  const physical = undoPhysical(target);
  if (physical < HEADER_AREA_BYTES || physical + payload.length > device.size) return false;
  const disk = new Uint8Array(payload.length);
  device.read(physical, disk);
  return !disk.every((byte, i) => byte === payload[i]);
}

/** The device offset an UNDO target names (-1: not a raw-volume offset). */
function undoPhysical(target: number): number {
  return offZone(target) === Zone.RAW_VOLUME || offZone(target) === 0 ? offPart(target) : -1;
}

/** Copy one UNDO pre-image back to its target, through the buffer cache. */
function applyUndo(device: BlockDevice, cache: BufferCache, entry: ScannedRecord): void {
  if (entry.record.type !== FifoType.UNDO) return;
  const { target, payload } = entry.record;
  const physical = undoPhysical(target);
  if (physical < HEADER_AREA_BYTES || physical + payload.length > device.size) {
    throw new FsError(
      'EIO',
      `UNDO record at FIFO offset ${entry.offset}: target 0x${target.toString(16)} is outside the volume's meta-data`,
    );
  }
  let done = 0;
  while (done < payload.length) {
    const at = physical + done;
    const base = at - (at % BUFFER_BYTES);
    const n = Math.min(BUFFER_BYTES - (at - base), payload.length - done);
    const buffer = cache.get(base, 'meta');
    buffer.bytes.set(payload.subarray(done, done + n), at - base);
    cache.markDirtyNoUndo(buffer);
    done += n;
  }
}

/**
 * Stage 2's list. The newest SYNC in the span, or else the header's redo_start,
 * says where the extended span starts (it may precede first_offset). TERMs
 * found outside the nominal span cancel their WRITE/TRUNC; TERMs inside it do
 * not count, since the meta-data they vouched for was just undone.
 */
function collectRedo(
  fifo: UndoFifo,
  span: ScannedRecord[],
  report: RecoveryReport,
  redoStart: number | undefined,
): void {
  let from = redoStart;
  for (let i = span.length - 1; i >= 0; i--) {
    const entry = span[i];
    if (entry?.record.type === FifoType.REDO && (entry.record.flags & RedoFlag.SYNC) !== 0) {
      from = entry.record.offset;
      break;
    }
  }
  const outside = from === undefined || from === report.first ? [] : extendedPart(fifo, from, report);
  // In FIFO order: a WRITE or TRUNC is pending until a later TERM outside the
  // nominal span covers it (TERM_WRITE: its file range; TERM_TRUNC: the object).
  const pending: PendingRedo[] = [];
  const consider = (entry: ScannedRecord, termsCount: boolean) => {
    const record = entry.record;
    if (record.type !== FifoType.REDO) return;
    if (termsCount && record.flags & (RedoFlag.TERM_WRITE | RedoFlag.TERM_TRUNC)) {
      for (let i = pending.length - 1; i >= 0; i--) {
        const p = pending[i]?.record;
        if (p === undefined || p.objId !== record.objId || p.localization !== record.localization) continue;
        if (record.termBytes === TERM_ALL) {
          // p.seq before the boundary, in u32 wrap-around order.
          if ((p.seq - record.offset) >>> 0 >= 0x80000000) pending.splice(i, 1);
          continue;
        }
        const writeCovered =
          record.flags & RedoFlag.TERM_WRITE &&
          p.flags & RedoFlag.WRITE &&
          p.offset >= record.offset &&
          p.offset + p.payload.length <= record.offset + (record.termBytes ?? 0);
        const truncCovered = record.flags & RedoFlag.TERM_TRUNC && p.flags & RedoFlag.TRUNC;
        if (writeCovered || truncCovered) pending.splice(i, 1);
      }
    }
    if (record.flags & (RedoFlag.WRITE | RedoFlag.TRUNC)) pending.push({ fifoOffset: entry.offset, record });
  };
  for (const entry of outside) consider(entry, true);
  for (const entry of span) consider(entry, false);
  report.redo.push(...wholeOperations(pending));
}

/**
 * An operation logged as several records (CHAIN on all but its last) is
 * replayed whole or not at all: a chain the log ends inside, or that another
 * object's record interrupts, is dropped. Half a write (or a truncation
 * without the write that followed it) was never a state of the file.
 */
function wholeOperations(pending: PendingRedo[]): PendingRedo[] {
  const out: PendingRedo[] = [];
  let chain: PendingRedo[] = [];
  for (const entry of pending) {
    const r = entry.record;
    const first = chain[0]?.record;
    if (first !== undefined && (r.objId !== first.objId || r.localization !== first.localization)) chain = [];
    chain.push(entry);
    if (!(r.flags & RedoFlag.CHAIN)) {
      out.push(...chain);
      chain = [];
    }
  }
  return out;
}

/** The records from `from` up to first_offset, if they form an unbroken chain into the span. */
function extendedPart(fifo: UndoFifo, from: number, report: RecoveryReport): ScannedRecord[] {
  if (from < 0 || from >= fifo.size) {
    report.notes.push(`REDO SYNC points outside the FIFO (${from}); stage 2 uses the nominal span`);
    return [];
  }
  const probe = fifo.scan(from, undefined);
  const distance = (offset: number) => (offset - from + fifo.size) % fifo.size;
  const limit = distance(report.first);
  const reach = probe.records.findIndex((entry) => distance(entry.offset) >= limit);
  // The chain must be unbroken up to first_offset; the seq may jump there (a mount commit).
  const joined = reach >= 0 || distance(probe.end) >= limit;
  if (!joined) {
    report.notes.push(
      `REDO chain from offset ${from} does not reach first_offset ${report.first}; stage 2 uses the nominal span`,
    );
    return [];
  }
  report.stage2From = from;
  return reach >= 0 ? probe.records.slice(0, reach) : probe.records;
}
