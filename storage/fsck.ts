import { allocBytes } from './blockmap.js';
import { nodeProblems, walkTolerant } from './btree-walk.js';
import type { Clock } from './clock.js';
import { crcOf } from './crc.js';
import type { BlockDevice } from './device.js';
import { crcError, FsError } from './errors.js';
import { type LeafElm, MAX_BOUND, MIN_BOUND, NODE_TYPE_LEAF } from './format/btree-node.js';
import { readHeader } from './format/header.js';
import { decodeDirEntry, decodeInode } from './format/records.js';
import {
  ALLOC_ZONES,
  type AllocZone,
  BIGBLOCK_BYTES,
  LOCALIZE_INODE,
  LOCALIZE_MISC,
  NODE_BYTES,
  ORPHAN_OBJ_ID,
  offPart,
  offZone,
  RecType,
  ROOT_OBJ_ID,
  recTypeName,
  TID_MAX,
  viewOf,
  Zone,
  zoneName,
} from './layout.js';
import { dataZone } from './record-data.js';
import { Volume } from './volume.js';

export interface FsckProblem {
  /** What was being checked: "header", "fifo", "node 0x…", "record …", "big-block N", "volume". */
  where: string;
  what: string;
}

export interface FsckReport {
  errors: number;
  problems: FsckProblem[];
  /** Survivable observations: a damaged header slot not in use, an unclean shutdown to roll back, a hole in the FIFO. */
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
    /** FIFO size in bytes (zone-3 alloc_offset). */
    fifoBytes: number;
    /** The active span recovery found: first_offset and the true end by seq numbers. */
    fifoFirst: number;
    fifoEnd: number;
    /** Records (PADs excluded) in the active span, and the UNDOs among them a mount rolls back. */
    fifoSpanRecords: number;
    fifoSpanUndo: number;
  };
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Check a volume without changing it: mounts read-only (recovery stays in
 * memory), then checks the header slots, the FIFO span, the B-tree (order,
 * bounds, links, node CRCs), every record's data CRC and zone, the freemap
 * against what the tree references, and the inode count. Never throws for a
 * damaged volume: everything wrong is a problem in the report. The caller
 * owns `device`: fsck neither writes to it nor closes it.
 */
