import type { FileSystem } from '../../actors/api.js';
import { mount } from '../../actors/index.js';
import { logicalClock } from '../../storage/clock.js';
import type { MemDevice } from '../../storage/device.js';
import { fsck } from '../../storage/fsck.js';
import { crashViolations, diffStates, lastStepBefore, type Step } from './fs-model.js';
import { describePfs } from './log-model.js';
import { asOf, mountOptions, type Recording } from './record.js';
import { readTree } from './tree.js';

/** One broken promise of the crash contract: which check, and each problem (expected against found). */
export interface Finding {
  check: 'mount' | 'consistency' | 'durability' | 'pfs' | 'snapshot' | 'fsck' | 'oracle';
  problems: string[];
}

/**
 * The durability oracle's view of a crash just before device op `end`: the
 * states since the last sync that returned before `end` (steps[0] is that
 * sync's state) and the fsyncs since then, rebased onto those steps.
 */
function window(rec: Recording, end: number) {
  let base = 0;
  for (const sync of rec.syncs) if (sync.opsEnd <= end) base = Math.max(base, sync.step);
  const fsyncs = new Map<number, Array<{ step: number; opsEnd: number }>>();
  for (const [ino, list] of rec.fsyncs) {
    const later = list.filter((f) => f.step >= base).map((f) => ({ step: f.step - base, opsEnd: f.opsEnd }));
    if (later.length > 0) fsyncs.set(ino, later);
  }
  return { steps: rec.steps.slice(base), fsyncs };
}

/**
 * Recover a crash image (mount: UNDO rollback, REDO replay) and check it:
 * the tree reads back consistently, every inode and entry holds a value the
 * crash contract allows (crashViolations: fsynced files and returned syncs
 * present with their content, nothing never written), every snapshot that
 * returned before the crash still shows the same tree as of its TID, and
 * after unmount the volume is fsck clean (structure, freemap, nlinks, the
 * header's inode count against the tree). Mutates `image`; returns [] if all hold.
 */
export async function checkCrashState(rec: Recording, end: number, image: MemDevice): Promise<Finding[]> {
  let fs: Awaited<ReturnType<typeof mount>>;
  try {
    fs = await mount(image, mountOptions());
  } catch (error) {
    return [{ check: 'mount', problems: [`expected a mountable volume, found: ${(error as Error).message}`] }];
  }
  const findings: Finding[] = [];
  const add = (check: Finding['check'], problems: string[]) => {
    if (problems.length > 0) findings.push({ check, problems });
  };
  // A call that fails with a code (EIO: a CRC that does not match) is a finding, and the checks go on.
  const coded = async (check: Finding['check'], what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      if (typeof (error as { code?: unknown }).code !== 'string') throw error;
      add(check, [`expected ${what} to read back, found: ${(error as Error).message}`]);
    }
  };
  const { steps, fsyncs } = window(rec, end);
  await coded('consistency', 'the tree', async () => {
    const { state, problems } = await readTree(fs, rec.root);
    add('consistency', problems);
    add('durability', crashViolations(steps, fsyncs, end, state, rec.root));
  });
  add('pfs', await pfsViolations(fs, steps, end));
  for (const snapshot of rec.snapshots) {
    if (snapshot.opsEnd > end) continue;
    const what = `as of snapshot ${asOf(snapshot.tid)}`;
    await coded('snapshot', `the tree ${what}`, async () => {
      const seen = await readTree(fs, rec.root, asOf(snapshot.tid));
      add(
        'snapshot',
        [...seen.problems, ...diffStates(snapshot.state, seen.state, rec.root)].map((p) => `${what}: ${p}`),
      );
    });
  }
  await coded('mount', 'the unmount', () => fs.unmount());
  const report = fsck(image, { clock: logicalClock() });
  add(
    'fsck',
    report.problems.map((p) => `expected a clean volume, found ${p.where}: ${p.what}`),
  );
  // The oracle's own soundness (the live run against its event log), reported with the image of the whole run.
  if (end === rec.device.ops.length) add('oracle', rec.oracle);
  return findings;
}

/**
 * The PFSs after recovery: the list is one a step since the last durable
 * point had (a PFS is made in one commit, its record and root together, and
 * is durable once a sync returns), and each PFS's root reads back as the
 * empty directory it was made as (the workloads never write in one).
 */
async function pfsViolations(fs: FileSystem, steps: Step[], end: number): Promise<string[]> {
  const allowed = new Set(steps.slice(0, lastStepBefore(steps, end) + 1).map((s) => s.pfs));
  if (allowed.has(undefined)) return [];
  let list: Awaited<ReturnType<FileSystem['pfs']['list']>>;
  try {
    list = await fs.pfs.list();
  } catch (error) {
    if (typeof (error as { code?: unknown }).code !== 'string') throw error;
    return [`expected the PFS list to read, found: ${(error as Error).message}`];
  }
  const out: string[] = [];
  const got = describePfs(list);
  if (!allowed.has(got)) {
    const options = [...allowed].map((a) => `'${a}'`).join(' | ');
    out.push(`recovered the PFS list '${got}'; allowed: ${options}`);
  }
  for (const { id } of list) {
    if (id === 0) continue;
    const top = `/@@PFS${String(id).padStart(5, '0')}`;
    try {
      const root = (await fs.stat(top)).ino;
      const { state, problems } = await readTree(fs, root, top);
      out.push(...problems.map((p) => `${top}: ${p}`));
      const node = state.get(root);
      if (node?.kind !== 'dir' || node.entries.size > 0 || state.size !== 1)
        out.push(`${top}: expected an empty root directory, found ${state.size} inodes`);
    } catch (error) {
      if (typeof (error as { code?: unknown }).code !== 'string') throw error;
      out.push(`${top}: expected an empty root directory, found: ${(error as Error).message}`);
    }
  }
  return out;
}
