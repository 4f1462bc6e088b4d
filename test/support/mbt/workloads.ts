import { VirtualTimeScheduler } from 'rxjs';
import type { FileSystem, MountOptions } from '../../../actors/api.js';
import type { MountInternals } from '../../../actors/index.js';
import { internals, memVolume, mountMem } from '../fs.js';
import type { BusCoverage } from './walk.js';

/**
 * Real workloads for the coverage report: nothing but fs calls (and, for
 * two of them, time passing on a virtual scheduler), the situations
 * test/flush-scenarios.test.ts sets up. Every transition on their buses is
 * tagged `workload`.
 */
type Workload = (fs: FileSystem, scheduler: VirtualTimeScheduler) => Promise<void>;

const BLOCK = 16 * 1024;

async function writeMany(fs: FileSystem, prefix: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  for (const name of names) await fs.writeFile(name, name);
  return names;
}

const WORKLOADS: Array<{ name: string; options: MountOptions & MountInternals; run: Workload }> = [
  {
    // New entries pull their directories along; fsync waits; renames and unlinks make DEL records.
    name: 'namespace',
    options: {},
    run: async (fs) => {
      await fs.mkdir('/a/b', { recursive: true });
      await fs.writeFile('/a/b/f', 'one');
      const handle = await fs.open('/a/b/f', 'r+');
      await handle.sync();
      await fs.link('/a/b/f', '/a/g');
      await fs.rename('/a/g', '/h');
      await fs.symlink('/a/b/f', '/s');
      await fs.writeFile('/gone', 'x');
      await fs.unlink('/gone');
      await handle.close();
      await fs.sync();
      await fs.unlink('/h');
      await fs.rmdir('/a/b').catch(() => undefined);
      await fs.unlink('/a/b/f');
      await fs.rmdir('/a/b');
      await fs.sync();
    },
  },
  {
    // A truncation past truncateBatch blocks and re-runs its group (WOULDBLOCK).
    name: 'truncation',
    options: { truncateBatch: 2 },
    run: async (fs) => {
      await fs.writeFile('/t', new Uint8Array(8 * BLOCK).fill(7));
      await fs.sync();
      await fs.truncate('/t', 1);
      await fs.sync();
    },
  },
  {
    // Past the depth limit of 20 a parent cannot join: CONN_DOWN, then sync drains the chain.
    name: 'depth limit',
    options: {},
    run: async (fs) => {
      let path = '';
      for (let i = 0; i < 23; i++) path += `/d${i}`;
      await fs.mkdir(path, { recursive: true });
      await fs.writeFile(`${path}/leaf`, 'deep');
      const handle = await fs.open(`${path}/leaf`, 'r+');
      await handle.sync();
      await handle.close();
    },
  },
  {
    // Groups close at autoflush inodes; a closed group still takes the records staged with its last inode.
    name: 'autoflush',
    options: { autoflush: 3 },
    run: async (fs) => {
      await writeMany(fs, '/auto', 12);
      await new Promise((resolve) => setImmediate(resolve));
      await fs.sync();
    },
  },
  {
    // After an fsync, writes go to REDO (RDIRTY) until the next flush clears it.
    name: 'redo',
    options: {},
    run: async (fs) => {
      const handle = await fs.open('/r', 'w+');
      for (const text of ['first', ' second']) {
        await handle.write(text);
        await handle.sync();
      }
      await handle.close();
      await fs.sync();
    },
  },
  {
    // The frontend writes while the file flushes: records remain, the inode goes back to SETUP.
    name: 'write during flush',
    options: {},
    run: async (fs) => {
      await fs.writeFile('/w', 'before');
      const objId = (await fs.stat('/w')).ino;
      let written = false;
      fs.events.subscribe((event) => {
        if (written || event.type !== 'SYNC_INODE' || event.actor !== `inode:0:${objId}:live`) return;
        written = true;
        void fs.appendFile('/w', ' after');
      });
      await fs.sync();
      await fs.sync();
    },
  },
  {
    // A small clean-inode cache unloads inodes as others are looked up.
    name: 'cache',
    options: { cacheInodes: 2 },
    run: async (fs) => {
      const names = await writeMany(fs, '/c', 6);
      await fs.sync();
      for (const name of names) await fs.stat(name);
    },
  },
  {
    // An fsync while the file's group has not run yet (time stands still): the flush is re-queued.
    name: 'fsync during flush',
    options: {},
    run: async (fs, scheduler) => {
      await fs.writeFile('/q', 'q');
      const handle = await fs.open('/q', 'r+');
      const first = handle.sync();
      await handle.write('Q');
      const second = handle.sync();
      scheduler.flush();
      await Promise.all([first, second]);
      await handle.close();
    },
  },
];

/** Run every workload on its own volume, feeding `coverage`. */
export async function runWorkloads(coverage: BusCoverage): Promise<string[]> {
  const names: string[] = [];
  for (const { name, options, run } of WORKLOADS) {
    const { device } = await memVolume();
    const scheduler = new VirtualTimeScheduler();
    const virtual = name === 'fsync during flush' ? { scheduler } : {};
    const fs = await mountMem(device, { ...options, ...virtual });
    const subscription = coverage.watch(fs.events, 'workload');
    await run(fs, scheduler);
    scheduler.flush();
    await fs.unmount();
    subscription.unsubscribe();
    if (internals(fs).failed !== undefined) throw new Error(`workload ${name} failed: ${internals(fs).failed}`);
    names.push(name);
  }
  return names;
}
