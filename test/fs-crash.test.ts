import { describe, expect, it } from 'vitest';
import type { FileSystem } from '../actors/api.js';
import { logicalClock } from '../storage/clock.js';
import { CrashDevice, seededRandom } from '../storage/crash-device.js';
import type { MemDevice } from '../storage/device.js';
import { Volume } from '../storage/volume.js';
import { checkImage, memVolume, mountMem } from './support/fs.js';

/**
 * Crashes of the filesystem at every device write of a workload (and seeded
 * reorderings/tears of the unsynced writes): after recovery (stage 1 UNDO,
 * stage 2 REDO), every path shows a content it really had between its last
 * durable point (a returned sync, an fsync of that file) and the crash, the
 * volume is consistent (fsck: structure, freemap, nlinks = entries), and a
 * second crash-free mount sees the same thing.
 * HAMMERSTATE_FS_CRASH_SAMPLES=n raises the sampled images per point (CI: 1).
 */
const SAMPLES = Number(process.env.HAMMERSTATE_FS_CRASH_SAMPLES ?? 1);
const STRIDE = Number(process.env.HAMMERSTATE_FS_CRASH_STRIDE ?? 2);

type State = Map<string, string>;

interface Recorded {
  /** The model state after each step, with the device op count when the step returned. */
  states: Array<{ ops: number; state: State }>;
  /** Durable points: after a sync every path, after an fsync one path. */
  durable: Array<{ ops: number; stateIndex: number; paths: 'all' | string[] }>;
}

const PATHS = ['/d/a', '/d/b', '/d/c', '/e', '/d/big', '/deep/x/y/z', '/h1', '/h2'];

async function workload(fs: FileSystem, device: CrashDevice): Promise<Recorded> {
  const state: State = new Map();
  const rec: Recorded = { states: [{ ops: 0, state: new Map() }], durable: [] };
  const step = () => rec.states.push({ ops: device.ops.length, state: new Map(state) });
  const write = async (path: string, content: string) => {
    await fs.writeFile(path, content);
    state.set(path, content);
    step();
  };
  const sync = async () => {
    await fs.sync();
    step();
    rec.durable.push({ ops: device.ops.length, stateIndex: rec.states.length - 1, paths: 'all' });
  };
  await fs.mkdir('/d');
  await write('/d/a', 'a1');
  await write('/d/b', 'b1');
  await sync();
  await write('/d/a', 'a2 longer');
  await write('/d/c', 'c1');
  await fs.unlink('/d/b');
  state.delete('/d/b');
  step();
  await fs.rename('/d/c', '/e');
  state.set('/e', state.get('/d/c') ?? '');
  state.delete('/d/c');
  step();
  await sync();
  const fh = await fs.open('/d/a', 'a');
  await fh.write('+full');
  await fh.sync();
  state.set('/d/a', 'a2 longer+full');
  step();
  rec.durable.push({ ops: device.ops.length, stateIndex: rec.states.length - 1, paths: ['/d/a'] });
  await fh.write('+redo');
  await fh.sync();
  state.set('/d/a', 'a2 longer+full+redo');
  step();
  rec.durable.push({ ops: device.ops.length, stateIndex: rec.states.length - 1, paths: ['/d/a'] });
  await fh.truncate(4);
  await fh.sync();
  state.set('/d/a', 'a2 l');
  step();
  rec.durable.push({ ops: device.ops.length, stateIndex: rec.states.length - 1, paths: ['/d/a'] });
  await fh.close();
  await write('/d/big', 'B'.repeat(70_000));
  await fs.mkdir('/deep/x/y', { recursive: true });
  await write('/deep/x/y/z', 'zzz');
  await write('/h1', 'hard');
  await fs.link('/h1', '/h2');
  state.set('/h2', 'hard');
  step();
  await sync();
  await write('/d/big', 'small now');
  await fs.unlink('/h1');
  state.delete('/h1');
  step();
  await write('/e', 'e2');
  await sync();
  return rec;
}

/** What each path may show after a crash just before op `point`. */
function allowed(rec: Recorded, point: number): Map<string, Set<string | undefined>> {
  const last = rec.states.findIndex((s) => s.ops >= point);
  const end = last < 0 ? rec.states.length - 1 : last;
  const out = new Map<string, Set<string | undefined>>();
  for (const path of PATHS) {
    let from = 0;
    for (const d of rec.durable) {
      if (d.ops <= point && (d.paths === 'all' || d.paths.includes(path))) from = Math.max(from, d.stateIndex);
    }
    const set = new Set<string | undefined>();
    for (let i = from; i <= end; i++) set.add(rec.states[i]?.state.get(path));
    out.set(path, set);
  }
  return out;
}

