import { rmSync, statSync } from 'node:fs';
import { mount } from '../actors/index.js';
import { AuditReader } from '../storage/audit-reader.js';
import type { AuditLevel } from '../storage/audit-schema.js';
import { createTreeSize } from './fs-create.js';
import { createTree, freshVolume, GiB, seconds, type Tree } from './fs-workload.js';
import { type BenchContext, type BenchResult, interleave, result } from './harness.js';

/** The budget: the create benchmark with the audit log at most 1.15x slower. */
const OVERHEAD_MAX = 1.15;

interface Logged {
  filesPerSecond: number;
  events: number;
  logBytes: number;
}

/**
 * The create workload (bench/fs-create.ts) on a fresh volume, with every bus
 * event logged at `level` into `<volume>.events.sqlite` (or no log at all).
 * Timed: the files, the sync and the unmount (for the log: its last batch,
 * the run's end and the close); mkfs and mount are not.
 */
async function createLogged(context: BenchContext, tree: Tree, rep: number, level?: AuditLevel): Promise<Logged> {
  const path = await freshVolume(context, `audit-${rep}.hsvol`, 2 * GiB);
  const logPath = `${path}.events.sqlite`;
  // The mount opens and ends its own log (the default beside a volume file), at `level`.
  const fs = await mount(path, level === undefined ? { audit: false } : { auditLevel: level });
  // Nothing subscribes to the bus: with no log, no event is even built (the baseline is the mount as a user has it).
  const start = performance.now();
  await createTree(fs, tree);
  await fs.sync();
  await fs.unmount();
  const elapsed = seconds(start);
  const logged = {
    filesPerSecond: tree.files / elapsed,
    events: level === undefined ? 0 : loggedEvents(logPath),
    logBytes: level === undefined ? 0 : statSync(logPath).size,
  };
  for (const file of [path, logPath, `${logPath}-wal`, `${logPath}-shm`]) rmSync(file, { force: true });
  return logged;
}

/** The events the log holds (all of this one mount's). */
function loggedEvents(logPath: string): number {
  const reader = AuditReader.open(logPath);
  try {
    return reader.lastSeq;
  } finally {
    reader.close();
  }
}

/** `audit`: the create workload with the audit log (full level) against the same without it. */
export async function auditBenchmark(context: BenchContext): Promise<BenchResult> {
  const tree = createTreeSize(context.quick);
  const last: Partial<Record<'full' | 'meta', Logged>> = {};
  const run = async (rep: number, level?: AuditLevel) => {
    const logged = await createLogged(context, tree, rep, level);
    if (level !== undefined) last[level] = logged;
    return logged.filesPerSecond;
  };
  const measured = await interleave(context.reps, {
    ours: (rep) => run(rep, 'full'),
    'no-audit': (rep) => run(rep),
    meta: (rep) => run(rep, 'meta'),
  });
  return result(
    'audit',
    `files created per second with every bus event logged to SQLite (full level; the create workload, ${tree.files} files)`,
    'files/s',
    measured.ours.median,
    { 'no-audit': measured['no-audit'].median, meta: measured.meta.median },
    {
      files: tree.files,
      events: last.full?.events ?? 0,
      logBytes: last.full?.logBytes ?? 0,
      target: 1 / OVERHEAD_MAX,
      targetBaseline: 'no-audit',
      reps: context.reps,
      samples: measured.ours.samples,
    },
  );
}
