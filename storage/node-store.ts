import type { BTreeNodeData } from './format/btree-node.js';

/**
 * A B-tree node as the tree works on it: the decoded element arrays (for fast
 * search) and the 4 KiB image inside its 16 KiB buffer, kept in step. Every
 * change goes: `store.modifyNode(node, byteOffset, length)` first (UNDO of the
 * pre-image, node marked dirty), then the arrays, then writeElm/writeNodeHeader
 * for the bytes that changed.
 */
export interface BTreeNode extends BTreeNodeData {
  /** HAMMER offset (zone 8) of this node. */
  readonly offset: number;
  /** The node's 4 KiB image, a view into its buffer. */
  readonly bytes: Uint8Array;
  /** A DataView of `bytes`, made once: encoding an element or the header needs no view of its own. */
  readonly view: DataView;
  /**
   * HAMMER_NODE_NONLINEAR: an insert at this leaf's end already split it three
   * quarters to one, so the next full split goes back to halves (kept in the
   * header: BTreeNodeData.nonlinear).
   */
  nonlinear: boolean;
}

/**
 * What the B-tree needs from the layers below: nodes by offset, fresh nodes,
 * the one modify() path, frees, and the root pointer (kept in the volume
 * header, committed with each flush cycle).
 */
export interface NodeStore {
  /** The node at `offset`, from cache or read and CRC-checked (EIO on damage). */
  readNode(offset: number): BTreeNode;
  /** A fresh node in the B-tree zone. Not linked anywhere yet, so no UNDO is needed. */
  allocNode(type: BTreeNodeData['type'], parent: number): BTreeNode;
  /**
   * Declare bytes [byteOffset, byteOffset + length) of the node are about to
   * change: their pre-image (and the node header, which holds the CRC) goes to
   * UNDO once per flush cycle, and the node is marked dirty.
   */
  modifyNode(node: BTreeNode, byteOffset: number, length: number): void;
  /** Release a node that is no longer linked (an emptied leaf). */
  freeNode(node: BTreeNode): void;
  rootOffset(): number;
  setRootOffset(offset: number): void;
}
