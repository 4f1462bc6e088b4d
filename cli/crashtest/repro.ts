import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { MemDevice } from '../../storage/device.js';
import { UsageError } from '../output.js';
import { checkCrashState, type Finding } from './check.js';
import { type Recording, record, setupVolume, VOLUME_BYTES } from './record.js';
import { crashImages } from './run.js';
import { describeWorkload, type Workload } from './workloads.js';

const IMAGE_PAGE_BYTES = 64 * 1024;

/** What `violation.json` holds that a replay needs (written by run.ts's writeReproduction). */
interface ViolationFile {
  workload_index: number;
  crash_point: number;
  sample: number | null;
  seed: number;
  samples: number;
  findings: Finding[];
  steps: Workload;
}

/** The outcome of re-running one reproduction. */
export interface Reproduction {
  workload: string;
  workload_index: number;
  crash_point: number;
  sample: number | null;
  /** The findings of this run equal the ones the reproduction recorded. */
  same: boolean;
  /**
   * crash.img is the image the workload, recorded again now, gives at this
   * crash point and sample (false: the image came from elsewhere, or the code
   * that produced it changed).
   */
  image_matches_workload: boolean;
  findings: Finding[];
  recorded: Finding[];
}

/**
 * `hammerstate crashtest --repro <dir>`: set the namespace up, record the
 * reproduction's workload again (the same steps, the same deterministic
 * clock), recover crash.img as a crash before device op `crash_point` and
 * hold it to the same oracle. `tamper` is the test hook runCrashtest has.
 */
export async function reproduce(dir: string, tamper?: (rec: Recording) => void): Promise<Reproduction> {
  const facts = readViolation(join(dir, 'violation.json'));
  const image = readImage(join(dir, 'crash.img'));
  const setup = await setupVolume();
  const rec = await record(setup, facts.steps);
  tamper?.(rec);
  const regenerated = imageAt(rec, facts);
  const matches = regenerated !== undefined && sameBytes(regenerated, image);
  const findings = await checkCrashState(rec, facts.crash_point, image);
  return {
    workload: describeWorkload(facts.steps),
    workload_index: facts.workload_index,
    crash_point: facts.crash_point,
    sample: facts.sample,
    same: JSON.stringify(findings) === JSON.stringify(facts.findings),
    image_matches_workload: matches,
    findings,
    recorded: facts.findings,
  };
}

/** The image the run produced for (crash_point, sample): the same generator, walked to that point. */
function imageAt(rec: Recording, facts: ViolationFile): MemDevice | undefined {
  for (const state of crashImages(rec, facts.seed, facts.workload_index, facts.samples)) {
    if (state.point === facts.crash_point && state.sample === facts.sample) return state.image;
    if (state.point > facts.crash_point) return undefined;
  }
  return undefined;
}

function sameBytes(a: MemDevice, b: MemDevice): boolean {
  const left = new Uint8Array(IMAGE_PAGE_BYTES);
  const right = new Uint8Array(IMAGE_PAGE_BYTES);
  for (let offset = 0; offset < VOLUME_BYTES; offset += IMAGE_PAGE_BYTES) {
    a.read(offset, left);
    b.read(offset, right);
    if (Buffer.compare(left, right) !== 0) return false;
  }
  return true;
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** violation.json, checked field by field: EINVAL naming the first field that is wrong. */
function readViolation(path: string): ViolationFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) throw new UsageError('EINVAL', `${path}: not JSON: ${error.message}`);
    throw error;
  }
  const facts = parsed as Partial<Record<keyof ViolationFile, unknown>>;
  const bad = (field: string) => new UsageError('EINVAL', `${path}: '${field}' is missing or wrong`);
  if (typeof parsed !== 'object' || parsed === null) throw bad('(the object)');
  for (const field of ['workload_index', 'crash_point', 'seed', 'samples'] as const)
    if (!isCount(facts[field])) throw bad(field);
  if (facts.sample !== null && !isCount(facts.sample)) throw bad('sample');
  if (!Array.isArray(facts.findings)) throw bad('findings');
  const steps = facts.steps;
  const stepOk = (step: unknown) =>
    typeof step === 'object' &&
    step !== null &&
    typeof (step as { operation?: { op?: unknown } }).operation?.op === 'string' &&
    ['none', 'sync', 'fsync', 'fdatasync'].includes((step as { persistence?: string }).persistence ?? '');
  if (!Array.isArray(steps) || steps.length < 1 || steps.length > 3 || !steps.every(stepOk)) throw bad('steps');
  return facts as ViolationFile;
}

/** crash.img (a sparse volume file of VOLUME_BYTES) as a memory image; the file itself is not changed. */
function readImage(path: string): MemDevice {
  const image = new MemDevice(VOLUME_BYTES);
  const fd = openSync(path, 'r');
  try {
    const page = new Uint8Array(IMAGE_PAGE_BYTES);
    for (let offset = 0; offset < VOLUME_BYTES; offset += IMAGE_PAGE_BYTES) {
      const n = readSync(fd, page, 0, page.length, offset);
      if (n !== page.length)
        throw new UsageError('EINVAL', `${path}: ${offset + n} bytes, a crash image is ${VOLUME_BYTES} bytes`);
      if (page.some((byte) => byte !== 0)) image.write(offset, page);
    }
    if (readSync(fd, page, 0, 1, VOLUME_BYTES) !== 0)
      throw new UsageError('EINVAL', `${path}: longer than a crash image (${VOLUME_BYTES} bytes)`);
  } finally {
    closeSync(fd);
  }
  return image;
}
