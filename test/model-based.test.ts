import { beforeAll, describe, expect, it } from 'vitest';
import type { EventObject } from 'xstate';
import { flushGroupMachine } from '../machines/flush-group.js';
import type { MemDevice } from '../storage/device.js';
import { groupPaths } from './support/mbt/group-model.js';
import { GroupWorld, groupImage } from './support/mbt/group-world.js';
import { inodeModel, inodePaths, unreachedGuardPaths } from './support/mbt/inode-model.js';
import { InodeWorld, inodeImage } from './support/mbt/inode-world.js';
import { type DriveCounts, type ModelPaths, type PathStep, type WalkWorld, walkAll } from './support/mbt/walk.js';

/**
 * Model-based walks (docs/model-based-testing.md): xstate/graph's shortest
 * paths, simple paths and one path per edge of the inode and flush-group
 * machines, each driven through a fresh mount: fs calls where a call
 * produces the event, the coordinator's own calls where only the system's
 * timing does (a flush staged but not yet run), the actor's own send where
 * the system never sends that event there. After every step the real actor,
 * as the bus published it, must be in the state (and, for an inode, carry
 * the flags) the path predicts.
 */

const counts = (): DriveCounts => ({ fs: 0, coordinator: 0, direct: 0 });

function expectNoFailures(failures: Error[], total: number): void {
  expect(failures.map((e) => e.message).slice(0, 3), `${failures.length} of ${total} paths failed`).toEqual([]);
}

/** The walks of a model that disagrees with the system fail, at the step where they part. */
async function expectCaught<TEvent extends EventObject>(
  paths: Array<readonly PathStep<TEvent>[]>,
  open: (path: readonly PathStep<TEvent>[]) => Promise<WalkWorld<TEvent>>,
  where: RegExp,
): Promise<void> {
  const failures = await walkAll(paths, open);
  expect(failures.length).toBeGreaterThan(0);
  expect(failures[0]?.message).toMatch(where);
}

/** One test per path set; `check` looks at how the steps were driven. */
function walkEveryKind<TEvent extends EventObject>(
  actor: string,
  paths: () => ModelPaths<TEvent>,
  open: (path: readonly PathStep<TEvent>[]) => Promise<WalkWorld<TEvent>>,
  check: (kind: string, driven: DriveCounts) => void,
): void {
  const sets = paths();
  for (const kind of ['shortest', 'simple', 'edges'] as const) {
    const list = sets[kind];
    it(`every ${kind} path (${list.length}) leaves ${actor} where the model says`, async () => {
      const driven = counts();
      expectNoFailures(await walkAll(list, open, driven), list.length);
      check(kind, driven);
    });
  }
}

/** The volume a describe block's walks clone, made once before its tests. */
function imageFor(make: () => Promise<MemDevice>): () => MemDevice {
  let image: MemDevice | undefined;
  beforeAll(async () => {
    image = await make();
  });
  return () => {
    if (image === undefined) throw new Error('the image is made before the tests run');
    return image;
  };
}

describe('the inode machine, walked through a real mount', () => {
  const image = imageFor(inodeImage);

  // Most steps come from the running system; the inode's own send only where it never sends the event.
  walkEveryKind(
    "/f's actor",
    () => inodePaths(),
    (path) => InodeWorld.open(image(), undefined, path),
    (_, driven) => expect(driven.fs + driven.coordinator).toBeGreaterThan(4 * driven.direct),
  );

  it('the guards the running system never reaches hold on a real inode driven directly', async () => {
    const list = unreachedGuardPaths();
    const driven = counts();
    const failures = await walkAll(list, (path) => InodeWorld.open(image(), undefined, path, true), driven);
    expectNoFailures(failures, list.length);
    expect(driven).toEqual({ fs: 0, coordinator: 0, direct: driven.direct });
  });

  it('a model whose guard was broken (in a copy) is caught by the real system', async () => {
    const broken = inodeModel.provide({ guards: { doneToIdle: () => false } });
    await expectCaught(
      inodePaths(broken).shortest,
      (path) => InodeWorld.open(image(), undefined, path),
      /FLUSH_DONE .* -> "setup"/,
    );
  });
});

describe('the flush-group machine, walked through a real mount', () => {
  const image = imageFor(groupImage);

  // Simple paths keep to what the system sends: most of their steps are real.
  walkEveryKind(
    "the group's actor",
    () => groupPaths(),
    () => GroupWorld.open(image(), undefined),
    (kind, driven) => {
      if (kind === 'simple') expect(driven.direct).toBeLessThan(driven.fs + driven.coordinator);
    },
  );

  it('a model whose guard was broken (in a copy) is caught by the real system', async () => {
    const broken = flushGroupMachine.provide({ guards: { roomAfterAdd: () => true } });
    await expectCaught(groupPaths(broken).shortest, () => GroupWorld.open(image(), undefined), /ADD_INODE/);
  });
});
