import type { Subscription } from 'rxjs';
import { type Actor, createActor, type Snapshot } from 'xstate';
import { flusherMachine } from '../machines/flusher.js';
import { InodeFlag, MODMASK } from '../machines/inode-flags.js';
import { assert } from '../storage/assert.js';
import { offPart } from '../storage/layout.js';
import { FlushGroup, type FlushGroupState } from './flush-group.js';
import type { Inode } from './inode.js';
import type { Mount } from './mount.js';
import { RecordFlag } from './records.js';
import { Staging } from './staging.js';

/** Re-runs of one group (WOULDBLOCK) before the flusher calls it a bug. */
const RERUN_LIMIT = 10_000;

/** Flusher.memo(): what a replay checkpoint keeps of the flusher. */
export interface FlusherMemo {
  snapshot: Snapshot<unknown>;
  groups: Array<{ seq: number; snapshot: Snapshot<unknown>; tree: string[] }>;
}

export interface FlushOptions {
  signal?: boolean;
  /** Upward recursion: do not scan the inode's records again (HAMMER_FLUSH_RECURSION). */
  recursion?: boolean;
}

/**
 * The coordinator of hammer_inode.c's flush logic, outside the actors: it
 * holds the groups, stages inodes into them (staging.ts: upward and downward
 * resolution), runs groups through the backend, hands each inode actor the
 * outcome (flush_inode_done) and drains what the actors emit. Nothing here
 * awaits: a group's run is one synchronous volume cycle.
 */
export class Flusher {
  readonly groups: FlushGroup[] = [];
  private actor: Actor<typeof flusherMachine>;
  /** Inodes whose flush completed, for wait_inode callers. */
  private readonly waiters = new Map<Inode, Array<() => void>>();
  /** The run asked of the scheduler that has not run yet (one covers every closed group). */
  private run: Subscription | undefined;
  /** Staging depth (flush_inode calls in progress): a group never runs in the middle of one. */
  private depth = 0;
  private runDeferred = false;
  private readonly staging: Staging;
  /** Inodes the running cycle synced: dirty again if the cycle fails to commit. */
  private readonly cycleInodes = new Set<Inode>();

  constructor(private readonly mount: Mount) {
    this.actor = createActor(flusherMachine);
    this.actor.start();
    this.staging = new Staging(mount, this);
  }

  /**
   * What a replay checkpoint inside a mount keeps of the flusher, between
   * two commands: the machine's persisted snapshot (the next group's seq),
   * the groups open or closed (each its machine's snapshot and its inodes),
   * whether a run is scheduled. Undefined while something is being staged,
   * run or waited for.
   */
  memo(): FlusherMemo | undefined {
    if (this.depth > 0 || this.runDeferred || this.waiters.size > 0 || this.pending.length > 0) return undefined;
    if (!this.staging.quiet) return undefined;
    const groups: FlusherMemo['groups'] = [];
    for (const flg of this.groups) {
      const snapshot = flg.state === 'open' || flg.state === 'closed' ? flg.memo() : undefined;
      if (snapshot === undefined) return undefined;
      groups.push({ seq: flg.seq, snapshot, tree: [...flg.tree].map((ip) => ip.id) });
    }
    return { snapshot: this.actor.getPersistedSnapshot(), groups };
  }

  /**
   * Go on from memo() (a mount resumed from a replay checkpoint, before
   * anything ran; `inodes` the restored cache). `scheduled`: a run waited
   * (the scheduler's memo says which action it was): it is scheduled again,
   * and the caller gives it back its number.
   */
  resume(memo: FlusherMemo, inodes: ReadonlyMap<string, Inode>, scheduled: boolean): void {
    assert(this.groups.length === 0 && this.run === undefined, 'a flusher resumes before anything ran');
    this.actor.stop();
    this.actor = createActor(flusherMachine, { snapshot: memo.snapshot });
    this.actor.start();
    for (const group of memo.groups) {
      const flg = new FlushGroup(group.seq, this.mount.groupLimits(), this.mount.bus, group.snapshot);
      for (const id of group.tree) {
        const ip = inodes.get(id);
        assert(ip !== undefined, `a group's inode ${id} is cached`);
        flg.tree.add(ip);
      }
      this.groups.push(flg);
    }
    if (scheduled) this.scheduleRun();
  }

