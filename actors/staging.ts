import { InodeFlag } from '../machines/inode-flags.js';
import { assert } from '../storage/assert.js';
import type { FlushGroup } from './flush-group.js';
import type { Flusher, FlushOptions } from './flusher.js';
import type { Inode, InodeState } from './inode.js';
import type { Mount } from './mount.js';
import { type FlushState, hasFlag, type MemRecord, RecordFlag } from './records.js';

/** hammer_setup_parent_inodes' recursion limit. */
export const SETUP_DEPTH_LIMIT = 20;

/**
 * Staging (hammer_flush_inode and what it calls): where an inode goes by
 * its state, upward resolution through the target list
 * (setup_parent_inodes), placing the inode in a group (flush_inode_core) and
 * the downward scan of its records (setup_child_callback). It decides and
 * sends events; the Flusher owns the groups and runs them.
 */
export class Staging {
  /** Inodes inside flush_inode_core (between joining the group's count and their FLUSH event). */
  private readonly placing = new Map<Inode, number>();
  /** Records whose same-name partner is being pulled in (breaks the ADD <-> DEL recursion). */
  private readonly resolving = new Set<MemRecord>();

  constructor(
    private readonly mount: Mount,
    private readonly flusher: Flusher,
  ) {}

  /** Nothing is being placed or resolved. */
  get quiet(): boolean {
    return this.placing.size === 0 && this.resolving.size === 0;
  }

  /** hammer_flush_inode's decision for one inode (the Flusher wraps it in a staging step). */
  queue(ip: Inode, options: FlushOptions): void {
    if (ip.has(InodeFlag.RO) || ip.state === 'unloaded') return;
    const flg = this.flusher.fillGroup();
    if (!ip.dirty) {
      if (ip.state === 'setup' && ip.targetList.length === 0) {
        ip.send({ type: 'FLUSH', group: flg.seq, goCount: 0, signal: false, targetListEmpty: true });
      }
      if (ip.state === 'idle') return;
    }
    switch (ip.state) {
      case 'idle':
        this.flushInodeCore(ip, flg, options);
        break;
      case 'setup': {
        const good = this.setupParentInodes(ip, 0, flg);
        // A removal that joined before another one failed: the inode goes with it (its synced
        // nlinks then counts the entry that stays), never a DEL on disk without its inode.
        if (good >= 0 || this.targetsInGroup(ip, flg)) {
          // A same-name partner pulled in during the walk may have placed the inode already.
          if (stateOf(ip) !== 'flush' && !this.placing.has(ip)) this.flushInodeCore(ip, flg, options);
        } else {
          ip.send({ type: 'CONN_DOWN', signal: options.signal ?? false });
          if (options.signal) this.flusher.flusherAsync(flg);
        }
        break;
      }
      case 'flush':
        ip.send({
          type: 'FLUSH',
          group: ip.group ?? flg.seq,
          goCount: 1,
          signal: options.signal ?? false,
          targetListEmpty: true,
        });
        if (options.signal) this.flusher.flusherAsync(this.flusher.group(ip.group) ?? flg);
        break;
      default:
        break;
    }
    this.flusher.drain();
  }

  /**
   * hammer_setup_parent_inodes: walk the records targeting `ip` upward.
   * 1: a parent's ADD gives connectivity in this group; 0: nothing relevant;
   * -1: a parent cannot flush with us; -2: the depth limit cut the walk.
   */
  private setupParentInodes(ip: Inode, depth: number, flg: FlushGroup): number {
    if (depth === SETUP_DEPTH_LIMIT && ip.targetList.length > 0) {
      this.mount.bus.fact(ip.id, 'DEPTH_LIMIT', { depth });
      this.mount.counters.depthLimitHits++;
      return -2;
    }
    let good = 0;
    // New entries first: a removal joins only if the inode keeps an entry in this group or gains
    // none. Else a group could commit a rename's DEL without its ADD, and a crash then show the
    // inode with fewer entries than its nlinks, or none at all.
    const records = [...ip.targetList].sort((a, b) => Number(b.type === 'ADD') - Number(a.type === 'ADD'));
    const hasAdd = records[0]?.type === 'ADD';
    for (const record of records) {
      if (good < 0 && record.type === 'DEL' && hasAdd) break;
      const r = this.setupParentHelper(record, depth, flg);
      assert(record.target === ip || record.target === undefined, 'a target-list record targets its inode');
      if (r < 0 && good === 0) good = -1;
      if (r > 0) good = 1;
      if (r === -2) break;
    }
    return good;
  }

  /** Some record targeting `ip` is in `flg`: the inode must be written there too (its nlinks with its entries). */
  private targetsInGroup(ip: Inode, flg: FlushGroup): boolean {
    return ip.targetList.some((record) => record.state === 'flush' && record.group === flg.seq);
  }

