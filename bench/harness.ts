import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventLoopTurn } from '../cli/event-loop.js';

/**
 * The benchmark harness. A benchmark measures ours and its baselines in the
 * same process run, several repetitions each, interleaved (ours, then each
 * baseline, then the next repetition), and reports medians, so a noisy shared
 * machine drifts on all of them alike and the ratios stay comparable. Speed
 * targets live here, never in timed test assertions. Bench code is outside
 * storage/ and may read the wall clock (performance.now()).
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
  /** Small sizes (seconds in all), for the test and a first look. */
  quick: boolean;
  reps: number;
  /** A scratch directory under os.tmpdir(), removed after the run. */
  dir: string;
  /** A line for stderr; stdout belongs to the results. */
  progress(message: string): void;
}

export interface Benchmark {
  name: string;
  description: string;
  run(context: BenchContext): Promise<BenchResult[]>;
}

const registry = new Map<string, Benchmark>();

/** Called at import time by each benchmark module (bench/storage.ts, ...). */
export function registerBenchmark(benchmark: Benchmark): void {
  if (registry.has(benchmark.name)) throw new Error(`benchmark '${benchmark.name}' is registered twice`);
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

/** The nearest-rank percentile `p` (0..100) of `values`. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? Number.NaN;
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

export interface Measured {
  median: number;
  samples: number[];
}

/**
 * Give the event loop a turn between measurements. The bodies are synchronous
 * (the storage I/O is), so without this a SIGINT would wait for the whole run.
 */
const turn = eventLoopTurn;

/** Run `body` `reps` times and return the median of what it measured. */
export async function repeat(reps: number, body: (rep: number) => number | Promise<number>): Promise<Measured> {
  const samples: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    await turn();
    samples.push(await body(rep));
  }
  return { median: median(samples), samples };
}

/**
 * Run every body once per repetition, in the order given, `reps` times:
 * ours and its baselines see the same minutes of a noisy machine.
 */
export async function interleave<Name extends string>(
  reps: number,
  bodies: Record<Name, (rep: number) => number | Promise<number>>,
): Promise<Record<Name, Measured>> {
  const names = Object.keys(bodies) as Name[];
  const samples = new Map<Name, number[]>(names.map((name) => [name, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const name of names) {
      await turn();
      samples.get(name)?.push(await bodies[name](rep));
    }
  }
  const out = {} as Record<Name, Measured>;
  for (const name of names) {
    const values = samples.get(name) ?? [];
    out[name] = { median: median(values), samples: values };
  }
  return out;
}

/**
 * Run the named benchmarks ('all' for every one) in a scratch directory under
 * os.tmpdir(). The directory is removed afterwards, also when a benchmark
 * throws or the run is interrupted (SIGINT, SIGTERM): a recovery run leaves
 * about a GiB of volume files behind otherwise.
 */
export async function runBenchmarks(
  names: string[],
  options: { quick: boolean; reps: number; progress: (message: string) => void },
): Promise<BenchResult[]> {
  const unknown = names.filter((name) => name !== 'all' && !registry.has(name));
  if (unknown.length > 0)
    throw new Error(`unknown benchmark: ${unknown.join(', ')} (known: ${[...registry.keys()].join(', ')})`);
  const chosen = names.includes('all') ? benchmarks() : [...new Set(names)].flatMap((name) => registry.get(name) ?? []);
  const dir = mkdtempSync(join(tmpdir(), 'hammerstate-bench-'));
  const interrupted = (signal: NodeJS.Signals) => {
    rmSync(dir, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const results: BenchResult[] = [];
    for (const benchmark of chosen) {
      options.progress(`bench ${benchmark.name}: ${benchmark.description}`);
      results.push(...(await benchmark.run({ ...options, dir })));
    }
    return results;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    rmSync(dir, { recursive: true, force: true });
  }
}
