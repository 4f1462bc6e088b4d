import { InodeFlag, MODMASK } from '../machines/inode-flags.js';
import { assert } from '../storage/assert.js';
import type { FlushSynced } from '../storage/audit-schema.js';
import { type BTreeKey, keyOf } from '../storage/format/btree-node.js';
import { RedoFlag, TERM_ALL } from '../storage/format/fifo.js';
import { encodeInode, type InodeData } from '../storage/format/records.js';
import { KEY_MAX, KEY_MIN, RecType, TID_MAX } from '../storage/layout.js';
import type { Inode } from './inode.js';
import { blockSize, dataLocalization, inodeLocalization, rangeHi, rangeLo } from './keys.js';
import { changedInode, type Mount } from './mount.js';
import { clearTruncation, markTruncation, syncOrphan } from './orphans.js';
import {
  compareRecords,
  dropRecord,
  hasFlag,
  indexDel,
  type MemRecord,
  RecordFlag,
  untarget as untargetRecord,
} from './records.js';

/** What sync_inode leaves for flush_inode_done. */
export interface SyncOutcome {
  /** Sync flags the backend did not complete. */
  unsynced: number;
  /** ONDISK / DELONDISK / DELETED established by this run. */
  setFlags: number;
  /** The nlinks this run synced (the frontend's may differ: DDIRTY again). */
  syncNlinks: number;
  /** What the run did, for the FLUSH_DONE fact: the sync flags it was given (`flushed`), B-tree records inserted and marked deleted. */
  synced?: FlushSynced;
}

const TIMES = InodeFlag.ATIME | InodeFlag.MTIME;
/** Records synced between two looks at the dirty meta-data (hammer_flusher_meta_limit). */
const META_CHECK_EVERY = 16;
const INODE_WRITE = InodeFlag.DDIRTY | InodeFlag.SDIRTY | TIMES;

/**
 * The backend (hammer_sync_inode and its callbacks): runs inside a flush
 * cycle, works only from the copy frozen at flush_inode_core (`syncData`,
 * `syncFlags`, `syncTruncOff`) and the records in FLUSH state, and writes
 * through the volume. A failure propagates (the seed drops a record-sync
 * error; we do not): the flusher aborts the cycle.
 */
export class Backend {
  private readonly outcomes = new Map<Inode, SyncOutcome>();
  /** Targets whose last dependency resolved during the run (hammer_test_inode afterwards). */
  readonly released = new Set<Inode>();
  private recordsSinceCheck = 0;
  /** The inode data a run that would block wrote (its truncation goes on in the next run). */
  private readonly deferred = new Map<Inode, InodeData>();
  /** Inodes an emergency finalize committed part-way: their last run writes the inode record again. */
  private readonly checkpointed = new Set<Inode>();

  constructor(private readonly mount: Mount) {}

  /** Records synced since the last check of the dirty meta-data (a replay checkpoint keeps it); undefined while a run left something behind. */
  memo(): number | undefined {
    const quiet = this.outcomes.size === 0 && this.released.size === 0 && this.deferred.size === 0;
    return quiet && this.checkpointed.size === 0 ? this.recordsSinceCheck : undefined;
  }

  /** Go on from memo() (a mount resumed from a replay checkpoint). */
  resume(recordsSinceCheck: number): void {
    this.recordsSinceCheck = recordsSinceCheck;
  }

  /** After a critical error (Mount.destroyInodes): what a failed run left for inodes that will never run again. */
  destroy(): void {
    this.outcomes.clear();
    this.released.clear();
    this.deferred.clear();
    this.checkpointed.clear();
  }

  takeOutcome(ip: Inode): SyncOutcome {
    const outcome = this.outcomes.get(ip);
    this.outcomes.delete(ip);
    return outcome ?? { unsynced: ip.syncFlags, setFlags: 0, syncNlinks: ip.syncData?.nlinks ?? ip.ino.nlinks };
  }

