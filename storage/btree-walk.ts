import {
  type BTreeKey,
  compareKeys,
  type InternalElm,
  type LeafElm,
  MAX_BOUND,
  MIN_BOUND,
  NODE_TYPE_INTERNAL,
  NODE_TYPE_LEAF,
} from './format/btree-node.js';
import type { BTreeNode } from './node-store.js';

/** Where a node hangs in the tree: the node linking to it, its depth, and its bounds from that link. */
interface Placement {
  offset: number;
  /** The node that links to this one (0 for the root). */
  linkedFrom: number;
  depth: number;
  /** The parent's element for this child (MIN_BOUND at the root), and the next one (its right bound). */
  leftBound: BTreeKey;
  rightBound: BTreeKey;
}

/** One step of a damage-tolerant walk: a node read (or the error reading it), with where it hangs. */
export type WalkStep = Placement & ({ node: BTreeNode; error?: undefined } | { node?: undefined; error: unknown });
export type WalkEntry = Placement & { node: BTreeNode };

export interface BTreeStats {
  nodes: number;
  leaves: number;
  internals: number;
  depth: number;
  records: number;
}

/**
 * Depth-first over every node reachable from `root`, for fsck and show: a node
 * that cannot be read (bad CRC, bad link) is reported as a step with `error`
 * and its subtree skipped; the walk goes on with the rest.
 */
export function* walkTolerant(read: (offset: number) => BTreeNode, root: number): Generator<WalkStep> {
  const stack: Placement[] = [{ offset: root, linkedFrom: 0, depth: 0, leftBound: MIN_BOUND, rightBound: MAX_BOUND }];
  while (stack.length > 0) {
    const item = stack.pop() as Placement;
    let node: BTreeNode;
    try {
      node = read(item.offset);
    } catch (error) {
      yield { ...item, error };
      continue;
    }
    yield { ...item, node };
    if (node.type !== NODE_TYPE_INTERNAL) continue;
    const elms = node.elms as InternalElm[];
    for (let i = node.count - 1; i >= 0; i--) {
      const elm = elms[i] as InternalElm;
      stack.push({
        offset: elm.subtreeOffset,
        linkedFrom: node.offset,
        depth: item.depth + 1,
        leftBound: elm,
        rightBound: elms[i + 1] as InternalElm,
      });
    }
  }
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** Problems of one node where it hangs: links, counts, bounds, order, TIDs (each naming the node). */
export function nodeProblems(entry: WalkEntry): Array<{ where: string; what: string }> {
  const { node, depth, linkedFrom, leftBound, rightBound } = entry;
  const where = `node ${hex(node.offset)}`;
  const problems: string[] = [];
  if (node.parent !== linkedFrom) problems.push(`parent ${hex(node.parent)}, linked from ${hex(linkedFrom)}`);
  if (depth > 0 && (leftBound as InternalElm).btype !== node.type)
    problems.push("type differs from the parent's btype");
  const elms = node.elms as Array<LeafElm | InternalElm>;
  if (node.type === NODE_TYPE_LEAF) {
    if (elms.length !== node.count) problems.push(`${elms.length} elements, count ${node.count}`);
  } else {
    if (node.count < 1) problems.push('empty internal node');
    if (elms.length !== node.count + 1) problems.push(`${elms.length} bounds, count ${node.count}`);
    if (compareKeys(elms[0] as BTreeKey, leftBound) !== 0) problems.push("left bound differs from the parent's");
    if (compareKeys(elms[node.count] as BTreeKey, rightBound) !== 0)
      problems.push("right bound differs from the parent's");
  }
  elms.forEach((elm, i) => {
    if (i > 0 && compareKeys(elms[i - 1] as BTreeKey, elm) >= 0)
      problems.push(`elements ${i - 1} and ${i} out of order`);
    if (node.type !== NODE_TYPE_LEAF) return;
    if (compareKeys(elm, leftBound) < 0 || compareKeys(elm, rightBound) >= 0) {
      problems.push(`element ${i} outside the node's bounds`);
    }
    if (elm.deleteTid !== 0 && elm.deleteTid <= elm.createTid)
      problems.push(`element ${i} delete_tid is not after create_tid`);
  });
  return problems.map((what) => ({ where, what }));
}

/** Structural problems of a whole tree (empty when healthy), including leaves at different depths. */
export function checkStructure(entries: Iterable<WalkEntry>): string[] {
  const problems: string[] = [];
  let leafDepth = -1;
  for (const entry of entries) {
    for (const { where, what } of nodeProblems(entry)) problems.push(`${where}: ${what}`);
    if (entry.node.type !== NODE_TYPE_LEAF) continue;
    if (leafDepth < 0) leafDepth = entry.depth;
    else if (leafDepth !== entry.depth) {
      problems.push(`node ${hex(entry.node.offset)}: leaf at depth ${entry.depth}, others at ${leafDepth}`);
    }
  }
  return problems;
}

export function treeStats(entries: Iterable<WalkEntry>): BTreeStats {
  const stats: BTreeStats = { nodes: 0, leaves: 0, internals: 0, depth: 0, records: 0 };
  for (const { node, depth } of entries) {
    stats.nodes++;
    stats.depth = Math.max(stats.depth, depth + 1);
    if (node.type === NODE_TYPE_LEAF) {
      stats.leaves++;
      stats.records += node.count;
    } else stats.internals++;
  }
  return stats;
}
