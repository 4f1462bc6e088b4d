import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hammerstate-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hammerstate command line', () => {
  it('mkfs makes a volume that show, show-undo and fsck read, each with --json on the last line', () => {
    const made = cli(['mkfs', 'v.img', '--size', '64M', '--undo-size', '8M', '--label', 'tiny', '--json'], dir);
    expect(made.status).toBe(0);
    expect(made.json()).toMatchObject({ volume: 'v.img', label: 'tiny', bigblocks: 7, fifoBytes: 8 * 1024 * 1024 });
    const fsck = cli(['fsck', 'v.img', '--json'], dir);
    expect(fsck.status).toBe(0);
    expect(fsck.json()).toMatchObject({ errors: 0, problems: [] });
    const show = cli(['show', 'v.img', '--json'], dir);
    expect(show.status).toBe(0);
    const tree = show.json<{
      nodes: Array<{ type: string; crc: string; elms: Array<{ recType: string; createTid: string }> }>;
    }>();
    expect(tree.nodes).toHaveLength(1);
    expect(tree.nodes[0]?.crc).toBe('ok');
    expect(tree.nodes[0]?.elms.map((e) => e.recType)).toEqual(['INODE', 'PFS']);
    expect(tree.nodes[0]?.elms[0]?.createTid).toMatch(/^0x[0-9a-f]{16}$/);
    const undo = cli(['show-undo', 'v.img', '--json'], dir);
    expect(undo.status).toBe(0);
    expect(undo.json()).toMatchObject({ size: 8 * 1024 * 1024, records: [] });
    const all = cli(['show-undo', 'v.img', '--all', '--json'], dir);
    expect(all.json<{ records: Array<{ type: string }> }>().records.some((r) => r.type === 'UNDO')).toBe(true);
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
    expect(cli(['fsck', 'missing.img'], dir)).toMatchObject({ status: 2, stderr: expect.stringContaining('ENOENT') });
    expect(cli(['frobnicate'], dir).status).toBe(2);
    expect(cli([], dir).status).toBe(2);
    expect(cli(['--help'], dir).status).toBe(0);
  });

  it('runs the demo: crash mid-flush, recovery, history, fsck clean', () => {
    const demo = cli(['demo', '--dir', join(dir, 'demo')], dir);
    expect(demo.stderr).toContain('history verified');
    expect(demo.status).toBe(0);
    expect(demo.stdout).toMatch(/recovery: \d+ FIFO records in the span, [1-9]\d* UNDO records rolled back/);
    expect(demo.stdout).toContain('the half-written file is gone');
    expect(demo.stdout).toMatch(/fsck: clean/);
    expect(cli(['fsck', join(dir, 'demo', 'demo.hsvol')], dir).status).toBe(0);
  });
});
