import { assert } from '../assert.js';
import { crcOf } from '../crc.js';
import { crcError, FsError, hex32 } from '../errors.js';
import {
  KEY_MAX,
  KEY_MIN,
  NODE_BYTES,
  readHammerOff,
  readI64,
  readU64,
  viewOf,
  writeHammerOff,
  writeI64,
  writeU64,
} from '../layout.js';

/**
 * B-tree nodes (4 KiB): a 64-byte header, then 63 elements of 64 bytes.
 * A leaf holds up to 63 records; an internal node up to 62 children, with the
 * right boundary of the last child in elms[count]. The CRC covers bytes 4..4095
 * and is computed when the node is written out (sealNode).
 */
export const NODE_SIGNATURE = 0xb3a49586;
export const NODE_SIGNATURE_DESTROYED = 0x4a3b2c1d;
export const NODE_HEADER_BYTES = 64;
export const ELM_BYTES = 64;
export const NODE_ELMS = 63;
export const LEAF_MAX = 63;
export const INTERNAL_MAX = 62;
export const NODE_TYPE_INTERNAL = 0x49; // 'I'
export const NODE_TYPE_LEAF = 0x4c; // 'L'
export const BTYPE_RECORD = 0x52; // 'R'
/** Header byte 21, bit 0: the node is HAMMER_NODE_NONLINEAR (BTreeNodeData.nonlinear). */
const NODE_FLAG_NONLINEAR = 0x01;

/** The sort key of every element: localization, obj_id, rec_type, key, create_tid (0 = +infinity). */
export interface BTreeKey {
  localization: number;
  objId: number;
  recType: number;
  key: number;
  createTid: number;
}

/** A leaf element: a record. */
export interface LeafElm extends BTreeKey {
  deleteTid: number;
  objType: number;
  /** Unix seconds, for display only. */
  createTs: number;
  deleteTs: number;
  /** HAMMER offset (zone 9/10/11) of the record's data, 0 when it has none. */
  dataOffset: number;
  dataLen: number;
  dataCrc: number;
}

/**
 * A leaf element with its fields in one fixed order. Every leaf element is
 * made here (decoded, inserted, copied), so they all share one hidden class
 * and the key comparisons on the hot paths stay monomorphic.
 */
export function leafElm(key: BTreeKey, rest: Omit<LeafElm, keyof BTreeKey>): LeafElm {
  return {
    localization: key.localization,
    objId: key.objId,
    recType: key.recType,
    key: key.key,
    createTid: key.createTid,
    deleteTid: rest.deleteTid,
    objType: rest.objType,
    createTs: rest.createTs,
    deleteTs: rest.deleteTs,
    dataOffset: rest.dataOffset,
    dataLen: rest.dataLen,
    dataCrc: rest.dataCrc,
  };
}

/** A copy of a leaf element (callers get copies; the node keeps its own). */
export function copyLeafElm(elm: LeafElm): LeafElm {
  return leafElm(elm, elm);
}

/** An internal element with its fields in one fixed order (see leafElm). */
export function internalElm(key: BTreeKey, rest: Omit<InternalElm, keyof BTreeKey>): InternalElm {
  return {
    localization: key.localization,
    objId: key.objId,
    recType: key.recType,
    key: key.key,
    createTid: key.createTid,
    deleteTid: rest.deleteTid,
    btype: rest.btype,
    mirrorTid: rest.mirrorTid,
    subtreeOffset: rest.subtreeOffset,
  };
}

/** An internal element: the left bound of a child (or the right bound of the last one). */
export interface InternalElm extends BTreeKey {
  deleteTid: number;
  /** Child node type ('I' or 'L'); 0 for the right boundary element. */
  btype: number;
  mirrorTid: number;
  /** HAMMER offset (zone 8) of the child, 0 for the right boundary element. */
  subtreeOffset: number;
}

export interface BTreeNodeData {
  type: typeof NODE_TYPE_INTERNAL | typeof NODE_TYPE_LEAF;
  /** HAMMER offset of the parent node, 0 at the root. */
  parent: number;
  count: number;
  mirrorTid: number;
  /** Leaf: `count` records. Internal: `count + 1` bounds (children plus the right boundary). */
  elms: LeafElm[] | InternalElm[];
  /**
   * HAMMER_NODE_NONLINEAR: an insert at this leaf's end already split it
   * three quarters to one (storage/btree.ts splitChild). HAMMER keeps it in
   * memory only; here it is a flag byte of the header, so the next split does
   * not depend on whether the node stayed cached (a remount, an eviction, a
   * replay resumed from a checkpoint would otherwise split differently).
   */
  nonlinear?: boolean;
}

/** The left bound of the whole tree and its right boundary (exclusive). */
export const MIN_BOUND: BTreeKey = { localization: 0, objId: KEY_MIN, recType: 0, key: KEY_MIN, createTid: 1 };
export const MAX_BOUND: BTreeKey = {
  localization: 0xffffffff,
  objId: KEY_MAX,
  recType: 0xffff,
  key: KEY_MAX,
  createTid: 0,
};

