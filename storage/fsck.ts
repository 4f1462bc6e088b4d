import { allocBytes } from './blockmap.js';
import { nodeProblems, walkTolerant } from './btree-walk.js';
import type { Clock } from './clock.js';
import type { BlockDevice } from './device.js';
import { FsError } from './errors.js';
import { type LeafElm, NODE_TYPE_LEAF } from './format/btree-node.js';
import { readHeader } from './format/header.js';
import {
  ALLOC_ZONES,
  type AllocZone,
  BIGBLOCK_BYTES,
  NODE_BYTES,
  offPart,
  offZone,
  RecType,
  Zone,
  zoneName,
} from './layout.js';
import { Volume } from './volume.js';

export interface FsckProblem {
  /** What was being checked: "header", "fifo", "node 0x…", "record …", "big-block N", "volume". */
  where: string;
  what: string;
}

export interface FsckReport {
  errors: number;
  problems: FsckProblem[];
  /** Survivable observations: a damaged older header slot, an unclean shutdown rolled back. */
  notes: string[];
  stats: {
    nodes: number;
    leaves: number;
    depth: number;
    records: number;
    liveRecords: number;
    liveInodes: number;
    headerInodes: number;
    bigblocks: number;
    freeBigblocks: number;
    fifoSpanRecords: number;
  };
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Check a volume without changing it: mounts read-only (recovery stays in
 * memory), then checks the header slots, the FIFO, the B-tree (order, bounds,
 * links, node CRCs), every record's data CRC, the freemap against what the
 * tree references, and the inode count. Never throws for a damaged volume:
 * everything wrong is a problem in the report.
 */
export function fsck(device: BlockDevice, options: { clock: Clock }): FsckReport {
  const report: FsckReport = {
    errors: 0,
    problems: [],
    notes: [],
    stats: {
      nodes: 0,
      leaves: 0,
      depth: 0,
      records: 0,
      liveRecords: 0,
      liveInodes: 0,
      headerInodes: 0,
      bigblocks: 0,
      freeBigblocks: 0,
      fifoSpanRecords: 0,
    },
  };
  const problem = (where: string, what: string) => {
    report.problems.push({ where, what });
    report.errors++;
  };
  let volume: Volume;
  try {
    const choice = readHeader(device);
    if (choice.otherSlotProblem !== undefined) report.notes.push(`older header slot: ${choice.otherSlotProblem}`);
    volume = Volume.mount(device, { clock: options.clock, readOnly: true });
  } catch (error) {
    problem('volume', describe(error));
    return report;
  }
  try {
    checkFifo(volume, report, problem);
    const referenced = new Map<number, number>();
    checkTree(volume, report, problem, referenced);
    checkFreemap(volume, referenced, problem);
    const header = volume.header();
    report.stats.headerInodes = header.inodes;
    report.stats.bigblocks = header.bigblocks;
    report.stats.freeBigblocks = volume.freemap().freeBigblocks();
    if (header.inodes !== report.stats.liveInodes) {
      problem('header', `inode count ${header.inodes}, but the tree holds ${report.stats.liveInodes} live inodes`);
    }
  } catch (error) {
    problem('volume', `check stopped: ${describe(error)}`);
  } finally {
    volume.close();
  }
  return report;
}

function describe(error: unknown): string {
  if (error instanceof FsError) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

type Problem = (where: string, what: string) => void;

function checkFifo(volume: Volume, report: FsckReport, problem: Problem): void {
  const header = volume.header();
  const undo = header.blockmap[Zone.UNDO];
  if (undo === undefined) {
    problem('header', 'no UNDO blockmap entry');
    return;
  }
  const size = offPart(undo.allocOffset);
  if (offPart(undo.firstOffset) >= size || offPart(undo.nextOffset) >= size) {
    problem(
      'fifo',
      `first ${offPart(undo.firstOffset)} / next ${offPart(undo.nextOffset)} not below the FIFO size ${size}`,
    );
  }
  if (undo.firstOffset !== undo.nextOffset) {
    problem(
      'fifo',
      `committed header has first_offset ${offPart(undo.firstOffset)} != next_offset ${offPart(undo.nextOffset)}`,
    );
  }
  const recovery = volume.recovery;
  report.stats.fifoSpanRecords = recovery.records;
  if (recovery.records > 0) {
    report.notes.push(
      `FIFO holds ${recovery.records} records of an unfinished cycle at ${recovery.first}..${recovery.end}; ` +
        `the next mount rolls back ${recovery.undone} UNDO records`,
    );
  }
  if (recovery.redo.length > 0) report.notes.push(`${recovery.redo.length} REDO records await stage 2`);
  for (const note of recovery.notes) report.notes.push(note);
}

function checkTree(volume: Volume, report: FsckReport, problem: Problem, referenced: Map<number, number>): void {
  const live = new Set<string>();
  let leafDepth = -1;
  for (const step of walkTolerant((offset) => volume.nodeAt(offset), volume.stats().btreeRoot)) {
    const where = `node ${hex(step.offset)}`;
    if (step.node === undefined) {
      problem(where, describe(step.error));
      continue;
    }
    const node = step.node;
    report.stats.nodes++;
    report.stats.depth = Math.max(report.stats.depth, step.depth + 1);
    reference(referenced, step.offset, NODE_BYTES);
    for (const found of nodeProblems({ ...step, node })) problem(found.where, found.what);
    if (node.type !== NODE_TYPE_LEAF) continue;
    report.stats.leaves++;
    if (leafDepth < 0) leafDepth = step.depth;
    else if (leafDepth !== step.depth) problem(where, `leaf at depth ${step.depth}, others at ${leafDepth}`);
    for (const elm of node.elms as LeafElm[]) checkRecord(volume, report, problem, referenced, live, elm);
  }
}

function checkRecord(
  volume: Volume,
  report: FsckReport,
  problem: Problem,
  referenced: Map<number, number>,
  live: Set<string>,
  elm: LeafElm,
): void {
  const name = `record ${hex(elm.localization)}:${hex(elm.objId)}:${elm.recType.toString(16)}:${elm.key}@${hex(elm.createTid)}`;
  report.stats.records++;
  if (elm.deleteTid === 0) {
    report.stats.liveRecords++;
    if (elm.recType === RecType.INODE) report.stats.liveInodes++;
    const id = `${elm.localization}:${elm.objId}:${elm.recType}:${elm.key}`;
    if (live.has(id)) problem(name, 'a second live version of the same key');
    live.add(id);
  }
  if (elm.dataLen === 0) return;
  const zone = offZone(elm.dataOffset);
  if (zone !== Zone.META && zone !== Zone.SMALL_DATA && zone !== Zone.LARGE_DATA) {
    problem(name, `data offset ${hex(elm.dataOffset)} is in ${zoneName(zone)}`);
    return;
  }
  reference(referenced, elm.dataOffset, allocBytes(zone as AllocZone, elm.dataLen));
  try {
    volume.readData(elm);
  } catch (error) {
    problem(name, describe(error));
  }
}

/** Count `bytes` as referenced in the big-block holding `offset` (tagged with its zone). */
function reference(referenced: Map<number, number>, offset: number, bytes: number): void {
  const index = Math.floor(offPart(offset) / BIGBLOCK_BYTES);
  const key = index * 16 + offZone(offset);
  referenced.set(key, (referenced.get(key) ?? 0) + bytes);
}

function checkFreemap(volume: Volume, referenced: Map<number, number>, problem: Problem): void {
  const blockmap = volume.freemap();
  const entries = blockmap.allEntries();
  const undoBlocks = volume.header().undoArray.length;
  for (const key of referenced.keys()) {
    const index = Math.floor(key / 16);
    const zone = key % 16;
    const entry = entries[index];
    if (entry === undefined) problem(`big-block ${index}`, `referenced by the tree but past the volume end`);
    else if (entry.zone !== zone)
      problem(`big-block ${index}`, `freemap says zone ${zoneName(entry.zone)}, the tree uses it as ${zoneName(zone)}`);
  }
  entries.forEach((entry, index) => {
    const where = `big-block ${index}`;
    if (index < undoBlocks) {
      if (entry.zone !== Zone.UNDO || entry.bytesFree !== 0)
        problem(where, 'FIFO big-block not reserved in the freemap');
      return;
    }
    if (entry.zone === 0) {
      if (entry.bytesFree !== BIGBLOCK_BYTES || entry.appendOff !== 0)
        problem(where, 'free big-block with space in use');
      return;
    }
    if (!(ALLOC_ZONES as readonly number[]).includes(entry.zone)) {
      problem(where, `unknown zone ${entry.zone}`);
      return;
    }
    const used = referenced.get(index * 16 + entry.zone) ?? 0;
    if (BIGBLOCK_BYTES - entry.bytesFree !== used) {
      problem(where, `freemap has ${BIGBLOCK_BYTES - entry.bytesFree} bytes in use, the tree references ${used}`);
    }
    if (used > entry.appendOff) problem(where, `tree references ${used} bytes beyond append_off ${entry.appendOff}`);
  });
}