export function fsck(
  device: BlockDevice,
  options: { clock: Clock; progress?: (done: number, total: number) => void },
): FsckReport {
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
      fifoBytes: 0,
      fifoFirst: 0,
      fifoEnd: 0,
      fifoSpanRecords: 0,
      fifoSpanUndo: 0,
    },
  };
  const problem = (where: string, what: string) => {
    report.problems.push({ where, what });
    report.errors++;
  };
  let volume: Volume;
  try {
    const choice = readHeader(device);
    // The damaged slot may be the older one (harmless) or a newer commit (its cycle is rolled back): a note either way.
    if (choice.otherSlotProblem !== undefined) {
      report.notes.push(
        `header slot ${choice.slot} in use (generation ${choice.header.generation}); the other: ${choice.otherSlotProblem}`,
      );
    }
    volume = Volume.mount(readOnlyView(device), { clock: options.clock, readOnly: true });
  } catch (error) {
    problem('volume', describe(error));
    return report;
  }
  // Told to `progress` (the CLI's bar) one by one: mount, FIFO, B-tree and data, freemap, namespace.
  const FSCK_STEPS = 5;
  const step = (done: number) => options.progress?.(done, FSCK_STEPS);
  try {
    step(1);
    checkFifo(volume, report, problem);
    step(2);
    const referenced = new Map<number, Reference>();
    checkTree(volume, report, problem, referenced);
    step(3);
    checkFreemap(volume, referenced, problem);
    step(4);
    checkNamespace(volume, report, problem);
    step(FSCK_STEPS);
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

/**
 * The namespace as of now: every live directory entry names a live inode of
 * its PFS, and every live inode's nlinks equals the live entries naming it
 * (PFS roots have none). An inode with nlinks 0 and no entry was unlinked
 * while open when the volume last stopped: a note when its ORPHAN record is
 * there (the next read-write mount deletes it), a problem when not (it would
 * never go), as is an ORPHAN record naming no such inode. A file's live
 * data lies below its size, unless a TRUNCATION record says an emergency
 * finalize cut its truncation short (a note: the next read-write mount
 * finishes it); a TRUNCATION record naming no live inode is a problem.
 */
function checkNamespace(volume: Volume, report: FsckReport, problem: Problem): void {
  const inodes = new Map<string, { nlinks: number; entries: number; size: number }>();
  const entries: Array<{ dir: number; target: string; name: string }> = [];
  const orphans = new Set<string>();
  const truncating = new Set<string>();
  /** Per file, the highest offset a live DATA record starts at: below the file's size. */
  const lastStart = new Map<string, number>();
  const all = volume.scan(MIN_BOUND, { ...MAX_BOUND, createTid: 0 }, TID_MAX);
  for (const elm of all) {
    if ((elm.localization & 0xffff) === LOCALIZE_INODE && elm.recType === RecType.INODE) {
      const ino = decodeInode(volume.readData(elm), `inode ${elm.objId}`);
      inodes.set(`${elm.localization - LOCALIZE_INODE}:${elm.objId}`, {
        nlinks: ino.nlinks,
        entries: 0,
        size: ino.size,
      });
    } else if (elm.recType === RecType.DIRENTRY) {
      const entry = decodeDirEntry(volume.readData(elm), `directory ${elm.objId}`);
      entries.push({ dir: elm.objId, target: `${entry.localization}:${entry.objId}`, name: entry.name });
    } else if (elm.recType === RecType.DATA) {
      const key = `${elm.localization - LOCALIZE_MISC}:${elm.objId}`;
      lastStart.set(key, Math.max(lastStart.get(key) ?? 0, elm.key - elm.dataLen));
    } else if (elm.objId === ORPHAN_OBJ_ID && elm.recType === RecType.ORPHAN) {
      orphans.add(`${elm.localization - LOCALIZE_MISC}:${elm.key}`);
    } else if (elm.objId === ORPHAN_OBJ_ID && elm.recType === RecType.TRUNCATION) {
      truncating.add(`${elm.localization - LOCALIZE_MISC}:${elm.key}`);
    }
  }
  for (const [key, start] of lastStart) {
    const size = inodes.get(key)?.size;
    if (size === undefined || start < size) continue;
    if (truncating.has(key))
      report.notes.push(`inode ${key}: a truncation cut short by an emergency finalize, finished at the next mount`);
    else problem(`inode ${key}`, `live data from offset ${start}, past its size ${size}`);
  }
  for (const key of truncating) {
    if (!inodes.has(key)) problem(`truncation ${key}`, `a TRUNCATION record names inode ${key}, which is not live`);
  }
  for (const entry of entries) {
    const target = inodes.get(entry.target);
    if (target === undefined)
      problem(`directory ${entry.dir}`, `entry '${entry.name}' names inode ${entry.target}, which is not live`);
    else target.entries++;
  }
  for (const [key, inode] of inodes) {
    const objId = Number(key.split(':')[1]);
    if (objId === ROOT_OBJ_ID) continue;
    if (inode.nlinks === 0 && inode.entries === 0) {
      if (orphans.has(key))
        report.notes.push(`inode ${key} has no links left (unlinked while open): an orphan, deleted at the next mount`);
      else problem(`inode ${key}`, 'no links left and no ORPHAN record: nothing would ever delete it');
    } else if (inode.nlinks !== inode.entries) {
      problem(`inode ${key}`, `nlinks ${inode.nlinks}, but ${inode.entries} live directory entries name it`);
    }
  }
  for (const key of orphans) {
    const inode = inodes.get(key);
    if (inode === undefined || inode.nlinks !== 0)
      problem(
        `orphan ${key}`,
        `an ORPHAN record names inode ${key}, which is ${inode === undefined ? 'not live' : 'linked'}`,
      );
  }
}

/**
 * The device as fsck sees it: reads pass through, a write is a bug (a
 * read-only mount must not write), and closing is left to the owner.
 */
function readOnlyView(device: BlockDevice): BlockDevice {
  return {
    size: device.size,
    read: (offset, target) => device.read(offset, target),
    write: (offset) => {
      throw new FsError('EROFS', `fsck is read-only: refused a write at offset ${offset}`);
    },
    fsync: () => {},
    close: () => {},
  };
}

function describe(error: unknown): string {
  if (error instanceof FsError) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

type Problem = (where: string, what: string) => void;

/**
 * The committed header's FIFO indices, and the span recovery found by seq
 * numbers from first_offset (every record in it passed its signature, size
 * and CRC checks; a hole recovery stepped over is a note when a crash tore
 * the FIFO write, a problem when it is damage that lost pre-images).
 */
function checkFifo(volume: Volume, report: FsckReport, problem: Problem): void {
  const header = volume.header();
  const undo = header.blockmap[Zone.UNDO];
  if (undo === undefined) {
    problem('header', 'no UNDO blockmap entry');
    return;
  }
  const size = offPart(undo.allocOffset);
  report.stats.fifoBytes = size;
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
  report.stats.fifoFirst = recovery.first;
  report.stats.fifoEnd = recovery.end;
  report.stats.fifoSpanRecords = recovery.records;
  report.stats.fifoSpanUndo = recovery.undone;
  if (recovery.records > 0) {
    report.notes.push(
      `FIFO holds ${recovery.records} records of an unfinished cycle at ${recovery.first}..${recovery.end}; ` +
        `the next mount rolls back ${recovery.undone} UNDO records`,
    );
  }
  for (const damage of recovery.damage) problem('fifo', damage);
  if (recovery.redo.length > 0) report.notes.push(`${recovery.redo.length} REDO records await stage 2`);
  for (const note of recovery.notes) report.notes.push(note);
}

/** Bytes the tree references in one big-block of one zone, and the highest end among them. */
interface Reference {
  bytes: number;
  end: number;
}

function checkTree(volume: Volume, report: FsckReport, problem: Problem, referenced: Map<number, Reference>): void {
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
    reference(referenced, step.offset, NODE_BYTES, where, problem);
    // The image itself, whatever path decoded it (nodes in buffers recovery touched are not CRC-checked on read).
    const stored = viewOf(node.bytes).getUint32(0, true);
    const computed = crcOf(node.bytes, 4, NODE_BYTES);
    if (stored !== computed) problem(where, crcError('B-tree node', step.offset, stored, computed).message);
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
  referenced: Map<number, Reference>,
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
  const expected = dataZone(elm.recType, elm.dataLen);
  if (zone !== expected) {
    problem(
      name,
      `data of a ${recTypeName(elm.recType)} record of ${elm.dataLen} bytes is in ${zoneName(zone)}, not ${zoneName(expected)}`,
    );
  }
  reference(referenced, elm.dataOffset, allocBytes(zone as AllocZone, elm.dataLen), name, problem);
  try {
    volume.readData(elm);
  } catch (error) {
    problem(name, describe(error));
  }
}

/** Count `bytes` as referenced in the big-block holding `offset` (tagged with its zone). */
function reference(
  referenced: Map<number, Reference>,
  offset: number,
  bytes: number,
  where: string,
  problem: Problem,
): void {
  const index = Math.floor(offPart(offset) / BIGBLOCK_BYTES);
  const end = (offPart(offset) % BIGBLOCK_BYTES) + bytes;
  if (end > BIGBLOCK_BYTES) problem(where, `${bytes} bytes at ${hex(offset)} cross the end of big-block ${index}`);
  const key = index * 16 + offZone(offset);
  const seen = referenced.get(key) ?? { bytes: 0, end: 0 };
  referenced.set(key, { bytes: seen.bytes + bytes, end: Math.max(seen.end, end) });
}

function checkFreemap(volume: Volume, referenced: Map<number, Reference>, problem: Problem): void {
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
    const used = referenced.get(index * 16 + entry.zone) ?? { bytes: 0, end: 0 };
    if (BIGBLOCK_BYTES - entry.bytesFree !== used.bytes) {
      problem(where, `freemap has ${BIGBLOCK_BYTES - entry.bytesFree} bytes in use, the tree references ${used.bytes}`);
    }
    if (used.end > entry.appendOff) {
      problem(where, `the tree references bytes up to ${used.end}, beyond append_off ${entry.appendOff}`);
    }
  });
}