  /** The scheduler's handle of the run that waits, if one does (a replay checkpoint tells it from the periodic sync). */
  get scheduledRun(): Subscription | undefined {
    return this.run;
  }

  get done(): number {
    return this.actor.getSnapshot().context.done;
  }

  /** The group new flushes go to (fill_flush_group): the first open one, or a new one. */
  fillGroup(): FlushGroup {
    const limits = this.mount.groupLimits();
    for (const flg of this.groups) {
      if (flg.state !== 'open') continue;
      assert(flg.seq > this.done, 'a group being filled is past every group that ran');
      // fill_flush_group's loop: a group at its limits closes (and is queued to run); take the next.
      if (flg.totalCount + flg.refs > limits.undoRecLimit || flg.totalCount >= limits.autoflush) {
        flg.settle();
        if (flg.state === 'open') flg.send({ type: 'CLOSE' });
        this.flusherAsync(flg);
        continue;
      }
      return flg;
    }
    const seq = this.actor.getSnapshot().context.next;
    this.actor.send({ type: 'ALLOC_SEQ' });
    const flg = new FlushGroup(seq, this.mount.groupLimits(), this.mount.bus);
    this.groups.push(flg);
    return flg;
  }

  group(seq: number | undefined): FlushGroup | undefined {
    return seq === undefined ? undefined : this.groups.find((g) => g.seq === seq);
  }

  /** hammer_flush_inode: queue the inode according to its state. */
  flushInode(ip: Inode, options: FlushOptions = {}): void {
    this.depth++;
    try {
      this.staging.queue(ip, options);
    } finally {
      this.depth--;
    }
    if (this.depth === 0) this.settleStaging();
    // A run the scheduler asked for while we were staging inodes happens now, outside the staging.
    if (this.depth === 0 && this.runDeferred) {
      this.runDeferred = false;
      this.mount.runSafely(() => this.runClosed());
    }
  }

  /** Stage many inodes as one step: the groups' counts go out once, at the end. */
  stage(work: () => void): void {
    this.depth++;
    try {
      work();
    } finally {
      this.depth--;
    }
    if (this.depth === 0) this.settleStaging();
  }

  /** The batched counts of open groups go out; a group that reached its limits closes and is queued. */
  private settleStaging(): void {
    for (const flg of this.groups) {
      if (flg.state !== 'open' && flg.state !== 'closed') continue;
      flg.settle();
      if (groupStateOf(flg) === 'closed') this.flusherAsync(flg);
    }
  }

  /** hammer_flusher_async: close the group; the scheduler runs it. */
  flusherAsync(flg: FlushGroup): void {
    assert(flg.state !== 'running' && flg.state !== 'done', 'a group being closed is not running (or done)');
    if (flg.state === 'open') flg.send({ type: 'CLOSE' });
    this.scheduleRun();
  }

  /** Ask the scheduler to run the closed groups (once: a run already asked for covers them). */
  private scheduleRun(): void {
    if (this.run !== undefined) return;
    // A scheduler may run the action at once (rxjs queueScheduler): its handle is kept only if it did not.
    let ran = false;
    const run = this.mount.scheduler.schedule(() => {
      ran = true;
      this.run = undefined;
      if (this.depth > 0 || this.mount.inFlush) this.runDeferred = true;
      else {
        this.mount.runSafely(() => this.runClosed());
        this.mount.trimCache();
      }
    });
    if (!ran) this.run = run;
  }

  /** Run every group up to the last closed one, in seq order. */
  runClosed(): void {
    for (let round = 0; ; round++) {
      assert(round < RERUN_LIMIT, 'closed groups drain');
      let last = 0;
      for (const flg of this.groups) if (flg.state === 'closed') last = flg.seq;
      if (last === 0) return;
      this.runThrough(last);
    }
  }

  /** Close and run every group with seq <= `seq`. */
  runThrough(seq: number): void {
    while (this.groups.length > 0) {
      const flg = this.groups[0];
      if (flg === undefined || flg.seq > seq) break;
      if (flg.state === 'open') flg.send({ type: 'CLOSE' });
      this.runGroup(flg);
      assert(flg.state === 'done', 'a group run ends done');
      this.groups.shift();
    }
  }

