import type { Clock } from './clock.js';

/** The options, inputs and reports of the storage API's Volume; storage/volume.ts re-exports them all. */

export interface MkfsOptions {
  /** Volume size in bytes (the file is made this big, sparse). */
  size: number;
  /** UNDO/REDO FIFO size in bytes, a multiple of 8 MiB (1 to 128 big-blocks). */
  undoBytes: number;
  label?: string;
  /** 32 hex digits identifying the filesystem. */
  fsid?: string;
  clock: Clock;
}

export interface MountOptions {
  clock: Clock;
  readOnly?: boolean;
  /** Clean 16 KiB buffers kept cached between operations. */
  cacheBuffers?: number;
}

/** What a caller gives to insert a record; the volume fills TIDs, times and data fields. */
export interface RecordInput {
  localization: number;
  objId: number;
  recType: number;
  key: number;
  objType: number;
}

export interface VolumeStats {
  label: string;
  fsid: string;
  generation: number;
  nextTid: number;
  lastCommitTid: number;
  inodes: number;
  bigblocks: number;
  freeBigblocks: number;
  fifoBytes: number;
  fifoUsedBytes: number;
  btreeRoot: number;
}

/** Counters of this mount, for benchmarks and the event bus. */
export interface VolumeCounters {
  cycles: number;
  finalizes: number;
  fsyncs: number;
  metaBytesWritten: number;
  dataBytesWritten: number;
  fifoBytesWritten: number;
  /** Records inserted and marked deleted (the backend reports them per inode it syncs). */
  recordsInserted: number;
  recordsDeleted: number;
}

/**
 * Told of every change the volume makes (records, time patches, REDO, FIFO
 * and meta-data writes, the header): the actors layer forwards these to its
 * event bus. Unset, it costs one branch.
 */
export interface VolumeObserver {
  /** Whether anyone listens now (payloads are built only then). */
  readonly active: boolean;
  note(type: string, payload: Record<string, unknown>): void;
}
