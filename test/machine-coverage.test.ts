import { beforeAll, describe, expect, it } from 'vitest';
import { type CoverageReport, formatCoverage, type MachineCoverage } from '../machines/coverage.js';
import { groupPaths } from './support/mbt/group-model.js';
import { GroupWorld, groupImage } from './support/mbt/group-world.js';
import { inodePaths, unreachedGuardPaths } from './support/mbt/inode-model.js';
import { InodeWorld, inodeImage } from './support/mbt/inode-world.js';
import { BusCoverage, walkAll } from './support/mbt/walk.js';
import { runWorkloads } from './support/mbt/workloads.js';

/**
 * Coverage of the inode and flush-group machines, computed from their
 * definitions (machines/coverage.ts reads the StateNode trees) against what
 * the buses of real mounts showed: representative workloads (fs calls only,
 * tag `workload`) and the model-based walks (tags `walk:fs`,
 * `walk:coordinator`, `walk:direct`, by how each step was driven). The
 * report is printed; a state or transition nobody reached fails the test,
 * by name.
 */

/**
 * Transitions the running system never takes: reached only by a walk that
 * sends the event to the actor itself. docs/model-based-testing.md says why
 * for each; if the system starts taking one (or stops taking another), this
 * list and the docs change with it.
 */
const NEVER_TAKEN_BY_THE_SYSTEM = {
  inode: [
    'idle --FLUSH [nothingToFlush]--> (stays)',
    'idle --FLUSH [noRecordCanGo]--> setup',
    'setup --DEPEND--> (stays)',
    'setup --FLUSH [setupDrained]--> idle',
    'setup --FLUSH [noRecordCanGo]--> (stays)',
    'flush --DEPEND--> (stays)',
  ],
  flushGroup: [
    'open --REMOVE_INODE--> (stays)',
    'open --DROP_REF--> (stays)',
    'closed --ADD_INODE--> (stays)',
    'closed --REMOVE_INODE--> (stays)',
    'closed --DROP_REF--> (stays)',
    'closed --CLOSE--> (stays)',
  ],
};

const coverage = new BusCoverage();
let workloads: string[] = [];

beforeAll(async () => {
  workloads = await runWorkloads(coverage);
  const inodeImageDevice = await inodeImage();
  const inode = inodePaths();
  for (const paths of [inode.shortest, inode.simple, inode.edges]) {
    const failures = await walkAll(paths, (path) => InodeWorld.open(inodeImageDevice, coverage, path));
    if (failures.length > 0) throw failures[0];
  }
  const guards = await walkAll(unreachedGuardPaths(), (path) =>
    InodeWorld.open(inodeImageDevice, coverage, path, true),
  );
  if (guards.length > 0) throw guards[0];
  const groupImageDevice = await groupImage();
  const group = groupPaths();
  for (const paths of [group.shortest, group.simple, group.edges]) {
    const failures = await walkAll(paths, () => GroupWorld.open(groupImageDevice, coverage));
    if (failures.length > 0) throw failures[0];
  }
});

/** Transitions nothing but the actor's own send reached. */
function onlyDirect(report: CoverageReport): string[] {
  return report.transitions
    .filter((t) => Object.keys(t.taken).length > 0 && Object.keys(t.taken).every((tag) => tag === 'walk:direct'))
    .map((t) => t.label);
}

function checkMachine(name: 'inode' | 'flushGroup', recorder: MachineCoverage): void {
  const report = recorder.report();
  const table = formatCoverage(report);
  console.info(table);
  expect(report.unreached, `never reached:\n${table}`).toEqual({ states: [], transitions: [] });
  expect(report.ambiguous, 'every step is attributed to one transition').toEqual([]);
  expect(recorder.ambiguities(), 'no two transitions look alike on the bus').toEqual([]);
  expect(onlyDirect(report)).toEqual(NEVER_TAKEN_BY_THE_SYSTEM[name]);
}

describe('coverage of the machines by the suite', () => {
  it('ran every workload', () => {
    expect(workloads).toHaveLength(8);
  });

  it('every state and every transition of the inode machine is reached', () => {
    checkMachine('inode', coverage.inode);
  });

  it('every state and every transition of the flush-group machine is reached', () => {
    checkMachine('flushGroup', coverage.flushGroup);
  });

  it('fs calls alone (the workloads) take every transition but those the system never takes', () => {
    for (const [name, recorder] of [
      ['inode', coverage.inode],
      ['flushGroup', coverage.flushGroup],
    ] as const) {
      const report = recorder.report();
      const missed = report.transitions.filter((t) => t.taken.workload === undefined).map((t) => t.label);
      expect(missed).toEqual(NEVER_TAKEN_BY_THE_SYSTEM[name]);
    }
  });
});