  syncInode(ip: Inode, tid: number): void {
    let sync = ip.syncFlags;
    let data = ip.syncData;
    assert(data !== undefined, 'a flushing inode has its frozen copy');
    if ((sync & MODMASK) === 0) {
      this.outcomes.set(ip, { unsynced: sync, setFlags: 0, syncNlinks: data.nlinks });
      return;
    }
    const counters = this.mount.volume.counters;
    const inserted = counters.recordsInserted;
    const deleted = counters.recordsDeleted;
    const syncFlags = sync;
    const nlinks = this.syncedNlinks(ip);
    if (data.nlinks !== nlinks) {
      assert(nlinks >= 0, 'synced nlinks never goes negative');
      data = changedInode(data, (draft) => {
        draft.nlinks = nlinks;
      });
      sync |= InodeFlag.DDIRTY;
    }
    let setFlags = 0;
    let deferred = false;
    if (sync & InodeFlag.TRUNCATED) {
      const size = blockSize(ip.syncTruncOff);
      const aligned = Math.ceil(ip.syncTruncOff / size) * size;
      if (!this.deleteRange(ip, aligned)) {
        ip.send({ type: 'WOULDBLOCK' });
        deferred = true;
        this.deferred.set(ip, data);
      } else {
        sync &= ~InodeFlag.TRUNCATED;
        this.deferred.delete(ip);
        clearTruncation(this.mount.volume, ip);
        // The record an emergency finalize wrote was the part-way one: the whole one goes now.
        if (this.checkpointed.delete(ip)) sync |= InodeFlag.DDIRTY;
      }
    }
    if (!deferred) {
      for (const record of [...ip.records].sort(compareRecords)) {
        if (record.state === 'flush') this.syncRecord(record, sync);
      }
      if (ip.records.size === 0) sync &= ~InodeFlag.XDIRTY;
      if (ip.redoTermSeq !== undefined) {
        // Everything the inode logged as REDO before it was frozen is on disk with this cycle.
        this.redo(ip, RedoFlag.TERM_WRITE | RedoFlag.TERM_TRUNC, ip.redoTermSeq, TERM_ALL);
        ip.redoTermSeq = undefined;
      }
      if (data.nlinks === 0 && ip.records.size === 0 && sync & InodeFlag.DELETING && !ip.has(InodeFlag.DELETED)) {
        this.deleteClean(ip);
        setFlags |= InodeFlag.DELETED;
        sync &= ~(InodeFlag.DELETING | InodeFlag.TRUNCATED);
        if (ip.has(InodeFlag.ONDISK)) this.mount.volume.adjustInodeCount(-1);
      }
      sync &= ~InodeFlag.BUFS;
    }
    const result = this.updateInode(ip, data, sync, setFlags, tid);
    this.outcomes.set(ip, {
      unsynced: result.sync,
      setFlags: result.setFlags,
      syncNlinks: data.nlinks,
      // Reported with the inode's FLUSH_DONE: the records (inode record included) this run wrote for it.
      synced: {
        tid,
        flushed: syncFlags,
        inserted: counters.recordsInserted - inserted,
        deleted: counters.recordsDeleted - deleted,
      },
    });
  }

  /**
   * nlinks as the disk will have it after this run: records targeting us in
   * the group are written with us (resolved now, except a frontend-deleted
   * ADD, which is still written); the others undo what the frontend counted.
   */
  private syncedNlinks(ip: Inode): number {
    let nlinks = ip.ino.nlinks;
    for (const depend of [...ip.targetList]) {
      const deletedFe = hasFlag(depend, RecordFlag.DELETED_FE);
      if (depend.state === 'flush' && depend.group === ip.group) {
        if (deletedFe) nlinks++;
        else this.untarget(depend);
      } else if (!deletedFe) {
        assert(!hasFlag(depend, RecordFlag.DELETED_BE), 'a pending dependency was not disposed of');
        if (depend.type === 'ADD') nlinks--;
        else if (depend.type === 'DEL') nlinks++;
      }
    }
    return nlinks;
  }