  private setupParentHelper(record: MemRecord, depth: number, flg: FlushGroup): number {
    assert(record.state !== 'idle', 'a record on a target list is in SETUP or FLUSH');
    const pip = record.ip;
    const target = record.target;
    if (record.state === 'flush') {
      if (record.group !== flg.seq) {
        pip.mark(InodeFlag.REFLUSH);
        target?.mark(InodeFlag.CONN_DOWN);
        return -1;
      }
      return record.type === 'ADD' ? 1 : 0;
    }
    const good = this.setupParentInodes(pip, depth + 1, flg);
    if (good < 0) {
      pip.mark(InodeFlag.REFLUSH);
      target?.mark(InodeFlag.CONN_DOWN);
      return good;
    }
    if (pip.state !== 'flush' && !this.placing.has(pip)) this.flushInodeCore(pip, flg, { recursion: true });
    assert(stateOf(pip) === 'flush' || this.placing.has(pip), 'upward recursion leaves the parent flushing');
    // A rename loop can revisit a record that the recursion already placed.
    if (recordStateOf(record) === 'flush') return record.type === 'ADD' ? 1 : 0;
    if (this.inGroup(pip, flg) && !this.blockedByPendingDel(record, flg)) {
      // The same-name resolution may have placed it already.
      if (recordStateOf(record) === 'flush') return record.type === 'ADD' ? 1 : 0;
      this.joinGroup(record, flg);
      return record.type === 'ADD' ? 1 : 0;
    }
    pip.mark(InodeFlag.REFLUSH);
    target?.mark(InodeFlag.CONN_DOWN);
    return -1;
  }

  /**
   * A new entry never reaches the disk before the removal of an older entry
   * of the same name in the same directory (else a crash between the two
   * groups shows the name twice). The pending DEL is pulled into this group
   * if it can be; if not (its target flushes elsewhere), the ADD waits.
   */
  private blockedByPendingDel(record: MemRecord, flg: FlushGroup): boolean {
    if (this.resolving.has(record)) return false;
    this.resolving.add(record);
    try {
      return record.type === 'ADD'
        ? this.addWaits(record, flg)
        : record.type === 'DEL'
          ? this.delWaits(record, flg)
          : false;
    } finally {
      this.resolving.delete(record);
    }
  }

  /** An ADD waits for every pending removal of its name in its directory to be in this group. */
  private addWaits(record: MemRecord, flg: FlushGroup): boolean {
    const dels = record.ip.delsByName.get(record.name);
    if (dels === undefined) return false;
    for (const del of [...dels]) {
      if (del.flags & (RecordFlag.COMMITTED | RecordFlag.DELETED_BE)) continue;
      // A frontend-deleted ADD is written first and deleted by a later group: wait for its DEL.
      if (del.type === 'ADD') return true;
      if (del.state === 'setup') this.setupChild(del, flg);
      if (del.state === 'idle') this.joinGroup(del, flg);
      if (recordStateOf(del) !== 'flush' || del.group !== flg.seq) return true;
    }
    return false;
  }

  /**
   * A DEL whose name already has a new entry (a rename over it, a create
   * after it) goes with that ADD, so the name is never missing after a crash:
   * the ADD is pulled into this group, or the DEL waits.
   */
  private delWaits(record: MemRecord, flg: FlushGroup): boolean {
    const add = record.ip.names.get(record.name);
    if (add === undefined || add.flags & (RecordFlag.COMMITTED | RecordFlag.DELETED_BE | RecordFlag.DELETED_FE)) {
      return false;
    }
    if (add.state === 'setup') this.setupChild(add, flg);
    return recordStateOf(add) !== 'flush' || add.group !== flg.seq;
  }

  private joinGroup(record: MemRecord, flg: FlushGroup): void {
    record.state = 'flush';
    record.group = flg.seq;
    flg.addRef();
  }

  /** hammer_flush_inode_core: place the inode in FLUSH, or back in SETUP when none of its records can go. */
  private flushInodeCore(ip: Inode, flg: FlushGroup, options: FlushOptions): void {
    assert(ip.state !== 'flush' && !this.placing.has(ip), 'flush_inode_core never sees an inode already flushing');
    // The seed marks the inode FLUSH before its scan; ours learns goCount first, so it is "staging" meanwhile.
    this.placing.set(ip, flg.seq);
    try {
      this.flushInodeCoreStaged(ip, flg, options);
    } finally {
      this.placing.delete(ip);
    }
  }

  /** Whether `ip` flushes (or is being placed) in `flg`. */
  private inGroup(ip: Inode, flg: FlushGroup): boolean {
    return ip.state === 'flush' ? ip.group === flg.seq : this.placing.get(ip) === flg.seq;
  }

