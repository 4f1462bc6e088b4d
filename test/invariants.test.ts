import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import type { FileSystem } from '../actors/api.js';
import type { Mount } from '../actors/mount.js';
import { dropRecord, newRecord, RecordFlag } from '../actors/records.js';
import { flusherMachine } from '../machines/flusher.js';
import { InodeFlag } from '../machines/inode-flags.js';
import { internals, memVolume, mountMem } from './support/fs.js';

/**
 * Section 8 of the reference (the KKASSERTs worth keeping): each invariant is
 * an assert that stays on, and each test here breaks one on purpose and
 * expects the assert, not silent damage. Storage-level ones (delete_tid,
 * FIFO, recovery span) are broken in test/format.test.ts, test/volume.test.ts
 * and test/storage-crash.test.ts.
 */
async function setup(): Promise<{ fs: FileSystem; mount: Mount }> {
  const { device } = await memVolume();
  const fs = await mountMem(device);
  return { fs, mount: internals(fs) };
}

async function cachedInode(fs: FileSystem, mount: Mount, path: string) {
  const ip = mount.find(0, (await fs.stat(path)).ino);
  if (ip === undefined) throw new Error(`${path} is cached`);
  return ip;
}

function violates(fn: () => unknown, what: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(Error);
  expect((thrown as Error).message).toMatch(/invariant violated/);
  expect((thrown as Error).message).toMatch(what);
}

describe('section 8 invariants, broken on purpose', () => {
  it('1: a group being closed is not running', async () => {
    const { fs, mount } = await setup();
    await fs.writeFile('/a', 'a');
    const ip = await cachedInode(fs, mount, '/a');
    mount.flusher.flushInode(ip);
    const flg = mount.flusher.group(ip.group);
    if (flg === undefined) throw new Error('queued');
    flg.send({ type: 'CLOSE' });
    flg.send({ type: 'RUN', flusherDone: mount.flusher.done });
    expect(flg.state).toBe('running');
    violates(() => mount.flusher.flusherAsync(flg), /not running/);
  });

  it('2: only the head group (seq = done + 1) runs', async () => {
    const { fs, mount } = await setup();
    await fs.writeFile('/a', 'a');
    const first = mount.flusher.fillGroup();
    first.send({ type: 'CLOSE' });
    const second = mount.flusher.fillGroup();
    second.send({ type: 'CLOSE' });
    mount.flusher.groups.reverse();
    violates(() => mount.flusher.runThrough(second.seq), /runs only as the head/);
    expect(second.state).toBe('closed');
  });

  it('3: done never decreases (one group at a time)', () => {
    const flusher = createActor(flusherMachine).start();
    flusher.send({ type: 'ALLOC_SEQ' });
    flusher.send({ type: 'START', seq: 1, tid: 10 });
    flusher.send({ type: 'FINALIZE' });
    flusher.send({ type: 'FINALIZED', groupDone: true });
    expect(flusher.getSnapshot().context.done).toBe(1);
    flusher.send({ type: 'START', seq: 1, tid: 11 });
    expect(flusher.getSnapshot().value).toBe('idle');
    expect(flusher.getSnapshot().context.done).toBe(1);
  });

  it('4: flush_inode_core never sees an inode already flushing, or WOULDBLOCK', async () => {
    const { fs, mount } = await setup();
    await fs.writeFile('/a', 'a');
    const ip = await cachedInode(fs, mount, '/a');
    ip.send({ type: 'MARK', flags: InodeFlag.WOULDBLOCK });
    violates(() => mount.flusher.flushInode(ip), /WOULDBLOCK/);
  });

  it('5: a record on a target list is never IDLE', async () => {
    const { fs, mount } = await setup();
    await fs.writeFile('/a', 'a');
    const ip = await cachedInode(fs, mount, '/a');
    const add = ip.targetList[0];
    if (add === undefined) throw new Error('an ADD targets the new file');
    add.state = 'idle';
    violates(() => mount.flusher.flushInode(ip), /target list .* SETUP or FLUSH/);
  });

  it('6: a SETUP record has a target, and an IDLE record none', async () => {
    const { fs, mount } = await setup();
    await fs.writeFile('/a', 'a');
    const root = await cachedInode(fs, mount, '/');
    const add = [...root.records][0];
    if (add === undefined) throw new Error('the root holds the ADD');
    add.state = 'idle';
    violates(() => mount.flusher.flushInode(root), /IDLE record has no target/);
  });

  it('7: after flush_inode_done, XDIRTY is set exactly when records remain', async () => {
    const { fs, mount } = await setup();
    await fs.writeFile('/a', 'a');
    const ip = await cachedInode(fs, mount, '/a');
    // A record slipped into the tree behind the flags' back (no hammer_mem_add), right after the backend
    // checked the records and wrote the inode, before flush_inode_done.
    const syncInode = mount.backend.syncInode.bind(mount.backend);
    mount.backend.syncInode = (target, tid) => {
      syncInode(target, tid);
      if (target !== ip || ip.records.size > 0) return;
      const ghost = newRecord(mount, {
        type: 'GENERAL',
        ip,
        target: undefined,
        recType: 0x14,
        key: 1,
        base: 0,
        data: new Uint8Array(1),
        name: '',
      });
      ip.records.add(ghost);
    };
    violates(() => mount.syncAll(), /XDIRTY set exactly when records remain/);
  });

  it('8: only an IDLE, clean, unreferenced inode without records is unloaded', async () => {
    const { fs, mount } = await setup();
    await fs.writeFile('/a', 'a');
    const ip = await cachedInode(fs, mount, '/a');
    violates(() => mount.unload(ip), /IDLE|clean|records/);
  });

  it('9: a record is synced once (INTERLOCK_BE), in its inode group, and freed only outside FLUSH', async () => {
    const { fs, mount } = await setup();
    await fs.writeFile('/a', 'a');
    const ip = await cachedInode(fs, mount, '/a');
    mount.flusher.flushInode(ip);
    const data = [...ip.records].find((r) => r.type === 'DATA');
    if (data === undefined) throw new Error('a DATA record');
    expect(data.state).toBe('flush');
    violates(() => dropRecord(mount, data), /freed only outside FLUSH/);
    data.flags |= RecordFlag.INTERLOCK_BE;
    expect(() => mount.flusher.runAll()).toThrow(/synced once/);
  });

  it('10: CONVERT_DELETE turns a frontend-deleted ADD into a DEL; a DEL is never deleted by the frontend', async () => {
    const { fs, mount } = await setup();
    await fs.writeFile('/a', 'a');
    const ip = await cachedInode(fs, mount, '/a');
    mount.flusher.flushInode(ip);
    await fs.unlink('/a');
    const root = await cachedInode(fs, mount, '/');
    const add = [...root.records].find((r) => r.type === 'ADD');
    if (add === undefined) throw new Error('the ADD');
    expect(add.flags & RecordFlag.DELETED_FE).toBe(RecordFlag.DELETED_FE);
    mount.flusher.runThrough(ip.group ?? 0);
    expect(add.type).toBe('DEL');
    expect(root.records.has(add)).toBe(true);
    add.flags |= RecordFlag.DELETED_FE;
    expect(() => mount.syncAll()).toThrow(/directory delete is never deleted by the frontend/);
  });
});
