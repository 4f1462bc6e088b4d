import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeFuse, mountedVolume, sh, stopMount } from './support/fuse.js';

/**
 * Filesystem benchmarks from Debian as workloads on a FUSE mount, short runs
 * (a second or two each), their own reports parsed and checked: fs_mark
 * (create + fsync), postmark (small-file transactions), dbench (a file
 * server's calls from two clients), fio (random writes, then every block
 * read back and its CRC checked).
 */

/** Rows of a whitespace-separated table whose first cell is a number. */
function numericRows(text: string): number[][] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter((cells) => cells.length > 1 && cells.every((cell) => Number.isFinite(cell)));
}

function matchNumber(text: string, pattern: RegExp): number {
  const match = pattern.exec(text);
  if (match === null) throw new Error(`no ${pattern} in:\n${text}`);
  return Number(match[1]);
}

describeFuse('benchmark programs on a FUSE mount', ['fs_mark', 'postmark', 'dbench', 'fio'], () => {
  const state = mountedVolume(['--no-audit']);

  it('fs_mark: 2 rounds of 40 files of 4 KiB, each fsynced before close, all kept', async () => {
    const out = await sh('mkdir mnt/fs_mark && fs_mark -d mnt/fs_mark -s 4096 -n 40 -L 2 -S 1 -k', state.dir);
    // FSUse%  Count  Size  Files/sec  App Overhead
    const rows = numericRows(out);
    expect(rows.map((row) => [row[1], row[2]])).toEqual([
      [40, 4096],
      [80, 4096],
    ]);
    for (const row of rows) expect(row[3]).toBeGreaterThan(0);
    expect((await sh('find mnt/fs_mark -type f -size 4k | wc -l', state.dir)).trim()).toBe('80');
  });

  it('postmark: 150 files, 400 transactions; everything it created it deleted', async () => {
    const config = join(state.dir, 'postmark.cfg');
    writeFileSync(
      config,
      `set location ${join(state.mnt, 'postmark')}\nset number 150\nset transactions 400\nset size 512 8192\nset seed 7\nrun\nquit\n`,
    );
    const out = await sh(`mkdir mnt/postmark && postmark ${config}`, state.dir);
    const created = matchNumber(out, /(\d+) created/);
    expect(created).toBeGreaterThanOrEqual(150);
    expect(matchNumber(out, /(\d+) deleted/)).toBe(created);
    expect(matchNumber(out, /(\d+) read/) + matchNumber(out, /(\d+) appended/)).toBeGreaterThan(0);
    expect(matchNumber(out, /([\d.]+) megabytes written/)).toBeGreaterThan(0);
    expect((await sh('ls -A mnt/postmark | wc -l', state.dir)).trim()).toBe('0');
  });

  it('dbench: 2 clients for 2 seconds, no failed call, a throughput reported', async () => {
    const out = await sh('mkdir mnt/dbench && dbench -D mnt/dbench -t 2 -c /usr/share/dbench/client.txt 2', state.dir);
    expect(out).not.toMatch(/ERROR|failed|Unexpected/i);
    expect(matchNumber(out, /Throughput ([\d.]+) MB\/sec\s+2 clients/)).toBeGreaterThan(0);
    const operations = Object.fromEntries(
      [...out.matchAll(/^\s*([A-Za-z]+)\s+(\d+)\s+[\d.]+\s+[\d.]+\s*$/gm)].map((m) => [m[1], Number(m[2])]),
    );
    for (const call of ['NTCreateX', 'WriteX', 'ReadX', 'Close']) expect(operations[call]).toBeGreaterThan(0);
  });

  it('fio: 8 MiB of random 16 KiB writes with fsyncs, read back and verified (crc32c)', async () => {
    const report = join(state.dir, 'fio.json');
    await sh(
      `mkdir mnt/fio && fio --name=verify --directory=mnt/fio --rw=randwrite --bs=16k --size=8M --ioengine=psync --fsync=32 --verify=crc32c --do_verify=1 --verify_fatal=1 --output-format=json --output=${report}`,
      state.dir,
    );
    const job = (JSON.parse(readFileSync(report, 'utf8')) as { jobs: FioJob[] }).jobs[0] as FioJob;
    expect(job.error).toBe(0);
    expect(job.write.io_bytes).toBe(8 * 1024 * 1024);
    // The verify pass read every block back.
    expect(job.read.io_bytes).toBe(8 * 1024 * 1024);
    expect(job.sync.lat_ns.N).toBeGreaterThan(0);
  });

  it('ends with SIGTERM, exit 0, and the volume is flushed and closed', async () => {
    expect(await stopMount(state.running)).toBe(0);
    expect(state.running.stderr()).toContain(`${state.volume} flushed and closed`);
  });
});

interface FioJob {
  error: number;
  write: { io_bytes: number };
  read: { io_bytes: number };
  sync: { lat_ns: { N: number } };
}
