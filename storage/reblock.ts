import { assert } from './assert.js';
import { ZONE_FREE } from './blockmap.js';
import { FsError } from './errors.js';
import type { BTreeKey } from './format/btree-node.js';
import { ALLOC_ZONES, BIGBLOCK_BYTES, NODE_BYTES, offPart } from './layout.js';
import { allRecords, inCycles, type MaintenanceProgress } from './maintenance.js';
import type { Volume } from './volume.js';

/**
 * HAMMER's reblocker (`hammer reblock`): big-blocks of the data, meta-data and
 * B-tree zones that are less than `fillPercent` full are emptied by moving
 * what lives in them (record data, every version; B-tree nodes) to the
 * zones' append points, so the freemap frees them. A zone's current append
 * big-block is never a source (moving into it would gain nothing); sources
 * go sparsest first, so the big-blocks the first cycles free can take the
 * data of later ones. Each move copies to fresh space and frees the old
 * space, which is reusable only after its cycle commits: a crash rolls the
 * running cycle back to records that still point at intact bytes
 * (storage/maintenance.ts).
 */
export interface ReblockReport {
  fillPercent: number;
  /** Big-blocks below the fill level when the reblock started (the sources). */
  bigblocksExamined: number;
  /** Sources that were freed once their last move was made. */
  bigblocksEmptied: number;
  /**
   * Free big-blocks after minus before: the emptied ones less those the moves
   * filled. Near-full sources gain little (at 100%, nothing but compaction).
   */
  bigblocksFreed: number;
  recordsMoved: number;
  nodesMoved: number;
  /** Record data plus 4 KiB per node moved. */
  bytesMoved: number;
  cycles: number;
}

export interface ReblockOptions {
  /** Big-blocks less than this percentage full are emptied (hammer's default: 100, every one not full). */
  fillPercent: number;
  /** Moves per cycle (default MAINTENANCE_BATCH). */
  batch?: number;
  progress?: MaintenanceProgress;
}

/** One move; `last` on the last move out of its big-block (whose freeing is then checked). */
type Move = ({ kind: 'data'; key: BTreeKey; bytes: number } | { kind: 'node'; offset: number }) & { last?: number };

function bigblockOf(offset: number): number {
  return Math.floor(offPart(offset) / BIGBLOCK_BYTES);
}

/** Source big-blocks, sparsest first: in an allocation zone, in use, below the fill level, not an append point. */
function sources(volume: Volume, fillPercent: number): number[] {
  const freemap = volume.freemap();
  const current = new Set<number>();
  for (const { base } of freemap.zoneState().values()) if (base !== 0) current.add(bigblockOf(base));
  const zones = new Set<number>(ALLOC_ZONES);
  const out: Array<{ index: number; used: number }> = [];
  for (let index = 0; index < freemap.bigblocks; index++) {
    const entry = freemap.entry(index);
    if (entry.zone === ZONE_FREE || !zones.has(entry.zone) || current.has(index)) continue;
    const used = BIGBLOCK_BYTES - entry.bytesFree;
    if (used > 0 && used * 100 < fillPercent * BIGBLOCK_BYTES) out.push({ index, used });
  }
  return out.sort((a, b) => a.used - b.used || a.index - b.index).map((s) => s.index);
}

/** What lives in the source big-blocks, in source order: record data (every version) and B-tree nodes. */
function movesOut(volume: Volume, order: readonly number[]): Move[] {
  const rank = new Map(order.map((index, i) => [index, i]));
  const byBigblock: Move[][] = order.map(() => []);
  for (const elm of allRecords(volume)) {
    const at = elm.dataLen > 0 ? rank.get(bigblockOf(elm.dataOffset)) : undefined;
    if (at !== undefined) byBigblock[at]?.push({ kind: 'data', key: elm, bytes: elm.dataLen });
  }
  for (const { node } of volume.btree.walk()) {
    const at = rank.get(bigblockOf(node.offset));
    if (at !== undefined) byBigblock[at]?.push({ kind: 'node', offset: node.offset });
  }
  byBigblock.forEach((moves, i) => {
    const last = moves[moves.length - 1];
    if (last !== undefined) last.last = order[i];
  });
  return byBigblock.flat();
}

/** Reblock `volume` (mounted read-write at the storage level, no cycle running). EINVAL for a bad fill level. */
export function reblock(volume: Volume, options: ReblockOptions): ReblockReport {
  const { fillPercent } = options;
  if (!Number.isInteger(fillPercent) || fillPercent < 0 || fillPercent > 100)
    throw new FsError('EINVAL', `reblock: the fill level is a percentage from 0 to 100, got ${fillPercent}`);
  assert(volume.cycleTid === undefined, 'reblock starts between flush cycles');
  const freeBefore = volume.stats().freeBigblocks;
  const order = sources(volume, fillPercent);
  const moves = movesOut(volume, order);
  const report = { bigblocksEmptied: 0, recordsMoved: 0, nodesMoved: 0, bytesMoved: 0 };
  const cycles = inCycles(
    volume,
    moves,
    (move) => {
      if (move.kind === 'data') {
        volume.moveRecordData(move.key);
        report.recordsMoved++;
        report.bytesMoved += move.bytes;
      } else {
        volume.moveNode(move.offset);
        report.nodesMoved++;
        report.bytesMoved += NODE_BYTES;
      }
      // A freed big-block is not reused before its cycle commits: checked here, it is this move's doing.
      if (move.last !== undefined && volume.freemap().entry(move.last).zone === ZONE_FREE) report.bigblocksEmptied++;
    },
    { batch: options.batch, progress: options.progress },
  );
  return {
    fillPercent,
    bigblocksExamined: order.length,
    bigblocksEmptied: report.bigblocksEmptied,
    bigblocksFreed: volume.stats().freeBigblocks - freeBefore,
    recordsMoved: report.recordsMoved,
    nodesMoved: report.nodesMoved,
    bytesMoved: report.bytesMoved,
    cycles,
  };
}
