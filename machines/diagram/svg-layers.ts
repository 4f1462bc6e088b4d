import { childrenOf, type MachineDiagram, within } from './describe.js';
import { stateById } from './nesting.js';
import { SIDES, type Side } from './svg-geometry.js';

/**
 * Rows for the SVG layout, one container (the machine, a compound or
 * parallel state) at a time: which children link to which, the layers a
 * breadth-first search from the initial state gives them, and the side of
 * each child its self-loops go on.
 */

/** Transitions between the container's children (a nested state's counting as its child's), deduplicated. */
export function links(diagram: MachineDiagram, container: string | undefined): Map<string, string[]> {
  const children = childrenOf(diagram, container).map((s) => s.id);
  const childHolding = (id: string) => children.find((child) => within(id, child));
  const next = new Map<string, string[]>(children.map((child) => [child, []]));
  for (const { source, targets } of diagram.transitions) {
    const from = source === null ? undefined : childHolding(source);
    const list = from === undefined ? undefined : next.get(from);
    if (list === undefined) continue;
    for (const to of targets.map(childHolding)) {
      if (to !== undefined && to !== from && !list.includes(to)) list.push(to);
    }
  }
  return next;
}

/**
 * The children in layers: breadth-first from the initial state, then from
 * each child not reached yet (below the rest); a parallel state's regions in
 * one row. Within a layer, in the order the search found them.
 */
export function layersOf(
  diagram: MachineDiagram,
  container: string | undefined,
  next: Map<string, string[]>,
): string[][] {
  const children = [...next.keys()];
  const state = container === undefined ? undefined : stateById(diagram, container);
  const parallel = state === undefined ? diagram.parallel : state.type === 'parallel';
  if (parallel) return children.length === 0 ? [] : [children];
  const initial = state === undefined ? diagram.initial : state.initial;
  const layerOf = new Map<string, number>();
  for (const seed of initial === undefined ? children : [initial, ...children]) {
    if (layerOf.has(seed)) continue;
    layerOf.set(seed, layerOf.size === 0 ? 0 : Math.max(...layerOf.values()) + 1);
    const queue = [seed];
    for (let at = queue.shift(); at !== undefined; at = queue.shift()) {
      for (const to of next.get(at) ?? []) {
        if (layerOf.has(to)) continue;
        layerOf.set(to, (layerOf.get(at) ?? 0) + 1);
        queue.push(to);
      }
    }
  }
  const layers: string[][] = [];
  for (const [id, layer] of layerOf) {
    const row = layers[layer] ?? [];
    row.push(id);
    layers[layer] = row;
  }
  return layers.filter((layer) => layer !== undefined);
}

/** Each child's self-loops go on the side fewest of its transitions (and the initial arrow) use; right first. */
export function loopSides(
  layers: string[][],
  next: Map<string, string[]>,
  initial: string | undefined,
): Map<string, Side> {
  const where = new Map<string, { layer: number; index: number }>();
  for (const [layer, row] of layers.entries()) for (const [index, id] of row.entries()) where.set(id, { layer, index });
  const busy = new Map<string, Record<Side, number>>();
  const count = (id: string, side: Side) => {
    const sides = busy.get(id) ?? { right: 0, left: 0, bottom: 0, top: 0 };
    sides[side]++;
    busy.set(id, sides);
  };
  for (const [from, list] of next) {
    for (const to of list) {
      const a = where.get(from);
      const b = where.get(to);
      if (a === undefined || b === undefined) continue;
      const forward = b.layer > a.layer || (b.layer === a.layer && b.index > a.index);
      count(from, b.layer === a.layer ? (forward ? 'right' : 'left') : forward ? 'bottom' : 'top');
      count(to, b.layer === a.layer ? (forward ? 'left' : 'right') : forward ? 'top' : 'bottom');
    }
  }
  if (initial !== undefined) count(initial, 'top');
  const sides = new Map<string, Side>();
  for (const id of where.keys()) {
    const used = busy.get(id) ?? { right: 0, left: 0, bottom: 0, top: 0 };
    sides.set(
      id,
      SIDES.reduce((best, side) => (used[side] < used[best] ? side : best), 'right'),
    );
  }
  return sides;
}
