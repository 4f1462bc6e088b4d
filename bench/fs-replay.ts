import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mkfs, mount } from '../actors/index.js';
import { replayLog } from '../actors/replay.js';
import { eventLoopTurn } from '../cli/event-loop.js';
import { AuditReader } from '../storage/audit-reader.js';
import { dirPath, filePath, GiB, seconds, type Tree } from './fs-workload.js';
import { type BenchContext, type BenchResult, interleave, result } from './harness.js';

/** The target: at least this many events a second replayed with --check. */
const TARGET_EVENTS_PER_SECOND = 100_000;

/** Small files (64 bytes) keep a million-event log (full level, data kept) at a few hundred MiB. */
function replayTree(quick: boolean): Tree {
  return quick ? { files: 2_000, dirs: 10, fileBytes: 64 } : { files: 140_000, dirs: 140, fileBytes: 64 };
}

interface Log {
  path: string;
  events: number;
  /** Events a second while the run was logged (its own pace). */
  loggedRate: number;
}

/** The create workload, logged at the full level, one sync at the end: the log replay reads. */
async function makeLog(context: BenchContext, tree: Tree): Promise<Log> {
  const volume = join(context.dir, 'replay-source.hsvol');
  await mkfs(volume, { size: 2 * GiB });
  const fs = await mount(volume);
  const payload = Buffer.alloc(tree.fileBytes, 0x5a);
  const start = performance.now();
  for (let d = 0; d < tree.dirs; d++) await fs.mkdir(dirPath(d));
  for (let i = 0; i < tree.files; i++) await fs.writeFile(filePath(tree, i), payload);
  await fs.sync();
  await fs.unmount();
  const elapsed = seconds(start);
  const path = `${volume}.events.sqlite`;
  const reader = AuditReader.open(path);
  const events = reader.lastSeq;
  reader.close();
  rmSync(volume, { force: true });
  return { path, events, loggedRate: events / elapsed };
}

/** `hammerstate replay --check` of the log, in events a second. */
async function replayRate(context: BenchContext, log: Log): Promise<number> {
  const dir = mkdtempSync(join(context.dir, 'replay-'));
  const reader = AuditReader.open(log.path);
  try {
    const start = performance.now();
    const report = await replayLog(reader, { check: true, dir, drain: eventLoopTurn });
    const elapsed = seconds(start);
    if (report.divergences > 0) throw new Error(`replay diverged at seq ${report.first_divergence?.seq}`);
    return report.events / elapsed;
  } finally {
    reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reading every event of the log, nothing else: the floor of what a replay costs. */
function readRate(log: Log): number {
  const reader = AuditReader.open(log.path);
  try {
    const start = performance.now();
    let events = 0;
    for (const _event of reader.events()) events++;
    return events / seconds(start);
  } finally {
    reader.close();
  }
}

/** `replay`: events a second replayed with --check, against reading the log alone and the logged run's own pace. */
export async function replayBenchmark(context: BenchContext): Promise<BenchResult> {
  const tree = replayTree(context.quick);
  const log = await makeLog(context, tree);
  try {
    const measured = await interleave(context.reps, {
      ours: () => replayRate(context, log),
      'log-read': () => readRate(log),
    });
    return result(
      'replay',
      `events replayed per second with --check (a ${log.events}-event log: ${tree.files} files of ${tree.fileBytes} bytes made and synced)`,
      'events/s',
      measured.ours.median,
      { 'log-read': measured['log-read'].median, 'logged-run': log.loggedRate },
      {
        events: log.events,
        target: TARGET_EVENTS_PER_SECOND,
        targetKind: 'absolute events/s',
        reps: context.reps,
        samples: measured.ours.samples,
      },
    );
  } finally {
    rmSync(log.path, { force: true });
  }
}
