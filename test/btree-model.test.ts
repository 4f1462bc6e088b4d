import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_BOUND, MIN_BOUND } from '../storage/btree.js';
import { type BTreeKey, compareKeys, type LeafElm, NODE_TYPE_LEAF } from '../storage/format/btree-node.js';
import { LOCALIZE_MISC, localization, RecType, TID_MAX } from '../storage/layout.js';
import type { Volume } from '../storage/volume.js';
import { freshImage, mount } from './support/storage-workload.js';

/**
 * The B-tree of a real volume (buffers, UNDO, CRCs, commits) against a sorted
 * array of records, with history: every version stays, deletion sets
 * delete_tid, and as-of lookups and scans must agree at every TID seen.
 * Small key spaces force splits, deep trees and many versions of one key.
 */
type Op =
  | { kind: 'insert'; objId: number; key: number }
  | { kind: 'delete'; pick: number }
  | { kind: 'destroy'; pick: number }
  | { kind: 'lookup'; objId: number; key: number; back: number }
  | { kind: 'scan'; objLo: number; objHi: number; back: number }
  | { kind: 'commit' };

const LOC = localization(0, LOCALIZE_MISC);

/** Operations over objIds 1..objects and keys 1..40. */
const ops = (objects: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant('insert' as const),
        objId: fc.integer({ min: 1, max: objects }),
        key: fc.integer({ min: 1, max: 40 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('destroy' as const), pick: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('lookup' as const),
        objId: fc.integer({ min: 1, max: objects }),
        key: fc.integer({ min: 1, max: 40 }),
        back: fc.nat({ max: 12 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('scan' as const),
        objLo: fc.integer({ min: 0, max: objects + 1 }),
        objHi: fc.integer({ min: 0, max: objects + 1 }),
        back: fc.nat({ max: 12 }),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'commit' as const }) },
  );

function visible(elm: LeafElm, asof: number): boolean {
  return elm.createTid <= asof && (elm.deleteTid === 0 || asof < elm.deleteTid);
}

function key(objId: number, k: number, createTid = 0): BTreeKey {
  return { localization: LOC, objId, recType: RecType.DATA, key: k, createTid };
}

class Run {
  readonly model: LeafElm[] = [];
  readonly tids: number[] = [];
  tid: number;
  constructor(readonly volume: Volume) {
    this.tid = volume.beginCycle();
    this.tids.push(this.tid);
  }

  asof(back: number): number {
    return this.tids[Math.max(0, this.tids.length - 1 - back)] ?? TID_MAX;
  }

  live(): LeafElm[] {
    return this.model.filter((e) => e.deleteTid === 0);
  }

  apply(step: Op): void {
    const { volume, model } = this;
    switch (step.kind) {
      case 'insert': {
        if (model.some((e) => e.deleteTid === 0 && e.objId === step.objId && e.key === step.key)) return;
        if (model.some((e) => compareKeys(e, key(step.objId, step.key, this.tid)) === 0)) return;
        const elm = volume.insertRecord({ ...key(step.objId, step.key), objType: 2 });
        model.push(elm);
        model.sort(compareKeys);
        return;
      }
      case 'delete':
      case 'destroy': {
        const live = this.live();
        const victim = live[step.pick % Math.max(1, live.length)];
        if (victim === undefined) return;
        if (step.kind === 'destroy' || victim.createTid === this.tid) {
          volume.destroyRecord(victim);
          model.splice(
            model.findIndex((e) => compareKeys(e, victim) === 0),
            1,
          );
        } else {
          const done = volume.deleteRecord(victim);
          const entry = model.find((e) => compareKeys(e, victim) === 0);
          if (entry) entry.deleteTid = done.deleteTid;
        }
        return;
      }
      case 'lookup': {
        const asof = step.back === 0 ? TID_MAX : this.asof(step.back);
        const expected = [...model]
          .reverse()
          .find((e) => e.objId === step.objId && e.key === step.key && visible(e, asof));
        const got = volume.lookup({ localization: LOC, objId: step.objId, recType: RecType.DATA, key: step.key }, asof);
        expect(got?.createTid).toBe(expected?.createTid);
        return;
      }
      case 'scan': {
        const [a, b] = step.objLo <= step.objHi ? [step.objLo, step.objHi] : [step.objHi, step.objLo];
        const lo = key(a, 0, 1);
        const hi = key(b, 1000, 0);
        const asof = step.back === 0 ? undefined : this.asof(step.back);
        const expected = model.filter(
          (e) => compareKeys(e, lo) >= 0 && compareKeys(e, hi) <= 0 && (asof === undefined || visible(e, asof)),
        );
        const all = volume.scan(lo, hi, asof);
        const got = all.filter((e) => e.recType === RecType.DATA);
        expect(got.map((e) => [e.objId, e.key, e.createTid, e.deleteTid])).toEqual(
          expected.map((e) => [e.objId, e.key, e.createTid, e.deleteTid]),
        );
        // The generator and the collecting walk (what volume.scan uses) yield the same records.
        expect([...volume.btree.scan(lo, hi, asof)]).toEqual(all);
        return;
      }
      case 'commit': {
        volume.commit();
        this.tid = volume.beginCycle();
        this.tids.push(this.tid);
      }
    }
  }

  finish(): void {
    this.volume.commit();
    expect(this.volume.btree.check()).toEqual([]);
    const all = this.volume
      .scan(MIN_BOUND, { ...MAX_BOUND, localization: 0xfffffffe })
      .filter((e) => e.recType === RecType.DATA);
    expect(all.map((e) => [e.objId, e.key, e.createTid, e.deleteTid])).toEqual(
      this.model.map((e) => [e.objId, e.key, e.createTid, e.deleteTid]),
    );
  }
}

describe('B-tree on a real volume against a sorted-array model', () => {
  it('agrees on thousands of random insert / delete / destroy / as-of lookup and scan sequences', () => {
    const image = freshImage();
    let operations = 0;
    fc.assert(
      fc.property(fc.array(ops(30), { minLength: 50, maxLength: 400 }), (steps) => {
        const volume = mount(image.clone());
        const run = new Run(volume);
        for (const step of steps) run.apply(step);
        run.finish();
        operations += steps.length;
        volume.close();
      }),
      { numRuns: 100, seed: 20261124 },
    );
    expect(operations).toBeGreaterThan(5000);
  });

  it("ascending inserts fill leaves to three quarters (btree_split_leaf's end-insert split), other orders to halves", () => {
    const fill = (order: (i: number) => number) => {
      const volume = mount(freshImage());
      volume.beginCycle();
      for (let i = 0; i < 6000; i++) volume.insertRecord({ ...key(order(i), 1), objType: 2 });
      volume.commit();
      expect(volume.btree.check()).toEqual([]);
      const { leaves, records } = volume.btree.stats();
      volume.close();
      return records / leaves / 63;
    };
    // Ascending: each full leaf is entered at its end, keeps 3/4, and the new right leaf fills up.
    expect(fill((i) => i + 1)).toBeGreaterThan(0.72);
    // Descending: every insert goes at a leaf's start, so splits stay halves.
    expect(fill((i) => 6000 - i)).toBeLessThan(0.55);
    // Scattered: mostly mid-leaf halves (about ln 2 full, as random inserts fill any B-tree), correct either way.
    const scattered = fill((i) => ((i * 2654435761) % 1_000_003) + 1);
    expect(scattered).toBeGreaterThan(0.55);
    expect(scattered).toBeLessThan(0.8);
  });

  it('a leaf split at its end is marked NONLINEAR in its header: the mark survives a remount', () => {
    // Objects 100, 200, ... ascending: the root leaf splits in halves, then every full leaf is entered at its
    // end, keeps three quarters (48 of 64) and is marked, so its next end-insert split goes back to halves.
    // HAMMER keeps the mark in memory; kept in the node, the next split does not depend on the node cache.
    const image = freshImage();
    const volume = mount(image);
    volume.beginCycle();
    for (let j = 1; j <= 300; j++) volume.insertRecord({ ...key(100 * j, 1), objType: 2 });
    volume.commit();
    const leaves = (v: Volume) =>
      [...v.btree.walk()]
        .filter((entry) => entry.node.type === NODE_TYPE_LEAF)
        .map((entry) => `${entry.node.count}${entry.node.nonlinear ? '*' : ''}`);
    const before = leaves(volume);
    expect(before.filter((leaf) => leaf === '48*').length).toBeGreaterThan(3);
    volume.close();
    const again = mount(image);
    expect(leaves(again)).toEqual(before);
    again.close();
  });

  it('survives remount: the committed tree reads back identically with checked CRCs', () => {
    const image = freshImage();
    const volume = mount(image);
    const run = new Run(volume);
    const steps = fc.sample(ops(400), { numRuns: 12000, seed: 7 });
    for (const step of steps) run.apply(step);
    run.finish();
    const depth = volume.btree.stats().depth;
    volume.close();
    expect(depth).toBeGreaterThanOrEqual(3);
    const again = mount(image);
    expect(again.btree.check()).toEqual([]);
    const all = again
      .scan(MIN_BOUND, { ...MAX_BOUND, localization: 0xfffffffe })
      .filter((e) => e.recType === RecType.DATA);
    expect(all.map((e) => [e.objId, e.key, e.createTid, e.deleteTid])).toEqual(
      run.model.map((e) => [e.objId, e.key, e.createTid, e.deleteTid]),
    );
    again.close();
  });
});
