import { closeSync, ftruncateSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '../../storage/crash-device.js';
import type { MemDevice } from '../../storage/device.js';
import { checkCrashState, type Finding } from './check.js';
import { type Recording, record, setupVolume, VOLUME_BYTES } from './record.js';
import { describeWorkload, selectWorkloads, type Workload, type WorkloadLength, workloadAt } from './workloads.js';

/** Reproductions written per run: the rest of the violations are counted, not written. */
export const REPRODUCTIONS_MAX = 20;
const IMAGE_PAGE_BYTES = 64 * 1024;

export interface CrashtestOptions {
  /** Operations per workload: 1 (seq-1, exhaustive) or 2 (seq-2). */
  length: WorkloadLength;
  /** Workloads to run, spread over the space (default: all). */
  limit?: number;
  /** Run only this workload index (a reproduction's replay). */
  only?: number;
  /** Run only the `index`-th of `count` interleaved parts of the selection (a campaign over several processes). */
  shard?: { index: number; count: number };
  seed: number;
  /** Seeded reordered/torn samples per crash point with unsynced writes. */
  samples: number;
  /** Where reproductions of violations go. */
  out: string;
  /** Called after each workload (the progress bar). */
  onWorkload?: (done: number, total: number) => void;
  /** Changes a recording before its crash states are checked: a test breaks the oracle's input with it. */
  tamper?: (rec: Recording) => void;
}

export interface Violation {
  workload: string;
  workload_index: number;
  /** The crash image: everything before device op `crash_point` per the crash model. */
  crash_point: number;
  device_ops: number;
  /** null: the in-order prefix; k: the k-th seeded sample (dropped, reordered, torn writes). */
  sample: number | null;
  seed: number;
  findings: Finding[];
  /** The directory of the reproduction (null past REPRODUCTIONS_MAX). */
  reproduction: string | null;
}

export interface CrashtestResult {
  workloads: number;
  crash_states: number;
  violations: number;
  first_violation: Violation | null;
}

/**
 * Run the crash test: set the namespace up once, then for each selected
 * workload record it on a CrashDevice and check the crash image at every
 * device write (plus the end), and `samples` seeded variants of each point's
 * unsynced writes. Every violation writes a reproduction under `out`.
 */
export async function runCrashtest(options: CrashtestOptions): Promise<CrashtestResult> {
  const setup = await setupVolume();
  const selected =
    options.only !== undefined
      ? [options.only]
      : selectWorkloads(options.length, options.limit, seededRandom(options.seed));
  const shard = options.shard;
  const indices = shard === undefined ? selected : selected.filter((_, i) => i % shard.count === shard.index);
  const result: CrashtestResult = { workloads: 0, crash_states: 0, violations: 0, first_violation: null };
  for (const index of indices) {
    const workload = workloadAt(options.length, index);
    const rec = await record(setup, workload);
    options.tamper?.(rec);
    await crashWorkload(options, index, workload, rec, result);
    result.workloads++;
    options.onWorkload?.(result.workloads, indices.length);
  }
  return result;
}

/**
 * The crash images of one recorded workload: the in-order prefix at every
 * point, and the seeded samples. A reproduction (repro.ts) walks the same
 * generator to its crash point.
 */
export function* crashImages(rec: Recording, seed: number, index: number, samples: number) {
  // One generator per workload: a reproduction needs the seed and the workload index only.
  const next = seededRandom((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  for (const point of [...rec.device.writePoints(), rec.device.ops.length]) {
    yield { point, sample: null, image: rec.device.crashImage(point) };
    if (rec.device.pendingWrites(point).length === 0) continue;
    for (let k = 0; k < samples; k++) yield { point, sample: k, image: rec.device.sampleCrashImage(point, next) };
  }
}

/** Check every crash image of one workload, adding to `result`; a violation writes its reproduction. */
async function crashWorkload(
  options: CrashtestOptions,
  index: number,
  workload: Workload,
  rec: Recording,
  result: CrashtestResult,
): Promise<void> {
  for (const { point, sample, image } of crashImages(rec, options.seed, index, options.samples)) {
    const pristine = image.clone();
    const findings = await checkCrashState(rec, point, image);
    result.crash_states++;
    if (findings.length === 0) continue;
    const violation: Violation = {
      workload: describeWorkload(workload),
      workload_index: index,
      crash_point: point,
      device_ops: rec.device.ops.length,
      sample,
      seed: options.seed,
      findings,
      reproduction: null,
    };
    if (result.violations < REPRODUCTIONS_MAX)
      violation.reproduction = writeReproduction(options, violation, workload, pristine);
    result.violations++;
    result.first_violation ??= violation;
  }
}

/**
 * A replayable reproduction: `violation.json` (the workload, seed, samples,
 * crash point and sample, what was expected and found) and `crash.img`, the
 * crash image before recovery (a volume file: `hammerstate fsck`, `ls`,
 * `show` read it). `hammerstate crashtest --repro <dir>` re-runs exactly this
 * case (repro.ts). Returns the directory.
 */
export function writeReproduction(
  options: CrashtestOptions,
  violation: Violation,
  workload: Workload,
  image: MemDevice,
): string {
  const sample = violation.sample === null ? 'prefix' : `sample${violation.sample}`;
  const dir = join(
    options.out,
    `seq${options.length}-w${violation.workload_index}-op${violation.crash_point}-${sample}`,
  );
  mkdirSync(dir, { recursive: true });
  const { reproduction: _, ...facts } = violation;
  const replay = `hammerstate crashtest --repro ${dir}`;
  const rerun = `hammerstate crashtest --workloads seq${options.length} --only ${violation.workload_index} --seed ${options.seed} --samples ${options.samples}`;
  const file = { ...facts, samples: options.samples, steps: workload, replay, rerun };
  writeFileSync(join(dir, 'violation.json'), `${JSON.stringify(file, null, 2)}\n`);
  writeSparse(join(dir, 'crash.img'), image);
  return dir;
}

/** The image as a volume file, sparse: pages of zeros are left as holes. */
function writeSparse(path: string, image: MemDevice): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, VOLUME_BYTES);
    const page = new Uint8Array(IMAGE_PAGE_BYTES);
    for (let offset = 0; offset < VOLUME_BYTES; offset += IMAGE_PAGE_BYTES) {
      image.read(offset, page);
      if (page.some((byte) => byte !== 0)) writeSync(fd, page, 0, page.length, offset);
    }
  } finally {
    closeSync(fd);
  }
}
