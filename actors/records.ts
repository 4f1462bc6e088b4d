import type { BTreeKey } from '../storage/format/btree-node.js';
import type { Inode } from './inode.js';

/**
 * In-memory records (hammer_record): what the frontend queued on an inode
 * for the backend to write. ADD / DEL are directory entries (their target is
 * the child inode, whose target_list holds them), DATA a file block, GENERAL
 * an auxiliary record (a long symlink target), INODE reserved (never synced).
 */
export type RecordType = 'ADD' | 'DEL' | 'DATA' | 'GENERAL' | 'INODE';

export const RecordFlag = {
  /** The frontend deleted it (an unlinked ADD, an overwritten block). */
  DELETED_FE: 1 << 0,
  /** The backend disposed of it without writing it. */
  DELETED_BE: 1 << 1,
  /** The backend wrote it to the B-tree. */
  COMMITTED: 1 << 2,
  /** The backend holds it: the frontend can no longer change its fate. */
  INTERLOCK_BE: 1 << 3,
  /** An ADD deleted by the frontend while flushing: sync it, then it becomes a DEL. */
  CONVERT_DELETE: 1 << 4,
  /** A DATA record whose bytes are also in the REDO log (TERM_WRITE when committed). */
  REDO: 1 << 5,
} as const;

export type FlushState = 'idle' | 'setup' | 'flush';

export interface MemRecord {
  /** Creation order: ties between records of one key go to the older. */
  readonly id: number;
  type: RecordType;
  /** The inode the record belongs to (the directory for ADD / DEL). */
  readonly ip: Inode;
  /** ADD / DEL: the child inode; cleared when the dependency resolves. */
  target: Inode | undefined;
  state: FlushState;
  /** The flush group it belongs to while in FLUSH. */
  group: number | undefined;
  flags: number;
  readonly recType: number;
  /** The B-tree key: name hash + collision (entries), end offset (DATA), or the key given. */
  key: number;
  /** DATA: the file offset the block starts at. */
  readonly base: number;
  /** Frozen payload: the directory entry, the block's bytes, the general record's data. */
  readonly data: Uint8Array;
  /** ADD / DEL: the entry's name. */
  readonly name: string;
  /** DEL: the on-disk element it deletes (with its create_tid). */
  diskKey: BTreeKey | undefined;
}

export function hasFlag(record: MemRecord, flag: number): boolean {
  return (record.flags & flag) !== 0;
}

/** Records are synced in B-tree order (rec type, key), older first within a key. */
export function compareRecords(a: MemRecord, b: MemRecord): number {
  return a.recType - b.recType || a.key - b.key || a.id - b.id;
}
