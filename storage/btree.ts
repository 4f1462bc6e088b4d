import { assert } from './assert.js';
import { type BTreeStats, checkStructure, treeStats, type WalkEntry, walkTolerant } from './btree-walk.js';
import {
  type BTreeKey,
  type BTreeNodeData,
  compareBoundTo,
  compareLeafTo,
  copyLeafElm,
  ELM_BYTES,
  elmAt,
  INTERNAL_MAX,
  type InternalElm,
  internalElm,
  keyOf,
  LEAF_MAX,
  type LeafElm,
  MAX_BOUND,
  MIN_BOUND,
  NODE_HEADER_BYTES,
  NODE_TYPE_INTERNAL,
  NODE_TYPE_LEAF,
  writeElm,
  writeNodeHeader,
} from './format/btree-node.js';
import { KEY_MAX } from './layout.js';
import type { BTreeNode, NodeStore } from './node-store.js';

export type { BTreeStats, WalkEntry, WalkStep } from './btree-walk.js';
export { walkTolerant } from './btree-walk.js';
export { MAX_BOUND, MIN_BOUND } from './format/btree-node.js';

type Base = Omit<BTreeKey, 'createTid'>;

/**
 * Move the encoded elements from index `from` on by `by` slots (+1 after an
 * insert at `from`, -1 after a removal at `from - 1`), so only the element that
 * changed needs encoding. The arrays are already updated; bytes follow them.
 */
function shiftElms(node: BTreeNode, from: number, by: 1 | -1): void {
  const length = node.elms.length;
  if (by === 1) node.bytes.copyWithin(elmAt(from + 1), elmAt(from), elmAt(length - 1));
  else node.bytes.copyWithin(elmAt(from - 1), elmAt(from), elmAt(length + 1));
}

/**
 * Index of the child of internal `node` whose range holds the key (last left
 * bound ≤ key). The key comes as numbers: see compareBoundTo for why.
 */
