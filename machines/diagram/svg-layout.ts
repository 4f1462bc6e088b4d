import {
  actionLines,
  type DiagramTransition,
  EVERY_STATE,
  everyStateNote,
  type MachineDiagram,
  transitionLabel,
  within,
} from './describe.js';
import { stateById } from './nesting.js';
import {
  type Box,
  type Curve,
  centre,
  crosses,
  curveBetween,
  curvePath,
  free,
  LABEL_CHAR_PX,
  LINE_PX,
  labelBox,
  loopLabels,
  loopPath,
  loopsReach,
  num,
  type Point,
  pointOn,
  type Side,
  textWidth,
  union,
} from './svg-geometry.js';
import { layersOf, links, loopSides } from './svg-layers.js';

/**
 * A simple deterministic layered layout, so the SVG needs no Graphviz: in
 * each container (the machine, a compound or parallel state) the children
 * go in layers by breadth-first search from the initial state, one layer a
 * row; a compound state is a frame around its own layout. Transitions
 * between states are quadratic curves, bent apart when several join the same
 * two states and bent further around states in the way; a state's
 * self-loops nest on its least busy side with their labels stacked beyond
 * them; a label that would overlap a state or another label moves to the
 * nearest free row. Text width is estimated (monospace), never measured.
 */
export interface EdgeLayout {
  transition: DiagramTransition;
  /** One path per target (a self-loop for a transition without one). */
  paths: string[];
  label: { text: string; box: Box };
}

export interface MachineLayout {
  diagram: MachineDiagram;
  /** Every state's box by state id, in machine coordinates. */
  boxes: Map<string, Box>;
  /** The transitions that have a source state, in the diagram's order. */
  edges: EdgeLayout[];
  /** The machine's own transitions (taken in any state), listed in a note. */
  note: { box: Box; lines: Array<{ transition: DiagramTransition; text: string; box: Box }> } | undefined;
  /** Initial-state markers: a dot and the arrow from it. */
  initials: Array<{ x: number; y: number; path: string }>;
  bounds: Box;
}

const STATE_CHAR_PX = 7.2;
const STATE_HEIGHT = 34;
const STATE_PAD = 14;
const STATE_MIN_WIDTH = 72;
const GAP_X = 56;
const GAP_Y = 96;
const HEAD = 26;
const INITIAL_SPACE = 28;
const SPREAD = 30;
const DETOURS = [0, 1, -1, 2, -2, 3, -3];

export function layoutMachine(diagram: MachineDiagram): MachineLayout {
  return new Layout(diagram).result();
}

/** One target of a transition between two different states. */
interface Member {
  transition: DiagramTransition;
  source: string;
  target: string;
}

interface Slot {
  id: string;
  width: number;
  height: number;
  /** The state's box inside its slot (the rest is for its self-loops). */
  dx: number;
  dy: number;
}

class Layout {
  private readonly boxes = new Map<string, Box>();
  private readonly sizes = new Map<string, { width: number; height: number }>();
  /** Each state's self-loops: transitions back to it or without a target. */
  private readonly loops = new Map<string, DiagramTransition[]>();
  private readonly sides = new Map<string, Side>();
  private readonly initials: MachineLayout['initials'] = [];

  constructor(private readonly diagram: MachineDiagram) {
    for (const transition of diagram.transitions) {
      const { source } = transition;
      if (source === null) continue;
      if (transition.targets.length === 0 || transition.targets.includes(source)) {
        this.loops.set(source, [...(this.loops.get(source) ?? []), transition]);
      }
    }
  }

  result(): MachineLayout {
    this.place(undefined, 0, 0);
    const edges = this.edges();
    const parts = [...this.boxes.values(), ...edges.map((e) => e.label.box)];
    for (const dot of this.initials) parts.push({ x: dot.x - 5, y: dot.y - 5, width: 10, height: 10 });
    const note = this.note(union(parts));
    if (note !== undefined) parts.push(note.box);
    const inner = union(parts);
    const bounds = { x: inner.x - 12, y: inner.y - 12, width: inner.width + 24, height: inner.height + 24 };
    return { diagram: this.diagram, boxes: this.boxes, edges, note, initials: this.initials, bounds };
  }

  private isContainer(id: string): boolean {
    const { type } = stateById(this.diagram, id);
    return type === 'compound' || type === 'parallel';
  }

  private initialOf(container: string | undefined): string | undefined {
    return container === undefined ? this.diagram.initial : stateById(this.diagram, container).initial;
  }

