import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruSet } from '../actors/lru.js';

describe('LruSet (the clean-inode LRU)', () => {
  it('evicts in least-recently-touched order, like an array model, over random touches and deletes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(20)), { maxLength: 200 }), (ops) => {
        const lru = new LruSet<number>();
        let model: number[] = [];
        for (const [touch, value] of ops) {
          if (touch) {
            lru.touch(value);
            model = [...model.filter((v) => v !== value), value];
          } else {
            expect(lru.delete(value)).toBe(model.includes(value));
            model = model.filter((v) => v !== value);
          }
          expect(lru.size).toBe(model.length);
          expect(lru.oldest()).toBe(model[0]);
          for (const v of model) expect(lru.has(v)).toBe(true);
        }
        while (lru.oldest() !== undefined) {
          expect(lru.oldest()).toBe(model.shift());
          lru.delete(lru.oldest() as number);
        }
        expect(model).toEqual([]);
      }),
      { numRuns: 200, seed: 20261126 },
    );
  });
});