/** Just the key fields of an element (a copy). */
export function keyOf(elm: BTreeKey): BTreeKey {
  return {
    localization: elm.localization,
    objId: elm.objId,
    recType: elm.recType,
    key: elm.key,
    createTid: elm.createTid,
  };
}

/** Compare two keys in B-tree order; create_tid 0 sorts as +infinity. */
export function compareKeys(a: BTreeKey, b: BTreeKey): number {
  if (a.localization !== b.localization) return a.localization < b.localization ? -1 : 1;
  if (a.objId !== b.objId) return a.objId < b.objId ? -1 : 1;
  if (a.recType !== b.recType) return a.recType < b.recType ? -1 : 1;
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  if (a.createTid !== b.createTid) {
    if (a.createTid === 0) return 1;
    if (b.createTid === 0) return -1;
    return a.createTid < b.createTid ? -1 : 1;
  }
  return 0;
}

/**
 * compareKeys(elm, key) for a key given as its five numbers, on a leaf
 * element. The B-tree searches read their key once and compare it against
 * elements of one kind per function: a property load that only ever sees one
 * hidden class reads a double field (TIDs, keys, obj_ids past 2^31) unboxed,
 * while compareKeys, fed every kind of key object, boxes each double it reads
 * into a fresh HeapNumber (most of the garbage an insert made).
 */
export function compareLeafTo(
  elm: LeafElm,
  localization: number,
  objId: number,
  recType: number,
  key: number,
  createTid: number,
): number {
  return compareParts(
    elm.localization,
    elm.objId,
    elm.recType,
    elm.key,
    elm.createTid,
    localization,
    objId,
    recType,
    key,
    createTid,
  );
}

/** compareLeafTo for an internal element (a separate function so its loads see one hidden class too). */
export function compareBoundTo(
  elm: InternalElm,
  localization: number,
  objId: number,
  recType: number,
  key: number,
  createTid: number,
): number {
  return compareParts(
    elm.localization,
    elm.objId,
    elm.recType,
    elm.key,
    elm.createTid,
    localization,
    objId,
    recType,
    key,
    createTid,
  );
}

/** compareKeys on the fields themselves: no property loads, so it is shared without going polymorphic. */
function compareParts(
  aLocalization: number,
  aObjId: number,
  aRecType: number,
  aKey: number,
  aCreateTid: number,
  bLocalization: number,
  bObjId: number,
  bRecType: number,
  bKey: number,
  bCreateTid: number,
): number {
  if (aLocalization !== bLocalization) return aLocalization < bLocalization ? -1 : 1;
  if (aObjId !== bObjId) return aObjId < bObjId ? -1 : 1;
  if (aRecType !== bRecType) return aRecType < bRecType ? -1 : 1;
  if (aKey !== bKey) return aKey < bKey ? -1 : 1;
  if (aCreateTid !== bCreateTid) {
    if (aCreateTid === 0) return 1;
    if (bCreateTid === 0) return -1;
    return aCreateTid < bCreateTid ? -1 : 1;
  }
  return 0;
}

function writeBase(view: DataView, at: number, elm: BTreeKey & { deleteTid: number }, objType: number, btype: number) {
  writeI64(view, at, elm.objId);
  writeI64(view, at + 8, elm.key);
  writeU64(view, at + 16, elm.createTid);
  writeU64(view, at + 24, elm.deleteTid);
  view.setUint16(at + 32, elm.recType, true);
  view.setUint8(at + 34, objType);
  view.setUint8(at + 35, btype);
  view.setUint32(at + 36, elm.localization, true);
}

function readBase(view: DataView, at: number): BTreeKey & { deleteTid: number; objType: number; btype: number } {
  return {
    objId: readI64(view, at),
    key: readI64(view, at + 8),
    createTid: readU64(view, at + 16),
    deleteTid: readU64(view, at + 24),
    recType: view.getUint16(at + 32, true),
    objType: view.getUint8(at + 34),
    btype: view.getUint8(at + 35),
    localization: view.getUint32(at + 36, true),
  };
}

export function elmAt(index: number): number {
  return NODE_HEADER_BYTES + index * ELM_BYTES;
}

/**
 * Serialize element `index` of `node` into its 64 bytes of `bytes` (a 4 KiB
 * node image). `view` is a DataView of `bytes` when the caller keeps one (a
 * cached node does), saving a view per call.
 */