  private flushInodeCoreStaged(ip: Inode, flg: FlushGroup, options: FlushOptions): void {
    assert(!ip.has(InodeFlag.WOULDBLOCK), 'flush_inode_core never sees WOULDBLOCK');
    flg.addInode();
    // A directory whose own entry is going away brings its pending removals along (full
    // scan even under recursion): its entry must never leave the disk before its contents.
    const removingDirectory = ip.isDirectory && ip.ino.nlinks === 0;
    const goCount =
      options.recursion && !removingDirectory ? 1 + this.joinIdleRecords(ip, flg) : this.scanChildren(ip, flg);
    ip.send({
      type: 'FLUSH',
      group: flg.seq,
      goCount,
      signal: options.signal ?? false,
      targetListEmpty: ip.targetList.length === 0,
      data: ip.ino,
    });
    if (stateOf(ip) !== 'flush') {
      flg.removeInode();
      return;
    }
    flg.tree.add(ip);
    this.mount.redo.startFlush(ip);
  }

  /**
   * A recursion does not scan SETUP records again (no walk down from a walk
   * up), but the inode's IDLE records (its data blocks, its auxiliary
   * records) have no dependency and join it. The seed leaves them for the
   * next group (its data goes through the buffer cache, ours is records), and
   * a crash between the two would show a new file's size without its bytes.
   */
  private joinIdleRecords(ip: Inode, flg: FlushGroup): number {
    let joined = 0;
    for (const record of ip.records) {
      if (
        record.state !== 'idle' ||
        record.flags & (RecordFlag.DELETED_FE | RecordFlag.DELETED_BE | RecordFlag.COMMITTED)
      )
        continue;
      this.joinGroup(record, flg);
      joined++;
    }
    return joined;
  }

  /** RB_SCAN of the record tree with hammer_setup_child_callback; the sum of its results. */
  private scanChildren(ip: Inode, flg: FlushGroup): number {
    let goCount = 0;
    for (const record of [...ip.records]) {
      const r = this.setupChild(record, flg);
      if (r < 0) return -1;
      goCount += r;
    }
    return goCount;
  }

  private setupChild(record: MemRecord, flg: FlushGroup): number {
    const ip = record.ip;
    if (hasFlag(record, RecordFlag.DELETED_FE | RecordFlag.DELETED_BE | RecordFlag.COMMITTED)) {
      return record.state === 'flush' ? 1 : 0;
    }
    switch (record.state) {
      case 'idle':
        assert(record.target === undefined, 'an IDLE record has no target');
        this.joinGroup(record, flg);
        return 1;
      case 'setup': {
        const target = record.target;
        assert(target !== undefined, 'a SETUP record has a target');
        assert(target.state !== 'idle', 'the target of a SETUP record is not IDLE');
        if (target.state === 'flush' || this.placing.has(target)) {
          // Already flushing in this very group: the record joins it (nlinks are computed at
          // sync time, so nothing frozen is stale), keeping a rename's ADD and DEL together.
          if (this.inGroup(target, flg) && !this.blockedByPendingDel(record, flg)) {
            if (recordStateOf(record) !== 'flush') this.joinGroup(record, flg);
            return 1;
          }
          (record.type === 'ADD' ? ip : target).mark(InodeFlag.REFLUSH);
          return 0;
        }
        if (flg.totalCount + flg.refs > this.mount.undoRecLimit) {
          // Over-full: flush what we have; the directory drains over several groups.
          ip.mark(InodeFlag.RESIGNAL | InodeFlag.REFLUSH);
          this.mount.counters.overfullScans++;
          return -1;
        }
        if (this.blockedByPendingDel(record, flg)) {
          ip.mark(InodeFlag.REFLUSH);
          return 0;
        }
        if (recordStateOf(record) === 'flush') return 1;
        if (record.type === 'DEL') return this.setupRemoval(record, target, flg);
        this.joinGroup(record, flg);
        if (stateOf(target) !== 'flush' && !this.placing.has(target))
          this.flushInodeCore(target, flg, { recursion: true });
        // The target's other dependencies (the other half of a rename) come along where they can.
        this.setupParentInodes(target, 0, flg);
        return 1;
      }
      case 'flush':
        assert(ip.isDirectory || record.group === flg.seq, 'a flushing record of a file is in its group');
        return 1;
    }
  }

  /**
   * A directory's removal of an entry whose inode is not flushing: the inode
   * is placed and walks its dependencies (new entries first), and the DEL
   * joins through that walk, so only where the inode's new entries could
   * (a rename's DEL never reaches the disk before its ADD: the inode's
   * synced nlinks would be 0 with the file still linked in memory, and a
   * crash would lose it). When it cannot, the directory flushes again later.
   */
  private setupRemoval(record: MemRecord, target: Inode, flg: FlushGroup): number {
    if (stateOf(target) !== 'flush' && !this.placing.has(target)) this.flushInodeCore(target, flg, { recursion: true });
    this.setupParentInodes(target, 0, flg);
    if (recordStateOf(record) === 'flush' && record.group === flg.seq) return 1;
    record.ip.mark(InodeFlag.REFLUSH);
    return 0;
  }
}

/** Read a state after events that changed it (defeats TypeScript's narrowing from an earlier test). */
function stateOf(ip: Inode): InodeState {
  return ip.state;
}

function recordStateOf(record: MemRecord): FlushState {
  return record.state;
}
