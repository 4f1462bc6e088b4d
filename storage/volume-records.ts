import { assert } from './assert.js';
import type { Blockmap } from './blockmap.js';
import type { BTree } from './btree.js';
import type { Clock } from './clock.js';
import { type BTreeKey, type LeafElm, leafElm } from './format/btree-node.js';
import { offZone } from './layout.js';
import { type RecordData, recordDataCrc } from './record-data.js';
import type { RecordInput, VolumeCounters, VolumeObserver } from './volume-types.js';

/**
 * The record changes a flush cycle makes: records inserted with their data,
 * marked deleted, destroyed, their data moved, inode times patched. Volume
 * checks a cycle runs (and takes its TID) before it delegates here. The tree
 * is asked for at each change: mkfs creates it inside its first cycle.
 */
export class RecordOps {
  constructor(
    private readonly tree: () => BTree,
    private readonly data: RecordData,
    private readonly blockmap: Blockmap,
    private readonly clock: Clock,
    private readonly counters: VolumeCounters,
    private readonly observer: () => VolumeObserver | undefined,
  ) {}

  /** Insert a record created by cycle `tid`, writing its data to the zone its type and size call for. */
  insert(tid: number, input: RecordInput, data?: Uint8Array): LeafElm {
    const hasData = data !== undefined && data.length > 0;
    const elm = leafElm(
      {
        localization: input.localization,
        objId: input.objId,
        recType: input.recType,
        key: input.key,
        createTid: tid,
      },
      {
        deleteTid: 0,
        objType: input.objType,
        createTs: Math.floor(this.clock.now() / 1e6),
        deleteTs: 0,
        dataOffset: hasData ? this.data.write(input.recType, data) : 0,
        dataLen: hasData ? data.length : 0,
        dataCrc: hasData ? recordDataCrc(input.recType, data) : 0,
      },
    );
    this.tree().insert(elm);
    this.counters.recordsInserted++;
    return elm;
  }

  /** Mark a record deleted as of cycle `tid` (history keeps it). */
  delete(tid: number, key: BTreeKey): LeafElm {
    const elm = this.tree().markDeleted(key, tid, Math.floor(this.clock.now() / 1e6));
    this.counters.recordsDeleted++;
    return elm;
  }

  /** Remove a record physically and free its data (pruning, no-history files). */
  destroy(key: BTreeKey): LeafElm {
    const elm = this.tree().destroy(key);
    if (elm.dataLen > 0) this.blockmap.free(elm.dataOffset, elm.dataLen);
    const observer = this.observer();
    if (observer?.active) {
      const { objId, recType, createTid } = key;
      observer.note('RECORD_DESTROY', { objId, recType, key: key.key, createTid });
    }
    return elm;
  }

  /**
   * Reblocking: copy a record's data to fresh space of its zone, repoint the
   * record and free the old space. The old bytes stay untouched until this
   * cycle commits (a freed big-block is reused only after), so a crash before
   * the commit rolls the record back to data that is still there.
   */
  moveData(key: BTreeKey): LeafElm {
    const tree = this.tree();
    const elm = tree.lookupExact(key);
    assert(elm.dataLen > 0, 'a record moved by reblocking has data');
    const offset = this.data.write(elm.recType, this.data.read(elm));
    assert(offZone(offset) === offZone(elm.dataOffset), 'moved data stays in its zone');
    const moved = tree.setDataOffset(elm, offset);
    this.blockmap.free(elm.dataOffset, elm.dataLen);
    return moved;
  }

  /**
   * Patch an inode record's times in place (outside its CRC): mtime under
   * UNDO, atime without, no new version either way.
   */
  patchInodeTimes(elm: LeafElm, times: { mtime?: number; atime?: number }): void {
    this.data.patchInodeTimes(elm, times);
    const observer = this.observer();
    if (observer?.active) observer.note('INODE_TIMES', { objId: elm.objId, mtime: times.mtime, atime: times.atime });
  }
}
