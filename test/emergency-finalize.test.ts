import { describe, expect, it } from 'vitest';
import type { BusEvent, FileSystem } from '../actors/index.js';
import { logicalClock } from '../storage/clock.js';
import type { CrashDevice } from '../storage/crash-device.js';
import type { MemDevice } from '../storage/device.js';
import { fsck } from '../storage/fsck.js';
import { internals, MiB, memVolume, mountMem } from './support/fs.js';

/**
 * HAMMER's emergency finalize (actors/flusher.ts, emergencyFinalize): a
 * truncation whose runs would fill the UNDO/REDO FIFO commits part-way when
 * less than a quarter of it is free, instead of running out of FIFO in the
 * middle of a cycle (a critical error). The FIFO is at least 8 MiB and a
 * truncated record costs about 30 bytes of UNDO, so reaching the default
 * quarter takes some 200,000 records: here the mark is raised
 * (`emergencyFreeFraction`) so a 12,000-record truncation meets it twice.
 * HAMMERSTATE_EMERGENCY_FULL=1 runs the default mark on 400,000 records,
 * which without it run out of FIFO (100 s and 12.5 GiB of memory here).
 */

const RECORDS = 12_000;
const STRIDE = 16 * 1024;
const OLD = 0x4f;
const NEW = 0x4e;
const FAR = 2 * 1024 * 1024 * 1024;
/** Emergency when less than 98.5% of the FIFO is free (0.25 is HAMMER's). */
const TUNING = { emergencyFreeFraction: 0.985, truncateBatch: 500 };

/** The file as it can be: before the group, part-way (cut to 700 bytes), or after it. */
const BEFORE = 'before';
const PART_WAY = 'part-way';
const AFTER = 'after';

async function writeRecords(fs: FileSystem, path: string, records: number): Promise<void> {
  const fh = await fs.open(path, 'w');
  const chunk = Buffer.alloc(512, OLD);
  for (let i = 0; i < records; i++) await fh.write(chunk, 0, chunk.length, i * STRIDE);
  await fh.close();
}

/** Which of the three states /big is in, judged on its size and the bytes that tell them apart. */
async function bigState(fs: FileSystem): Promise<string> {
  const st = await fs.stat('/big');
  const fh = await fs.open('/big', 'r');
  try {
    const head = Buffer.alloc(700);
    await fh.read(head, 0, 700, 0);
    if (!head.every((b, i) => b === (i % STRIDE < 512 ? OLD : 0))) return `bad head in a file of ${st.size} bytes`;
    if (st.size === (RECORDS - 1) * STRIDE + 512) {
      const tail = Buffer.alloc(512);
      await fh.read(tail, 0, 512, (RECORDS - 1) * STRIDE);
      return tail.every((b) => b === OLD) ? BEFORE : 'bad old tail';
    }
    if (st.size === 700) return PART_WAY;
    if (st.size === FAR + 100) {
      // Where the old records were: zeros, as the truncation left it.
      const middle = Buffer.alloc(512);
      for (const at of [STRIDE, (RECORDS / 2) * STRIDE, (RECORDS - 1) * STRIDE]) {
        await fh.read(middle, 0, 512, at);
        if (!middle.every((b) => b === 0)) return `old data at ${at} after the truncation`;
      }
      const tail = Buffer.alloc(100);
      await fh.read(tail, 0, 100, FAR);
      return tail.every((b) => b === NEW) ? AFTER : 'bad new tail';
    }
    return `unexpected size ${st.size}`;
  } finally {
    await fh.close();
  }
}

/**
 * The group under test: /big (RECORDS old records) truncated to 700 bytes,
 * then written far past its old end; /small created. One sync.
 */
async function truncateInOneGroup(fs: FileSystem, events: BusEvent[]): Promise<void> {
  fs.events.subscribe((event) => events.push(event));
  await fs.truncate('/big', 700);
  const fh = await fs.open('/big', 'r+');
  await fh.write(Buffer.alloc(100, NEW), 0, 100, FAR);
  await fh.close();
  await fs.writeFile('/small', 'whole or not at all');
  await fs.sync();
}

