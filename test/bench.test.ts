import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type BenchResult,
  benchmarks,
  interleave,
  median,
  percentile,
  registerBenchmark,
  result,
  runBenchmarks,
} from '../bench/harness.js';
import '../bench/storage.js';
import '../bench/fs.js';
import { benchTable } from '../cli/commands/bench.js';
import { main } from '../cli/main.js';

/** The documented line shape: finite positive numbers, ratio = ours / value. No timing is asserted. */
function expectShape(line: BenchResult): void {
  expect(typeof line.benchmark).toBe('string');
  expect(typeof line.metric).toBe('string');
  expect(typeof line.unit).toBe('string');
  expect(Number.isFinite(line.ours) && line.ours > 0).toBe(true);
  for (const baseline of Object.values(line.baselines)) {
    expect(Number.isFinite(baseline.value) && baseline.value > 0).toBe(true);
    expect(baseline.ratio).toBe(line.ours / baseline.value);
  }
}

registerBenchmark({
  name: 'test-fixed',
  description: 'fixed figures, for the CLI plumbing',
  async run() {
    return [result('fixed', 'things per second', 'things/s', 50, { base: 200 }, { reps: 1 })];
  },
});

describe('benchmark harness', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('computes medians, percentiles and ratios (ours / baseline)', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBe(9);
    expect(percentile([7], 99)).toBe(7);
    expect(result('x', 'm', 'u', 50, { base: 200 })).toEqual({
      benchmark: 'x',
      metric: 'm',
      unit: 'u',
      ours: 50,
      baselines: { base: { value: 200, ratio: 0.25 } },
    });
  });

  it('interleaves ours and the baselines, repetition by repetition', async () => {
    const order: string[] = [];
    const measured = await interleave(3, {
      ours: (rep) => {
        order.push(`ours${rep}`);
        return rep + 1;
      },
      base: (rep) => {
        order.push(`base${rep}`);
        return 10 * (rep + 1);
      },
    });
    expect(order).toEqual(['ours0', 'base0', 'ours1', 'base1', 'ours2', 'base2']);
    expect(measured.ours).toEqual({ median: 2, samples: [1, 2, 3] });
    expect(measured.base.median).toBe(20);
  });

  it('runs the storage benchmark in quick mode and reports lines of the documented shape', async () => {
    expect(benchmarks().map((b) => b.name)).toContain('storage');
    const lines = await runBenchmarks(['storage'], { quick: true, reps: 1, progress: () => undefined });
    expect(lines.map((l) => l.benchmark)).toEqual(['btree-insert', 'flush-cycle', 'recovery', 'seqwrite-raw']);
    for (const line of lines) expectShape(line);
    expect(Object.keys(lines[0]?.baselines ?? {})).toEqual(['sqlite', 'sorted-array']);
    expect(Object.keys(lines[1]?.baselines ?? {})).toEqual(['raw-fsync']);
    expect(Object.keys(lines[2]?.baselines ?? {})).toEqual(['raw-read']);
    expect(lines[3]?.baselines).toEqual({});
    expect(lines[1]?.fsyncsPerCycle).toBeGreaterThanOrEqual(3);
    expect(lines[2]?.spanMiB).toBeGreaterThanOrEqual(2);
    expect(lines[2]?.undoRecords).toBeGreaterThan(0);
  });

  it('runs the filesystem benchmarks in quick mode, each against its baselines', async () => {
    const names = ['create', 'fsync', 'seqwrite', 'memory'];
    const lines = await runBenchmarks(names, { quick: true, reps: 1, progress: () => undefined });
    expect(lines.map((l) => l.benchmark)).toEqual(names);
    for (const line of lines) expectShape(line);
    expect(Object.keys(lines[0]?.baselines ?? {}).sort()).toEqual(['node-fs', 'sqlite']);
    expect(Object.keys(lines[1]?.baselines ?? {})).toEqual(['raw-file']);
    expect(Object.keys(lines[2]?.baselines ?? {})).toEqual(['raw-file']);
    expect(Object.keys(lines[3]?.baselines ?? {})).toEqual(['js-map']);
    expect(lines[0]?.target).toBe(0.5);
    expect(typeof lines[1]?.p99).toBe('number');
  });

  it('runs the audit benchmark in quick mode: the create workload logged, against no log', async () => {
    const [line] = await runBenchmarks(['audit'], { quick: true, reps: 1, progress: () => undefined });
    if (line === undefined) throw new Error('no result line');
    expectShape(line);
    expect(Object.keys(line.baselines)).toEqual(['no-audit', 'meta']);
    expect(line.events).toBeGreaterThan(line.files as number);
    expect(line.logBytes).toBeGreaterThan(0);
  });

  it('refuses an unknown benchmark by name', async () => {
    await expect(runBenchmarks(['nope'], { quick: true, reps: 1, progress: () => undefined })).rejects.toThrow(
      /unknown benchmark: nope/,
    );
  });

  it('prints one JSON object per result line with --json, progress on stderr', async () => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => stdout.push(String(chunk)) > 0);
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => stderr.push(String(chunk)) > 0);
    expect(await main(['node', 'hammerstate', 'bench', 'test-fixed', '--json', '--reps', '1'])).toBe(0);
    const lines = stdout.join('').trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '') as BenchResult;
    expectShape(line);
    expect(line.baselines).toEqual({ base: { value: 200, ratio: 0.25 } });
    expect(stderr.join('')).toContain('bench test-fixed');
  });

  it('lists the benchmarks without a name, and refuses --reps 0', async () => {
    const stdout: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => stdout.push(String(chunk)) > 0);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['node', 'hammerstate', 'bench'])).toBe(0);
    expect(stdout.join('')).toMatch(/^storage /m);
    expect(await main(['node', 'hammerstate', 'bench', 'storage', '--reps', '0'])).toBe(2);
    expect(await main(['node', 'hammerstate', 'bench', 'nope'])).toBe(2);
  });

  it('formats a readable table, one row per baseline', () => {
    const table = benchTable([
      result('btree-insert', 'm', 'records/s', 41_900, { sqlite: 717_000, 'sorted-array': 22_100 }),
      result('seqwrite-raw', 'm', 'MiB/s', 1615.4, {}),
    ]);
    expect(table).toHaveLength(4);
    expect(table[0]).toMatch(/^benchmark\s+ours\s+unit\s+baseline\s+value\s+ratio$/);
    expect(table[1]).toMatch(/^btree-insert\s+41,900\s+records\/s\s+sqlite\s+717,000\s+0\.0584$/);
    expect(table[2]).toMatch(/^\s+sorted-array\s+22,100\s+1\.90$/);
    expect(table[3]).toMatch(/^seqwrite-raw\s+1,615\s+MiB\/s\s+-$/);
  });
});
