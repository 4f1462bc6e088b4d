import { flagNames } from '../machines/inode-flags.js';
import { formatTid } from '../storage/layout.js';
import type { HammerFs } from './fs.js';
import type { ReplayScheduler } from './schedulers.js';

/** The system at one point of a replay (hammerstate replay --to SEQ). */
export interface SystemState {
  inodes: Array<{
    actor: string;
    state: string;
    flags: string[];
    syncFlags: string[];
    refs: number;
    group: number | null;
  }>;
  flushGroups: Array<{ actor: string; state: string; totalCount: number; refs: number }>;
  volume: {
    nextTid: string;
    lastCommitTid: string;
    fifo: { first: number; next: number; firstSeq: number; nextSeq: number };
  };
  /** Scheduler actions waiting to run, by number. */
  scheduled: number[];
}

/** Every cached inode actor with its state and flags, the flush groups, the volume's next TID and FIFO span. */
export function systemState(fs: HammerFs, scheduler: ReplayScheduler): SystemState {
  const mount = fs.mount;
  const volume = mount.volume;
  const stats = volume.stats();
  const span = volume.fifo.state;
  return {
    inodes: mount.cached().map((ip) => ({
      actor: ip.id,
      state: ip.state,
      flags: flagNames(ip.flags),
      syncFlags: flagNames(ip.syncFlags),
      refs: ip.refs,
      group: ip.group ?? null,
    })),
    flushGroups: mount.flusher.groups.map((flg) => ({
      actor: flg.id,
      state: flg.state,
      totalCount: flg.totalCount,
      refs: flg.refs,
    })),
    volume: {
      nextTid: formatTid(stats.nextTid),
      lastCommitTid: formatTid(stats.lastCommitTid),
      fifo: { first: span.first, next: span.next, firstSeq: span.firstSeq, nextSeq: span.nextSeq },
    },
    scheduled: scheduler.waiting(),
  };
}