  private untarget(record: MemRecord): void {
    const released = untargetRecord(record);
    if (released !== undefined) this.released.add(released);
  }

  /**
   * Delete the file's DATA records at or past `from` (hammer_ip_delete_range).
   * At most `truncateBatch` a run: false = would block, the group re-runs.
   */
  private deleteRange(ip: Inode, from: number): boolean {
    const volume = this.mount.volume;
    const loc = dataLocalization(ip.localization);
    const lo = rangeLo(loc, ip.objId, RecType.DATA, from + 1);
    const hi = rangeHi(loc, ip.objId, RecType.DATA, KEY_MAX);
    const victims = volume.scan(lo, hi, TID_MAX).filter((elm) => elm.key - elm.dataLen >= from);
    const batch = victims.slice(0, this.mount.options.truncateBatch);
    for (const elm of batch) this.removeElm(ip, elm);
    this.mount.counters.truncatedRecords += batch.length;
    return batch.length === victims.length;
  }

  /** Delete (history kept) or destroy (no-history) an on-disk record of `ip`. */
  private removeElm(ip: Inode, key: BTreeKey): void {
    // A version created by this very cycle (a re-run replacing it) has no history to keep.
    if (ip.noHistory || key.createTid === this.mount.volume.cycleTid) this.mount.volume.destroyRecord(key);
    else this.mount.volume.deleteRecord(key);
  }

  /** hammer_sync_record_callback: one record of the inode's flush. */
  private syncRecord(record: MemRecord, sync: number): void {
    const ip = record.ip;
    assert(record.group === ip.group, 'a record flushes in its inode flush group');
    assert(record.state === 'flush', 'only a record in FLUSH is synced');
    assert(dataLocalization(ip.localization) !== 0, 'a synced record has a localization');
    assert(!hasFlag(record, RecordFlag.INTERLOCK_BE), 'a record is synced once');
    record.flags |= RecordFlag.INTERLOCK_BE;
    if (!hasFlag(record, RecordFlag.DELETED_BE | RecordFlag.COMMITTED)) this.writeRecord(record, sync);
    this.flushRecordDone(record);
    const volume = this.mount.volume;
    // Counting dirty buffers walks the cache: look every few records (the limit is a soft bound).
    if (++this.recordsSinceCheck < META_CHECK_EVERY) return;
    this.recordsSinceCheck = 0;
    if (volume.dirtyMetaBytes() > this.mount.options.metaLimitBytes) {
      volume.finalize(false);
      this.mount.counters.partialFinalizes++;
    }
  }

  private writeRecord(record: MemRecord, sync: number): void {
    const ip = record.ip;
    if (sync & InodeFlag.DELETING) {
      assert(record.type !== 'ADD', 'no directory add is synced while its directory is being deleted');
      assert(record.type !== 'INODE', 'an inode record is never synced as a record');
      if (record.type !== 'DEL') {
        record.flags |= RecordFlag.DELETED_BE;
        return;
      }
    }
    if (hasFlag(record, RecordFlag.DELETED_FE)) {
      if (record.type === 'ADD') {
        assert(
          !hasFlag(record, RecordFlag.COMMITTED) && record.state === 'flush',
          'CONVERT_DELETE marks an uncommitted ADD in FLUSH',
        );
        record.flags |= RecordFlag.CONVERT_DELETE;
      } else {
        assert(record.type !== 'DEL', 'a directory delete is never deleted by the frontend');
        record.flags |= RecordFlag.DELETED_BE;
        return;
      }
    }
    const volume = this.mount.volume;
    // A REDO-covered block needs no TERM of its own: the inode's TERM (TERM_ALL) covers it.
    assert(!hasFlag(record, RecordFlag.REDO) || record.type === 'DATA', 'only DATA records carry REDO');
    switch (record.type) {
      case 'ADD': {
        const elm = volume.insertRecord(
          {
            localization: dataLocalization(ip.localization),
            objId: ip.objId,
            recType: RecType.DIRENTRY,
            key: record.key,
            objType: 0,
          },
          record.data,
        );
        record.diskKey = keyOf(elm);
        break;
      }
      case 'DEL':
        assert(record.diskKey !== undefined, 'a DEL record names the entry it deletes');
        this.removeElm(ip, record.diskKey);
        break;
      case 'DATA':
        this.writeBlock(record);
        break;
      case 'GENERAL': {
        const base = {
          localization: dataLocalization(ip.localization),
          objId: ip.objId,
          recType: record.recType,
          key: record.key,
        };
        const old = volume.lookup(base);
        if (old !== undefined) this.removeElm(ip, old);
        volume.insertRecord({ ...base, objType: 0 }, record.data);
        break;
      }
      case 'INODE':
        assert(false, 'an inode record is never synced as a record');
    }
    if (!hasFlag(record, RecordFlag.CONVERT_DELETE)) record.flags |= RecordFlag.COMMITTED;
    this.mount.counters.recordsSynced++;
  }

