import { VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { BusEvent, FileSystem, MountOptions } from '../actors/api.js';
import { FaultDevice, type MountInternals, mount } from '../actors/index.js';
import { logicalClock } from '../storage/clock.js';
import { CrashDevice } from '../storage/crash-device.js';
import { MemDevice } from '../storage/device.js';
import { checkImage, code, failure, internals, memVolume, mountMem } from './support/fs.js';

/**
 * A fresh volume whose writes go through a FaultDevice: `disk` below it is
 * the durable image (what a crash would leave), mounted again to see what
 * survived.
 */
async function faulty(options: MountOptions & MountInternals = {}) {
  const { base: disk } = await memVolume();
  const device = new FaultDevice(disk, { seed: 7 });
  const fs = await mount(device, { clock: logicalClock(2_000_000_000_000_000), ...options });
  const events: BusEvent[] = [];
  fs.events.subscribe((event) => events.push(event));
  return { disk, device, fs, events };
}

/** What a crash now would leave, mounted (the durable image's copy: the original is not touched). */
function afterCrash(disk: MemDevice): Promise<FileSystem> {
  return mountMem(disk.clone());
}

function critical(events: BusEvent[]): BusEvent[] {
  return events.filter((event) => event.type === 'CRITICAL');
}

describe('FaultDevice', () => {
  it('fails the chosen call of a kind, a range, or a short write, each with EIO; heals', () => {
    const device = new FaultDevice(new MemDevice(64 * 1024));
    const bytes = new Uint8Array(512).fill(9);
    device.fail({ op: 'write', nth: 2 });
    device.write(0, bytes);
    expect(() => device.write(512, bytes)).toThrow(/EIO: write of 512 bytes at offset 512 failed/);
    device.write(1024, bytes);
    device.fail({ op: 'read', range: { from: 8192, to: 8193 }, times: Number.POSITIVE_INFINITY });
    expect(() => device.read(8000, new Uint8Array(512))).toThrow(/EIO: read/);
    expect(() => device.read(8192, new Uint8Array(1))).toThrow(/EIO: read/);
    device.read(0, new Uint8Array(512));
    device.fail({ op: 'write', nth: 1, shortBytes: 100 });
    expect(() => device.write(2048, bytes)).toThrow(/short write at offset 2048: 100 of 512 bytes/);
    const back = new Uint8Array(512);
    device.read(2048, back);
    expect([back[99], back[100]]).toEqual([9, 0]);
    device.heal();
    device.read(8192, new Uint8Array(1));
    expect(device.injected.map((f) => [f.op, f.call])).toEqual([
      ['write', 2],
      ['read', 1],
      ['read', 2],
      ['write', 4],
    ]);
  });

  it('holds writes until an fsync succeeds; a failed fsync loses them (reads still see them, a later fsync does not bring them back)', () => {
    const disk = new MemDevice(64 * 1024);
    const device = new FaultDevice(disk);
    const read = (from: MemDevice | FaultDevice) => {
      const out = new Uint8Array(4);
      from.read(4096, out);
      return [...out];
    };
    device.write(4096, new Uint8Array([1, 1, 1, 1]));
    expect([read(device), read(disk)]).toEqual([
      [1, 1, 1, 1],
      [0, 0, 0, 0],
    ]);
    device.fsync();
    expect(read(disk)).toEqual([1, 1, 1, 1]);
    device.write(4096, new Uint8Array([2, 2]));
    device.fail({ op: 'fsync', nth: 1 });
    expect(() => device.fsync()).toThrow(/EIO: fsync failed \(injected fault, fsync call 2\)/);
    device.fsync();
    expect([read(device), read(disk)]).toEqual([
      [2, 2, 1, 1],
      [1, 1, 1, 1],
    ]);
  });

  it('random faults follow the seed: the same seed injects the same faults', () => {
    const run = (seed: number) => {
      const device = new FaultDevice(new MemDevice(64 * 1024), { seed, rates: { write: 0.3, fsync: 0.2 } });
      for (let i = 0; i < 50; i++) {
        try {
          device.write((i % 16) * 512, new Uint8Array(512));
          if (i % 5 === 4) device.fsync();
        } catch {}
      }
      return device.injected.map((f) => `${f.op}${f.call}`).join(' ');
    };
    expect(run(3)).toBe(run(3));
    expect(run(3)).not.toBe(run(4));
    expect(run(3).length).toBeGreaterThan(0);
  });
});

describe('a critical error (a failed meta-data write or fsync during a flush)', () => {
  for (const fault of [
    { name: 'an fsync', rule: { op: 'fsync', nth: 1 } },
    { name: 'a write', rule: { op: 'write', nth: 1, times: Number.POSITIVE_INFINITY } },
    { name: 'a short write', rule: { op: 'write', nth: 2, shortBytes: 100 } },
  ] as const) {
    it(`${fault.name}: EIO once with where, read-only after (EROFS), reads keep working, unmount writes nothing, the next mount has what was synced`, async () => {
      const { disk, device, fs, events } = await faulty();
      await fs.writeFile('/kept', 'durable');
      await fs.sync();
      await fs.writeFile('/lost', 'never on disk');
      device.fail(fault.rule);
      const error = await failure(fs.sync());
      expect(error).toMatchObject({ code: 'EIO' });
      expect(error?.message).toMatch(/critical error during flush group \d+: .*injected.*; the mount is read-only now/);
      expect(critical(events)).toHaveLength(1);
      expect(critical(events)[0]?.payload).toMatchObject({ where: expect.stringMatching(/^flush group \d+$/) });
      expect(critical(events)[0]?.payload?.message).toMatch(/injected fault/);
      // Changes: EROFS, saying why. Durability promises: EIO. Reads: what memory holds.
      const write = await failure(fs.writeFile('/more', 'x'));
      expect(write).toMatchObject({ code: 'EROFS' });
      expect(write?.message).toMatch(/read-only since a critical error during flush group/);
      expect(await code(fs.mkdir('/d'))).toBe('EROFS');
      expect(await code(fs.unlink('/kept'))).toBe('EROFS');
      expect(await code(fs.sync())).toBe('EIO');
      expect(await code(fs.remount({ readOnly: false }))).toBe('EIO');
      expect(await fs.readFile('/kept', 'utf8')).toBe('durable');
      expect(await fs.readFile('/lost', 'utf8')).toBe('never on disk');
      expect((await fs.readdir('/')).sort()).toEqual(['kept', 'lost']);
      expect(critical(events)).toHaveLength(1);
      // The inode whose flush failed kept its error and stays dirty: never unloaded, never forgotten.
      const lost = internals(fs)
        .cached()
        .find((ip) => !ip.isDirectory && ip.ino.size === 'never on disk'.length);
      expect(lost?.error).toMatch(/critical error/);
      expect(lost?.dirty).toBe(true);
      expect(internals(fs).dirty.has(lost as NonNullable<typeof lost>)).toBe(true);
      const writes = { ...device.calls };
      await fs.unmount();
      expect(device.calls).toEqual(writes);
      expect(events.filter((e) => e.type === 'DESTROYED')).toHaveLength(1);
      const next = await afterCrash(disk);
      expect(await next.readFile('/kept', 'utf8')).toBe('durable');
      expect(await code(next.stat('/lost'))).toBe('ENOENT');
      await next.unmount();
      expect(checkImage(disk).errors).toBe(0);
    });
  }

  it('releases every waiter with the error: fsync waiting for its flush, creators held by reclaim back-pressure', async () => {
    const scheduler = new VirtualTimeScheduler();
    const { disk, device, fs } = await faulty({ scheduler, reclaimLimit: 4, autoflush: 1000 });
    await fs.writeFile('/synced', 'yes');
    const sync = fs.sync();
    scheduler.flush();
    await sync;
    const handle = await fs.open('/f', 'w');
    await handle.write('waits for its flush');
    const fsync = handle.sync();
    for (let i = 0; i < 4; i++) await fs.writeFile(`/r${i}`, 'x');
    const held = fs.writeFile('/held', 'waits for reclaim');
    let settled = false;
    void held.catch(() => undefined).finally(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    device.fail({ op: 'fsync', nth: 1 });
    scheduler.flush(); // the flush group runs, and fails
    expect(await code(fsync)).toBe('EIO');
    expect(await code(held)).toBe('EROFS');
    expect(await code(handle.sync())).toBe('EIO');
    await handle.close();
    await fs.unmount();
    const next = await afterCrash(disk);
    expect(await next.readFile('/synced', 'utf8')).toBe('yes');
    expect(await code(next.stat('/f'))).toBe('ENOENT');
    await next.unmount();
  });
});

describe('a failed data read', () => {
  it('is EIO for that read only: the mount stays read-write', async () => {
    const { disk, device, fs } = await faulty();
    await fs.writeFile('/big', new Uint8Array(40_000).fill(3));
    await fs.writeFile('/small', 'small data');
    await fs.unmount();
    const again = await mount(device, { clock: logicalClock(2_100_000_000_000_000) });
    // The inodes and B-tree come in first; then every read of the device fails.
    expect((await again.stat('/big')).size).toBe(40_000);
    expect((await again.stat('/small')).size).toBe(10);
    device.fail({ op: 'read', times: 2 });
    const error = await failure(again.readFile('/big'));
    expect(error).toMatchObject({ code: 'EIO' });
    expect(error?.message).toMatch(/read of 16384 bytes at offset \d+ failed \(injected/);
    expect(await code(again.readFile('/small'))).toBe('EIO');
    expect((await again.readFile('/big')).every((b) => b === 3)).toBe(true);
    await again.writeFile('/after', 'still read-write');
    await again.sync();
    await again.unmount();
    const next = await afterCrash(disk);
    expect(await next.readFile('/after', 'utf8')).toBe('still read-write');
    await next.unmount();
  });
});

describe('no fsyncgate: a failed fsync never later reports success for the same data', () => {
  it('REDO fast path: the caller sees EIO, the mount stays read-write, and the retry really writes the data', async () => {
    const { disk, device, fs, events } = await faulty();
    const handle = await fs.open('/journal', 'w+');
    await handle.write('first ');
    await handle.sync(); // a full flush: later writes go to the REDO log
    await handle.write('second');
    device.fail({ op: 'fsync', nth: 1 });
    expect(await code(handle.sync())).toBe('EIO');
    expect(events.filter((e) => e.type === 'FSYNC_FAILED')).toHaveLength(1);
    expect(critical(events)).toHaveLength(0);
    // The failed fsync lost the REDO it wrote: a crash now has only what the first fsync made durable.
    let crashed = await afterCrash(disk);
    expect(await crashed.readFile('/journal', 'utf8')).toBe('first ');
    await crashed.unmount();
    // The retry flushes the inode in full (the REDO log is not trusted): a crash after it has the data.
    await handle.sync();
    crashed = await afterCrash(disk);
    expect(await crashed.readFile('/journal', 'utf8')).toBe('first second');
    await crashed.unmount();
    await handle.close();
    await fs.unmount();
  });

  it('the REDO a failed fsync lost is written again, so a crash in the retry still recovers (the FIFO stays one chain)', async () => {
    const { base } = await memVolume();
    const recorder = new CrashDevice(base);
    const device = new FaultDevice(recorder);
    const fs = await mount(device, { clock: logicalClock(2_000_000_000_000_000) });
    const handle = await fs.open('/journal', 'w+');
    await handle.write('first ');
    await handle.sync();
    // Whole 4 KiB pages of REDO: a page cache that lost them never writes them again by itself.
    const second = 'second '.repeat(3000);
    await handle.write(second);
    device.fail({ op: 'fsync', nth: 1 });
    expect(await code(handle.sync())).toBe('EIO');
    await handle.sync(); // the retry: one flush cycle, which a crash now interrupts before its header
    const header = recorder.ops.findLastIndex((op) => op.kind === 'write');
    const image = recorder.crashImage(header);
    const crashed = await mountMem(image);
    expect(crashed.recovery.undone).toBeGreaterThan(0);
    expect(await crashed.readFile('/journal', 'utf8')).toBe(`first ${second}`);
    await crashed.unmount();
    expect(checkImage(image).errors).toBe(0);
    await handle.close();
    await fs.unmount();
  });

  it('flush path: the fsync is a critical error; every retry fails again; the next mount has the last durable state', async () => {
    const { disk, device, fs } = await faulty();
    await fs.writeFile('/doc', 'version 1');
    await fs.sync();
    const handle = await fs.open('/doc', 'w');
    await handle.write('version 2');
    device.fail({ op: 'fsync', nth: 1 });
    expect(await code(handle.sync())).toBe('EIO');
    expect(await code(handle.sync())).toBe('EIO');
    expect(await code(fs.sync())).toBe('EIO');
    expect(await code(handle.sync())).toBe('EIO');
    await handle.close();
    await fs.unmount();
    const next = await afterCrash(disk);
    expect(await next.readFile('/doc', 'utf8')).toBe('version 1');
    await next.unmount();
  });

  it('a dirty inode nobody references is never forgotten while its flush keeps failing', async () => {
    const { device, fs } = await faulty({ cacheInodes: 1 });
    for (const name of ['b', 'c', 'd']) await fs.writeFile(`/${name}`, name);
    await fs.sync();
    await fs.writeFile('/a', 'dirty');
    const mount = internals(fs);
    const a = mount.cached().find((ip) => ip.ino.size === 'dirty'.length);
    device.fail({ op: 'fsync', nth: 1 });
    expect(await code(fs.sync())).toBe('EIO');
    // Clean inodes come and go through a one-inode cache; the dirty one stays.
    for (const name of ['b', 'c', 'd']) expect(await fs.readFile(`/${name}`, 'utf8')).toBe(name);
    expect(mount.counters.unloads).toBeGreaterThan(0);
    expect(a?.refs).toBe(0);
    expect(a?.dirty).toBe(true);
    expect(a?.error).toMatch(/critical error during flush group/);
    expect(mount.cached()).toContain(a);
    expect(mount.dirty.has(a as NonNullable<typeof a>)).toBe(true);
    expect(await fs.readFile('/a', 'utf8')).toBe('dirty');
    await fs.unmount();
  });
});

describe('seeded random faults', () => {
  /**
   * A workload under random write and fsync faults, for many seeds: whatever
   * happens, no call throws anything but an FsError with a code, nothing
   * hangs, and the next mount finds a clean volume where every file holds
   * what its last acknowledged sync or fsync made durable, or a version
   * written after it (a flush nobody waited for may have landed too).
   */
  it('every seed: errors with codes only, a clean next mount, nothing acknowledged lost', async () => {
    for (let seed = 1; seed <= 24; seed++) {
      const { base: disk } = await memVolume();
      const device = new FaultDevice(disk, { seed });
      const fs = await mount(device, { clock: logicalClock(2_000_000_000_000_000), autoflush: 8 });
      Object.assign(device.rates, { write: 0.004, fsync: 0.03 });
      /** Per file: the content a sync made durable, and what was written after it. */
      const files = new Map<string, { durable: string | undefined; later: string[] }>();
      const codes = new Set<string>();
      for (let step = 0; step < 60; step++) {
        const name = `/f${step % 7}`;
        const content = `seed ${seed} step ${step} `.repeat(1 + (step % 5) * 40);
        const entry = files.get(name) ?? { durable: undefined, later: [] };
        try {
          if (step % 9 === 8) {
            await fs.sync();
            for (const file of files.values()) {
              file.durable = file.later.at(-1) ?? file.durable;
              file.later = [];
            }
            continue;
          }
          const handle = await fs.open(name, 'w');
          files.set(name, entry);
          try {
            await handle.write(content);
            entry.later.push(content);
            if (step % 3 === 0) {
              await handle.sync();
              entry.durable = content;
              entry.later = [];
            }
          } finally {
            await handle.close();
          }
        } catch (error) {
          const code = (error as { code?: string }).code;
          expect(code, `seed ${seed} step ${step}: ${String(error)}`).toMatch(/^E[A-Z]+$/);
          codes.add(code as string);
        }
      }
      await fs.unmount().catch((error: unknown) => codes.add((error as { code: string }).code));
      const next = await afterCrash(disk);
      for (const [name, file] of files) {
        const found = await next.readFile(name, 'utf8').catch(() => undefined);
        const allowed = [file.durable, ...file.later];
        if (file.durable === undefined) allowed.push(''); // created, never made durable: absent or empty
        expect(allowed, `seed ${seed}: ${name}`).toContain(found ?? (file.durable === undefined ? '' : 'missing'));
      }
      await next.unmount();
      expect(checkImage(disk).errors, `seed ${seed}`).toBe(0);
    }
  });
});