  private headOf(id: string): number {
    const state = stateById(this.diagram, id);
    return (this.isContainer(id) ? HEAD : STATE_HEIGHT) + actionLines(state).length * LINE_PX;
  }

  /** A state's box size: its name (and entry/exit lines), or its children's layout in a frame. */
  private size(id: string): { width: number; height: number } {
    const known = this.sizes.get(id);
    if (known !== undefined) return known;
    const state = stateById(this.diagram, id);
    const lines = actionLines(state);
    const text = Math.max(state.key.length * STATE_CHAR_PX, ...lines.map((l) => l.length * LABEL_CHAR_PX));
    let size = { width: Math.max(STATE_MIN_WIDTH, text + 2 * STATE_PAD), height: this.headOf(id) };
    if (this.isContainer(id)) {
      const inner = this.arrange(id);
      size = {
        width: Math.max(size.width, inner.width + 2 * STATE_PAD),
        height: size.height + inner.height + STATE_PAD,
      };
    }
    this.sizes.set(id, size);
    return size;
  }

  /** A state's slot in its row: its box, and room on its loops' side for them and their labels. */
  private slot(id: string): Slot {
    const box = this.size(id);
    const texts = (this.loops.get(id) ?? []).map(transitionLabel);
    if (texts.length === 0) return { id, ...box, dx: 0, dy: 0 };
    const reach = loopsReach(texts.length);
    const text = Math.max(...texts.map(textWidth));
    const side = this.sides.get(id) ?? 'right';
    if (side === 'right' || side === 'left') {
      const height = Math.max(box.height, texts.length * LINE_PX);
      const dy = (height - box.height) / 2;
      return { id, width: box.width + reach + text, height, dx: side === 'left' ? reach + text : 0, dy };
    }
    const width = Math.max(box.width, text);
    const around = reach - 4 + texts.length * LINE_PX;
    return { id, width, height: box.height + around, dx: (width - box.width) / 2, dy: side === 'top' ? around : 0 };
  }

  /** Children's slots inside a container's content area, and that area's size. */
  private arrange(container: string | undefined) {
    const next = links(this.diagram, container);
    const layers = layersOf(this.diagram, container, next);
    for (const [id, side] of loopSides(layers, next, this.initialOf(container))) this.sides.set(id, side);
    const offsets = new Map<string, Point>();
    const rows = layers.map((layer) => {
      const slots = layer.map((id) => this.slot(id));
      const gaps = slots.map((slot, i) => (i === 0 ? 0 : this.gapBetween(layer[i - 1] as string, slot.id)));
      const width = slots.reduce((sum, slot, i) => sum + slot.width + (gaps[i] ?? 0), 0);
      return { slots, gaps, width, height: Math.max(...slots.map((slot) => slot.height)) };
    });
    const width = Math.max(0, ...rows.map((row) => row.width));
    let y = this.initialOf(container) === undefined ? 0 : INITIAL_SPACE;
    for (const row of rows) {
      let x = (width - row.width) / 2;
      row.slots.forEach((slot, i) => {
        x += row.gaps[i] ?? 0;
        offsets.set(slot.id, { x: x + slot.dx, y: y + (row.height - slot.height) / 2 + slot.dy });
        x += slot.width;
      });
      y += row.height + GAP_Y;
    }
    return { offsets, width, height: rows.length === 0 ? y : y - GAP_Y };
  }

  /** Room between neighbours in a row: wide enough for the labels of the transitions joining them. */
  private gapBetween(left: string, right: string): number {
    const joining = this.diagram.transitions.filter(
      ({ source, targets }) =>
        source !== null &&
        targets.some((t) => (within(source, left) && within(t, right)) || (within(source, right) && within(t, left))),
    );
    return Math.max(GAP_X, ...joining.map((t) => textWidth(transitionLabel(t)) + 24));
  }

  /** Give the container's children their boxes, its content area starting at (x, y); mark its initial state. */
  private place(container: string | undefined, x: number, y: number): void {
    for (const [id, offset] of this.arrange(container).offsets) {
      const box = { x: x + offset.x, y: y + offset.y, ...this.size(id) };
      this.boxes.set(id, box);
      if (this.isContainer(id))
        this.place(id, box.x + (box.width - this.arrange(id).width) / 2, box.y + this.headOf(id));
    }
    const initial = this.initialOf(container);
    const target = initial === undefined ? undefined : this.boxes.get(initial);
    if (target !== undefined) {
      const dot = { x: target.x + Math.min(target.width / 2, 40), y: target.y - INITIAL_SPACE + 6 };
      this.initials.push({ ...dot, path: `M${num(dot.x)},${num(dot.y + 4)} L${num(dot.x)},${num(target.y)}` });
    }
  }

