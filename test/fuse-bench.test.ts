import { expect, it } from 'vitest';
import '../bench/fuse.js';
import { runBenchmarks } from '../bench/harness.js';
import { describeFuse } from './support/fuse.js';

/**
 * The FUSE benchmarks in quick mode, once: the lines have the documented
 * shape and every server came and went cleanly (a server that did not end
 * with 0 fails the run). No timing is asserted: speed targets live in the
 * benchmark output (docs/benchmarks.md).
 */
describeFuse('the FUSE benchmarks', [], () => {
  it('fuse-create and fuse-seqwrite report ours against their baselines', async () => {
    const lines = await runBenchmarks(['fuse-create', 'fuse-seqwrite'], {
      quick: true,
      reps: 1,
      progress: () => undefined,
    });
    expect(lines.map((line) => line.benchmark)).toEqual(['fuse-create', 'fuse-seqwrite']);
    const [create, seqwrite] = lines;
    expect(Object.keys(create?.baselines ?? {})).toEqual(['fuse-memfs']);
    expect(create?.target).toBe(0.8);
    expect(Object.keys(seqwrite?.baselines ?? {})).toEqual(['raw-file', 'fuse-memfs']);
    for (const line of lines) {
      expect(line.ours).toBeGreaterThan(0);
      for (const baseline of Object.values(line.baselines)) {
        expect(baseline.value).toBeGreaterThan(0);
        expect(baseline.ratio).toBe(line.ours / baseline.value);
      }
    }
  });
});
