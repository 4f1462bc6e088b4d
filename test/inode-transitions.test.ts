import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import {
  collideHashesForTests,
  type InodeMirror,
  inodeLogic,
  inodeStep,
  inodeTransitionMisses,
} from '../actors/inode-transitions.js';
import type { InodeEmitted, InodeEvent } from '../machines/inode.js';
import { InodeFlag, MODMASK } from '../machines/inode-flags.js';
import type { InodeData } from '../storage/format/records.js';

/** Distinct objects stand for inode data: the machine must move the references, never look inside. */
const datum = (n: number) => ({ n }) as unknown as InodeData;

const flagBits = fc.integer({ min: 0, max: (1 << 20) - 1 });
const modify = fc.integer({ min: 0, max: MODMASK });
const maybeData = fc.option(fc.nat(9).map(datum), { nil: undefined });

const event: fc.Arbitrary<InodeEvent<InodeData>> = fc.oneof(
  fc.record({
    type: fc.constant('MODIFY' as const),
    flags: modify,
    data: maybeData,
    truncOff: fc.option(fc.nat(5), { nil: undefined }),
  }),
  fc.constant({ type: 'DEPEND' as const }),
  fc.record({
    type: fc.constant('FLUSH' as const),
    group: fc.nat(3),
    goCount: fc.integer({ min: -1, max: 2 }),
    signal: fc.boolean(),
    targetListEmpty: fc.boolean(),
    data: maybeData,
  }),
  fc.record({ type: fc.constant('MARK' as const), flags: flagBits.map((f) => f & ~MODMASK) }),
  fc.record({ type: fc.constant('CLEAR' as const), flags: flagBits.map((f) => f & ~MODMASK) }),
  fc.constant({ type: 'RECORDS_EMPTY' as const }),
  fc.record({ type: fc.constant('CONN_DOWN' as const), signal: fc.boolean() }),
  fc.constant({ type: 'WOULDBLOCK' as const }),
  fc.constant({ type: 'WAIT' as const }),
  fc.record({
    type: fc.constant('FLUSH_DONE' as const),
    unsynced: modify.map((f) => f & (InodeFlag.DDIRTY | InodeFlag.TRUNCATED | InodeFlag.XDIRTY)),
    error: fc.option(fc.constantFrom('EIO'), { nil: undefined }),
    listsEmpty: fc.boolean(),
    targetListEmpty: fc.boolean(),
    nlinksDiverged: fc.boolean(),
    setFlags: fc.option(fc.constantFrom(InodeFlag.ONDISK, InodeFlag.DELETED), { nil: undefined }),
    recordsEmpty: fc.option(fc.boolean(), { nil: undefined }),
  }),
  fc.constant({ type: 'UNLOAD' as const }),
);

/** A running XState actor: the reference the remembered transitions must agree with, event for event. */
function realActor(data: InodeData, flags: number) {
  const actor = createActor(inodeLogic, { input: { data, flags } });
  const emitted: InodeEmitted[] = [];
  actor.on('*', (out) => emitted.push(out as InodeEmitted));
  actor.subscribe({ error: () => undefined });
  actor.start();
  return { actor, emitted };
}

describe('inode transitions (the virtual actor)', () => {
  afterEach(() => collideHashesForTests(false));

  it.each([
    ['hashed', false],
    ['every input colliding (the field-by-field check alone)', true],
  ])('agree with a running XState actor on every event sequence (%s)', (_name, collide) => {
    collideHashesForTests(collide);
    fc.assert(
      fc.property(modify, fc.array(event, { minLength: 1, maxLength: 40 }), (flags, events) => {
        const initial = datum(100);
        const { actor, emitted } = realActor(initial, flags);
        const start = actor.getSnapshot();
        const { data, ...control } = start.context;
        const ours: InodeMirror = { state: 'idle', ino: data, ...control };
        for (const next of events) {
          if (ours.state === 'unloaded') break;
          emitted.length = 0;
          let failure: unknown;
          let emittedByUs: readonly InodeEmitted[] = [];
          try {
            emittedByUs = inodeStep(ours, next);
          } catch (error) {
            failure = error;
          }
          actor.send(next);
          const real = actor.getSnapshot();
          if (real.status === 'error') {
            // An invariant broke: the real actor stops in error, the transition throws the same message.
            expect(String(failure)).toBe(String(real.error));
            return;
          }
          expect(failure).toBeUndefined();
          const { ino, state, ...context } = ours;
          expect(state).toBe(real.value);
          expect({ ...context, data: ino }).toStrictEqual(real.context);
          expect(ino).toBe(real.context.data);
          expect(ours.syncData).toBe(real.context.syncData);
          expect(emittedByUs).toStrictEqual(emitted);
        }
      }),
      { numRuns: 300, seed: 20261126 },
    );
  });

  it('computes a transition once and remembers it after that', () => {
    const mirror = (data: InodeData): InodeMirror => ({
      state: 'idle',
      flags: InodeFlag.DDIRTY | InodeFlag.XDIRTY,
      syncFlags: 0,
      ino: data,
      syncData: undefined,
      truncOff: Number.MAX_SAFE_INTEGER,
      syncTruncOff: Number.MAX_SAFE_INTEGER,
      group: undefined,
      error: undefined,
    });
    const flush = { type: 'FLUSH', group: 7_777, goCount: 1, signal: false, targetListEmpty: true } as const;
    const before = inodeTransitionMisses();
    const first = mirror(datum(1));
    inodeStep(first, flush);
    expect(inodeTransitionMisses()).toBe(before + 1);
    const other = mirror(datum(2));
    inodeStep(other, flush);
    expect(inodeTransitionMisses()).toBe(before + 1);
    expect(first.state).toBe('flush');
    expect(other.syncData).toBe(other.ino);
    expect(other.syncData).not.toBe(first.syncData);
    expect(other.syncFlags).toBe(InodeFlag.DDIRTY | InodeFlag.XDIRTY);
  });
});