  /** Flush every group there is, including those re-queues create, until no group is left. */
  runAll(): void {
    for (let round = 0; this.groups.length > 0; round++) {
      assert(round < RERUN_LIMIT, 'sync converges: re-queued inodes drain');
      const last = this.groups[this.groups.length - 1];
      if (last === undefined) break;
      this.runThrough(last.seq);
    }
  }

  /** One group: a cycle per run, re-run while inodes would block. */
  private runGroup(flg: FlushGroup): void {
    const mount = this.mount;
    flg.send({ type: 'RUN', flusherDone: this.done });
    assert(flg.state === 'running', `group ${flg.seq} runs only as the head (done ${this.done})`);
    if (flg.tree.size === 0 && flg.refs === 0) {
      // Nothing joined (every inode backed out): done without a cycle (no TID is used).
      this.actor.send({ type: 'START', seq: flg.seq, tid: 0 });
      this.actor.send({ type: 'FINALIZE' });
      flg.send({ type: 'RUN_FINISHED' });
      this.actor.send({ type: 'FINALIZED', groupDone: true });
      return;
    }
    this.cycleInodes.clear();
    const tid = mount.volume.beginCycle({ redoSyncOffset: mount.redo.oldest() });
    this.actor.send({ type: 'START', seq: flg.seq, tid });
    mount.bus.tid = tid;
    mount.inFlush = true;
    try {
      const last = this.runInCycle(flg, tid);
      this.actor.send({ type: 'FINALIZE' });
      mount.volume.commit();
      mount.bus.fact('volume', 'COMMIT', { tid: last, group: flg.seq });
    } catch (error) {
      mount.inFlush = false;
      mount.bus.tid = undefined;
      mount.critical(error, `flush group ${flg.seq}`);
      this.groupFailed(flg);
      throw mount.failed ?? error;
    }
    mount.inFlush = false;
    // Committed: nothing of the cycle can fail any more.
    this.cycleInodes.clear();
    this.actor.send({ type: 'FINALIZED', groupDone: true });
    mount.bus.tid = undefined;
    this.finalizeEarly(flg.seq);
    this.drain();
  }

  /**
   * HAMMER's extra finalize before the next group when less than ¾ of the
   * UNDO/REDO FIFO is free. A commit's header protects REDO from the oldest
   * record still needed when its cycle began, so REDO that very cycle made
   * redundant (the data it covers is committed) still holds its FIFO space.
   * A header-only commit moves the protection up and gives the space back
   * to the next group's UNDO and the front end's REDO. Runs between groups,
   * never inside one: a group's cycle stays one atomic commit. No-op when
   * the protection would not move.
   */
  private finalizeEarly(group: number): void {
    const mount = this.mount;
    const fifo = mount.volume.fifo;
    if (fifo.freeBytes() * 4 >= fifo.size * 3) return;
    const header = mount.volume.header();
    const protectedFrom = header.redoStart === 0 ? undefined : offPart(header.redoStart);
    const oldest = mount.redo.oldest();
    if (oldest === protectedFrom) return;
    const usedBytes = fifo.usedBytes();
    const tid = mount.volume.beginCycle({ redoSyncOffset: oldest });
    try {
      mount.volume.commit();
    } catch (error) {
      if (mount.volume.cycleTid !== undefined) mount.volume.abort();
      mount.critical(error, `the early finalize after group ${group}`);
      throw error;
    }
    mount.bus.fact('volume', 'EARLY_FINALIZE', {
      tid,
      group,
      fifoBytes: fifo.size,
      usedBytes,
      usedBytesAfter: fifo.usedBytes(),
    });
  }

  /**
   * The group's runs, inside its one cycle: inodes that would block (a
   * truncation past its batch) run again after a partial finalize, which
   * bounds the dirty buffers (the seed's reason for WOULDBLOCK) while the
   * cycle stays revocable until its commit, so a crash never shows half a
   * truncation (the seed commits between runs; we do so only in an
   * emergency). Returns the TID of the cycle the group ends in.
   */
  private runInCycle(flg: FlushGroup, tid: number): number {
    for (let run = 0; ; run++) {
      assert(run < RERUN_LIMIT, 'a group re-runs a bounded number of times');
      if (run > 0) {
        flg.send({ type: 'RUN', flusherDone: this.done });
        assert(flg.state === 'running', `group ${flg.seq} re-runs as the head`);
        tid = this.emergencyFinalize(flg, tid) ?? tid;
        this.mount.volume.finalize(false);
      }
      const inodes = [...flg.tree].sort(compareInodes);
      for (const ip of inodes) this.cycleInodes.add(ip);
      for (const ip of inodes) this.mount.backend.syncInode(ip, tid);
      for (const ip of inodes) this.flushInodeDone(ip, flg);
      this.testReleased();
      flg.send({ type: 'RUN_FINISHED' });
      if (groupStateOf(flg) === 'done') {
        assert(flg.refs === 0, 'a group whose tree emptied holds no record references');
        return tid;
      }
    }
  }

