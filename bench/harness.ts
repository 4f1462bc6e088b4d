import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The benchmark harness. A benchmark measures ours and its baselines in the
 * same process run, several repetitions each, and reports medians, so a noisy
 * shared machine still gives comparable ratios. Speed targets live here, never
 * in timed test assertions.
 */
export interface BenchResult {
  benchmark: string;
  metric: string;
  unit: string;
  ours: number;
  baselines: Record<string, { value: number; ratio: number }>;
  [extra: string]: unknown;
}

export interface BenchContext {
  /** Small sizes, for tests and a first look. */
  quick: boolean;
  reps: number;
  /** A scratch directory removed after the run. */
  dir: string;
  progress(message: string): void;
}

export interface Benchmark {
  name: string;
  description: string;
  run(context: BenchContext): Promise<BenchResult[]>;
}

const registry = new Map<string, Benchmark>();

export function registerBenchmark(benchmark: Benchmark): void {
  registry.set(benchmark.name, benchmark);
}

export function benchmarks(): Benchmark[] {
  return [...registry.values()];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** One result line; each baseline's ratio is ours / baseline. */
export function result(
  benchmark: string,
  metric: string,
  unit: string,
  ours: number,
  baselines: Record<string, number>,
  extra: Record<string, unknown> = {},
): BenchResult {
  const out: BenchResult = { benchmark, metric, unit, ours, baselines: {}, ...extra };
  for (const [name, value] of Object.entries(baselines)) out.baselines[name] = { value, ratio: ours / value };
  return out;
}

/** Run `body` `reps` times and return the median of what it measured. */
export async function repeat(
  reps: number,
  body: (rep: number) => number | Promise<number>,
): Promise<{ median: number; samples: number[] }> {
  const samples: number[] = [];
  for (let rep = 0; rep < reps; rep++) samples.push(await body(rep));
  return { median: median(samples), samples };
}

/** Run the named benchmarks ('all' for every one) in a scratch directory. */
export async function runBenchmarks(
  names: string[],
  options: { quick: boolean; reps: number; progress: (message: string) => void },
): Promise<BenchResult[]> {
  const chosen = names.includes('all') ? benchmarks() : names.map((name) => registry.get(name));
  const missing = names.filter((name, i) => name !== 'all' && chosen[i] === undefined);
  if (missing.length > 0)
    throw new Error(`unknown benchmark: ${missing.join(', ')} (known: ${[...registry.keys()].join(', ')})`);
  const dir = mkdtempSync(join(tmpdir(), 'hammerstate-bench-'));
  try {
    const results: BenchResult[] = [];
    for (const benchmark of chosen) {
      if (benchmark === undefined) continue;
      options.progress(`bench ${benchmark.name}: ${benchmark.description}`);
      results.push(...(await benchmark.run({ ...options, dir })));
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
