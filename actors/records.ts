import { InodeFlag } from '../machines/inode-flags.js';
import { assert } from '../storage/assert.js';
import type { BTreeKey } from '../storage/format/btree-node.js';
import type { Inode } from './inode.js';
import type { Mount } from './mount.js';

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

/** A pending DEL is findable by name until it is committed or dropped. */
export function indexDel(ip: Inode, record: MemRecord): void {
  const set = ip.delsByName.get(record.name) ?? new Set<MemRecord>();
  set.add(record);
  ip.delsByName.set(record.name, set);
}

function unindexDel(ip: Inode, record: MemRecord): void {
  const set = ip.delsByName.get(record.name);
  if (set === undefined) return;
  set.delete(record);
  if (set.size === 0) ip.delsByName.delete(record.name);
}

/** A new in-memory record of `mount` (IDLE, no group or flags). */
export function newRecord(
  mount: Mount,
  init: Omit<MemRecord, 'id' | 'state' | 'group' | 'flags' | 'diskKey'> & { diskKey?: MemRecord['diskKey'] },
): MemRecord {
  // Every field written in one order: all records share one shape, so the code reading them stays monomorphic.
  return {
    id: mount.recordId(),
    type: init.type,
    ip: init.ip,
    target: init.target,
    state: 'idle',
    group: undefined,
    flags: 0,
    recType: init.recType,
    key: init.key,
    base: init.base,
    data: init.data,
    name: init.name,
    diskKey: init.diskKey,
  };
}

/** hammer_mem_add: the record joins its inode's tree (XDIRTY); a dependency puts the target in SETUP. */
export function addRecord(mount: Mount, record: MemRecord): void {
  const ip = record.ip;
  ip.records.add(record);
  if (record.type === 'ADD' || record.type === 'DEL')
    ip.entryKeys.set(record.key, (ip.entryKeys.get(record.key) ?? 0) + 1);
  if (record.target !== undefined) {
    record.state = 'setup';
    record.target.targetList.push(record);
    if (record.target.state === 'idle') record.target.send({ type: 'DEPEND' });
    mount.held(record.target);
  }
  mount.modified(ip, InodeFlag.XDIRTY);
}

/** The record leaves its inode's tree and indexes (committed, disposed of, or dropped by the frontend). */
export function dropRecord(mount: Mount, record: MemRecord): void {
  const ip = record.ip;
  if ((record.type === 'ADD' || record.type === 'DEL') && ip.records.has(record)) {
    const count = (ip.entryKeys.get(record.key) ?? 0) - 1;
    assert(count >= 0, 'an entry key is counted once per record');
    if (count === 0) ip.entryKeys.delete(record.key);
    else ip.entryKeys.set(record.key, count);
  }
  assert(
    record.state !== 'flush' || (record.flags & (RecordFlag.COMMITTED | RecordFlag.DELETED_BE)) !== 0,
    'a record is freed only outside FLUSH, or once the backend wrote or disposed of it',
  );
  ip.records.delete(record);
  if (record.type === 'DATA' && ip.blocks.get(record.base) === record) {
    ip.blocks.delete(record.base);
    mount.dirtyDataBytes -= record.data.length;
  }
  if (record.type === 'ADD' && ip.names.get(record.name) === record) ip.names.delete(record.name);
  if (record.type === 'DEL' && record.diskKey !== undefined) {
    const id = `${record.diskKey.key}:${record.diskKey.createTid}`;
    if (ip.dels.get(id) === record) ip.dels.delete(id);
  }
  if (record.type === 'DEL' || record.type === 'ADD') unindexDel(ip, record);
  if (ip.records.size === 0 && ip.has(InodeFlag.XDIRTY)) ip.send({ type: 'RECORDS_EMPTY' });
}

/**
 * The record no longer holds its target (it was written, disposed of, or
 * dropped by the frontend): it leaves the target's list. Returns the target
 * when nothing else holds it any more (hammer_test_inode's cue).
 */
export function untarget(record: MemRecord): Inode | undefined {
  const target = record.target;
  if (target === undefined) return undefined;
  const at = target.targetList.indexOf(record);
  assert(at >= 0, 'a record with a target is on its target list');
  target.targetList.splice(at, 1);
  record.target = undefined;
  return target.targetList.length === 0 ? target : undefined;
}