  private box(id: string): Box {
    const box = this.boxes.get(id);
    if (box === undefined) throw new Error(`invariant violated: every state of ${this.diagram.id} is placed`);
    return box;
  }

  /** Self-loops and their labels first (their room was kept), then curves, then the curves' labels where free. */
  private edges(): EdgeLayout[] {
    const taken: Box[] = [];
    for (const [id, box] of this.boxes) taken.push(this.isContainer(id) ? { ...box, height: this.headOf(id) } : box);
    const edges = new Map<DiagramTransition, EdgeLayout>();
    for (const transition of this.diagram.transitions) {
      if (transition.source === null) continue;
      const label = { text: transitionLabel(transition), box: { x: 0, y: 0, width: 0, height: 0 } };
      edges.set(transition, { transition, paths: [], label });
    }
    const labelled = new Set<EdgeLayout>();
    for (const [id, loops] of this.loops) {
      const side = this.sides.get(id) ?? 'right';
      const boxes = loopLabels(this.box(id), side, loops.map(transitionLabel), this.headOf(id));
      loops.forEach((transition, k) => {
        const edge = edges.get(transition);
        const box = boxes[k];
        if (edge === undefined || box === undefined) return;
        edge.paths.push(loopPath(this.box(id), side, k, this.headOf(id)));
        edge.label.box = box;
        labelled.add(edge);
        taken.push(box);
      });
    }
    const anchors = new Map<EdgeLayout, Point>();
    for (const [pair, members] of this.pairs()) {
      this.bend(pair, members).forEach((curve, i) => {
        const edge = edges.get(members[i]?.transition as DiagramTransition);
        if (edge === undefined) return;
        edge.paths.push(curvePath(curve));
        if (!labelled.has(edge) && !anchors.has(edge)) anchors.set(edge, pointOn(curve, 0.5));
      });
    }
    for (const [edge, at] of anchors) edge.label.box = free(labelBox(edge.label.text, at), taken);
    return [...edges.values()];
  }

  /** The transitions between two different states, grouped by the pair they join (either way), one per target. */
  private pairs(): Array<[[string, string], Member[]]> {
    const pairs = new Map<string, Member[]>();
    for (const transition of this.diagram.transitions) {
      const { source, targets } = transition;
      for (const target of targets) {
        if (source === null || target === source) continue;
        const key = JSON.stringify(source < target ? [source, target] : [target, source]);
        pairs.set(key, [...(pairs.get(key) ?? []), { transition, source, target }]);
      }
    }
    return [...pairs].map(([key, members]) => [JSON.parse(key) as [string, string], members]);
  }

  /** The curves of a pair, spread apart, the whole bundle moved aside until none crosses another state. */
  private bend([first, second]: [string, string], members: Member[]): Curve[] {
    const a = centre(this.box(first));
    const b = centre(this.box(second));
    const obstacles = [...this.boxes]
      .filter(([id]) => !this.isContainer(id) && id !== first && id !== second)
      .map(([, box]) => box);
    const middle = (members.length - 1) / 2;
    const bundle = (detour: number) =>
      members.map(({ source, target }, i) =>
        curveBetween(this.box(source), this.box(target), a, b, (i - middle + detour) * SPREAD),
      );
    for (const detour of DETOURS) {
      const curves = bundle(detour * Math.max(1, members.length / 2));
      if (!curves.some((curve) => crosses(curve, obstacles))) return curves;
    }
    return bundle(0);
  }

  /** The machine's own transitions, in a note below everything else. */
  private note(above: Box): MachineLayout['note'] {
    const own = this.diagram.transitions.filter((t) => t.source === null);
    if (own.length === 0) return undefined;
    const [heading = EVERY_STATE, ...texts] = everyStateNote(this.diagram);
    const width = Math.max(heading.length, ...texts.map((t) => t.length)) * LABEL_CHAR_PX + 20;
    const box = { x: above.x, y: above.y + above.height + 24, width, height: (own.length + 1) * LINE_PX + 12 };
    const lines = own.map((transition, i) => ({
      transition,
      text: texts[i] ?? '',
      box: { x: box.x + 10, y: box.y + 6 + (i + 1) * LINE_PX, width: width - 20, height: LINE_PX },
    }));
    return { box, lines };
  }
}