function childIndexOf(
  node: BTreeNodeData,
  localization: number,
  objId: number,
  recType: number,
  key: number,
  createTid: number,
): number {
  const elms = node.elms as InternalElm[];
  let lo = 0;
  let hi = node.count - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (compareBoundTo(elms[mid] as InternalElm, localization, objId, recType, key, createTid) <= 0) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** First index in leaf `node` whose key is ≥ the key (given as numbers, as for childIndexOf). */
function leafPositionOf(
  node: BTreeNodeData,
  localization: number,
  objId: number,
  recType: number,
  key: number,
  createTid: number,
): number {
  const elms = node.elms as LeafElm[];
  let lo = 0;
  let hi = node.count;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareLeafTo(elms[mid] as LeafElm, localization, objId, recType, key, createTid) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/*
 * insert's searches: their key is always a leaf element, so these loads see
 * one hidden class and pass the doubles on unboxed; shared with the other
 * callers' key objects they would box every double on every call.
 */
function recordChildIndex(node: BTreeNodeData, elm: LeafElm): number {
  return childIndexOf(node, elm.localization, elm.objId, elm.recType, elm.key, elm.createTid);
}
function recordPosition(node: BTreeNodeData, elm: LeafElm): number {
  return leafPositionOf(node, elm.localization, elm.objId, elm.recType, elm.key, elm.createTid);
}

/** MIN_BOUND ≤ key < MAX_BOUND (compareKeys(elm, MIN_BOUND) >= 0 && compareKeys(elm, MAX_BOUND) < 0). */
function insideTreeBounds(elm: LeafElm): boolean {
  const min = MIN_BOUND;
  const max = MAX_BOUND;
  return (
    compareLeafTo(elm, min.localization, min.objId, min.recType, min.key, min.createTid) >= 0 &&
    compareLeafTo(elm, max.localization, max.objId, max.recType, max.key, max.createTid) < 0
  );
}

/** `array.splice(at, 0, value)` without the array of removed elements splice returns (one per insert). */
function insertAt<T>(array: T[], at: number, value: T): void {
  for (let i = array.length; i > at; i--) array[i] = array[i - 1] as T;
  array[at] = value;
}

function visible(elm: LeafElm, asof: number): boolean {
  return elm.createTid <= asof && (elm.deleteTid === 0 || asof < elm.deleteTid);
}

/**
 * HAMMER's B-tree over a NodeStore. Leaves hold up to 63 records; internal
 * nodes up to 62 children with left bounds (elms[i] is child i's inclusive
 * left bound, elms[i + 1] its exclusive right bound). Inserts split full nodes
 * top-down on the way to the leaf, as HAMMER does, so a split never has to
 * climb back up. Every change declares its bytes to the store first
 * (modifyNode: UNDO, dirty), then changes the arrays, then the bytes.
 * Deletion sets delete_tid (history kept); destroy removes physically.
 */
export class BTree {
  constructor(private readonly store: NodeStore) {}

  /** Make the empty tree of a new volume: one root leaf. */
  static create(store: NodeStore): BTree {
    const root = store.allocNode(NODE_TYPE_LEAF, 0);
    store.setRootOffset(root.offset);
    return new BTree(store);
  }

  private root(): BTreeNode {
    return this.store.readNode(this.store.rootOffset());
  }

  /** Index of the child of `node` whose range holds `key` (last left bound ≤ key). */
  private childIndex(node: BTreeNodeData, key: BTreeKey): number {
    return childIndexOf(node, key.localization, key.objId, key.recType, key.key, key.createTid);
  }

  /** First index in a leaf whose key is ≥ `key`. */
  private leafPosition(node: BTreeNodeData, key: BTreeKey): number {
    return leafPositionOf(node, key.localization, key.objId, key.recType, key.key, key.createTid);
  }

  private full(node: BTreeNodeData): boolean {
    return node.type === NODE_TYPE_LEAF ? node.count >= LEAF_MAX : node.count >= INTERNAL_MAX;
  }

  /** Insert a record. Its exact key (with create_tid) must not exist yet. */
  insert(elm: LeafElm): void {
    assert(insideTreeBounds(elm), 'a record key lies inside the tree bounds');
    assert(elm.createTid !== 0, 'a record has a create_tid');
    let node = this.root();
    if (this.full(node)) node = this.splitRoot(node);
    while (node.type === NODE_TYPE_INTERNAL) {
      let index = recordChildIndex(node, elm);
      let child = this.childAt(node, index);
      if (this.full(child)) {
        this.splitChild(node, index, child, this.appends(child, elm));
        index = recordChildIndex(node, elm);
        child = this.childAt(node, index);
      }
      this.raiseMirror(node, index, elm.createTid);
      node = child;
    }
    const at = recordPosition(node, elm);
    const elms = node.elms as LeafElm[];
    const existing = elms[at];
    assert(
      existing === undefined ||
        compareLeafTo(existing, elm.localization, elm.objId, elm.recType, elm.key, elm.createTid) !== 0,
      'no two records share a key and create_tid',
    );
    this.store.modifyNode(node, elmAt(at), (node.count + 1 - at) * ELM_BYTES);
    insertAt(elms, at, copyLeafElm(elm));
    node.count++;
    if (elm.createTid > node.mirrorTid) node.mirrorTid = elm.createTid;
    writeNodeHeader(node.bytes, node, node.view);
    shiftElms(node, at, 1);
    writeElm(node.bytes, node, at, node.view);
  }

  private childAt(node: BTreeNode, index: number): BTreeNode {
    const elm = (node.elms as InternalElm[])[index];
    assert(elm !== undefined && elm.subtreeOffset !== 0, 'an internal element below count names a child');
    return this.store.readNode(elm.subtreeOffset);
  }

  /** Raise mirror_tid of `node` and of its element for child `index` to `tid`. */
  private raiseMirror(node: BTreeNode, index: number, tid: number): void {
    const elm = (node.elms as InternalElm[])[index];
    assert(elm !== undefined, 'mirror element exists');
    if (elm.mirrorTid >= tid && node.mirrorTid >= tid) return;
    this.store.modifyNode(node, elmAt(index), ELM_BYTES);
    elm.mirrorTid = Math.max(elm.mirrorTid, tid);
    node.mirrorTid = Math.max(node.mirrorTid, tid);
    writeElm(node.bytes, node, index, node.view);
    writeNodeHeader(node.bytes, node, node.view);
  }

  /** A full root gets a new internal root above it, then splits under it. */
  private splitRoot(root: BTreeNode): BTreeNode {
    const top = this.store.allocNode(NODE_TYPE_INTERNAL, 0);
    const elms: InternalElm[] = [
      internalElm(MIN_BOUND, { deleteTid: 0, btype: root.type, mirrorTid: root.mirrorTid, subtreeOffset: root.offset }),
      internalElm(MAX_BOUND, { deleteTid: 0, btype: 0, mirrorTid: 0, subtreeOffset: 0 }),
    ];
    top.elms = elms;
    top.count = 1;
    top.mirrorTid = root.mirrorTid;
    writeNodeHeader(top.bytes, top, top.view);
    writeElm(top.bytes, top, 0, top.view);
    writeElm(top.bytes, top, 1, top.view);
    this.setParent(root, top.offset);
    this.store.setRootOffset(top.offset);
    this.splitChild(top, 0, root);
    return top;
  }

  private setParent(node: BTreeNode, parent: number): void {
    if (node.parent === parent) return;
    this.store.modifyNode(node, 0, NODE_HEADER_BYTES);
    node.parent = parent;
    writeNodeHeader(node.bytes, node, node.view);
  }

  /** True when `elm` goes after every element of the full leaf `child` (an insert at its end). */
  private appends(child: BTreeNode, elm: LeafElm): boolean {
    if (child.type !== NODE_TYPE_LEAF) return false;
    const last = (child.elms as LeafElm[])[child.count - 1];
    return (
      last !== undefined && compareLeafTo(last, elm.localization, elm.objId, elm.recType, elm.key, elm.createTid) < 0
    );
  }

  /**
   * Split full `child` (child `index` of `parent`, which has room). In halves,
   * except as btree_split_leaf does: a leaf whose insert goes at its end keeps
   * three quarters (ascending keys, a new file's records, then fill leaves to
   * three quarters instead of half), once; the next end-insert split of the
   * same leaf goes back to halves, so a pattern the guess misreads cannot
   * keep making lopsided leaves.
   */
  private splitChild(parent: BTreeNode, index: number, child: BTreeNode, appending = false): void {
    assert(!this.full(parent), 'a split parent has room for one more child');
    const right = this.store.allocNode(child.type, parent.offset);
    let half = Math.floor(child.count / 2);
    if (appending && !child.nonlinear) {
      half = Math.floor(((child.count + 1) * 3) / 4);
      child.nonlinear = true;
    }
    const oldLength = child.elms.length;
    let separator: BTreeKey;
    this.store.modifyNode(child, elmAt(half), (oldLength - half) * ELM_BYTES);
    if (child.type === NODE_TYPE_LEAF) {
      const moved = (child.elms as LeafElm[]).splice(half);
      right.elms = moved;
      right.count = moved.length;
      child.count = half;
      separator = keyOf(moved[0] as LeafElm);
    } else {
      const elms = child.elms as InternalElm[];
      const boundary = elms[half] as InternalElm;
      separator = keyOf(boundary);
      right.elms = elms.slice(half).map((e) => internalElm(e, e));
      right.count = child.count - half;
      elms.length = half + 1;
      elms[half] = internalElm(boundary, { deleteTid: boundary.deleteTid, btype: 0, mirrorTid: 0, subtreeOffset: 0 });
      child.count = half;
    }
    right.mirrorTid = child.mirrorTid;
    writeNodeHeader(child.bytes, child, child.view);
    for (let i = half; i < child.elms.length; i++) writeElm(child.bytes, child, i, child.view);
    child.bytes.fill(0, elmAt(child.elms.length), elmAt(oldLength));
    writeNodeHeader(right.bytes, right, right.view);
    for (let i = 0; i < right.elms.length; i++) writeElm(right.bytes, right, i, right.view);
    if (right.type === NODE_TYPE_INTERNAL) {
      for (let i = 0; i < right.count; i++) this.setParent(this.childAt(right, i), right.offset);
    }
    this.insertChild(parent, index + 1, separator, right);
  }

  /** Insert `child` as child `at` of `parent`, with `bound` as its left bound. */
  private insertChild(parent: BTreeNode, at: number, bound: BTreeKey, child: BTreeNode): void {
    const elms = parent.elms as InternalElm[];
    this.store.modifyNode(parent, elmAt(at), (elms.length + 1 - at) * ELM_BYTES);
    // Made by internalElm, like every other internal element: one hidden class keeps the searches monomorphic.
    elms.splice(
      at,
      0,
      internalElm(bound, { deleteTid: 0, btype: child.type, mirrorTid: child.mirrorTid, subtreeOffset: child.offset }),
    );
    parent.count++;
    writeNodeHeader(parent.bytes, parent, parent.view);
    shiftElms(parent, at, 1);
    writeElm(parent.bytes, parent, at, parent.view);
  }

  /** The path from the root to the leaf whose range holds `key`: nodes and child indices. */
  private descend(key: BTreeKey): { path: Array<{ node: BTreeNode; index: number }>; leaf: BTreeNode } {
    const path: Array<{ node: BTreeNode; index: number }> = [];
    let node = this.root();
    while (node.type === NODE_TYPE_INTERNAL) {
      const index = this.childIndex(node, key);
      path.push({ node, index });
      node = this.childAt(node, index);
    }
    return { path, leaf: node };
  }

  /** Find the exact element; a missing one is a caller bug. */
  private locate(exact: BTreeKey): { path: Array<{ node: BTreeNode; index: number }>; leaf: BTreeNode; at: number } {
    const { path, leaf } = this.descend(exact);
    const at = this.leafPosition(leaf, exact);
    const elm = (leaf.elms as LeafElm[])[at];
    assert(
      elm !== undefined &&
        compareLeafTo(elm, exact.localization, exact.objId, exact.recType, exact.key, exact.createTid) === 0,
      'the record to change exists in the tree',
    );
    return { path, leaf, at };
  }

  /** Set delete_tid (history keeps the record, visible before `deleteTid`). */
  markDeleted(exact: BTreeKey, deleteTid: number, deleteTs: number): LeafElm {
    const { path, leaf, at } = this.locate(exact);
    const elm = (leaf.elms as LeafElm[])[at] as LeafElm;
    assert(elm.deleteTid === 0, 'a record is deleted once');
    assert(deleteTid > elm.createTid, 'delete_tid is after create_tid (never equal)');
    this.store.modifyNode(leaf, elmAt(at), ELM_BYTES);
    elm.deleteTid = deleteTid;
    elm.deleteTs = deleteTs;
    if (deleteTid > leaf.mirrorTid) leaf.mirrorTid = deleteTid;
    writeElm(leaf.bytes, leaf, at, leaf.view);
    writeNodeHeader(leaf.bytes, leaf, leaf.view);
    for (const step of path) this.raiseMirror(step.node, step.index, deleteTid);
    return copyLeafElm(elm);
  }

  /**
   * Remove a record physically (pruning, no-history). An emptied leaf is
   * unlinked and freed unless it is its parent's only child: internal nodes
   * never become empty, and the root may be an empty leaf.
   */
  destroy(exact: BTreeKey): LeafElm {
    const { path, leaf, at } = this.locate(exact);
    const elms = leaf.elms as LeafElm[];
    const removed = elms[at] as LeafElm;
    this.store.modifyNode(leaf, elmAt(at), (leaf.count - at) * ELM_BYTES);
    elms.splice(at, 1);
    leaf.count--;
    writeNodeHeader(leaf.bytes, leaf, leaf.view);
    shiftElms(leaf, at + 1, -1);
    leaf.bytes.fill(0, elmAt(leaf.count), elmAt(leaf.count + 1));
    const parent = path[path.length - 1];
    if (leaf.count === 0 && parent !== undefined && parent.node.count > 1) {
      this.removeChild(parent.node, parent.index);
      this.store.freeNode(leaf);
    }
    return removed;
  }

  /** The element with exactly this key (create_tid included); a missing one is a caller bug. */
  lookupExact(exact: BTreeKey): LeafElm {
    const { leaf, at } = this.locate(exact);
    return copyLeafElm((leaf.elms as LeafElm[])[at] as LeafElm);
  }

  /**
   * Reblocking: point a record at a copy of its data elsewhere (same bytes,
   * same CRC). Only the data offset changes; keys, TIDs and history stay.
   */
  setDataOffset(exact: BTreeKey, dataOffset: number): LeafElm {
    const { leaf, at } = this.locate(exact);
    const elm = (leaf.elms as LeafElm[])[at] as LeafElm;
    this.store.modifyNode(leaf, elmAt(at), ELM_BYTES);
    elm.dataOffset = dataOffset;
    writeElm(leaf.bytes, leaf, at, leaf.view);
    return copyLeafElm(elm);
  }

  /**
   * Reblocking: copy the node at `offset` to a fresh node, relink it (its
   * parent's element, or the root pointer; its children's parent fields) and
   * free the old one. Returns the new offset. The elements and bounds are the
   * same, so no search changes.
   */
  relocate(offset: number): number {
    const node = this.store.readNode(offset);
    const moved = this.store.allocNode(node.type, node.parent);
    moved.elms =
      node.type === NODE_TYPE_LEAF
        ? (node.elms as LeafElm[]).map(copyLeafElm)
        : (node.elms as InternalElm[]).map((e) => internalElm(e, e));
    moved.count = node.count;
    moved.mirrorTid = node.mirrorTid;
    writeNodeHeader(moved.bytes, moved, moved.view);
    for (let i = 0; i < moved.elms.length; i++) writeElm(moved.bytes, moved, i, moved.view);
    if (node.parent === 0) {
      assert(this.store.rootOffset() === offset, 'a node without a parent is the root');
      this.store.setRootOffset(moved.offset);
    } else {
      const parent = this.store.readNode(node.parent);
      const elms = parent.elms as InternalElm[];
      const index = elms.findIndex((e, i) => i < parent.count && e.subtreeOffset === offset);
      assert(index >= 0, "a node's parent links to it");
      this.store.modifyNode(parent, elmAt(index), ELM_BYTES);
      (elms[index] as InternalElm).subtreeOffset = moved.offset;
      writeElm(parent.bytes, parent, index, parent.view);
    }
    if (moved.type === NODE_TYPE_INTERNAL) {
      for (let i = 0; i < moved.count; i++) this.setParent(this.childAt(moved, i), moved.offset);
    }
    this.store.freeNode(node);
    return moved.offset;
  }

  /** Unlink child `index`; the node keeps its own left bound in elms[0]. */
  private removeChild(node: BTreeNode, index: number): void {
    const elms = node.elms as InternalElm[];
    const oldLength = elms.length;
    this.store.modifyNode(node, elmAt(index), (oldLength - index) * ELM_BYTES);
    if (index === 0) {
      const next = elms[1] as InternalElm;
      const first = elms[0] as InternalElm;
      elms[0] = internalElm(first, {
        deleteTid: first.deleteTid,
        btype: next.btype,
        mirrorTid: next.mirrorTid,
        subtreeOffset: next.subtreeOffset,
      });
      elms.splice(1, 1);
    } else {
      elms.splice(index, 1);
    }
    node.count--;
    writeNodeHeader(node.bytes, node, node.view);
    for (let i = index; i < elms.length; i++) writeElm(node.bytes, node, i, node.view);
    node.bytes.fill(0, elmAt(elms.length), elmAt(oldLength));
  }

  /** The version of `base` visible as of `asof` (TID_MAX for now). */
  lookup(base: Base, asof: number): LeafElm | undefined {
    const lo = { ...base, createTid: 1 };
    const hi = { ...base, createTid: Math.max(1, Math.min(asof, KEY_MAX)) };
    const found = this.collect(lo, hi, asof);
    return found[found.length - 1];
  }

  /**
   * What scan() yields, collected into an array: the same records in the same
   * order, without a generator per node on the way (lookups run per path
   * component and per file created).
   */
  collect(lo: BTreeKey, hi: BTreeKey, asof?: number): LeafElm[] {
    const out: LeafElm[] = [];
    this.collectNode(this.root(), lo, hi, asof, out);
    return out;
  }

  private collectNode(node: BTreeNode, lo: BTreeKey, hi: BTreeKey, asof: number | undefined, out: LeafElm[]): void {
    const { localization, objId, recType, key, createTid } = hi;
    if (node.type === NODE_TYPE_LEAF) {
      const elms = node.elms as LeafElm[];
      for (let i = this.leafPosition(node, lo); i < node.count; i++) {
        const elm = elms[i] as LeafElm;
        if (compareLeafTo(elm, localization, objId, recType, key, createTid) > 0) return;
        if (asof === undefined || visible(elm, asof)) out.push(copyLeafElm(elm));
      }
      return;
    }
    const elms = node.elms as InternalElm[];
    for (let i = this.childIndex(node, lo); i < node.count; i++) {
      if (compareBoundTo(elms[i] as InternalElm, localization, objId, recType, key, createTid) > 0) return;
      this.collectNode(this.childAt(node, i), lo, hi, asof, out);
    }
  }

  /**
   * Records with lo ≤ key ≤ hi in key order; only those visible as of `asof`
   * when given, every version otherwise. Do not change the tree while
   * iterating (collect first).
   */
  *scan(lo: BTreeKey, hi: BTreeKey, asof?: number): Generator<LeafElm> {
    yield* this.scanNode(this.root(), lo, hi, asof);
  }

  private *scanNode(node: BTreeNode, lo: BTreeKey, hi: BTreeKey, asof: number | undefined): Generator<LeafElm> {
    const { localization, objId, recType, key, createTid } = hi;
    if (node.type === NODE_TYPE_LEAF) {
      const elms = node.elms as LeafElm[];
      for (let i = this.leafPosition(node, lo); i < node.count; i++) {
        const elm = elms[i] as LeafElm;
        if (compareLeafTo(elm, localization, objId, recType, key, createTid) > 0) return;
        if (asof === undefined || visible(elm, asof)) yield copyLeafElm(elm);
      }
      return;
    }
    const elms = node.elms as InternalElm[];
    for (let i = this.childIndex(node, lo); i < node.count; i++) {
      if (compareBoundTo(elms[i] as InternalElm, localization, objId, recType, key, createTid) > 0) return;
      yield* this.scanNode(this.childAt(node, i), lo, hi, asof);
    }
  }

  /** Every node depth-first with its bounds (for show and fsck); throws on an unreadable node. */
  *walk(): Generator<WalkEntry> {
    for (const step of walkTolerant((offset) => this.store.readNode(offset), this.store.rootOffset())) {
      if (step.node === undefined) throw step.error;
      yield step;
    }
  }

  /** Structural problems (empty when healthy): order, bounds, links, counts, depth, TIDs. */
  check(): string[] {
    return checkStructure(this.walk());
  }

  stats(): BTreeStats {
    return treeStats(this.walk());
  }
}
