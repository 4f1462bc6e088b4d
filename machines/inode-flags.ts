/**
 * Inode flags, with HAMMER's names so the reference and this code read side by
 * side. The first group is the modify mask (MODMASK): what a flush has to
 * write. The frontend keeps setting them in `flags` while the backend works
 * from the copy frozen into `syncFlags` when the inode entered its flush group.
 */
export const InodeFlag = {
  DDIRTY: 1 << 0, // inode data changed
  XDIRTY: 1 << 1, // in-memory records pending
  BUFS: 1 << 2, // dirty data buffers
  SDIRTY: 1 << 3, // pseudo-fs/snapshot meta-data
  ATIME: 1 << 4, // atime only
  MTIME: 1 << 5, // mtime only
  DELETING: 1 << 6, // nlinks reached 0: delete on disk (sticky)
  TRUNCATED: 1 << 7, // truncation pending
  REFLUSH: 1 << 8, // flush again once the current flush completes
  RESIGNAL: 1 << 9, // ...and signal the flusher when it does
  CONN_DOWN: 1 << 10, // a parent directory lacks connectivity: wait for it
  WOULDBLOCK: 1 << 11, // the backend could not finish: stay in the same group
  FLUSHW: 1 << 12, // someone waits for this flush to complete
  ONDISK: 1 << 13, // the inode record exists on disk
  DELONDISK: 1 << 14, // the inode record was deleted on disk
  DELETED: 1 << 15, // fully deleted, nothing left to flush
  RDIRTY: 1 << 16, // REDO records pending
  RECLAIM: 1 << 17, // on the reclaim pipeline
  RO: 1 << 18, // read-only (as-of inode or read-only mount)
  DUMMY: 1 << 19, // placeholder for an inode that could not be loaded
} as const;

export type InodeFlagName = keyof typeof InodeFlag;

export const MODMASK =
  InodeFlag.DDIRTY |
  InodeFlag.XDIRTY |
  InodeFlag.BUFS |
  InodeFlag.SDIRTY |
  InodeFlag.ATIME |
  InodeFlag.MTIME |
  InodeFlag.DELETING |
  InodeFlag.TRUNCATED;

export const MODMASK_NOXDIRTY = MODMASK & ~InodeFlag.XDIRTY;

/** The flag names set in `flags`, in bit order (for events, logs and tests). */
export function flagNames(flags: number): InodeFlagName[] {
  return (Object.entries(InodeFlag) as Array<[InodeFlagName, number]>)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => name);
}
