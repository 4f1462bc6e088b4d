import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.js';
import { logicalClock } from '../storage/clock.js';
import { FileDevice } from '../storage/device.js';
import { RedoFlag } from '../storage/format/fifo.js';
import { LOCALIZE_MISC, localization, RecType } from '../storage/layout.js';
import { Volume } from '../storage/volume.js';
import { cli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clock = logicalClock();
const LOC = localization(0, LOCALIZE_MISC);
const BIN = fileURLToPath(new URL('../cli/hammerstate.js', import.meta.url));

type ShowJson = {
  errors: number;
  nodes: Array<{
    type: string;
    crc: string;
    problems: string[];
    elms: Array<{ recType: string; objId: string; createTid: string; deleteTid?: string }>;
  }>;
};

/** A volume file with `records` DATA records of 16 bytes, committed in one cycle. */
function volumeWith(name: string, records: number): string {
  const path = join(dir, name);
  expect(cli(['mkfs', path, '--size', '64M', '--undo-size', '8M'], dir).status).toBe(0);
  const volume = Volume.mount(FileDevice.open(path), { clock });
  volume.beginCycle();
  for (let i = 0; i < records; i++) {
    volume.insertRecord(
      { localization: LOC, objId: 5, recType: RecType.DATA, key: 16 * (i + 1), objType: 2 },
      new Uint8Array(16).fill(i),
    );
  }
  volume.commit();
  volume.close();
  return path;
}

describe('hammerstate command line', () => {
  it('mkfs makes a volume that show, show-undo and fsck read, each with --json on the last line', () => {
    const made = cli(['mkfs', 'v.img', '--size', '64M', '--undo-size', '8M', '--label', 'tiny', '--json'], dir);
    expect(made.status).toBe(0);
    expect(made.json()).toMatchObject({ volume: 'v.img', label: 'tiny', bigblocks: 7, fifoBytes: 8 * 1024 * 1024 });
    expect(made.stderr).toContain('mkfs: done');
    const fsck = cli(['fsck', 'v.img', '--json'], dir);
    expect(fsck.status).toBe(0);
    expect(fsck.json()).toMatchObject({
      errors: 0,
      problems: [],
      notes: [],
      stats: { liveInodes: 1, fifoBytes: 8 << 20 },
    });
    const show = cli(['show', 'v.img', '--json'], dir);
    expect(show.status).toBe(0);
    const tree = show.json<ShowJson>();
    expect(tree.errors).toBe(0);
    expect(tree.nodes).toHaveLength(1);
    expect(tree.nodes[0]).toMatchObject({ type: 'leaf', crc: 'ok', problems: [] });
    expect(tree.nodes[0]?.elms.map((e) => e.recType)).toEqual(['INODE', 'PFS']);
    expect(tree.nodes[0]?.elms[0]?.createTid).toMatch(/^0x[0-9a-f]{16}$/);
    expect(tree.nodes[0]?.elms[0]?.deleteTid).toBe('0x0000000000000000');
    const undo = cli(['show-undo', 'v.img', '--json'], dir);
    expect(undo.status).toBe(0);
    expect(undo.json()).toMatchObject({ size: 8 * 1024 * 1024, records: [] });
    const all = cli(['show-undo', 'v.img', '--all', '--json'], dir);
    expect(all.json<{ records: Array<{ type: string }> }>().records.some((r) => r.type === 'UNDO')).toBe(true);
    const text = cli(['show', 'v.img'], dir);
    expect(text.stdout).toMatch(/^NODE 0x0008[0-9a-f]{12} L count 2 parent 0x0{16} mirror 0x[0-9a-f]{16} crc ok$/m);
    expect(text.stdout).toMatch(
      /^ {3}0 0x00000001 obj 0x0{15}1 INODE key 0 create 0x0{7}10{7}0 delete 0x0{16} data 0x0009/m,
    );
  });

  it('show prints a tree of several levels; the left bound is printed as HAMMER prints it', () => {
    const path = volumeWith('levels.img', 300);
    const show = cli(['show', path, '--json'], dir);
    expect(show.status).toBe(0);
    const tree = show.json<ShowJson>();
    expect(tree.nodes[0]?.type).toBe('internal');
    expect(tree.nodes.length).toBeGreaterThan(5);
    expect(tree.nodes.every((n) => n.crc === 'ok' && n.problems.length === 0)).toBe(true);
    expect(tree.nodes[0]?.elms[0]?.objId).toBe('0xffe0000000000001'); // KEY_MIN as a u64
    expect(cli(['fsck', path], dir).stdout).toMatch(/^clean: \d+ nodes, 302 records \(302 live\), 1 inodes/m);
  });

  it('show-undo and fsck describe a volume that crashed mid-cycle with fsynced REDO', () => {
    const path = join(dir, 'unclean.img');
    expect(cli(['mkfs', path, '--size', '64M', '--undo-size', '8M'], dir).status).toBe(0);
    const volume = Volume.mount(FileDevice.open(path), { clock });
    volume.appendRedo({
      flags: RedoFlag.WRITE,
      objId: 42,
      localization: LOC,
      offset: 4096,
      mtime: 0,
      payload: new Uint8Array(100),
    });
    volume.syncRedo();
    volume.beginCycle();
    for (let i = 0; i < 80; i++)
      volume.insertRecord(
        { localization: LOC, objId: 42, recType: RecType.DATA, key: i + 1, objType: 2 },
        new Uint8Array(8),
      );
    volume.finalize(false);
    volume.device.close(); // crash: no commit
    const undo = cli(['show-undo', path, '--json'], dir);
    expect(undo.status).toBe(0);
    const fifo = undo.json<{
      first: number;
      next: number;
      recovery: { records: number; undone: number; redo: number };
      records: Array<Record<string, unknown>>;
    }>();
    expect(fifo.next).toBeGreaterThan(fifo.first);
    expect(fifo.recovery.redo).toBe(1);
    expect(fifo.recovery.undone).toBeGreaterThan(0);
    expect(fifo.records[0]).toEqual({
      offset: fifo.first,
      type: 'REDO',
      seq: expect.any(Number),
      flags: 'WRITE',
      objId: '0x000000000000002a',
      localization: '0x00000002',
      fileOffset: 4096,
      bytes: 100,
    });
    expect(fifo.records[1]).toEqual({
      offset: expect.any(Number),
      type: 'UNDO',
      seq: expect.any(Number),
      target: expect.stringMatching(/^0x[0-9a-f]{16}$/),
      bytes: expect.any(Number),
    });
    const text = cli(['show-undo', path], dir);
    expect(text.stdout).toMatch(/^unclean: \d+ records in the span, \d+ UNDO to roll back$/m);
    expect(text.stdout).toMatch(
      /^ {2}0x[0-9a-f]{8} REDO {2}seq \d+ WRITE obj 0x0{14}2a loc 0x00000002 offset 4096 bytes 100$/m,
    );
    const fsck = cli(['fsck', path, '--json'], dir);
    expect(fsck.status).toBe(0);
    const report = fsck.json<{ errors: number; notes: string[]; stats: Record<string, number> }>();
    expect(report.errors).toBe(0);
    expect(report.stats).toMatchObject({
      fifoFirst: fifo.first,
      fifoEnd: fifo.next,
      fifoSpanUndo: fifo.recovery.undone,
    });
    expect(report.notes).toContain('1 REDO records await stage 2');
    // Read-only commands wrote nothing: the volume still needs its recovery.
    expect(cli(['show-undo', path, '--json'], dir).json()).toMatchObject({ recovery: fifo.recovery });
  });

  it('says what is wrong and exits 2 for usage and environment errors', () => {
    expect(cli(['mkfs', 'v.img'], dir)).toMatchObject({ status: 2, stderr: expect.stringContaining('EEXIST') });
    expect(cli(['mkfs', 'small.img', '--size', '10M'], dir)).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('volume too small'),
    });
    expect(cli(['mkfs', 'x.img', '--size', 'lots'], dir)).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('--size'),
    });
    expect(cli(['mkfs', 'x.img', '--undo-size', '12M'], dir)).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('multiple of 8 MiB'),
    });
    expect(cli(['fsck', 'missing.img'], dir)).toMatchObject({
      status: 2,
      stderr: "hammerstate: ENOENT: no such volume file, 'missing.img'\n",
    });
    const missing = cli(['fsck', 'missing.img', '--json'], dir);
    expect(missing.status).toBe(2);
    expect(missing.json()).toEqual({
      error: { code: 'ENOENT', message: "ENOENT: no such volume file, 'missing.img'" },
      exitCode: 2,
    });
    expect(cli(['show', '--bogus', 'v.img', '--json'], dir).json()).toMatchObject({
      error: { code: 'EINVAL' },
      exitCode: 2,
    });
    expect(cli(['fsck', 'a.img', 'b.img'], dir).status).toBe(2);
    expect(cli(['frobnicate'], dir).status).toBe(2);
    expect(cli([], dir).status).toBe(2);
    expect(cli(['--help'], dir).status).toBe(0);
    expect(cli(['show', '--help'], dir).status).toBe(0);
  });

  it('main() returns the exit code and leaves process.exitCode as it found it', async () => {
    const before = process.exitCode;
    expect(await main(['node', 'hammerstate', 'fsck', join(dir, 'missing.img')])).toBe(2);
    expect(await main(['node', 'hammerstate', 'no-such-command'])).toBe(2);
    expect(await main(['node', 'hammerstate', 'fsck', join(dir, 'v.img'), '--json'])).toBe(0);
    expect(process.exitCode).toBe(before);
  });

  it('a reader that closes the pipe early ends the output quietly, without a stack trace', () => {
    const path = volumeWith('pipe.img', 2000);
    const run = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" show "${path}" | head -n 1`], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.stdout).toMatch(/^volume '' generation \d+/);
    expect(run.stderr).not.toContain('EPIPE');
    expect(run.stderr).not.toContain('    at ');
  });

  it('runs the demo: crash mid-flush, recovery, history, fsck clean', () => {
    const demo = cli(['demo', '--dir', join(dir, 'demo')], dir);
    expect(demo.stderr).toContain('history verified');
    expect(demo.status).toBe(0);
    expect(demo.stdout).toMatch(
      /recovery: \d+ FIFO records in the span, [1-9]\d* UNDO records rolled back, ([1-9]\d*) of \1 REDO records replayed/,
    );
    expect(demo.stdout).toContain('the unsynced files are gone, as they must be');
    expect(demo.stdout).toMatch(
      /event log: .*demo\.hsvol\.events\.sqlite: \d+ events in 4 runs; replayed up to the crash \(seq \d+, \d+ commands\): 0 divergences/,
    );
    expect(existsSync(join(dir, 'demo', 'report.html'))).toBe(true);
    expect(demo.stdout).toContain('the write fsynced just before the crash is there');
    expect(demo.stdout).toMatch(/as of the snapshot 0x[0-9a-f]{16}: \d+ bytes; now: \d+ bytes/);
    expect(demo.stdout).toMatch(/fsck: clean/);
    expect(cli(['fsck', join(dir, 'demo', 'demo.hsvol')], dir).status).toBe(0);
  });
});