  /** A DATA record replaces whatever the disk holds for its block (the overwrite deletion). */
  private writeBlock(record: MemRecord): void {
    const ip = record.ip;
    const volume = this.mount.volume;
    const loc = dataLocalization(ip.localization);
    const size = blockSize(record.base);
    // Nothing of an inode's first flush is on disk yet: no overwrite to look for.
    if (ip.has(InodeFlag.ONDISK)) {
      const lo = rangeLo(loc, ip.objId, RecType.DATA, record.base + 1);
      const hi = rangeHi(loc, ip.objId, RecType.DATA, record.base + size);
      for (const old of volume.scan(lo, hi, TID_MAX)) this.removeElm(ip, old);
    }
    if (record.data.length > 0) {
      volume.insertRecord(
        { localization: loc, objId: ip.objId, recType: RecType.DATA, key: record.key, objType: 0 },
        record.data,
      );
    }
  }

  /** hammer_flush_record_done: the record leaves its group; a CONVERT_DELETE ADD becomes a pending DEL. */
  private flushRecordDone(record: MemRecord): void {
    const ip = record.ip;
    this.mount.flusher.group(record.group)?.dropRef();
    if (record.type === 'ADD' || record.type === 'DEL') ip.entryCommitted(record.name);
    if (hasFlag(record, RecordFlag.CONVERT_DELETE)) {
      record.type = 'DEL';
      record.flags = 0;
      record.state = record.target === undefined ? 'idle' : 'setup';
      record.group = undefined;
      if (ip.names.get(record.name) === record) ip.names.delete(record.name);
      ip.dels.set(diskKeyId(record.diskKey), record);
      indexDel(ip, record);
      return;
    }
    assert(
      hasFlag(record, RecordFlag.COMMITTED | RecordFlag.DELETED_BE),
      'a finished record was written or disposed of',
    );
    dropRecord(this.mount, record);
    this.untarget(record);
  }

  /** hammer_ip_delete_clean: the auxiliary records of a deleted inode. */
  private deleteClean(ip: Inode): void {
    const loc = dataLocalization(ip.localization);
    const lo = rangeLo(loc, ip.objId, 0, KEY_MIN);
    const hi = rangeHi(loc, ip.objId, 0xffff, KEY_MAX);
    for (const elm of this.mount.volume.scan(lo, hi, TID_MAX)) {
      assert(elm.recType !== RecType.DIRENTRY, 'a deleted directory has no entries left');
      this.removeElm(ip, elm);
    }
  }

  /**
   * HAMMER's emergency finalize is about to commit `ip` part-way through its
   * truncation (flusher.ts): make what commits a state the file had. The
   * inode record becomes the one this run wrote with the size cut to the
   * truncation point (the records of the run's later writes are not synced
   * yet, the old ones up to that point still are), and a TRUNCATION record
   * marks the rest as still to delete. An inode on its way out (no links, an
   * ORPHAN record) needs no mark: the orphan pass deletes all of it.
   */
  checkpointTruncation(ip: Inode): void {
    const data = this.deferred.get(ip);
    assert(data !== undefined && ip.has(InodeFlag.WOULDBLOCK) === false, 'a checkpoint follows a run that would block');
    this.checkpointed.add(ip);
    if (data.size > ip.syncTruncOff) {
      this.writeInodeRecord(
        ip,
        changedInode(data, (draft) => {
          draft.size = ip.syncTruncOff;
        }),
      );
    }
    if (!ip.orphanOnDisk) markTruncation(this.mount.volume, ip);
  }

