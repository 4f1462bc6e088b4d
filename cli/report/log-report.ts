import type { AuditReader } from '../../storage/audit-reader.js';
import { ReportBuilder } from './builder.js';
import type { ReportModel } from './model.js';
import { inodeSequence } from './sequence.js';

/**
 * The report of an audit log (`hammerstate viz log`): two passes over the
 * log, one row at a time (the reader never holds the log in memory): the
 * first builds the numbers and finds the busiest inode, the second draws
 * the chosen inode's sequence.
 */
export interface LogReportOptions {
  /** An inode actor id or obj_id (default: the inode actor with the most events). */
  inode?: string;
  /** The time-travel window (default MAX_EVENTS_DEFAULT). */
  maxEvents?: number;
  /** Told the seq reached, of the log's last, every PROGRESS_EVENTS events (the CLI's progress bar). */
  progress?: (seq: number, lastSeq: number) => void;
}

const PROGRESS_EVENTS = 10_000;

export function logReport(reader: AuditReader, options: LogReportOptions = {}): ReportModel {
  const builder = new ReportBuilder({ title: reader.path, maxEvents: options.maxEvents });
  if (!reader.startsAtMkfs) {
    builder.notes.push("The log does not start at mkfs: the volume's earlier history is not in it.");
  }
  let count = 0;
  for (const event of reader.events()) {
    builder.add(event);
    if (++count % PROGRESS_EVENTS === 0) options.progress?.(event.seq, reader.lastSeq);
  }
  const inode = options.inode === undefined ? builder.mostActiveInode() : builder.resolveInode(options.inode);
  const sequence = inode === undefined ? undefined : inodeSequence(reader.events(), inode);
  return builder.model(sequence);
}