  /**
   * HAMMER's emergency finalize (a slave finding less than a quarter of the
   * UNDO space left): the one case where a group is not one commit. Only a
   * re-run can grow a cycle's UNDO without bound (a single run is capped by
   * undo_rec_limit and the partial finalizes of the meta limit; the runs of
   * a huge truncation are not), so the check is between runs. Below the
   * mark, the inodes still truncating are made consistent part-way
   * (Backend.checkpointTruncation: the size cut to the truncation point, a
   * TRUNCATION record for the rest) and the cycle commits for good, which
   * frees its FIFO space; the group goes on in a new cycle. A crash after it
   * shows the group's other inodes whole and a truncating file as truncated
   * with its later writes not yet there; the next read-write mount deletes
   * what the truncation had left (orphans.ts, finishTruncations). Returns
   * the new cycle's TID, or undefined when there was room.
   */
  private emergencyFinalize(flg: FlushGroup, tid: number): number | undefined {
    const mount = this.mount;
    const fifo = mount.volume.fifo;
    if (fifo.freeBytes() >= fifo.size * mount.options.emergencyFreeFraction) return undefined;
    const usedBytes = fifo.usedBytes();
    const truncating = [...flg.tree].sort(compareInodes);
    for (const ip of truncating) mount.backend.checkpointTruncation(ip);
    mount.volume.commit();
    const next = mount.volume.beginCycle({ redoSyncOffset: mount.redo.oldest() });
    mount.bus.tid = next;
    mount.bus.fact('volume', 'EMERGENCY_FINALIZE', {
      tid,
      next,
      group: flg.seq,
      truncating: truncating.map((ip) => ip.objId),
      fifoBytes: fifo.size,
      usedBytes,
      usedBytesAfter: fifo.usedBytes(),
    });
    mount.counters.emergencyFinalizes++;
    return next;
  }

  /** hammer_flush_inode_done: hand the backend's outcome to the actor; leave the tree unless WOULDBLOCK. */
  private flushInodeDone(ip: Inode, flg: FlushGroup): void {
    assert(ip.state === 'flush', 'flush_inode_done sees a flushing inode');
    const outcome = this.mount.backend.takeOutcome(ip);
    const wouldBlock = ip.has(InodeFlag.WOULDBLOCK);
    const recordsEmpty = ip.records.size === 0;
    assert(!ip.has(InodeFlag.DELETED) || recordsEmpty || wouldBlock, 'a deleted inode keeps no records');
    ip.send(
      {
        type: 'FLUSH_DONE',
        unsynced: outcome.unsynced,
        listsEmpty: recordsEmpty && ip.targetList.length === 0,
        targetListEmpty: ip.targetList.length === 0,
        nlinksDiverged: outcome.syncNlinks !== ip.ino.nlinks,
        setFlags: outcome.setFlags,
        recordsEmpty,
      },
      outcome.synced,
    );
    assert(
      recordsEmpty === !ip.has(InodeFlag.XDIRTY) || ip.has(InodeFlag.DELETED),
      'XDIRTY set exactly when records remain',
    );
    if (!wouldBlock) {
      flg.tree.delete(ip);
      flg.inodeDone();
      this.mount.redo.endFlush(ip);
      if ((ip.flags & MODMASK) === 0) this.mount.space.release(ip);
    }
    this.mount.inodeSettled(ip);
  }