async function observe(fs: FileSystem): Promise<Map<string, string | undefined>> {
  const seen = new Map<string, string | undefined>();
  for (const path of PATHS) {
    try {
      seen.set(path, await fs.readFile(path, 'utf8'));
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
      seen.set(path, undefined);
    }
  }
  return seen;
}

async function checkCrash(image: MemDevice, rec: Recorded, point: number, label: string): Promise<void> {
  const redo = Volume.mount(image.clone(), { clock: logicalClock(), readOnly: true }).recovery.redo.map(
    (r) => `${r.fifoOffset}:${r.record.flags}@${r.record.offset}+${r.record.payload.length}`,
  );
  const fs = await mountMem(image);
  const seen = await observe(fs);
  const may = allowed(rec, point);
  for (const [path, content] of seen) {
    const options = may.get(path) ?? new Set();
    if (!options.has(content)) {
      const choices = [...options].map((option) => show(option as string | undefined)).join(' | ');
      throw new Error(`${label}: ${path} shows ${show(content)}, allowed ${choices}; redo ${redo.join(' ')}`);
    }
  }
  await fs.unmount();
  const report = checkImage(image);
  if (report.errors > 0) throw new Error(`${label}: fsck ${JSON.stringify(report.problems.slice(0, 3))}`);
  const again = await mountMem(image);
  expect(await observe(again), `${label}: a second mount sees the same`).toEqual(seen);
  await again.unmount();
}

describe('filesystem crash safety', () => {
  it.each([
    ['small groups', { autoflush: 4 }],
    ['partial finalizes and blocked truncations', { metaLimitBytes: 16 * 1024, truncateBatch: 1 }],
  ])(
    'every crash point of the workload recovers to a state the durability contract allows (%s)',
    async (_name, options) => {
      const { base } = await memVolume();
      const device = new CrashDevice(base);
      const fs = await mountMem(device, options);
      const rec = await workload(fs, device);
      await fs.unmount();
      const points = device.writePoints().filter((_, i) => i % STRIDE === 0);
      points.push(device.ops.length);
      const random = seededRandom(2026);
      let checked = 0;
      for (const point of points) {
        await checkCrash(device.crashImage(point), rec, point, `prefix crash before op ${point}`);
        checked++;
        for (let s = 0; s < SAMPLES; s++) {
          await checkCrash(device.sampleCrashImage(point, random), rec, point, `sampled crash ${s} before op ${point}`);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(50);
      expect(rec.durable.length).toBe(7);
    },
    120_000,
  );

  it('a crash after a REDO fsync replays the write on mount (stage 2) and the replay survives a second crash', async () => {
    const { base } = await memVolume();
    const device = new CrashDevice(base);
    const fs = await mountMem(device);
    await fs.writeFile('/log', 'start\n');
    const fh = await fs.open('/log', 'a');
    await fh.sync();
    for (let i = 0; i < 5; i++) {
      await fh.write(`line ${i} ${'x'.repeat(900)}\n`);
      await fh.sync();
    }
    const expected = `start\n${Array.from({ length: 5 }, (_, i) => `line ${i} ${'x'.repeat(900)}\n`).join('')}`;
    const image = device.crashImage(device.ops.length);
    const recorder = new CrashDevice(image);
    const recovered = await mountMem(recorder);
    expect(recovered.recovery.redoPending).toBeGreaterThan(0);
    expect(recovered.recovery.redoReplayed).toBe(recovered.recovery.redoPending);
    expect(await recovered.readFile('/log', 'utf8')).toBe(expected);
    // Crash again anywhere in the replay's flush: the REDO is still found.
    for (const point of recorder.writePoints()) {
      const twice = await mountMem(recorder.crashImage(point));
      expect(await twice.readFile('/log', 'utf8')).toBe(expected);
      await twice.unmount();
    }
    await recovered.unmount();
    expect(checkImage(recorder).errors).toBe(0);
  });
});

/** A content for a failure message: short ones whole, long ones by length and a prefix. */
function show(content: string | undefined): string {
  if (content === undefined) return 'absent';
  return content.length <= 40
    ? JSON.stringify(content)
    : `${content.length} chars ${JSON.stringify(content.slice(0, 20))}...`;
}
