import { describe, expect, it } from 'vitest';
import { benchmarks, median, result, runBenchmarks } from '../bench/harness.js';
import '../bench/storage.js';

describe('benchmark harness', () => {
  it('computes medians and ratios (ours / baseline)', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const line = result('x', 'm', 'u', 50, { base: 200 });
    expect(line).toEqual({
      benchmark: 'x',
      metric: 'm',
      unit: 'u',
      ours: 50,
      baselines: { base: { value: 200, ratio: 0.25 } },
    });
  });

  it('runs the storage benchmark in quick mode and reports lines of the documented shape', async () => {
    expect(benchmarks().map((b) => b.name)).toContain('storage');
    const lines = await runBenchmarks(['storage'], { quick: true, reps: 1, progress: () => undefined });
    expect(lines.map((l) => l.benchmark)).toEqual(['btree-insert', 'flush-cycle', 'recovery', 'seqwrite-raw']);
    for (const line of lines) {
      expect(typeof line.metric).toBe('string');
      expect(typeof line.unit).toBe('string');
      expect(Number.isFinite(line.ours) && line.ours > 0).toBe(true);
      for (const baseline of Object.values(line.baselines)) {
        expect(Number.isFinite(baseline.value) && baseline.value > 0).toBe(true);
        expect(baseline.ratio).toBeCloseTo(line.ours / baseline.value, 10);
      }
    }
    expect(Object.keys(lines[0]?.baselines ?? {})).toEqual(['sqlite', 'sorted-array']);
    expect(Object.keys(lines[1]?.baselines ?? {})).toEqual(['raw-fsync']);
    expect(lines[2]?.spanMiB).toBeGreaterThan(1);
  });

  it('refuses an unknown benchmark by name', async () => {
    await expect(runBenchmarks(['nope'], { quick: true, reps: 1, progress: () => undefined })).rejects.toThrow(
      /unknown benchmark: nope/,
    );
  });
});