export function writeElm(bytes: Uint8Array, node: BTreeNodeData, index: number, view = viewOf(bytes)): void {
  assert(view.buffer === bytes.buffer && view.byteOffset === bytes.byteOffset, 'the view is of the node image');
  const at = elmAt(index);
  // A leaf element's fields cover all 64 bytes; an internal one leaves 56..63 reserved (zero).
  if (node.type === NODE_TYPE_LEAF) {
    const elm = (node.elms as LeafElm[])[index];
    assert(elm !== undefined, 'leaf element exists at index');
    writeBase(view, at, elm, elm.objType, BTYPE_RECORD);
    view.setUint32(at + 40, elm.createTs, true);
    view.setUint32(at + 44, elm.deleteTs, true);
    writeHammerOff(view, at + 48, elm.dataOffset);
    view.setUint32(at + 56, elm.dataLen, true);
    view.setUint32(at + 60, elm.dataCrc, true);
  } else {
    const elm = (node.elms as InternalElm[])[index];
    assert(elm !== undefined, 'internal element exists at index');
    writeBase(view, at, elm, 0, elm.btype);
    writeU64(view, at + 40, elm.mirrorTid);
    writeHammerOff(view, at + 48, elm.subtreeOffset);
    view.setUint32(at + 56, 0, true);
    view.setUint32(at + 60, 0, true);
  }
}

/** Serialize the 64-byte node header (the CRC is left for sealNode; `view` as for writeElm). */
export function writeNodeHeader(bytes: Uint8Array, node: BTreeNodeData, view = viewOf(bytes)): void {
  assert(view.buffer === bytes.buffer && view.byteOffset === bytes.byteOffset, 'the view is of the node image');
  view.setUint32(4, NODE_SIGNATURE, true);
  writeHammerOff(view, 8, node.parent);
  view.setUint32(16, node.count, true);
  view.setUint8(20, node.type);
  view.setUint8(21, node.nonlinear === true ? NODE_FLAG_NONLINEAR : 0);
  bytes.fill(0, 22, 56);
  writeU64(view, 56, node.mirrorTid);
}

/** Serialize a whole node (header and every element; unused slots zeroed) and seal it. */
export function encodeNode(node: BTreeNodeData, bytes = new Uint8Array(NODE_BYTES)): Uint8Array {
  assert(bytes.length === NODE_BYTES, 'a node image is 4 KiB');
  bytes.fill(0);
  writeNodeHeader(bytes, node);
  for (let i = 0; i < node.elms.length; i++) writeElm(bytes, node, i);
  sealNode(bytes);
  return bytes;
}

/** Compute and store the CRC of a node image; done at write-out. */
export function sealNode(bytes: Uint8Array): void {
  viewOf(bytes).setUint32(0, crcOf(bytes, 4, NODE_BYTES), true);
}

/**
 * Decode a node image read from the device. `where` is its offset for error
 * messages. Throws EIO naming the node on a bad signature, CRC or count.
 */
export function decodeNode(bytes: Uint8Array, where: number): BTreeNodeData {
  const view = viewOf(bytes);
  const signature = view.getUint32(4, true);
  if (signature !== NODE_SIGNATURE) {
    throw new FsError('EIO', `B-tree node at offset 0x${where.toString(16)}: bad signature 0x${hex32(signature)}`);
  }
  const expected = view.getUint32(0, true);
  const found = crcOf(bytes, 4, NODE_BYTES);
  if (expected !== found) throw crcError('B-tree node', where, expected, found);
  const type = view.getUint8(20);
  const count = view.getUint32(16, true);
  if (type !== NODE_TYPE_LEAF && type !== NODE_TYPE_INTERNAL) {
    throw new FsError('EIO', `B-tree node at offset 0x${where.toString(16)}: bad type 0x${type.toString(16)}`);
  }
  const max = type === NODE_TYPE_LEAF ? LEAF_MAX : INTERNAL_MAX;
  if (count > max) {
    throw new FsError('EIO', `B-tree node at offset 0x${where.toString(16)}: count ${count} exceeds ${max}`);
  }
  const node: BTreeNodeData = {
    type,
    parent: readHammerOff(view, 8),
    count,
    mirrorTid: readU64(view, 56),
    elms: [],
    nonlinear: (view.getUint8(21) & NODE_FLAG_NONLINEAR) !== 0,
  };
  if (type === NODE_TYPE_LEAF) {
    const elms: LeafElm[] = [];
    for (let i = 0; i < count; i++) {
      const at = elmAt(i);
      const base = readBase(view, at);
      elms.push(
        leafElm(base, {
          deleteTid: base.deleteTid,
          objType: base.objType,
          createTs: view.getUint32(at + 40, true),
          deleteTs: view.getUint32(at + 44, true),
          dataOffset: readHammerOff(view, at + 48),
          dataLen: view.getUint32(at + 56, true),
          dataCrc: view.getUint32(at + 60, true),
        }),
      );
    }
    node.elms = elms;
  } else {
    // An internal node holds count children plus the right boundary in elms[count].
    const elms: InternalElm[] = [];
    for (let i = 0; i <= count; i++) {
      const at = elmAt(i);
      const base = readBase(view, at);
      elms.push(
        internalElm(base, {
          deleteTid: base.deleteTid,
          btype: base.btype,
          mirrorTid: readU64(view, at + 40),
          subtreeOffset: readHammerOff(view, at + 48),
        }),
      );
    }
    node.elms = elms;
  }
  return node;
}
