import { assert } from './assert.js';
import type { Blockmap } from './blockmap.js';
import type { Buffer16k, BufferCache } from './buffers.js';
import { FsError } from './errors.js';
import {
  type BTreeNodeData,
  decodeNode,
  NODE_HEADER_BYTES,
  NODE_SIGNATURE_DESTROYED,
  sealNode,
  writeNodeHeader,
} from './format/btree-node.js';
import { BUFFER_BYTES, hammerOff, NODE_BYTES, offPart, offZone, viewOf, Zone } from './layout.js';
import type { BTreeNode, NodeStore } from './node-store.js';

/** Every cached node is made here, so read and allocated nodes share one hidden class. */
function cachedNode(
  offset: number,
  bytes: Uint8Array,
  type: BTreeNodeData['type'],
  parent: number,
  count: number,
  mirrorTid: number,
  elms: BTreeNodeData['elms'],
  nonlinear: boolean,
): BTreeNode {
  return { offset, bytes, view: viewOf(bytes), type, parent, count, mirrorTid, elms, nonlinear };
}

/**
 * The B-tree's view of the volume: decoded nodes cached by offset, each one's
 * 4 KiB image living inside its 16 KiB meta-data buffer. A node read from the
 * device has its signature and CRC checked (EIO naming the node otherwise);
 * CRCs of changed nodes are sealed at write-out.
 */
export class NodeCache implements NodeStore {
  private readonly nodes = new Map<number, BTreeNode>();
  private readonly dirty = new Set<BTreeNode>();

  /** No node waits to be written. */
  get quiet(): boolean {
    return this.dirty.size === 0;
  }

  constructor(
    private readonly cache: BufferCache,
    private readonly blockmap: Blockmap | undefined,
    private readonly bufBeg: number,
    private readonly bufEnd: number,
    private readonly root: { get(): number; set(offset: number): void },
  ) {}

  /** The buffer holding the node at `offset`, and where in it the node starts. */
  private place(offset: number): { buffer: Buffer16k; within: number } {
    const physical = this.bufBeg + offPart(offset);
    const base = physical - (physical % BUFFER_BYTES);
    const buffer = this.cache.get(base, 'meta');
    return { buffer, within: physical - base };
  }

  readNode(offset: number): BTreeNode {
    const cached = this.nodes.get(offset);
    if (cached !== undefined) return cached;
    const physical = this.bufBeg + offPart(offset);
    if (offZone(offset) !== Zone.BTREE || offPart(offset) % NODE_BYTES !== 0 || physical + NODE_BYTES > this.bufEnd) {
      throw new FsError('EIO', `B-tree link to 0x${offset.toString(16)} is not a node offset in the B-tree zone`);
    }
    const place = this.place(offset);
    const bytes = place.buffer.bytes.subarray(place.within, place.within + NODE_BYTES);
    // Checked even in a dirty buffer: recovery and an aborted cycle restore whole granules, header (CRC) included.
    const data = decodeNode(bytes, offset);
    const node = cachedNode(
      offset,
      bytes,
      data.type,
      data.parent,
      data.count,
      data.mirrorTid,
      data.elms,
      data.nonlinear === true,
    );
    this.nodes.set(offset, node);
    return node;
  }

  allocNode(type: BTreeNodeData['type'], parent: number): BTreeNode {
    assert(this.blockmap !== undefined, 'nodes are allocated only on a read-write mount');
    const alloc = this.blockmap.alloc(Zone.BTREE, NODE_BYTES);
    const base = alloc.physical - (alloc.physical % BUFFER_BYTES);
    const buffer = alloc.freshBuffer ? this.cache.getFresh(base, 'meta') : this.cache.get(base, 'meta');
    const within = alloc.physical - base;
    this.cache.markFresh(buffer, within, NODE_BYTES);
    const bytes = buffer.bytes.subarray(within, within + NODE_BYTES);
    bytes.fill(0);
    const node = cachedNode(alloc.offset, bytes, type, parent, 0, 0, [], false);
    writeNodeHeader(bytes, node, node.view);
    this.nodes.set(node.offset, node);
    this.dirty.add(node);
    return node;
  }

  modifyNode(node: BTreeNode, byteOffset: number, length: number): void {
    // As place(), without its result object (this runs several times per insert).
    const physical = this.bufBeg + offPart(node.offset);
    const within = physical % BUFFER_BYTES;
    const buffer = this.cache.get(physical - within, 'meta');
    assert(buffer.bytes.buffer === node.bytes.buffer, 'a cached node lives in its cached buffer');
    this.cache.modify(buffer, within, NODE_HEADER_BYTES); // the header holds the CRC
    if (byteOffset + length > NODE_HEADER_BYTES) {
      const start = Math.max(byteOffset, NODE_HEADER_BYTES);
      this.cache.modify(buffer, within + start, byteOffset + length - start);
    }
    this.dirty.add(node);
  }

  freeNode(node: BTreeNode): void {
    assert(this.blockmap !== undefined, 'nodes are freed only on a read-write mount');
    this.modifyNode(node, 0, NODE_HEADER_BYTES);
    node.view.setUint32(4, NODE_SIGNATURE_DESTROYED, true);
    this.dirty.delete(node);
    this.nodes.delete(node.offset);
    this.blockmap.free(node.offset, NODE_BYTES);
  }

  rootOffset(): number {
    return this.root.get();
  }

  setRootOffset(offset: number): void {
    this.root.set(offset);
  }

  /** Compute the CRC of every changed node before its buffer is written. */
  sealDirty(): void {
    for (const node of this.dirty) sealNode(node.bytes);
    this.dirty.clear();
  }

  /** A buffer left the cache: its nodes go with it. */
  evictBuffer(buffer: Buffer16k): void {
    for (let at = 0; at < BUFFER_BYTES; at += NODE_BYTES) {
      const physical = buffer.offset + at;
      if (physical < this.bufBeg) continue;
      const node = this.nodes.get(hammerOff(Zone.BTREE, physical - this.bufBeg));
      if (node !== undefined && !this.dirty.has(node)) this.nodes.delete(node.offset);
    }
  }

  /** Forget every decoded node (an aborted cycle restored the bytes underneath). */
  clear(): void {
    this.nodes.clear();
    this.dirty.clear();
  }
}