  /**
   * hammer_flush_inode_done with an error, for every inode of a group whose
   * cycle failed: what it was to write merges back (it stays dirty, on the
   * mount's dirty list, so it is never unloaded or forgotten), its records
   * in FLUSH wait again, its waiters wake, and it keeps the error. The
   * group is dropped; after a critical error no group runs again.
   */
  private groupFailed(flg: FlushGroup): void {
    const error = this.mount.failed?.message ?? 'flush failed';
    // Done with in memory, but their cycle never committed: dirty again, with the error.
    for (const ip of [...this.cycleInodes].sort(compareInodes)) {
      if (flg.tree.has(ip) || ip.state === 'unloaded') continue;
      ip.send({ type: 'MODIFY', flags: InodeFlag.DDIRTY, error });
      this.mount.inodeSettled(ip);
    }
    this.cycleInodes.clear();
    for (const ip of [...flg.tree].sort(compareInodes)) {
      this.mount.backend.takeOutcome(ip);
      for (const record of ip.records) {
        if (record.state !== 'flush' || record.group !== flg.seq) continue;
        record.state = record.target === undefined ? 'idle' : 'setup';
        record.group = undefined;
        record.flags &= ~RecordFlag.INTERLOCK_BE;
      }
      if (ip.has(InodeFlag.WOULDBLOCK)) ip.send({ type: 'CLEAR', flags: InodeFlag.WOULDBLOCK });
      const recordsEmpty = ip.records.size === 0;
      ip.send({
        type: 'FLUSH_DONE',
        unsynced: ip.syncFlags,
        listsEmpty: recordsEmpty && ip.targetList.length === 0,
        targetListEmpty: ip.targetList.length === 0,
        nlinksDiverged: false,
        setFlags: 0,
        recordsEmpty,
        error,
      });
      flg.tree.delete(ip);
      this.mount.inodeSettled(ip);
    }
    this.groups.splice(this.groups.indexOf(flg), 1);
    this.drain();
  }

  /** hammer_test_inode on targets whose last dependency resolved: a SETUP inode with nothing left goes IDLE. */
  private testReleased(): void {
    const released = [...this.mount.backend.released].sort(compareInodes);
    this.mount.backend.released.clear();
    for (const ip of released) {
      if (ip.state === 'setup' && ip.targetList.length === 0 && !ip.dirty) this.flushInode(ip);
      this.mount.inodeSettled(ip);
    }
  }

  /** The actors' emitted events, handled after the send that produced them returned. */
  private readonly pending: Array<{ ip: Inode; type: string; signal?: boolean }> = [];

  emitted(ip: Inode, event: { type: string; signal?: boolean }): void {
    this.pending.push({ ip, type: event.type, signal: event.signal });
  }

  /** Handle what the actors emitted (after the send that produced it returned). */
  drain(): void {
    while (this.pending.length > 0) {
      const next = this.pending.shift();
      if (next === undefined) break;
      if (next.type === 'waiters') {
        for (const wake of this.waiters.get(next.ip) ?? []) wake();
        this.waiters.delete(next.ip);
      } else if (next.type === 'requeue' && this.mount.failed === undefined) {
        this.flushInode(next.ip, { signal: next.signal });
      }
    }
  }

  /**
   * hammer_wait_inode, as a promise: resolves once the inode's current flush
   * completed (FLUSHW), or at once when no flush is pending for it.
   */
  waitInode(ip: Inode): Promise<void> {
    const pending = ip.state === 'flush' || (ip.state === 'setup' && ip.has(InodeFlag.RESIGNAL));
    if (!pending) return Promise.resolve();
    // Its group may still be open: queue it, or the wait could be forever.
    const flg = this.group(ip.group);
    if (ip.state === 'flush' && flg !== undefined && (flg.state === 'open' || flg.state === 'closed')) {
      this.flusherAsync(flg);
    }
    ip.send({ type: 'WAIT' });
    return new Promise((resolve) => {
      const list = this.waiters.get(ip) ?? [];
      list.push(resolve);
      this.waiters.set(ip, list);
    });
  }

  /** Wake every waiter (the mount failed or unmounts); their callers re-check the mount. */
  wakeAll(): void {
    for (const list of this.waiters.values()) for (const wake of list) wake();
    this.waiters.clear();
  }
}

/** A group's state after events that changed it (defeats TypeScript's narrowing). */
function groupStateOf(flg: FlushGroup): FlushGroupState {
  return flg.state;
}

export function compareInodes(a: Inode, b: Inode): number {
  return a.localization - b.localization || a.objId - b.objId || a.asof - b.asof;
}