  /** Replace the inode's record (the old one kept as history unless this very cycle wrote it). */
  private writeInodeRecord(ip: Inode, data: InodeData): void {
    if (ip.has(InodeFlag.ONDISK) && ip.leaf !== undefined) this.removeElm(ip, ip.leaf);
    ip.leaf = this.mount.volume.insertRecord(
      {
        localization: inodeLocalization(ip.localization),
        objId: ip.objId,
        recType: RecType.INODE,
        key: 0,
        objType: data.objType,
      },
      encodeInode(data),
    );
  }

  /**
   * hammer_update_inode / hammer_update_itimes: write a new inode record
   * (the old one deleted, history kept), patch only the times in place, or
   * delete the record of a deleted inode. Returns the flags left.
   */
  private updateInode(ip: Inode, data: InodeData, sync: number, setFlags: number, tid: number) {
    const volume = this.mount.volume;
    const deleted = ip.has(InodeFlag.DELETED) || (setFlags & InodeFlag.DELETED) !== 0;
    const onDisk = ip.has(InodeFlag.ONDISK);
    if (deleted) {
      sync &= ~(INODE_WRITE | InodeFlag.XDIRTY | InodeFlag.DELETING);
      if (!onDisk) for (const record of [...ip.records]) this.dispose(record);
      if (onDisk && ip.leaf !== undefined && !ip.has(InodeFlag.DELONDISK)) {
        this.removeElm(ip, ip.leaf);
        syncOrphan(volume, ip, 0, true);
        setFlags |= InodeFlag.DELONDISK;
      }
      return { sync, setFlags };
    }
    if (!onDisk) sync |= InodeFlag.DDIRTY;
    if (!(sync & (InodeFlag.DDIRTY | InodeFlag.SDIRTY)) && sync & TIMES) {
      assert(ip.leaf !== undefined, 'an inode on disk has its element');
      volume.patchInodeTimes(ip.leaf, {
        mtime: sync & InodeFlag.MTIME ? data.mtime : undefined,
        atime: sync & InodeFlag.ATIME ? data.atime : undefined,
      });
      this.mount.counters.itimesPatches++;
      return { sync: sync & ~TIMES, setFlags };
    }
    if (sync & INODE_WRITE) {
      this.writeInodeRecord(ip, data);
      syncOrphan(volume, ip, data.nlinks, false);
      if (!onDisk) {
        volume.adjustInodeCount(1);
        setFlags |= InodeFlag.ONDISK;
      }
      this.mount.counters.inodeRecords++;
      sync &= ~INODE_WRITE;
    }
    assert(ip.leaf === undefined || ip.leaf.createTid <= tid, 'the inode element is from this flush or before');
    return { sync, setFlags };
  }

  private dispose(record: MemRecord): void {
    record.flags |= RecordFlag.DELETED_BE;
    if (record.state === 'flush') this.mount.flusher.group(record.group)?.dropRef();
    dropRecord(this.mount, record);
    this.untarget(record);
  }

  private redo(ip: Inode, flags: number, offset: number, termBytes: number): void {
    this.mount.volume.appendRedo({
      flags,
      objId: ip.objId,
      localization: dataLocalization(ip.localization),
      offset,
      mtime: 0,
      payload: new Uint8Array(0),
      termBytes,
    });
  }
}

export { keyOf };

export function diskKeyId(key: BTreeKey | undefined): string {
  assert(key !== undefined, 'an on-disk key is known');
  return `${key.key}:${key.createTid}`;
}