describe('the emergency finalize (a quarter of the FIFO left inside a group)', () => {
  it('commits a huge truncation part-way, the file cut to its truncation point, and finishes it', async () => {
    const { device } = await memVolume({ size: 512 * MiB });
    const fs = await mountMem(device, TUNING);
    await writeRecords(fs, '/big', RECORDS);
    await fs.sync();
    const events: BusEvent[] = [];
    await truncateInOneGroup(fs, events);
    const emergencies = events.filter((e) => e.type === 'EMERGENCY_FINALIZE');
    expect(emergencies.length).toBeGreaterThanOrEqual(2);
    const big = (await fs.stat('/big')).ino;
    for (const e of emergencies) {
      expect(e.payload).toMatchObject({ truncating: [big] });
      // Each one gave the FIFO back: only the new cycle's REDO SYNC is left in it.
      expect(Number(e.payload?.usedBytesAfter)).toBeLessThan(Number(e.payload?.usedBytes) / 10);
    }
    expect(internals(fs).counters.emergencyFinalizes).toBe(emergencies.length);
    expect(await bigState(fs)).toBe(AFTER);
    expect(await fs.readFile('/small', 'utf8')).toBe('whole or not at all');
    // As of the first emergency commit the file is the truncated one: 700 old bytes.
    const first = Number(emergencies[0]?.payload?.tid);
    const asof = `/big@@0x${first.toString(16).padStart(16, '0')}`;
    expect((await fs.stat(asof)).size).toBe(700);
    await fs.unmount();
    const report = fsck(device, { clock: logicalClock() });
    expect(report.problems).toEqual([]);
    expect(report.notes.join('\n')).not.toMatch(/truncation/);
  }, 120_000);

  it('a crash around an emergency commit recovers the file before, part-way or after; the next mount finishes the truncation', async () => {
    const { device } = await memVolume({ size: 512 * MiB, crash: true });
    const crash = device as CrashDevice;
    const fs = await mountMem(crash, TUNING);
    await writeRecords(fs, '/big', RECORDS);
    await fs.sync();
    const start = crash.ops.length;
    const commits: number[] = [];
    fs.events.subscribe((e) => {
      if (e.type === 'EMERGENCY_FINALIZE') commits.push(crash.ops.length);
    });
    await truncateInOneGroup(fs, []);
    const end = crash.ops.length;
    expect(commits.length).toBeGreaterThanOrEqual(2);
    // Just before and at each emergency commit's header, and points spread over the whole flush.
    const points = new Set<number>([end]);
    for (const at of commits) for (const d of [-3, -2, -1, 0]) points.add(at + d);
    for (let i = 1; i <= 8; i++) points.add(start + Math.floor(((end - start) * i) / 9));
    const seen = new Map<string, number>();
    for (const point of [...points].sort((a, b) => a - b)) {
      const image = crash.crashImage(point);
      const raw = fsck(image.clone(), { clock: logicalClock() });
      const recovered = await mountMem(image);
      const state = await bigState(recovered);
      expect([BEFORE, PART_WAY, AFTER], `crash at op ${point}`).toContain(state);
      seen.set(state, (seen.get(state) ?? 0) + 1);
      if (state === PART_WAY) {
        // Committed part-way: the TRUNCATION record was there, and this mount finished the truncation.
        expect(raw.notes.join('\n'), `crash at op ${point}`).toMatch(/truncation cut short by an emergency finalize/);
        expect(recovered.recovery.truncationsFinished).toBe(1);
        // No old record comes back when the file grows again.
        await recovered.truncate('/big', 4 * 1024 * 1024);
        const grown = await recovered.readFile('/big');
        expect(
          grown.subarray(700).every((b) => b === 0),
          `crash at op ${point}: old data resurfaced`,
        ).toBe(true);
      } else {
        expect(recovered.recovery.truncationsFinished).toBe(0);
      }
      // /small came with the group: absent before the first commit, whole after.
      const small = await recovered.readFile('/small', 'utf8').catch((error: { code: string }) => error.code);
      expect(['ENOENT', 'whole or not at all'], `crash at op ${point}`).toContain(small);
      await recovered.unmount();
      const after = fsck(image, { clock: logicalClock() });
      expect(after.problems, `crash at op ${point}`).toEqual([]);
      expect(after.notes.join('\n')).not.toMatch(/truncation/);
    }
    // The crash points met all three states.
    expect([...seen.keys()].sort()).toEqual([AFTER, BEFORE, PART_WAY]);
  }, 300_000);

  it.runIf(process.env.HAMMERSTATE_EMERGENCY_FULL === '1')(
    "at HAMMER's quarter: a 400,000-record truncation on an 8 MiB FIFO commits part-way instead of running out",
    async () => {
      const records = 400_000;
      const { device } = await memVolume({ size: 8 * 1024 * MiB });
      const fs = await mountMem(device);
      await writeRecords(fs, '/huge', records);
      await fs.sync();
      const events: BusEvent[] = [];
      fs.events.subscribe((event) => events.push(event));
      await fs.truncate('/huge', 0);
      await fs.sync();
      expect(events.filter((e) => e.type === 'EMERGENCY_FINALIZE').length).toBeGreaterThanOrEqual(1);
      expect((await fs.stat('/huge')).size).toBe(0);
      await fs.unmount();
      expect(fsck(device as MemDevice, { clock: logicalClock() }).problems).toEqual([]);
    },
    600_000,
  );
});
